//! Bulk writes for imports: which keys a table already holds, and inserts in batches (one transaction each), so
//! that a hundred thousand rows take seconds, not one round trip each.

use std::collections::HashSet;

use sea_orm::{ActiveModelBehavior, ActiveModelTrait, EntityTrait, IntoActiveModel};

use super::Db;
use crate::error::DomainResult;

/// Rows per INSERT (well under every backend's limit on bound parameters).
const BATCH: usize = 500;

/// Every row `E`'s table holds (what an import compares with).
pub async fn all_rows<E: EntityTrait>(db: &Db) -> DomainResult<Vec<E::Model>> {
    Ok(E::find().all(super::on(db)).await?)
}

/// The keys of the rows `E`'s table holds, as `key` makes them.
pub async fn keys_of<E: EntityTrait>(
    db: &Db,
    key: impl Fn(&E::Model) -> String,
) -> DomainResult<HashSet<String>> {
    Ok(all_rows::<E>(db).await?.iter().map(key).collect())
}

/// Insert rows in batches, each in a write transaction of its own; `done` hears how many went in so far.
pub async fn insert_batches<A>(
    db: &Db,
    rows: Vec<A>,
    done: &mut dyn FnMut(usize),
) -> DomainResult<()>
where
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    let mut rows = rows.into_iter().peekable();
    let mut n = 0;
    while rows.peek().is_some() {
        let batch: Vec<A> = rows.by_ref().take(BATCH).collect();
        let len = batch.len();
        let txn = db.write().await?;
        A::Entity::insert_many(batch)
            .exec_without_returning(&txn.txn)
            .await?;
        txn.commit().await?;
        n += len;
        done(n);
    }
    Ok(())
}
