//! The published API contract: `docs/openapi.json` is what the routes generate, `/openapi.json` serves it, and
//! every documented operation is one the server routes.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::TestServer;

const DOC_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");

#[test]
fn docs_openapi_json_is_what_the_routes_generate() {
    let generated = lintel::api::openapi_json();
    if std::env::var_os("LINTEL_BLESS").is_some() {
        std::fs::write(DOC_FILE, generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(DOC_FILE).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/openapi.json is out of date: run `cargo run -- openapi > docs/openapi.json` \
         (or this test with LINTEL_BLESS=1) and commit it"
    );
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_the_document_is_served() {
    let s = TestServer::start("sqlite").await;
    let t = s.admin_token().await;
    let (status, headers, served) = s.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let doc: Value = serde_json::from_str(lintel::api::openapi_json()).unwrap();
    assert_eq!(served, doc, "/openapi.json serves the generated document");
    assert_eq!(doc["openapi"], "3.1.0");

    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        // Every path parameter gets a value no row has: the handler answers (404, 403, 400, ...), not routing.
        let concrete: String = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    "no-such-thing"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for (method, _) in item.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, _, body) = s.call(method.clone(), &concrete, Some(&t), None).await;
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            let routing_miss = status == StatusCode::NOT_FOUND
                && body["error"]["message"] == "The resource could not be found.";
            assert!(
                !routing_miss,
                "{method} {path} is documented but not routed"
            );
            assert!(status.as_u16() < 500, "{method} {path}: {status} {body}");
            checked += 1;
        }
    }
    assert!(checked >= 119, "only {checked} operations documented");
    s.stop().await;
}
