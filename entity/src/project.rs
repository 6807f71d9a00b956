//! `project` table: projects (tenants), possibly nested under a parent project.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `project` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "project")]
pub struct Model {
    /// Project id (32-char hex uuid).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Project name, unique within its domain.
    pub name: String,
    /// Owning domain.
    pub domain_id: String,
    /// Parent project, if nested.
    pub parent_id: Option<String>,
    /// Free-form description.
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// Whether the project may be used.
    pub enabled: bool,
    /// Creation time (UTC).
    pub created_at: DateTime,
}

/// Relations of `project`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Owning domain.
    #[sea_orm(
        belongs_to = "super::domain::Entity",
        from = "Column::DomainId",
        to = "super::domain::Column::Id",
        on_delete = "Cascade"
    )]
    Domain,
    /// Parent project.
    #[sea_orm(
        belongs_to = "Entity",
        from = "Column::ParentId",
        to = "Column::Id",
        on_delete = "Cascade"
    )]
    Parent,
    /// Tags attached to the project.
    #[sea_orm(has_many = "super::project_tag::Entity")]
    ProjectTag,
    /// Application credentials scoped to the project.
    #[sea_orm(has_many = "super::application_credential::Entity")]
    ApplicationCredential,
}

impl Related<super::domain::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Domain.def()
    }
}

impl Related<super::project_tag::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProjectTag.def()
    }
}

impl Related<super::application_credential::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApplicationCredential.def()
    }
}

/// Links a project to its parent project.
#[derive(Clone, Copy, Debug)]
pub struct ParentLink;

impl Linked for ParentLink {
    type FromEntity = Entity;
    type ToEntity = Entity;

    fn link(&self) -> Vec<RelationDef> {
        vec![Relation::Parent.def()]
    }
}

impl ActiveModelBehavior for ActiveModel {}
