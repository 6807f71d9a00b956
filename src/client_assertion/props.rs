//! Property tests of client assertions (RFC 7523): nothing unsigned or mis-signed is ever accepted.

use proptest::prelude::*;

use super::tests::keypair;
use super::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any string, JWT-shaped or not: refused, and reading its claimed client never panics.
    #[test]
    fn made_up_assertions_are_refused(
        s in prop_oneof![
            "eyJ[A-Za-z0-9_-]{0,120}\\.[A-Za-z0-9_-]{0,300}\\.[A-Za-z0-9_-]{0,120}",
            "\\PC{0,300}",
        ]
    ) {
        let (_, jwk) = keypair();
        let jwks = public_jwks(&jwk).unwrap();
        let _ = claimed_client(&s);
        prop_assert!(verify(&s, &jwks, "c1", "https://id.example.com/v3/OS-OAUTH2/token", 1_700_000_000).is_err());
    }

}
