//! JWT access tokens (RFC 9068), signed ES256 (or EdDSA) with keys derived from the token key ring.
//!
//! Each Fernet key of the ring yields a P-256 and an Ed25519 key pair (HKDF-SHA256 over the key), so the JWT keys
//! live wherever the Fernet keys live (file or database), rotate with `lintel keys rotate`, and the staged key's
//! public half is published in the JWKS before it ever signs. The `kid` is a digest of the public key, stable
//! across the staged-to-primary rename.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::DateTime;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Scope, TokenData, TokenError};

/// One derived key pair.
struct KeyPair {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: serde_json::Value,
}

/// Every derived pair of the ring, in ring order (primary first): the first pair of an algorithm signs, all verify.
pub struct JwtKeys(Vec<KeyPair>);

/// What a JWT access token says: RFC 9068's claims, plus what a Lintel token carries that they do not.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: `public_endpoint`.
    pub iss: String,
    /// The user the token acts for.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time, seconds since the epoch.
    pub iat: i64,
    /// The token's audit id.
    pub jti: String,
    /// The application credential (the OAuth 2.0 client).
    pub client_id: String,
    /// Role names, space-separated.
    pub scope: String,
    /// Role names.
    pub roles: Vec<String>,
    /// The project the token is scoped to.
    pub project_id: String,
    /// Its name.
    pub project_name: String,
    /// The certificate the token is bound to (RFC 8705).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// Lintel's own claims.
    pub lintel: LintelClaims,
}

/// What validation as a Lintel token needs beyond the registered claims.
#[derive(Debug, Serialize, Deserialize)]
pub struct LintelClaims {
    /// Role ids (names can change; ids are what revocation and policy use).
    pub role_ids: Vec<String>,
    /// Issue time in microseconds since the epoch (revocation events compare at that resolution).
    pub iat_us: i64,
    /// The client certificate binding, both forms (`cnf` carries only the RFC one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<crate::token::CertBinding>,
}

/// RFC 8705 §3.1's confirmation claim.
#[derive(Debug, Serialize, Deserialize)]
pub struct Confirmation {
    /// base64url SHA-256 of the client certificate's DER.
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: String,
}

/// The HKDF output for one algorithm and attempt: 32 bytes from the Fernet key.
fn okm(hk: &hkdf::Hkdf<Sha256>, label: &[u8], n: u8) -> Option<[u8; 32]> {
    let mut okm = [0u8; 32];
    hk.expand(&[label, &[n]].concat(), &mut okm).ok()?;
    Some(okm)
}

fn derive_es256(hk: &hkdf::Hkdf<Sha256>) -> Option<KeyPair> {
    // A 32-byte string is a valid P-256 scalar except with negligible probability; a counter covers that case.
    let signing =
        (0u8..8).find_map(|n| SigningKey::from_bytes(&okm(hk, b"es256", n)?.into()).ok())?;
    let point = signing.verifying_key().to_encoded_point(false);
    let (x, y) = (point.x()?, point.y()?);
    let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(point.as_bytes())[..12]);
    let der = signing.to_pkcs8_der().ok()?;
    let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
    Some(KeyPair {
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_der(der.as_bytes()),
        decoding: DecodingKey::from_ec_components(&x, &y).ok()?,
        jwk: serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256"}),
        kid,
    })
}

fn derive_eddsa(hk: &hkdf::Hkdf<Sha256>) -> Option<KeyPair> {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    // Every 32-byte string is an Ed25519 secret key.
    let signing = ed25519_dalek::SigningKey::from_bytes(&okm(hk, b"ed25519", 0)?);
    let public = signing.verifying_key().to_bytes();
    let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12]);
    let der = signing.to_pkcs8_der().ok()?;
    let x = URL_SAFE_NO_PAD.encode(public);
    Some(KeyPair {
        alg: Algorithm::EdDSA,
        encoding: EncodingKey::from_ed_der(der.as_bytes()),
        decoding: DecodingKey::from_ed_components(&x).ok()?,
        jwk: serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": "EdDSA"}),
        kid,
    })
}

impl JwtKeys {
    /// Derive the key pairs of a ring's Fernet keys (primary first), for every algorithm.
    pub fn derive(fernet_keys: &[&str]) -> JwtKeys {
        let pairs = fernet_keys
            .iter()
            .filter_map(|key| URL_SAFE.decode(key.trim()).ok())
            .flat_map(|ikm| {
                let hk = hkdf::Hkdf::<Sha256>::new(Some(b"lintel jwt"), &ikm);
                [derive_es256(&hk), derive_eddsa(&hk)]
            })
            .flatten()
            .collect();
        JwtKeys(pairs)
    }

    /// The pairs of one algorithm, in ring order.
    fn of(&self, alg: Algorithm) -> impl Iterator<Item = &KeyPair> {
        self.0.iter().filter(move |p| p.alg == alg)
    }

    /// The public keys as a JWKS document (RFC 7517): the signing algorithm's first (its signing key leading),
    /// then the other algorithm's, so tokens signed before an algorithm change still verify offline.
    pub fn jwks(&self, alg: Algorithm) -> serde_json::Value {
        let others = self.0.iter().filter(|p| p.alg != alg);
        let keys: Vec<_> = self.of(alg).chain(others).map(|p| p.jwk.clone()).collect();
        serde_json::json!({ "keys": keys })
    }

    /// Sign claims with the primary key's pair of `alg`, `typ: at+jwt` as RFC 9068 asks.
    pub fn sign(&self, claims: &Claims, alg: Algorithm) -> Option<String> {
        let key = self.of(alg).next()?;
        let mut header = Header::new(alg);
        header.typ = Some("at+jwt".into());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).ok()
    }

    /// Verify a JWT's signature, type, issuer and audience, and read it as token data (expiry is checked by
    /// the caller, which knows the `allow_expired` window).
    pub fn open(&self, token: &str, issuer: &str, audience: &str) -> Result<TokenData, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Unrecognized)?;
        if header.typ.as_deref() != Some("at+jwt") {
            return Err(TokenError::Unrecognized);
        }
        // The key decides the algorithm: a token signed before an algorithm change still verifies.
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.0.iter().find(|p| p.kid == kid))
            .filter(|k| k.alg == header.alg)
            .ok_or(TokenError::Unrecognized)?;
        let mut v = Validation::new(key.alg);
        v.validate_exp = false;
        v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        v.set_issuer(&[issuer]);
        v.set_audience(&[audience]);
        let c = jsonwebtoken::decode::<Claims>(token, &key.decoding, &v)
            .map_err(|_| TokenError::Unrecognized)?
            .claims;
        let issued_at = DateTime::from_timestamp_micros(c.lintel.iat_us)
            .filter(|t| t.timestamp() == c.iat)
            .map(|t| t.naive_utc())
            .ok_or(TokenError::Unrecognized)?;
        Ok(TokenData {
            methods: vec!["application_credential".into()],
            user_id: c.sub,
            scope: Scope::Project(c.project_id),
            role_ids: c.lintel.role_ids,
            issued_at,
            expires_at: DateTime::from_timestamp(c.exp, 0)
                .map(|t| t.naive_utc())
                .ok_or(TokenError::Unrecognized)?,
            audit_ids: vec![c.jti],
            app_cred_id: Some(c.client_id),
            cert: c.lintel.cert,
            keystone_cert: None,
        })
    }
}

/// Whether a token string is a JWT (three dot-separated parts) rather than a Fernet token (no dots).
pub fn is_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}
