//! Generated bodies, on every backend: every write operation of the OpenAPI document (so a new one is covered
//! without editing this file) gets arbitrary JSON, both free-form and shaped like its schema with arbitrary
//! values, and the OAuth 2.0 endpoints get arbitrary forms. Nothing may answer 5xx, and every refusal has its
//! documented shape.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::common::{each_backend, TestServer};
use crate::hostile::{assert_shape, oauth_errors};

/// Cases per operation and kind (free-form, shaped).
const CASES: usize = 12;

/// Arbitrary JSON, at most `depth` levels deep: the values attackers and broken clients send.
fn json_value(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::from),
        "[\u{0}-\u{1f}\u{7f}\u{202e}a]{0,8}".prop_map(Value::from),
        "x{300,1200}".prop_map(Value::from),
        "(9999|10000|0000|-0001)-(01|13)-(01|40)T00:00:00Z?".prop_map(Value::from),
    ];
    leaf.prop_recursive(depth, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map("\\PC{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The request body's top-level key and the field names of what it wraps, from the document.
fn shape(doc: &Value, schema: &Value) -> Option<(String, Vec<String>)> {
    let named = |v: &Value| -> Option<Value> {
        let name = v["$ref"].as_str()?.rsplit('/').next()?;
        Some(doc["components"]["schemas"][name].clone())
    };
    let body = named(schema)?;
    let (top, inner) = body["properties"].as_object()?.iter().next()?;
    let fields = named(inner)
        .and_then(|s| s["properties"].as_object().cloned())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    Some((top.clone(), fields))
}

#[tokio::test]
async fn generated_bodies_never_answer_5xx() {
    each_backend(generated_bodies_on).await;
}

async fn generated_bodies_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let t = s.admin_token().await;
    let doc: Value = serde_json::from_str(lintel::api::openapi_json()).unwrap();
    let (_, _, me) = s
        .call(Method::GET, "/v3/users?name=admin", Some(&t), None)
        .await;
    let admin_id = me["users"][0]["id"].as_str().unwrap().to_string();
    // Changes aimed at a user go to one made for it, so that the admin's token keeps working throughout.
    let (_, _, victim) = s
        .call(
            Method::POST,
            "/v3/users",
            Some(&t),
            Some(json!({"user": {"name": "victim", "password": "victim password"}})),
        )
        .await;
    let victim_id = victim["user"]["id"].as_str().unwrap().to_string();
    let mut runner = TestRunner::deterministic();
    let mut sent = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(content) = op["requestBody"]["content"].as_object() else {
                continue;
            };
            let concrete = path
                .replace(
                    "{user_id}",
                    if path.ends_with("application_credentials") {
                        &admin_id
                    } else {
                        &victim_id
                    },
                )
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        "0123456789abcdef0123456789abcdef"
                    } else {
                        seg
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let oauth = oauth_errors(path, method);
            if content.contains_key("application/x-www-form-urlencoded") {
                let form = proptest::collection::vec(("\\PC{0,16}", "\\PC{0,64}"), 0..6);
                for _ in 0..CASES {
                    let mut pairs = form.new_tree(&mut runner).unwrap().current();
                    pairs.push(("grant_type".into(), "client_credentials".into()));
                    let resp = s
                        .client
                        .request(m.clone(), format!("{}{concrete}", s.base))
                        .form(&pairs)
                        .send()
                        .await
                        .unwrap();
                    let status = resp.status();
                    let body: Value = resp.json().await.unwrap_or(Value::Null);
                    assert_shape(
                        &format!("{backend} {method} {path} {pairs:?}"),
                        true,
                        status,
                        &body,
                    );
                    sent += 1;
                }
                continue;
            }
            let (top, fields) = shape(&doc, &content["application/json"]["schema"])
                .unwrap_or_else(|| panic!("{path}: no request schema"));
            let free = json_value(3);
            // A body whose wrapped value is no object (a list of tags, say) gets arbitrary values there instead.
            let names = if fields.is_empty() {
                vec![String::new()]
            } else {
                fields
            };
            let shaped =
                proptest::collection::vec((proptest::sample::select(names), json_value(2)), 1..5);
            for i in 0..2 * CASES {
                let body = if i % 2 == 0 {
                    free.new_tree(&mut runner).unwrap().current()
                } else {
                    let pairs = shaped.new_tree(&mut runner).unwrap().current();
                    let inner = match pairs.first() {
                        Some((name, v)) if name.is_empty() => v.clone(),
                        _ => Value::Object(pairs.into_iter().collect::<Map<String, Value>>()),
                    };
                    json!({ top.as_str(): inner })
                };
                let text = body.to_string();
                let head: String = text.chars().take(200).collect();
                let what = format!("{backend} {method} {path} {head}");
                let (status, _, answer) = s.call(m.clone(), &concrete, Some(&t), Some(body)).await;
                assert_shape(&what, oauth, status, &answer);
                sent += 1;
            }
        }
    }
    assert!(
        sent >= 24 * CASES,
        "only {sent} requests: the document lost its write operations?"
    );
    s.stop().await;
}
