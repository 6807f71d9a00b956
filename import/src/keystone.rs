//! Reading a Keystone database, read-only: its schema is checked first, then every table Lintel imports is read
//! into plain rows in one read-only transaction (one consistent snapshot while Keystone may still be serving).

use std::collections::HashSet;

use sea_orm::sea_query::{Alias, Asterisk, Expr, Query};
use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    IsolationLevel, QueryResult, Statement, TransactionTrait,
};

/// The Alembic heads of the Keystone schemas this release imports (Keystone 2024.2 "Dalmatian" to 30.0.0
/// "Gazpacho": the expand and contract branches at their last revision).
pub const KNOWN_HEADS: &[&str] = &["742c857f1dfb", "c88cdce8f248"];

/// The tables an import reads: a database without them is not Keystone's.
const REQUIRED: &[&str] = &[
    "project",
    "user",
    "local_user",
    "password",
    "role",
    "assignment",
    "application_credential",
    "alembic_version",
];

/// Why a source database cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The URL is not one of Keystone's SQLAlchemy URLs Lintel can read.
    #[error("{0}")]
    Url(String),
    /// The database is not Keystone's, or of a schema version this release does not know.
    #[error("{0}")]
    Schema(String),
    /// The database could not be read.
    #[error("reading the Keystone database: {0}")]
    Db(#[from] DbErr),
}

/// Keystone's SQLAlchemy URL as sqlx takes it, opened read-only where the URL can say so (SQLite).
pub fn sqlx_url(sqlalchemy: &str) -> Result<String, SourceError> {
    let (scheme, rest) = sqlalchemy
        .split_once("://")
        .ok_or_else(|| SourceError::Url(format!("not a database URL: {}", redact(sqlalchemy))))?;
    let dialect = scheme.split('+').next().unwrap_or(scheme);
    match dialect {
        "mysql" | "mariadb" => {
            // PyMySQL's query options (charset=utf8, ...) mean nothing to sqlx.
            Ok(format!("mysql://{}", rest.split('?').next().unwrap_or(rest)))
        }
        "postgresql" | "postgres" => Ok(format!(
            "postgres://{}",
            rest.split('?').next().unwrap_or(rest)
        )),
        // sqlite:////abs/path (four slashes: an absolute path) or sqlite:///relative/path.
        "sqlite" => {
            let path = rest.strip_prefix('/').unwrap_or(rest);
            if path.is_empty() || !std::path::Path::new(path).is_file() {
                return Err(SourceError::Url(format!("no SQLite database at '{path}'")));
            }
            Ok(format!("sqlite://{path}?mode=ro"))
        }
        other => Err(SourceError::Url(format!(
            "unsupported database '{other}': Keystone's URL starts mysql+pymysql://, postgresql:// or sqlite://"
        ))),
    }
}

/// The URL with its password replaced, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// An open Keystone database.
pub struct Source {
    conn: DatabaseConnection,
}

/// One row as read: columns by name.
pub struct Row(QueryResult);

impl Row {
    /// A text column (NULL: none).
    pub fn text(&self, col: &str) -> Option<String> {
        self.0.try_get::<Option<String>>("", col).ok().flatten()
    }

    /// An integer column.
    pub fn int(&self, col: &str) -> Option<i64> {
        if let Ok(v) = self.0.try_get::<Option<i64>>("", col) {
            return v;
        }
        self.0
            .try_get::<Option<i32>>("", col)
            .ok()
            .flatten()
            .map(i64::from)
    }

    /// A boolean column (MariaDB's TINYINT and SQLite's integers included).
    pub fn flag(&self, col: &str) -> Option<bool> {
        if let Ok(v) = self.0.try_get::<Option<bool>>("", col) {
            return v;
        }
        self.int(col).map(|i| i != 0)
    }

    /// A timestamp column (a date column counts as its midnight).
    pub fn time(&self, col: &str) -> Option<chrono::NaiveDateTime> {
        if let Ok(t) = self.0.try_get::<Option<chrono::NaiveDateTime>>("", col) {
            return t;
        }
        self.0
            .try_get::<Option<chrono::NaiveDate>>("", col)
            .ok()
            .flatten()
            .map(|d| d.and_time(chrono::NaiveTime::MIN))
    }
}

impl Source {
    /// Open a Keystone database by its SQLAlchemy URL and check that it is one this release imports.
    pub async fn open(sqlalchemy: &str) -> Result<Source, SourceError> {
        let url = sqlx_url(sqlalchemy)?;
        let conn = Database::connect(
            ConnectOptions::new(url)
                .max_connections(2)
                .sqlx_logging(false)
                .to_owned(),
        )
        .await?;
        let source = Source { conn };
        source.check_schema().await?;
        Ok(source)
    }

    async fn check_schema(&self) -> Result<(), SourceError> {
        let tables = self.tables().await?;
        let missing: Vec<&str> = REQUIRED
            .iter()
            .copied()
            .filter(|t| !tables.contains(*t))
            .collect();
        if !missing.is_empty() {
            return Err(SourceError::Schema(format!(
                "this is not a Keystone database: it has no {} table{}; nothing was imported",
                missing.join(", "),
                if missing.len() > 1 { "s" } else { "" }
            )));
        }
        let heads: Vec<String> = self
            .read(&["alembic_version"], &[])
            .await?
            .rows("alembic_version")
            .iter()
            .filter_map(|r| r.text("version_num"))
            .collect();
        let unknown: Vec<&String> = heads
            .iter()
            .filter(|h| !KNOWN_HEADS.contains(&h.as_str()))
            .collect();
        if heads.is_empty() || !unknown.is_empty() {
            return Err(SourceError::Schema(format!(
                "unsupported Keystone schema version ({}); this release imports Keystone databases at {}: \
                 upgrade Keystone (keystone-manage db_sync) first; nothing was imported",
                if heads.is_empty() { "none recorded".to_string() } else { heads.join(", ") },
                KNOWN_HEADS.join(" + ")
            )));
        }
        Ok(())
    }

    /// The tables of the database.
    pub async fn tables(&self) -> Result<HashSet<String>, DbErr> {
        let backend = self.conn.get_database_backend();
        let sql = match backend {
            DbBackend::Sqlite => "SELECT name AS t FROM sqlite_master WHERE type = 'table'",
            DbBackend::Postgres => {
                "SELECT table_name::text AS t FROM information_schema.tables WHERE table_schema = current_schema()"
            }
            DbBackend::MySql => {
                "SELECT CAST(table_name AS CHAR) AS t FROM information_schema.tables WHERE table_schema = DATABASE()"
            }
        };
        let rows = self
            .conn
            .query_all(Statement::from_string(backend, sql))
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<String>("", "t").ok())
            .collect())
    }

    /// Every row of the tables an import reads (all their columns), in one read-only, repeatable-read
    /// transaction, with the row counts of the tables it does not import (for the report).
    pub async fn read(
        &self,
        tables: &[&'static str],
        counted: &[&'static str],
    ) -> Result<Tables, DbErr> {
        let present = self.tables().await?;
        let backend = self.conn.get_database_backend();
        // SQLite has neither setting: its file is opened read-only, and one transaction reads one version of it.
        let txn = if backend == DbBackend::Sqlite {
            self.conn.begin().await?
        } else {
            self.conn
                .begin_with_config(
                    Some(IsolationLevel::RepeatableRead),
                    Some(AccessMode::ReadOnly),
                )
                .await?
        };
        let mut out = Tables::default();
        let enums = self.enum_columns().await?;
        for &table in tables {
            let rows = if present.contains(table) {
                let mut q = Query::select();
                match enums.get(table) {
                    // PostgreSQL keeps some of Keystone's columns (assignment.type) as enum types, which read as
                    // no text at all: those are selected cast to text, the rest as they are.
                    Some(cols) => {
                        for (col, is_enum) in cols {
                            if *is_enum {
                                q.expr_as(
                                    Expr::cust(format!("CAST(\"{col}\" AS TEXT)")),
                                    Alias::new(col.as_str()),
                                );
                            } else {
                                q.column(Alias::new(col.as_str()));
                            }
                        }
                    }
                    None => {
                        q.column(Asterisk);
                    }
                }
                q.from(Alias::new(table));
                txn.query_all(backend.build(&q))
                    .await?
                    .into_iter()
                    .map(Row)
                    .collect()
            } else {
                Vec::new()
            };
            out.rows.insert(table, rows);
        }
        for &table in counted {
            let n = if present.contains(table) {
                let mut q = Query::select();
                q.expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
                    .from(Alias::new(table));
                txn.query_one(backend.build(&q))
                    .await?
                    .and_then(|r| Row(r).int("n"))
                    .unwrap_or(0)
            } else {
                0
            };
            out.counts.insert(table, n);
        }
        txn.rollback().await?;
        Ok(out)
    }

    /// On PostgreSQL, the columns of each table that has an enum-typed one (name, whether it is the enum), from
    /// the catalog; elsewhere nothing.
    async fn enum_columns(
        &self,
    ) -> Result<std::collections::HashMap<String, Vec<(String, bool)>>, DbErr> {
        let mut out: std::collections::HashMap<String, Vec<(String, bool)>> = Default::default();
        if self.conn.get_database_backend() != DbBackend::Postgres {
            return Ok(out);
        }
        let rows = self
            .conn
            .query_all(Statement::from_string(
                DbBackend::Postgres,
                "SELECT table_name::text AS t, column_name::text AS c, (data_type = 'USER-DEFINED') AS e \
                 FROM information_schema.columns WHERE table_schema = current_schema() \
                 ORDER BY table_name, ordinal_position",
            ))
            .await?;
        for r in rows {
            let (Ok(t), Ok(c), Ok(e)) = (
                r.try_get::<String>("", "t"),
                r.try_get::<String>("", "c"),
                r.try_get::<bool>("", "e"),
            ) else {
                continue;
            };
            out.entry(t).or_default().push((c, e));
        }
        out.retain(|_, cols| cols.iter().any(|(_, e)| *e));
        Ok(out)
    }

    /// Close the connection.
    pub async fn close(self) {
        self.conn.close().await.ok();
    }
}

/// What an import read: rows by table, and counts of the tables it does not import.
#[derive(Default)]
pub struct Tables {
    rows: std::collections::HashMap<&'static str, Vec<Row>>,
    counts: std::collections::HashMap<&'static str, i64>,
}

impl Tables {
    /// The rows of a table (none when the table is missing).
    pub fn rows(&self, table: &str) -> &[Row] {
        self.rows.get(table).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The row count of a table read for counting only.
    pub fn count(&self, table: &str) -> i64 {
        self.counts.get(table).copied().unwrap_or(0)
    }
}
