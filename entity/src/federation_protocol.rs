//! `federation_protocol` table: how an identity provider's users sign in (`openid`), with which mapping.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `federation_protocol` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "federation_protocol")]
pub struct Model {
    /// The protocol's id (`openid`, `mapped`, ...), unique per provider.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Its provider.
    #[sea_orm(primary_key, auto_increment = false)]
    pub idp_id: String,
    /// The mapping its sign-ins go through.
    pub mapping_id: String,
    /// The attribute naming the provider's remote id (Keystone's; unused by Lintel's own validation).
    pub remote_id_attribute: Option<String>,
}

/// Relations of `federation_protocol`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
