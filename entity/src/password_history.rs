//! `password_history` table: a user's earlier password hashes, for `unique_last_password_count`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `password_history` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "password_history")]
pub struct Model {
    /// Auto-increment id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The user.
    pub user_id: String,
    /// The hash of a password the user had.
    #[sea_orm(column_type = "Text")]
    pub password_hash: String,
    /// When that password was set (UTC).
    pub created_at: DateTime,
}

/// Relations of `password_history`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The user.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
