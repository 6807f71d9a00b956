//! `application_credential` table: user-owned, project-scoped application credentials.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `application_credential` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "application_credential")]
pub struct Model {
    /// Application credential id (32-char hex uuid).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Name, unique per user.
    pub name: String,
    /// Owning user.
    pub user_id: String,
    /// Project the credential is scoped to.
    pub project_id: String,
    /// Free-form description.
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// Hash of the secret (argon2 PHC string).
    #[sea_orm(column_type = "Text")]
    pub secret_hash: String,
    /// Whether the credential may create further credentials / trusts.
    pub unrestricted: Option<bool>,
    /// Expiry time (UTC), if any.
    pub expires_at: Option<DateTime>,
    /// Creation time (UTC).
    pub created_at: DateTime,
    /// RFC 4514 subject DN of the CA-issued client certificate it may authenticate with (`tls_client_auth`).
    pub tls_client_auth_subject_dn: Option<String>,
    /// The issuer DN that certificate must also have, if set.
    pub tls_client_auth_issuer_dn: Option<String>,
    /// `x5t#S256` of the self-signed client certificate it may authenticate with.
    pub tls_client_auth_x5t_s256: Option<String>,
    /// Public JWK Set (JSON) whose keys may sign its client assertions (`private_key_jwt`).
    #[sea_orm(column_type = "Text", nullable)]
    pub jwks: Option<String>,
    /// The secret before the last rotation (argon2 PHC string), accepted until `prior_secret_retires_at`.
    #[sea_orm(column_type = "Text", nullable)]
    pub prior_secret_hash: Option<String>,
    /// When the previous secret stops working.
    pub prior_secret_retires_at: Option<DateTime>,
    /// When the secret was last rotated.
    pub rotated_at: Option<DateTime>,
    /// When the current secret was last used (written behind, at most once a minute).
    pub last_used_at: Option<DateTime>,
    /// The source address of that use.
    pub last_used_from: Option<String>,
    /// The node that served it.
    pub last_used_node: Option<String>,
    /// When the previous secret was last used.
    pub prior_last_used_at: Option<DateTime>,
    /// When a person who saw the current secret lost access to its project (rotate it).
    pub rotation_required_at: Option<DateTime>,
    /// The key set before the last rotation, verifying assertions until `prior_secret_retires_at`.
    #[sea_orm(column_type = "Text", nullable)]
    pub prior_jwks: Option<String>,
    /// Tokens per minute this credential may be issued (overrides `[oauth2] credential_issue_rate`).
    pub issue_rate: Option<i32>,
}

/// Relations of `application_credential`.
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
    /// Scoped project.
    #[sea_orm(
        belongs_to = "super::project::Entity",
        from = "Column::ProjectId",
        to = "super::project::Column::Id",
        on_delete = "Cascade"
    )]
    Project,
    /// Delegated roles.
    #[sea_orm(has_many = "super::application_credential_role::Entity")]
    ApplicationCredentialRole,
    /// Attached access rules.
    #[sea_orm(has_many = "super::application_credential_access_rule::Entity")]
    ApplicationCredentialAccessRule,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl Related<super::project::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::application_credential_role::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApplicationCredentialRole.def()
    }
}

impl Related<super::application_credential_access_rule::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApplicationCredentialAccessRule.def()
    }
}

impl Related<super::role::Entity> for Entity {
    fn to() -> RelationDef {
        super::application_credential_role::Relation::Role.def()
    }

    fn via() -> Option<RelationDef> {
        Some(
            super::application_credential_role::Relation::ApplicationCredential
                .def()
                .rev(),
        )
    }
}

impl Related<super::access_rule::Entity> for Entity {
    fn to() -> RelationDef {
        super::application_credential_access_rule::Relation::AccessRule.def()
    }

    fn via() -> Option<RelationDef> {
        Some(
            super::application_credential_access_rule::Relation::ApplicationCredential
                .def()
                .rev(),
        )
    }
}

impl ActiveModelBehavior for ActiveModel {}
