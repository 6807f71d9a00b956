//! Where the key ring lives: the Fernet key repository on disk (one node), or the `token_key` table, each key
//! sealed under the configured key-encryption key, shared by every node of a cluster. Setup and rotation take a
//! cluster-wide lock, so `lintel keys rotate` is safe on any node at any time.

use entity::token_key;
use fernet::Fernet;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::keys::{self, KeyError, KeyRing};
use crate::config::{Config, KeyStore};
use crate::db::{Db, Lock};

fn db_err(e: impl std::fmt::Display) -> KeyError {
    KeyError::Database(e.to_string())
}

fn kek(config: &Config) -> Result<Option<Fernet>, KeyError> {
    match &config.token.key_store {
        KeyStore::File => Ok(None),
        KeyStore::Database { kek } => Fernet::new(kek)
            .map(Some)
            .ok_or_else(|| KeyError::Invalid("[token] key_encryption_key".into())),
    }
}

fn new_row(kek: &Fernet, id: u64) -> token_key::ActiveModel {
    token_key::ActiveModel {
        id: Set(id as i64),
        sealed_key: Set(kek.encrypt(Fernet::generate_key().as_bytes())),
        created_at: Set(crate::clock::Clock::system().now()),
    }
}

/// Create the key ring (a staged and a primary key) unless it exists; true when it was created.
pub async fn setup(config: &Config, db: &Db) -> Result<bool, KeyError> {
    let Some(kek) = kek(config)? else {
        return keys::setup(&config.token.key_repository);
    };
    let work = async {
        if token_key::Entity::find().one(&db.conn).await?.is_some() {
            return Ok(false);
        }
        token_key::Entity::insert_many([new_row(&kek, 0), new_row(&kek, 1)])
            .exec(&db.conn)
            .await?;
        Ok(true)
    };
    db.locked(&config.database.url, Lock::Keys, work)
        .await
        .map_err(db_err)
}

/// Rotate as Keystone does: the staged key becomes primary, a new staged key appears, and the oldest
/// secondaries beyond `max_active_keys` go. Returns the new primary's number.
pub async fn rotate(config: &Config, db: &Db) -> Result<u64, KeyError> {
    let Some(kek) = kek(config)? else {
        return keys::rotate(&config.token.key_repository, config.token.max_active_keys);
    };
    let work = async {
        let ids: Vec<i64> = token_key::Entity::find()
            .select_only()
            .column(token_key::Column::Id)
            .order_by_asc(token_key::Column::Id)
            .into_tuple()
            .all(&db.conn)
            .await?;
        if ids.is_empty() {
            return Ok(None);
        }
        let next = ids.iter().max().copied().unwrap_or(0) + 1;
        let txn = db.write().await?;
        if ids.first() == Some(&0) {
            token_key::Entity::update_many()
                .col_expr(token_key::Column::Id, sea_orm::sea_query::Expr::value(next))
                .filter(token_key::Column::Id.eq(0))
                .exec(&*txn)
                .await?;
        } else {
            token_key::Entity::insert(new_row(&kek, next as u64))
                .exec(&*txn)
                .await?;
        }
        token_key::Entity::insert(new_row(&kek, 0))
            .exec(&*txn)
            .await?;
        // Keep the staged key and the newest max_active - 1 numbered keys.
        let mut numbered: Vec<i64> = ids.into_iter().filter(|n| *n != 0).collect();
        numbered.push(next);
        let keep = config.token.max_active_keys.saturating_sub(1).max(1);
        if numbered.len() > keep {
            let retired = numbered[..numbered.len() - keep].to_vec();
            token_key::Entity::delete_many()
                .filter(token_key::Column::Id.is_in(retired))
                .exec(&*txn)
                .await?;
        }
        txn.commit().await?;
        Ok(Some(next as u64))
    };
    db.locked(&config.database.url, Lock::Keys, work)
        .await
        .map_err(db_err)?
        .ok_or_else(|| KeyError::Empty("token_key table".into()))
}

/// Numbers of the stored keys, primary first: what a reload compares before reading any key.
pub async fn ids(config: &Config, db: &Db) -> Result<Vec<u64>, KeyError> {
    if kek(config)?.is_none() {
        return keys::ids(&config.token.key_repository);
    }
    let ids: Vec<i64> = token_key::Entity::find()
        .select_only()
        .column(token_key::Column::Id)
        .order_by_desc(token_key::Column::Id)
        .into_tuple()
        .all(&db.conn)
        .await
        .map_err(db_err)?;
    Ok(ids.into_iter().map(|n| n as u64).collect())
}

/// Load the key ring, primary first.
pub async fn load(config: &Config, db: &Db) -> Result<KeyRing, KeyError> {
    let Some(kek) = kek(config)? else {
        return KeyRing::load(&config.token.key_repository);
    };
    let rows = token_key::Entity::find()
        .all(&db.conn)
        .await
        .map_err(db_err)?;
    if rows.is_empty() {
        return Err(KeyError::Empty("token_key table".into()));
    }
    let mut ring = Vec::with_capacity(rows.len());
    for row in rows {
        let origin = format!("token_key {}", row.id);
        // A key that does not open under our key-encryption key was sealed under another one: a misconfigured node.
        let key = kek
            .decrypt(&row.sealed_key)
            .ok()
            .and_then(|k| String::from_utf8(k).ok())
            .ok_or_else(|| {
                KeyError::Database(format!(
                    "{origin} does not decrypt under [token] key_encryption_key (is it the same on every node?)"
                ))
            })?;
        ring.push((row.id as u64, key, origin));
    }
    KeyRing::from_keys(ring)
}
