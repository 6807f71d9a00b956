//! Two nodes over one database: what one node changes, the other stops serving from memory within one poll of
//! `view_change` (docs/deploy.md), for every kind a node keeps: the catalog, roles, projects, domains, users, and
//! what grants give.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{each_backend, role_names, TestServer, ADMIN_PASSWORD};

/// Ask `node` until `holds` is true of its answer; the bound is one poll (2 s), with slack for a loaded machine.
async fn eventually(
    what: &str,
    mut ask: impl AsyncFnMut() -> Value,
    holds: impl Fn(&Value) -> bool,
) {
    let mut last = Value::Null;
    for _ in 0..50 {
        last = ask().await;
        if holds(&last) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the other node still serves the old {what} after 5 s: {last}");
}

async fn made(s: &TestServer, token: &str, path: &str, body: Value) -> Value {
    let (status, _, made) = s.call(Method::POST, path, Some(token), Some(body)).await;
    assert!(status.is_success(), "POST {path}: {status} {made}");
    made
}

async fn patch(s: &TestServer, token: &str, path: &str, body: Value) {
    let (status, _, answer) = s.call(Method::PATCH, path, Some(token), Some(body)).await;
    assert!(status.is_success(), "PATCH {path}: {status} {answer}");
}

async fn put(s: &TestServer, token: &str, path: &str) {
    let (status, _, answer) = s.call(Method::PUT, path, Some(token), None).await;
    assert!(status.is_success(), "PUT {path}: {status} {answer}");
}

#[tokio::test]
async fn every_cached_view_follows_the_other_nodes_changes() {
    each_backend(follows_on).await;
}

async fn follows_on(backend: &'static str) {
    let a = TestServer::start(backend).await;
    let b = a.another_node("").await;
    let admin = a.admin_token().await;

    // A user with a role on a project of its own, and its token; node B validates it and so holds the user, the
    // project, the domain and the role in memory.
    let project = made(
        &a,
        &admin,
        "/v3/projects",
        json!({"project": {"name": "p1", "domain_id": "default"}}),
    )
    .await;
    let project_id = project["project"]["id"].as_str().unwrap().to_string();
    let role = made(&a, &admin, "/v3/roles", json!({"role": {"name": "r1"}})).await;
    let role_id = role["role"]["id"].as_str().unwrap().to_string();
    let user = made(
        &a,
        &admin,
        "/v3/users",
        json!({"user": {"name": "u1", "domain_id": "default", "password": ADMIN_PASSWORD}}),
    )
    .await;
    let user_id = user["user"]["id"].as_str().unwrap().to_string();
    put(
        &a,
        &admin,
        &format!("/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"),
    )
    .await;
    let (_, token, _) = a.password_token("u1", ADMIN_PASSWORD, Some("p1")).await;
    let (_, seen) = b.validate(&admin, &token).await;
    assert_eq!(seen["token"]["project"]["name"], "p1", "{seen}");
    let (_, _, mine) = b
        .call(Method::GET, "/v3/auth/projects", Some(&token), None)
        .await;
    assert_eq!(mine["projects"].as_array().unwrap().len(), 1, "{mine}");
    let (_, _, first) = b.call(Method::POST, "/v3/auth/tokens", None, Some(json!({"auth": {"identity": {
        "methods": ["token"], "token": {"id": admin}}, "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}))).await;
    assert!(first["token"]["catalog"].is_array(), "{first}");

    // Node A changes each of them.
    patch(
        &a,
        &admin,
        &format!("/v3/projects/{project_id}"),
        json!({"project": {"name": "p1-renamed"}}),
    )
    .await;
    patch(
        &a,
        &admin,
        &format!("/v3/roles/{role_id}"),
        json!({"role": {"name": "r1-renamed"}}),
    )
    .await;
    patch(
        &a,
        &admin,
        &format!("/v3/users/{user_id}"),
        json!({"user": {"name": "u1-renamed"}}),
    )
    .await;
    patch(
        &a,
        &admin,
        "/v3/domains/default",
        json!({"domain": {"name": "Renamed"}}),
    )
    .await;
    let other = made(
        &a,
        &admin,
        "/v3/projects",
        json!({"project": {"name": "p2", "domain_id": "default"}}),
    )
    .await;
    let other_id = other["project"]["id"].as_str().unwrap().to_string();
    put(
        &a,
        &admin,
        &format!("/v3/projects/{other_id}/users/{user_id}/roles/{role_id}"),
    )
    .await;
    let service = made(
        &a,
        &admin,
        "/v3/services",
        json!({"service": {"type": "widget", "name": "widgets"}}),
    )
    .await;
    let service_id = service["service"]["id"].as_str().unwrap().to_string();
    made(
        &a,
        &admin,
        "/v3/endpoints",
        json!({"endpoint": {"service_id": service_id, "interface": "public", "url": "https://w.example/v1", "region_id": "RegionOne"}}),
    )
    .await;

    // Node B serves each change within the bound.
    let validated = || async { b.validate(&admin, &token).await.1 };
    eventually("project name", validated, |v| {
        v["token"]["project"]["name"] == "p1-renamed"
    })
    .await;
    eventually("role name", validated, |v| role_names(v) == ["r1-renamed"]).await;
    eventually("user name", validated, |v| {
        v["token"]["user"]["name"] == "u1-renamed"
    })
    .await;
    eventually("domain name", validated, |v| {
        v["token"]["user"]["domain"]["name"] == "Renamed"
    })
    .await;
    eventually(
        "projects of the user",
        || async {
            b.call(Method::GET, "/v3/auth/projects", Some(&token), None)
                .await
                .2
        },
        |v| v["projects"].as_array().is_some_and(|p| p.len() == 2),
    )
    .await;
    eventually(
        "catalog",
        || async {
            b.call(Method::GET, "/v3/auth/catalog", Some(&admin), None)
                .await
                .2
        },
        |v| {
            v["catalog"]
                .as_array()
                .is_some_and(|c| c.iter().any(|s| s["type"] == "widget"))
        },
    )
    .await;
    b.stop().await;
    a.stop().await;
}

/// Galera certifies row changes by primary key and refuses to replicate a table without one: every table of the
/// schema has a primary key, on every backend.
#[tokio::test]
async fn every_table_has_a_primary_key() {
    use sea_orm::{ConnectionTrait, Statement};
    crate::common::each_backend(|backend| async move {
        let s = crate::common::TestServer::start(backend).await;
        let q = match backend {
            "mysql" => "SELECT t.table_name AS name FROM information_schema.tables t \
                 WHERE t.table_schema = DATABASE() AND t.table_type = 'BASE TABLE' AND NOT EXISTS \
                 (SELECT 1 FROM information_schema.table_constraints c WHERE c.table_schema = t.table_schema \
                  AND c.table_name = t.table_name AND c.constraint_type = 'PRIMARY KEY')",
            "postgres" => "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind = 'r' AND n.nspname = current_schema() AND NOT EXISTS \
                 (SELECT 1 FROM pg_constraint p WHERE p.conrelid = c.oid AND p.contype = 'p')",
            _ => "SELECT m.name AS name FROM sqlite_master m WHERE m.type = 'table' \
                 AND m.name NOT LIKE 'sqlite_%' AND NOT EXISTS (SELECT 1 FROM pragma_table_info(m.name) p WHERE p.pk > 0)",
        };
        let rows = s
            .db
            .query_all(Statement::from_string(s.db.get_database_backend(), q))
            .await
            .unwrap();
        let tables: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String>("", "name").unwrap())
            .collect();
        let tables_seen = s
            .db
            .query_all(Statement::from_string(
                s.db.get_database_backend(),
                "SELECT 1 FROM federation_mapping",
            ))
            .await;
        assert!(tables_seen.is_ok(), "{backend}: the schema is there");
        assert!(tables.is_empty(), "{backend}: tables without a primary key: {tables:?}");
        s.stop().await;
    })
    .await;
}

/// The cluster-wide locks (key rotation, db-sync) exclude each other across nodes on every backend. On MariaDB the
/// lock is a lease row (a named lock holds on one Galera node only): a lease its holder left to lapse is taken over
/// at once, and two nodes taking it at once never both hold it.
#[tokio::test]
async fn cluster_locks_exclude_across_nodes() {
    use lintel::store::{DatabaseSection, Db, Lock};
    use sea_orm::{ConnectionTrait, Statement};
    use std::sync::atomic::{AtomicUsize, Ordering};
    each_backend(|backend| async move {
        let dir = tempfile::tempdir().unwrap();
        let database = crate::common::TestDatabase::create(backend, dir.path()).await;
        let section = DatabaseSection {
            url: database.url.clone(),
            is_default: false,
            max_pool_size: 4,
            pool_timeout: std::time::Duration::from_secs(5),
            connection_recycle_time: std::time::Duration::from_secs(3600),
        };
        let nodes = [
            Db::connect(&section, dir.path()).await.unwrap(),
            Db::connect(&section, dir.path()).await.unwrap(),
        ];
        nodes[0].migrate(&database.url).await.unwrap();
        if backend == "mysql" {
            // A holder that died with its lease lapsed: nobody waits for it.
            let conn = sea_orm::Database::connect(&database.url).await.unwrap();
            conn.execute(Statement::from_string(
                sea_orm::DbBackend::MySql,
                "UPDATE lintel_lock SET holder = 'gone', expires_at = UNIX_TIMESTAMP() - 1",
            ))
            .await
            .unwrap();
            conn.close().await.unwrap();
        }
        let (inside, most, runs) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        let work = |db: &Db| {
            let url = database.url.clone();
            let (inside, most, runs) = (&inside, &most, &runs);
            let db = db.clone();
            async move {
                for _ in 0..3 {
                    db.locked(&url, Lock::Keys, async {
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        inside.fetch_sub(1, Ordering::SeqCst);
                        runs.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, sea_orm::DbErr>(())
                    })
                    .await
                    .unwrap();
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            tokio::join!(work(&nodes[0]), work(&nodes[1]))
        })
        .await
        .expect("both nodes got the lock in turn");
        assert_eq!(runs.load(Ordering::SeqCst), 6, "{backend}");
        assert_eq!(
            most.load(Ordering::SeqCst),
            1,
            "{backend}: held by one node at a time"
        );
        for db in nodes {
            db.close().await;
        }
    })
    .await;
}
