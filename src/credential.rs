//! Application credentials: the rules for creating them, checking their secrets (argon2id, with a cache of
//! recently verified secrets), and what they grant.

use std::sync::Arc;
use std::time::Duration;

use crate::model::{AccessRule, AppCred, Role, Which};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::NaiveDateTime;
use hmac::{Hmac, Mac};
use moka::sync::Cache;
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::assignment::{self, Target};
use crate::context::Context;
use crate::crypto::hashing::Secret;
use crate::error::{DomainError, DomainResult};
use crate::oauth2::AuthMethod;
use crate::store;

pub use crate::model::credential::{Credential, RuleRef};

mod manage;
pub mod quota;
pub mod usage;
pub mod witness;
pub use manage::{
    create, get, list_of, remove, remove_rule, rotate, rule, rules, Rotation, MAX_GRACE,
};

/// A role named in a create request.
#[derive(Debug, Clone)]
pub enum RoleRef {
    /// By id.
    Id(String),
    /// By name (global roles).
    Name(String),
}

/// What a caller asked for.
#[derive(Debug)]
pub struct NewCredential {
    /// Name, unique per user.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// The secret to use, or None to generate one.
    pub secret: Option<Secret>,
    /// Expiry (UTC).
    pub expires_at: Option<NaiveDateTime>,
    /// Roles; empty means the roles of the creating token.
    pub roles: Vec<RoleRef>,
    /// Whether the credential may manage credentials and trusts.
    pub unrestricted: Option<bool>,
    /// Access rules.
    pub access_rules: Vec<RuleRef>,
    /// Other ways the client may authenticate.
    pub bindings: Bindings,
    /// Tokens per minute it may be issued on each node (a Lintel extension; overrides
    /// `[oauth2] credential_issue_rate`).
    pub issue_rate: Option<u32>,
}

/// The highest `issue_rate` a credential may carry (tokens per minute per node).
pub const MAX_ISSUE_RATE: u32 = 1_000_000;

/// Client authentication beyond the secret (RFC 8705, RFC 7523), as a create request names it.
#[derive(Debug, Default, Clone)]
pub struct Bindings {
    /// Subject DN of a CA-issued client certificate.
    pub subject_dn: Option<String>,
    /// Issuer DN that certificate must have.
    pub issuer_dn: Option<String>,
    /// `x5t#S256` of a self-signed client certificate.
    pub x5t_s256: Option<String>,
    /// A public JWK or JWK Set for client assertions.
    pub jwks: Option<serde_json::Value>,
}

/// [`Bindings`] checked and normalised for storage.
struct StoredBindings {
    subject_dn: Option<String>,
    issuer_dn: Option<String>,
    x5t_s256: Option<String>,
    jwks: Option<String>,
}

fn check_bindings(b: &Bindings) -> DomainResult<StoredBindings> {
    // Bounded by the column (1024 characters), checked on the normalised form that is stored.
    let dn = |field: &str, v: &Option<String>| -> DomainResult<Option<String>> {
        let Some(s) = v.as_deref() else {
            return Ok(None);
        };
        match crate::transport::mtls::normalize_dn(s) {
            Some(d) if d.len() <= 1024 => Ok(Some(d)),
            Some(_) => Err(DomainError::validation(format!(
                "application_credential.{field}. A distinguished name may have at most 1024 characters"
            ))),
            None => Err(DomainError::validation(format!(
                "application_credential.{field}. '{s}' is not an RFC 4514 distinguished name"
            ))),
        }
    };
    let subject_dn = dn("tls_client_auth_subject_dn", &b.subject_dn)?;
    let issuer_dn = dn("tls_client_auth_issuer_dn", &b.issuer_dn)?;
    if issuer_dn.is_some() && subject_dn.is_none() {
        return Err(DomainError::validation(
            "application_credential.tls_client_auth_issuer_dn. It needs tls_client_auth_subject_dn too",
        ));
    }
    if let Some(t) = b
        .x5t_s256
        .as_deref()
        .filter(|t| !crate::transport::mtls::is_thumbprint(t))
    {
        return Err(DomainError::validation(format!(
            "application_credential.tls_client_auth_x5t_s256. '{t}' is not a base64url SHA-256 thumbprint (43 characters)"
        )));
    }
    let jwks = b.jwks.as_ref().map(checked_jwks).transpose()?;
    Ok(StoredBindings {
        subject_dn,
        issuer_dn,
        x5t_s256: b.x5t_s256.clone(),
        jwks,
    })
}

/// A JWK or JWK Set as a request gives it, checked (public, usable keys) and normalised for storage.
fn checked_jwks(v: &serde_json::Value) -> DomainResult<String> {
    crate::client_assertion::public_jwks(v)
        .map_err(|why| DomainError::validation(format!("application_credential.jwks. {why}")))
}

/// Keystone's refusal of a credential beyond `[application_credential] user_limit`.
fn over_limit(limit: u64) -> DomainError {
    DomainError::Forbidden(format!(
        "Unable to create additional application credentials, maximum of {limit} already exceeded for user."
    ))
}

/// Keystone's secret length: 64 random bytes, URL-safe base64 without padding.
fn generate_secret() -> Secret {
    let mut bytes = [0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(URL_SAFE_NO_PAD.encode(bytes))
}

/// Create a credential for `user_id` on `project_id`; `token_roles` are the creating token's role ids. Who may
/// ask is decided by [`manage::create`].
async fn insert(
    cx: &Context,
    who: &crate::audit::Initiator,
    user_id: &str,
    project_id: &str,
    token_roles: &[String],
    req: NewCredential,
) -> DomainResult<(Credential, Secret)> {
    let now = cx.clock.now();
    if req.expires_at.is_some_and(|e| e <= now) {
        return Err(DomainError::Invalid(
            "The 'expires_at' must not be before now. The server could not comply with the request since it is \
             either malformed or otherwise incorrect. The client is assumed to be in error."
                .into(),
        ));
    }
    let db = &cx.db;
    let limit = u64::try_from(cx.config.auth.app_cred_user_limit).ok();
    // Refused early here, before any hashing; the store decides again atomically with the insert.
    if let Some(limit) = limit {
        if store::credentials::count_of_user(db, user_id).await? >= limit {
            return Err(over_limit(limit));
        }
    }
    let held =
        assignment::effective_roles(db, user_id, &Target::Project(project_id.to_string())).await?;
    let mut wanted: Vec<String> = Vec::new();
    if req.roles.is_empty() {
        wanted.extend(token_roles.iter().cloned());
    }
    for r in &req.roles {
        let found = match r {
            RoleRef::Id(id) => store::find::<Role>(db, id)
                .await?
                .ok_or_else(|| DomainError::NotFound(format!("Could not find role: {id}.")))?,
            RoleRef::Name(n) => store::assignments::role_by_name(db, n, None)
                .await?
                .ok_or_else(|| DomainError::NotFound(format!("Role {n} is not defined")))?,
        };
        wanted.push(found.id);
    }
    if wanted.iter().any(|r| !held.contains(r)) {
        return Err(DomainError::Invalid(
            "Invalid application credential: Cannot create an application credential with unassigned role".into(),
        ));
    }
    let role_ids = assignment::with_implied(cx, wanted).await?;
    let bindings = check_bindings(&req.bindings)?;
    let issue_rate = match req.issue_rate {
        None => None,
        Some(r @ 1..=MAX_ISSUE_RATE) => Some(i32::try_from(r).unwrap_or(i32::MAX)),
        Some(r) => {
            return Err(DomainError::validation(format!(
                "application_credential.issue_rate. {r} is not between 1 and {MAX_ISSUE_RATE}"
            )))
        }
    };
    let secret = req.secret.clone().unwrap_or_else(generate_secret);
    if secret.expose().is_empty() {
        return Err(DomainError::validation(
            "application_credential.secret. '' is too short",
        ));
    }
    let secret_hash = cx.hasher.hash(&secret).await?;

    let id = crate::rules::new_id();
    let row = AppCred {
        id: id.clone(),
        name: req.name,
        user_id: user_id.to_string(),
        project_id: project_id.to_string(),
        description: req.description,
        secret_hash,
        unrestricted: req.unrestricted,
        expires_at: req.expires_at,
        created_at: now,
        tls_client_auth_subject_dn: bindings.subject_dn,
        tls_client_auth_issuer_dn: bindings.issuer_dn,
        tls_client_auth_x5t_s256: bindings.x5t_s256,
        jwks: bindings.jwks,
        prior_secret_hash: None,
        prior_secret_retires_at: None,
        rotated_at: None,
        last_used_at: None,
        last_used_from: None,
        last_used_node: None,
        prior_last_used_at: None,
        rotation_required_at: None,
        prior_jwks: None,
        issue_rate,
    };
    // The person who saw the secret: they answer for it if they lose access (service accounts' credentials).
    let witness = who.user_id.as_deref().unwrap_or(user_id);
    if !store::credentials::insert(db, row, &role_ids, &req.access_rules, limit, witness).await? {
        return Err(over_limit(limit.unwrap_or_default()));
    }
    let cred = load(cx, &id)
        .await?
        .ok_or_else(|| DomainError::internal("credential vanished after insert"))?;
    use crate::audit::Operation::Created;
    cx.audit_change(
        who,
        Created,
        "application_credential",
        &id,
        &[("project", project_id)],
    );
    for rule in &cred.rules {
        cx.audit_change(
            who,
            Created,
            "access_rule",
            &rule.id,
            &[("application_credential", &id)],
        );
    }
    Ok((cred, secret))
}

/// Load a credential with its roles and rules.
pub async fn load(cx: &Context, id: &str) -> DomainResult<Option<Credential>> {
    store::credentials::find(&cx.db, id).await
}

/// A user's credentials, optionally by name.
async fn list(cx: &Context, user_id: &str, name: Option<&str>) -> DomainResult<Vec<Credential>> {
    store::credentials::list(&cx.db, user_id, name).await
}

/// HMAC of a verified secret, keyed per process, so a cache hit proves the same secret without argon2.
type Mac256 = Hmac<Sha256>;

/// Recently verified secrets, by credential id.
pub struct SecretCache {
    /// HMAC-SHA256 under a per-process key, its key already absorbed (cloned per tag: two compressions fewer).
    keyed: Mac256,
    seen: Cache<String, Arc<Seen>>,
    clock: crate::clock::Clock,
}

/// What was verified for one credential: up to one secret per slot (current, previous), and when and from where
/// the credential was last used (what the usage writer reads).
struct Seen {
    slots: [Option<Slot>; 2],
    /// Unix seconds of the last use, on the service clock (the idle lapse reads it).
    used: std::sync::atomic::AtomicI64,
    /// Unix seconds of the last use noted in `last`, which is updated at most once a second.
    noted: std::sync::atomic::AtomicI64,
    /// The last use.
    last: std::sync::Mutex<LastUse>,
}

/// A verified secret: its HMAC tag, and the stored hash it matched, so that a rotation decides whether the vouch
/// still counts (compared as strings: no digest on the token path).
#[derive(Clone)]
struct Slot {
    tag: [u8; 32],
    hash: Arc<str>,
}

/// A credential's last use as this node saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastUse {
    /// When (the service clock).
    pub at: NaiveDateTime,
    /// From where.
    pub from: Option<std::net::IpAddr>,
    /// With which secret.
    pub which: Which,
}

/// A cache hit: the entry, and the stored hash the secret was verified against.
pub struct Vouch {
    seen: Arc<Seen>,
    hash: Arc<str>,
}

impl Vouch {
    /// The stored hash the secret matched when argon2 verified it.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

/// How long a verified secret is remembered without being presented.
const SECRET_IDLE_SECS: i64 = 600;

impl Seen {
    /// Note a use: the lock is taken at most once a second per credential, so clients hammering one credential
    /// from many connections do not queue on it.
    fn note(&self, clock: &crate::clock::Clock, which: Which, from: Option<std::net::IpAddr>) {
        use std::sync::atomic::Ordering::Relaxed;
        let now = clock.unix();
        let last = self.noted.load(Relaxed);
        if last == now
            || self
                .noted
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_err()
        {
            return;
        }
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = LastUse {
            at: clock.now(),
            from,
            which,
        };
    }
}

impl SecretCache {
    /// An empty cache whose entries lapse after [`SECRET_IDLE_SECS`] unused on `clock` (moka's own idle
    /// expiry, on real time, only bounds memory).
    pub fn new(clock: crate::clock::Clock) -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        // A key of any length is valid for HMAC.
        let keyed = <Mac256 as Mac>::new_from_slice(&key).unwrap_or_else(|_| unreachable!());
        SecretCache {
            keyed,
            seen: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(SECRET_IDLE_SECS as u64))
                .build(),
            clock,
        }
    }

    fn tag(&self, id: &str, secret: &Secret) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        mac.update(id.as_bytes());
        mac.update(&[0]);
        mac.update(secret.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// This secret, if it was verified for this credential recently (constant-time comparison of HMAC tags), with
    /// the hash it matched; a hit keeps the entry alive. Whether that hash still counts is the caller's to decide
    /// against the credential (a rotation may have retired it).
    pub fn hit(&self, id: &str, secret: &Secret) -> Option<Vouch> {
        use std::sync::atomic::Ordering::Relaxed;
        let seen = self.seen.get(id)?;
        let now = self.clock.unix();
        if now - seen.used.load(Relaxed) > SECRET_IDLE_SECS {
            self.seen.invalidate(id);
            return None;
        }
        let tag = self.tag(id, secret);
        let mut found = None;
        for slot in seen.slots.iter().flatten() {
            if bool::from(slot.tag.ct_eq(&tag)) {
                found = Some(slot.hash.clone());
            }
        }
        let hash = found?;
        seen.used.store(now, Relaxed);
        Some(Vouch { seen, hash })
    }

    /// Remember a secret that argon2 verified against `hash` (the `which` one), as an HMAC tag under a
    /// per-process key (never the secret), beside the other slot's; the use is noted.
    pub fn remember(
        &self,
        id: &str,
        which: Which,
        secret: &Secret,
        hash: &str,
        from: Option<std::net::IpAddr>,
    ) {
        let mut slots = self
            .seen
            .get(id)
            .map(|s| s.slots.clone())
            .unwrap_or_default();
        slots[which as usize] = Some(Slot {
            tag: self.tag(id, secret),
            hash: hash.into(),
        });
        let seen = Seen {
            slots,
            used: self.clock.unix().into(),
            noted: self.clock.unix().into(),
            last: std::sync::Mutex::new(LastUse {
                at: self.clock.now(),
                from,
                which,
            }),
        };
        self.seen.insert(id.to_string(), Arc::new(seen));
    }

    /// Note a use of a credential that proved itself without a secret (a certificate or an assertion), for the
    /// usage writer: no secret is remembered.
    pub fn used(&self, id: &str, which: Which, from: Option<std::net::IpAddr>) {
        if let Some(seen) = self.seen.get(id) {
            seen.note(&self.clock, which, from);
            return;
        }
        let now = self.clock.unix();
        let seen = Seen {
            slots: [None, None],
            used: now.into(),
            noted: now.into(),
            last: std::sync::Mutex::new(LastUse {
                at: self.clock.now(),
                from,
                which,
            }),
        };
        self.seen.insert(id.to_string(), Arc::new(seen));
    }

    /// Every credential's last use this node has seen since `since` (for the usage writer).
    pub fn uses_since(&self, since: i64) -> Vec<(String, LastUse)> {
        use std::sync::atomic::Ordering::Relaxed;
        self.seen
            .iter()
            .filter(|(_, s)| s.noted.load(Relaxed) >= since)
            .map(|(id, s)| {
                let l = *s
                    .last
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                (id.to_string(), l)
            })
            .collect()
    }

    /// Forget a credential (deleted or rotated on this node).
    pub fn forget(&self, id: &str) {
        self.seen.invalidate(id);
    }
}

/// Why a credential did not authenticate (callers map all of these to one answer where the protocol wants it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No such credential.
    Unknown,
    /// Wrong secret.
    BadSecret,
    /// Past its expiry.
    Expired,
    /// A person who saw its secret lost access, and the rotation deadline passed.
    RotationOverdue,
    /// Its user or project is disabled.
    Disabled,
    /// Too many recent failures: retry after this long (no secret was checked).
    Throttled(Duration),
    /// A client assertion broke a rule of RFC 7523.
    Assertion(crate::client_assertion::AssertionError),
}

/// Check a credential's secret, expiry and owner; on success return it with the user.
///
/// A secret the verified-secret cache vouches for is never throttled, so a flood of wrong guesses cannot lock the
/// real client out; anything else waits out the credential's and the source's back-off before argon2 runs.
pub async fn verify(
    cx: &Context,
    id: &str,
    secret: &Secret,
    source: Option<std::net::IpAddr>,
) -> DomainResult<Verdict> {
    verify_counting(cx, id, secret, source, true).await
}

/// [`verify`], optionally without counting a failure (the first of two readings of one Basic header).
pub async fn verify_counting(
    cx: &Context,
    id: &str,
    secret: &Secret,
    source: Option<std::net::IpAddr>,
    count_failure: bool,
) -> DomainResult<Verdict> {
    let vouched = cx.secrets.hit(id, secret);
    if vouched.is_none() {
        if let Some(wait) = cx.throttle.check(id, source) {
            return Ok(Err(Rejection::Throttled(wait)));
        }
    }
    let Some(cred) = find(cx, id).await? else {
        if count_failure {
            cx.throttle.failed(id, source);
        }
        return Ok(Err(Rejection::Unknown));
    };
    let now = cx.clock.now();
    // A vouch counts while the hash it was checked against is live: a rotation's grace ending retires it here,
    // on every node that knows the credential as it is now.
    let still = vouched.as_ref().and_then(|v| {
        cred.model
            .live_hashes(now)
            .find(|(_, h)| *h == v.hash())
            .map(|(w, _)| w)
    });
    let which = match still {
        Some(w) => w,
        None => {
            if vouched.is_some() {
                if let Some(wait) = cx.throttle.check(id, source) {
                    return Ok(Err(Rejection::Throttled(wait)));
                }
            }
            // Boxed, as every step off the hot path: inline, its state would enlarge every token request's future.
            let Some(w) = Box::pin(matching(cx, id, secret, &cred.model, now)).await? else {
                if count_failure {
                    cx.throttle.failed(id, source);
                }
                return Ok(Err(Rejection::BadSecret));
            };
            proven(cx, id, secret, &cred.model, w, source).await;
            w
        }
    };
    if which == Which::Current && witness::overdue(cx, &cred.model, now) {
        // Someone who saw this secret lost access and nobody rotated it in time.
        return Ok(Err(Rejection::RotationOverdue));
    }
    if let Some(v) = &vouched {
        v.seen.note(&cx.clock, which, source);
    }
    admit(cx, cred).await
}

/// Which of a credential's live secrets this one is, by argon2 (the current first).
async fn matching(
    cx: &Context,
    id: &str,
    secret: &Secret,
    model: &crate::model::AppCred,
    now: NaiveDateTime,
) -> DomainResult<Option<Which>> {
    for (w, h) in model.live_hashes(now) {
        if cx.hasher.verify(id, secret, h).await? {
            return Ok(Some(w));
        }
    }
    Ok(None)
}

/// After argon2 proved a secret: remember it, clear the back-off, and move a Keystone hash to argon2id.
async fn proven(
    cx: &Context,
    id: &str,
    secret: &Secret,
    model: &crate::model::AppCred,
    which: Which,
    source: Option<std::net::IpAddr>,
) {
    let hash = match which {
        Which::Current => model.secret_hash.as_str(),
        Which::Prior => model.prior_secret_hash.as_deref().unwrap_or_default(),
    };
    cx.secrets.remember(id, which, secret, hash, source);
    cx.throttle.succeeded(id, source);
    if which == Which::Current && crate::crypto::legacy_hash::is_legacy(hash) {
        // Keystone's hash verified: from now on the secret is kept as argon2id. Best effort, as for passwords.
        let upgraded = async {
            let new = cx.hasher.hash(secret).await?;
            store::credentials::replace_hash(&cx.db, id, hash, &new).await
        };
        match upgraded.await {
            Ok(()) => cx.view.forget_credential(id),
            Err(e) => {
                crate::crypto::legacy_hash::upgrade_failed("application credential", id, &e);
            }
        }
    }
}

/// A credential by id: from the authorization view, else the database.
pub async fn find(cx: &Context, id: &str) -> DomainResult<Option<Arc<Credential>>> {
    cx.view.credential(id, || load(cx, id)).await
}

/// Once the client has proven it holds the credential: its expiry, its user and its project decide.
async fn admit(cx: &Context, cred: Arc<Credential>) -> DomainResult<Verdict> {
    if cred.model.expires_at.is_some_and(|e| e <= cx.clock.now()) {
        return Ok(Err(Rejection::Expired));
    }
    let owner = cx.view.user(&cx.db, &cred.model.user_id).await?;
    let project = cx.view.project(&cx.db, &cred.model.project_id).await?;
    match (owner, project) {
        (Some(u), Some(p))
            if u.enabled_now(&cx.config.auth.passwords, cx.clock.now()) && p.enabled =>
        {
            Ok(Ok((cred, u)))
        }
        _ => Ok(Err(Rejection::Disabled)),
    }
}

/// The outcome of a client authentication: the credential and its user, or why not.
pub type Verdict = Result<(Arc<Credential>, Arc<crate::view::UserView>), Rejection>;

/// Authenticate by client certificate (RFC 8705 §2): a CA-issued certificate whose subject (and issuer, if bound)
/// the credential names (`tls_client_auth`), or a certificate whose thumbprint it names
/// (`self_signed_tls_client_auth`). The handshake already proved the client holds the certificate's key.
pub async fn verify_certificate(
    cx: &Context,
    id: &str,
    cert: &crate::transport::mtls::ClientCert,
    source: Option<std::net::IpAddr>,
) -> DomainResult<Verdict> {
    let Some(cred) = find(cx, id).await? else {
        return Ok(Err(Rejection::Unknown));
    };
    let m = &cred.model;
    let cfg = &cx.config;
    let by_ca = cfg.oauth2_method(AuthMethod::TlsClientAuth)
        && cert.ca_verified
        && m.tls_client_auth_subject_dn.is_some()
        && m.tls_client_auth_subject_dn == cert.subject
        && (m.tls_client_auth_issuer_dn.is_none() || m.tls_client_auth_issuer_dn == cert.issuer);
    let by_thumbprint = cfg.oauth2_method(AuthMethod::SelfSignedTlsClientAuth)
        && m.tls_client_auth_x5t_s256.as_deref() == Some(cert.binding.rfc().as_str());
    if !(by_ca || by_thumbprint) {
        return Ok(Err(Rejection::BadSecret));
    }
    cx.secrets.used(id, Which::Current, source);
    admit(cx, cred).await
}

/// Authenticate by a signed client assertion (`private_key_jwt`, RFC 7523): verified against the credential's
/// JWK Set, each `jti` accepted once.
pub async fn verify_assertion(
    cx: &Context,
    id: &str,
    assertion: &str,
    source: Option<std::net::IpAddr>,
) -> DomainResult<Verdict> {
    use crate::client_assertion as ca;
    let Some(cred) = find(cx, id).await? else {
        return Ok(Err(Rejection::Unknown));
    };
    if cred.model.jwks.is_none() {
        return Ok(Err(Rejection::BadSecret));
    }
    let (now, unix) = (cx.clock.now(), cx.clock.unix());
    let mut verdict = Err(ca::AssertionError::BadSignature);
    // The current keys first; during a rotation's grace, the previous ones too. The answer names what was wrong
    // with the assertion under the keys that verified its signature, if any did.
    for (which, jwks) in cred.model.live_jwks(now) {
        match ca::verify(assertion, jwks, id, &cx.config.token_endpoint(), unix) {
            Ok(v) => {
                verdict = Ok((which, v));
                break;
            }
            Err(ca::AssertionError::BadSignature) => {}
            Err(e) => verdict = Err(e),
        }
    }
    let (which, v) = match verdict {
        Ok(v) => v,
        Err(e) => return Ok(Err(Rejection::Assertion(e))),
    };
    let key = ca::jti_key(id, &v.jti);
    if !cx.assertions.first_use(&key) || !record_jti(cx, key, v.exp).await? {
        return Ok(Err(Rejection::Assertion(ca::AssertionError::Replayed)));
    }
    cx.secrets.used(id, which, source);
    admit(cx, cred).await
}

/// Record an accepted assertion's `jti` in the database, where every node sees it; false if one was already there.
async fn record_jti(cx: &Context, key: String, exp: i64) -> DomainResult<bool> {
    let expires_at = chrono::DateTime::from_timestamp(exp, 0)
        .map(|t| t.naive_utc())
        .unwrap_or_else(|| cx.clock.now());
    store::credentials::record_jti(&cx.db, key, expires_at).await
}

/// Forget the `jti`s of assertions that expired a while ago (they can no longer be replayed).
pub async fn prune_jtis(cx: &Context) -> DomainResult<u64> {
    let cutoff = cx.clock.now() - chrono::Duration::seconds(crate::client_assertion::JTI_RETENTION);
    store::credentials::prune_jtis(&cx.db, cutoff).await
}

/// Find a credential id by name for a user.
pub async fn id_by_name(cx: &Context, user_id: &str, name: &str) -> DomainResult<Option<String>> {
    store::credentials::id_by_name(&cx.db, user_id, name).await
}

/// The user's effective roles on the credential's project that the credential also carries.
pub async fn granted_roles(cx: &Context, cred: &Credential) -> DomainResult<Vec<String>> {
    let (user, project) = (&cred.model.user_id, &cred.model.project_id);
    let load = || async {
        assignment::effective_roles(&cx.db, user, &Target::Project(project.clone())).await
    };
    let held = cx.view.effective_roles(user, project, load).await?;
    Ok(cred
        .roles
        .iter()
        .map(|r| r.id.clone())
        .filter(|r| held.contains(r))
        .collect())
}

/// The event that revokes every token issued from a credential.
pub fn revocation_event(clock: &crate::clock::Clock, id: &str) -> crate::token::revocation::Event {
    crate::token::revocation::Event::now(
        clock,
        crate::token::revocation::RevKey::AppCred(id.to_string()),
    )
}

/// Delete a credential and revoke every token issued from it, in one transaction.
async fn delete(
    cx: &Context,
    who: &crate::audit::Initiator,
    cred: &Credential,
) -> DomainResult<()> {
    let id = cred.model.id.as_str();
    let event = revocation_event(&cx.clock, id);
    store::credentials::delete(&cx.db, id, &event).await?;
    cx.secrets.forget(id);
    crate::cluster::settle(cx, &[event]).await?;
    cx.audit_change(
        who,
        crate::audit::Operation::Deleted,
        "application_credential",
        id,
        &[("user", &cred.model.user_id)],
    );
    Ok(())
}

/// Delete the credentials whose expiry passed more than `expired_for` ago (each revoking its tokens, audited as
/// the reaper's); with `dry_run`, only say which. What was (or would be) deleted.
pub async fn reap(
    cx: &Context,
    expired_for: Duration,
    dry_run: bool,
) -> DomainResult<Vec<AppCred>> {
    const BATCH: u64 = 500;
    let before = cx.clock.now() - chrono::Duration::from_std(expired_for).unwrap_or_default();
    let who = crate::audit::Initiator {
        method: Some("reaper".into()),
        ..Default::default()
    };
    let mut reaped = Vec::new();
    loop {
        let batch = store::credentials::expired_before(&cx.db, before, BATCH).await?;
        let last = (batch.len() as u64) < BATCH;
        if dry_run {
            reaped.extend(batch);
            break;
        }
        for m in batch {
            if let Some(cred) = load(cx, &m.id).await? {
                delete(cx, &who, &cred).await?;
            }
            reaped.push(m);
        }
        if last {
            break;
        }
    }
    Ok(reaped)
}

/// A user's access rules.
async fn rules_of(cx: &Context, user_id: &str) -> DomainResult<Vec<AccessRule>> {
    store::credentials::rules_of_user(&cx.db, user_id).await
}

/// Delete an access rule that no credential uses.
async fn delete_rule(
    cx: &Context,
    who: &crate::audit::Initiator,
    user_id: &str,
    id: &str,
) -> DomainResult<()> {
    let rule = store::find::<AccessRule>(&cx.db, id).await?;
    let Some(rule) = rule.filter(|r| r.user_id == user_id) else {
        return Err(DomainError::not_found("Access Rule", id));
    };
    if store::credentials::rule_uses(&cx.db, id).await? > 0 {
        return Err(DomainError::Forbidden(format!(
            "Cannot delete access rule {id}: an application credential still uses it."
        )));
    }
    store::credentials::delete_rule(&cx.db, &rule.id).await?;
    cx.audit_change(
        who,
        crate::audit::Operation::Deleted,
        "access_rule",
        id,
        &[("user", user_id)],
    );
    Ok(())
}

/// Whether access rules allow a request: a rule names the service type, the method, and a path template in which
/// `*` stands for one path segment and `**` for any number of them (Keystone's matching).
pub fn rules_allow(rules: &[serde_json::Value], service: &str, method: &str, path: &str) -> bool {
    rules.iter().any(|r| {
        r["service"].as_str() == Some(service)
            && r["method"]
                .as_str()
                .is_some_and(|m| m.eq_ignore_ascii_case(method))
            && r["path"].as_str().is_some_and(|p| path_matches(p, path))
    })
}

/// Glob matching over path segments, in time linear in the segments for all practical templates (at worst their
/// product, never exponential): `**` is remembered as the last place to fall back to, as in classic wildcard
/// matching, instead of trying every split recursively.
fn path_matches(template: &str, path: &str) -> bool {
    fn segments(s: &str) -> Vec<&str> {
        s.split('/').filter(|x| !x.is_empty()).collect()
    }
    let (t, p) = (segments(template), segments(path));
    let (mut ti, mut pi) = (0, 0);
    // After a `**`: where the template goes on, and the first path segment it has not yet swallowed.
    let mut fallback: Option<(usize, usize)> = None;
    while pi < p.len() {
        match t.get(ti) {
            Some(&"**") => {
                fallback = Some((ti + 1, pi));
                ti += 1;
            }
            Some(seg) if *seg == "*" || *seg == p[pi] => {
                ti += 1;
                pi += 1;
            }
            _ => match fallback {
                // Let the last `**` swallow one more segment and try again from there.
                Some((after, from)) => {
                    fallback = Some((after, from + 1));
                    ti = after;
                    pi = from + 1;
                }
                None => return false,
            },
        }
    }
    t[ti..].iter().all(|seg| *seg == "**")
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_secret_lapses_only_after_ten_minutes_unused_on_the_service_clock() {
        let clock = crate::clock::Clock::system();
        let cache = SecretCache::new(clock.clone());
        let secret = Secret::new("s3cret");
        cache.remember("c1", Which::Current, &secret, "hash-1", None);
        for _ in 0..3 {
            clock.advance(Duration::from_secs(590));
            let hit = cache.hit("c1", &secret).map(|v| v.hash().to_string());
            assert_eq!(hit.as_deref(), Some("hash-1"), "in use: kept");
        }
        assert!(cache.hit("c1", &Secret::new("guess")).is_none());
        clock.advance(Duration::from_secs(601));
        assert!(
            cache.hit("c1", &secret).is_none(),
            "unused for 601 s: lapsed"
        );
    }

    #[test]
    fn access_rule_paths_match_like_keystone() {
        let rules = vec![
            serde_json::json!({"service": "identity", "method": "GET", "path": "/v3/users/*"}),
        ];
        assert!(rules_allow(&rules, "identity", "GET", "/v3/users/abc"));
        assert!(!rules_allow(
            &rules,
            "identity",
            "GET",
            "/v3/users/abc/projects"
        ));
        assert!(!rules_allow(&rules, "identity", "DELETE", "/v3/users/abc"));
        assert!(!rules_allow(&rules, "compute", "GET", "/v3/users/abc"));
        assert!(path_matches("/v3/**", "/v3/users/abc/projects"));
        assert!(path_matches("/v3/**/projects", "/v3/users/abc/projects"));
        assert!(path_matches("/v3/users", "/v3/users/"));
        assert!(!path_matches("/v3/users", "/v3/groups"));
        assert!(path_matches("/**", "/"));
        assert!(path_matches("/v3/**/x/**/y", "/v3/a/x/b/c/y"));
        assert!(!path_matches("/v3/**/x/*/y", "/v3/a/x/b/c/y"));
        assert!(path_matches("/v3/*/**", "/v3/a"));
        assert!(!path_matches("/v3/*/*", "/v3/a"));
    }

    #[test]
    fn many_double_stars_match_in_bounded_time() {
        // 130 `**` then a tail that never matches: the old recursive matcher took seconds to forever.
        let template = format!("{}/nomatch", "/**".repeat(130));
        // (Finishing at all is the point; the benchmark, not this test, measures speed.)
        let path = "/a".repeat(2000);
        assert!(!path_matches(&template, &path));
        assert!(path_matches(&format!("{}/a", "/**".repeat(130)), &path));
    }
}
