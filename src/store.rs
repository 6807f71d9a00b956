//! Storage steps every write shares: what a uniqueness violation means, and "insert unless already there".
//!
//! The beginning of the store layer (issue 13): the only place that reads sea-orm's error kinds, so a handler
//! or domain module says what a duplicate means in one line instead of matching on database errors.

use sea_orm::{ActiveModelBehavior, ActiveModelTrait, DbErr, EntityTrait, IntoActiveModel};

use crate::db::WriteTxn;
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
