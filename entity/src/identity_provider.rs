//! `identity_provider` table: OS-FEDERATION identity providers, and what Lintel checks of their tokens.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `identity_provider` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "identity_provider")]
pub struct Model {
    /// The provider's id (chosen by its creator).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Whether sign-ins through it are accepted.
    pub enabled: bool,
    /// Description.
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// The domain its federated users live in.
    pub domain_id: String,
    /// Minutes a federated user's group memberships count after a sign-in (Keystone's `authorization_ttl`).
    pub authorization_ttl: Option<i32>,
    /// The `aud` its tokens must name (Lintel).
    pub audience: Option<String>,
    /// The longest a token of it may be valid for, seconds (Lintel).
    pub max_token_lifetime: Option<i32>,
    /// Whether its tokens must carry a `jti`, each accepted once (Lintel).
    pub require_jti: bool,
    /// PEM certificates that issue its X.509-SVIDs (Lintel; SPIFFE over mutual TLS).
    #[sea_orm(column_type = "Text", nullable)]
    pub trust_bundle: Option<String>,
}

/// Relations of `identity_provider`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
