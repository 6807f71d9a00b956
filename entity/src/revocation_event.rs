//! `revocation_event` table: token revocation events.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `revocation_event` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "revocation_event")]
pub struct Model {
    /// Auto-increment id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Revoke tokens of this user.
    pub user_id: Option<String>,
    /// Revoke tokens scoped to this project.
    pub project_id: Option<String>,
    /// Revoke tokens scoped to this domain.
    pub domain_id: Option<String>,
    /// Revoke tokens with this audit id.
    pub audit_id: Option<String>,
    /// Revoke tokens obtained with this application credential.
    pub app_cred_id: Option<String>,
    /// Revokes tokens carrying this role.
    pub role_id: Option<String>,
    /// Only tokens issued before this time (UTC) are revoked.
    pub issued_before: DateTime,
    /// When the event was recorded (UTC).
    pub revoked_at: DateTime,
}

/// Relations of `revocation_event` (none).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
