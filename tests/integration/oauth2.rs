//! `POST /v3/OS-OAUTH2/token`: the client credentials grant, its errors, and the tokens it issues.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{role_names, TestServer};

struct Client {
    id: String,
    secret: String,
}

async fn credential(s: &TestServer, admin: &str, body: Value) -> Client {
    let (status, c) = s.create_admin_credential(admin, body).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    Client {
        id: c["id"].as_str().unwrap().into(),
        secret: c["secret"].as_str().unwrap().into(),
    }
}

async fn post(
    s: &TestServer,
    auth: Option<&str>,
    body: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = s
        .client
        .post(format!("{}/v3/OS-OAUTH2/token", s.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn assert_invalid_client(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &Value,
    what: &str,
) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
    assert_eq!(
        body,
        &json!({"error": "invalid_client", "error_description": "Client authentication failed."}),
        "{what}"
    );
    let challenges: Vec<_> = headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("Basic realm=")),
        "{what}: {challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.starts_with("Keystone uri=")),
        "{what}: {challenges:?}"
    );
}

#[tokio::test]
async fn client_credentials_grant_issues_a_working_bearer_token() {
    crate::common::each_backend(|backend| async move {
        let s = TestServer::start(backend).await;
        let admin = s.admin_token().await;
        let c = credential(
            &s,
            &admin,
            json!({"name": "machine", "roles": [{"name": "member"}]}),
        )
        .await;
        let (status, headers, body) = post(
            &s,
            Some(&basic(&c.id, &c.secret)),
            "grant_type=client_credentials",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["pragma"], "no-cache");
        assert_eq!(body["token_type"], "Bearer");
        let expires_in = body["expires_in"].as_i64().unwrap();
        assert!((3595..=3600).contains(&expires_in), "{expires_in}");
        assert!(body.get("scope").is_none());
        let token = body["access_token"].as_str().unwrap().to_string();

        let (status, v) = s.validate(&admin, &token).await;
        assert_eq!(status, StatusCode::OK, "{backend}");
        assert_eq!(v["token"]["methods"], json!(["application_credential"]));
        assert_eq!(role_names(&v), vec!["member", "reader"]);
        assert_eq!(v["token"]["project"]["name"], "admin");
        assert_eq!(v["token"]["application_credential"]["id"], c.id.as_str());
        let resp = s
            .client
            .get(format!("{}/v3/auth/projects", s.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "the access token works as a Bearer token"
        );

        // client_secret_post, and a repeated request served from the verified-secret cache.
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            c.id, c.secret
        );
        assert_eq!(post(&s, None, &form).await.0, StatusCode::OK, "{backend}");
        assert_eq!(
            post(
                &s,
                Some(&basic(&c.id, &c.secret)),
                "grant_type=client_credentials"
            )
            .await
            .0,
            StatusCode::OK
        );
        s.stop().await;
    })
    .await;
}

#[tokio::test]
async fn scope_narrows_roles() {
    crate::common::each_backend(scope_narrows_roles_on).await;
}

async fn scope_narrows_roles_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let c = credential(&s, &admin, json!({"name": "wide"})).await;
    let (status, _, body) = post(
        &s,
        Some(&basic(&c.id, &c.secret)),
        "grant_type=client_credentials&scope=member",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "member");
    let (_, v) = s
        .validate(&admin, body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(
        role_names(&v),
        vec!["member", "reader"],
        "narrowed to member and what it implies"
    );
    let (status, _, body) = post(
        &s,
        Some(&basic(&c.id, &c.secret)),
        "grant_type=client_credentials&scope=member+nonsense",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    s.stop().await;
}

#[tokio::test]
async fn errors_follow_rfc_6749() {
    crate::common::each_backend(errors_follow_rfc_6749_on).await;
}

async fn errors_follow_rfc_6749_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let c = credential(&s, &admin, json!({"name": "errs"})).await;
    let good = basic(&c.id, &c.secret);

    let (status, _, body) = post(&s, Some(&good), "").await;
    assert_eq!(
        (status, body.clone()),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_request", "error_description": "The parameter grant_type is required."})
        )
    );
    let (status, _, body) = post(&s, Some(&basic("nobody", "wrong")), "grant_type=password").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type")),
        "grant_type before client authentication"
    );
    let resp = s
        .client
        .post(format!("{}/v3/OS-OAUTH2/token", s.base))
        .header("Authorization", &good)
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "JSON is not a form");

    let cases = [
        (None, "no client authentication"),
        (Some("Basic !!!not-base64!!!".to_string()), "not base64"),
        (
            Some(format!("Basic {}", STANDARD.encode(&c.id))),
            "no colon",
        ),
        (
            Some(format!("Basic {}", STANDARD.encode(format!("{}:", c.id)))),
            "empty secret",
        ),
        (
            Some(format!("Basic {}", STANDARD.encode(":"))),
            "colon only",
        ),
        (
            Some(format!("Basic {}", STANDARD.encode([0xff, b':', 0xfe]))),
            "not UTF-8",
        ),
        (Some("Basic".to_string()), "bare Basic"),
        (Some(format!("Bearer {admin}")), "Bearer scheme"),
        (Some(basic(&c.id, "wrong-secret")), "wrong secret"),
        (
            Some(basic("0123456789abcdef0123456789abcdef", &c.secret)),
            "unknown client",
        ),
    ];
    for (auth, what) in cases {
        let (status, headers, body) =
            post(&s, auth.as_deref(), "grant_type=client_credentials").await;
        assert_invalid_client(status, &headers, &body, what);
    }
    let (status, _, body) = post(
        &s,
        Some(&good),
        &format!("grant_type=client_credentials&client_secret={}", c.secret),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "Basic plus client_secret"
    );
    let (status, _, _) = post(
        &s,
        Some(&good),
        &format!("grant_type=client_credentials&client_id={}", c.id),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a form client_id equal to the Basic id is fine"
    );

    let resp = s
        .client
        .get(format!("{}/v3/OS-OAUTH2/token", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["allow"], "POST");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    // A deleted credential, a disabled user: the same answer.
    let (_, _, me) = s
        .call(Method::GET, "/v3/users?name=admin", Some(&admin), None)
        .await;
    let uid = me["users"][0]["id"].as_str().unwrap().to_string();
    s.call(
        Method::DELETE,
        &format!("/v3/users/{uid}/application_credentials/{}", c.id),
        Some(&admin),
        None,
    )
    .await;
    let (status, headers, body) = post(&s, Some(&good), "grant_type=client_credentials").await;
    assert_invalid_client(status, &headers, &body, "deleted credential");
    s.stop().await;
}

#[tokio::test]
async fn expiry_caps_expires_in_and_disabled_users_are_refused() {
    crate::common::each_backend(expiry_caps_expires_in_and_disabled_users_are_refused_on).await;
}

async fn expiry_caps_expires_in_and_disabled_users_are_refused_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let (_, _, u) = s
        .call(
            Method::POST,
            "/v3/users",
            Some(&admin),
            Some(json!({"user": {"name": "frank", "password": "pw"}})),
        )
        .await;
    let uid = u["user"]["id"].as_str().unwrap().to_string();
    let (_, _, projects) = s
        .call(Method::GET, "/v3/projects?name=admin", Some(&admin), None)
        .await;
    let pid = projects["projects"][0]["id"].as_str().unwrap().to_string();
    let (_, _, roles) = s
        .call(Method::GET, "/v3/roles?name=reader", Some(&admin), None)
        .await;
    let reader = roles["roles"][0]["id"].as_str().unwrap().to_string();
    s.call(
        Method::PUT,
        &format!("/v3/projects/{pid}/users/{uid}/roles/{reader}"),
        Some(&admin),
        None,
    )
    .await;
    let (_, frank, _) = s.password_token("frank", "pw", Some("admin")).await;
    let soon = (s.clock.now() + chrono::Duration::seconds(600))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let (status, _, body) = s.call(Method::POST, &format!("/v3/users/{uid}/application_credentials"), Some(&frank), Some(json!({"application_credential": {"name": "brief", "expires_at": soon, "secret": "a+b c%"}}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, _, body) = post(
        &s,
        Some(&basic(&id, "a+b c%")),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expires_in = body["expires_in"].as_i64().unwrap();
    assert!(
        (590..=600).contains(&expires_in),
        "capped by the credential's expiry, not the config: {expires_in}"
    );
    // authlib form-encodes the Basic components (RFC 6749 §2.3.1): the encoded reading works too.
    let encoded = basic(&id, "a%2Bb+c%25");
    assert_eq!(
        post(&s, Some(&encoded), "grant_type=client_credentials")
            .await
            .0,
        StatusCode::OK
    );

    s.call(
        Method::PATCH,
        &format!("/v3/users/{uid}"),
        Some(&admin),
        Some(json!({"user": {"enabled": false}})),
    )
    .await;
    let (status, headers, body) = post(
        &s,
        Some(&basic(&id, "a+b c%")),
        "grant_type=client_credentials",
    )
    .await;
    assert_invalid_client(status, &headers, &body, "disabled user");
    s.stop().await;
}

#[tokio::test]
async fn plain_http_needs_a_trusted_proxy() {
    let s = TestServer::start_with("sqlite", "insecure_http = true\n").await;
    let resp = s
        .client
        .post(format!("{}/v3/OS-OAUTH2/token", s.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("requires HTTPS"));
    s.stop().await;
}

#[tokio::test]
async fn failed_clients_are_slowed_down_but_a_vouched_secret_never_is() {
    let s = TestServer::start_with(
        "sqlite",
        "[oauth2]\nclient_failure_threshold = 3\nsource_failures_per_minute = 1000\n",
    )
    .await;
    let admin = s.admin_token().await;
    let warm = credential(&s, &admin, json!({"name": "warm"})).await;
    let cold = credential(&s, &admin, json!({"name": "cold"})).await;
    assert_eq!(
        post(
            &s,
            Some(&basic(&warm.id, &warm.secret)),
            "grant_type=client_credentials"
        )
        .await
        .0,
        StatusCode::OK
    );
    for c in [&warm, &cold] {
        for _ in 0..3 {
            let (status, _, _) = post(
                &s,
                Some(&basic(&c.id, "guess")),
                "grant_type=client_credentials",
            )
            .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let (status, headers, body) = post(
            &s,
            Some(&basic(&c.id, "guess")),
            "grant_type=client_credentials",
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::TOO_MANY_REQUESTS, Some("slow_down")),
            "{body}"
        );
        assert!(
            headers["retry-after"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                >= 1
        );
    }
    let (status, _, body) = post(
        &s,
        Some(&basic(&warm.id, &warm.secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the real client, vouched for by the cache, is never locked out: {body}"
    );
    let (status, _, _) = post(
        &s,
        Some(&basic(&cold.id, &cold.secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "an unvouched secret waits out the back-off without argon2"
    );

    // The same throttle guards the application_credential and password methods.
    let body = json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": cold.id, "secret": cold.secret}}}});
    let (status, headers, _) = s
        .call(Method::POST, "/v3/auth/tokens", None, Some(body))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key("retry-after"));
    for _ in 0..3 {
        assert_eq!(
            s.password_token("admin", "wrong", None).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        s.password_token("admin", crate::common::ADMIN_PASSWORD, None)
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    s.stop().await;
}

#[tokio::test]
async fn one_source_cannot_spray_guesses() {
    let s = TestServer::start_with("sqlite", "[oauth2]\nsource_failures_per_minute = 4\n").await;
    for i in 0..4 {
        let (status, _, _) = post(
            &s,
            Some(&basic(&format!("{i:032x}"), "x")),
            "grant_type=client_credentials",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, body) = post(
        &s,
        Some(&basic(&format!("{:032x}", 99), "x")),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("slow_down"))
    );
    s.stop().await;
}

async fn form_post(s: &TestServer, path: &str, auth: &str, body: &str) -> (StatusCode, Value) {
    let resp = s
        .client
        .post(format!("{}{path}", s.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Authorization", auth)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn introspection_revocation_and_metadata() {
    crate::common::each_backend(introspection_revocation_and_metadata_on).await;
}

async fn introspection_revocation_and_metadata_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let client = credential(
        &s,
        &admin,
        json!({"name": "worker", "roles": [{"name": "member"}]}),
    )
    .await;
    let resource = credential(
        &s,
        &admin,
        json!({"name": "api", "roles": [{"name": "admin"}]}),
    )
    .await;
    let (status, _, body) = post(
        &s,
        Some(&basic(&client.id, &client.secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    let introspect = "/v3/OS-OAUTH2/introspect";
    let as_resource = basic(&resource.id, &resource.secret);

    // RFC 7662: the resource server (a credential holding admin) learns who the token is for.
    let (status, claims) = form_post(
        &s,
        introspect,
        &as_resource,
        &format!("token={token}&token_type_hint=access_token"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{backend}: {claims}");
    assert_eq!(claims["active"], true);
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["token_type"], "Bearer");
    assert_eq!(claims["iss"], s.base.as_str());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(claims["username"], "admin");
    assert_eq!(claims["project_name"], "admin");
    assert_eq!(claims["project"]["domain"]["id"], "default");
    let scope: Vec<&str> = claims["scope"].as_str().unwrap().split(' ').collect();
    assert!(
        scope.contains(&"member") && scope.contains(&"reader") && !scope.contains(&"admin"),
        "{claims}"
    );
    assert_eq!(
        claims["roles"].as_str().unwrap().split(',').count(),
        scope.len()
    );

    // A bearer token holding admin may introspect too; a member-only client may not; garbage is inactive.
    let (status, claims) = form_post(
        &s,
        introspect,
        &format!("Bearer {admin}"),
        &format!("token={token}"),
    )
    .await;
    assert_eq!(
        (status, claims["active"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (status, err) = form_post(
        &s,
        introspect,
        &basic(&client.id, &client.secret),
        &format!("token={token}"),
    )
    .await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::FORBIDDEN, json!("access_denied"))
    );
    let (status, claims) = form_post(&s, introspect, &as_resource, "token=gAAAAAnotatoken").await;
    assert_eq!((status, claims), (StatusCode::OK, json!({"active": false})));
    let (status, err) = form_post(
        &s,
        introspect,
        &basic(&resource.id, "wrong"),
        &format!("token={token}"),
    )
    .await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::UNAUTHORIZED, json!("invalid_client"))
    );

    // RFC 7009: only the client the token was issued to revokes it; unknown tokens are fine.
    let revoke = "/v3/OS-OAUTH2/revoke";
    let (status, err) = form_post(&s, revoke, &as_resource, &format!("token={token}")).await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_request"))
    );
    let (status, _) = form_post(
        &s,
        revoke,
        &basic(&client.id, &client.secret),
        "token=gAAAAAnotatoken",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = form_post(
        &s,
        revoke,
        &basic(&client.id, &client.secret),
        &format!("token={token}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Revoking it again is 200 and writes nothing more (no event, no cache flush on every node).
    let events = || async {
        use sea_orm::{EntityTrait, PaginatorTrait};
        entity::revocation_event::Entity::find()
            .count(&s.db)
            .await
            .unwrap()
    };
    let before = events().await;
    let (status, _) = form_post(
        &s,
        revoke,
        &basic(&client.id, &client.secret),
        &format!("token={token}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(events().await, before);
    let (status, claims) = form_post(&s, introspect, &as_resource, &format!("token={token}")).await;
    assert_eq!((status, claims), (StatusCode::OK, json!({"active": false})));
    let (status, _) = s.validate(&admin, &token).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a revoked token no longer validates"
    );
    let (status, _, body) = post(
        &s,
        Some(&basic(&client.id, &client.secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "revoking a token leaves the client able to get another: {body}"
    );

    // RFC 8414 metadata, at the root and under OS-OAUTH2, listing exactly what is enabled.
    for path in [
        "/.well-known/oauth-authorization-server",
        "/v3/OS-OAUTH2/.well-known/oauth-authorization-server",
    ] {
        let (status, _, meta) = s.call(Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(meta["issuer"], s.base.as_str());
        assert_eq!(
            meta["token_endpoint"],
            format!("{}/v3/OS-OAUTH2/token", s.base)
        );
        assert_eq!(
            meta["introspection_endpoint"],
            format!("{}/v3/OS-OAUTH2/introspect", s.base)
        );
        assert_eq!(
            meta["revocation_endpoint"],
            format!("{}/v3/OS-OAUTH2/revoke", s.base)
        );
        assert_eq!(
            meta["grant_types_supported"],
            json!([
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:jwt-bearer"
            ])
        );
        assert_eq!(
            meta["token_endpoint_auth_methods_supported"],
            json!(["client_secret_basic", "client_secret_post"])
        );
        assert_eq!(meta["tls_client_certificate_bound_access_tokens"], false);
    }
    s.stop().await;
}

#[tokio::test]
async fn jwt_access_tokens_verify_offline_and_validate_as_lintel_tokens() {
    crate::common::each_backend(jwt_access_tokens_on).await;
}

/// Verify a JWT against a JWKS document the way a resource server would, offline.
fn verify_offline(token: &str, jwks: &Value, audience: &str) -> Value {
    verify_offline_as(token, jwks, audience, jsonwebtoken::Algorithm::ES256)
}

fn verify_offline_as(
    token: &str,
    jwks: &Value,
    audience: &str,
    alg: jsonwebtoken::Algorithm,
) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, alg);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let kid = header.kid.expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} not in {jwks}"));
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_audience(&[audience]);
    v.set_issuer(&[audience]);
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .unwrap()
        .claims
}

#[tokio::test]
async fn eddsa_jwt_access_tokens() {
    let s = TestServer::start_with(
        "sqlite",
        "[oauth2]\naccess_token_format = jwt\njwt_signing_algorithm = EdDSA",
    )
    .await;
    let admin = s.admin_token().await;
    let client = credential(
        &s,
        &admin,
        json!({"name": "ed", "roles": [{"name": "member"}]}),
    )
    .await;
    let auth = basic(&client.id, &client.secret);
    let (status, _, body) = post(&s, Some(&auth), "grant_type=client_credentials").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let (_, _, jwks) = s.call(Method::GET, "/v3/OS-OAUTH2/jwks", None, None).await;
    // The signing algorithm's keys lead (primary first); the ES256 ones follow for tokens signed before a switch.
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4, "{jwks}");
    assert!(
        keys[..2]
            .iter()
            .all(|k| k["kty"] == "OKP" && k["crv"] == "Ed25519"),
        "{jwks}"
    );
    assert_eq!(
        jsonwebtoken::decode_header(token).unwrap().kid.as_deref(),
        keys[0]["kid"].as_str()
    );
    let claims = verify_offline_as(token, &jwks, &s.base, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(claims["client_id"], client.id.as_str());
    let (status, v) = s.validate(&admin, token).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    s.stop().await;
}

async fn jwt_access_tokens_on(backend: &'static str) {
    let s = TestServer::start_with(backend, "[oauth2]\naccess_token_format = jwt").await;
    let admin = s.admin_token().await;
    let client = credential(
        &s,
        &admin,
        json!({"name": "jwt", "roles": [{"name": "member"}]}),
    )
    .await;
    let auth = basic(&client.id, &client.secret);
    let (status, _, body) = post(&s, Some(&auth), "grant_type=client_credentials").await;
    assert_eq!(status, StatusCode::OK, "{backend}: {body}");
    let first = body["access_token"].as_str().unwrap().to_string();
    let (_, _, jwks) = s.call(Method::GET, "/v3/OS-OAUTH2/jwks", None, None).await;
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        4,
        "primary and staged, each ES256 and EdDSA: {jwks}"
    );

    // RFC 9068 claims, verified offline with the published keys.
    let claims = verify_offline(&first, &jwks, &s.base);
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["project_name"], "admin");
    let roles: Vec<&str> = claims["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        roles.contains(&"member") && roles.contains(&"reader") && !roles.contains(&"admin"),
        "{claims}"
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );

    // Still a Lintel token: validation, Bearer on /v3, the metadata's jwks_uri.
    let (status, v) = s.validate(&admin, &first).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["token"]["application_credential"]["id"],
        client.id.as_str()
    );
    assert_eq!(v["token"]["audit_ids"][0], claims["jti"]);
    let (status, _, projects) = s
        .call(Method::GET, "/v3/auth/projects", Some(&first), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{projects}");
    let (_, _, meta) = s
        .call(
            Method::GET,
            "/.well-known/oauth-authorization-server",
            None,
            None,
        )
        .await;
    assert_eq!(meta["jwks_uri"], format!("{}/v3/OS-OAUTH2/jwks", s.base));

    // After a rotation the new primary (the old staged key, already published) signs; old tokens still verify.
    lintel::token::keys::rotate(&std::path::Path::new(&s.data_dir()).join("fernet-keys"), 3)
        .unwrap();
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    let started = std::time::Instant::now();
    let second = loop {
        let (_, _, body) = post(&s, Some(&auth), "grant_type=client_credentials").await;
        let t = body["access_token"].as_str().unwrap().to_string();
        if kid(&t) != kid(&first) {
            break t;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{backend}: the rotation was not picked up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let (_, _, jwks) = s.call(Method::GET, "/v3/OS-OAUTH2/jwks", None, None).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 6, "{jwks}");
    verify_offline(&first, &jwks, &s.base);
    verify_offline(&second, &jwks, &s.base);
    assert_eq!(s.validate(&admin, &first).await.0, StatusCode::OK);

    // Revoked (RFC 7009), a JWT stops validating like any token; a forged signature never validates.
    let (status, _) = form_post(
        &s,
        "/v3/OS-OAUTH2/revoke",
        &auth,
        &format!("token={second}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.validate(&admin, &second).await.0, StatusCode::NOT_FOUND);
    let mut forged = first.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    assert_eq!(s.validate(&admin, &forged).await.0, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn guesses_from_elsewhere_never_lock_out_the_real_client() {
    crate::common::each_backend(guesses_from_elsewhere_on).await;
}

/// A client that sends from 127.0.0.2 and trusts `s`'s certificate.
fn guesser_of(s: &TestServer) -> reqwest::Client {
    let pem = std::fs::read(format!("{}/tls/cert.pem", s.data_dir())).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap()
}

async fn guesses_from_elsewhere_on(backend: &'static str) {
    let conf = "[oauth2]\nclient_failure_threshold = 3\nsource_failures_per_minute = 1000\n";
    let a = TestServer::start_with(backend, conf).await;
    let b = a.another_node(conf).await;
    let admin = a.admin_token().await;
    // Never used yet: nothing in either node's verified-secret cache vouches for it.
    let cold = credential(&a, &admin, json!({"name": "cold"})).await;
    let guessers = [(&a, guesser_of(&a)), (&b, guesser_of(&b))];
    // Round 1: first use on node A; round 2: first use on node B, whose cache never saw the client; round 3:
    // both nodes' clocks 11 minutes on, past every back-off window and the secret cache's idle lifetime.
    for round in 1..=3 {
        if round == 3 {
            for s in [&a, &b] {
                s.clock.advance(std::time::Duration::from_secs(11 * 60));
            }
            // A node of a cluster serves only within 2 s of its last beat on its own clock, which just jumped:
            // wait for the next beats (src/cluster.rs).
            tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        }
        for (s, guesser) in &guessers {
            let mut last = StatusCode::OK;
            for _ in 0..6 {
                last = guesser
                    .post(format!("{}/v3/OS-OAUTH2/token", s.base))
                    .header("Authorization", basic(&cold.id, "guess"))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap()
                    .status();
            }
            assert_eq!(
                last,
                StatusCode::TOO_MANY_REQUESTS,
                "{backend} round {round}: the guesser is slowed down"
            );
        }
        let nodes: &[&TestServer] = if round == 1 { &[&a] } else { &[&b, &a] };
        for s in nodes {
            let (status, _, body) = post(
                s,
                Some(&basic(&cold.id, &cold.secret)),
                "grant_type=client_credentials",
            )
            .await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{backend} round {round}: the real client, from its own address, is not: {body}"
            );
        }
    }
    drop(b);
    a.stop().await;
}
