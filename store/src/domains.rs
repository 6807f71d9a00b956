//! Domains in the database: the only code that writes the `domain` table.

use entity::{assignment, domain, group, project, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use crate::error::{DomainError, DomainResult};
use crate::model::revocation::Event;
use crate::model::Domain;
use crate::Db;
use crate::Modeled;

/// Domains by optional exact name and enabled flag, by name.
pub async fn list(db: &Db, name: Option<&str>, enabled: Option<bool>) -> DomainResult<Vec<Domain>> {
    let mut q = domain::Entity::find().order_by_asc(domain::Column::Name);
    if let Some(n) = name {
        q = q.filter(domain::Column::Name.eq(n));
    }
    if let Some(e) = enabled {
        q = q.filter(domain::Column::Enabled.eq(e));
    }
    Ok(q.all(&db.conn).await?.modeled())
}

/// Store a new domain; its name is already taken when `Conflict`.
pub async fn insert(db: &Db, row: Domain) -> DomainResult<Domain> {
    let name = row.name.clone();
    super::insert_row(db, domain::ActiveModel::from(row), || {
        DomainError::duplicate("domain", "name", &name)
    })
    .await
    .map(Into::into)
}

/// The columns an update changes (absent: left as they are).
#[derive(Debug, Default)]
pub struct DomainChanges {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<Option<String>>,
    /// New enabled flag.
    pub enabled: Option<bool>,
}

/// Store a domain's changes with the revocation events they call for, in one transaction.
pub async fn update(
    db: &Db,
    old: &Domain,
    changes: DomainChanges,
    events: &[Event],
) -> DomainResult<Domain> {
    let mut row: domain::ActiveModel = old.clone().into();
    if let Some(n) = changes.name {
        row.name = Set(n);
    }
    if let Some(d) = changes.description {
        row.description = Set(d);
    }
    if let Some(e) = changes.enabled {
        row.enabled = Set(e);
    }
    let txn = db.write().await?;
    let updated = super::unique(row.update(&txn.txn).await, || {
        DomainError::duplicate("domain", "name", &old.name)
    })?;
    for e in events {
        super::revocations::save(&txn, e).await?;
    }
    txn.commit().await?;
    Ok(updated.into())
}

/// Ids of the rows of `E` whose domain is `domain_id`.
async fn ids_in<E, C>(
    db: &C,
    domain_id: &str,
    id: E::Column,
    domain: E::Column,
) -> DomainResult<Vec<String>>
where
    E: EntityTrait,
    C: sea_orm::ConnectionTrait,
{
    Ok(E::find()
        .select_only()
        .column(id)
        .filter(domain.eq(domain_id))
        .into_tuple()
        .all(db)
        .await?)
}

/// Delete a domain with every grant to or on what it holds (grants have no foreign keys), saving `event`, in one
/// transaction: what it holds is read inside it, so nothing created meanwhile keeps a grant.
pub async fn delete(db: &Db, d: Domain, event: &Event) -> DomainResult<()> {
    let txn = db.write().await?;
    let mut actors =
        ids_in::<user::Entity, _>(&txn.txn, &d.id, user::Column::Id, user::Column::DomainId)
            .await?;
    actors.extend(
        ids_in::<group::Entity, _>(&txn.txn, &d.id, group::Column::Id, group::Column::DomainId)
            .await?,
    );
    let mut targets = ids_in::<project::Entity, _>(
        &txn.txn,
        &d.id,
        project::Column::Id,
        project::Column::DomainId,
    )
    .await?;
    targets.push(d.id.clone());
    assignment::Entity::delete_many()
        .filter(assignment::Column::ActorId.is_in(actors))
        .exec(&txn.txn)
        .await?;
    assignment::Entity::delete_many()
        .filter(assignment::Column::TargetId.is_in(targets))
        .exec(&txn.txn)
        .await?;
    super::revocations::save(&txn, event).await?;
    domain::Model::from(d).delete(&txn.txn).await?;
    txn.commit().await?;
    Ok(())
}

/// A domain by name (as the database compares names).
pub async fn by_name(db: &Db, name: &str) -> DomainResult<Option<Domain>> {
    let found = domain::Entity::find()
        .filter(domain::Column::Name.eq(name))
        .one(&db.conn)
        .await?;
    Ok(found.modeled())
}
