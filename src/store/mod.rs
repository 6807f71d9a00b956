//! The store layer: the code that speaks sea-orm, so that domain modules say what they need ("the group's
//! members", "a duplicate name means Conflict") and never how it is queried. Every write takes the one write
//! path (`Db::write`). Every `/v3` resource is here; the token, credential and assignment paths are still to move
//! (docs/architecture.md, "Where this is going").

pub mod catalog;
pub mod domains;
pub mod grants;
pub mod groups;
pub mod projects;
pub mod roles;
pub mod users;

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, DbErr, EntityTrait, IntoActiveModel, PrimaryKeyTrait,
};

use crate::db::{Db, WriteTxn};
use crate::error::{DomainError, DomainResult};

/// Whether a database error is a uniqueness violation, on any backend.
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// A write's outcome, where a uniqueness violation means `duplicate()` (a 409 naming the field, usually).
pub fn unique<T>(
    written: Result<T, DbErr>,
    duplicate: impl FnOnce() -> DomainError,
) -> DomainResult<T> {
    match written {
        Err(e) if is_unique_violation(&e) => Err(duplicate()),
        other => Ok(other?),
    }
}

/// Insert a row and commit, where a row already there with the same key is as good (idempotent PUTs).
///
/// The insert is the transaction's last statement: on PostgreSQL a failed statement aborts its transaction.
pub async fn insert_unless_present<A>(txn: WriteTxn, row: A) -> DomainResult<()>
where
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    match row.insert(&*txn).await {
        Ok(_) => Ok(txn.commit().await?),
        Err(e) if is_unique_violation(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A row by its (single-column, string) primary key.
pub async fn find<E>(db: &Db, id: &str) -> DomainResult<Option<E::Model>>
where
    E: EntityTrait,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<String>,
{
    Ok(E::find_by_id(id.to_string()).one(&db.conn).await?)
}

/// Insert a new row in its own write transaction; a uniqueness violation means `duplicate()`.
pub async fn insert_new<A>(
    db: &Db,
    row: A,
    duplicate: impl FnOnce() -> DomainError,
) -> DomainResult<<A::Entity as EntityTrait>::Model>
where
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    let txn = db.write().await?;
    let created = unique(row.reset_all().insert(&*txn).await, duplicate)?;
    txn.commit().await?;
    Ok(created)
}

/// Write every column of a changed row back, in its own write transaction.
pub async fn update_row<A>(
    db: &Db,
    row: <A::Entity as EntityTrait>::Model,
) -> DomainResult<<A::Entity as EntityTrait>::Model>
where
    A: ActiveModelTrait + ActiveModelBehavior + Send + From<<A::Entity as EntityTrait>::Model>,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    let txn = db.write().await?;
    let updated = A::from(row).reset_all().update(&*txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Delete a row in its own write transaction.
pub async fn delete_row<A>(db: &Db, row: <A::Entity as EntityTrait>::Model) -> DomainResult<()>
where
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    let txn = db.write().await?;
    row.into_active_model().delete(&*txn).await?;
    Ok(txn.commit().await?)
}
