//! What a database error means to the domain: an outage (retry later), contention (retry now), or a fault. Here
//! (behind the `db` feature, which only the store enables) because the conversion must live beside
//! [`DomainError`] for the store's `?` to use it.

use std::sync::OnceLock;

use sea_orm::{DbErr, RuntimeErr};

use crate::error::DomainError;

/// Called for every database error converted (the service counts them in its metrics); set once at start.
pub static ON_ERROR: OnceLock<fn()> = OnceLock::new();

/// Whether a database error means the database could not be reached (rather than that it refused a statement).
pub fn is_outage(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    let sqlx = match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => s,
        _ => return false,
    };
    match sqlx {
        Sqlx::Io(_)
        | Sqlx::PoolTimedOut
        | Sqlx::PoolClosed
        | Sqlx::WorkerCrashed
        | Sqlx::Tls(_) => true,
        // SQLSTATE class 08 is a connection exception: among them a Galera node that is not (yet, or no more)
        // part of the primary component answers 1047 (08S01) "WSREP has not yet prepared node for application
        // use": the database is not there for now, as when it cannot be reached.
        Sqlx::Database(d) => {
            d.code().is_some_and(|c| c.starts_with("08")) || galera_without_quorum(d.message())
        }
        _ => false,
    }
}

/// Whether a MariaDB error says its Galera node is not in the primary component (for instance 1180 at commit,
/// "Error while appending streaming replication fragment (provider status: Not connected to Primary Component)",
/// while the cluster re-forms after a node died): nothing was written, and the database is not there for writes
/// until it has re-formed, an outage like 1047's, not a fault. Its SQLSTATE is the catch-all HY000, so the message
/// says it.
fn galera_without_quorum(message: &str) -> bool {
    message.contains("Not connected to Primary Component")
}

/// Whether a database error says the connection to the database was lost (not merely that none was free in
/// time, which a busy pool also says): a sign of an outage strong enough to stop sending queries at once.
pub fn is_connection_lost(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    let sqlx = match e {
        DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::ConnectionClosed) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => s,
        _ => return false,
    };
    matches!(
        sqlx,
        Sqlx::Io(_) | Sqlx::PoolClosed | Sqlx::WorkerCrashed | Sqlx::Tls(_)
    )
}

/// Whether the database rolled a statement back because of a concurrent one (SQLSTATE class 40 on PostgreSQL and
/// MariaDB; busy or locked on SQLite): retrying is the remedy.
pub fn is_contention(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    let (DbErr::Exec(RuntimeErr::SqlxError(Sqlx::Database(d)))
    | DbErr::Query(RuntimeErr::SqlxError(Sqlx::Database(d)))) = e
    else {
        return false;
    };
    let code = d.code().unwrap_or_default();
    // MariaDB's lock wait timeout (1205) has the catch-all SQLSTATE HY000: recognise it by its message.
    code.starts_with("40")
        || matches!(code.as_ref(), "5" | "6" | "261" | "517")
        || d.message().contains("Lock wait timeout exceeded")
}

/// Whether a write found its row (or a row it refers to) deleted meanwhile: an update that matched no row, or a
/// foreign key whose parent is gone.
pub fn is_gone(e: &DbErr) -> bool {
    matches!(e, DbErr::RecordNotUpdated)
        || matches!(
            e.sql_err(),
            Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_))
        )
}

impl From<DbErr> for DomainError {
    fn from(e: DbErr) -> Self {
        if let Some(count) = ON_ERROR.get() {
            count();
        }
        if is_outage(&e) {
            DomainError::StoreUnavailable(format!("database: {e}"))
        } else if is_gone(&e) {
            // A concurrent request deleted what this one was changing or referring to: no fault of the server.
            DomainError::NotFound(
                "Could not find the resource: it was deleted while this request ran.".into(),
            )
        } else if is_contention(&e) {
            DomainError::Contention(format!("database: {e}"))
        } else {
            DomainError::Internal(format!("database: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_galera_node_out_of_the_primary_component_is_an_outage() {
        assert!(galera_without_quorum(
            "Error while appending streaming replication fragment(provider status: Not connected to Primary Component)"
        ));
        assert!(!galera_without_quorum(
            "Duplicate entry 'x' for key 'PRIMARY'"
        ));
    }

    #[test]
    fn an_unreachable_database_is_an_outage_and_a_refused_statement_is_not() {
        let closed = DbErr::Query(RuntimeErr::SqlxError(sea_orm::sqlx::Error::PoolClosed));
        assert!(DomainError::from(closed).is_outage());
        let refused = DbErr::Query(RuntimeErr::Internal("no such table: user".into()));
        assert!(!DomainError::from(refused).is_outage());
    }
}
