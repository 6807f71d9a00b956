//! Token keys in the `token_key` table, each sealed under the key-encryption key (the sealing is the caller's):
//! row 0 is the staged key, the highest number the primary. Setup and rotation hold the cluster-wide key lock.

use entity::token_key;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::{Db, Lock};
use crate::error::DomainResult;

fn row(id: i64, seal: &impl Fn() -> String) -> token_key::ActiveModel {
    token_key::ActiveModel {
        id: Set(id),
        sealed_key: Set(seal()),
        created_at: Set(crate::clock::Clock::system().now()),
    }
}

/// Store a staged and a primary key unless any key is there; true when they were stored.
pub async fn create_ring(db: &Db, url: &str, seal: impl Fn() -> String) -> DomainResult<bool> {
    let work = async {
        if token_key::Entity::find().one(&db.conn).await?.is_some() {
            return Ok(false);
        }
        token_key::Entity::insert_many([row(0, &seal), row(1, &seal)])
            .exec(&db.conn)
            .await?;
        Ok(true)
    };
    Ok(db.locked(url, Lock::Keys, work).await?)
}

/// Rotate as Keystone does: the staged key becomes primary, a new staged key appears, and the oldest numbered
/// keys beyond `keep` go. The new primary's number, or None when there is no ring.
pub async fn rotate_ring(
    db: &Db,
    url: &str,
    seal: impl Fn() -> String,
    keep: usize,
) -> DomainResult<Option<u64>> {
    let work = async {
        let ids = numbers(db, false).await?;
        if ids.is_empty() {
            return Ok(None);
        }
        let next = ids.iter().max().copied().unwrap_or(0) + 1;
        let txn = db.write().await?;
        if ids.first() == Some(&0) {
            token_key::Entity::update_many()
                .col_expr(token_key::Column::Id, sea_orm::sea_query::Expr::value(next))
                .filter(token_key::Column::Id.eq(0))
                .exec(&txn.txn)
                .await?;
        } else {
            token_key::Entity::insert(row(next, &seal))
                .exec(&txn.txn)
                .await?;
        }
        token_key::Entity::insert(row(0, &seal))
            .exec(&txn.txn)
            .await?;
        let mut numbered: Vec<i64> = ids.into_iter().filter(|n| *n != 0).collect();
        numbered.push(next);
        if numbered.len() > keep {
            let retired = numbered[..numbered.len() - keep].to_vec();
            token_key::Entity::delete_many()
                .filter(token_key::Column::Id.is_in(retired))
                .exec(&txn.txn)
                .await?;
        }
        txn.commit().await?;
        Ok(Some(next as u64))
    };
    Ok(db.locked(url, Lock::Keys, work).await?)
}

/// The stored keys' numbers, ascending or newest first.
pub async fn numbers(db: &Db, newest_first: bool) -> Result<Vec<i64>, sea_orm::DbErr> {
    let order = if newest_first {
        sea_orm::Order::Desc
    } else {
        sea_orm::Order::Asc
    };
    token_key::Entity::find()
        .select_only()
        .column(token_key::Column::Id)
        .order_by(token_key::Column::Id, order)
        .into_tuple()
        .all(&db.conn)
        .await
}

/// Every stored key: its number and its sealed form.
pub async fn sealed(db: &Db) -> DomainResult<Vec<(i64, String)>> {
    Ok(token_key::Entity::find()
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|r| (r.id, r.sealed_key))
        .collect())
}
