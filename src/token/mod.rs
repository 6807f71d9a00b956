//! Tokens: what a token says ([`TokenData`]), how it is sealed, and how it is checked.

pub mod codec;
pub mod jwt;
pub mod key_store;
pub mod keys;
pub mod keystone;
pub mod revocation;
pub mod subject;
pub mod validation;

pub use validation::{inspect, validate, validate_presented, Validated, ValidationCache};

use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::NaiveDateTime;

pub use keys::KeyRing;
pub use revocation::RevocationIndex;

/// What a token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// No scope: only good for discovering projects and rescoping.
    Unscoped,
    /// A project id.
    Project(String),
    /// A domain id.
    Domain(String),
    /// The whole deployment.
    System,
}

/// Everything a token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenData {
    /// Authentication methods used, in Keystone's names.
    pub methods: Vec<String>,
    /// The user the token acts for.
    pub user_id: String,
    /// The scope.
    pub scope: Scope,
    /// Effective role ids at issue time (implied roles included).
    pub role_ids: Vec<String>,
    /// When the token was issued (microseconds kept).
    pub issued_at: NaiveDateTime,
    /// When it expires.
    pub expires_at: NaiveDateTime,
    /// Its own audit id, then the audit id of the token it was derived from, if any.
    pub audit_ids: Vec<String>,
    /// The application credential it came from.
    pub app_cred_id: Option<String>,
    /// The client certificate it is bound to (RFC 8705), when issued over mutual TLS.
    pub cert: Option<CertBinding>,
    /// Keystone's certificate binding on a token Keystone issued (payload 10): SHA-256 of the certificate's PEM
    /// text. Keystone never recorded the DER's, so Lintel cannot restate it as RFC 8705 `x5t#S256`; Lintel never
    /// seals a token with it.
    pub keystone_cert: Option<[u8; 32]>,
}

/// A token's binding to a client certificate: SHA-256 of its DER (RFC 8705 `x5t#S256`) and of its PEM text
/// (what Keystone's `oauth2_credential` carries). Both are kept because neither can be derived from the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertBinding {
    /// SHA-256 of the certificate's DER.
    pub x5t_s256: [u8; 32],
    /// SHA-256 of the certificate's PEM text.
    pub pem_s256: [u8; 32],
}

/// Why a token does not validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token sealed by our keys (garbage, tampered, or from a retired key).
    #[error("Could not recognize Fernet token")]
    Unrecognized,
    /// Past its expiry (beyond any allowed window).
    #[error("The token is expired")]
    Expired,
    /// Revoked by an event.
    #[error("Failed to validate token")]
    Revoked,
    /// Bound to a client certificate (RFC 8705) that the request did not present.
    #[error("The token is bound to a client certificate that this request did not present.")]
    CertificateMismatch,
    /// The database could not be asked whether the token still holds: neither valid nor invalid.
    #[error("The service cannot reach its database; retry later.")]
    Unavailable,
}

impl TokenError {
    /// The domain error for a token that could not be checked for want of the database.
    pub fn into_domain(self) -> crate::error::DomainError {
        crate::error::DomainError::StoreUnavailable(format!("token validation: {self}"))
    }
}

/// Seals and opens tokens with the current key ring (swappable on rotation or reload).
pub struct TokenCodec {
    ring: ArcSwap<KeyRing>,
    /// `iss` and `aud` of JWT access tokens.
    jwt_names: (String, String),
    /// The algorithm JWT access tokens are signed with.
    jwt_alg: jsonwebtoken::Algorithm,
    /// Keystone's key ring and `[auth] methods`, for the tokens it issued before the move.
    keystone: Option<(KeyRing, Vec<String>)>,
}

impl TokenCodec {
    /// A codec over a loaded key ring.
    pub fn new(ring: KeyRing) -> Self {
        TokenCodec {
            ring: ArcSwap::from_pointee(ring),
            jwt_names: (String::new(), String::new()),
            jwt_alg: jsonwebtoken::Algorithm::ES256,
            keystone: None,
        }
    }

    /// Also open the tokens Keystone sealed with `ring`, reading method bits by Keystone's `[auth] methods`.
    pub fn with_keystone(mut self, ring: KeyRing, methods: Vec<String>) -> Self {
        self.keystone = Some((ring, methods));
        self
    }

    /// The issuer and audience JWT access tokens carry and must carry, and the algorithm that signs them.
    pub fn with_jwt(mut self, issuer: &str, audience: &str, alg: jsonwebtoken::Algorithm) -> Self {
        self.jwt_names = (issuer.to_string(), audience.to_string());
        self.jwt_alg = alg;
        self
    }

    /// Sign a JWT access token (RFC 9068) with the primary key's pair of the configured algorithm.
    pub fn issue_jwt(&self, claims: &jwt::Claims) -> Option<String> {
        self.ring.load().jwt.sign(claims, self.jwt_alg)
    }

    /// The JWT verification keys as a JWKS document, the configured algorithm's first.
    pub fn jwks(&self) -> serde_json::Value {
        self.ring.load().jwt.jwks(self.jwt_alg)
    }

    /// Seal TLS session state into a ticket under the primary key's ticket key.
    pub fn seal_ticket(&self, plain: &[u8]) -> Option<Vec<u8>> {
        crate::crypto::tickets::seal(&self.ring.load().tickets, plain)
    }

    /// Open a TLS session ticket sealed under any loaded key's ticket key.
    pub fn open_ticket(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        crate::crypto::tickets::open(&self.ring.load().tickets, ticket)
    }

    /// The numbers of the loaded keys, primary first.
    pub fn key_ids(&self) -> Vec<u64> {
        self.ring.load().ids.clone()
    }

    /// Replace the key ring (after `keys rotate` on disk and a reload).
    pub fn replace(&self, ring: KeyRing) {
        self.ring.store(Arc::new(ring));
    }

    /// Seal token data into a token string (Fernet, without base64 padding, as Keystone).
    pub fn issue(&self, data: &TokenData) -> String {
        self.ring.load().seal(&codec::encode(data))
    }

    /// Open a token string and check its expiry at `now` (with an extra grace `window` for `allow_expired`).
    pub fn open(
        &self,
        token: &str,
        window: chrono::Duration,
        now: NaiveDateTime,
    ) -> Result<TokenData, TokenError> {
        self.open_any(token, window, now).map(|(data, _)| data)
    }

    /// As [`open`](Self::open), also saying whether Keystone issued the token (its roles are then still to be
    /// worked out: Keystone's tokens carry none).
    pub fn open_any(
        &self,
        token: &str,
        window: chrono::Duration,
        now: NaiveDateTime,
    ) -> Result<(TokenData, bool), TokenError> {
        if jwt::is_jwt(token) {
            if token.len() > 8192 {
                return Err(TokenError::Unrecognized);
            }
            let (iss, aud) = &self.jwt_names;
            let data = self.ring.load().jwt.open(token, iss, aud)?;
            if data.expires_at + window <= now {
                return Err(TokenError::Expired);
            }
            return Ok((data, false));
        }
        if token.is_empty()
            || token.len() > 1024
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(TokenError::Unrecognized);
        }
        let mut padded = String::with_capacity(token.len() + 3);
        padded.push_str(token);
        while !padded.len().is_multiple_of(4) {
            padded.push('=');
        }
        let (data, from_keystone) = match self.ring.load().open(&padded) {
            Some(bytes) => (
                codec::decode(&bytes).ok_or(TokenError::Unrecognized)?,
                false,
            ),
            None => {
                let (ring, methods) = self.keystone.as_ref().ok_or(TokenError::Unrecognized)?;
                let bytes = ring.open(&padded).ok_or(TokenError::Unrecognized)?;
                let issued = keystone::issued_at(token).ok_or(TokenError::Unrecognized)?;
                let data =
                    keystone::decode(&bytes, issued, methods).ok_or(TokenError::Unrecognized)?;
                (data, true)
            }
        };
        if data.expires_at + window <= now {
            return Err(TokenError::Expired);
        }
        Ok((data, from_keystone))
    }
}

#[cfg(test)]
mod props;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::clock::Clock;

    pub(crate) fn sample() -> TokenData {
        let now = Clock::system().now();
        TokenData {
            methods: vec!["password".into()],
            user_id: uuid::Uuid::new_v4().simple().to_string(),
            scope: Scope::Project(uuid::Uuid::new_v4().simple().to_string()),
            role_ids: (0..4)
                .map(|_| uuid::Uuid::new_v4().simple().to_string())
                .collect(),
            issued_at: now,
            expires_at: now + chrono::Duration::hours(1),
            audit_ids: vec![codec::new_audit_id()],
            app_cred_id: None,
            cert: None,
            keystone_cert: None,
        }
    }

    pub(super) fn codec() -> (tempfile::TempDir, TokenCodec) {
        let dir = tempfile::tempdir().unwrap();
        keys::setup(dir.path()).unwrap();
        let c = TokenCodec::new(KeyRing::load(dir.path()).unwrap());
        (dir, c)
    }

    #[test]
    fn round_trip_keeps_everything_and_stays_short() {
        let (_d, c) = codec();
        let mut t = sample();
        t.app_cred_id = Some(uuid::Uuid::new_v4().simple().to_string());
        t.methods = vec!["application_credential".into()];
        let s = c.issue(&t);
        assert!(s.len() < 300, "token is {} characters", s.len());
        assert!(s.starts_with("gAAAAA"));
        assert_eq!(
            c.open(&s, chrono::Duration::zero(), Clock::system().now())
                .unwrap(),
            t
        );
        t.cert = Some(CertBinding {
            x5t_s256: [1; 32],
            pem_s256: [2; 32],
        });
        let bound = c.issue(&t);
        assert!(
            bound.len() < 400,
            "bound token is {} characters",
            bound.len()
        );
        assert_eq!(
            c.open(&bound, chrono::Duration::zero(), Clock::system().now())
                .unwrap(),
            t
        );
    }

    #[test]
    fn text_ids_and_domain_scope_round_trip() {
        let (_d, c) = codec();
        let mut t = sample();
        t.scope = Scope::Domain("default".into());
        t.user_id = "Not-A-UUID".into();
        assert_eq!(
            c.open(
                &c.issue(&t),
                chrono::Duration::zero(),
                Clock::system().now()
            )
            .unwrap(),
            t
        );
    }

    #[test]
    fn garbage_tampered_and_expired_are_rejected() {
        let (_d, c) = codec();
        let zero = chrono::Duration::zero();
        assert_eq!(
            c.open("gAAAAAnotatoken", zero, Clock::system().now()),
            Err(TokenError::Unrecognized)
        );
        assert_eq!(
            c.open("", zero, Clock::system().now()),
            Err(TokenError::Unrecognized)
        );
        assert_eq!(
            c.open("a b", zero, Clock::system().now()),
            Err(TokenError::Unrecognized)
        );
        let mut s = c.issue(&sample());
        let last = s.pop().unwrap();
        s.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(
            c.open(&s, zero, Clock::system().now()),
            Err(TokenError::Unrecognized)
        );
        let mut t = sample();
        t.expires_at = Clock::system().now() - chrono::Duration::seconds(5);
        let s = c.issue(&t);
        assert_eq!(
            c.open(&s, zero, Clock::system().now()),
            Err(TokenError::Expired)
        );
        assert!(c
            .open(&s, chrono::Duration::seconds(60), Clock::system().now())
            .is_ok());
    }
}
