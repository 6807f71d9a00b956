//! `identity_group` table: user groups (`group` is reserved in SQL).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `identity_group` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "identity_group")]
pub struct Model {
    /// Group id (32-char hex uuid).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Group name, unique within its domain.
    pub name: String,
    /// Owning domain.
    pub domain_id: String,
    /// Free-form description.
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// Creation time (UTC).
    pub created_at: DateTime,
}

/// Relations of `identity_group`.
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
    /// Memberships of the group.
    #[sea_orm(has_many = "super::user_group_membership::Entity")]
    UserGroupMembership,
}

impl Related<super::domain::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Domain.def()
    }
}

impl Related<super::user_group_membership::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserGroupMembership.def()
    }
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        super::user_group_membership::Relation::User.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::user_group_membership::Relation::Group.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
