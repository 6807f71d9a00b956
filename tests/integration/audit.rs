//! The audit trail: one CADF event per security-relevant event, in the audit file, and never a secret.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{TestServer, ADMIN_PASSWORD};

#[tokio::test]
async fn security_events_are_audited_as_cadf_without_secrets() {
    crate::common::each_backend(audited_on).await;
}

/// The audit file's events once at least `n` are there (the writer thread appends them soon after each request).
async fn events(path: &std::path::Path, n: usize) -> (String, Vec<Value>) {
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let events = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (text, events)
}

async fn audited_on(backend: &'static str) {
    let s = TestServer::start_with(backend, "[audit]\ndestination = file\n").await;
    let file = std::path::Path::new(&s.data_dir()).join("audit.log");
    let admin = s.admin_token().await;
    // Projects and groups are audited by their domain operations too.
    let (_, _, p) = s
        .call(
            Method::POST,
            "/v3/projects",
            Some(&admin),
            Some(json!({"project": {"name": "audited-project"}})),
        )
        .await;
    let pid = p["project"]["id"].as_str().unwrap().to_string();
    s.call(
        Method::DELETE,
        &format!("/v3/projects/{pid}"),
        Some(&admin),
        None,
    )
    .await;
    s.call(
        Method::POST,
        "/v3/groups",
        Some(&admin),
        Some(json!({"group": {"name": "audited-group"}})),
    )
    .await;

    let (status, _, _) = s.password_token("admin", "wrong password", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, cred) = s
        .create_admin_credential(
            &admin,
            json!({"name": "audited", "access_rules": [
                {"service": "identity", "method": "GET", "path": "/v3/users"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cred}");
    let (id, secret) = (
        cred["id"].as_str().unwrap(),
        cred["secret"].as_str().unwrap(),
    );
    let oauth = |secret: &str| {
        s.client
            .post(format!("{}/v3/OS-OAUTH2/token", s.base))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let resp = oauth(secret).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let access: Value = resp.json().await.unwrap();
    let access = access["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        oauth("not the secret").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let resp = s
        .client
        .delete(format!("{}/v3/auth/tokens", s.base))
        .header("X-Auth-Token", &admin)
        .header("X-Subject-Token", &access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, _, role) = s
        .call(
            Method::POST,
            "/v3/roles",
            Some(&admin),
            Some(json!({"role": {"name": "audited"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{role}");
    let role_id = role["role"]["id"].as_str().unwrap();
    let (_, _, me) = s
        .call(Method::GET, "/v3/users?name=admin", Some(&admin), None)
        .await;
    let (_, _, project) = s
        .call(Method::GET, "/v3/projects?name=admin", Some(&admin), None)
        .await;
    let uid = me["users"][0]["id"].as_str().unwrap();
    let grant = format!(
        "/v3/projects/{}/users/{uid}/roles/{role_id}",
        project["projects"][0]["id"].as_str().unwrap()
    );
    assert_eq!(
        s.call(Method::PUT, &grant, Some(&admin), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.call(Method::DELETE, &grant, Some(&admin), None).await.0,
        StatusCode::NO_CONTENT
    );
    let new_password = "a new password nobody may read";
    let (status, _, body) = s
        .call(
            Method::POST,
            &format!("/v3/users/{uid}/password"),
            None,
            Some(json!({"user": {"original_password": ADMIN_PASSWORD, "password": new_password}})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, fresh, _) = s.password_token("admin", new_password, Some("admin")).await;
    assert_eq!(
        s.call(
            Method::DELETE,
            &format!("/v3/users/{uid}/application_credentials/{id}"),
            Some(&fresh),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );

    let wanted = [
        ("created.project", "success"),
        ("deleted.project", "success"),
        ("created.group", "success"),
        ("authenticate", "success"),
        ("authenticate", "failure"),
        ("created.application_credential", "success"),
        ("created.access_rule", "success"),
        ("created.role", "success"),
        ("created.role_assignment", "success"),
        ("deleted.role_assignment", "success"),
        ("updated.user", "success"),
        ("deleted.token", "success"),
        ("deleted.application_credential", "success"),
    ];
    let (text, events) = events(&file, 16).await;
    for (action, outcome) in wanted {
        assert!(
            events
                .iter()
                .any(|e| e["action"] == action && e["outcome"] == outcome),
            "{backend}: no {action} {outcome} in {text}"
        );
    }
    for e in &events {
        for key in [
            "typeURI",
            "id",
            "eventTime",
            "eventType",
            "action",
            "outcome",
            "initiator",
            "target",
            "observer",
        ] {
            assert!(e.get(key).is_some(), "{key} missing in {e}");
        }
        assert_eq!(
            e["typeURI"],
            "http://schemas.dmtf.org/cloud/audit/1.0/event"
        );
        assert_eq!(e["initiator"]["host"]["address"], "127.0.0.1", "{e}");
    }
    // Each way of authenticating names who tried: a wrong password by the name presented, a wrong client secret
    // by the credential id.
    assert!(events.iter().any(|e| e["action"] == "authenticate"
        && e["outcome"] == "failure"
        && e["initiator"]["name"] == "admin"));
    assert!(events.iter().any(|e| e["action"] == "authenticate"
        && e["outcome"] == "failure"
        && e["initiator"]["credential"]["id"] == id
        && e["initiator"]["credential"]["type"] == "client_secret_basic"));
    assert!(events.iter().any(|e| e["action"] == "authenticate"
        && e["outcome"] == "success"
        && e["initiator"]["credential"]["id"] == id
        && e["target"]["id"] == uid));
    for secret_value in [
        ADMIN_PASSWORD,
        new_password,
        secret,
        "not the secret",
        "wrong password",
        &admin,
        &access,
        &fresh,
    ] {
        assert!(
            !text.contains(secret_value),
            "{backend}: a secret reached the audit trail"
        );
    }
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    s.stop().await;
}
