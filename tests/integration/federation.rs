//! OS-FEDERATION (issue 32) on every backend: identity providers, mappings and protocols as Keystone answers them,
//! and what deleting them takes away.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{each_backend, TestServer};

const MAPPING: &str = "/v3/OS-FEDERATION/mappings/ci-mapping";
const IDP: &str = "/v3/OS-FEDERATION/identity_providers/ci-idp";

fn rules() -> Value {
    json!([{
        "local": [{"user": {"name": "{0}"}}, {"groups": "{1}", "domain": {"id": "default"}}],
        "remote": [{"type": "sub"}, {"type": "groups"}]
    }])
}

async fn call(
    s: &TestServer,
    m: Method,
    path: &str,
    t: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, _, body) = s.call(m, path, Some(t), body).await;
    (status, body)
}

#[tokio::test]
async fn providers_mappings_and_protocols_are_managed_as_keystone_does() {
    each_backend(|backend| async move {
        let s = TestServer::start(backend).await;
        let admin = s.admin_token().await;

        // A provider without a domain gets one made for it, and is disabled until enabled.
        let body = json!({"identity_provider": {"remote_ids": ["https://issuer.example"], "description": "CI"}});
        let (status, created) = call(&s, Method::PUT, IDP, &admin, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {created}");
        let idp = &created["identity_provider"];
        assert_eq!(idp["id"], "ci-idp");
        assert_eq!(idp["enabled"], false, "{backend}");
        assert_eq!(idp["remote_ids"], json!(["https://issuer.example"]));
        assert!(idp["links"]["self"].as_str().unwrap().ends_with(IDP));
        assert!(idp["links"]["protocols"].as_str().unwrap().ends_with("/ci-idp/protocols"));
        let domain = idp["domain_id"].as_str().unwrap().to_string();
        let (status, d) = call(&s, Method::GET, &format!("/v3/domains/{domain}"), &admin, None).await;
        assert_eq!(status, StatusCode::OK, "{backend}: the provider's domain: {d}");

        // Duplicates: the id, and a remote id another provider has.
        let (status, _) = call(&s, Method::PUT, IDP, &admin, Some(json!({"identity_provider": {}}))).await;
        assert_eq!(status, StatusCode::CONFLICT, "{backend}");
        let other = json!({"identity_provider": {"remote_ids": ["https://issuer.example"]}});
        let (status, err) = call(
            &s,
            Method::PUT,
            "/v3/OS-FEDERATION/identity_providers/other",
            &admin,
            Some(other),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{backend}: {err}");
        assert_eq!(err["error"]["code"], 409);
        let (status, _) = call(&s, Method::GET, "/v3/OS-FEDERATION/identity_providers/other", &admin, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{backend}: nothing of the refused provider stays");
        let (status, err) = call(
            &s,
            Method::PUT,
            "/v3/OS-FEDERATION/identity_providers/bad",
            &admin,
            Some(json!({"identity_provider": {"enabled": "yes"}})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{backend}: {err}");

        let patch = json!({"identity_provider": {"enabled": true, "remote_ids": ["https://a.example", "https://b.example"]}});
        let (status, updated) = call(&s, Method::PATCH, IDP, &admin, Some(patch)).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {updated}");
        assert_eq!(updated["identity_provider"]["enabled"], true);
        assert_eq!(updated["identity_provider"]["remote_ids"].as_array().unwrap().len(), 2);
        let (_, list) = call(&s, Method::GET, "/v3/OS-FEDERATION/identity_providers", &admin, None).await;
        assert_eq!(list["identity_providers"].as_array().unwrap().len(), 1, "{backend}: {list}");
        let (_, list) = call(&s, Method::GET, "/v3/OS-FEDERATION/identity_providers?enabled=false", &admin, None).await;
        assert_eq!(list["identity_providers"], json!([]), "{backend}: {list}");

        // Mappings: the rules are checked as Keystone's schema says.
        let bad = json!({"mapping": {"rules": [{"local": [], "remote": [{"type": "sub"}]}]}});
        let (status, err) = call(&s, Method::PUT, MAPPING, &admin, Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{backend}: {err}");
        let (status, m) = call(&s, Method::PUT, MAPPING, &admin, Some(json!({"mapping": {"rules": rules()}}))).await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {m}");
        assert_eq!(m["mapping"]["rules"], rules());
        assert_eq!(m["mapping"]["schema_version"], "1.0");

        // Protocols: an unknown mapping is refused; the protocol links to its provider.
        let proto = format!("{IDP}/protocols/openid");
        let (status, err) = call(&s, Method::PUT, &proto, &admin, Some(json!({"protocol": {"mapping_id": "nope"}}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{backend}: {err}");
        assert_eq!(err["error"]["message"], "Invalid mapping id: nope");
        let (status, p) = call(&s, Method::PUT, &proto, &admin, Some(json!({"protocol": {"mapping_id": "ci-mapping"}}))).await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {p}");
        assert_eq!(p["protocol"]["mapping_id"], "ci-mapping");
        assert!(p["protocol"]["links"]["identity_provider"].as_str().unwrap().ends_with(IDP));
        assert!(p["protocol"].get("remote_id_attribute").is_none(), "Keystone shows it in lists only");
        let (_, ps) = call(&s, Method::GET, &format!("{IDP}/protocols"), &admin, None).await;
        assert_eq!(ps["protocols"][0]["id"], "openid", "{backend}: {ps}");
        assert_eq!(ps["protocols"][0]["remote_id_attribute"], Value::Null);
        assert_eq!(ps["protocols"][0]["idp_id"], "ci-idp");

        // Only admins manage federation.
        let (status, _, _) = s.call(Method::GET, "/v3/OS-FEDERATION/mappings", None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // Deleting the provider takes its protocols with it.
        let (status, _) = call(&s, Method::DELETE, IDP, &admin, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{backend}");
        let (status, _) = call(&s, Method::GET, &proto, &admin, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{backend}");
        let (status, _) = call(&s, Method::DELETE, MAPPING, &admin, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{backend}");
        s.stop().await;
    })
    .await;
}
