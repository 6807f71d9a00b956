//! `access_rule` table: user-owned API access rules for application credentials.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `access_rule` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "access_rule")]
pub struct Model {
    /// Access rule id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Owning user.
    pub user_id: String,
    /// Service type the rule applies to.
    pub service: String,
    /// HTTP method.
    pub method: String,
    /// URL path pattern.
    #[sea_orm(column_type = "Text")]
    pub path: String,
    /// Creation time (UTC).
    pub created_at: DateTime,
}

/// Relations of `access_rule`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Owning user.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
    /// Application credentials using the rule.
    #[sea_orm(has_many = "super::application_credential_access_rule::Entity")]
    ApplicationCredentialAccessRule,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl Related<super::application_credential_access_rule::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApplicationCredentialAccessRule.def()
    }
}

impl Related<super::application_credential::Entity> for Entity {
    fn to() -> RelationDef {
        super::application_credential_access_rule::Relation::ApplicationCredential.def()
    }

    fn via() -> Option<RelationDef> {
        Some(
            super::application_credential_access_rule::Relation::AccessRule
                .def()
                .rev(),
        )
    }
}

impl ActiveModelBehavior for ActiveModel {}
