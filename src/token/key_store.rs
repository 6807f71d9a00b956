//! Where the key ring lives: the Fernet key repository on disk (one node), or the `token_key` table, each key
//! sealed under the configured key-encryption key, shared by every node of a cluster. Setup and rotation take a
//! cluster-wide lock, so `lintel keys rotate` is safe on any node at any time.

use fernet::Fernet;

use super::keys::{self, KeyError, KeyRing};
use crate::config::{Config, KeyStore};
use crate::store::{self, Db};

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

/// A new key, sealed under the key-encryption key.
fn sealed_new_key(kek: &Fernet) -> String {
    kek.encrypt(Fernet::generate_key().as_bytes())
}

/// Create the key ring (a staged and a primary key) unless it exists; true when it was created.
pub async fn setup(config: &Config, db: &Db) -> Result<bool, KeyError> {
    let Some(kek) = kek(config)? else {
        return keys::setup(&config.token.key_repository);
    };
    store::keys::create_ring(db, &config.database.url, || sealed_new_key(&kek))
        .await
        .map_err(db_err)
}

/// Rotate as Keystone does: the staged key becomes primary, a new staged key appears, and the oldest
/// secondaries beyond `max_active_keys` go. Returns the new primary's number.
pub async fn rotate(config: &Config, db: &Db) -> Result<u64, KeyError> {
    let Some(kek) = kek(config)? else {
        return keys::rotate(&config.token.key_repository, config.token.max_active_keys);
    };
    // Keep the staged key and the newest max_active - 1 numbered keys.
    let keep = config.token.max_active_keys.saturating_sub(1).max(1);
    store::keys::rotate_ring(db, &config.database.url, || sealed_new_key(&kek), keep)
        .await
        .map_err(db_err)?
        .ok_or_else(|| KeyError::Empty("token_key table".into()))
}

/// Numbers of the stored keys, primary first: what a reload compares before reading any key.
pub async fn ids(config: &Config, db: &Db) -> Result<Vec<u64>, KeyError> {
    if kek(config)?.is_none() {
        return keys::ids(&config.token.key_repository);
    }
    let ids = store::keys::numbers(db, true).await.map_err(db_err)?;
    Ok(ids.into_iter().map(|n| n as u64).collect())
}

/// Load the key ring, primary first.
pub async fn load(config: &Config, db: &Db) -> Result<KeyRing, KeyError> {
    let Some(kek) = kek(config)? else {
        return KeyRing::load(&config.token.key_repository);
    };
    let rows = store::keys::sealed(db).await.map_err(db_err)?;
    if rows.is_empty() {
        return Err(KeyError::Empty("token_key table".into()));
    }
    let mut ring = Vec::with_capacity(rows.len());
    for (id, sealed_key) in rows {
        let origin = format!("token_key {id}");
        // A key that does not open under our key-encryption key was sealed under another one: a misconfigured node.
        let key = kek
            .decrypt(&sealed_key)
            .ok()
            .and_then(|k| String::from_utf8(k).ok())
            .ok_or_else(|| {
                KeyError::Database(format!(
                    "{origin} does not decrypt under [token] key_encryption_key (is it the same on every node?)"
                ))
            })?;
        ring.push((id as u64, key, origin));
    }
    KeyRing::from_keys(ring)
}
