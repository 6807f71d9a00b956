//! Rows written straight into the database: a million argon2 hashes through the API would take hours, so every
//! seeded credential shares one precomputed hash of one secret.

use chrono::Utc;
use entity::{
    application_credential as cred, application_credential_role as cred_role, revocation_event,
};
use sea_orm::{ActiveValue::NotSet, DatabaseConnection, EntityTrait, Set, TransactionTrait};

/// Rows per INSERT: under SQLite's 32,766-variable limit and MariaDB's packet size.
const BATCH: usize = 1000;

/// Who the seeded credentials belong to.
pub struct Owner {
    /// User id.
    pub user_id: String,
    /// Project id.
    pub project_id: String,
    /// Role each credential delegates.
    pub role_id: String,
}

/// Open the server's database from its configuration file: a connection of the benchmark's own, since seeding
/// writes rows in bulk where the service would write them one request at a time.
pub async fn connect(config: &std::path::Path) -> anyhow::Result<DatabaseConnection> {
    let config = lintel::config::Config::from_file(config)?;
    Ok(sea_orm::Database::connect(config.database.url.as_str()).await?)
}

/// Insert credentials `prefix-<from..to>` (ids are 32 hex digits, as the API makes them) sharing `hash`.
pub async fn credentials(
    db: &DatabaseConnection,
    owner: &Owner,
    hash: &str,
    tag: u32,
    from: usize,
    to: usize,
) -> anyhow::Result<()> {
    let now = Utc::now().naive_utc();
    let mut start = from;
    while start < to {
        let end = (start + BATCH * 10).min(to);
        let txn = db.begin().await?;
        for chunk_start in (start..end).step_by(BATCH) {
            let chunk = chunk_start..(chunk_start + BATCH).min(end);
            let creds = chunk.clone().map(|i| cred::ActiveModel {
                id: Set(seeded_id(tag, i)),
                name: Set(format!("seeded-{tag}-{i}")),
                user_id: Set(owner.user_id.clone()),
                project_id: Set(owner.project_id.clone()),
                description: Set(None),
                secret_hash: Set(hash.to_string()),
                unrestricted: Set(Some(false)),
                expires_at: Set(None),
                created_at: Set(now),
                ..Default::default()
            });
            cred::Entity::insert_many(creds).exec(&txn).await?;
            let roles = chunk.map(|i| cred_role::ActiveModel {
                application_credential_id: Set(seeded_id(tag, i)),
                role_id: Set(owner.role_id.clone()),
            });
            cred_role::Entity::insert_many(roles).exec(&txn).await?;
        }
        txn.commit().await?;
        start = end;
    }
    Ok(())
}

/// The id of seeded credential `i` of set `tag`.
pub fn seeded_id(tag: u32, i: usize) -> String {
    format!("{tag:08x}{i:024x}")
}

/// Insert `count` revocation events that match no live token (random audit ids).
pub async fn revocations(db: &DatabaseConnection, count: usize) -> anyhow::Result<()> {
    let now = Utc::now().naive_utc();
    let mut done = 0;
    while done < count {
        let n = BATCH.min(count - done);
        let rows = (0..n).map(|_| revocation_event::ActiveModel {
            id: NotSet,
            user_id: Set(None),
            project_id: Set(None),
            domain_id: Set(None),
            audit_id: Set(Some(lintel::token::codec::new_audit_id())),
            app_cred_id: Set(None),
            role_id: Set(None),
            issued_before: Set(now),
            revoked_at: Set(now),
        });
        revocation_event::Entity::insert_many(rows).exec(db).await?;
        done += n;
    }
    Ok(())
}
