//! The cluster-wide lock on MariaDB/MySQL: a lease row, taken by a compare-and-set and renewed while its work runs.
//!
//! A named lock (`GET_LOCK`) belongs to one server: on a Galera cluster two Lintel nodes whose sessions reach
//! different database nodes (a failover in HAProxy between the two, or nodes configured on different servers) would
//! both get "the" lock. A row does replicate, and two nodes that set it at once write the same row: Galera's
//! certification lets one commit and fails the other, as InnoDB's row lock does on a single server. Time is the
//! database server's (`UNIX_TIMESTAMP()`), so the Lintel nodes' clocks do not matter (a Galera cluster's own nodes
//! must agree, as NTP keeps them, within a fraction of [`TTL`]). A holder that dies leaves a lease that lapses
//! after [`TTL`]. A holder that cannot renew its lease before it would lapse stops its work (the work's transaction
//! is dropped, so rolled back) rather than go on without it, unless stopping would do harm: schema migrations
//! (MariaDB's DDL commits as it goes) run to their end, with an error in the log. The lease statements use a
//! connection of their own, so a busy pool cannot starve the renewal.

use std::time::Duration;

use rand::Rng;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, Value};

/// How long a lease lasts without renewal.
const TTL: Duration = Duration::from_secs(30);

/// How often the holder renews it (well within the TTL, so that a slow round trip does not lose it).
const RENEW: Duration = Duration::from_secs(5);

/// How long a node waits for a lease another holds before giving up.
const WAIT: Duration = Duration::from_secs(600);

/// The table, made before the first migration (the schema lock is itself a lease); one row per lock name.
const TABLE: &str = "CREATE TABLE IF NOT EXISTS lintel_lock (\
    name VARCHAR(64) NOT NULL PRIMARY KEY, \
    holder VARCHAR(64) NOT NULL, \
    expires_at BIGINT NOT NULL)";

/// The lease table's name, which the "is this Lintel's database" check leaves out.
pub const LEASE_TABLE: &str = "lintel_lock";

fn stmt(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::MySql, sql, values)
}

/// Run `work` holding the lease `name` (statements on `conn`, a connection of the lease's own). `stoppable`: whether
/// the work is stopped when the lease cannot be kept.
pub async fn locked<T>(
    conn: &DatabaseConnection,
    name: &str,
    stoppable: bool,
    work: impl std::future::Future<Output = Result<T, DbErr>>,
) -> Result<T, DbErr> {
    let holder = crate::rules::new_id();
    take(conn, name, &holder).await?;
    let outcome = {
        tokio::pin!(work);
        let mut renewal = tokio::time::interval(RENEW);
        // The first tick is at once: the lease is fresh.
        renewal.tick().await;
        // Until when the lease surely holds: renewed (or taken) then, with a margin for the round trip.
        let mut holds_until = tokio::time::Instant::now() + TTL - RENEW;
        let mut warned = false;
        loop {
            tokio::select! {
                out = &mut work => break out,
                _ = renewal.tick() => {
                    let asked = tokio::time::Instant::now();
                    if matches!(tokio::time::timeout(RENEW, renew(conn, name, &holder)).await, Ok(true)) {
                        holds_until = asked + TTL - RENEW;
                    } else if tokio::time::Instant::now() >= holds_until {
                        if stoppable {
                            break Err(DbErr::Custom(format!(
                                "lost the {name} lock (not renewed in time); the work was stopped and not committed"
                            )));
                        }
                        if !warned {
                            tracing::error!("the {name} lock could not be renewed; its work goes on to its end");
                            warned = true;
                        }
                    }
                }
            }
        }
    };
    let released = conn
        .execute(stmt(
            "UPDATE lintel_lock SET expires_at = 0 WHERE name = ? AND holder = ?",
            vec![name.into(), holder.as_str().into()],
        ))
        .await;
    if let Err(e) = released {
        tracing::warn!(error = %e, "releasing the {name} lock (it lapses by itself)");
    }
    outcome
}

/// Wait until the lease is ours (or [`WAIT`] has passed).
async fn take(conn: &DatabaseConnection, name: &str, holder: &str) -> Result<(), DbErr> {
    conn.execute_unprepared(TABLE).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        // A collision with another taker (a deadlock, a certification failure; also two nodes making the row at
        // once) is a lost race, not an error.
        match claim(conn, name, holder).await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) if lintel_model::db_error::is_contention(&e) => {}
            Err(e) => return Err(e),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(DbErr::Custom(format!(
                "could not take the {name} lock within {} s",
                WAIT.as_secs()
            )));
        }
        let pause = rand::thread_rng().gen_range(100..=400);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// One attempt: make the lease's row if it is missing, then take the lease if it has lapsed.
async fn claim(conn: &DatabaseConnection, name: &str, holder: &str) -> Result<bool, DbErr> {
    conn.execute(stmt(
        "INSERT IGNORE INTO lintel_lock (name, holder, expires_at) VALUES (?, '', 0)",
        vec![name.into()],
    ))
    .await?;
    let taken = conn
        .execute(stmt(
            "UPDATE lintel_lock SET holder = ?, expires_at = UNIX_TIMESTAMP() + ? \
             WHERE name = ? AND expires_at < UNIX_TIMESTAMP()",
            vec![holder.into(), (TTL.as_secs() as i64).into(), name.into()],
        ))
        .await?;
    Ok(taken.rows_affected() == 1)
}

/// Extend our lease; false when it is no longer ours (it lapsed and another took it) or cannot be written.
async fn renew(conn: &DatabaseConnection, name: &str, holder: &str) -> bool {
    let renewed = conn
        .execute(stmt(
            "UPDATE lintel_lock SET expires_at = UNIX_TIMESTAMP() + ? \
             WHERE name = ? AND holder = ? AND expires_at >= UNIX_TIMESTAMP()",
            vec![(TTL.as_secs() as i64).into(), name.into(), holder.into()],
        ))
        .await;
    // MariaDB counts only changed rows: a renewal within the same second changes nothing but still holds.
    match renewed {
        Ok(r) if r.rows_affected() == 1 => true,
        Ok(_) => still_ours(conn, name, holder).await,
        Err(e) => {
            tracing::warn!(error = %e, "renewing the {name} lock");
            false
        }
    }
}

async fn still_ours(conn: &DatabaseConnection, name: &str, holder: &str) -> bool {
    conn.query_one(stmt(
        "SELECT 1 AS ours FROM lintel_lock WHERE name = ? AND holder = ? AND expires_at >= UNIX_TIMESTAMP()",
        vec![name.into(), holder.into()],
    ))
    .await
    .is_ok_and(|row| row.is_some())
}
