//! `application_credential_witness` table: every person who saw a credential's current secret (its creator, its
//! last rotator).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `application_credential_witness` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "application_credential_witness")]
pub struct Model {
    /// The credential.
    #[sea_orm(primary_key, auto_increment = false)]
    pub application_credential_id: String,
    /// The person (no foreign key: looked up after the user is gone).
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// When they saw it.
    pub seen_at: DateTime,
}

/// Relations of `application_credential_witness`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
