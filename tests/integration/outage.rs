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
