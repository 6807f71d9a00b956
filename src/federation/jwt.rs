//! Identity providers' JWTs, validated here (Keystone leaves this to Apache's mod_auth_openidc): the issuer must be
//! a remote id of the provider; its keys come from its OpenID Connect discovery document and JWKS, cached, fetched
//! again when a token names an unknown `kid` (at most every `[federation] jwks_refresh_interval`), and kept through
//! an outage of the provider; only asymmetric algorithms on an allow-list verify; `aud` must name this Lintel;
//! `exp`, `nbf` and `iat` hold within the clock skew; the token's lifetime is capped; a provider may require a
//! `jti`, accepted once on every node.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::config::FederationSection;
use crate::model::federation::IdentityProvider;

/// The algorithms a provider's token may be signed with (never `none`, never a shared secret).
pub const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// Largest token read, in bytes.
const MAX_TOKEN: usize = 16 * 1024;
/// Largest discovery document or JWKS read, in bytes.
const MAX_DOCUMENT: usize = 256 * 1024;
/// Most keys kept of one provider's JWKS.
const MAX_KEYS: usize = 50;

/// Why a provider's token was refused: each is a 401 to the client, and the audit event's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a JWT, or too large.
    #[error("The token is not a JWT.")]
    Malformed,
    /// Signed with an algorithm off the allow-list.
    #[error("The token's alg is not one of RS256, PS256, ES256, EdDSA.")]
    Algorithm,
    /// Its `iss` is not a remote id of the provider.
    #[error("The token's issuer is not one of the identity provider's remote ids.")]
    Issuer,
    /// The provider's keys could not be fetched, and none are cached.
    #[error("The identity provider's keys could not be fetched.")]
    KeysUnavailable,
    /// No key of the provider has the token's `kid`, even after fetching them again.
    #[error("No key of the identity provider has the token's kid.")]
    UnknownKey,
    /// No key verifies the signature.
    #[error("The token's signature does not verify.")]
    Signature,
    /// `aud` does not name this Lintel.
    #[error("The token's aud does not name this service.")]
    Audience,
    /// Expired, or not yet valid.
    #[error("The token is expired or not yet valid.")]
    Expired,
    /// Valid for longer than the provider may issue.
    #[error("The token is valid for longer than the identity provider may issue.")]
    Lifetime,
    /// No `jti` where the provider requires one.
    #[error("The token has no jti.")]
    NoJti,
    /// The `jti` was seen before.
    #[error("The token was already used (jti seen before).")]
    Replayed,
}

impl Refusal {
    /// The audit event's reason.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed token",
            Refusal::Algorithm => "algorithm not allowed",
            Refusal::Issuer => "wrong issuer",
            Refusal::KeysUnavailable => "provider keys unavailable",
            Refusal::UnknownKey => "unknown kid",
            Refusal::Signature => "bad signature",
            Refusal::Audience => "wrong audience",
            Refusal::Expired => "expired",
            Refusal::Lifetime => "lifetime too long",
            Refusal::NoJti => "no jti",
            Refusal::Replayed => "replayed jti",
        }
    }
}

/// One provider's keys as last fetched.
struct Fetched {
    keys: JwkSet,
    at: i64,
}

/// Every provider's keys on this node, and the client that fetches them.
pub struct Keys {
    http: reqwest::Client,
    fetched: moka::sync::Cache<String, Arc<Fetched>>,
    /// When each issuer's keys were last asked for (unix seconds): bounds fetches for unknown `kid`s.
    asked: moka::sync::Cache<String, i64>,
    /// Held while fetching, so that concurrent sign-ins make one fetch.
    fetching: tokio::sync::Mutex<()>,
    max_age: i64,
    refresh_interval: i64,
}

impl Keys {
    /// The key cache `[federation]` describes; the client trusts `ca_file` if set (else the web PKI roots).
    pub fn new(c: &FederationSection) -> Keys {
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .no_proxy();
        // Checked when the configuration was loaded.
        for cert in c
            .ca_pem
            .as_deref()
            .and_then(|pem| reqwest::Certificate::from_pem_bundle(pem).ok())
            .unwrap_or_default()
        {
            b = b.add_root_certificate(cert);
        }
        Keys {
            // Building fails only without a TLS backend, which this build always has.
            http: b.build().unwrap_or_default(),
            fetched: moka::sync::Cache::builder().max_capacity(1000).build(),
            asked: moka::sync::Cache::builder().max_capacity(1000).build(),
            fetching: tokio::sync::Mutex::new(()),
            max_age: i64::try_from(c.jwks_max_age.as_secs()).unwrap_or(i64::MAX),
            refresh_interval: i64::try_from(c.jwks_refresh_interval.as_secs()).unwrap_or(i64::MAX),
        }
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let mut resp = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("{url}: {}", resp.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_DOCUMENT {
                return Err(format!("{url}: larger than {MAX_DOCUMENT} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
    }

    /// Fetch an issuer's keys: its discovery document (whose `issuer` must be it), then its `jwks_uri`.
    async fn fetch(&self, issuer: &str) -> Result<JwkSet, String> {
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc = self.get_json(&discovery).await?;
        if doc["issuer"].as_str() != Some(issuer) {
            return Err(format!("{discovery}: its issuer is not {issuer}"));
        }
        let uri = doc["jwks_uri"]
            .as_str()
            .ok_or_else(|| format!("{discovery}: no jwks_uri"))?;
        let set = self.get_json(uri).await?;
        let keys = set["keys"]
            .as_array()
            .ok_or_else(|| format!("{uri}: no keys"))?;
        // Keys Lintel cannot use (symmetric, unknown types, encryption keys) are left out, not fatal.
        let usable: Vec<Jwk> = keys
            .iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
            .filter(|k| crate::client_assertion::usable(k).is_ok())
            .filter(|k| !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption)))
            .take(MAX_KEYS)
            .collect();
        Ok(JwkSet { keys: usable })
    }

    /// An issuer's keys for `kid`: the cached ones while fresh and holding it, else fetched again, at most once
    /// per refresh interval per issuer whether the last fetch worked or not (an unreachable issuer costs one
    /// attempt per interval, not one per token); the cached ones when the issuer cannot be reached.
    async fn keys_for(
        &self,
        issuer: &str,
        kid: Option<&str>,
        now: i64,
    ) -> Result<Arc<Fetched>, Refusal> {
        let usable = |f: &Arc<Fetched>| {
            now - f.at < self.max_age && kid.is_none_or(|k| f.keys.find(k).is_some())
        };
        if let Some(f) = self.fetched.get(issuer).filter(usable) {
            return Ok(f);
        }
        // One fetch at a time: sign-ins that arrive meanwhile wait for it and read what it brought.
        let _fetching = self.fetching.lock().await;
        let cached = self.fetched.get(issuer);
        if let Some(f) = cached.clone().filter(usable) {
            return Ok(f);
        }
        if self
            .asked
            .get(issuer)
            .is_some_and(|t| now - t < self.refresh_interval)
        {
            return cached.ok_or(Refusal::KeysUnavailable);
        }
        self.asked.insert(issuer.to_string(), now);
        match self.fetch(issuer).await {
            Ok(keys) => {
                let f = Arc::new(Fetched { keys, at: now });
                self.fetched.insert(issuer.to_string(), f.clone());
                Ok(f)
            }
            Err(why) => {
                tracing::warn!(issuer, error = %why, "identity provider keys could not be fetched");
                cached.ok_or(Refusal::KeysUnavailable)
            }
        }
    }
}

/// What a token must satisfy beside its provider's keys.
pub struct Expect<'a> {
    /// The provider.
    pub idp: &'a IdentityProvider,
    /// Its remote ids (the issuers it answers for).
    pub remote_ids: &'a [String],
    /// The `aud` the token must name.
    pub audience: &'a str,
    /// Clock skew allowed, seconds.
    pub skew: u64,
    /// The longest the token may be valid for, seconds.
    pub max_lifetime: i64,
    /// Now, unix seconds.
    pub now: i64,
}

/// A verified token: its claims, and its `jti` with expiry where it has one.
pub struct Verified {
    /// The claims.
    pub claims: Value,
    /// `jti` and `exp`, for the replay check.
    pub jti: Option<(String, i64)>,
}

/// Verify a provider's token.
pub async fn verify(keys: &Keys, token: &str, e: &Expect<'_>) -> Result<Verified, Refusal> {
    if token.len() > MAX_TOKEN {
        return Err(Refusal::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Malformed)?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(Refusal::Algorithm);
    }
    let unverified: Value =
        jsonwebtoken::dangerous::insecure_decode_claims(token).map_err(|_| Refusal::Malformed)?;
    let iss = unverified["iss"].as_str().ok_or(Refusal::Issuer)?;
    if !e.remote_ids.iter().any(|r| r == iss) {
        return Err(Refusal::Issuer);
    }
    let fetched = keys.keys_for(iss, header.kid.as_deref(), e.now).await?;
    let candidates: Vec<&Jwk> = fetched
        .keys
        .keys
        .iter()
        .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
        .filter(|k| {
            k.common
                .key_algorithm
                .is_none_or(|a| Algorithm::try_from(a).ok() == Some(header.alg))
        })
        .collect();
    if candidates.is_empty() {
        return Err(if header.kid.is_some() {
            Refusal::UnknownKey
        } else {
            Refusal::Signature
        });
    }
    let mut v = Validation::new(header.alg);
    v.leeway = e.skew;
    v.validate_nbf = true;
    v.validate_exp = true;
    v.set_required_spec_claims(&["exp", "iss"]);
    v.set_issuer(&[iss]);
    v.validate_aud = false;
    let mut expired = false;
    let mut claims = None;
    for key in candidates
        .iter()
        .filter_map(|k| DecodingKey::from_jwk(k).ok())
    {
        match jsonwebtoken::decode::<Value>(token, &key, &v) {
            Ok(t) => {
                claims = Some(t.claims);
                break;
            }
            Err(err) => {
                use jsonwebtoken::errors::ErrorKind;
                expired |= matches!(
                    err.kind(),
                    ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature
                );
            }
        }
    }
    let claims = claims.ok_or(if expired {
        Refusal::Expired
    } else {
        Refusal::Signature
    })?;
    let aud_ok = match &claims["aud"] {
        Value::String(a) => a == e.audience,
        Value::Array(items) => items.iter().any(|a| a.as_str() == Some(e.audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(Refusal::Audience);
    }
    let skew = i64::try_from(e.skew).unwrap_or(i64::MAX);
    let exp = claims["exp"].as_i64().ok_or(Refusal::Malformed)?;
    let iat = claims["iat"].as_i64();
    if iat.is_some_and(|t| t > e.now.saturating_add(skew)) {
        return Err(Refusal::Expired);
    }
    // The lifetime counts from when the token was made (or first valid), else from now.
    let start = iat.or(claims["nbf"].as_i64()).unwrap_or(e.now);
    if exp.saturating_sub(start) > e.max_lifetime.saturating_add(skew) {
        return Err(Refusal::Lifetime);
    }
    let jti = match claims["jti"].as_str() {
        Some(j) if !j.is_empty() && j.len() <= 256 => Some((j.to_string(), exp)),
        _ if e.idp.require_jti => return Err(Refusal::NoJti),
        _ => None,
    };
    Ok(Verified { claims, jti })
}
