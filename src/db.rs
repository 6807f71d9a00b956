//! Database connection, SQLite tuning, migrations under a lock, and serialised writes on SQLite.

use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, Statement, TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::config::Config;

/// The shared database handle.
///
/// SQLite allows one writer at a time and fails a deferred transaction that upgrades to a write while another
/// writer holds the lock ("database is locked") without waiting for the busy timeout. Lintel therefore queues
/// its own write transactions on SQLite behind one async mutex; other databases take writes in parallel.
#[derive(Clone)]
pub struct Db {
    /// The connection pool.
    pub conn: DatabaseConnection,
    write_lock: Option<Arc<Mutex<()>>>,
}

/// A write transaction; on SQLite it also holds the writer queue until commit or drop.
pub struct WriteTxn {
    /// The transaction.
    pub txn: DatabaseTransaction,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl WriteTxn {
    /// Commit the transaction.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl Db {
    /// Connect according to the configuration (creating the SQLite file and its directory when needed).
    pub async fn connect(config: &Config) -> Result<Db, DbErr> {
        Self::connect_url(&config.database_url, config.db_max_pool_size).await
    }

    /// Connect to a URL.
    pub async fn connect_url(url: &str, max_pool: u32) -> Result<Db, DbErr> {
        let sqlite = url.starts_with("sqlite:");
        if sqlite {
            if let Some(dir) = sqlite_path(url).and_then(|p| p.parent().map(|d| d.to_path_buf())) {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| DbErr::Custom(format!("creating {}: {e}", dir.display())))?;
                }
            }
        }
        let mut opts = ConnectOptions::new(url.to_string());
        opts.max_connections(max_pool)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false);
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
        });
        let conn = Database::connect(opts).await?;
        let write_lock = sqlite.then(|| Arc::new(Mutex::new(())));
        Ok(Db { conn, write_lock })
    }

    /// The backend in use.
    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Begin a write transaction (queued behind other writers on SQLite).
    pub async fn write(&self) -> Result<WriteTxn, DbErr> {
        let guard = match &self.write_lock {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        let txn = self.conn.begin().await?;
        Ok(WriteTxn { txn, _guard: guard })
    }

    /// Apply pending migrations while holding a lock, so several nodes may run this at once.
    pub async fn migrate(&self, url: &str) -> Result<(), DbErr> {
        self.locked(url, Lock::DbSync, Migrator::up(&self.conn, None))
            .await
    }

    /// Run `work` while holding a cluster-wide lock: a file lock beside a SQLite database, an advisory lock
    /// on PostgreSQL, a named lock on MariaDB/MySQL (each held on its own connection, as they belong to a session).
    pub async fn locked<T>(
        &self,
        url: &str,
        lock: Lock,
        work: impl std::future::Future<Output = Result<T, DbErr>>,
    ) -> Result<T, DbErr> {
        let (key, name) = match lock {
            Lock::DbSync => (7415826301_i64, "lintel_db_sync"),
            Lock::Keys => (7415826302_i64, "lintel_keys"),
        };
        match self.backend() {
            DbBackend::Sqlite => {
                let _file_lock = match sqlite_path(url) {
                    Some(path) => Some(lock_file(&path, name)?),
                    None => None, // in-memory database: nobody else can see it
                };
                work.await
            }
            DbBackend::Postgres => {
                let session = Database::connect(
                    ConnectOptions::new(url.to_string())
                        .max_connections(1)
                        .sqlx_logging(false)
                        .to_owned(),
                )
                .await?;
                session
                    .execute(Statement::from_string(
                        DbBackend::Postgres,
                        format!("SELECT pg_advisory_lock({key})"),
                    ))
                    .await?;
                let result = work.await;
                // Closing the session releases the lock anyway; the work's outcome is what counts.
                if let Err(e) = session
                    .execute(Statement::from_string(
                        DbBackend::Postgres,
                        format!("SELECT pg_advisory_unlock({key})"),
                    ))
                    .await
                {
                    tracing::warn!(error = %e, "releasing the {name} lock");
                }
                session.close().await.ok();
                result
            }
            DbBackend::MySql => {
                let session = Database::connect(
                    ConnectOptions::new(url.to_string())
                        .max_connections(1)
                        .sqlx_logging(false)
                        .to_owned(),
                )
                .await?;
                let got = session
                    .query_one(Statement::from_string(
                        DbBackend::MySql,
                        format!("SELECT GET_LOCK('{name}', 600) AS l"),
                    ))
                    .await?
                    .and_then(|row| row.try_get::<Option<i64>>("", "l").ok().flatten());
                if got != Some(1) {
                    return Err(DbErr::Custom(format!(
                        "could not take the {name} lock within 600 s"
                    )));
                }
                let result = work.await;
                if let Err(e) = session
                    .execute(Statement::from_string(
                        DbBackend::MySql,
                        format!("SELECT RELEASE_LOCK('{name}')"),
                    ))
                    .await
                {
                    tracing::warn!(error = %e, "releasing the {name} lock");
                }
                session.close().await.ok();
                result
            }
        }
    }

    /// Whether the schema has no pending migrations.
    pub async fn is_migrated(&self) -> Result<bool, DbErr> {
        Ok(Migrator::get_pending_migrations(&self.conn)
            .await?
            .is_empty())
    }
}

/// The cluster-wide locks.
#[derive(Debug, Clone, Copy)]
pub enum Lock {
    /// Schema migrations.
    DbSync,
    /// Token key setup and rotation.
    Keys,
}

/// The file path of a `sqlite://PATH?...` URL, unless it is in-memory.
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// An exclusive lock on `<db>.<name>.lock`, released when the file is dropped.
fn lock_file(db: &std::path::Path, lock: &str) -> Result<std::fs::File, DbErr> {
    let mut name = db.as_os_str().to_owned();
    name.push(format!(".{lock}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)
        .map_err(|e| DbErr::Custom(format!("opening lock file: {e}")))?;
    file.lock()
        .map_err(|e| DbErr::Custom(format!("taking the {lock} lock: {e}")))?;
    Ok(file)
}
