//! Notices of changes to what nodes hold in memory (`view_change`): written by the node that made a change,
//! read by the others, which drop their copies (view.rs, `Change`).

use chrono::NaiveDateTime;
use entity::view_change;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::Db;
use crate::error::DomainResult;
use crate::Modeled;

/// Write notices, one row each, in one transaction.
pub async fn record(
    db: &Db,
    notices: &[(&str, Option<&str>)],
    at: NaiveDateTime,
) -> DomainResult<()> {
    let txn = db.write().await?;
    for (kind, id) in notices {
        view_change::ActiveModel {
            kind: Set((*kind).to_string()),
            item_id: Set(id.map(str::to_string)),
            changed_at: Set(at),
            ..Default::default()
        }
        .insert(&txn.txn)
        .await?;
    }
    Ok(txn.commit().await?)
}

/// Up to `limit` notices the cursor has yet to see (above its last id, or in its gaps), oldest first.
pub async fn newer(
    db: &Db,
    cursor: &super::follow::Cursor,
    limit: u64,
) -> DomainResult<Vec<crate::model::ViewChange>> {
    Ok(view_change::Entity::find()
        .filter(super::follow::unseen(view_change::Column::Id, cursor))
        .order_by_asc(view_change::Column::Id)
        .limit(limit)
        .all(&db.conn)
        .await?
        .modeled())
}

/// The newest notice's id (0: none), where a starting node begins to read: what came before is in its database
/// reads already.
pub async fn last_id(db: &Db) -> DomainResult<i64> {
    Ok(view_change::Entity::find()
        .order_by_desc(view_change::Column::Id)
        .one(&db.conn)
        .await?
        .map_or(0, |m| m.id))
}

/// Drop notices older than `cutoff` (every node has long read them); how many went.
pub async fn prune(db: &Db, cutoff: NaiveDateTime) -> DomainResult<u64> {
    let txn = db.write().await?;
    let done = view_change::Entity::delete_many()
        .filter(view_change::Column::ChangedAt.lt(cutoff))
        .exec(&txn.txn)
        .await?;
    txn.commit().await?;
    Ok(done.rows_affected)
}
