//! Micro-benchmarks of the functions on the token path, so that a regression shows at function level
//! (`cargo bench --bench hot`); the end-to-end figures come from `scripts/bench.sh`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)] // a benchmark's setup may fail loudly

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use lintel::credential::SecretCache;
use lintel::crypto::hashing::Secret;
use lintel::oauth2::{client_auth, parse_form};
use lintel::token::{codec, keys, KeyRing, Scope, TokenCodec, TokenData};

fn sample() -> TokenData {
    let now = lintel::clock::Clock::system().now();
    let id = || uuid::Uuid::new_v4().simple().to_string();
    TokenData {
        methods: vec!["application_credential".into()],
        user_id: id(),
        scope: Scope::Project(id()),
        role_ids: (0..3).map(|_| id()).collect(),
        issued_at: now,
        expires_at: now + chrono::Duration::hours(1),
        audit_ids: vec![codec::new_audit_id()],
        app_cred_id: Some(id()),
        cert: None,
        keystone_cert: None,
    }
}

fn tokens(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    keys::setup(dir.path()).expect("key setup");
    let sealer = TokenCodec::new(KeyRing::load(dir.path()).expect("key ring"));
    let data = sample();
    c.bench_function("token/encode_payload", |b| {
        b.iter(|| codec::encode(black_box(&data)));
    });
    let payload = codec::encode(&data);
    c.bench_function("token/decode_payload", |b| {
        b.iter(|| codec::decode(black_box(&payload)));
    });
    c.bench_function("token/issue", |b| b.iter(|| sealer.issue(black_box(&data))));
    let token = sealer.issue(&data);
    c.bench_function("token/open", |b| {
        b.iter(|| {
            sealer.open(
                black_box(&token),
                chrono::Duration::zero(),
                lintel::clock::Clock::system().now(),
            )
        });
    });
}

fn oauth2(c: &mut Criterion) {
    let body = b"grant_type=client_credentials&scope=member";
    let form_type = Some("application/x-www-form-urlencoded");
    c.bench_function("oauth2/parse_form", |b| {
        b.iter(|| parse_form(black_box(form_type), black_box(body)));
    });
    let form = parse_form(form_type, body).expect("form");
    let basic: &[u8] =
        b"Basic MGQ4ZDJhY2U5ZTFlNDNhMjhkYjQ1NjNlYjM0Y2Q3ZGU6c2VjcmV0LXNlY3JldC1zZWNyZXQ=";
    c.bench_function("oauth2/client_auth_basic", |b| {
        b.iter(|| client_auth(black_box(Some(basic)), &form, true, true));
    });
}

fn secret_cache(c: &mut Criterion) {
    let cache = SecretCache::new(lintel::clock::Clock::system());
    let id = "0d8d2ace9e1e43a28db4563eb34cd7de";
    let secret = Secret::new("secret-secret-secret");
    cache.remember(
        id,
        lintel::model::Which::Current,
        &secret,
        "stored-hash",
        None,
    );
    c.bench_function("credential/secret_cache_hit", |b| {
        b.iter(|| cache.hit(black_box(id), black_box(&secret)));
    });
    let wrong = Secret::new("wrong-secret");
    c.bench_function("credential/secret_cache_wrong_secret", |b| {
        b.iter(|| cache.hit(black_box(id), black_box(&wrong)));
    });
}

criterion_group!(hot, tokens, oauth2, secret_cache);
criterion_main!(hot);
