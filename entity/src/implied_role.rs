//! `implied_role` table: role inference rules (prior role implies another role).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `implied_role` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "implied_role")]
pub struct Model {
    /// Role that implies another.
    #[sea_orm(primary_key, auto_increment = false)]
    pub prior_role_id: String,
    /// Role that is implied.
    #[sea_orm(primary_key, auto_increment = false)]
    pub implied_role_id: String,
}

/// Relations of `implied_role` (both ends point at `role`, so no `Related` impl).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The prior (implying) role.
    #[sea_orm(
        belongs_to = "super::role::Entity",
        from = "Column::PriorRoleId",
        to = "super::role::Column::Id",
        on_delete = "Cascade"
    )]
    PriorRole,
    /// The implied role.
    #[sea_orm(
        belongs_to = "super::role::Entity",
        from = "Column::ImpliedRoleId",
        to = "super::role::Column::Id",
        on_delete = "Cascade"
    )]
    ImpliedRole,
}

impl ActiveModelBehavior for ActiveModel {}
