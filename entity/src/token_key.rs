//! `token_key` table: the token key ring when `[token] key_store = database`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `token_key` table: one key, numbered as in a Fernet key repository.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "token_key")]
pub struct Model {
    /// Key number: 0 is staged, the highest is primary, the rest are secondaries.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    /// The Fernet key, itself Fernet-encrypted under the configured key-encryption key.
    #[sea_orm(column_type = "Text")]
    pub sealed_key: String,
    /// When the key was made (UTC).
    pub created_at: DateTime,
}

/// Relations of `token_key` (none).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
