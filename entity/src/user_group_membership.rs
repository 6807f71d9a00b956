//! `user_group_membership` table: which users belong to which groups.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `user_group_membership` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "user_group_membership")]
pub struct Model {
    /// Member user.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// Group the user belongs to.
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: String,
}

/// Relations of `user_group_membership`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Member user.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
    /// Group.
    #[sea_orm(
        belongs_to = "super::group::Entity",
        from = "Column::GroupId",
        to = "super::group::Column::Id",
        on_delete = "Cascade"
    )]
    Group,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl Related<super::group::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Group.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
