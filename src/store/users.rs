//! Users in the database: the only code that queries the `user` table (apart from authentication's lookups,
//! which move here next).

use entity::{assignment, project, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder, Set,
};

use crate::error::{DomainError, DomainResult};
use crate::store::Db;
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
    let updated = super::unique(row.update(&txn.txn).await, || {
        DomainError::duplicate("user", "name", &old.name)
    })?;
    for e in events {
        super::revocations::save(&txn, e).await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// Replace a user's password hash, if it is still `old` (a password changed meanwhile wins).
pub async fn replace_hash(db: &Db, user_id: &str, old: &str, new: &str) -> DomainResult<()> {
    use sea_orm::sea_query::Expr;
    let txn = db.write().await?;
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(new))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::PasswordHash.eq(old))
        .exec(&txn.txn)
        .await?;
    Ok(txn.commit().await?)
}

/// Delete a user with its grants, saving `event`, in one transaction.
pub async fn delete(db: &Db, u: user::Model, event: &Event) -> DomainResult<()> {
    let txn = db.write().await?;
    assignment::Entity::delete_many()
        .filter(assignment::Column::ActorId.eq(u.id.as_str()))
        .filter(assignment::Column::Kind.is_in(["UserProject", "UserDomain", "UserSystem"]))
        .exec(&txn.txn)
        .await?;
    super::revocations::save(&txn, event).await?;
    u.delete(&txn.txn).await?;
    txn.commit().await?;
    Ok(())
}

/// The projects a user holds a role on (directly or through a group), by name.
pub async fn projects(db: &Db, user_id: &str) -> DomainResult<Vec<project::Model>> {
    let ids = crate::store::assignments::projects_of(db, user_id).await?;
    super::projects::by_ids(db, ids).await
}

/// A user by name in a domain (as the database compares names).
pub async fn by_name(db: &Db, domain_id: &str, name: &str) -> DomainResult<Option<user::Model>> {
    let found = user::Entity::find()
        .filter(user::Column::DomainId.eq(domain_id))
        .filter(user::Column::Name.eq(name))
        .one(&db.conn)
        .await?;
    Ok(found)
}

/// Count a failed login in the database, so concurrent failures all count; from 1 again once the count had
/// reached `limit` (an earlier lockout that has run out).
pub async fn count_failed_login(
    db: &Db,
    user_id: &str,
    limit: i32,
    now: chrono::NaiveDateTime,
) -> DomainResult<()> {
    use sea_orm::sea_query::Expr;
    let count = Expr::col(user::Column::FailedAuthCount);
    let next = Expr::case(count.clone().gte(limit), 1).finally(count.add(1));
    let txn = db.write().await?;
    user::Entity::update_many()
        .col_expr(user::Column::FailedAuthCount, next.into())
        .col_expr(user::Column::LastFailedAuthAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id))
        .exec(&txn.txn)
        .await?;
    Ok(txn.commit().await?)
}

/// Forget a user's failed logins (after a successful one).
pub async fn clear_failed_logins(db: &Db, user_id: &str) -> DomainResult<()> {
    let txn = db.write().await?;
    user::Entity::update_many()
        .col_expr(
            user::Column::FailedAuthCount,
            sea_orm::sea_query::Expr::value(0),
        )
        .col_expr(
            user::Column::LastFailedAuthAt,
            sea_orm::sea_query::Expr::value(Option::<chrono::NaiveDateTime>::None),
        )
        .filter(user::Column::Id.eq(user_id))
        .exec(&txn.txn)
        .await?;
    Ok(txn.commit().await?)
}
