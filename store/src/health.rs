//! Outage detection. Once the database stops answering, every query fails at once (the caller answers 503 with
//! `Retry-After`) instead of each one waiting out the pool's acquire timeout; a heartbeat notices both the outage
//! and the recovery, so nothing needs a restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sea_orm::{
    ConnAcquireErr, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend,
    DbErr, ExecResult, QueryResult, Statement,
};

use lintel_model::db_error::is_connection_lost;

/// How often the heartbeat asks the database whether it answers.
const HEARTBEAT: Duration = Duration::from_millis(500);
/// How long one heartbeat (or a readiness ping) may take before it counts as failed.
pub(super) const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// Failed heartbeats in a row that make an outage: one slow ping on a starved machine is not one.
const DOWN_AFTER: u32 = 2;

/// Whether the database is known not to answer.
#[derive(Default)]
pub(super) struct Health {
    down: AtomicBool,
    /// Heartbeats failed in a row.
    failed: std::sync::atomic::AtomicU32,
    closed: AtomicBool,
    /// Whether a heartbeat watches the database (PostgreSQL, MariaDB).
    heartbeat: bool,
}

impl Health {
    /// Record an outage (logged once, when it starts).
    pub(super) fn mark_down(&self, why: &str) {
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                cause = why,
                "the database does not answer; requests that need it get 503 until it does"
            );
        }
    }

    /// Record a failed heartbeat: an outage once [`DOWN_AFTER`] failed in a row.
    fn heartbeat_failed(&self, why: &str) {
        if self.failed.fetch_add(1, Ordering::Relaxed) + 1 >= DOWN_AFTER {
            self.mark_down(why);
        }
    }

    /// Record that the database answers again.
    fn mark_up(&self) {
        self.failed.store(0, Ordering::Relaxed);
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("the database answers again");
        }
    }

    /// Whether the database is known not to answer.
    pub(super) fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Stop the heartbeat: the pool has been closed on purpose.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

/// The error a query gets while the database is known to be down: an outage, answered without waiting.
fn known_outage() -> DbErr {
    DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)
}

/// The pool behind the outage breaker: the connection every store query runs on.
#[derive(Clone)]
pub struct Guarded {
    /// The pool itself (migrations and locks, which run before serving, use it directly).
    pub(super) raw: DatabaseConnection,
    pub(super) health: Arc<Health>,
}

impl Guarded {
    /// Put the breaker in front of a pool and start its heartbeat. On PostgreSQL and MariaDB the heartbeat has a
    /// connection of its own, so a busy pool is never mistaken for an outage; on SQLite (no server to lose) it
    /// only watches for recovery once a query has failed.
    pub(super) async fn new(raw: DatabaseConnection, url: &str) -> Result<Guarded, DbErr> {
        let beat = match raw.get_database_backend() {
            DbBackend::Sqlite => None,
            _ => Some(heartbeat_connection(url).await?),
        };
        let health = Arc::new(Health {
            heartbeat: beat.is_some(),
            ..Health::default()
        });
        tokio::spawn(watch(Arc::downgrade(&health), raw.clone(), beat));
        Ok(Guarded { raw, health })
    }

    /// Fail at once while the database is known to be down.
    pub(super) fn check(&self) -> Result<(), DbErr> {
        if self.health.is_down() {
            Err(known_outage())
        } else {
            Ok(())
        }
    }

    /// Note an outage in a query's outcome: a lost connection (a pool that was merely busy is no outage).
    pub(super) fn observe<T>(&self, outcome: Result<T, DbErr>) -> Result<T, DbErr> {
        if let Err(e) = &outcome {
            if is_connection_lost(e) {
                self.health.mark_down(&e.to_string());
            }
        }
        outcome
    }

    /// Whether the database answers: the heartbeat's last word on PostgreSQL and MariaDB (at most half a second
    /// old, and never held up by a busy pool), a ping within [`PING_TIMEOUT`] on SQLite.
    pub(super) async fn ping(&self) -> bool {
        if self.check().is_err() {
            return false;
        }
        if self.health.heartbeat {
            return true;
        }
        match tokio::time::timeout(PING_TIMEOUT, self.raw.ping()).await {
            Ok(outcome) => self.observe(outcome).is_ok(),
            Err(_) => false,
        }
    }
}

/// A lazily opened one-connection pool for the heartbeat, failing within [`PING_TIMEOUT`].
async fn heartbeat_connection(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_string());
    opts.max_connections(1)
        .min_connections(0)
        .connect_timeout(PING_TIMEOUT)
        .acquire_timeout(PING_TIMEOUT)
        .connect_lazy(true)
        .sqlx_logging(false);
    Database::connect(opts).await
}

/// Run the heartbeat until the pool is closed or dropped.
async fn watch(health: Weak<Health>, pool: DatabaseConnection, beat: Option<DatabaseConnection>) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let Some(health) = health.upgrade() else {
            break;
        };
        if health.closed.load(Ordering::Relaxed) {
            break;
        }
        let probe = match &beat {
            Some(conn) => conn,
            None if health.is_down() => &pool,
            None => continue,
        };
        match tokio::time::timeout(PING_TIMEOUT, probe.ping()).await {
            Ok(Ok(())) => health.mark_up(),
            Ok(Err(e)) => health.heartbeat_failed(&e.to_string()),
            Err(_) => health.heartbeat_failed("no answer to a ping within a second"),
        }
    }
    if let Some(conn) = beat {
        conn.close().await.ok();
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Guarded {
    fn get_database_backend(&self) -> DbBackend {
        self.raw.get_database_backend()
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.check()?;
        self.observe(self.raw.execute(stmt).await)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.check()?;
        self.observe(self.raw.execute_unprepared(sql).await)
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.check()?;
        self.observe(self.raw.query_one(stmt).await)
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.check()?;
        self.observe(self.raw.query_all(stmt).await)
    }

    fn support_returning(&self) -> bool {
        self.raw.support_returning()
    }
}
