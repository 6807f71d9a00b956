//! `domain` table: top-level ownership container for projects, users, groups and roles.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `domain` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "domain")]
pub struct Model {
    /// Domain id (32-char hex uuid, or `default`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Globally unique domain name.
    #[sea_orm(unique)]
    pub name: String,
    /// Free-form description.
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// Whether the domain (and everything in it) may be used.
    pub enabled: bool,
    /// Creation time (UTC).
    pub created_at: DateTime,
}

/// Relations of `domain`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Projects owned by the domain.
    #[sea_orm(has_many = "super::project::Entity")]
    Project,
    /// Users owned by the domain.
    #[sea_orm(has_many = "super::user::Entity")]
    User,
    /// Groups owned by the domain.
    #[sea_orm(has_many = "super::group::Entity")]
    Group,
    /// Domain-specific roles.
    #[sea_orm(has_many = "super::role::Entity")]
    Role,
}

impl Related<super::project::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
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

impl Related<super::role::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Role.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
