//! `view_change` table: notices of changes to what nodes hold in memory.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `view_change` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "view_change")]
pub struct Model {
    /// Auto-increment id: nodes read the rows above the last one they saw.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What changed: `user`, `project`, `domain`, `role`, `credential`, `catalog` or `grants`.
    pub kind: String,
    /// Which one, for the kinds that have ids.
    pub item_id: Option<String>,
    /// When it was announced (UTC).
    pub changed_at: DateTime,
}

/// Relations of `view_change` (none).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
