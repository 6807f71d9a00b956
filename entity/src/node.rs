//! `node` table: the running Lintel nodes and their change followers' heartbeats.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `node` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "node")]
pub struct Model {
    /// The node's id, new each time it starts.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// How many times it has beaten: another node waiting for it to read a change counts two beats.
    pub seq: i64,
    /// When (on the node's own clock, UTC) its last beat began: it read every change committed before this, and
    /// it serves from memory no longer than the staleness bound after it.
    pub beat: DateTime,
}

/// Relations of `node` (none).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
