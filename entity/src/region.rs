//! `region` table: catalog regions, optionally nested.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `region` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "region")]
pub struct Model {
    /// Region id (user-chosen, e.g. `RegionOne`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Free-form description.
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// Parent region, if nested.
    pub parent_region_id: Option<String>,
}

/// Relations of `region`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Parent region.
    #[sea_orm(
        belongs_to = "Entity",
        from = "Column::ParentRegionId",
        to = "Column::Id",
        on_delete = "Cascade"
    )]
    Parent,
    /// Endpoints located in the region.
    #[sea_orm(has_many = "super::endpoint::Entity")]
    Endpoint,
}

impl Related<super::endpoint::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Endpoint.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
