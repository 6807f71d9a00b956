//! `endpoint` table: catalog endpoints of services.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `endpoint` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "endpoint")]
pub struct Model {
    /// Endpoint id (32-char hex uuid).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Owning service.
    pub service_id: String,
    /// Interface: `public`, `internal` or `admin`.
    pub interface: String,
    /// Endpoint URL.
    #[sea_orm(column_type = "Text")]
    pub url: String,
    /// Region, if any (set to NULL when the region is deleted).
    pub region_id: Option<String>,
    /// Whether the endpoint appears in the catalog.
    pub enabled: bool,
}

/// Relations of `endpoint`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Owning service.
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        on_delete = "Cascade"
    )]
    Service,
    /// Region.
    #[sea_orm(
        belongs_to = "super::region::Entity",
        from = "Column::RegionId",
        to = "super::region::Column::Id",
        on_delete = "SetNull"
    )]
    Region,
}

impl Related<super::service::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Service.def()
    }
}

impl Related<super::region::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Region.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
