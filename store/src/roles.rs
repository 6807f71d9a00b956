//! Roles and implication rules in the database: the only code that writes `role` and `implied_role`.

use entity::{application_credential, implied_role, role};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder, Set,
};

use crate::error::{DomainError, DomainResult};
use crate::model::revocation::Event;
use crate::model::Role;
use crate::Db;
use crate::Modeled;

/// Roles by optional exact name, in one domain (`None`: the global roles), by name.
pub async fn list(db: &Db, name: Option<&str>, domain_id: Option<&str>) -> DomainResult<Vec<Role>> {
    let mut q = role::Entity::find().order_by_asc(role::Column::Name);
    if let Some(n) = name {
        q = q.filter(role::Column::Name.eq(n));
    }
    q = match domain_id {
        Some(d) => q.filter(role::Column::DomainId.eq(d)),
        None => q.filter(role::Column::DomainId.is_null()),
    };
    Ok(q.all(&db.conn).await?.modeled())
}

/// Every role.
pub async fn all(db: &Db) -> DomainResult<Vec<Role>> {
    Ok(role::Entity::find().all(&db.conn).await?.modeled())
}

/// Roles by id.
pub async fn by_ids(db: &Db, ids: Vec<String>) -> DomainResult<Vec<Role>> {
    Ok(role::Entity::find()
        .filter(role::Column::Id.is_in(ids))
        .all(&db.conn)
        .await?
        .modeled())
}

/// Whether another role (not `except`) has this name in this domain. Checked in the write transaction: a unique
/// index cannot say it for global roles (their domain is NULL, and NULLs never collide).
async fn name_taken<R: super::Reader>(
    db: &R,
    name: &str,
    domain_id: Option<&str>,
    except: Option<&str>,
) -> DomainResult<bool> {
    let found = super::assignments::role_by_name(db, name, domain_id).await?;
    Ok(found.is_some_and(|r| Some(r.id.as_str()) != except))
}

/// Store a new role; a role of that name in its domain is `Conflict`.
pub async fn insert(db: &Db, row: Role) -> DomainResult<Role> {
    let duplicate = || DomainError::duplicate("role", "name", &row.name);
    let txn = db.write().await?;
    if name_taken(&txn, &row.name, row.domain_id.as_deref(), None).await? {
        return Err(duplicate());
    }
    let active = role::ActiveModel::from(row.clone()).reset_all();
    let created = super::unique(active.insert(&txn.txn).await, duplicate)?;
    txn.commit().await?;
    Ok(created.into())
}

/// The columns an update changes (absent: left as they are).
#[derive(Debug, Default)]
pub struct RoleChanges {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<Option<String>>,
    /// New options, as JSON.
    pub options: Option<String>,
}

/// Store a role's changes; a new name another role of its domain has is `Conflict`.
pub async fn update(db: &Db, old: &Role, changes: RoleChanges) -> DomainResult<Role> {
    let mut row: role::ActiveModel = old.clone().into();
    let txn = db.write().await?;
    if let Some(n) = changes.name {
        if name_taken(&txn, &n, old.domain_id.as_deref(), Some(&old.id)).await? {
            return Err(DomainError::duplicate("role", "name", &n));
        }
        row.name = Set(n);
    }
    if let Some(d) = changes.description {
        row.description = Set(d);
    }
    if let Some(o) = changes.options {
        row.options = Set(o);
    }
    let updated = row.update(&txn.txn).await?;
    txn.commit().await?;
    Ok(updated.into())
}

/// Delete a role with every application credential that carries it (grants and implication rules follow by
/// foreign-key cascade), saving `role_event` and `credential_event(id)` for each credential; the credentials'
/// ids and all events saved come back.
pub async fn delete(
    db: &Db,
    r: Role,
    role_event: Event,
    credential_event: impl Fn(&str) -> Event,
) -> DomainResult<(Vec<String>, Vec<Event>)> {
    let txn = db.write().await?;
    let creds = super::credentials::carrying_role(&txn, &r.id).await?;
    let mut events = vec![role_event];
    for c in &creds {
        application_credential::Entity::delete_by_id(c.as_str())
            .exec(&txn.txn)
            .await?;
        events.push(credential_event(c));
    }
    for e in &events {
        super::revocations::save(&txn, e).await?;
    }
    role::Model::from(r).delete(&txn.txn).await?;
    txn.commit().await?;
    Ok((creds, events))
}

/// Every implication rule.
pub async fn implications(db: &Db) -> DomainResult<Vec<crate::model::Implication>> {
    Ok(implied_role::Entity::find().all(&db.conn).await?.modeled())
}

/// The roles one role implies directly.
pub async fn implied_by(db: &Db, prior: &str) -> DomainResult<Vec<Role>> {
    let ids = implied_role::Entity::find()
        .filter(implied_role::Column::PriorRoleId.eq(prior))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|r| r.implied_role_id)
        .collect();
    by_ids(db, ids).await
}

/// Whether `prior` implies `implied` directly.
pub async fn implies(db: &Db, prior: &str, implied: &str) -> DomainResult<bool> {
    Ok(
        implied_role::Entity::find_by_id((prior.to_string(), implied.to_string()))
            .one(&db.conn)
            .await?
            .is_some(),
    )
}

/// Store an implication rule; one already there is `Conflict`, as Keystone answers.
pub async fn add_implication(db: &Db, prior: &str, implied: &str) -> DomainResult<()> {
    let row = implied_role::ActiveModel {
        prior_role_id: Set(prior.to_string()),
        implied_role_id: Set(implied.to_string()),
    };
    super::insert_row(db, row, || {
        DomainError::Conflict(
            "Conflict occurred attempting to store implied_role - Duplicate entry.".into(),
        )
    })
    .await
    .map(drop)
}

/// Delete an implication rule, saving `event` with it; false when there was none.
pub async fn remove_implication(
    db: &Db,
    prior: &str,
    implied: &str,
    event: &Event,
) -> DomainResult<bool> {
    let txn = db.write().await?;
    let removed = implied_role::Entity::delete_by_id((prior.to_string(), implied.to_string()))
        .exec(&txn.txn)
        .await?
        .rows_affected
        > 0;
    if removed {
        super::revocations::save(&txn, event).await?;
        txn.commit().await?;
    }
    Ok(removed)
}
