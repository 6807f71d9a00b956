//! Users in the database: the only code that queries the `user` table (apart from authentication's lookups,
//! which move here next).

use entity::{assignment, project, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder, Set,
};

use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::token::revocation::Event;

/// Users by optional exact name, domain and enabled flag, by name.
pub async fn list(
    db: &Db,
    name: Option<&str>,
    domain_id: Option<&str>,
    enabled: Option<bool>,
) -> DomainResult<Vec<user::Model>> {
    let mut q = user::Entity::find().order_by_asc(user::Column::Name);
    if let Some(n) = name {
        q = q.filter(user::Column::Name.eq(n));
    }
    if let Some(d) = domain_id {
        q = q.filter(user::Column::DomainId.eq(d));
    }
    if let Some(e) = enabled {
        q = q.filter(user::Column::Enabled.eq(e));
    }
    Ok(q.all(&db.conn).await?)
}

/// Store a new user; its name is already taken in its domain when `Conflict`.
pub async fn insert(db: &Db, row: user::Model) -> DomainResult<user::Model> {
    let name = row.name.clone();
    super::insert_new(db, user::ActiveModel::from(row), || {
        DomainError::duplicate("user", "name", &name)
    })
    .await
}

/// The columns an update changes (absent: left as they are).
#[derive(Debug, Default)]
pub struct UserChanges {
    /// New name.
    pub name: Option<String>,
    /// New enabled flag.
    pub enabled: Option<bool>,
    /// New password hash (`Some(None)`: no password); resets the failed-login count.
    pub password_hash: Option<Option<String>>,
    /// New default project.
    pub default_project_id: Option<Option<String>>,
    /// The extra attributes, as JSON.
    pub extra: Option<String>,
}

/// Store a user's changes with the revocation events they call for, in one transaction.
pub async fn update(
    db: &Db,
    old: &user::Model,
    changes: UserChanges,
    events: &[Event],
) -> DomainResult<user::Model> {
    let mut row: user::ActiveModel = old.clone().into();
    if let Some(n) = changes.name {
        row.name = Set(n);
    }
    if let Some(e) = changes.enabled {
        row.enabled = Set(e);
    }
    if let Some(h) = changes.password_hash {
        row.password_hash = Set(h);
        row.failed_auth_count = Set(0);
    }
    if let Some(p) = changes.default_project_id {
        row.default_project_id = Set(p);
    }
    if let Some(x) = changes.extra {
        row.extra = Set(x);
    }
    let txn = db.write().await?;
    let updated = super::unique(row.update(&*txn).await, || {
        DomainError::duplicate("user", "name", &old.name)
    })?;
    for e in events {
        e.save(&*txn).await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// Delete a user with its grants, saving `event`, in one transaction.
pub async fn delete(db: &Db, u: user::Model, event: &Event) -> DomainResult<()> {
    let txn = db.write().await?;
    assignment::Entity::delete_many()
        .filter(assignment::Column::ActorId.eq(u.id.as_str()))
        .filter(assignment::Column::Kind.is_in(["UserProject", "UserDomain", "UserSystem"]))
        .exec(&*txn)
        .await?;
    event.save(&*txn).await?;
    u.delete(&*txn).await?;
    txn.commit().await?;
    Ok(())
}

/// The projects a user holds a role on (directly or through a group), by name.
pub async fn projects(db: &Db, user_id: &str) -> DomainResult<Vec<project::Model>> {
    let ids = crate::assignment::projects_of(&db.conn, user_id).await?;
    super::projects::by_ids(db, ids).await
}
