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
