//! The `node` table: each running node's heartbeat (src/cluster.rs says what it is for).

use chrono::NaiveDateTime;
use entity::node;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::Db;
use crate::error::DomainResult;

/// A node starting: its row, first beat included. (An insert alone: an update of a missing row and an insert, two
/// nodes starting at once, deadlock on MariaDB's gap locks.)
pub async fn register(db: &Db, id: &str, at: NaiveDateTime) -> DomainResult<()> {
    let txn = db.write().await?;
    first_beat(&txn, id, at).await?;
    Ok(txn.commit().await?)
}

async fn first_beat(txn: &super::WriteTxn, id: &str, at: NaiveDateTime) -> DomainResult<()> {
    node::ActiveModel {
        id: Set(id.to_string()),
        seq: Set(1),
        beat: Set(at),
    }
    .insert(&txn.txn)
    .await?;
    Ok(())
}

/// Beat: the node's row gets `beat = at`, and one more `seq` when its last read succeeded (`advance`); the row is
/// made again if it was pruned while the node could not beat.
pub async fn beat(db: &Db, id: &str, at: NaiveDateTime, advance: bool) -> DomainResult<()> {
    let txn = db.write().await?;
    let done = node::Entity::update_many()
        .col_expr(
            node::Column::Seq,
            Expr::col(node::Column::Seq).add(i64::from(advance)),
        )
        .col_expr(node::Column::Beat, Expr::value(at))
        .filter(node::Column::Id.eq(id))
        .exec(&txn.txn)
        .await?;
    if done.rows_affected == 0 {
        first_beat(&txn, id, at).await?;
    }
    Ok(txn.commit().await?)
}

/// Every node, as its row shows it.
pub async fn all(db: &Db) -> DomainResult<Vec<crate::model::Peer>> {
    let rows = node::Entity::find().all(&db.conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Drop a node's row (it is stopping: nobody need wait for it).
pub async fn remove(db: &Db, id: &str) -> DomainResult<()> {
    let txn = db.write().await?;
    node::Entity::delete_by_id(id.to_string())
        .exec(&txn.txn)
        .await?;
    Ok(txn.commit().await?)
}

/// Drop the rows of nodes that have not beaten since `cutoff`.
pub async fn prune(db: &Db, cutoff: NaiveDateTime) -> DomainResult<u64> {
    let txn = db.write().await?;
    let done = node::Entity::delete_many()
        .filter(node::Column::Beat.lt(cutoff))
        .exec(&txn.txn)
        .await?;
    txn.commit().await?;
    Ok(done.rows_affected)
}
