//! Lintel's store: the one crate that speaks sea-orm and knows the rows (`entity`), so that the domain says what it
//! needs ("the group's members", "a duplicate name means Conflict") in `lintel_model` types and never how it is
//! queried. The service crate does not depend on `entity` or sea-orm at all: the compiler keeps rows out of it.
//! Every write takes the one write path (`Db::write`).

pub mod assignments;
pub mod bootstrap;
pub mod bulk;
pub mod catalog;
pub mod changes;
pub mod credentials;
pub mod db;
pub mod domains;
pub mod federation;
pub mod follow;
pub mod grants;
pub mod groups;
pub mod health;
pub mod keys;
mod lease;
pub mod nodes;
pub mod projects;
pub mod revocations;
pub mod roles;
pub mod users;

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    ModelTrait, PrimaryKeyTrait,
};

pub use db::{ConnectError, DatabaseSection, Db, Lock, WriteTxn, COMMITTED};

// The model this store converts its rows to, and its error type (with the database errors' conversion).
use lintel_model as model;
use lintel_model::{clock, error, rules};

/// What a database error means (outage, contention, fault).
pub use lintel_model::db_error;
/// Set once, called for every database error the store converts (the service counts them in its metrics).
pub use lintel_model::db_error::ON_ERROR as ON_DATABASE_ERROR;

use crate::error::{DomainError, DomainResult};

mod sealed {
    /// Only the store can make one, so only the store can reach a connection through [`super::Reader`].
    pub struct Key(pub(crate) ());
}

/// Where a query runs: the pool ([`Db`]) or an open write transaction ([`WriteTxn`]), so that one query serves
/// both a plain read and a read inside a write.
pub trait Reader: Sync {
    /// The sea-orm connection underneath.
    type Conn: ConnectionTrait + Sync;
    /// The connection (store-internal: nothing outside the store can make the key).
    fn conn(&self, key: sealed::Key) -> &Self::Conn;
}

impl Reader for Db {
    type Conn = health::Guarded;
    fn conn(&self, _: sealed::Key) -> &Self::Conn {
        &self.conn
    }
}

impl Reader for WriteTxn {
    type Conn = sea_orm::DatabaseTransaction;
    fn conn(&self, _: sealed::Key) -> &Self::Conn {
        &self.txn
    }
}

/// The connection of a reader, for the store's queries.
fn on<R: Reader>(r: &R) -> &R::Conn {
    r.conn(sealed::Key(()))
}

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
    match row.insert(&txn.txn).await {
        Ok(_) => Ok(txn.commit().await?),
        Err(e) if is_unique_violation(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A model type the store keeps as the rows of one table with a single string key: what [`find`],
/// [`insert_new`], [`update_row`] and [`delete_row`] take and give, so callers never name a row type.
pub trait Stored: Sized + Send + From<Self::Row> + Into<Self::Row> {
    /// The table.
    type Entity: EntityTrait<Model = Self::Row>;
    /// Its row.
    type Row: ModelTrait<Entity = Self::Entity> + IntoActiveModel<Self::Active> + Send;
    /// Its row as a change.
    type Active: ActiveModelTrait<Entity = Self::Entity>
        + ActiveModelBehavior
        + Send
        + From<Self::Row>;
}

macro_rules! stored {
    ($($model:ty => $table:ident),* $(,)?) => {
        $(impl Stored for $model {
            type Entity = entity::$table::Entity;
            type Row = entity::$table::Model;
            type Active = entity::$table::ActiveModel;
        })*
    };
}

stored! {
    crate::model::User => user,
    crate::model::Project => project,
    crate::model::Domain => domain,
    crate::model::Role => role,
    crate::model::Group => group,
    crate::model::Region => region,
    crate::model::Service => service,
    crate::model::Endpoint => endpoint,
    crate::model::AccessRule => access_rule,
    crate::model::AppCred => application_credential,
    crate::model::federation::IdentityProvider => identity_provider,
    crate::model::federation::Mapping => federation_mapping,
}

/// Rows to model types at the store's edge (`.into()` for one row).
pub trait Modeled<T> {
    /// The same rows as model types.
    fn modeled(self) -> T;
}

impl<R, T: From<R>> Modeled<Vec<T>> for Vec<R> {
    fn modeled(self) -> Vec<T> {
        self.into_iter().map(T::from).collect()
    }
}

impl<R, T: From<R>> Modeled<Option<T>> for Option<R> {
    fn modeled(self) -> Option<T> {
        self.map(T::from)
    }
}

/// A row by its (single-column, string) primary key.
pub async fn find<T: Stored>(db: &Db, id: &str) -> DomainResult<Option<T>>
where
    <<T::Entity as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType: From<String>,
{
    Ok(T::Entity::find_by_id(id.to_string())
        .one(&db.conn)
        .await?
        .map(T::from))
}

/// Insert a new row in its own write transaction; a uniqueness violation means `duplicate()`.
pub async fn insert_new<T: Stored>(
    db: &Db,
    new: T,
    duplicate: impl FnOnce() -> DomainError,
) -> DomainResult<T>
where
    T::Row: IntoActiveModel<T::Active>,
{
    let row: T::Row = new.into();
    Ok(insert_row(db, T::Active::from(row), duplicate)
        .await?
        .into())
}

/// [`insert_new`] for a row the store builds itself.
async fn insert_row<A>(
    db: &Db,
    row: A,
    duplicate: impl FnOnce() -> DomainError,
) -> DomainResult<<A::Entity as EntityTrait>::Model>
where
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    let txn = db.write().await?;
    let created = unique(row.reset_all().insert(&txn.txn).await, duplicate)?;
    txn.commit().await?;
    Ok(created)
}

/// Write every column of a changed row back, in its own write transaction.
pub async fn update_row<T: Stored>(db: &Db, changed: T) -> DomainResult<T>
where
    <T::Entity as EntityTrait>::Model: IntoActiveModel<T::Active>,
{
    let txn = db.write().await?;
    let updated = T::Active::from(changed.into())
        .reset_all()
        .update(&txn.txn)
        .await?;
    txn.commit().await?;
    Ok(updated.into())
}

/// Delete a row in its own write transaction.
pub async fn delete_row<T: Stored>(db: &Db, gone: T) -> DomainResult<()> {
    let txn = db.write().await?;
    let row: T::Row = gone.into();
    row.into_active_model().delete(&txn.txn).await?;
    Ok(txn.commit().await?)
}
