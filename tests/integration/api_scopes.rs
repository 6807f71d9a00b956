//! Scopes, rescoping, service tokens, allow_expired, the caller's own views, the catalog, tags and implied roles.

use crate::common::{role_names, TestServer, ADMIN_PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn auth(scope: serde_json::Value) -> serde_json::Value {
    json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": ADMIN_PASSWORD}}}, "scope": scope}})
}

#[tokio::test]
async fn system_domain_and_rescoped_tokens() {
    let s = TestServer::start("sqlite").await;
    let admin = s.admin_token().await;
    let (status, _, body) = s
        .call(
            Method::POST,
            "/v3/auth/tokens?nocatalog",
            None,
            Some(auth(json!({"system": {"all": true}}))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["token"]["system"], json!({"all": true}));
    assert!(body["token"].get("catalog").is_none(), "nocatalog");
    assert_eq!(
        role_names(&body),
        vec!["admin", "manager", "member", "reader"]
    );

    let (status, _, body) = s
        .call(
            Method::POST,
            "/v3/auth/tokens",
            None,
            Some(auth(json!({"domain": {"id": "default"}}))),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no role on the domain yet: {body}"
    );
    let (_, _, roles) = s
        .call(Method::GET, "/v3/roles?name=reader", Some(&admin), None)
        .await;
    let reader = roles["roles"][0]["id"].as_str().unwrap().to_string();
    let (_, _, me) = s
        .call(Method::GET, "/v3/users?name=admin", Some(&admin), None)
        .await;
    let uid = me["users"][0]["id"].as_str().unwrap().to_string();
    let (status, _, _) = s
        .call(
            Method::PUT,
            &format!("/v3/domains/default/users/{uid}/roles/{reader}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, headers, body) = s
        .call(
            Method::POST,
            "/v3/auth/tokens",
            None,
            Some(auth(json!({"domain": {"name": "Default"}}))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["token"]["domain"],
        json!({"id": "default", "name": "Default"})
    );
    assert_eq!(role_names(&body), vec!["reader"]);
    let domain_token = headers["x-subject-token"].to_str().unwrap().to_string();
    let (_, _, mine) = s
        .call(Method::GET, "/v3/auth/domains", Some(&domain_token), None)
        .await;
    assert_eq!(mine["domains"][0]["id"], "default");

    // An unscoped token rescoped to a project through the token method keeps its expiry and audit chain.
    let (_, unscoped, first) = s.password_token("admin", ADMIN_PASSWORD, None).await;
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}}, "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    let (status, _, body) = s
        .call(Method::POST, "/v3/auth/tokens", None, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["token"]["project"]["name"], "admin");
    assert_eq!(body["token"]["methods"], json!(["password", "token"]));
    assert_eq!(body["token"]["expires_at"], first["token"]["expires_at"]);
    assert_eq!(
        body["token"]["audit_ids"][1],
        first["token"]["audit_ids"][0]
    );
    let (_, _, system) = s
        .call(Method::GET, "/v3/auth/system", Some(&admin), None)
        .await;
    assert_eq!(system["system"], json!([{"all": true}]));
    s.stop().await;
}

#[tokio::test]
async fn service_tokens_and_allow_expired() {
    let s = TestServer::start_with(
        "sqlite",
        "[token]\nexpiration = 60\nallow_expired_window = 3600\n",
    )
    .await;
    let admin = s.admin_token().await;
    // A service user, as keystonemiddleware runs with.
    let (_, _, svc) = s
        .call(
            Method::POST,
            "/v3/users",
            Some(&admin),
            Some(json!({"user": {"name": "nova", "password": "pw-nova"}})),
        )
        .await;
    let svc_id = svc["user"]["id"].as_str().unwrap().to_string();
    let (_, _, roles) = s
        .call(Method::GET, "/v3/roles?name=service", Some(&admin), None)
        .await;
    let service_role = roles["roles"][0]["id"].as_str().unwrap().to_string();
    let (_, _, projects) = s
        .call(Method::GET, "/v3/projects?name=admin", Some(&admin), None)
        .await;
    let pid = projects["projects"][0]["id"].as_str().unwrap().to_string();
    s.call(
        Method::PUT,
        &format!("/v3/projects/{pid}/users/{svc_id}/roles/{service_role}"),
        Some(&admin),
        None,
    )
    .await;
    let (_, _, plain) = s
        .call(
            Method::POST,
            "/v3/users",
            Some(&admin),
            Some(json!({"user": {"name": "dave", "password": "pw-dave"}})),
        )
        .await;
    assert!(plain["user"]["id"].is_string());
    let (_, service_token, _) = s.password_token("nova", "pw-nova", Some("admin")).await;
    let (_, dave, _) = s.password_token("dave", "pw-dave", None).await;

    assert_eq!(
        s.validate(&service_token, &admin).await.0,
        StatusCode::OK,
        "the service role may validate"
    );
    let (status, body) = s.validate(&dave, &admin).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let resp = s
        .client
        .get(format!("{}/v3/auth/tokens", s.base))
        .header("X-Auth-Token", &dave)
        .header("X-Service-Token", &service_token)
        .header("X-Subject-Token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "a service token beside the user's token authorizes validation"
    );

    s.clock.advance(std::time::Duration::from_secs(61));
    let (_, fresh_service, _) = s.password_token("nova", "pw-nova", Some("admin")).await;
    assert_eq!(
        s.validate(&fresh_service, &admin).await.0,
        StatusCode::NOT_FOUND,
        "expired"
    );
    let resp = s
        .client
        .get(format!("{}/v3/auth/tokens?allow_expired=1", s.base))
        .header("X-Auth-Token", &fresh_service)
        .header("X-Subject-Token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "allow_expired within the window"
    );
    s.stop().await;
}

#[tokio::test]
async fn catalog_changes_show_in_new_tokens() {
    let s = TestServer::start("sqlite").await;
    let admin = s.admin_token().await;
    let (status, _, svc) = s
        .call(
            Method::POST,
            "/v3/services",
            Some(&admin),
            Some(json!({"service": {"type": "compute", "name": "nova"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let sid = svc["service"]["id"].as_str().unwrap();
    let (status, _, ep) = s.call(Method::POST, "/v3/endpoints", Some(&admin), Some(json!({"endpoint": {"service_id": sid, "interface": "public", "url": "https://nova.example/v2.1", "region_id": "RegionOne"}}))).await;
    assert_eq!(status, StatusCode::CREATED, "{ep}");
    let (status, _, bad) = s
        .call(
            Method::POST,
            "/v3/endpoints",
            Some(&admin),
            Some(json!({"endpoint": {"service_id": sid, "interface": "sideways", "url": "x"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let (_, _, body) = s
        .call(Method::GET, "/v3/auth/catalog", Some(&admin), None)
        .await;
    let types: Vec<_> = body["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap().to_string())
        .collect();
    assert!(types.contains(&"compute".to_string()), "{types:?}");
    let (_, _, eps) = s
        .call(
            Method::GET,
            &format!("/v3/endpoints?service_id={sid}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(eps["endpoints"].as_array().unwrap().len(), 1);
    let (_, _, regions) = s.call(Method::GET, "/v3/regions", Some(&admin), None).await;
    assert_eq!(regions["regions"][0]["id"], "RegionOne");
    s.stop().await;
}

#[tokio::test]
async fn project_tags_and_implied_roles() {
    let s = TestServer::start("sqlite").await;
    let admin = s.admin_token().await;
    let (_, _, p) = s
        .call(
            Method::POST,
            "/v3/projects",
            Some(&admin),
            Some(json!({"project": {"name": "tagged"}})),
        )
        .await;
    let pid = p["project"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        s.call(
            Method::PUT,
            &format!("/v3/projects/{pid}/tags/red"),
            Some(&admin),
            None
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        s.call(
            Method::GET,
            &format!("/v3/projects/{pid}/tags/red"),
            Some(&admin),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.call(
            Method::GET,
            &format!("/v3/projects/{pid}/tags/blue"),
            Some(&admin),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (_, _, tags) = s
        .call(
            Method::PUT,
            &format!("/v3/projects/{pid}/tags"),
            Some(&admin),
            Some(json!({"tags": ["b", "a"]})),
        )
        .await;
    assert_eq!(
        tags["tags"],
        json!(["b", "a"]),
        "echoed as sent, as Keystone does"
    );
    assert_eq!(
        s.call(
            Method::PUT,
            &format!("/v3/projects/{pid}/tags/a%2Fb"),
            Some(&admin),
            None
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );

    let (_, _, inferences) = s
        .call(Method::GET, "/v3/role_inferences", Some(&admin), None)
        .await;
    assert_eq!(
        inferences["role_inferences"].as_array().unwrap().len(),
        3,
        "admin, manager and member imply"
    );
    let (_, _, a) = s
        .call(
            Method::POST,
            "/v3/roles",
            Some(&admin),
            Some(json!({"role": {"name": "auditor"}})),
        )
        .await;
    let (_, _, b) = s
        .call(
            Method::POST,
            "/v3/roles",
            Some(&admin),
            Some(json!({"role": {"name": "viewer"}})),
        )
        .await;
    let (a, b) = (
        a["role"]["id"].as_str().unwrap().to_string(),
        b["role"]["id"].as_str().unwrap().to_string(),
    );
    let (status, _, body) = s
        .call(
            Method::PUT,
            &format!("/v3/roles/{a}/implies/{b}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["role_inference"]["implies"]["name"], "viewer");
    assert_eq!(
        s.call(
            Method::HEAD,
            &format!("/v3/roles/{a}/implies/{b}"),
            Some(&admin),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT,
        "the check call answers 204, as Keystone"
    );
    let (_, _, listed) = s
        .call(
            Method::GET,
            &format!("/v3/roles/{a}/implies"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(listed["role_inference"]["implies"][0]["id"], b.as_str());
    let (status, _, dup) = s
        .call(
            Method::POST,
            "/v3/roles",
            Some(&admin),
            Some(json!({"role": {"name": "viewer"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{dup}");
    let (status, _, _) = s
        .call(Method::DELETE, "/v3/roles/nope", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

/// `GET /v3/auth/domains` lists the enabled domains on which the caller holds a role, directly or through a
/// group, and no other.
#[tokio::test]
async fn my_domains_are_those_i_hold_a_role_on() {
    crate::common::each_backend(|backend| async move {
        let s = TestServer::start(backend).await;
        let admin = s.admin_token().await;
        let call = |method: Method, path: String, body: Option<serde_json::Value>| {
            let (s, admin) = (&s, &admin);
            async move { s.call(method, &path, Some(admin), body).await }
        };
        let (_, _, me) = call(Method::GET, "/v3/users?name=admin".into(), None).await;
        let uid = me["users"][0]["id"].as_str().unwrap().to_string();
        let (_, _, roles) = call(Method::GET, "/v3/roles?name=reader".into(), None).await;
        let reader = roles["roles"][0]["id"].as_str().unwrap().to_string();
        let mut ids = Vec::new();
        for name in ["through-group", "directly", "no-role", "disabled"] {
            let body = json!({"domain": {"name": name}});
            let (status, _, d) = call(Method::POST, "/v3/domains".into(), Some(body)).await;
            assert_eq!(status, StatusCode::CREATED, "{backend}: {d}");
            ids.push(d["domain"]["id"].as_str().unwrap().to_string());
        }
        let body = json!({"group": {"name": "readers", "domain_id": "default"}});
        let (_, _, g) = call(Method::POST, "/v3/groups".into(), Some(body)).await;
        let gid = g["group"]["id"].as_str().unwrap().to_string();
        for path in [
            format!("/v3/groups/{gid}/users/{uid}"),
            format!("/v3/domains/{}/groups/{gid}/roles/{reader}", ids[0]),
            format!("/v3/domains/{}/users/{uid}/roles/{reader}", ids[1]),
            format!("/v3/domains/{}/users/{uid}/roles/{reader}", ids[3]),
        ] {
            let (status, _, body) = call(Method::PUT, path.clone(), None).await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{backend}: {path}: {body}");
        }
        let off = json!({"domain": {"enabled": false}});
        let (status, _, _) =
            call(Method::PATCH, format!("/v3/domains/{}", ids[3]), Some(off)).await;
        assert_eq!(status, StatusCode::OK);

        let (status, _, mine) = call(Method::GET, "/v3/auth/domains".into(), None).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {mine}");
        let mut listed: Vec<&str> = mine["domains"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap())
            .filter(|id| ids.iter().any(|x| x == id))
            .collect();
        listed.sort();
        let mut expected = vec![ids[0].as_str(), ids[1].as_str()];
        expected.sort();
        assert_eq!(listed, expected, "{backend}: {mine}");
        s.stop().await;
    })
    .await;
}
