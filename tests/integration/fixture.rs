//! The test fixture itself: a test that fails leaves no database behind, and nothing is written to the work tree.

use sea_orm::{ConnectionTrait, Database, Statement};

use crate::common::{backends, TestDatabase};

/// Whether a database of this name exists on the server behind `admin`.
async fn exists(backend: &str, admin: &str, name: &str) -> bool {
    let conn = Database::connect(admin).await.unwrap();
    let sql = if backend == "postgres" {
        format!("SELECT 1 FROM pg_database WHERE datname = '{name}'")
    } else {
        format!("SELECT 1 FROM information_schema.schemata WHERE schema_name = '{name}'")
    };
    let rows = conn
        .query_all(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap();
    conn.close().await.ok();
    !rows.is_empty()
}

#[tokio::test]
async fn a_failing_test_leaves_no_database_and_no_file_in_the_work_tree() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDatabase::create(backend, dir.path()).await;
        assert!(
            dir.path().starts_with(std::env::temp_dir()),
            "test files live under the system temporary directory"
        );
        if backend == "sqlite" {
            assert!(
                db.url.contains(&*dir.path().to_string_lossy()),
                "{}",
                db.url
            );
            continue;
        }
        let var = if backend == "postgres" {
            "LINTEL_TEST_POSTGRES_URL"
        } else {
            "LINTEL_TEST_MYSQL_URL"
        };
        let admin = std::env::var(var).unwrap();
        let path = db.url.rsplit('/').next().unwrap();
        let name = path.split('?').next().unwrap().to_string();
        assert!(
            exists(backend, &admin, &name).await,
            "{backend}: {name} was made"
        );
        // A test that fails while it holds the database: its panic unwinds through the guard.
        let failed = tokio::spawn(async move {
            let _held = db;
            panic!("a failed assertion");
        })
        .await;
        assert!(failed.unwrap_err().is_panic());
        assert!(
            !exists(backend, &admin, &name).await,
            "{backend}: {name} was left behind"
        );
    }
}

/// A database some connection holds a transaction open on (a server's background task that the dropping thread
/// keeps from finishing) is still dropped, at once, on every server backend.
#[tokio::test]
async fn a_database_with_an_open_transaction_on_it_is_still_dropped() {
    for backend in backends().into_iter().filter(|b| *b != "sqlite") {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDatabase::create(backend, dir.path()).await;
        let holder = Database::connect(db.url.as_str()).await.unwrap();
        let b = holder.get_database_backend();
        holder
            .execute(Statement::from_string(
                b,
                "CREATE TABLE t (id INT PRIMARY KEY)",
            ))
            .await
            .unwrap();
        let txn = sea_orm::TransactionTrait::begin(&holder).await.unwrap();
        txn.execute(Statement::from_string(b, "INSERT INTO t VALUES (1)"))
            .await
            .unwrap();
        let (admin, name) = (db.drop_url(), db.name());
        // The transaction stays open (never committed) while the guard drops the database.
        let dropped = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            tokio::task::spawn_blocking(move || drop(db)),
        )
        .await;
        assert!(
            dropped.is_ok(),
            "{backend}: dropping waited on the open transaction"
        );
        assert!(
            !exists(backend, &admin, &name).await,
            "{backend}: {name} is still there"
        );
        drop(txn);
    }
}

#[test]
fn test_databases_take_the_operators_prefix_and_refuse_one_that_is_not_a_name() {
    use crate::common::test_db_name;
    assert!(test_db_name(None).unwrap().starts_with("lintel_t_"));
    assert!(test_db_name(Some("")).unwrap().starts_with("lintel_t_"));
    let named = test_db_name(Some("ci_alice_")).unwrap();
    assert!(
        named.starts_with("ci_alice_") && named.len() == "ci_alice_".len() + 32,
        "{named}"
    );
    for bad in ["1abc", "a-b", "a;drop", &"a".repeat(31)] {
        assert!(test_db_name(Some(bad)).is_err(), "{bad}");
    }
}
