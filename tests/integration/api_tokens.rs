//! Tokens over real HTTPS: issue, validate, check, revoke, Bearer, discovery and error shapes.

use crate::common::{role_names, TestServer, ADMIN_PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn discovery_and_health_answer_without_auth() {
    let s = TestServer::start("sqlite").await;
    let resp = s.client.get(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::MULTIPLE_CHOICES);
    assert_eq!(
        resp.headers()["location"],
        format!("{}/v3/", s.base).as_str()
    );
    assert!(resp.headers()["x-openstack-request-id"]
        .to_str()
        .unwrap()
        .starts_with("req-"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["versions"]["values"][0]["id"], "v3.14");
    let (status, _, body) = s.call(Method::GET, "/v3", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["version"]["media-types"][0]["type"],
        "application/vnd.openstack.identity-v3+json"
    );
    let (status, _, _) = s.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn password_token_has_keystone_shape_on_every_backend() {
    crate::common::each_backend(|backend| async move {
        let s = TestServer::start(backend).await;
        let (status, token, body) = s
            .password_token("admin", ADMIN_PASSWORD, Some("admin"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {body}");
        assert!(
            token.starts_with("gAAAAA") && token.len() < 300,
            "{backend}: token of {} chars",
            token.len()
        );
        let t = &body["token"];
        assert_eq!(t["methods"], json!(["password"]));
        assert_eq!(t["user"]["name"], "admin");
        assert_eq!(
            t["user"]["domain"],
            json!({"id": "default", "name": "Default"})
        );
        assert_eq!(t["project"]["name"], "admin");
        assert_eq!(t["is_domain"], false);
        assert_eq!(
            role_names(&body),
            vec!["admin", "manager", "member", "reader"],
            "implied roles expand"
        );
        assert_eq!(t["catalog"][0]["type"], "identity");
        assert_eq!(
            t["catalog"][0]["endpoints"][0]["url"],
            format!("{}/v3", s.base)
        );
        assert_eq!(
            t["audit_ids"].as_array().unwrap()[0]
                .as_str()
                .unwrap()
                .len(),
            22
        );
        let issued = t["issued_at"].as_str().unwrap();
        assert!(
            issued.ends_with('Z') && issued.len() == 27,
            "microseconds kept: {issued}"
        );

        let (status, v) = s.validate(&token, &token).await;
        assert_eq!(status, StatusCode::OK, "{backend}");
        assert_eq!(v["token"]["issued_at"], t["issued_at"]);
        assert_eq!(v["token"]["expires_at"], t["expires_at"]);
        assert_eq!(role_names(&v), role_names(&body));
        s.stop().await;
    })
    .await;
}

#[tokio::test]
async fn validate_check_and_revoke() {
    let s = TestServer::start("sqlite").await;
    let admin = s.admin_token().await;
    let (_, subject, _) = s.password_token("admin", ADMIN_PASSWORD, None).await;
    let (status, body) = s.validate(&admin, &subject).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["token"].get("project").is_none(),
        "unscoped token has no project"
    );
    assert!(body["token"].get("catalog").is_none());

    let head = s
        .client
        .head(format!("{}/v3/auth/tokens", s.base))
        .header("X-Auth-Token", &admin)
        .header("X-Subject-Token", &subject)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["x-subject-token"], subject.as_str());

    let (status, body) = s.validate(&admin, "gAAAAAnotatoken").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"error": {"code": 404, "message": "Could not recognize Fernet token", "title": "Not Found"}})
    );

    let resp = s
        .client
        .delete(format!("{}/v3/auth/tokens", s.base))
        .header("X-Auth-Token", &admin)
        .header("X-Subject-Token", &subject)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, body) = s.validate(&admin, &subject).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["message"], "Failed to validate token");
    s.stop().await;
}

#[tokio::test]
async fn missing_or_bad_tokens_get_401_with_challenges() {
    let s = TestServer::start("sqlite").await;
    let resp = s
        .client
        .get(format!("{}/v3/auth/tokens", s.base))
        .header("X-Subject-Token", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()["www-authenticate"],
        format!("Keystone uri=\"{}/v3\"", s.base).as_str()
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}})
    );

    let resp = s
        .client
        .get(format!("{}/v3/users", s.base))
        .bearer_auth("gAAAAAbogus")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = resp
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        challenges.contains(&"Bearer error=\"invalid_token\"".to_string()),
        "{challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.starts_with("Keystone uri=")),
        "{challenges:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn bearer_works_and_x_auth_token_wins() {
    let s = TestServer::start("sqlite").await;
    let admin = s.admin_token().await;
    let resp = s
        .client
        .get(format!("{}/v3/auth/projects", s.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["projects"][0]["name"], "admin");
    let resp = s
        .client
        .get(format!("{}/v3/users", s.base))
        .bearer_auth("not-a-token")
        .header("X-Auth-Token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "X-Auth-Token decides when both are sent"
    );
    s.stop().await;
}

#[tokio::test]
async fn wrong_password_and_lockout() {
    let s = TestServer::start_with(
        "sqlite",
        "[security_compliance]\nlockout_failure_attempts = 2\nlockout_duration = 600\n",
    )
    .await;
    for _ in 0..2 {
        let (status, _, body) = s.password_token("admin", "wrong", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], 401);
    }
    let (status, _, body) = s.password_token("admin", ADMIN_PASSWORD, None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "locked out even with the right password"
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("The account is locked for user"));
    s.stop().await;
}

#[tokio::test]
async fn bad_input_gets_keystone_errors_never_500() {
    let s = TestServer::start("sqlite").await;
    let admin = s.admin_token().await;
    let url = format!("{}/v3/users", s.base);
    let send = |body: String, ct: &'static str| {
        s.client
            .post(&url)
            .header("X-Auth-Token", &admin)
            .header("Content-Type", ct)
            .body(body)
            .send()
    };
    let cases: Vec<(String, &str, StatusCode)> = vec![
        (
            "{not json".into(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        ("{}".into(), "application/json", StatusCode::BAD_REQUEST),
        (
            r#"{"user": {}}"#.into(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"user": {"name": 7}}"#.into(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"user": {"name": "x", "enabled": "yes"}}"#.into(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"user": {"name": "x", "domain_id": "nope"}}"#.into(),
            "application/json",
            StatusCode::NOT_FOUND,
        ),
        (
            r#"{"user": {"name": ""}}"#.into(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            format!(r#"{{"user": {{"name": "{}"}}}}"#, "n".repeat(300)),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"user": {"name": "x"}}"#.into(),
            "text/plain",
            StatusCode::BAD_REQUEST,
        ),
        (
            format!(r#"{{"user": {{"name": "{}"}}}}"#, "n".repeat(200_000)),
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (body, ct, want) in cases {
        let resp = send(body.clone(), ct).await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, want, "{}: {text}", &body[..body.len().min(60)]);
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        assert_eq!(v["error"]["code"], want.as_u16());
        assert!(v["error"]["title"].is_string() && v["error"]["message"].is_string());
    }
    let (status, _, body) = s
        .call(Method::GET, "/v3/users/nope", Some(&admin), None)
        .await;
    assert_eq!(
        (status, body["error"]["message"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "Could not find user: nope.")
    );
    let (status, _, body) = s
        .call(Method::GET, "/v3/no-such-thing", Some(&admin), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_u64()),
        (StatusCode::NOT_FOUND, Some(404))
    );
    let resp = s
        .client
        .put(format!("{}/v3/auth/tokens", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(resp.headers().contains_key("allow"));
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 405);
    let (status, _, _) = s
        .call(
            Method::POST,
            "/v3/auth/tokens",
            None,
            Some(json!({"auth": {"identity": {"methods": ["password"]}}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = s.call(Method::POST, "/v3/auth/tokens", None, Some(json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "x"}}}}}))).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a user by name needs a domain"
    );
    s.stop().await;
}

#[tokio::test]
async fn connection_cap_and_header_limit_hold() {
    let s = TestServer::start_with("sqlite", "max_connections = 2\n").await;
    // The harness's client holds one kept-alive connection; a second client takes the last slot.
    let fresh = || {
        let ca = std::fs::read(format!("{}/tls/cert.pem", s.data_dir())).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .build()
            .unwrap()
    };
    assert_eq!(
        s.client
            .get(format!("{}/healthz", s.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let second = fresh();
    assert_eq!(
        second
            .get(format!("{}/healthz", s.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let third = fresh();
    assert!(
        third
            .get(format!("{}/healthz", s.base))
            .send()
            .await
            .is_err(),
        "a third connection is refused"
    );
    drop(second);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        fresh()
            .get(format!("{}/healthz", s.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "a slot frees when a connection closes"
    );

    let resp = s
        .client
        .get(format!("{}/healthz", s.base))
        .header("X-Big", "x".repeat(64 * 1024))
        .send()
        .await;
    match resp {
        Ok(r) => assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        Err(e) => assert!(e.is_request() || e.is_connect() || e.is_body(), "{e}"),
    }
    s.stop().await;
}

#[tokio::test]
async fn unknown_user_names_count_against_the_source_like_wrong_passwords() {
    let s = TestServer::start_with("sqlite", "[oauth2]\nsource_failures_per_minute = 4\n").await;
    let attempt = |name: String| {
        let s = &s;
        async move {
            s.call(
                reqwest::Method::POST,
                "/v3/auth/tokens",
                None,
                Some(serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
                    "name": name, "domain": {"id": "default"}, "password": "guess"}}}}})),
            )
            .await
        }
    };
    for i in 0..4 {
        let (status, _, body) = attempt(format!("nobody-{i}")).await;
        assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "{body}");
    }
    let (status, headers, body) = attempt("nobody-else".into()).await;
    assert_eq!(status, reqwest::StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(body["error"]["code"], 429);
    s.stop().await;
}

/// A user who is backed off is refused before any lookup: with the database gone, the next guess still answers 429
/// (not 503), whether it names the user by name or by id.
#[tokio::test]
async fn a_throttled_password_guess_is_refused_before_any_query() {
    let s = TestServer::start_with("sqlite", "[oauth2]\nclient_failure_threshold = 2\n").await;
    let (_, _, me) = s
        .call(
            reqwest::Method::GET,
            "/v3/users?name=admin",
            Some(&s.admin_token().await),
            None,
        )
        .await;
    let admin_id = me["users"][0]["id"].as_str().unwrap().to_string();
    let by_name =
        serde_json::json!({"name": "admin", "domain": {"id": "default"}, "password": "guess"});
    let by_id = serde_json::json!({"id": admin_id, "password": "guess"});
    let attempt = |user: &serde_json::Value| {
        let body = serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": user}}}});
        s.call(reqwest::Method::POST, "/v3/auth/tokens", None, Some(body))
    };
    for _ in 0..2 {
        let (status, _, body) = attempt(&by_name).await;
        assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "{body}");
    }
    // Backed off by name: the same user by id is backed off too (the user's own key counted the failures).
    s.cut_database().await;
    for user in [&by_name, &by_id] {
        let (status, _, body) = attempt(user).await;
        assert_eq!(
            status,
            reqwest::StatusCode::TOO_MANY_REQUESTS,
            "{user}: {body}"
        );
        assert_eq!(body["error"]["code"], 429);
    }
    s.stop().await;
}

/// `GET /v3/auth/projects` is answered from memory on repeat, yet a grant, a revocation or a disabled project
/// shows at once.
#[tokio::test]
async fn my_projects_follow_every_change() {
    crate::common::each_backend(my_projects_on).await;
}

async fn my_projects_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let make = |path: &'static str, body: serde_json::Value| {
        let (s, admin) = (&s, admin.clone());
        async move {
            let (status, _, v) = s.call(Method::POST, path, Some(&admin), Some(body)).await;
            assert_eq!(status, StatusCode::CREATED, "{v}");
            v
        }
    };
    let p1 = make("/v3/projects", json!({"project": {"name": "mine-1"}})).await["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p2 = make("/v3/projects", json!({"project": {"name": "mine-2"}})).await["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let uid = make(
        "/v3/users",
        json!({"user": {"name": "lister", "password": "lister-pw"}}),
    )
    .await["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, _, roles) = s
        .call(Method::GET, "/v3/roles?name=member", Some(&admin), None)
        .await;
    let member = roles["roles"][0]["id"].as_str().unwrap().to_string();
    let grant = |method: Method, project: String| {
        let (s, admin, uid, member) = (&s, admin.clone(), uid.clone(), member.clone());
        async move {
            let path = format!("/v3/projects/{project}/users/{uid}/roles/{member}");
            let (status, _, v) = s.call(method, &path, Some(&admin), None).await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
        }
    };
    grant(Method::PUT, p1.clone()).await;
    let (status, token, body) = s.password_token("lister", "lister-pw", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mine = || async {
        let (status, _, v) = s
            .call(Method::GET, "/v3/auth/projects", Some(&token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let mut names: Vec<String> = v["projects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(mine().await, ["mine-1"]);
    assert_eq!(mine().await, ["mine-1"], "the repeat, from memory");
    grant(Method::PUT, p2.clone()).await;
    assert_eq!(
        mine().await,
        ["mine-1", "mine-2"],
        "{backend}: a grant shows at once"
    );
    let (status, _, v) = s
        .call(
            Method::PATCH,
            &format!("/v3/projects/{p2}"),
            Some(&admin),
            Some(json!({"project": {"enabled": false}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        mine().await,
        ["mine-1"],
        "{backend}: a disabled project leaves at once"
    );
    grant(Method::DELETE, p1).await;
    assert!(
        mine().await.is_empty(),
        "{backend}: a revoked grant leaves at once"
    );
    s.stop().await;
}
