//! `private_key_jwt` client authentication (RFC 7523 §2.2, §3): the client signs a short-lived JWT with a private
//! key whose public half its application credential carries, and never sends a secret.

use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

/// The `client_assertion_type` of a JWT client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest an assertion may still be valid for when it arrives, in seconds.
pub const MAX_LIFETIME: i64 = 300;

/// Clock skew allowed on `exp` and `nbf`, in seconds.
const LEEWAY: u64 = 30;

/// Most keys one credential may carry.
const MAX_KEYS: usize = 10;

/// Asymmetric signature algorithms accepted on assertions (no `none`, no HMAC: that would be a shared secret).
pub const ALGORITHMS: &[Algorithm] = &[
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::EdDSA,
];

/// Check a JWK or JWK Set from a create request and return the JWK Set to store, as JSON.
pub fn public_jwks(v: &Value) -> Result<String, String> {
    let set = match v.get("keys") {
        Some(_) => v.clone(),
        None => serde_json::json!({ "keys": [v] }),
    };
    let keys = set["keys"]
        .as_array()
        .ok_or("'keys' must be an array of JWKs")?;
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(format!("a JWK Set needs 1 to {MAX_KEYS} keys"));
    }
    for k in keys {
        // RFC 7518 §6: these members hold private or symmetric key material.
        if ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
            .iter()
            .any(|m| k.get(m).is_some())
        {
            return Err("a JWK here must be a public key: it holds private key material".into());
        }
    }
    let parsed: JwkSet = serde_json::from_value(set)
        .map_err(|e| format!("not a JWK Set of supported public keys: {e}"))?;
    for k in &parsed.keys {
        usable(k)?;
    }
    // Stored as parsed: only the members Lintel understands, in a bounded size.
    let stored = serde_json::to_string(&parsed).map_err(|e| e.to_string())?;
    if stored.len() > MAX_JWKS_BYTES {
        return Err(format!("a JWK Set may take at most {MAX_JWKS_BYTES} bytes"));
    }
    Ok(stored)
}

/// Largest stored JWK Set, in bytes (ten 4096-bit RSA keys fit).
const MAX_JWKS_BYTES: usize = 16 * 1024;

/// Whether a public key can verify assertions: an Ed25519 point, a P-256 or P-384 point, or an RSA key of
/// 2048 to 4096 bits. Checked in full here, because the JWT library trusts the key material it is given.
pub(crate) fn usable(k: &Jwk) -> Result<(), String> {
    use base64::Engine;
    let b64 = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|_| "a key member is not base64url".to_string())
    };
    match &k.algorithm {
        AlgorithmParameters::OctetKeyPair(p) => {
            let x: [u8; 32] = b64(&p.x)?
                .try_into()
                .map_err(|_| "an Ed25519 key's x must be 32 bytes".to_string())?;
            if !matches!(p.curve, jsonwebtoken::jwk::EllipticCurve::Ed25519) {
                return Err("OKP keys must be Ed25519".into());
            }
            ed25519_dalek::VerifyingKey::from_bytes(&x)
                .map(|_| ())
                .map_err(|_| "not an Ed25519 public key".into())
        }
        AlgorithmParameters::EllipticCurve(p) => {
            let point = [vec![4u8], b64(&p.x)?, b64(&p.y)?].concat();
            let ok = match p.curve {
                jsonwebtoken::jwk::EllipticCurve::P256 => {
                    p256::PublicKey::from_sec1_bytes(&point).is_ok()
                }
                jsonwebtoken::jwk::EllipticCurve::P384 => {
                    p384::PublicKey::from_sec1_bytes(&point).is_ok()
                }
                _ => return Err("EC keys must be on P-256 or P-384".into()),
            };
            ok.then_some(())
                .ok_or_else(|| "not a point on the key's curve".into())
        }
        AlgorithmParameters::RSA(p) => {
            let n = b64(&p.n)?;
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if !(2048..=4096).contains(&bits) || b64(&p.e)?.is_empty() {
                return Err("RSA keys must have 2048 to 4096 bits".into());
            }
            DecodingKey::from_jwk(k)
                .map(|_| ())
                .map_err(|e| format!("unusable key: {e}"))
        }
        AlgorithmParameters::OctetKey(_) => {
            Err("symmetric (kty oct) keys cannot sign client assertions".into())
        }
        _ => Err("unsupported key type".into()),
    }
}

/// Why an assertion was refused; each is an `invalid_client` to the client, the message says which rule failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    /// Not a JWT, or a header without an accepted algorithm.
    #[error("The client assertion is not a JWT signed with an accepted algorithm (ES256, ES384, RS256-512, PS256-512, EdDSA).")]
    Malformed,
    /// No key of the credential verifies its signature, or its claims do not name the client.
    #[error("Client authentication failed.")]
    BadSignature,
    /// `aud` is not this token endpoint.
    #[error("The client assertion's aud must be this server's token endpoint URL.")]
    Audience,
    /// Expired, not yet valid, or valid for too long.
    #[error("The client assertion must carry an exp in the future and at most {MAX_LIFETIME} seconds away.")]
    Lifetime,
    /// No `jti`.
    #[error("The client assertion must carry a jti.")]
    NoJti,
    /// The same `jti` was used before.
    #[error("The client assertion was already used (jti seen before).")]
    Replayed,
}

#[derive(Deserialize)]
struct Unverified {
    iss: Option<String>,
    sub: Option<String>,
}

/// The client an assertion claims to be (`sub`, which must equal `iss`), read before any check so its keys can be
/// found; nothing else may be trusted until [`verify`] succeeds.
pub fn claimed_client(assertion: &str) -> Option<String> {
    let c: Unverified = jsonwebtoken::dangerous::insecure_decode_claims(assertion).ok()?;
    match (c.iss, c.sub) {
        (Some(iss), Some(sub)) if iss == sub && !sub.is_empty() => Some(sub),
        _ => None,
    }
}

#[derive(Deserialize)]
struct Claims {
    exp: i64,
    jti: Option<String>,
}

/// A verified assertion: what the replay check needs.
pub struct Verified {
    /// The assertion's unique id.
    pub jti: String,
    /// Its expiry, seconds since the epoch.
    pub exp: i64,
}

/// Verify an assertion's signature against a stored JWK Set and its claims against RFC 7523 §3: `iss` = `sub` =
/// the client, `aud` names the token endpoint, `exp` soon, `jti` present.
pub fn verify(
    assertion: &str,
    jwks: &str,
    client_id: &str,
    audience: &str,
    now: i64,
) -> Result<Verified, AssertionError> {
    if assertion.len() > 8192 {
        return Err(AssertionError::Malformed);
    }
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| AssertionError::Malformed)?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(AssertionError::Malformed);
    }
    let set: JwkSet = serde_json::from_str(jwks).map_err(|_| AssertionError::BadSignature)?;
    let candidates: Vec<&Jwk> = set
        .keys
        .iter()
        .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
        .filter(|k| !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption)))
        // A key registered for one algorithm verifies only that one.
        .filter(|k| {
            k.common
                .key_algorithm
                .is_none_or(|a| Algorithm::try_from(a).ok() == Some(header.alg))
        })
        .filter(|k| usable(k).is_ok())
        .collect();
    let mut v = Validation::new(header.alg);
    v.leeway = LEEWAY;
    v.validate_nbf = true;
    v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    v.set_issuer(&[client_id]);
    v.sub = Some(client_id.to_string());
    // The audience is checked below, to tell the client what it should have been.
    v.validate_aud = false;
    let claims = candidates
        .iter()
        .filter_map(|k| DecodingKey::from_jwk(k).ok())
        .find_map(|key| jsonwebtoken::decode::<Value>(assertion, &key, &v).ok())
        .ok_or_else(|| {
            // A valid signature on an expired assertion still fails decode: say so when that is the reason.
            let expired = jsonwebtoken::dangerous::insecure_decode_claims::<Claims>(assertion)
                .is_ok_and(|c| c.exp.saturating_add(LEEWAY as i64) < now);
            if expired {
                AssertionError::Lifetime
            } else {
                AssertionError::BadSignature
            }
        })?
        .claims;
    let aud_ok = match &claims["aud"] {
        Value::String(a) => a == audience,
        Value::Array(items) => items.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(AssertionError::Audience);
    }
    let c: Claims = serde_json::from_value(claims).map_err(|_| AssertionError::Malformed)?;
    if c.exp > now.saturating_add(MAX_LIFETIME + LEEWAY as i64) {
        return Err(AssertionError::Lifetime);
    }
    let jti = c
        .jti
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or(AssertionError::NoJti)?;
    Ok(Verified { jti, exp: c.exp })
}

/// The key a client's `jti` is recorded under: hex SHA-256, so its length is bounded whatever the client sent.
pub fn jti_key(client_id: &str, jti: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(client_id.as_bytes());
    h.update([0]);
    h.update(jti.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// How long after its expiry an accepted assertion's `jti` is kept (its `exp` may be up to the leeway late).
pub const JTI_RETENTION: i64 = 2 * LEEWAY as i64;

/// `jti`s this node accepted, kept for as long as such an assertion could still be valid: replays to the same
/// node are refused without a database round trip; the `client_assertion_jti` table covers the other nodes.
pub struct ReplayCache(moka::sync::Cache<String, ()>);

impl Default for ReplayCache {
    fn default() -> Self {
        ReplayCache(
            moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(Duration::from_secs((MAX_LIFETIME as u64) + 2 * LEEWAY))
                .build(),
        )
    }
}

impl ReplayCache {
    /// Record a `jti` key; false when it was recorded before (a replay).
    pub fn first_use(&self, key: &str) -> bool {
        self.0.entry(key.to_string()).or_insert(()).is_fresh()
    }
}

#[cfg(test)]
mod props;

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use p256::pkcs8::EncodePrivateKey;

    pub(super) fn keypair() -> (EncodingKey, Value) {
        let sk = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let der = sk.to_pkcs8_der().unwrap();
        let point = sk.verifying_key().to_encoded_point(false);
        use base64::Engine;
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "kid": "k1",
            "x": b.encode(point.x().unwrap()), "y": b.encode(point.y().unwrap())});
        (EncodingKey::from_ec_der(der.as_bytes()), jwk)
    }

    fn sign(key: &EncodingKey, claims: Value) -> String {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some("k1".into());
        jsonwebtoken::encode(&h, &claims, key).unwrap()
    }

    #[test]
    fn assertions_are_checked_as_rfc_7523_says() {
        let (key, jwk) = keypair();
        let jwks = public_jwks(&jwk).unwrap();
        let now = crate::clock::Clock::system().unix();
        let aud = "https://id.example/v3/OS-OAUTH2/token";
        let claims = |exp: i64, aud: &str| serde_json::json!({"iss": "c1", "sub": "c1", "aud": aud, "exp": exp, "jti": "j1"});
        let good = sign(&key, claims(now + 60, aud));
        assert_eq!(claimed_client(&good).as_deref(), Some("c1"));
        assert_eq!(verify(&good, &jwks, "c1", aud, now).unwrap().jti, "j1");
        assert_eq!(
            verify(&good, &jwks, "c2", aud, now).err(),
            Some(AssertionError::BadSignature)
        );
        let far = sign(&key, claims(now + 3600, aud));
        assert_eq!(
            verify(&far, &jwks, "c1", aud, now).err(),
            Some(AssertionError::Lifetime)
        );
        let old = sign(&key, claims(now - 120, aud));
        assert_eq!(
            verify(&old, &jwks, "c1", aud, now).err(),
            Some(AssertionError::Lifetime)
        );
        let elsewhere = sign(&key, claims(now + 60, "https://other"));
        assert_eq!(
            verify(&elsewhere, &jwks, "c1", aud, now).err(),
            Some(AssertionError::Audience)
        );
        let (other_key, _) = keypair();
        let forged = sign(&other_key, claims(now + 60, aud));
        assert_eq!(
            verify(&forged, &jwks, "c1", aud, now).err(),
            Some(AssertionError::BadSignature)
        );
        assert_eq!(
            verify("a.b.c", &jwks, "c1", aud, now).err(),
            Some(AssertionError::Malformed)
        );

        let cache = ReplayCache::default();
        assert!(cache.first_use(&jti_key("c1", "j1")));
        assert!(!cache.first_use(&jti_key("c1", "j1")));
        assert!(cache.first_use(&jti_key("c2", "j1")));
        assert_ne!(jti_key("c1", "j1"), jti_key("c1j", "1"));
        assert_eq!(jti_key("c", "j").len(), 64);
    }

    #[test]
    fn a_key_registered_for_one_algorithm_verifies_only_that_one() {
        let (key, mut jwk) = keypair();
        jwk["alg"] = "ES384".into();
        let jwks = public_jwks(&jwk).unwrap();
        let now = crate::clock::Clock::system().unix();
        let a = sign(
            &key,
            serde_json::json!({"iss": "c", "sub": "c", "aud": "a", "exp": now + 60, "jti": "j"}),
        );
        assert_eq!(
            verify(&a, &jwks, "c", "a", now).err(),
            Some(AssertionError::BadSignature)
        );
        let huge = sign(
            &key,
            serde_json::json!({"iss": "c", "sub": "c", "aud": "a", "exp": i64::MAX, "jti": "j"}),
        );
        assert!(verify(&huge, &public_jwks(&keypair().1).unwrap(), "c", "a", now).is_err());
    }

    #[test]
    fn only_public_asymmetric_keys_are_stored() {
        let (_, jwk) = keypair();
        let mut private = jwk.clone();
        private["d"] = "AAAA".into();
        assert!(public_jwks(&private).is_err());
        assert!(public_jwks(&serde_json::json!({"kty": "oct", "k": "c2VjcmV0"})).is_err());
        assert!(public_jwks(&serde_json::json!({"keys": []})).is_err());
        assert!(public_jwks(&serde_json::json!({"keys": [jwk]})).is_ok());
        assert!(public_jwks(&serde_json::json!("nope")).is_err());
        // Short or off-curve keys would reach the JWT library's unchecked slicing: refused up front.
        assert!(
            public_jwks(&serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"})).is_err()
        );
        let mut off_curve = jwk.clone();
        off_curve["y"] = off_curve["x"].clone();
        assert!(public_jwks(&off_curve).is_err());
        assert!(public_jwks(&serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"})).is_err());
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        use base64::Engine;
        let x =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sk.verifying_key().to_bytes());
        assert!(public_jwks(&serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x})).is_ok());
    }
}
