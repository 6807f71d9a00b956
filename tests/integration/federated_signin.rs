//! Federated sign-in (issue 32) on every backend: an identity provider this test serves over HTTPS (discovery and
//! JWKS, as Kubernetes and GitHub Actions serve theirs) signs tokens; Lintel validates them itself, maps them to
//! federated users and groups, and refuses every token that breaks a rule with Keystone's 401, audited.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Json;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{each_backend, TestServer};
use crate::mtls::{assertion, client_with, es256_key, Pki};

/// An OpenID Connect issuer on loopback: `https://127.0.0.1:PORT/{tenant}` for any tenant, one key set.
pub(crate) struct Issuer {
    /// How many times its JWKS was fetched.
    pub(crate) fetches: Arc<std::sync::atomic::AtomicUsize>,
    pub(crate) base: String,
    pub(crate) pki: Pki,
    pub(crate) key: jsonwebtoken::EncodingKey,
    handle: axum_server::Handle<std::net::SocketAddr>,
}

impl Issuer {
    pub(crate) async fn start() -> Issuer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pki = Pki::new();
        let (cert, key_pem) = pki.server_cert("127.0.0.1");
        let (key, jwk) = es256_key("k1");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        let jwks = Arc::new(json!({"keys": [jwk]}));
        let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = fetches.clone();
        let origin = base.clone();
        let app = axum::Router::new()
            .route(
                "/{tenant}/.well-known/openid-configuration",
                get(move |Path(t): Path<String>| {
                    let iss = format!("{origin}/{t}");
                    async move { Json(json!({"issuer": iss, "jwks_uri": format!("{iss}/jwks")})) }
                }),
            )
            .route(
                "/{tenant}/jwks",
                get(move |State(j): State<Arc<Value>>| {
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    async move { Json((*j).clone()) }
                }),
            )
            .with_state(jwks);
        let tls = axum_server::tls_rustls::RustlsConfig::from_pem(
            cert.into_bytes(),
            key_pem.into_bytes(),
        )
        .await
        .unwrap();
        let handle = axum_server::Handle::new();
        let server = axum_server::from_tcp_rustls(listener, tls)
            .unwrap()
            .handle(handle.clone());
        tokio::spawn(server.serve(app.into_make_service()));
        Issuer {
            fetches,
            base,
            pki,
            key,
            handle,
        }
    }

    pub(crate) fn issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}", self.base)
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        assertion(&self.key, "k1", claims)
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

async fn call(s: &TestServer, m: Method, path: &str, t: &str, body: Value) -> (StatusCode, Value) {
    let (status, _, body) = s.call(m, path, Some(t), Some(body)).await;
    (status, body)
}

/// Register a provider for `issuer` with a mapping and the `openid` protocol.
pub(crate) async fn provider(
    s: &TestServer,
    admin: &str,
    id: &str,
    issuer: &str,
    extra: Value,
    rules: Value,
) {
    let mut idp = json!({"enabled": true, "remote_ids": [issuer], "audience": "lintel-test"});
    idp.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let base = format!("/v3/OS-FEDERATION/identity_providers/{id}");
    let (st, b) = call(
        s,
        Method::PUT,
        &base,
        admin,
        json!({"identity_provider": idp}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let mapping = format!("/v3/OS-FEDERATION/mappings/{id}-map");
    let (st, b) = call(
        s,
        Method::PUT,
        &mapping,
        admin,
        json!({"mapping": {"rules": rules}}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let proto = format!("{base}/protocols/openid");
    let (st, b) = call(
        s,
        Method::PUT,
        &proto,
        admin,
        json!({"protocol": {"mapping_id": format!("{id}-map")}}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
}

/// A group in the Default domain with `member` on a new project; the project's id.
pub(crate) async fn group_on_project(
    s: &TestServer,
    admin: &str,
    group: &str,
    project: &str,
) -> String {
    let (st, g) = call(
        s,
        Method::POST,
        "/v3/groups",
        admin,
        json!({"group": {"name": group}}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    let (st, p) = call(
        s,
        Method::POST,
        "/v3/projects",
        admin,
        json!({"project": {"name": project}}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let (_, _, roles) = s
        .call(Method::GET, "/v3/roles?name=member", Some(admin), None)
        .await;
    let (gid, pid, rid) = (
        g["group"]["id"].as_str().unwrap(),
        p["project"]["id"].as_str().unwrap().to_string(),
        roles["roles"][0]["id"].as_str().unwrap(),
    );
    let path = format!("/v3/projects/{pid}/groups/{gid}/roles/{rid}");
    let (st, _, _) = s.call(Method::PUT, &path, Some(admin), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    pid
}

async fn sign_in(s: &TestServer, idp: &str, token: &str) -> (StatusCode, String, Value) {
    let resp = s
        .client
        .post(format!(
            "{}/v3/OS-FEDERATION/identity_providers/{idp}/protocols/openid/auth",
            s.base
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let subject = resp
        .headers()
        .get("x-subject-token")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, subject, resp.json().await.unwrap_or(Value::Null))
}

async fn rescope(s: &TestServer, token: &str, project: &str) -> (StatusCode, String, Value) {
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
                               "scope": {"project": {"id": project}}}});
    let (st, h, b) = s
        .call(Method::POST, "/v3/auth/tokens", None, Some(body))
        .await;
    let t = h
        .get("x-subject-token")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (st, t, b)
}

#[tokio::test]
async fn kubernetes_and_github_tokens_sign_in_as_their_rules_say() {
    let issuer = Issuer::start().await;
    let issuer = &issuer;
    each_backend(|backend| async move {
        let conf = format!(
            "[federation]\nca_file = {}\n[audit]\ndestination = file\n",
            issuer.pki.ca_file
        );
        let s = TestServer::start_with(backend, &conf).await;
        let admin = s.admin_token().await;
        let ci = group_on_project(&s, &admin, "k8s-ci", "ci").await;
        let k8s_rules = json!([{
            "local": [{"user": {"name": "{0}"}}, {"group": {"name": "k8s-ci", "domain": {"id": "default"}}}],
            "remote": [{"type": "sub"}, {"type": "kubernetes.io.namespace", "any_one_of": ["ci"]}]
        }]);
        let k8s_iss = issuer.issuer("k8s");
        provider(&s, &admin, "k8s", &k8s_iss, json!({}), k8s_rules).await;
        let now = s.clock.unix();
        let k8s = |sub: &str, ns: &str, over: Value| {
            let mut c = json!({"iss": k8s_iss, "sub": sub, "aud": ["lintel-test"], "exp": now + 600,
                               "iat": now, "nbf": now,
                               "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": "x"}}});
            c.as_object_mut().unwrap().extend(over.as_object().unwrap().clone());
            c
        };

        // A projected service-account token: an unscoped token, rescoped to the group's project.
        let (st, unscoped, body) = sign_in(&s, "k8s", &issuer.sign(&k8s("system:serviceaccount:ci:builder", "ci", json!({})))).await;
        assert_eq!(st, StatusCode::CREATED, "{backend}: {body}");
        assert_eq!(body["token"]["methods"], json!(["openid"]), "{backend}");
        assert_eq!(body["token"]["user"]["name"], "system:serviceaccount:ci:builder");
        let (st, scoped, body) = rescope(&s, &unscoped, &ci).await;
        assert_eq!(st, StatusCode::CREATED, "{backend}: {body}");
        let roles: Vec<&str> = body["token"]["roles"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert!(roles.contains(&"member"), "{backend}: {body}");
        // The federated user is a user like any other to `openstack user list`.
        let (_, _, users) = s.call(Method::GET, "/v3/users?name=system:serviceaccount:ci:builder", Some(&admin), None).await;
        assert_eq!(users["users"].as_array().unwrap().len(), 1, "{backend}: {users}");

        // GitHub Actions: the repository and branch decide; each jti once.
        let gh_iss = issuer.issuer("gh");
        let gh_rules = json!([{
            "local": [{"user": {"name": "{0}"}}, {"group": {"name": "k8s-ci", "domain": {"id": "default"}}},
                      {"projects": [{"name": "gh-{1}", "roles": [{"name": "reader"}]}]}],
            "remote": [{"type": "sub"}, {"type": "repository", "any_one_of": ["org/app"]},
                       {"type": "ref", "any_one_of": ["refs/heads/main"]}, {"type": "repository"}]
        }]);
        provider(&s, &admin, "gh", &gh_iss, json!({"require_jti": true, "max_token_lifetime": 900}), gh_rules).await;
        let gh = |jti: &str, reference: &str| json!({"iss": gh_iss, "aud": "lintel-test", "exp": now + 300, "iat": now,
            "sub": "repo:org/app:ref:refs/heads/main", "repository": "org/app", "ref": reference,
            "environment": "prod", "jti": jti});
        let once = issuer.sign(&gh("run-1", "refs/heads/main"));
        let (st, gh_token, body) = sign_in(&s, "gh", &once).await;
        assert_eq!(st, StatusCode::CREATED, "{backend}: {body}");
        // The mapping's project is provisioned in the provider's domain, with the mapped role on it.
        let (_, _, projects) = s.call(Method::GET, "/v3/projects?name=gh-org/app", Some(&admin), None).await;
        let provisioned = projects["projects"][0]["id"].as_str().unwrap_or_default().to_string();
        assert!(!provisioned.is_empty(), "{backend}: {projects}");
        let (st, _, body) = rescope(&s, &gh_token, &provisioned).await;
        assert_eq!(st, StatusCode::CREATED, "{backend}: {body}");
        assert_eq!(body["token"]["roles"][0]["name"], "reader", "{backend}: {body}");

        // The same token shape on the OAuth 2.0 endpoint (RFC 7523 §2.1): an access token with nothing stored.
        let grant = |assertion: String, scope: Option<String>| {
            let mut form = vec![
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer".to_string()),
                ("assertion", assertion),
            ];
            form.extend(scope.map(|sc| ("scope", sc)));
            s.client.post(format!("{}/v3/OS-OAUTH2/token", s.base)).form(&form).send()
        };
        // Roles on two projects now (the group's, the provisioned one): the request names one.
        let resp = grant(issuer.sign(&gh("run-3", "refs/heads/main")), None).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{backend}: which project?");
        let resp = grant(issuer.sign(&gh("run-6", "refs/heads/main")), Some(format!("project:{ci} member"))).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{backend}");
        let body: Value = resp.json().await.unwrap();
        let (st, v) = s.validate(&admin, body["access_token"].as_str().unwrap()).await;
        assert_eq!(st, StatusCode::OK, "{backend}: {v}");
        assert_eq!(v["token"]["project"]["id"], ci.as_str(), "{backend}: the project asked for");
        assert_eq!(v["token"]["methods"], json!(["openid"]));
        let resp = grant(issuer.sign(&gh("run-4", "refs/heads/main")), Some("project:elsewhere".into())).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{backend}");
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_scope");
        let resp = grant(issuer.sign(&gh("run-5", "refs/heads/feature")), None).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{backend}");
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_grant");

        // Every refusal is Keystone's 401, and an audit event.
        let (other_key, _) = es256_key("k9");
        let unknown_kid = assertion(&other_key, "k9", &k8s("system:serviceaccount:ci:builder", "ci", json!({})));
        let hs256 = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &k8s("system:serviceaccount:ci:builder", "ci", json!({})),
            &jsonwebtoken::EncodingKey::from_secret(b"shared"),
        )
        .unwrap();
        let cases = [
            ("k8s", issuer.sign(&k8s("system:serviceaccount:ci:builder", "ci", json!({"aud": "someone-else"}))), "aud"),
            ("k8s", issuer.sign(&k8s("system:serviceaccount:ci:builder", "ci", json!({"exp": now - 600, "iat": now - 1200, "nbf": now - 1200}))), "expired"),
            ("k8s", issuer.sign(&k8s("system:serviceaccount:ci:builder", "ci", json!({"exp": now + 7200}))), "longer"),
            ("k8s", unknown_kid, "kid"),
            ("k8s", hs256, "alg"),
            ("k8s", issuer.sign(&k8s("system:serviceaccount:ci:builder", "ci", json!({"iss": issuer.issuer("elsewhere")}))), "issuer"),
            ("k8s", issuer.sign(&k8s("system:serviceaccount:ci:default", "ci", json!({}))), "default service account"),
            ("k8s", issuer.sign(&k8s("system:serviceaccount:prod:builder", "prod", json!({}))), "map"),
            ("gh", once, "already used"),
            ("gh", issuer.sign(&gh("run-2", "refs/heads/feature")), "map"),
        ];
        for (idp, token, says) in &cases {
            let (st, _, body) = sign_in(&s, idp, token).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "{backend}: {says}: {body}");
            assert_eq!(body["error"]["code"], 401, "{backend}: {says}");
            let message = body["error"]["message"].as_str().unwrap_or_default().to_lowercase();
            assert!(message.contains(says), "{backend}: {says}: {message}");
        }

        // Disabling the provider refuses at once and takes its tokens away; deleting it removes its users.
        let idp = "/v3/OS-FEDERATION/identity_providers/k8s";
        let (st, _) = call(&s, Method::PATCH, idp, &admin, json!({"identity_provider": {"enabled": false}})).await;
        assert_eq!(st, StatusCode::OK);
        let (st, _, _) = sign_in(&s, "k8s", &issuer.sign(&k8s("system:serviceaccount:ci:builder", "ci", json!({})))).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{backend}: disabled");
        let (st, _) = s.validate(&admin, &scoped).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{backend}: the disabled provider's token is revoked");
        let (st, _, _) = s.call(Method::DELETE, idp, Some(&admin), None).await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (_, _, users) = s.call(Method::GET, "/v3/users?name=system:serviceaccount:ci:builder", Some(&admin), None).await;
        assert_eq!(users["users"], json!([]), "{backend}: the provider's users go with it");

        // The audit trail has each sign-in, with the provider and subject, and each refusal's reason.
        let file = std::path::Path::new(&s.data_dir()).join("audit.log");
        let mut text = String::new();
        for _ in 0..100 {
            text = std::fs::read_to_string(&file).unwrap_or_default();
            if text.contains("default service account") && text.contains("provider disabled") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        for reason in ["wrong audience", "expired", "lifetime too long", "unknown kid", "algorithm not allowed",
                       "wrong issuer", "default service account", "not mapped", "replayed jti", "provider disabled"] {
            assert!(text.contains(reason), "{backend}: no audit event says {reason}");
        }
        assert!(text.contains("k8s:system:serviceaccount:ci:builder"), "{backend}: the subject is named");
        s.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_spiffe_svid_over_mutual_tls_maps_as_its_rules_say() {
    let workloads = Pki::new();
    let strangers = Pki::new();
    let (workloads, strangers) = (&workloads, &strangers);
    each_backend(|backend| async move {
        let s = TestServer::start_with(backend, "[federation]\nx509_svids = true\n").await;
        let admin = s.admin_token().await;
        let project = group_on_project(&s, &admin, "mesh", "mesh-project").await;
        let rules = json!([{
            "local": [{"user": {"name": "{0}"}}, {"group": {"name": "mesh", "domain": {"id": "default"}}}],
            "remote": [{"type": "spiffe_id"}, {"type": "path", "any_one_of": ["^/ns/ci/"], "regex": true}]
        }]);
        provider(&s, &admin, "spire", "spiffe://example.org",
                 json!({"trust_bundle": workloads.ca_pem()}), rules).await;
        let post = |cert: Option<&crate::mtls::ClientCertificate>| {
            let client = client_with(&s, cert);
            let url = format!("{}/v3/OS-FEDERATION/identity_providers/spire/protocols/openid/auth", s.base);
            async move { client.post(url).send().await.unwrap() }
        };
        let resp = post(Some(&workloads.svid("spiffe://example.org/ns/ci/sa/builder"))).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "{backend}");
        let token = resp.headers()["x-subject-token"].to_str().unwrap().to_string();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["token"]["user"]["name"], "spiffe://example.org/ns/ci/sa/builder");
        let (st, _, scoped) = rescope(&s, &token, &project).await;
        assert_eq!(st, StatusCode::CREATED, "{backend}: {scoped}");

        // Refused: another trust domain, another namespace, a CA the provider does not trust, no certificate.
        for (cert, what) in [
            (Some(workloads.svid("spiffe://other.org/ns/ci/sa/builder")), "trust domain"),
            (Some(workloads.svid("spiffe://example.org/ns/prod/sa/builder")), "namespace"),
            (Some(strangers.svid("spiffe://example.org/ns/ci/sa/builder")), "untrusted CA"),
            (None, "no certificate"),
        ] {
            let resp = post(cert.as_ref()).await;
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{backend}: {what}");
        }
        s.stop().await;
    })
    .await;
}

#[tokio::test]
async fn keys_are_fetched_again_sparingly_and_kept_through_an_outage() {
    let issuer = Issuer::start().await;
    let conf = format!(
        "[federation]\nca_file = {}\njwks_refresh_interval = 1\n",
        issuer.pki.ca_file
    );
    let s = TestServer::start_with("sqlite", &conf).await;
    let admin = s.admin_token().await;
    let project = group_on_project(&s, &admin, "ops", "ops-project").await;
    let rules = json!([{"local": [{"user": {"name": "{0}"}}, {"group": {"name": "ops", "domain": {"id": "default"}}}],
                        "remote": [{"type": "sub"}]}]);
    let iss = issuer.issuer("ops");
    provider(&s, &admin, "ops", &iss, json!({}), rules).await;
    let now = s.clock.unix();
    let claims = |sub: &str| json!({"iss": iss, "sub": sub, "aud": "lintel-test", "exp": now + 300, "iat": now});
    let (st, _, body) = sign_in(&s, "ops", &issuer.sign(&claims("robot"))).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let fetched = issuer.fetches.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(fetched, 1);
    // Unknown kids: one fetch again at most per refresh interval (a second here), however many tokens name one.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (stranger, _) = es256_key("k-new");
    for n in 0..5 {
        let (st, _, _) = sign_in(
            &s,
            "ops",
            &assertion(&stranger, "k-new", &claims(&format!("x{n}"))),
        )
        .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
    }
    // (Two on a machine so loaded that the five took over a second.)
    let refetched = issuer.fetches.load(std::sync::atomic::Ordering::SeqCst) - fetched;
    assert!(
        (1..=2).contains(&refetched),
        "fetched again {refetched} times for 5 tokens"
    );
    // The provider goes away: its keys are kept, and its tokens still sign in.
    let token = issuer.sign(&claims("robot"));
    drop(issuer);
    let (st, unscoped, body) = sign_in(&s, "ops", &token).await;
    assert_eq!(st, StatusCode::CREATED, "through the outage: {body}");
    let (st, scoped, _) = rescope(&s, &unscoped, &project).await;
    assert_eq!(st, StatusCode::CREATED);
    // Deleting the mapping takes away what its sign-ins issued.
    let (st, _, _) = s
        .call(
            Method::DELETE,
            "/v3/OS-FEDERATION/mappings/ops-map",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.validate(&admin, &scoped).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "revoked with the mapping");
    let (st, _, _) = sign_in(&s, "ops", &token).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "no mapping, no sign-in");
    s.stop().await;
}
