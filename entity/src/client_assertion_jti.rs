//! `client_assertion_jti` table: the `jti`s of accepted client assertions (`private_key_jwt`), shared by every
//! node so an assertion is accepted once in the whole cluster.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `client_assertion_jti` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "client_assertion_jti")]
pub struct Model {
    /// Hex SHA-256 of the client id and the `jti` (bounded length whatever the client sent).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// When the assertion expires (UTC); the row may go after that.
    pub expires_at: DateTime,
}

/// Relations of `client_assertion_jti` (none).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
