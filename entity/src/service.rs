//! `service` table: catalog services.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `service` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "service")]
pub struct Model {
    /// Service id (32-char hex uuid).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Service type, e.g. `identity` or `compute`.
    pub r#type: String,
    /// Optional service name.
    pub name: Option<String>,
    /// Free-form description.
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// Whether the service appears in the catalog.
    pub enabled: bool,
}

/// Relations of `service`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Endpoints of the service.
    #[sea_orm(has_many = "super::endpoint::Entity")]
    Endpoint,
}

impl Related<super::endpoint::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Endpoint.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
