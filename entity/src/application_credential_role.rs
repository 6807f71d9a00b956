//! `application_credential_role` table: roles delegated to an application credential.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `application_credential_role` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "application_credential_role")]
pub struct Model {
    /// Application credential.
    #[sea_orm(primary_key, auto_increment = false)]
    pub application_credential_id: String,
    /// Delegated role.
    #[sea_orm(primary_key, auto_increment = false)]
    pub role_id: String,
}

/// Relations of `application_credential_role`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Application credential.
    #[sea_orm(
        belongs_to = "super::application_credential::Entity",
        from = "Column::ApplicationCredentialId",
        to = "super::application_credential::Column::Id",
        on_delete = "Cascade"
    )]
    ApplicationCredential,
    /// Delegated role.
    #[sea_orm(
        belongs_to = "super::role::Entity",
        from = "Column::RoleId",
        to = "super::role::Column::Id",
        on_delete = "Cascade"
    )]
    Role,
}

impl Related<super::application_credential::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApplicationCredential.def()
    }
}

impl Related<super::role::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Role.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
