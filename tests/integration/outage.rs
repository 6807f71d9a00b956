//! A database that stops answering: every request that needs it is told to retry (503), never that its token is
//! bad (404/401) or that the server broke (500).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::TestServer;

fn assert_retry(
    what: &str,
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &Value,
) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    assert_eq!(headers["retry-after"], "1", "{what}");
    assert_eq!(body["error"]["code"], 503, "{what}: {body}");
    assert_eq!(
        body["error"]["title"], "Service Unavailable",
        "{what}: {body}"
    );
}

#[tokio::test]
async fn a_lost_database_answers_503_and_never_calls_a_good_token_bad() {
    crate::common::each_backend(lost_database_on).await;
}

async fn lost_database_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let (status, cred) = s
        .create_admin_credential(&admin, json!({"name": "outage"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cred}");
    // A grant forgets every cached authorization, as it does on any node: what follows needs the database.
    let (status, _, role) = s
        .call(
            Method::POST,
            "/v3/roles",
            Some(&admin),
            Some(json!({"role": {"name": "outage"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{role}");
    let (_, _, me) = s
        .call(Method::GET, "/v3/users?name=admin", Some(&admin), None)
        .await;
    let (_, _, project) = s
        .call(Method::GET, "/v3/projects?name=admin", Some(&admin), None)
        .await;
    let grant = format!(
        "/v3/projects/{}/users/{}/roles/{}",
        project["projects"][0]["id"].as_str().unwrap(),
        me["users"][0]["id"].as_str().unwrap(),
        role["role"]["id"].as_str().unwrap()
    );
    let (status, _, body) = s.call(Method::PUT, &grant, Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    s.cut_database().await;

    let (status, headers, body) = s.call(Method::GET, "/v3/users", Some(&admin), None).await;
    assert_retry(
        "a token presented while its user cannot be read",
        status,
        &headers,
        &body,
    );

    let resp = s
        .client
        .get(format!("{}/v3/auth/tokens", s.base))
        .header("X-Auth-Token", &admin)
        .header("X-Subject-Token", &admin)
        .send()
        .await
        .unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body: Value = resp.json().await.unwrap();
    assert_retry("validating a good token", status, &headers, &body);

    let (status, _, body) = s
        .password_token("admin", crate::common::ADMIN_PASSWORD, None)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "password: {body}");

    let resp = s
        .client
        .post(format!("{}/v3/OS-OAUTH2/token", s.base))
        .basic_auth(cred["id"].as_str().unwrap(), cred["secret"].as_str())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "client credentials: {body}"
    );
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(headers["cache-control"], "no-store");

    let (status, _, body) = s.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "liveness does not depend on the database: {body}"
    );
}

/// Two transactions that each hold the row the other wants: the database picks a victim.
async fn deadlock(url: &str) -> sea_orm::DbErr {
    use sea_orm::{ConnectionTrait, Database, Statement, TransactionTrait};
    let a = Database::connect(url).await.unwrap();
    let b = Database::connect(url).await.unwrap();
    let backend = a.get_database_backend();
    let sql = |s: &str| Statement::from_string(backend, s.to_string());
    a.execute(sql("CREATE TABLE lock_pair (id INT PRIMARY KEY, v INT)"))
        .await
        .unwrap();
    a.execute(sql("INSERT INTO lock_pair VALUES (1, 0), (2, 0)"))
        .await
        .unwrap();
    let ta = a.begin().await.unwrap();
    let tb = b.begin().await.unwrap();
    ta.execute(sql("UPDATE lock_pair SET v = 1 WHERE id = 1"))
        .await
        .unwrap();
    tb.execute(sql("UPDATE lock_pair SET v = 1 WHERE id = 2"))
        .await
        .unwrap();
    let outcome = {
        let first = ta.execute(sql("UPDATE lock_pair SET v = 2 WHERE id = 2"));
        let second = tb.execute(sql("UPDATE lock_pair SET v = 2 WHERE id = 1"));
        tokio::pin!(first, second);
        // The victim's statement fails. On PostgreSQL the other waits until the victim's transaction ends, so take
        // whichever finishes first; on MariaDB the victim is rolled back at once and the other may finish first, and
        // then the victim's error is already there.
        tokio::select! {
            r = &mut first => match r {
                Ok(_) => second.await,
                err => err,
            },
            r = &mut second => match r {
                Ok(_) => first.await,
                err => err,
            },
        }
    };
    // End both transactions and close both pools, so that dropping the test database is not blocked on their locks.
    ta.rollback().await.ok();
    tb.rollback().await.ok();
    a.close().await.ok();
    b.close().await.ok();
    match outcome {
        Err(e) => e,
        Ok(_) => panic!("no deadlock was detected"),
    }
}

#[tokio::test]
async fn a_deadlock_victim_is_told_to_retry_not_that_the_server_broke() {
    let mut checked = 0;
    for backend in crate::common::backends() {
        if backend == "sqlite" {
            // Lintel queues its own SQLite writers, so it never deadlocks there; the mapping is the same code.
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let db = crate::common::TestDatabase::create(backend, dir.path()).await;
        let e = deadlock(&db.url).await;
        assert!(lintel::store::db_error::is_contention(&e), "{backend}: {e}");
        let mapped = lintel::error::DomainError::from(e);
        assert!(
            matches!(mapped, lintel::error::DomainError::Contention(_)),
            "{backend}: {mapped:?}"
        );
        checked += 1;
    }
    assert_eq!(
        checked,
        crate::common::backends().len() - 1,
        "every configured server backend was checked"
    );
}

#[tokio::test]
async fn known_clients_and_tokens_keep_working_through_a_long_outage() {
    crate::common::each_backend(known_clients_through_an_outage_on).await;
}

async fn known_clients_through_an_outage_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let (status, cred) = s
        .create_admin_credential(&admin, json!({"name": "hot"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cred}");
    let token_request = || {
        s.client
            .post(format!("{}/v3/OS-OAUTH2/token", s.base))
            .basic_auth(cred["id"].as_str().unwrap(), cred["secret"].as_str())
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    // In use before the outage: the client, its user, project and roles, the admin's token.
    assert_eq!(token_request().await.unwrap().status(), StatusCode::OK);
    assert_eq!(s.validate(&admin, &admin).await.0, StatusCode::OK);

    s.cut_database().await;
    // Past every cache's freshness (5 minutes; 30 s for effective roles), well within the admin token's life.
    s.clock.advance(std::time::Duration::from_secs(31 * 60));

    let resp = token_request().await.unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "a known client during the outage: {body}"
    );
    let access = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        s.validate(&admin, &access).await.0,
        StatusCode::OK,
        "its new token validates from memory"
    );
    assert_eq!(
        s.validate(&admin, &admin).await.0,
        StatusCode::OK,
        "a known token still validates"
    );
    // What was never seen needs the database: told to retry, not refused.
    let resp = s
        .client
        .post(format!("{}/v3/OS-OAUTH2/token", s.base))
        .basic_auth("0123456789abcdef0123456789abcdef", Some("x"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_database_behind_a_stopped_proxy_answers_503_at_once_and_recovers_without_a_restart() {
    let mut checked = 0;
    for backend in crate::common::backends() {
        if backend == "sqlite" {
            // No server to lose: a_lost_database_answers_503... covers SQLite with its pool closed.
            continue;
        }
        eprintln!("-- on {backend}");
        proxied_outage_on(backend).await;
        checked += 1;
    }
    assert_eq!(checked, crate::common::backends().len() - 1);
}

/// The time a request took, and its status and body.
async fn timed(req: reqwest::RequestBuilder) -> (std::time::Duration, StatusCode, Value) {
    let started = std::time::Instant::now();
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    (started.elapsed(), status, body)
}

/// Whether `/readyz` answers `status` within 10 s.
async fn readiness_becomes(s: &TestServer, status: StatusCode) -> bool {
    for _ in 0..100 {
        if timed(s.client.get(format!("{}/readyz", s.base))).await.1 == status {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

async fn proxied_outage_on(backend: &'static str) {
    let var = if backend == "postgres" {
        "LINTEL_TEST_POSTGRES_URL"
    } else {
        "LINTEL_TEST_MYSQL_URL"
    };
    let upstream = url::Url::parse(&std::env::var(var).unwrap()).unwrap();
    let mut proxy = crate::proxy::TcpProxy::start(format!(
        "{}:{}",
        upstream.host_str().unwrap(),
        upstream.port_or_known_default().unwrap_or(3306)
    ))
    .await;
    let s = TestServer::start_routed(backend, "", |url| proxy.route(url)).await;
    let admin = s.admin_token().await;
    let (status, cred) = s
        .create_admin_credential(&admin, json!({"name": "through-proxy"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cred}");
    let known = || {
        s.client
            .post(format!("{}/v3/OS-OAUTH2/token", s.base))
            .basic_auth(cred["id"].as_str().unwrap(), cred["secret"].as_str())
            .form(&[("grant_type", "client_credentials")])
    };
    assert_eq!(timed(known()).await.1, StatusCode::OK);

    proxy.stop().await;
    // The heartbeat notices within a few seconds (two failed pings in a row); readiness says so.
    assert!(
        readiness_becomes(&s, StatusCode::SERVICE_UNAVAILABLE).await,
        "/readyz never reported the outage"
    );

    let second = std::time::Duration::from_secs(1);
    let list_users = || {
        s.client
            .get(format!("{}/v3/users", s.base))
            .header("X-Auth-Token", &admin)
    };
    for _ in 0..3 {
        let (took, status, body) = timed(list_users()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"]["code"], 503, "{body}");
        assert!(took < second, "a listing during the outage took {took:?}");
        let (took, status, body) = timed(
            s.client
                .post(format!("{}/v3/OS-OAUTH2/token", s.base))
                .basic_auth("0123456789abcdef0123456789abcdef", Some("x"))
                .form(&[("grant_type", "client_credentials")]),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");
        assert!(took < second, "an unknown client took {took:?}");
        let (took, status, _) = timed(s.client.get(format!("{}/readyz", s.base))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(took < second, "/readyz took {took:?}");
        let (_, status, body) = timed(known()).await;
        assert_eq!(status, StatusCode::OK, "a known client: {body}");
    }

    proxy.resume().await;
    assert!(
        readiness_becomes(&s, StatusCode::OK).await,
        "/readyz never reported the recovery"
    );
    let (_, status, body) = timed(list_users()).await;
    assert_eq!(status, StatusCode::OK, "after recovery: {body}");
    let (status, body) = s
        .create_admin_credential(&admin, json!({"name": "after-recovery"}))
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a write after recovery: {body}"
    );
    proxy.stop().await;
    drop(s);
}
