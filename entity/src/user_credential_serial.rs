//! `user_credential_serial` table: a counter per user that every credential created under
//! `[application_credential] user_limit` increments, so that two such creates on different Galera nodes write one
//! row and cannot both commit (migration 000012 says why).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `user_credential_serial` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "user_credential_serial")]
pub struct Model {
    /// The user (deleted with it).
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// How many credentials were created under the limit (only ever compared by the database: a write target).
    pub serial: i64,
}

/// Relations of `user_credential_serial` (the cascade is the migration's).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
