//! `federated_user` table: the local user ("shadow user") a provider's subject signs in as.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `federated_user` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "federated_user")]
pub struct Model {
    /// The provider.
    #[sea_orm(primary_key, auto_increment = false)]
    pub idp_id: String,
    /// The protocol.
    #[sea_orm(primary_key, auto_increment = false)]
    pub protocol_id: String,
    /// The subject's id as the mapping names it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub unique_id: String,
    /// The local user.
    pub user_id: String,
    /// The name the mapping gave it.
    pub display_name: Option<String>,
}

/// Relations of `federated_user`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
