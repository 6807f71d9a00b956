//! Keystone parity where its clients and Tempest look: name limits, project tags, projects acting as domains,
//! domain-specific roles, implied-role checks and self-service password changes, each as Keystone 30 answers.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{TestServer, ADMIN_PASSWORD};

async fn post(s: &TestServer, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let (status, _, body) = s.call(Method::POST, path, Some(token), Some(body)).await;
    (status, body)
}

fn message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn names_and_descriptions_have_keystones_limits() {
    crate::common::each_backend(|backend| async move {
        let s = TestServer::start(backend).await;
        let t = s.admin_token().await;
        let n = |len: usize| "n".repeat(len);
        // (path, wrapper, longest accepted name)
        for (path, key, max) in [
            ("/v3/domains", "domain", 64),
            ("/v3/projects", "project", 64),
            ("/v3/groups", "group", 64),
            ("/v3/users", "user", 255),
            ("/v3/roles", "role", 255),
        ] {
            let (status, body) = post(&s, &t, path, json!({key: {"name": n(max)}})).await;
            assert_eq!(
                status,
                StatusCode::CREATED,
                "{backend} {key} at {max}: {body}"
            );
            let (status, body) = post(&s, &t, path, json!({key: {"name": n(max + 1)}})).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{backend} {key} over {max}: {body}"
            );
            assert!(message(&body).contains("is too long"), "{body}");
            for blank in ["", "   "] {
                let (status, body) = post(&s, &t, path, json!({key: {"name": blank}})).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{key} {blank:?}: {body}");
                assert!(message(&body).starts_with("Invalid input for field/attribute name."));
            }
        }
        // A project name too long on update too.
        let (_, p) = post(&s, &t, "/v3/projects", json!({"project": {"name": "p1"}})).await;
        let id = p["project"]["id"].as_str().unwrap();
        let (status, _, _) = s
            .call(
                Method::PATCH,
                &format!("/v3/projects/{id}"),
                Some(&t),
                Some(json!({"project": {"name": n(65)}})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // Domain, role and region descriptions stop at 255 characters; a project's takes 64 KiB on every backend.
        let d = |len: usize| "d".repeat(len);
        for (path, body) in [
            (
                "/v3/domains",
                json!({"domain": {"name": "dd", "description": d(256)}}),
            ),
            (
                "/v3/roles",
                json!({"role": {"name": "rd", "description": d(256)}}),
            ),
            ("/v3/regions", json!({"region": {"description": d(256)}})),
            (
                "/v3/projects",
                json!({"project": {"name": "pd", "description": d(70_000)}}),
            ),
            ("/v3/regions", json!({"region": {"id": n(256)}})),
            ("/v3/services", json!({"service": {"type": n(256)}})),
        ] {
            let (status, resp) = post(&s, &t, path, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{backend} {path}: {resp}");
            assert!(message(&resp).contains("is too long"), "{resp}");
            assert!(
                message(&resp).len() < 500,
                "the error echoes a bounded value"
            );
        }
        let (status, body) = post(
            &s,
            &t,
            "/v3/projects",
            json!({"project": {"name": "pd", "description": d(60_000)}}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {body}");
        s.stop().await;
    })
    .await;
}

#[tokio::test]
async fn project_tags_answer_as_keystone() {
    let s = TestServer::start("sqlite").await;
    let t = s.admin_token().await;
    let (_, p) = post(
        &s,
        &t,
        "/v3/projects",
        json!({"project": {"name": "tagged"}}),
    )
    .await;
    let id = p["project"]["id"].as_str().unwrap().to_string();
    let tag = |name: &str| format!("/v3/projects/{id}/tags/{name}");

    // PUT one tag: 201, empty body, Location of the tag.
    let resp = s
        .client
        .put(format!("{}{}", s.base, tag("foo")))
        .header("X-Auth-Token", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.ends_with(&format!("/v3/projects/{id}/tags/foo")),
        "{location}"
    );
    assert_eq!(resp.text().await.unwrap(), "");
    // Again: a repeated tag (400), as Keystone's schema sees it.
    let (status, _, body) = s.call(Method::PUT, &tag("foo"), Some(&t), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // GET and HEAD: 204 present, 404 absent.
    for method in [Method::GET, Method::HEAD] {
        let (status, _, _) = s.call(method.clone(), &tag("foo"), Some(&t), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _, _) = s.call(method, &tag("nope"), Some(&t), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (_, _, body) = s.call(Method::GET, &tag("nope"), Some(&t), None).await;
    assert_eq!(message(&body), "Could not find project tag: nope.");
    // The list and its replacement: {"links": ..., "tags": [...]}.
    let list = format!("/v3/projects/{id}/tags");
    let (status, _, body) = s.call(Method::GET, &list, Some(&t), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["tags"], json!(["foo"]));
    assert!(body["links"]["self"].is_string());
    let (status, _, body) = s
        .call(
            Method::PUT,
            &list,
            Some(&t),
            Some(json!({"tags": ["c", "a", "b"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["tags"], json!(["c", "a", "b"]));
    for bad in [
        json!(["a/b"]),
        json!(["a,b"]),
        json!([""]),
        json!(["x", "x"]),
    ] {
        let (status, _, body) = s
            .call(Method::PUT, &list, Some(&t), Some(json!({"tags": bad})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let many: Vec<String> = (0..81).map(|i| format!("t{i}")).collect();
    let (status, _, _) = s
        .call(
            Method::PUT,
            &list,
            Some(&t),
            Some(json!({"tags": many[..80]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = s.call(Method::PUT, &tag("t80"), Some(&t), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an 81st tag is refused");
    // DELETE one (204, then 404) and all (204).
    let (status, _, _) = s.call(Method::DELETE, &tag("t1"), Some(&t), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = s.call(Method::DELETE, &tag("t1"), Some(&t), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = s.call(Method::DELETE, &list, Some(&t), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, _, body) = s.call(Method::GET, &list, Some(&t), None).await;
    assert_eq!(body["tags"], json!([]));
    s.stop().await;
}

#[tokio::test]
async fn a_project_acting_as_a_domain_is_a_domain() {
    crate::common::each_backend(|backend| async move {
        let s = TestServer::start(backend).await;
        let t = s.admin_token().await;
        let (status, body) = post(
            &s,
            &t,
            "/v3/projects",
            json!({"project": {"name": "acme", "is_domain": true, "domain_id": null}}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {body}");
        let p = &body["project"];
        assert_eq!(p["is_domain"], true);
        assert!(p["domain_id"].is_null() && p["parent_id"].is_null(), "{p}");
        let id = p["id"].as_str().unwrap().to_string();
        // Both APIs know it.
        let (status, _, d) = s
            .call(Method::GET, &format!("/v3/domains/{id}"), Some(&t), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(d["domain"]["name"], "acme");
        let (status, _, shown) = s
            .call(Method::GET, &format!("/v3/projects/{id}"), Some(&t), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(shown["project"]["is_domain"], true);
        let (_, _, listed) = s
            .call(Method::GET, "/v3/projects?is_domain=true", Some(&t), None)
            .await;
        assert!(listed["projects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == id.as_str()));
        // Only root projects act as domains; names stay unique among domains.
        for extra in [
            json!({"domain_id": "default"}),
            json!({"parent_id": "default"}),
        ] {
            let mut b = json!({"name": "sub", "is_domain": true});
            b.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let (status, body) = post(&s, &t, "/v3/projects", json!({"project": b})).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(
                message(&body),
                "only root projects are allowed to act as domains."
            );
        }
        let (status, body) = post(
            &s,
            &t,
            "/v3/projects",
            json!({"project": {"name": "acme", "is_domain": true}}),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        // Disabled and deleted through the project API, as Tempest cleans up.
        let path = format!("/v3/projects/{id}");
        let (status, _, _) = s.call(Method::DELETE, &path, Some(&t), None).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "an enabled domain is not deleted"
        );
        let (status, _, body) = s
            .call(
                Method::PATCH,
                &path,
                Some(&t),
                Some(json!({"project": {"enabled": false}})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["project"]["enabled"], false);
        let (status, _, _) = s.call(Method::DELETE, &path, Some(&t), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _, _) = s
            .call(Method::GET, &format!("/v3/domains/{id}"), Some(&t), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        s.stop().await;
    })
    .await;
}

#[tokio::test]
async fn domain_specific_roles_only_count_through_what_they_imply() {
    crate::common::each_backend(|backend| async move {
        let s = TestServer::start(backend).await;
        let t = s.admin_token().await;
        let role =
            |name: &str, domain: Option<&str>| json!({"role": {"name": name, "domain_id": domain}});
        let (_, dr) = post(&s, &t, "/v3/roles", role("drole", Some("default"))).await;
        let dr = dr["role"]["id"].as_str().unwrap().to_string();
        let (_, other) = post(&s, &t, "/v3/domains", json!({"domain": {"name": "other"}})).await;
        let other = other["domain"]["id"].as_str().unwrap().to_string();
        let (_, odr) = post(&s, &t, "/v3/roles", role("odrole", Some(&other))).await;
        let odr = odr["role"]["id"].as_str().unwrap().to_string();
        let (_, _, roles) = s
            .call(Method::GET, "/v3/roles?name=reader", Some(&t), None)
            .await;
        let reader = roles["roles"][0]["id"].as_str().unwrap().to_string();
        let (_, _, roles) = s
            .call(Method::GET, "/v3/roles?name=member", Some(&t), None)
            .await;
        let member = roles["roles"][0]["id"].as_str().unwrap().to_string();

        let (_, u) = post(
            &s,
            &t,
            "/v3/users",
            json!({"user": {"name": "u4", "password": "u4-password"}}),
        )
        .await;
        let uid = u["user"]["id"].as_str().unwrap().to_string();
        let (_, p) = post(&s, &t, "/v3/projects", json!({"project": {"name": "p4"}})).await;
        let pid = p["project"]["id"].as_str().unwrap().to_string();
        let grant = |r: &str| format!("/v3/projects/{pid}/users/{uid}/roles/{r}");
        let (status, _, _) = s.call(Method::PUT, &grant(&dr), Some(&t), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        // Another domain's role is not granted here.
        let (status, _, body) = s.call(Method::PUT, &grant(&odr), Some(&t), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(
            message(&body).contains("must be in the same domain as the role"),
            "{body}"
        );

        // Granted but never effective: not in effective assignments, no project token.
        let effective = format!("/v3/role_assignments?effective&user.id={uid}");
        let (_, _, body) = s.call(Method::GET, &effective, Some(&t), None).await;
        assert_eq!(body["role_assignments"], json!([]), "{backend}: {body}");
        let (_, _, body) = s
            .call(
                Method::GET,
                &format!("/v3/role_assignments?user.id={uid}"),
                Some(&t),
                None,
            )
            .await;
        assert_eq!(
            body["role_assignments"].as_array().unwrap().len(),
            1,
            "the direct grant is listed"
        );
        let (status, _, _) = s.password_token("u4", "u4-password", Some("p4")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // Implications: global → domain role is refused; domain role → global or another domain's role is fine.
        let imply = |a: &str, b: &str| format!("/v3/roles/{a}/implies/{b}");
        let (status, _, body) = s
            .call(Method::PUT, &imply(&member, &dr), Some(&t), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(message(&body), format!("{dr} cannot be an implied roles."));
        for target in [&reader, &odr] {
            let (status, _, body) = s
                .call(Method::PUT, &imply(&dr, target), Some(&t), None)
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        // Now the user holds exactly what the domain role implies among global roles.
        let (status, _, body) = s.password_token("u4", "u4-password", Some("p4")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(crate::common::role_names(&body), vec!["reader".to_string()]);
        let (_, _, body) = s.call(Method::GET, &effective, Some(&t), None).await;
        let ids: Vec<&str> = body["role_assignments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["role"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![reader.as_str()], "{backend}: {body}");
        s.stop().await;
    })
    .await;
}

#[tokio::test]
async fn implied_role_check_is_204_and_duplicates_conflict() {
    let s = TestServer::start("sqlite").await;
    let t = s.admin_token().await;
    let (_, a) = post(&s, &t, "/v3/roles", json!({"role": {"name": "a"}})).await;
    let (_, b) = post(&s, &t, "/v3/roles", json!({"role": {"name": "b"}})).await;
    let (a, b) = (
        a["role"]["id"].as_str().unwrap(),
        b["role"]["id"].as_str().unwrap(),
    );
    let path = format!("/v3/roles/{a}/implies/{b}");
    let (status, _, _) = s.call(Method::HEAD, &path, Some(&t), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = s.call(Method::PUT, &path, Some(&t), None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, body) = s.call(Method::PUT, &path, Some(&t), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, headers, body) = s.call(Method::HEAD, &path, Some(&t), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_null() && headers.get("content-type").is_none());
    let (status, _, body) = s.call(Method::GET, &path, Some(&t), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["role_inference"]["implies"]["id"], b);
    // Nothing implies admin.
    let (_, _, admin) = s
        .call(Method::GET, "/v3/roles?name=admin", Some(&t), None)
        .await;
    let admin = admin["roles"][0]["id"].as_str().unwrap();
    let (status, _, _) = s
        .call(
            Method::PUT,
            &format!("/v3/roles/{a}/implies/{admin}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    s.stop().await;
}

#[tokio::test]
async fn users_change_their_own_password_with_the_original() {
    crate::common::each_backend(|backend| async move {
        let s = TestServer::start(backend).await;
        let t = s.admin_token().await;
        let (_, u) = post(
            &s,
            &t,
            "/v3/users",
            json!({"user": {"name": "self", "password": "first-pw"}}),
        )
        .await;
        let uid = u["user"]["id"].as_str().unwrap().to_string();
        let (_, _, roles) = s
            .call(Method::GET, "/v3/roles?name=member", Some(&t), None)
            .await;
        let member = roles["roles"][0]["id"].as_str().unwrap();
        let (status, _, _) = s
            .call(
                Method::PUT,
                &format!(
                    "/v3/projects/{}/users/{uid}/roles/{member}",
                    admin_project(&s, &t).await
                ),
                Some(&t),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, own, _) = s.password_token("self", "first-pw", Some("admin")).await;
        assert_eq!(status, StatusCode::CREATED);
        let path = format!("/v3/users/{uid}/password");
        let change =
            |orig: &str, new: &str| json!({"user": {"original_password": orig, "password": new}});

        // With the owner's token and the right original: 204, and the old token stops validating.
        let (status, _, body) = s
            .call(
                Method::POST,
                &path,
                Some(&own),
                Some(change("first-pw", "second-pw")),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{backend}: {body}");
        let (status, _) = s.validate(&t, &own).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // A wrong original is 401, token or none.
        let (status, _, body) = s
            .call(Method::POST, &path, None, Some(change("wrong", "third-pw")))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        // The original password is the proof: no token needed.
        let (status, _, _) = s
            .call(
                Method::POST,
                &path,
                None,
                Some(change("second-pw", "third-pw")),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _, _) = s.password_token("self", "third-pw", None).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _, _) = s.password_token("self", "second-pw", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // An unknown user is the same 401 as a wrong password.
        let (status, _, _) = s
            .call(
                Method::POST,
                "/v3/users/0123456789abcdef0123456789abcdef/password",
                None,
                Some(change("x", "y")),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        s.stop().await;
    })
    .await;
}

async fn admin_project(s: &TestServer, t: &str) -> String {
    let (_, _, body) = s
        .call(Method::GET, "/v3/projects?name=admin", Some(t), None)
        .await;
    body["projects"][0]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_json_body_on_the_token_endpoint_names_the_form_content_type() {
    let s = TestServer::start("sqlite").await;
    let resp = s
        .client
        .post(format!("{}/v3/OS-OAUTH2/token", s.base))
        .basic_auth("some-id", Some("some-secret"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    let why = body["error_description"].as_str().unwrap();
    assert!(
        why.contains("application/x-www-form-urlencoded") && why.contains("application/json"),
        "{why}"
    );
    let _ = ADMIN_PASSWORD;
    s.stop().await;
}

#[tokio::test]
async fn regions_by_id_update_filter_and_legacy_endpoint_regions() {
    crate::common::each_backend(|backend| async move {
        let s = TestServer::start(backend).await;
        let t = s.admin_token().await;
        // PUT creates a region with the id of the URL.
        let (status, _, body) = s
            .call(
                Method::PUT,
                "/v3/regions/north",
                Some(&t),
                Some(json!({"region": {"description": "n"}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {body}");
        assert_eq!(body["region"]["id"], "north");
        let (status, _, _) = s
            .call(
                Method::PUT,
                "/v3/regions/north",
                Some(&t),
                Some(json!({"region": {}})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (_, child) = post(
            &s,
            &t,
            "/v3/regions",
            json!({"region": {"parent_region_id": "north"}}),
        )
        .await;
        let child = child["region"]["id"].as_str().unwrap().to_string();
        // Filter by parent.
        let (_, _, listed) = s
            .call(
                Method::GET,
                "/v3/regions?parent_region_id=north",
                Some(&t),
                None,
            )
            .await;
        let ids: Vec<&str> = listed["regions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![child.as_str()]);
        // PATCH: description; a parent that would make a cycle is refused.
        let (status, _, body) = s
            .call(
                Method::PATCH,
                "/v3/regions/north",
                Some(&t),
                Some(json!({"region": {"description": "nord"}})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["region"]["description"], "nord");
        let (status, _, _) = s
            .call(
                Method::PATCH,
                "/v3/regions/north",
                Some(&t),
                Some(json!({"region": {"parent_region_id": child}})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // An endpoint naming an unknown region by the legacy `region` creates it; `region_id` must exist.
        let (_, svc) = post(
            &s,
            &t,
            "/v3/services",
            json!({"service": {"type": "compute"}}),
        )
        .await;
        let svc = svc["service"]["id"].as_str().unwrap();
        let ep = |key: &str, region: &str| {
            json!({"endpoint": {"service_id": svc, "interface": "public",
            "url": "https://compute.example.com", key: region}})
        };
        let (status, body) = post(&s, &t, "/v3/endpoints", ep("region_id", "nowhere")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, body) = post(&s, &t, "/v3/endpoints", ep("region", "east")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["endpoint"]["region_id"], "east");
        let (status, _, _) = s
            .call(Method::GET, "/v3/regions/east", Some(&t), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        s.stop().await;
    })
    .await;
}

#[tokio::test]
async fn access_rules_have_keystones_bounds() {
    let s = TestServer::start("sqlite").await;
    let t = s.admin_token().await;
    let rule = |service: &str, path: &str| {
        json!({"name": format!("ar-{service}-{}", path.len()),
            "access_rules": [{"service": service, "method": "GET", "path": path}]})
    };
    let (status, body) = s
        .create_admin_credential(&t, rule("identity", &format!("/{}", "a".repeat(224))))
        .await;
    assert_eq!(status, StatusCode::CREATED, "225 characters: {body}");
    for (service, path) in [
        ("identity".to_string(), format!("/{}", "a".repeat(225))),
        ("identity".to_string(), "/**".repeat(100)),
        ("i".repeat(65), "/v3".to_string()),
        ("ident ity".to_string(), "/v3".to_string()),
    ] {
        let (status, body) = s.create_admin_credential(&t, rule(&service, &path)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{service} {path}: {body}");
        assert!(message(&body).len() < 500, "bounded echo: {body}");
    }
    // Every rule is matched on every request: their number is bounded too.
    let many = |n: usize| {
        let rules: Vec<Value> = (0..n)
            .map(|i| json!({"service": "identity", "method": "GET", "path": format!("/v3/r{i}")}))
            .collect();
        json!({"name": format!("many-{n}"), "access_rules": rules})
    };
    let (status, body) = s.create_admin_credential(&t, many(100)).await;
    assert_eq!(status, StatusCode::CREATED, "100 rules: {body}");
    let (status, body) = s.create_admin_credential(&t, many(101)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "101 rules: {body}");
    assert!(message(&body).contains("101 rules"), "{body}");
    // A template full of `**` that cannot match refuses a request at once (the old matcher took seconds to
    // forever, on the async runtime).
    let (status, cred) = s
        .create_admin_credential(
            &t,
            rule("identity", &format!("{}/nomatch", "/**".repeat(70))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cred}");
    let auth = json!({"auth": {"identity": {"methods": ["application_credential"],
        "application_credential": {"id": cred["id"], "secret": cred["secret"]}}}});
    let (status, headers, body) = s
        .call(Method::POST, "/v3/auth/tokens", None, Some(auth))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = headers["x-subject-token"].to_str().unwrap().to_string();
    let deep = format!("/v3/users{}", "/a".repeat(60));
    let (status, _, _) = s.call(Method::GET, &deep, Some(&token), None).await;
    assert!(status.is_client_error(), "{status}");
    let (status, _, body) = s.call(Method::GET, "/v3/users", Some(&token), None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "not allowed by the access rule: {body}"
    );
    s.stop().await;
}
