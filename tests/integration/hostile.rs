//! Hostile input, on every backend: NUL and control characters, overlong and non-UTF-8 values and out-of-range
//! dates reach every documented operation (the route list is the generated OpenAPI document, so a new route is
//! covered without editing this file) and the write routes' bodies. Nothing may answer 5xx, and every refusal
//! has its documented shape.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{each_backend, TestServer};

/// Values for a path segment or a query parameter, percent-encoded as a client would send them.
const HOSTILE: &[&str] = &[
    "%00",
    "a%00b",
    "%01%1F%7F",
    "%FF%FE",
    "%C3%28",
    "%E2%80%AEx",
    "%2e%2e",
];

fn long() -> String {
    "x".repeat(1000)
}

/// Whether the document says this operation's errors are RFC 6749's (else Keystone's envelope).
pub fn oauth_errors(path: &str, method: &str) -> bool {
    let doc: Value = serde_json::from_str(lintel::api::openapi_json()).unwrap();
    doc["paths"][path][method]["responses"]["default"]["content"]["application/json"]["schema"]
        ["$ref"]
        .as_str()
        .is_some_and(|r| r.ends_with("/OAuthErrorBody"))
}

/// The refusal has the shape the document gives the operation.
pub fn assert_shape(what: &str, oauth: bool, status: StatusCode, body: &Value) {
    assert!(status.as_u16() < 500, "{what}: {status} {body}");
    if status.is_client_error() && status != StatusCode::METHOD_NOT_ALLOWED {
        let ok = if oauth {
            body["error"].is_string()
        } else {
            body["error"]["code"] == status.as_u16() && body["error"]["message"].is_string()
        };
        assert!(ok, "{what}: {status} has not the documented shape: {body}");
    }
}

#[tokio::test]
async fn hostile_path_and_query_values_never_answer_5xx() {
    each_backend(hostile_path_and_query_values_on).await;
}

async fn hostile_path_and_query_values_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let t = s.admin_token().await;
    let doc: Value = serde_json::from_str(lintel::api::openapi_json()).unwrap();
    let long = long();
    let values: Vec<&str> = HOSTILE.iter().copied().chain([long.as_str()]).collect();
    let mut sent = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let queries: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect();
            for v in &values {
                let concrete: String = path
                    .split('/')
                    .map(|seg| if seg.starts_with('{') { *v } else { seg })
                    .collect::<Vec<_>>()
                    .join("/");
                let query: Vec<String> = queries.iter().map(|q| format!("{q}={v}")).collect();
                let url = if query.is_empty() {
                    concrete
                } else {
                    format!("{concrete}?{}", query.join("&"))
                };
                let (status, _, body) = s.call(method.clone(), &url, Some(&t), None).await;
                let what = format!("{backend} {method} {url}");
                if method == Method::HEAD {
                    // No body to have a shape.
                    assert!(status.as_u16() < 500, "{what}: {status}");
                } else {
                    let oauth = oauth_errors(path, &method.as_str().to_lowercase());
                    assert_shape(&what, oauth, status, &body);
                }
                sent += 1;
            }
        }
    }
    assert!(sent > 119 * 7, "{backend}: only {sent} requests");
    s.stop().await;
}

#[tokio::test]
async fn hostile_bodies_never_answer_5xx() {
    each_backend(hostile_bodies_on).await;
}

async fn hostile_bodies_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let t = s.admin_token().await;
    let (_, _, body) = s
        .call(Method::GET, "/v3/users?name=admin", Some(&t), None)
        .await;
    let uid = body["users"][0]["id"].as_str().unwrap().to_string();
    let long = long();
    let huge = "p".repeat(100_000);
    let strings = ["a\u{0}b", "\u{1}\u{1f}", long.as_str(), huge.as_str(), ""];
    let creds = format!("/v3/users/{uid}/application_credentials");
    let mut cases: Vec<(Method, String, Value)> = Vec::new();
    for v in strings {
        for (path, key) in [
            ("/v3/users", "user"),
            ("/v3/groups", "group"),
            ("/v3/projects", "project"),
            ("/v3/domains", "domain"),
            ("/v3/roles", "role"),
            ("/v3/regions", "region"),
            ("/v3/services", "service"),
        ] {
            cases.push((
                Method::POST,
                path.into(),
                json!({key: {"name": v, "description": v, "type": v}}),
            ));
            cases.push((
                Method::POST,
                path.into(),
                json!({key: {"name": "ok", "domain_id": v, "id": v}}),
            ));
        }
        cases.push((
            Method::POST,
            creds.clone(),
            json!({"application_credential": {"name": v, "description": v}}),
        ));
        cases.push((
            Method::POST,
            creds.clone(),
            json!({"application_credential": {"name": "n", "secret": v}}),
        ));
        cases.push((
            Method::POST,
            creds.clone(),
            json!({"application_credential": {"name": "r",
            "access_rules": [{"service": v, "method": "GET", "path": "/v3/x"}]}}),
        ));
        cases.push((
            Method::POST,
            creds.clone(),
            json!({"application_credential": {"name": "r2",
            "access_rules": [{"service": "identity", "method": v, "path": "/v3/x"}]}}),
        ));
        cases.push((
            Method::POST,
            creds.clone(),
            json!({"application_credential": {"name": "r3",
            "access_rules": [{"service": "identity", "method": "GET", "path": v}]}}),
        ));
        cases.push((
            Method::POST,
            creds.clone(),
            json!({"application_credential": {"name": "r4",
            "roles": [{"name": v}, {"id": v}]}}),
        ));
        cases.push((
            Method::POST,
            "/v3/auth/tokens".into(),
            json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"name": v, "domain": {"name": v}, "password": v}}}}}),
        ));
        cases.push((
            Method::POST,
            "/v3/auth/tokens".into(),
            json!({"auth": {"identity": {"methods": ["application_credential"],
            "application_credential": {"id": v, "secret": v}}}}),
        ));
    }
    for (method, path, body) in cases {
        let what = format!(
            "{backend} {method} {path} {}",
            &body.to_string()[..body.to_string().len().min(160)]
        );
        let (status, _, answer) = s.call(method, &path, Some(&t), Some(body)).await;
        assert_shape(&what, false, status, &answer);
    }
    // A date no database column holds exactly (past 9999, before year 1) or no date at all is refused: stored on
    // MariaDB it would read back as no expiry.
    for date in [
        "10000-01-01T00:00:00",
        "+10000-01-01T00:00:00",
        "99999-12-31T23:59:59Z",
        "0000-01-01T00:00:00",
        "-0001-01-01T00:00:00",
        "2026-13-40T25:61:61",
    ] {
        let body = json!({"application_credential": {"name": "d", "expires_at": date}});
        let (status, _, answer) = s.call(Method::POST, &creds, Some(&t), Some(body)).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{backend} expires_at {date}: {answer}"
        );
        assert_shape(
            &format!("{backend} expires_at {date}"),
            false,
            status,
            &answer,
        );
    }
    // The token endpoint, unauthenticated: a NUL in the client id, by form and by Basic header.
    for id in ["a\u{0}b", long.as_str()] {
        let resp = s
            .client
            .post(format!("{}/v3/OS-OAUTH2/token", s.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", "x"),
            ])
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_shape(&format!("{backend} token form"), true, status, &body);
        let resp = s
            .client
            .post(format!("{}/v3/OS-OAUTH2/token", s.base))
            .basic_auth(id, Some("x"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_shape(&format!("{backend} token basic"), true, status, &body);
    }
    s.stop().await;
}
