//! Property tests of token decoding: every payload survives a round trip, and no made-up string opens.

use proptest::prelude::*;

use super::tests::codec;
use super::*;
use crate::clock::Clock;

fn id() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9a-f]{32}", "[a-zA-Z0-9_-]{1,64}"]
}

fn token_data() -> impl Strategy<Value = TokenData> {
    (
        proptest::sample::subsequence(vec!["password", "token", "application_credential"], 1..=3),
        id(),
        prop_oneof![
            Just(Scope::Unscoped),
            id().prop_map(Scope::Project),
            id().prop_map(Scope::Domain),
            Just(Scope::System)
        ],
        proptest::collection::vec(id(), 0..8),
        (0i64..4_000_000_000_000_000, 0i64..1_000_000_000_000),
        proptest::collection::vec(any::<[u8; 16]>(), 1..=2),
        proptest::option::of(id()),
    )
        .prop_map(
            |(methods, user_id, scope, role_ids, (issued, life), audits, app_cred_id)| {
                let at = |us: i64| {
                    chrono::DateTime::from_timestamp_micros(us)
                        .unwrap()
                        .naive_utc()
                };
                TokenData {
                    methods: methods.into_iter().map(str::to_string).collect(),
                    user_id,
                    scope,
                    role_ids,
                    issued_at: at(issued),
                    expires_at: at(issued + life),
                    audit_ids: audits
                        .iter()
                        .map(|a| {
                            use base64::Engine;
                            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(a)
                        })
                        .collect(),
                    app_cred_id,
                    cert: None,
                    keystone_cert: None,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever a token carries comes back unchanged.
    #[test]
    fn payloads_round_trip(t in token_data()) {
        prop_assert_eq!(codec::decode(&codec::encode(&t)), Some(t));
    }

    /// Arbitrary bytes are a payload or nothing, never a panic.
    #[test]
    fn any_payload_bytes_decode_or_not(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = codec::decode(&bytes);
    }

    /// No made-up string opens: Fernet-looking, JWT-looking or anything else.
    #[test]
    fn made_up_tokens_never_open(
        s in prop_oneof![
            "[A-Za-z0-9_-]{0,300}",
            "gAAAAA[A-Za-z0-9_-]{100,250}",
            "eyJ[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,200}\\.[A-Za-z0-9_-]{0,120}",
            "\\PC{0,200}",
        ]
    ) {
        let (_dir, c) = codec();
        prop_assert!(c.open(&s, chrono::Duration::zero(), Clock::system().now()).is_err());
    }
}
