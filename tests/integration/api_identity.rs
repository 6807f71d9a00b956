//! Users, projects, groups, roles and grants over real HTTPS, and the revocation rules that keep tokens honest.

use crate::common::{role_names, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn create(s: &TestServer, token: &str, path: &str, body: Value) -> Value {
    let (status, _, body) = s.call(Method::POST, path, Some(token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {body}");
    body
}

async fn role_id(s: &TestServer, token: &str, name: &str) -> String {
    let (_, _, body) = s
        .call(
            Method::GET,
            &format!("/v3/roles?name={name}"),
            Some(token),
            None,
        )
        .await;
    body["roles"][0]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn identity_lifecycle_on_every_backend() {
    crate::common::each_backend(|backend| async move {
        let s = TestServer::start(backend).await;
        let admin = s.admin_token().await;
        let user = create(&s, &admin, "/v3/users", json!({"user": {"name": "alice", "domain_id": "default", "password": "pw-alice", "email": "a@example.org"}})).await;
        let uid = user["user"]["id"].as_str().unwrap().to_string();
        assert_eq!(uid.len(), 32);
        assert_eq!(user["user"]["email"], "a@example.org");
        assert!(
            user["user"].get("password").is_none(),
            "never echo a password"
        );
        let (status, _, dup) = s
            .call(
                Method::POST,
                "/v3/users",
                Some(&admin),
                Some(json!({"user": {"name": "alice", "domain_id": "default"}})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{backend}: {dup}");

        let project = create(&s, &admin, "/v3/projects", json!({"project": {"name": "p1", "domain_id": "default", "description": "d", "tags": ["blue"]}})).await;
        let pid = project["project"]["id"].as_str().unwrap().to_string();
        assert_eq!(project["project"]["parent_id"], "default");
        assert_eq!(project["project"]["tags"], json!(["blue"]));
        let group = create(
            &s,
            &admin,
            "/v3/groups",
            json!({"group": {"name": "g1", "domain_id": "default"}}),
        )
        .await;
        let gid = group["group"]["id"].as_str().unwrap().to_string();
        let member = role_id(&s, &admin, "member").await;

        // No role yet: a project-scoped token is refused.
        let (status, _, _) = s.password_token("alice", "pw-alice", Some("p1")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // A role through a group counts, with its implied roles.
        let (status, _, _) = s
            .call(
                Method::PUT,
                &format!("/v3/groups/{gid}/users/{uid}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _, _) = s
            .call(
                Method::HEAD,
                &format!("/v3/groups/{gid}/users/{uid}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _, _) = s
            .call(
                Method::PUT,
                &format!("/v3/projects/{pid}/groups/{gid}/roles/{member}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, group_token, body) = s.password_token("alice", "pw-alice", Some("p1")).await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {body}");
        assert_eq!(role_names(&body), vec!["member", "reader"]);

        // Leaving the group revokes that token: no token may show a role its user no longer holds.
        let (status, _, _) = s
            .call(
                Method::DELETE,
                &format!("/v3/groups/{gid}/users/{uid}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = s.validate(&admin, &group_token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{backend}");

        // A direct grant, then its removal.
        let (status, _, _) = s
            .call(
                Method::PUT,
                &format!("/v3/projects/{pid}/users/{uid}/roles/{member}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, direct_token, _) = s.password_token("alice", "pw-alice", Some("p1")).await;
        let (_, _, listing) = s
            .call(
                Method::GET,
                &format!(
                    "/v3/role_assignments?user.id={uid}&scope.project.id={pid}&include_names=1"
                ),
                Some(&admin),
                None,
            )
            .await;
        let a = &listing["role_assignments"][0];
        assert_eq!(a["role"]["name"], "member");
        assert_eq!(a["user"]["domain"]["name"], "Default");
        assert_eq!(a["scope"]["project"]["name"], "p1");
        let (_, _, eff) = s
            .call(
                Method::GET,
                &format!("/v3/role_assignments?user.id={uid}&effective"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(
            eff["role_assignments"].as_array().unwrap().len(),
            2,
            "member implies reader: {eff}"
        );
        let (status, _, _) = s
            .call(
                Method::DELETE,
                &format!("/v3/projects/{pid}/users/{uid}/roles/{member}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = s.validate(&admin, &direct_token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Password change revokes the user's tokens; the new password works.
        let (_, unscoped, _) = s.password_token("alice", "pw-alice", None).await;
        let (status, _, _) = s
            .call(
                Method::POST,
                &format!("/v3/users/{uid}/password"),
                Some(&unscoped),
                Some(json!({"user": {"original_password": "pw-alice", "password": "pw-new"}})),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(s.validate(&admin, &unscoped).await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            s.password_token("alice", "pw-new", None).await.0,
            StatusCode::CREATED
        );

        // Disable, then delete.
        let (_, fresh, _) = s.password_token("alice", "pw-new", None).await;
        let (status, _, body) = s
            .call(
                Method::PATCH,
                &format!("/v3/users/{uid}"),
                Some(&admin),
                Some(json!({"user": {"enabled": false}})),
            )
            .await;
        assert_eq!(
            (status, body["user"]["enabled"].as_bool()),
            (StatusCode::OK, Some(false))
        );
        assert_eq!(s.validate(&admin, &fresh).await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            s.password_token("alice", "pw-new", None).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (status, _, _) = s
            .call(
                Method::DELETE,
                &format!("/v3/users/{uid}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _, _) = s
            .call(Method::GET, &format!("/v3/users/{uid}"), Some(&admin), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = s
            .call(
                Method::DELETE,
                &format!("/v3/projects/{pid}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        s.stop().await;
    })
    .await;
}

#[tokio::test]
async fn policy_separates_401_403_and_self_service() {
    let s = TestServer::start("sqlite").await;
    let admin = s.admin_token().await;
    let user = create(
        &s,
        &admin,
        "/v3/users",
        json!({"user": {"name": "bob", "password": "pw-bob"}}),
    )
    .await;
    let uid = user["user"]["id"].as_str().unwrap().to_string();
    let (_, bob, _) = s.password_token("bob", "pw-bob", None).await;
    let (status, _, body) = s.call(Method::GET, "/v3/users", Some(&bob), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["error"]["message"],
        "You are not authorized to perform the requested action: identity:list_users."
    );
    let (status, _, body) = s
        .call(Method::GET, &format!("/v3/users/{uid}"), Some(&bob), None)
        .await;
    assert_eq!(
        (status, body["user"]["name"].as_str()),
        (StatusCode::OK, Some("bob")),
        "users may read themselves"
    );
    let (status, _, _) = s
        .call(
            Method::POST,
            "/v3/roles",
            Some(&bob),
            Some(json!({"role": {"name": "x"}})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = s.call(Method::GET, "/v3/users", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    s.stop().await;
}

#[tokio::test]
async fn deleting_a_role_revokes_tokens_that_carry_it() {
    let s = TestServer::start("sqlite").await;
    let admin = s.admin_token().await;
    let role = create(
        &s,
        &admin,
        "/v3/roles",
        json!({"role": {"name": "observer"}}),
    )
    .await;
    let rid = role["role"]["id"].as_str().unwrap().to_string();
    let user = create(
        &s,
        &admin,
        "/v3/users",
        json!({"user": {"name": "carol", "password": "pw"}}),
    )
    .await;
    let uid = user["user"]["id"].as_str().unwrap();
    let (_, _, projects) = s
        .call(Method::GET, "/v3/projects?name=admin", Some(&admin), None)
        .await;
    let pid = projects["projects"][0]["id"].as_str().unwrap();
    s.call(
        Method::PUT,
        &format!("/v3/projects/{pid}/users/{uid}/roles/{rid}"),
        Some(&admin),
        None,
    )
    .await;
    let (status, carol, body) = s.password_token("carol", "pw", Some("admin")).await;
    assert_eq!(
        (status, role_names(&body)),
        (StatusCode::CREATED, vec!["observer".to_string()])
    );
    let (status, _, _) = s
        .call(
            Method::DELETE,
            &format!("/v3/roles/{rid}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(s.validate(&admin, &carol).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        s.validate(&admin, &admin).await.0,
        StatusCode::OK,
        "tokens without the role are untouched"
    );
    s.stop().await;
}

#[tokio::test]
async fn parallel_writers_never_see_a_server_error() {
    crate::common::each_backend(|backend| async move {
        let s = std::sync::Arc::new(TestServer::start(backend).await);
        let admin = s.admin_token().await;
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (s, admin) = (s.clone(), admin.clone());
            tasks.push(tokio::spawn(async move {
                let body = json!({"project": {"name": format!("par-{i}"), "domain_id": "default", "tags": ["a", "b"]}});
                let (status, _, _) = s.call(Method::POST, "/v3/projects", Some(&admin), Some(body)).await;
                let (status2, _, _) = s.call(Method::PATCH, "/v3/users/nope", Some(&admin), Some(json!({"user": {"name": "x"}}))).await;
                (status, status2)
            }));
        }
        for t in tasks {
            let (a, b) = t.await.unwrap();
            assert_eq!(a, StatusCode::CREATED, "{backend}");
            assert_eq!(b, StatusCode::NOT_FOUND, "{backend}");
        }
        let (_, _, list) = s
            .call(Method::GET, "/v3/projects", Some(&admin), None)
            .await;
        assert_eq!(list["projects"].as_array().unwrap().len(), 41, "{backend}");
        if let Ok(s) = std::sync::Arc::try_unwrap(s) {
            s.stop().await;
        }
    })
    .await;
}

/// PUT a membership or a grant.
async fn put(s: &TestServer, token: &str, path: &str) {
    let (status, _, body) = s.call(Method::PUT, path, Some(token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{path}: {body}");
}

/// A listing where one group, one role and one user appear on many rows: every row carries its names, and
/// `effective` expands the group on every project it holds a role on (the lookups are shared across rows).
#[tokio::test]
async fn role_assignment_listings_name_every_row() {
    crate::common::each_backend(|backend| async move {
        let s = TestServer::start(backend).await;
        let admin = s.admin_token().await;
        let group = create(
            &s,
            &admin,
            "/v3/groups",
            json!({"group": {"name": "ops", "domain_id": "default"}}),
        )
        .await;
        let gid = group["group"]["id"].as_str().unwrap().to_string();
        let mut uids = Vec::new();
        for name in ["ann", "bob"] {
            let body = json!({"user": {"name": name, "domain_id": "default"}});
            let uid = create(&s, &admin, "/v3/users", body).await["user"]["id"]
                .as_str()
                .unwrap()
                .to_string();
            put(&s, &admin, &format!("/v3/groups/{gid}/users/{uid}")).await;
            uids.push(uid);
        }
        let member = role_id(&s, &admin, "member").await;
        let mut pids = Vec::new();
        for name in ["pa", "pb", "pc"] {
            let body = json!({"project": {"name": name, "domain_id": "default"}});
            let pid = create(&s, &admin, "/v3/projects", body).await["project"]["id"]
                .as_str()
                .unwrap()
                .to_string();
            let grant = format!("/v3/projects/{pid}/groups/{gid}/roles/{member}");
            put(&s, &admin, &grant).await;
            pids.push(pid);
        }

        let (status, _, listing) = s
            .call(
                Method::GET,
                &format!("/v3/role_assignments?group.id={gid}&include_names=true"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{backend}: {listing}");
        let rows = listing["role_assignments"].as_array().unwrap();
        assert_eq!(rows.len(), 3, "{backend}: {listing}");
        for row in rows {
            assert_eq!(row["role"]["name"], "member", "{backend}: {row}");
            assert_eq!(row["group"]["name"], "ops", "{backend}: {row}");
            assert_eq!(
                row["group"]["domain"]["name"], "Default",
                "{backend}: {row}"
            );
        }
        let mut named: Vec<&str> = rows
            .iter()
            .map(|r| r["scope"]["project"]["name"].as_str().unwrap())
            .collect();
        named.sort();
        assert_eq!(named, ["pa", "pb", "pc"]);

        let (status, _, eff) = s
            .call(
                Method::GET,
                &format!("/v3/role_assignments?effective&role.id={member}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{backend}: {eff}");
        let mut pairs: Vec<(String, String)> = eff["role_assignments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["user"]["id"]
                    .as_str()
                    .is_some_and(|u| uids.iter().any(|x| x == u))
            })
            .map(|r| {
                assert!(r.get("group").is_none(), "{backend}: {r}");
                (
                    r["user"]["id"].as_str().unwrap().to_string(),
                    r["scope"]["project"]["id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        pairs.sort();
        let mut expected: Vec<(String, String)> = uids
            .iter()
            .flat_map(|u| pids.iter().map(move |p| (u.clone(), p.clone())))
            .collect();
        expected.sort();
        assert_eq!(pairs, expected, "{backend}: every member on every project");
        s.stop().await;
    })
    .await;
}
