//! Users in the database: the only code that queries the `user` table (apart from authentication's lookups,
//! which move here next).

use entity::{assignment, password_history, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use crate::error::{DomainError, DomainResult};
use crate::model::revocation::Event;
use crate::model::{Project, User};
use crate::Db;
use crate::Modeled;

/// Users by optional exact name, domain and enabled flag, by name.
pub async fn list(
    db: &Db,
    name: Option<&str>,
    domain_id: Option<&str>,
    enabled: Option<bool>,
) -> DomainResult<Vec<User>> {
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
    Ok(q.all(&db.conn).await?.modeled())
}

/// Store a new user; its name is already taken in its domain when `Conflict`.
pub async fn insert(db: &Db, row: User) -> DomainResult<User> {
    let name = row.name.clone();
    super::insert_row(db, user::ActiveModel::from(row), || {
        DomainError::duplicate("user", "name", &name)
    })
    .await
    .map(Into::into)
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
    /// The options, as JSON (`Some(None)`: none).
    pub options: Option<Option<String>>,
    /// A new password's facts: when it expires, when it was set, whether by the user, and how many of the hashes
    /// before it to keep (the one it replaces is kept in `password_history`).
    pub new_password: Option<NewPassword>,
    /// Counted as active from then (enabled again: also unlocks).
    pub active_from: Option<chrono::NaiveDateTime>,
}

/// What goes with a new password hash.
#[derive(Debug)]
pub struct NewPassword {
    /// When it expires.
    pub expires_at: Option<chrono::NaiveDateTime>,
    /// When it was set.
    pub set_at: chrono::NaiveDateTime,
    /// Whether the user set it (`POST /v3/users/{id}/password`).
    pub self_service: bool,
    /// How many earlier hashes to keep.
    pub keep: u64,
}

/// Store a user's changes with the revocation events they call for, in one transaction.
pub async fn update(
    db: &Db,
    old: &User,
    changes: UserChanges,
    events: &[Event],
) -> DomainResult<User> {
    let mut row: user::ActiveModel = old.clone().into();
    let replaces_hash = matches!(changes.password_hash, Some(Some(_)));
    let new_name = changes.name.clone().unwrap_or_else(|| old.name.clone());
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
    if let Some(o) = changes.options {
        row.options = Set(o);
    }
    if let Some(at) = changes.active_from {
        row.last_active_at = Set(Some(at));
        row.failed_auth_count = Set(0);
        row.last_failed_auth_at = Set(None);
    }
    if let Some(p) = &changes.new_password {
        row.password_expires_at = Set(p.expires_at);
        row.password_created_at = Set(Some(p.set_at));
        row.password_self_service = Set(p.self_service);
    }
    let txn = db.write().await?;
    // The row first: a user deleted since it was read (its password was being hashed meanwhile) is a 404, and once
    // the row is written it is held for the rest of the transaction, so the history below has its parent.
    let updated = match row.update(&txn.txn).await {
        Err(sea_orm::DbErr::RecordNotUpdated) => {
            return Err(DomainError::not_found("user", &old.id));
        }
        written => super::unique(written, || {
            DomainError::duplicate("user", "name", &new_name)
        })?,
    };
    if let (Some(p), true, Some(old_hash)) = (
        &changes.new_password,
        replaces_hash,
        old.password_hash.as_deref(),
    ) {
        retire_hash(&txn, old, old_hash, p.keep).await?;
    }
    for e in events {
        super::revocations::save(&txn, e).await?;
    }
    txn.commit().await?;
    Ok(updated.into())
}

/// Keep the hash a new password replaces in the history, and only the newest `keep` there.
async fn retire_hash(txn: &super::WriteTxn, u: &User, hash: &str, keep: u64) -> DomainResult<()> {
    password_history::ActiveModel {
        user_id: Set(u.id.clone()),
        password_hash: Set(hash.to_string()),
        created_at: Set(u.password_created_at.unwrap_or(u.created_at)),
        ..Default::default()
    }
    .insert(&txn.txn)
    .await?;
    // A few rows per user (the rule keeps the history short): fetched whole, the newest `keep` kept.
    let stale: Vec<i64> = password_history::Entity::find()
        .filter(password_history::Column::UserId.eq(u.id.as_str()))
        .order_by_desc(password_history::Column::Id)
        .all(&txn.txn)
        .await?
        .into_iter()
        .skip(usize::try_from(keep).unwrap_or(usize::MAX))
        .map(|h| h.id)
        .collect();
    if !stale.is_empty() {
        password_history::Entity::delete_many()
            .filter(password_history::Column::Id.is_in(stale))
            .exec(&txn.txn)
            .await?;
    }
    Ok(())
}

/// The hashes of a user's earlier passwords, newest first, at most `limit`.
pub async fn earlier_hashes(db: &Db, user_id: &str, limit: u64) -> DomainResult<Vec<String>> {
    Ok(password_history::Entity::find()
        .filter(password_history::Column::UserId.eq(user_id))
        .order_by_desc(password_history::Column::Id)
        .limit(limit)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|h| h.password_hash)
        .collect())
}

/// Count a user as active from `at` (a password authentication), if the stored day is older.
pub async fn touch_active(db: &Db, user_id: &str, at: chrono::NaiveDateTime) -> DomainResult<()> {
    use sea_orm::sea_query::Expr;
    let day_start = at.date().and_time(chrono::NaiveTime::MIN);
    let txn = db.write().await?;
    user::Entity::update_many()
        .col_expr(user::Column::LastActiveAt, Expr::value(at))
        .filter(user::Column::Id.eq(user_id))
        .filter(
            sea_orm::Condition::any()
                .add(user::Column::LastActiveAt.is_null())
                .add(user::Column::LastActiveAt.lt(day_start)),
        )
        .exec(&txn.txn)
        .await?;
    Ok(txn.commit().await?)
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
pub async fn delete(db: &Db, u: User, event: &Event) -> DomainResult<()> {
    let txn = db.write().await?;
    assignment::Entity::delete_many()
        .filter(assignment::Column::ActorId.eq(u.id.as_str()))
        .filter(assignment::Column::Kind.is_in(["UserProject", "UserDomain", "UserSystem"]))
        .exec(&txn.txn)
        .await?;
    super::revocations::save(&txn, event).await?;
    user::Model::from(u).delete(&txn.txn).await?;
    txn.commit().await?;
    Ok(())
}

/// The projects a user holds a role on (directly or through a group), by name.
pub async fn projects(db: &Db, user_id: &str) -> DomainResult<Vec<Project>> {
    let ids = crate::assignments::projects_of(db, user_id).await?;
    super::projects::by_ids(db, ids).await
}

/// A user by name in a domain (as the database compares names).
pub async fn by_name(db: &Db, domain_id: &str, name: &str) -> DomainResult<Option<User>> {
    let found = user::Entity::find()
        .filter(user::Column::DomainId.eq(domain_id))
        .filter(user::Column::Name.eq(name))
        .one(&db.conn)
        .await?;
    Ok(found.modeled())
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

/// A project's service accounts, by name.
pub async fn service_accounts(db: &Db, project_id: &str) -> DomainResult<Vec<User>> {
    Ok(user::Entity::find()
        .filter(user::Column::ServiceProjectId.eq(project_id))
        .order_by_asc(user::Column::Name)
        .all(&db.conn)
        .await?
        .modeled())
}
