//! `idp_remote_id` table: the remote ids (issuers) an identity provider answers for, each one provider's.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `idp_remote_id` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "idp_remote_id")]
pub struct Model {
    /// The remote id (an OpenID Connect issuer URL, a SPIFFE trust domain).
    #[sea_orm(primary_key, auto_increment = false)]
    pub remote_id: String,
    /// Its provider.
    pub idp_id: String,
}

/// Relations of `idp_remote_id`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
