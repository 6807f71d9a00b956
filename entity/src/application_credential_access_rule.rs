//! `application_credential_access_rule` table: access rules attached to application credentials.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `application_credential_access_rule` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "application_credential_access_rule")]
pub struct Model {
    /// Application credential.
    #[sea_orm(primary_key, auto_increment = false)]
    pub application_credential_id: String,
    /// Attached access rule.
    #[sea_orm(primary_key, auto_increment = false)]
    pub access_rule_id: String,
}

/// Relations of `application_credential_access_rule`.
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
    /// Attached access rule.
    #[sea_orm(
        belongs_to = "super::access_rule::Entity",
        from = "Column::AccessRuleId",
        to = "super::access_rule::Column::Id",
        on_delete = "Cascade"
    )]
    AccessRule,
}

impl Related<super::application_credential::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApplicationCredential.def()
    }
}

impl Related<super::access_rule::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AccessRule.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
