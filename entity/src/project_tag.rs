//! `project_tag` table: string tags attached to projects.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `project_tag` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "project_tag")]
pub struct Model {
    /// Tagged project.
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: String,
    /// Tag value.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
}

/// Relations of `project_tag`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Tagged project.
    #[sea_orm(
        belongs_to = "super::project::Entity",
        from = "Column::ProjectId",
        to = "super::project::Column::Id",
        on_delete = "Cascade"
    )]
    Project,
}

impl Related<super::project::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
