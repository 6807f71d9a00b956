//! `assignment` table: role grants to users or groups on projects, domains or the system.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// `kind` value for a user role on a project.
pub const KIND_USER_PROJECT: &str = "UserProject";
/// `kind` value for a group role on a project.
pub const KIND_GROUP_PROJECT: &str = "GroupProject";
/// `kind` value for a user role on a domain.
pub const KIND_USER_DOMAIN: &str = "UserDomain";
/// `kind` value for a group role on a domain.
pub const KIND_GROUP_DOMAIN: &str = "GroupDomain";
/// `kind` value for a user role on the system.
pub const KIND_USER_SYSTEM: &str = "UserSystem";
/// `kind` value for a group role on the system.
pub const KIND_GROUP_SYSTEM: &str = "GroupSystem";
/// `target_id` value used for system-scoped assignments.
pub const SYSTEM_TARGET: &str = "system";

/// A row of the `assignment` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "assignment")]
pub struct Model {
    /// Assignment kind, one of the `KIND_*` constants.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    /// User or group id (polymorphic, no foreign key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub actor_id: String,
    /// Project id, domain id or `"system"` (polymorphic, no foreign key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub target_id: String,
    /// Granted role.
    #[sea_orm(primary_key, auto_increment = false)]
    pub role_id: String,
    /// Whether the grant is inherited by sub-projects.
    #[sea_orm(primary_key, auto_increment = false)]
    pub inherited: bool,
}

/// Relations of `assignment`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Granted role.
    #[sea_orm(
        belongs_to = "super::role::Entity",
        from = "Column::RoleId",
        to = "super::role::Column::Id",
        on_delete = "Cascade"
    )]
    Role,
}

impl Related<super::role::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Role.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
