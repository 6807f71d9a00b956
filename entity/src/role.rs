//! `role` table: global (`domain_id` NULL) and domain-specific roles.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of the `role` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "role")]
pub struct Model {
    /// Role id (32-char hex uuid).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Role name; unique per domain (NULL domain included), enforced in code.
    pub name: String,
    /// Owning domain for domain-specific roles; `None` for global roles.
    pub domain_id: Option<String>,
    /// Free-form description.
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// JSON object of role options, e.g. `{"immutable": true}`.
    #[sea_orm(column_type = "Text")]
    pub options: String,
    /// Creation time (UTC).
    pub created_at: DateTime,
}

/// Relations of `role`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Owning domain (domain-specific roles only).
    #[sea_orm(
        belongs_to = "super::domain::Entity",
        from = "Column::DomainId",
        to = "super::domain::Column::Id",
        on_delete = "Cascade"
    )]
    Domain,
    /// Assignments granting the role.
    #[sea_orm(has_many = "super::assignment::Entity")]
    Assignment,
    /// Application credentials delegating the role.
    #[sea_orm(has_many = "super::application_credential_role::Entity")]
    ApplicationCredentialRole,
}

impl Related<super::domain::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Domain.def()
    }
}

impl Related<super::assignment::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Assignment.def()
    }
}

impl Related<super::application_credential_role::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApplicationCredentialRole.def()
    }
}

impl Related<super::application_credential::Entity> for Entity {
    fn to() -> RelationDef {
        super::application_credential_role::Relation::ApplicationCredential.def()
    }

    fn via() -> Option<RelationDef> {
        Some(
            super::application_credential_role::Relation::Role
                .def()
                .rev(),
        )
    }
}

/// Links a prior role to the roles it directly implies (one hop of `implied_role`).
#[derive(Clone, Copy, Debug)]
pub struct ImpliedRolesLink;

impl Linked for ImpliedRolesLink {
    type FromEntity = Entity;
    type ToEntity = Entity;

    fn link(&self) -> Vec<RelationDef> {
        vec![
            super::implied_role::Relation::PriorRole.def().rev(),
            super::implied_role::Relation::ImpliedRole.def(),
        ]
    }
}

impl ActiveModelBehavior for ActiveModel {}
