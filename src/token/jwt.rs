//! JWT access tokens (RFC 9068), signed ES256 with keys derived from the token key ring.
//!
//! Each Fernet key of the ring yields one P-256 key pair (HKDF-SHA256 over the key), so the JWT keys live wherever
//! the Fernet keys live (file or database), rotate with `lintel keys rotate`, and the staged key's public half is
//! published in the JWKS before it ever signs. The `kid` is a digest of the public key, stable across the
//! staged-to-primary rename.

use std::collections::HashMap;

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
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: serde_json::Value,
}

/// The signing key (the primary's) and every verifying key of the ring.
pub struct JwtKeys {
    primary: Option<KeyPair>,
    others: HashMap<String, KeyPair>,
}

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

fn derive(fernet_key: &str) -> Option<KeyPair> {
    let ikm = URL_SAFE.decode(fernet_key.trim()).ok()?;
    let hk = hkdf::Hkdf::<Sha256>::new(Some(b"lintel jwt"), &ikm);
    // A 32-byte string is a valid P-256 scalar except with negligible probability; a counter covers that case.
    let signing = (0u8..8).find_map(|n| {
        let mut okm = [0u8; 32];
        hk.expand(&[b"es256".as_slice(), &[n]].concat(), &mut okm)
            .ok()?;
        SigningKey::from_bytes(&okm.into()).ok()
    })?;
    let point = signing.verifying_key().to_encoded_point(false);
    let (x, y) = (point.x()?, point.y()?);
    let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(point.as_bytes())[..12]);
    let der = signing.to_pkcs8_der().ok()?;
    let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
    Some(KeyPair {
        encoding: EncodingKey::from_ec_der(der.as_bytes()),
        decoding: DecodingKey::from_ec_components(&x, &y).ok()?,
        jwk: serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256"}),
        kid,
    })
}

impl JwtKeys {
    /// Derive the key pairs of a ring's Fernet keys, primary first.
    pub fn derive(fernet_keys: &[&str]) -> JwtKeys {
        let mut pairs = fernet_keys.iter().filter_map(|k| derive(k));
        let primary = pairs.next();
        JwtKeys {
            primary,
            others: pairs.map(|p| (p.kid.clone(), p)).collect(),
        }
    }

    /// The public keys as a JWKS document (RFC 7517), signing key first.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .primary
            .iter()
            .chain(self.others.values())
            .map(|p| p.jwk.clone())
            .collect();
        serde_json::json!({ "keys": keys })
    }

    fn find(&self, kid: &str) -> Option<&KeyPair> {
        self.primary
            .as_ref()
            .filter(|p| p.kid == kid)
            .or_else(|| self.others.get(kid))
    }

    /// Sign claims with the primary key, `typ: at+jwt` as RFC 9068 asks.
    pub fn sign(&self, claims: &Claims) -> Option<String> {
        let key = self.primary.as_ref()?;
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).ok()
    }

    /// Verify a JWT's signature, type, issuer and audience, and read it as token data (expiry is checked by
    /// the caller, which knows the `allow_expired` window).
    pub fn open(&self, token: &str, issuer: &str, audience: &str) -> Result<TokenData, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Unrecognized)?;
        if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some("at+jwt") {
            return Err(TokenError::Unrecognized);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|k| self.find(k))
            .ok_or(TokenError::Unrecognized)?;
        let mut v = Validation::new(Algorithm::ES256);
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
        })
    }
}

/// Whether a token string is a JWT (three dot-separated parts) rather than a Fernet token (no dots).
pub fn is_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}
