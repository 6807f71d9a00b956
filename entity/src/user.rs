//! `user` table: local users with argon2 password hashes.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `user` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "user")]
pub struct Model {
    /// User id (32-char hex uuid).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// User name, unique within its domain.
    pub name: String,
    /// Owning domain.
    pub domain_id: String,
    /// Whether the user may authenticate.
    pub enabled: bool,
    /// Argon2 PHC string; `None` when the user has no password.
    #[sea_orm(column_type = "Text", nullable)]
    pub password_hash: Option<String>,
    /// Default project id (not a foreign key).
    pub default_project_id: Option<String>,
    /// JSON object of extra attributes (email, description, ...).
    #[sea_orm(column_type = "Text")]
    pub extra: String,
    /// When the current password expires (UTC).
    pub password_expires_at: Option<DateTime>,
    /// Consecutive failed authentication attempts.
    pub failed_auth_count: i32,
    /// Time of the last failed authentication (UTC).
    pub last_failed_auth_at: Option<DateTime>,
    /// Creation time (UTC).
    pub created_at: DateTime,
    /// The user's options (`ignore_password_expiry`, `lock_password`, ...), a JSON object; none when null.
    #[sea_orm(column_type = "Text", nullable)]
    pub options: Option<String>,
    /// When the user last authenticated with its password, or was enabled (UTC).
    pub last_active_at: Option<DateTime>,
    /// When the current password was set (UTC); unknown for passwords set before Lintel kept it.
    pub password_created_at: Option<DateTime>,
    /// Whether the user set the current password itself (`POST /v3/users/{id}/password`).
    pub password_self_service: bool,
    /// The project that owns this user when it is a service account (no password; managed by the project's
    /// managers); none for a person.
    pub service_project_id: Option<String>,
}

/// Relations of `user`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Owning domain.
    #[sea_orm(
        belongs_to = "super::domain::Entity",
        from = "Column::DomainId",
        to = "super::domain::Column::Id",
        on_delete = "Cascade"
    )]
    Domain,
    /// Group memberships of the user.
    #[sea_orm(has_many = "super::user_group_membership::Entity")]
    UserGroupMembership,
    /// Application credentials owned by the user.
    #[sea_orm(has_many = "super::application_credential::Entity")]
    ApplicationCredential,
    /// Access rules owned by the user.
    #[sea_orm(has_many = "super::access_rule::Entity")]
    AccessRule,
}

impl Related<super::domain::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Domain.def()
    }
}

impl Related<super::user_group_membership::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserGroupMembership.def()
    }
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

impl Related<super::group::Entity> for Entity {
    fn to() -> RelationDef {
        super::user_group_membership::Relation::Group.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::user_group_membership::Relation::User.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
