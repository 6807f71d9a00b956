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

use super::health::Guarded;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server does not answer or refuses us, or the SQLite file cannot be there: one line saying why.
    #[error("{0}")]
    Unusable(String),
    /// Any other database error.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The shared database handle.
///
/// SQLite allows one writer at a time and fails a deferred transaction that upgrades to a write while another
/// writer holds the lock ("database is locked") without waiting for the busy timeout. Lintel therefore takes the
/// write lock as a write transaction's first step on SQLite, where the busy timeout applies, and queues its own
/// write transactions behind one async mutex so that they do not poll for it; other databases take writes in
/// parallel.
#[derive(Clone)]
pub struct Db {
    /// The connection pool behind the outage breaker (the store's alone: everything else asks the store).
    pub(super) conn: Guarded,
    write_lock: Option<Arc<Mutex<()>>>,
}

/// A write transaction; on SQLite it also holds the writer queue until commit or drop.
pub struct WriteTxn {
    /// The transaction.
    pub(super) txn: DatabaseTransaction,
    _guard: Option<OwnedMutexGuard<()>>,
}

tokio::task_local! {
    /// Set by the request layer around one run of a route: becomes true when a write transaction commits during
    /// it. A route that collided after committing something must not be run again (its first write would be made
    /// twice, or refused the second time).
    pub static COMMITTED: std::sync::Arc<std::sync::atomic::AtomicBool>;
}

impl WriteTxn {
    /// Commit the transaction.
    pub async fn commit(self) -> Result<(), DbErr> {
        let done = self.txn.commit().await;
        if done.is_ok() {
            // Outside a request (tools, background tasks) nobody is asking.
            let _ = COMMITTED.try_with(|c| c.store(true, std::sync::atomic::Ordering::Relaxed));
        }
        done
    }
}

/// `[database]`: where the database is and how the pool behaves.
#[derive(Debug, Clone)]
pub struct DatabaseSection {
    /// Database URL as sea-orm takes it.
    pub url: String,
    /// Whether the URL is the built-in default (SQLite in data_dir).
    pub is_default: bool,
    /// Maximum pool size.
    pub max_pool_size: u32,
    /// How long a request waits for a pooled connection.
    pub pool_timeout: Duration,
    /// How long a pooled connection lives.
    pub connection_recycle_time: Duration,
}

impl Db {
    /// Connect according to the configuration. The default SQLite database's directory (`data_dir`) is created;
    /// a configured SQLite file must be in a directory that exists, so a typo in a path is an error, not a new
    /// empty database.
    pub async fn connect(
        database: &DatabaseSection,
        data_dir: &std::path::Path,
    ) -> Result<Db, ConnectError> {
        if database.is_default {
            std::fs::create_dir_all(data_dir).map_err(|e| {
                ConnectError::Unusable(format!("creating {}: {e}", data_dir.display()))
            })?;
        }
        Self::connect_url(&database.url, database).await
    }

    /// Connect to a URL: fail within seconds, in one line naming the server and the cause, when it cannot answer.
    pub async fn connect_url(url: &str, pool: &DatabaseSection) -> Result<Db, ConnectError> {
        let sqlite = url.starts_with("sqlite:");
        if sqlite {
            if let Some(path) = sqlite_path(url) {
                prepare_sqlite_file(&path)?;
            }
        } else {
            probe(url).await?;
        }
        let mut opts = ConnectOptions::new(url.to_string());
        // A connection that cannot be had within pool_timeout is an outage to the caller (503, retry), at once.
        opts.max_connections(pool.max_pool_size)
            .min_connections(1)
            .connect_timeout(pool.pool_timeout.max(Duration::from_secs(1)))
            .acquire_timeout(pool.pool_timeout)
            .max_lifetime(pool.connection_recycle_time)
            .sqlx_logging(false);
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
        });
        let conn = Guarded::new(Database::connect(opts).await?, url).await?;
        let write_lock = sqlite.then(|| Arc::new(Mutex::new(())));
        Ok(Db { conn, write_lock })
    }

    /// Whether the database answers a ping within a second (readiness); false at once during a known outage.
    pub async fn ping(&self) -> bool {
        self.conn.ping().await
    }

    /// Close the pool (tools and tests that are done with it).
    pub async fn close(self) {
        self.conn.health.close();
        self.conn.raw.close().await.ok();
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
        self.conn.check()?;
        let txn = self.conn.observe(self.conn.raw.begin().await)?;
        if guard.is_some() {
            // The mutex alone is not enough: a transaction dropped unfinished (a refused insert) is rolled back a
            // moment after its guard goes, and another process (lintel-manage) may be writing. A statement that
            // writes nothing still takes the lock, and waits for it, before this transaction has read anything.
            self.conn
                .observe(txn.execute_unprepared(TAKE_WRITE_LOCK).await)?;
        }
        Ok(WriteTxn { txn, _guard: guard })
    }

    /// Apply pending migrations while holding a lock, so several nodes may run this at once.
    /// A database that holds tables but not Lintel's migration history (a Keystone database, most likely) is
    /// refused before anything is written. Returns the migrations it applied.
    pub async fn migrate(&self, url: &str) -> Result<Vec<String>, ConnectError> {
        // Checked before the lock too: on MariaDB taking it makes its table, which a foreign database must not get.
        self.foreign_tables()
            .await?
            .map_err(ConnectError::Unusable)?;
        let outcome = self
            .locked(url, Lock::DbSync, async {
                if let Err(refusal) = self.foreign_tables().await? {
                    return Ok(Err(refusal));
                }
                let pending: Vec<String> = Migrator::get_pending_migrations(&self.conn.raw)
                    .await?
                    .iter()
                    .map(|m| m.name().to_string())
                    .collect();
                Migrator::up(&self.conn.raw, None).await?;
                if !pending.is_empty() {
                    tracing::info!(migrations = ?pending, "database schema upgraded");
                }
                Ok(Ok(pending))
            })
            .await?;
        outcome.map_err(ConnectError::Unusable)
    }

    /// A refusal when the database holds tables but not Lintel's migration history (a Keystone database, most
    /// likely).
    async fn foreign_tables(&self) -> Result<Result<(), String>, DbErr> {
        let tables: Vec<String> = self
            .table_names()
            .await?
            .into_iter()
            .filter(|t| t != super::lease::LEASE_TABLE)
            .collect();
        if tables.is_empty() || tables.iter().any(|t| t == "seaql_migrations") {
            return Ok(Ok(()));
        }
        let mut shown: Vec<&str> = tables.iter().map(String::as_str).take(5).collect();
        if tables.len() > shown.len() {
            shown.push("...");
        }
        Ok(Err(format!(
            "the database already holds {} tables that Lintel did not create ({}); nothing was changed. \
             Point [database] connection at an empty database (to move from Keystone, import its data instead)",
            tables.len(),
            shown.join(", ")
        )))
    }

    /// The tables of the connected database (the current schema on PostgreSQL).
    async fn table_names(&self) -> Result<Vec<String>, DbErr> {
        let backend = self.backend();
        let sql = match backend {
            DbBackend::Sqlite => {
                "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            }
            DbBackend::Postgres => {
                "SELECT table_name::text AS t FROM information_schema.tables \
                 WHERE table_schema = current_schema() ORDER BY table_name"
            }
            DbBackend::MySql => {
                "SELECT CAST(table_name AS CHAR) AS t FROM information_schema.tables \
                 WHERE table_schema = DATABASE() ORDER BY table_name"
            }
        };
        let rows = self
            .conn
            .query_all(Statement::from_string(backend, sql))
            .await?;
        rows.iter().map(|r| r.try_get::<String>("", "t")).collect()
    }

    /// Run `work` while holding a cluster-wide lock: a file lock beside a SQLite database, an advisory lock
    /// on PostgreSQL (held on a connection of its own, as it belongs to a session), a lease row on MariaDB/MySQL
    /// (a named lock would hold on one server of a Galera cluster only: see `lease`).
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
                    // Waiting for the lock blocks its thread (another node or `lintel-manage` may hold it for a
                    // while): on the blocking pool, not on a runtime thread that serves requests.
                    Some(path) => Some(
                        tokio::task::spawn_blocking(move || lock_file(&path, name))
                            .await
                            .map_err(|e| DbErr::Custom(format!("taking the {name} lock: {e}")))??,
                    ),
                    None => None, // in-memory database: nobody else can see it
                };
                work.await
            }
            DbBackend::Postgres => {
                let session = session(url).await?;
                session
                    .execute(Statement::from_string(
                        DbBackend::Postgres,
                        format!("SELECT pg_advisory_lock({key})"),
                    ))
                    .await?;
                let result = work.await;
                release(session, format!("SELECT pg_advisory_unlock({key})"), name).await;
                result
            }
            DbBackend::MySql => {
                let session = session(url).await?;
                // A migration half done is worse than one finished without the lock: it is not stopped.
                let stoppable = !matches!(lock, Lock::DbSync);
                let result = super::lease::locked(&session, name, stoppable, work).await;
                session.close().await.ok();
                result
            }
        }
    }

    /// Whether the schema has no pending migrations.
    pub async fn is_migrated(&self) -> Result<bool, DbErr> {
        Ok(Migrator::get_pending_migrations(&self.conn.raw)
            .await?
            .is_empty())
    }
}

/// A connection of its own, for a lock that belongs to a session.
async fn session(url: &str) -> Result<DatabaseConnection, DbErr> {
    Database::connect(
        ConnectOptions::new(url.to_string())
            .max_connections(1)
            .sqlx_logging(false)
            .to_owned(),
    )
    .await
}

/// Release a session's lock and close it (closing releases the lock anyway: the work's outcome is what counts).
async fn release(session: DatabaseConnection, sql: String, name: &str) {
    let backend = session.get_database_backend();
    if let Err(e) = session.execute(Statement::from_string(backend, sql)).await {
        tracing::warn!(error = %e, "releasing the {name} lock");
    }
    session.close().await.ok();
}

/// A statement that writes nothing but takes SQLite's write lock (what `BEGIN IMMEDIATE` would, which sea-orm's
/// transactions cannot ask for).
const TAKE_WRITE_LOCK: &str = "UPDATE seaql_migrations SET version = version WHERE 0";

/// How long the first connection to a database server may take before start-up gives up.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Open one connection to a PostgreSQL or MariaDB/MySQL server, so that an unreachable server fails start-up at
/// once with its address and the cause (the pool alone would retry for its whole acquire timeout and then say
/// only "pool timed out").
async fn probe(url: &str) -> Result<(), ConnectError> {
    use sea_orm::sqlx::Connection;
    let parsed = url::Url::parse(url)
        .map_err(|e| ConnectError::Unusable(format!("bad database URL: {e}")))?;
    let (kind, default_port) = match parsed.scheme() {
        "postgres" | "postgresql" => ("PostgreSQL", 5432),
        _ => ("MariaDB/MySQL", 3306),
    };
    let place = format!(
        "{kind} at {}:{}",
        parsed.host_str().unwrap_or("localhost"),
        parsed.port().unwrap_or(default_port)
    );
    let attempt = async {
        if kind == "PostgreSQL" {
            let c = sea_orm::sqlx::PgConnection::connect(url).await?;
            c.close().await
        } else {
            let c = sea_orm::sqlx::MySqlConnection::connect(url).await?;
            c.close().await
        }
    };
    match tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ConnectError::Unusable(format!(
            "cannot connect to {place}: {}",
            describe(&e)
        ))),
        Err(_) => Err(ConnectError::Unusable(format!(
            "cannot connect to {place}: no answer within {} s",
            PROBE_TIMEOUT.as_secs()
        ))),
    }
}

/// One phrase for why a connection failed (the server's own message for refusals it explains).
fn describe(e: &sea_orm::sqlx::Error) -> String {
    use std::io::ErrorKind;
    match e {
        sea_orm::sqlx::Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused => "connection refused".into(),
            ErrorKind::TimedOut => "connection timed out".into(),
            _ if io.to_string().contains("failed to lookup address") => {
                format!("unknown host ({io})")
            }
            _ => io.to_string(),
        },
        sea_orm::sqlx::Error::Database(db) => db.message().to_string(),
        sea_orm::sqlx::Error::Tls(t) => format!("TLS: {t}"),
        other => other.to_string(),
    }
}

/// Check that a SQLite file's directory exists, and create the file readable by its owner only (SQLite gives
/// its -wal and -shm files the database file's mode).
fn prepare_sqlite_file(path: &std::path::Path) -> Result<(), ConnectError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if !dir.is_dir() {
        return Err(ConnectError::Unusable(format!(
            "the SQLite database {} is in a directory that does not exist ({}); create it first, or fix [database] connection",
            path.display(),
            dir.display()
        )));
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(ConnectError::Unusable(format!(
            "creating {}: {e}",
            path.display()
        ))),
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

/// Whether the configured database can be used, without creating or changing anything (`check-config`): a
/// server database answers the login within the probe's 5 s; a configured SQLite file's directory exists. What
/// was checked, or why it cannot be used.
pub async fn check_reachable(
    database: &DatabaseSection,
    data_dir: &std::path::Path,
) -> Result<String, ConnectError> {
    let url = &database.url;
    if !url.starts_with("sqlite:") {
        probe(url).await?;
        let parsed = url::Url::parse(url).map_err(|e| ConnectError::Unusable(e.to_string()))?;
        return Ok(format!(
            "database {} on {} answers",
            parsed.path().trim_start_matches('/'),
            parsed.host_str().unwrap_or("localhost")
        ));
    }
    if database.is_default {
        return Ok(format!(
            "SQLite in {} (made at the first start)",
            data_dir.display()
        ));
    }
    let Some(path) = sqlite_path(url) else {
        return Ok("an in-memory SQLite database".into());
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(ConnectError::Unusable(format!(
            "the SQLite database {} is in a directory that does not exist ({})",
            path.display(),
            dir.display()
        )));
    }
    Ok(format!("SQLite file {}", path.display()))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// While another process holds a SQLite database's lock, waiting for it leaves the runtime free to serve: on a
    /// single-threaded runtime, a blocking wait would stall every other task until the holder let go.
    #[tokio::test(flavor = "current_thread")]
    async fn waiting_for_a_sqlite_lock_leaves_the_runtime_free() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().display();
        let url = format!("sqlite://{path}/db.sqlite?mode=rwc");
        let database = DatabaseSection {
            url: url.clone(),
            is_default: false,
            max_pool_size: 4,
            pool_timeout: Duration::from_secs(5),
            connection_recycle_time: Duration::from_secs(3600),
        };
        let db = Db::connect(&database, dir.path()).await.unwrap();

        let held = lock_file(&dir.path().join("db.sqlite"), "lintel_keys").unwrap();
        // Only a safety net, so that a regression fails instead of hanging: the holder lets go after a while.
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let _ = released.recv_timeout(std::time::Duration::from_secs(10));
            drop(held);
        });
        let waiting = tokio::spawn(async move {
            db.locked(&url, Lock::Keys, async { Ok::<_, DbErr>("done") })
                .await
        });
        // The waiting task has started and is waiting; this one still runs.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(
            !waiting.is_finished(),
            "the lock was taken while held elsewhere"
        );

        release.send(()).unwrap();
        assert_eq!(waiting.await.unwrap().unwrap(), "done");
        holder.join().unwrap();
    }
}
