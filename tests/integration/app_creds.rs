//! Application credentials: Keystone's API, the application_credential method, and their lifecycle rules.

use reqwest::{Method, StatusCode};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{json, Value};

use crate::common::{role_names, TestServer};

async fn me(s: &TestServer, token: &str) -> String {
    let (_, _, body) = s
        .call(Method::GET, "/v3/users?name=admin", Some(token), None)
        .await;
    body["users"][0]["id"].as_str().unwrap().to_string()
}

async fn create(s: &TestServer, token: &str, user: &str, body: Value) -> (StatusCode, Value) {
    let (status, _, body) = s
        .call(
            Method::POST,
            &format!("/v3/users/{user}/application_credentials"),
            Some(token),
            Some(json!({"application_credential": body})),
        )
        .await;
    (status, body)
}

async fn cred_token(s: &TestServer, identity: Value) -> (StatusCode, String, Value) {
    let body = json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": identity}}});
    let (status, headers, body) = s
        .call(Method::POST, "/v3/auth/tokens", None, Some(body))
        .await;
    let token = headers
        .get("x-subject-token")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, token, body)
}

#[tokio::test]
async fn create_show_list_with_keystone_shapes() {
    crate::common::each_backend(create_show_list_with_keystone_shapes_on).await;
}

async fn create_show_list_with_keystone_shapes_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let uid = me(&s, &admin).await;
    let (status, body) = create(
        &s,
        &admin,
        &uid,
        json!({"name": "bench", "description": "d"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let c = &body["application_credential"];
    let secret = c["secret"].as_str().unwrap();
    assert_eq!(
        secret.len(),
        86,
        "64 random bytes, URL-safe base64 without padding"
    );
    assert_eq!(
        c["unrestricted"],
        Value::Null,
        "absent means null, as Keystone echoes it"
    );
    assert_eq!(c["system"], Value::Null);
    assert_eq!(c["user_id"], uid.as_str());
    let mut names: Vec<&str> = c["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["admin", "manager", "member", "reader"],
        "default: all roles of the token"
    );
    assert_eq!(c["roles"][0]["options"], json!({"immutable": true}));
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(
        c["links"]["self"],
        format!("{}/v3/application_credentials/{id}", s.base)
    );

    let (status, body) = create(&s, &admin, &uid, json!({"name": "narrow", "roles": [{"name": "member"}], "expires_at": "2099-01-01T00:00:00", "unrestricted": false,
        "access_rules": [{"service": "identity", "method": "GET", "path": "/v3/users/*"}]})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let c = &body["application_credential"];
    assert_eq!(c["expires_at"], "2099-01-01T00:00:00.000000");
    assert_eq!(c["unrestricted"], false);
    let mut names: Vec<&str> = c["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["member", "reader"], "stored with implied roles");
    assert_eq!(c["access_rules"][0]["path"], "/v3/users/*");
    let (status, body) = create(
        &s,
        &admin,
        &uid,
        json!({"name": "zoned", "expires_at": "2099-01-01T02:00:00+02:00"}),
    )
    .await;
    assert_eq!(
        (
            status,
            body["application_credential"]["expires_at"].as_str()
        ),
        (StatusCode::CREATED, Some("2099-01-01T00:00:00.000000"))
    );

    let (status, _, shown) = s
        .call(
            Method::GET,
            &format!("/v3/users/{uid}/application_credentials/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        shown["application_credential"].get("secret").is_none(),
        "the secret appears only at creation"
    );
    let (_, _, listed) = s
        .call(
            Method::GET,
            &format!("/v3/users/{uid}/application_credentials"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        listed["application_credentials"].as_array().unwrap().len(),
        3
    );
    assert!(listed["application_credentials"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c.get("secret").is_none()));
    let (_, _, named) = s
        .call(
            Method::GET,
            &format!("/v3/users/{uid}/application_credentials?name=narrow"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        named["application_credentials"].as_array().unwrap().len(),
        1
    );
    let (_, _, rules) = s
        .call(
            Method::GET,
            &format!("/v3/users/{uid}/access_rules"),
            Some(&admin),
            None,
        )
        .await;
    let rule_id = rules["access_rules"][0]["id"].as_str().unwrap().to_string();
    let (status, _, _) = s
        .call(
            Method::DELETE,
            &format!("/v3/users/{uid}/access_rules/{rule_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a rule in use stays");

    // Secrets rest as argon2id PHC strings only.
    let row = entity::application_credential::Entity::find_by_id(id.as_str())
        .one(&s.db)
        .await
        .unwrap()
        .unwrap();
    assert!(row.secret_hash.starts_with("$argon2id$") && !row.secret_hash.contains(secret));
    s.stop().await;
}

#[tokio::test]
async fn bad_requests_get_keystone_errors() {
    crate::common::each_backend(bad_requests_get_keystone_errors_on).await;
}

async fn bad_requests_get_keystone_errors_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let uid = me(&s, &admin).await;
    let path = format!("/v3/users/{uid}/application_credentials");
    let cases = [
        (
            json!({"application_credential": {"description": "x"}}),
            StatusCode::BAD_REQUEST,
            "'name' is a required property",
        ),
        (
            json!({"name": "x"}),
            StatusCode::BAD_REQUEST,
            "'application_credential' is a required property",
        ),
        (
            json!({"application_credential": {"name": "x", "bogus_field": 1}}),
            StatusCode::BAD_REQUEST,
            "Additional properties are not allowed ('bogus_field' was unexpected)",
        ),
        (
            json!({"application_credential": {"name": "n".repeat(256)}}),
            StatusCode::BAD_REQUEST,
            "is too long",
        ),
        (
            json!({"application_credential": {"name": "x", "roles": "admin"}}),
            StatusCode::BAD_REQUEST,
            "is not of type 'array'",
        ),
        (
            json!({"application_credential": {"name": "x", "roles": [{"name": "nosuchrole"}]}}),
            StatusCode::NOT_FOUND,
            "Role nosuchrole is not defined",
        ),
        (
            json!({"application_credential": {"name": "x", "expires_at": "2001-01-01T00:00:00"}}),
            StatusCode::BAD_REQUEST,
            "The 'expires_at' must not be before now.",
        ),
        (
            json!({"application_credential": {"name": "x", "expires_at": "tomorrow"}}),
            StatusCode::BAD_REQUEST,
            "Timestamp not in expected format.",
        ),
    ];
    for (body, want, text) in cases {
        let (status, _, got) = s
            .call(Method::POST, &path, Some(&admin), Some(body.clone()))
            .await;
        assert_eq!(status, want, "{body}: {got}");
        assert!(
            got["error"]["message"].as_str().unwrap().contains(text),
            "{body}: {got}"
        );
    }
    let (status, _) = create(&s, &admin, &uid, json!({"name": "dup"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = create(&s, &admin, &uid, json!({"name": "dup"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["message"], "Conflict occurred attempting to store application_credential - Duplicate entry found with name dup.");

    // A role the user does not hold on the project.
    let (status, _, role) = s
        .call(
            Method::POST,
            "/v3/roles",
            Some(&admin),
            Some(json!({"role": {"name": "unheld"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{role}");
    let (status, body) = create(
        &s,
        &admin,
        &uid,
        json!({"name": "x", "roles": [{"id": role["role"]["id"]}]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], "Invalid application credential: Cannot create an application credential with unassigned role");

    // Another user: 403 both ways, admin included for create; 404 for an unknown id.
    let (_, _, bob) = s
        .call(
            Method::POST,
            "/v3/users",
            Some(&admin),
            Some(json!({"user": {"name": "bob", "password": "pw"}})),
        )
        .await;
    let bob_id = bob["user"]["id"].as_str().unwrap().to_string();
    let (status, body) = create(&s, &admin, &bob_id, json!({"name": "for-bob"})).await;
    assert_eq!((status, body["error"]["message"].as_str().unwrap()), (StatusCode::FORBIDDEN, "You are not authorized to perform the requested action: identity:create_application_credential."));
    let (_, _, listed) = s
        .call(
            Method::GET,
            &format!("/v3/users/{uid}/application_credentials?name=dup"),
            Some(&admin),
            None,
        )
        .await;
    let dup = listed["application_credentials"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, bob_token, _) = s.password_token("bob", "pw", None).await;
    for path in [
        format!("/v3/users/{uid}/application_credentials/{dup}"),
        format!("/v3/users/{bob_id}/application_credentials/{dup}"),
    ] {
        let (status, _, body) = s.call(Method::GET, &path, Some(&bob_token), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        let (status, _, _) = s.call(Method::DELETE, &path, Some(&bob_token), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let (status, _, _) = s
        .call(
            Method::GET,
            &format!("/v3/users/{uid}/application_credentials"),
            Some(&bob_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = s
        .call(
            Method::GET,
            &format!("/v3/users/{uid}/application_credentials/0123456789abcdef0123456789abcdef"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["message"].as_str().unwrap()),
        (
            StatusCode::NOT_FOUND,
            "Could not find Application Credential: 0123456789abcdef0123456789abcdef."
        )
    );
    s.stop().await;
}

#[tokio::test]
async fn authenticating_with_a_credential() {
    crate::common::each_backend(authenticating_with_a_credential_on).await;
}

async fn authenticating_with_a_credential_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let uid = me(&s, &admin).await;
    let (_, body) = create(
        &s,
        &admin,
        &uid,
        json!({"name": "svc", "roles": [{"name": "reader"}], "secret": "s3cret-value"}),
    )
    .await;
    let id = body["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, token, body) = cred_token(&s, json!({"id": id, "secret": "s3cret-value"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["token"]["methods"], json!(["application_credential"]));
    assert_eq!(role_names(&body), vec!["reader"]);
    assert_eq!(body["token"]["project"]["name"], "admin");
    assert_eq!(
        body["token"]["application_credential"],
        json!({"id": id, "name": "svc", "restricted": true})
    );
    let (status, v) = s.validate(&admin, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["token"]["application_credential"]["name"], "svc");

    let (status, _, _) = cred_token(
        &s,
        json!({"name": "svc", "secret": "s3cret-value", "user": {"id": uid}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "by name and user id");
    let (status, _, _) = cred_token(&s, json!({"name": "svc", "secret": "s3cret-value", "user": {"name": "admin", "domain": {"name": "Default"}}})).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "by name and user name + domain"
    );
    let (status, _, _) = cred_token(&s, json!({"id": id, "secret": "s3cret-valuE"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = cred_token(
        &s,
        json!({"id": "0123456789abcdef0123456789abcdef", "secret": "x"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["message"].as_str().unwrap()),
        (
            StatusCode::NOT_FOUND,
            "Could not find Application Credential: 0123456789abcdef0123456789abcdef."
        )
    );
    let (status, _, body) = cred_token(&s, json!({"secret": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let scoped = json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": id, "secret": "s3cret-value"}}, "scope": {"project": {"id": "x"}}}});
    let (status, _, body) = s
        .call(Method::POST, "/v3/auth/tokens", None, Some(scoped))
        .await;
    assert_eq!((status, body["error"]["message"].as_str().unwrap()), (StatusCode::UNAUTHORIZED, "Error authenticating with application credential: Application credentials cannot request a scope."));

    // Which credentials a restricted credential's token may manage is a rule of credential::manage, unit-tested
    // there; here, only that its token may list them.
    let (status, _, _) = s
        .call(
            Method::GET,
            &format!("/v3/users/{uid}/application_credentials"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn lifecycle_rules_on_every_backend() {
    crate::common::each_backend(|backend| async move {
        let s = TestServer::start(backend).await;
        let admin = s.admin_token().await;
        let (_, _, u) = s
            .call(
                Method::POST,
                "/v3/users",
                Some(&admin),
                Some(json!({"user": {"name": "erin", "password": "pw-erin"}})),
            )
            .await;
        let uid = u["user"]["id"].as_str().unwrap().to_string();
        let (_, _, p) = s
            .call(
                Method::POST,
                "/v3/projects",
                Some(&admin),
                Some(json!({"project": {"name": "lab"}})),
            )
            .await;
        let pid = p["project"]["id"].as_str().unwrap().to_string();
        let (_, _, roles) = s
            .call(Method::GET, "/v3/roles?name=member", Some(&admin), None)
            .await;
        let member = roles["roles"][0]["id"].as_str().unwrap().to_string();
        let (_, _, extra) = s
            .call(
                Method::POST,
                "/v3/roles",
                Some(&admin),
                Some(json!({"role": {"name": "extra"}})),
            )
            .await;
        let extra = extra["role"]["id"].as_str().unwrap().to_string();
        for r in [&member, &extra] {
            s.call(
                Method::PUT,
                &format!("/v3/projects/{pid}/users/{uid}/roles/{r}"),
                Some(&admin),
                None,
            )
            .await;
        }
        let (_, erin, _) = s.password_token("erin", "pw-erin", Some("lab")).await;
        let mk = |name: &str| json!({"name": name, "secret": "sec", "roles": [{"name": "member"}]});
        let (status, c1) = create(&s, &erin, &uid, mk("one")).await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {c1}");
        let c1 = c1["application_credential"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (_, c2) = create(
            &s,
            &erin,
            &uid,
            json!({"name": "two", "secret": "sec", "roles": [{"name": "extra"}]}),
        )
        .await;
        let c2 = c2["application_credential"]["id"]
            .as_str()
            .unwrap()
            .to_string();

        // Password changes revoke tokens but leave credentials working.
        let (_, t1, _) = cred_token(&s, json!({"id": c1, "secret": "sec"})).await;
        s.call(
            Method::PATCH,
            &format!("/v3/users/{uid}"),
            Some(&admin),
            Some(json!({"user": {"password": "pw-new"}})),
        )
        .await;
        assert_eq!(
            s.validate(&admin, &t1).await.0,
            StatusCode::NOT_FOUND,
            "{backend}"
        );
        assert_eq!(
            cred_token(&s, json!({"id": c1, "secret": "sec"})).await.0,
            StatusCode::CREATED,
            "{backend}"
        );

        // Disabling the user stops its credentials until it is enabled again.
        s.call(
            Method::PATCH,
            &format!("/v3/users/{uid}"),
            Some(&admin),
            Some(json!({"user": {"enabled": false}})),
        )
        .await;
        assert_eq!(
            cred_token(&s, json!({"id": c1, "secret": "sec"})).await.0,
            StatusCode::UNAUTHORIZED,
            "{backend}"
        );
        s.call(
            Method::PATCH,
            &format!("/v3/users/{uid}"),
            Some(&admin),
            Some(json!({"user": {"enabled": true}})),
        )
        .await;
        assert_eq!(
            cred_token(&s, json!({"id": c1, "secret": "sec"})).await.0,
            StatusCode::CREATED,
            "{backend}"
        );

        // Unassigning a role keeps the credential; earlier tokens stop, later ones lack the role.
        let (_, before, body) = cred_token(&s, json!({"id": c1, "secret": "sec"})).await;
        assert_eq!(role_names(&body), vec!["member", "reader"]);
        s.call(
            Method::DELETE,
            &format!("/v3/projects/{pid}/users/{uid}/roles/{member}"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(
            s.validate(&admin, &before).await.0,
            StatusCode::NOT_FOUND,
            "{backend}"
        );
        let (status, _, _) = cred_token(&s, json!({"id": c1, "secret": "sec"})).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{backend}: no role left on the project"
        );
        let count = entity::application_credential::Entity::find()
            .count(&s.db)
            .await
            .unwrap();
        assert_eq!(count, 2, "{backend}: the credential is kept");

        // Deleting a role deletes every credential carrying it, and their tokens.
        let (_, t2, _) = cred_token(&s, json!({"id": c2, "secret": "sec"})).await;
        s.call(
            Method::DELETE,
            &format!("/v3/roles/{extra}"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(
            s.validate(&admin, &t2).await.0,
            StatusCode::NOT_FOUND,
            "{backend}"
        );
        assert!(
            entity::application_credential::Entity::find_by_id(c2.as_str())
                .one(&s.db)
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
        assert_eq!(
            entity::application_credential_role::Entity::find()
                .count(&s.db)
                .await
                .unwrap(),
            2,
            "{backend}: only c1's member+reader rows remain"
        );

        // Deleting a credential revokes its tokens; deleting the user removes the rest.
        s.call(
            Method::PUT,
            &format!("/v3/projects/{pid}/users/{uid}/roles/{member}"),
            Some(&admin),
            None,
        )
        .await;
        let (_, t3, _) = cred_token(&s, json!({"id": c1, "secret": "sec"})).await;
        let (_, erin2, _) = s.password_token("erin", "pw-new", Some("lab")).await;
        let (_, c3) = create(&s, &erin2, &uid, mk("three")).await;
        assert!(
            c3["application_credential"]["id"].is_string(),
            "{backend}: {c3}"
        );
        let (status, _, _) = s
            .call(
                Method::DELETE,
                &format!("/v3/users/{uid}/application_credentials/{c1}"),
                Some(&erin2),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            s.validate(&admin, &t3).await.0,
            StatusCode::NOT_FOUND,
            "{backend}"
        );
        s.call(
            Method::DELETE,
            &format!("/v3/users/{uid}"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(
            entity::application_credential::Entity::find()
                .count(&s.db)
                .await
                .unwrap(),
            0,
            "{backend}: cascade"
        );
        assert_eq!(
            entity::application_credential_role::Entity::find()
                .count(&s.db)
                .await
                .unwrap(),
            0,
            "{backend}: no orphans"
        );
        s.stop().await;
    })
    .await;
}

#[tokio::test]
async fn expiry_and_user_limit() {
    crate::common::each_backend(expiry_and_user_limit_on).await;
}

async fn expiry_and_user_limit_on(backend: &'static str) {
    let s = TestServer::start_with(backend, "[application_credential]\nuser_limit = 2\n").await;
    let admin = s.admin_token().await;
    let uid = me(&s, &admin).await;
    let soon = (s.clock.now() + chrono::Duration::minutes(10))
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string();
    let (status, body) = create(
        &s,
        &admin,
        &uid,
        json!({"name": "short", "secret": "x", "expires_at": soon}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, token, body) = cred_token(&s, json!({"id": id, "secret": "x"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        body["token"]["expires_at"].as_str().unwrap(),
        format!("{soon}Z"),
        "the token ends with the credential"
    );
    let (status, body) = create(&s, &admin, &uid, json!({"name": "second"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = create(&s, &admin, &uid, json!({"name": "third"})).await;
    assert_eq!((status, body["error"]["message"].as_str().unwrap()), (StatusCode::FORBIDDEN, "Unable to create additional application credentials, maximum of 2 already exceeded for user."));
    // Past the credential's expiry, not the admin token's.
    s.clock.advance(std::time::Duration::from_secs(601));
    assert_eq!(
        cred_token(&s, json!({"id": id, "secret": "x"})).await.0,
        StatusCode::UNAUTHORIZED,
        "expired"
    );
    assert_eq!(
        s.validate(&admin, &token).await.0,
        StatusCode::NOT_FOUND,
        "its token stopped at the expiry"
    );
    s.stop().await;
}

#[tokio::test]
async fn access_rules_are_enforced_and_hidden_from_old_validators() {
    crate::common::each_backend(access_rules_are_enforced_and_hidden_from_old_validators_on).await;
}

async fn access_rules_are_enforced_and_hidden_from_old_validators_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let uid = me(&s, &admin).await;
    let rules = json!([{"service": "identity", "method": "GET", "path": "/v3/users/*"}]);
    let (_, body) = create(
        &s,
        &admin,
        &uid,
        json!({"name": "ruled", "secret": "x", "access_rules": rules}),
    )
    .await;
    let id = body["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, token, body) = cred_token(&s, json!({"id": id, "secret": "x"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["token"]["application_credential"]["access_rules"][0]["path"],
        "/v3/users/*"
    );

    let (status, _, _) = s
        .call(Method::GET, &format!("/v3/users/{uid}"), Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "allowed by its rule");
    let (status, _, _) = s
        .call(Method::GET, "/v3/projects", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "outside its rules");

    let (status, body) = s.validate(&admin, &token).await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (StatusCode::NOT_FOUND, Some("Failed to validate token")),
        "old middleware must not see it"
    );
    let resp = s
        .client
        .get(format!("{}/v3/auth/tokens", s.base))
        .header("X-Auth-Token", &admin)
        .header("X-Subject-Token", &token)
        .header("OpenStack-Identity-Access-Rules", "1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "a validator that enforces rules gets the token"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["token"]["application_credential"]["access_rules"][0]["method"],
        "GET"
    );
    s.stop().await;
}

#[tokio::test]
async fn user_limit_holds_under_concurrent_creates() {
    crate::common::each_backend(user_limit_holds_under_concurrent_creates_on).await;
}

async fn user_limit_holds_under_concurrent_creates_on(backend: &'static str) {
    use entity::application_credential as ac;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let s = TestServer::start_with(backend, "[application_credential]\nuser_limit = 3\n").await;
    let admin = s.admin_token().await;
    let uid = me(&s, &admin).await;
    // Eight creates in flight at once, each on its own connection.
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..8 {
        let req = s
            .client
            .post(format!("{}/v3/users/{uid}/application_credentials", s.base))
            .header("X-Auth-Token", admin.as_str())
            .json(
                &json!({"application_credential": {"name": format!("racer-{i}"), "secret": "x"}}),
            );
        racers.spawn(async move {
            let resp = req.send().await.unwrap();
            (resp.status(), resp.text().await.unwrap())
        });
    }
    let outcomes = racers.join_all().await;
    let created = outcomes
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .count();
    for (status, body) in &outcomes {
        assert!(
            *status == StatusCode::CREATED || *status == StatusCode::FORBIDDEN,
            "{backend}: {status} {body}"
        );
    }
    assert_eq!(created, 3, "{backend}: {outcomes:?}");
    let stored = ac::Entity::find()
        .filter(ac::Column::UserId.eq(uid.as_str()))
        .count(&s.db)
        .await
        .unwrap();
    assert_eq!(stored, 3, "{backend}: the database holds the limit too");
    s.stop().await;
}

#[tokio::test]
async fn a_refused_write_never_fails_the_next_one() {
    crate::common::each_backend(a_refused_write_never_fails_the_next_one_on).await;
}

/// A create refused as a duplicate took the database's write lock before it was refused; the next write, at once,
/// must still succeed (on SQLite a write whose transaction has read cannot wait for that lock to go).
async fn a_refused_write_never_fails_the_next_one_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let uid = me(&s, &admin).await;
    let (status, _) = create(&s, &admin, &uid, json!({"name": "taken"})).await;
    assert_eq!(status, StatusCode::CREATED);
    for i in 0..40 {
        let (status, body) = create(&s, &admin, &uid, json!({"name": "taken"})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let (status, _, body) = s
            .call(
                Method::POST,
                "/v3/roles",
                Some(&admin),
                Some(json!({"role": {"name": format!("after-refusal-{i}")}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "round {i}: {body}");
    }
    s.stop().await;
}
