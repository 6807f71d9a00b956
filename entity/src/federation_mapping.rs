//! `federation_mapping` table: Keystone's mapping rules (JSON), turning a provider's claims into a local user.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `federation_mapping` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "federation_mapping")]
pub struct Model {
    /// The mapping's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The rules, as JSON.
    #[sea_orm(column_type = "Text")]
    pub rules: String,
    /// The rules' schema version (`1.0`, `2.0`).
    pub schema_version: String,
}

/// Relations of `federation_mapping`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
