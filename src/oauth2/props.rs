//! Property tests of what an attacker sends the OAuth 2.0 endpoints first: the form and the Basic header.

use base64::Engine;
use proptest::prelude::*;

use super::*;

fn both_on(_: AuthMethod) -> bool {
    true
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any body, any content type: a form or an RFC 6749 error, never a panic.
    #[test]
    fn any_form_body_parses_or_is_refused(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        ct in prop_oneof![
            Just("application/x-www-form-urlencoded".to_string()),
            Just("text/plain".to_string()),
            ".{0,40}",
        ],
    ) {
        let _ = parse_form(Some(&ct), &body);
    }

    /// What a client form-encodes is what the server reads, and a NUL never gets through.
    #[test]
    fn form_parameters_survive_encoding(id in "\\PC{1,64}", secret in "\\PC{1,64}", scope in "[ -~]{0,80}") {
        let body = serde_urlencoded::to_string([
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", scope.as_str()),
        ]).unwrap();
        match parse_form(Some("application/x-www-form-urlencoded"), body.as_bytes()) {
            Ok(form) => {
                prop_assert!(!id.contains('\0') && !secret.contains('\0') && !scope.contains('\0'));
                prop_assert_eq!(form.client_id.as_deref(), Some(id.as_str()));
                prop_assert_eq!(form.client_secret.map(|s| s.0), Some(secret));
                prop_assert_eq!(form.grant_type.as_deref(), Some("client_credentials"));
            }
            Err(_) => prop_assert!(id.contains('\0') || secret.contains('\0') || scope.contains('\0')),
        }
    }

    /// Any Authorization value: a client, or invalid_client/invalid_request, never a panic.
    #[test]
    fn any_authorization_header_is_read_or_refused(value in proptest::collection::vec(any::<u8>(), 0..512)) {
        let form = Form::default();
        let _ = client_proof(Some(&value), &form, false, both_on);
        let _ = claimed_client(Some(&value), &form);
    }

    /// `Basic base64(id:secret)` gives back exactly the id and the secret (RFC 7617), and a second,
    /// form-decoded reading only when it differs.
    #[test]
    fn basic_credentials_round_trip(id in "[^:\0]{1,64}", secret in "[^\0]{1,64}") {
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        );
        let auth = client_auth(Some(header.as_bytes()), &Form::default(), true, true).unwrap();
        prop_assert_eq!(&auth.id, &id);
        prop_assert_eq!(&auth.secret.0, &secret);
        if let Some((i, s)) = &auth.decoded {
            prop_assert!(*i != id || s.0 != secret);
        }
    }
}
