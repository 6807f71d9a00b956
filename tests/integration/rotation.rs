//! Rotation without a new id and usage you can see (issue 31), on every backend and across two nodes: during a
//! rotation both secrets work on both nodes, after the window only the new one; `last_used_at` moves; the reaper
//! deletes what expired long ago.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{json, Value};

use crate::common::{each_backend, lintel, TestServer};

const CONF: &str = "[application_credential]\nusage_flush_interval = 1\n";

async fn oauth(s: &TestServer, id: &str, secret: &str) -> StatusCode {
    s.client
        .post(format!("{}/v3/OS-OAUTH2/token", s.base))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
}

/// The status `oauth` settles on within 5 s (a node learns of a change at its next beat; a node whose clock was
/// moved waits for its next beat to serve).
async fn settles(s: &TestServer, id: &str, secret: &str, want: StatusCode) -> StatusCode {
    let mut got = oauth(s, id, secret).await;
    for _ in 0..50 {
        if got == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        got = oauth(s, id, secret).await;
    }
    got
}

async fn show(s: &TestServer, admin: &str, uid: &str, id: &str) -> Value {
    let path = format!("/v3/users/{uid}/application_credentials/{id}");
    s.call(Method::GET, &path, Some(admin), None).await.2["application_credential"].clone()
}

/// `last_used_at` once the writer put it there (every second; allowed 20 s on a loaded machine), or null.
async fn last_used(s: &TestServer, admin: &str, uid: &str, id: &str) -> Value {
    let mut used = Value::Null;
    for _ in 0..200 {
        used = show(s, admin, uid, id).await["last_used_at"].clone();
        if used.is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    used
}

#[tokio::test]
async fn a_rotated_secret_works_on_both_nodes_until_the_old_one_retires() {
    each_backend(|backend| async move {
        let a = TestServer::start_with(backend, CONF).await;
        let b = a.another_node(CONF).await;
        let admin = a.admin_token().await;
        let (_, cred) = a
            .create_admin_credential(&admin, json!({"name": "ci", "secret": "old-secret"}))
            .await;
        let (id, uid) = (
            cred["id"].as_str().unwrap(),
            cred["user_id"].as_str().unwrap(),
        );
        assert_eq!(cred["last_used_at"], Value::Null, "{backend}: never used");
        for s in [&a, &b] {
            assert_eq!(
                oauth(s, id, "old-secret").await,
                StatusCode::OK,
                "{backend}"
            );
        }
        // The use reaches the database behind the token path, within the writer's interval.
        assert!(
            last_used(&a, &admin, uid, id).await.is_string(),
            "{backend}: last_used_at moved"
        );

        let rotate = format!("/v3/users/{uid}/application_credentials/{id}/rotate");
        let body = json!({"application_credential": {"grace_period": 600}});
        let (status, _, rotated) = a
            .call(Method::POST, &rotate, Some(&admin), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{backend}: {rotated}");
        let rotated = &rotated["application_credential"];
        assert_eq!(rotated["id"], id, "{backend}: the same id");
        assert!(
            rotated["previous_secret_expires_at"].is_string(),
            "{backend}"
        );
        let fresh = rotated["secret"].as_str().unwrap().to_string();
        let (status, _, refused) = a
            .call(Method::POST, &rotate, Some(&admin), Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{backend}: {refused}");

        for s in [&a, &b] {
            assert_eq!(
                settles(s, id, &fresh, StatusCode::OK).await,
                StatusCode::OK,
                "{backend}"
            );
            assert_eq!(
                oauth(s, id, "old-secret").await,
                StatusCode::OK,
                "{backend}: in its grace"
            );
        }
        // The window ends on both nodes' clocks: only the new secret works, on both.
        for s in [&a, &b] {
            s.clock.advance(Duration::from_secs(601));
        }
        for s in [&a, &b] {
            assert_eq!(
                settles(s, id, "old-secret", StatusCode::UNAUTHORIZED).await,
                StatusCode::UNAUTHORIZED,
                "{backend}: retired"
            );
            assert_eq!(
                settles(s, id, &fresh, StatusCode::OK).await,
                StatusCode::OK,
                "{backend}"
            );
        }
        let shown = show(&a, &admin, uid, id).await;
        assert!(shown.get("secret").is_none() && shown.get("previous_secret_expires_at").is_none());
        assert!(shown["rotated_at"].is_string(), "{backend}: {shown}");

        // Filters: the new secret was used (once that is written), so it is not unused since long ago; it never
        // expires.
        assert!(
            last_used(&a, &admin, uid, id).await.is_string(),
            "{backend}: the new secret's use"
        );
        let list = |q: &str| format!("/v3/users/{uid}/application_credentials?{q}");
        let (_, _, l) = a
            .call(
                Method::GET,
                &list("unused_since=2000-01-01T00:00:00Z"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(l["application_credentials"], json!([]), "{backend}");
        let (_, _, l) = a
            .call(
                Method::GET,
                &list("expires_before=2999-01-01T00:00:00Z"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(l["application_credentials"], json!([]), "{backend}");
        b.stop().await;
        a.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_reaper_deletes_only_what_expired_long_ago() {
    let s = TestServer::start("sqlite").await;
    let admin = s.admin_token().await;
    let mut ids = Vec::new();
    for name in ["old", "recent", "forever"] {
        let (_, body) = s
            .create_admin_credential(
                &admin,
                json!({"name": name, "expires_at": "2999-01-01T00:00:00"}),
            )
            .await;
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    // Expiries in the past cannot be asked for: set them as time would have.
    let now = chrono::Utc::now().naive_utc();
    for (id, expired) in [
        (&ids[0], Some(now - chrono::Duration::days(40))),
        (&ids[1], Some(now - chrono::Duration::days(2))),
        (&ids[2], None),
    ] {
        let row = entity::application_credential::Entity::find_by_id(id.as_str())
            .one(&s.db)
            .await
            .unwrap()
            .unwrap();
        let mut row: entity::application_credential::ActiveModel = row.into();
        row.expires_at = Set(expired);
        row.update(&s.db).await.unwrap();
    }
    let conf = format!("{}/lintel.conf", s.data_dir());
    let run = |dry: bool| {
        let mut c = lintel(std::path::Path::new(&s.data_dir()));
        c.args([
            "--config",
            &conf,
            "credentials",
            "reap",
            "--expired-for",
            "30d",
        ]);
        if dry {
            c.arg("--dry-run");
        }
        c.output().unwrap()
    };
    let out = run(true);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("would delete {}", ids[0])) && !text.contains(&ids[1]),
        "{text}"
    );
    let out = run(false);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("1 application credential(s) deleted"),
        "{text}"
    );
    let left: Vec<String> = entity::application_credential::Entity::find()
        .all(&s.db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert!(
        !left.contains(&ids[0]) && left.contains(&ids[1]) && left.contains(&ids[2]),
        "{left:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_service_accounts_credential_outlives_its_creator_and_past_the_deadline_needs_a_rotation()
{
    each_backend(|backend| async move {
        let s = TestServer::start_with(
            backend,
            "[application_credential]\nrotation_deadline = 60\nusage_flush_interval = 1\n",
        )
        .await;
        let admin = s.admin_token().await;
        // Carol manages the admin project.
        let (_, _, u) = s
            .call(
                Method::POST,
                "/v3/users",
                Some(&admin),
                Some(json!({"user": {"name": "carol", "password": "carol-pw"}})),
            )
            .await;
        let carol = u["user"]["id"].as_str().unwrap().to_string();
        let (_, _, p) = s
            .call(Method::GET, "/v3/projects?name=admin", Some(&admin), None)
            .await;
        let project = p["projects"][0]["id"].as_str().unwrap().to_string();
        let (_, _, r) = s
            .call(Method::GET, "/v3/roles?name=manager", Some(&admin), None)
            .await;
        let manager = r["roles"][0]["id"].as_str().unwrap().to_string();
        let grant = format!("/v3/projects/{project}/users/{carol}/roles/{manager}");
        s.call(Method::PUT, &grant, Some(&admin), None).await;
        let (_, carol_t, _) = s.password_token("carol", "carol-pw", Some("admin")).await;

        let accounts = format!("/v3/projects/{project}/service_accounts");
        let body = json!({"service_account": {"name": "ci-bot", "roles": ["member"]}});
        let (status, _, sa) = s
            .call(Method::POST, &accounts, Some(&carol_t), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {sa}");
        let sa = sa["service_account"]["id"].as_str().unwrap().to_string();
        let creds = format!("/v3/users/{sa}/application_credentials");
        let body = json!({"application_credential": {"name": "ci"}});
        let (status, _, cred) = s
            .call(Method::POST, &creds, Some(&carol_t), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {cred}");
        let id = cred["application_credential"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let secret = cred["application_credential"]["secret"]
            .as_str()
            .unwrap()
            .to_string();

        // Carol leaves: the credential keeps working, marked for rotation.
        s.call(
            Method::DELETE,
            &format!("/v3/users/{carol}"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(oauth(&s, &id, &secret).await, StatusCode::OK, "{backend}");
        let shown = show(&s, &admin, &sa, &id).await;
        assert!(
            shown["rotation_required_at"].is_string(),
            "{backend}: {shown}"
        );
        // A minute later nobody rotated it: its secret is refused; the admin rotates it, and the new one works.
        s.clock.advance(Duration::from_secs(61));
        assert_eq!(
            settles(&s, &id, &secret, StatusCode::UNAUTHORIZED).await,
            StatusCode::UNAUTHORIZED,
            "{backend}"
        );
        let admin = s.admin_token().await;
        let rotate = format!("{creds}/{id}/rotate");
        let (status, _, rotated) = s
            .call(Method::POST, &rotate, Some(&admin), Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::OK, "{backend}: {rotated}");
        let fresh = rotated["application_credential"]["secret"]
            .as_str()
            .unwrap();
        assert_eq!(oauth(&s, &id, fresh).await, StatusCode::OK, "{backend}");
        assert!(rotated["application_credential"]
            .get("rotation_required_at")
            .is_none());
        s.stop().await;
    })
    .await;
}

#[tokio::test]
async fn past_its_issuance_quota_a_credential_gets_slow_down_and_others_do_not() {
    let s = TestServer::start_with("sqlite", "[oauth2]\ncredential_issue_rate = 2\n").await;
    let admin = s.admin_token().await;
    let mut ids = Vec::new();
    for name in ["greedy", "polite"] {
        let (_, c) = s
            .create_admin_credential(&admin, json!({"name": name, "secret": "s3cret"}))
            .await;
        ids.push(c["id"].as_str().unwrap().to_string());
    }
    assert_eq!(oauth(&s, &ids[0], "s3cret").await, StatusCode::OK);
    assert_eq!(oauth(&s, &ids[0], "s3cret").await, StatusCode::OK);
    let resp = s
        .client
        .post(format!("{}/v3/OS-OAUTH2/token", s.base))
        .basic_auth(&ids[0], Some("s3cret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "slow_down", "{body}");
    assert_eq!(
        oauth(&s, &ids[1], "s3cret").await,
        StatusCode::OK,
        "another credential is untouched"
    );
    // An admin may give a credential a rate of its own above the default; it is shown, and it holds.
    let (status, c) = s
        .create_admin_credential(
            &admin,
            json!({"name": "batch", "secret": "s3cret", "issue_rate": 4}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["issue_rate"], 4);
    let id = c["id"].as_str().unwrap();
    for _ in 0..4 {
        assert_eq!(oauth(&s, id, "s3cret").await, StatusCode::OK);
    }
    assert_eq!(oauth(&s, id, "s3cret").await, StatusCode::TOO_MANY_REQUESTS);
    s.stop().await;
}
