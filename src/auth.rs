//! Authentication: password and token methods in, [`TokenData`] out; and validation of presented tokens.

use std::sync::Arc;

use crate::model::{Domain, Project, User};
use chrono::{Duration, NaiveDateTime};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::assignment::{self, Target};
use crate::audit::{Initiator, Outcome};
use crate::config::IdentityMethod;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::hashing::Secret;
use crate::store;
use crate::token::codec::new_audit_id;
use crate::token::revocation::TokenContext;
use crate::token::{Scope, TokenData, TokenError};
use crate::view::{RoleView, ScopeView, UserView};

/// `{"id": ...}` or `{"name": ...}` reference used in auth bodies.
#[derive(Debug, Deserialize, Default, ToSchema)]
pub struct NamedRef {
    /// Id.
    pub id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Owning domain, for a name.
    #[schema(no_recursion)]
    pub domain: Option<Box<NamedRef>>,
}

/// `identity.password`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordMethod {
    /// The user and password.
    pub user: PasswordUser,
}

/// `identity.password.user`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordUser {
    /// Id.
    pub id: Option<String>,
    /// Name (with `domain`).
    pub name: Option<String>,
    /// Domain of a user named by name.
    pub domain: Option<NamedRef>,
    /// The password.
    pub password: Option<Secret>,
}

/// `identity.token`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenMethod {
    /// The token to exchange.
    pub id: Secret,
}

/// `identity.application_credential`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AppCredMethod {
    /// Credential id.
    pub id: Option<String>,
    /// Credential name (with `user`).
    pub name: Option<String>,
    /// The owner, for a credential named by name.
    pub user: Option<NamedRef>,
    /// The secret.
    pub secret: Option<Secret>,
}

/// `auth.identity`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Identity {
    /// Methods used.
    pub methods: Vec<String>,
    /// Password method body.
    pub password: Option<PasswordMethod>,
    /// Token method body.
    pub token: Option<TokenMethod>,
    /// Application credential method body.
    pub application_credential: Option<AppCredMethod>,
}

/// `auth.scope`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ScopeRequest {
    /// Project scope.
    pub project: Option<NamedRef>,
    /// Domain scope.
    pub domain: Option<NamedRef>,
    /// System scope (`{"all": true}`).
    pub system: Option<serde_json::Value>,
}

/// The `auth` object of `POST /v3/auth/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AuthRequest {
    /// Who is authenticating.
    pub identity: Identity,
    /// What the token should be scoped to; `"unscoped"` is allowed as a string.
    #[serde(default)]
    pub scope: Option<serde_json::Value>,
}

/// A token that validated, with the facts needed to render or authorize it.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The token's payload.
    pub data: TokenData,
    /// Its user.
    pub user: Arc<UserView>,
    /// The user's domain.
    pub user_domain: Arc<ScopeView>,
    /// The scoped project and its domain.
    pub project: Option<(Arc<ScopeView>, Arc<ScopeView>)>,
    /// The scoped domain.
    pub domain: Option<Arc<ScopeView>>,
    /// Role names and ids.
    pub roles: Vec<Arc<RoleView>>,
    /// The application credential the token came from.
    pub app_cred: Option<Arc<crate::view::AppCredView>>,
    /// Its validation response bodies (without, with the catalog), rendered once per cached validation.
    pub rendered: [std::sync::OnceLock<bytes::Bytes>; 2],
}

impl Validated {
    /// Whether the token carries a role by name.
    pub fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r.name == name)
    }

    /// The token's bearer as an audit event names it.
    pub fn initiator(&self, source: Option<std::net::IpAddr>) -> Initiator {
        Initiator {
            user_id: Some(self.user.id.clone()),
            name: None,
            source,
            method: self.data.methods.first().cloned(),
            credential_id: self.data.app_cred_id.clone(),
        }
    }

    /// The scoped project's id, if project-scoped.
    pub fn project_id(&self) -> Option<&str> {
        self.project.as_ref().map(|(p, _)| p.id.as_str())
    }
}

/// Resolve a domain reference by id or name.
pub async fn resolve_domain(cx: &Context, r: &NamedRef) -> DomainResult<Domain> {
    let found = if let Some(id) = &r.id {
        store::find::<Domain>(&cx.db, id).await?
    } else if let Some(name) = &r.name {
        store::domains::by_name(&cx.db, name).await?
    } else {
        return Err(DomainError::Invalid(
            "Expecting to find domain id or name in request body.".into(),
        ));
    };
    found.ok_or_else(|| DomainError::unauthorized_msg(AUTH_FAILED))
}

/// Keystone's message for failed authentication.
const AUTH_FAILED: &str = "The request you have made requires authentication.";

/// The user a password request names; None when there is no such user (or no such domain).
async fn find_user(cx: &Context, u: &PasswordUser) -> DomainResult<Option<User>> {
    let found = if let Some(id) = &u.id {
        store::find::<User>(&cx.db, id).await?
    } else if let Some(name) = &u.name {
        let domain = u.domain.as_ref().ok_or_else(|| {
            DomainError::Invalid("Expecting to find domain in user. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.".into())
        })?;
        let d = match resolve_domain(cx, domain).await {
            Ok(d) => d,
            Err(DomainError::Unauthenticated(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        store::users::by_name(&cx.db, &d.id, name).await?
    } else {
        return Err(DomainError::Invalid("Expecting to find name or ID in user. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.".into()));
    };
    Ok(found)
}

/// The throttle key of the user a password request names, known before any lookup: `user:ID` (what a found user
/// is throttled by too), or the domain and the name, each length-prefixed so that no two pairs make one key.
fn named_key(u: &PasswordUser) -> String {
    if let Some(id) = &u.id {
        return format!("user:{id}");
    }
    let name = u.name.as_deref().unwrap_or("");
    let domain = match u.domain.as_ref() {
        Some(NamedRef { id: Some(id), .. }) => format!("id={id}"),
        Some(NamedRef { name: Some(n), .. }) => format!("name={n}"),
        _ => String::new(),
    };
    format!("user-name:{}:{domain}:{name}", domain.len())
}

/// Check a password, with Keystone's lockout rules and throttling. Returns the user on success. An expired
/// password still proves who the user is when `expired_ok` (to change it, the one thing it is still good for).
pub async fn check_password(
    cx: &Context,
    u: &PasswordUser,
    source: Option<std::net::IpAddr>,
    expired_ok: bool,
) -> DomainResult<User> {
    let password = u
        .password
        .as_ref()
        .ok_or_else(|| DomainError::unauthorized_msg(AUTH_FAILED))?;
    // Throttled before any lookup: a refused guess costs no query. Failures count against what the request
    // names and, once found, against the user, so switching between a user's id and name gains nothing.
    let named = named_key(u);
    if let Some(wait) = cx.throttle.check(&named, source) {
        return Err(DomainError::Throttled(wait.as_secs().max(1)));
    }
    let Some(found) = find_user(cx, u).await? else {
        // An unknown name costs what a wrong password costs and counts against the source like one, so names
        // cannot be probed for free.
        cx.hasher.verify_nothing(password).await?;
        cx.throttle.failed(&named, source);
        return Err(DomainError::unauthorized_msg(AUTH_FAILED));
    };
    let cfg = &cx.config;
    let now = cx.clock.now();
    let options = crate::identity::passwords::UserOptions::of(&found);
    // Keystone's order: locked (even the right password is refused), wrong password, disabled, expired.
    if crate::identity::passwords::locked_until(&cfg.auth, &found, &options, now).is_some() {
        return Err(DomainError::unauthorized_msg(format!(
            "The account is locked for user: {}.",
            found.id
        )));
    }
    let user_key = format!("user:{}", found.id);
    let keys: &[&str] = if user_key == named {
        &[&named]
    } else {
        &[&named, &user_key]
    };
    if let Some(wait) = cx.throttle.check(&user_key, source) {
        if user_key != named {
            // The user is throttled for this source by another form of its name: the next request in this form
            // is refused before the lookup.
            cx.throttle.failed(&named, source);
        }
        return Err(DomainError::Throttled(wait.as_secs().max(1)));
    }
    let ok = match &found.password_hash {
        Some(phc) => cx.hasher.verify(&found.id, password, phc).await?,
        None => false,
    };
    if ok {
        for k in keys {
            cx.throttle.succeeded(k, source);
        }
        if let Some(old) = found.password_hash.as_deref() {
            if crate::legacy_hash::is_legacy(old) {
                // Keystone's hash verified: from now on the password is kept as argon2id. Best effort: the
                // password is right either way, and the next successful use tries again.
                let upgraded = async {
                    let new = cx.hasher.hash(password).await?;
                    store::users::replace_hash(&cx.db, &found.id, old, &new).await
                };
                match upgraded.await {
                    Ok(()) => cx.view.forget_user(&found.id),
                    Err(e) => crate::legacy_hash::upgrade_failed("user", &found.id, &e),
                }
            }
        }
    } else {
        for k in keys {
            cx.throttle.failed(k, source);
        }
    }
    if !ok {
        if cfg.auth.lockout_failure_attempts > 0 {
            let limit = i32::try_from(cfg.auth.lockout_failure_attempts).unwrap_or(i32::MAX);
            store::users::count_failed_login(&cx.db, &found.id, limit, now).await?;
        }
        return Err(DomainError::unauthorized_msg(AUTH_FAILED));
    }
    if !crate::identity::passwords::is_enabled(&cfg.auth.passwords, &found, now) {
        return Err(DomainError::unauthorized_msg(format!(
            "The account is disabled for user: {}.",
            found.id
        )));
    }
    if !expired_ok && crate::identity::passwords::is_expired(&found, &options, now) {
        return Err(DomainError::unauthorized_msg(format!(
            "The password is expired and needs to be changed for user: {}.",
            found.id
        )));
    }
    if found.last_active_at.is_none_or(|t| t.date() < now.date()) {
        // Active today (disable_user_account_days_inactive): written once a day per user, off the request.
        let (db, id) = (cx.db.clone(), found.id.clone());
        tokio::spawn(async move {
            if let Err(e) = store::users::touch_active(&db, &id, now).await {
                tracing::warn!(error = %e, user = %id, "recording the user's activity failed");
            }
        });
    }
    if found.failed_auth_count != 0 {
        store::users::clear_failed_logins(&cx.db, &found.id).await?;
    }
    Ok(found)
}

/// Tokens that validated, by token string, each under the view generation it was checked in.
pub struct ValidationCache(moka::sync::Cache<String, (u64, Arc<Validated>)>);

impl Default for ValidationCache {
    fn default() -> Self {
        // Bounded by count: an entry is about a kilobyte, and a token beyond the bound is only revalidated.
        ValidationCache(
            moka::sync::Cache::builder()
                .max_capacity(20_000)
                .time_to_live(std::time::Duration::from_secs(300))
                .build(),
        )
    }
}

impl ValidationCache {
    /// Forget every cached validation (the key ring changed).
    pub fn clear(&self) {
        self.0.invalidate_all();
    }
}

/// Open a token and check it against revocation, its user, its scope and its roles' existence.
///
/// A token seen before is answered from the cache while nothing it depends on has changed: every revocation
/// event and every change to a user, project, domain, role or grant moves the view's generation on.
pub async fn validate(
    cx: &Context,
    token: &str,
    allow_expired: bool,
) -> Result<Arc<Validated>, TokenError> {
    if !cx.node.may_serve(&cx.clock) {
        return Err(TokenError::Unavailable);
    }
    let generation = cx.view.generation();
    if !allow_expired {
        if let Some((g, v)) = cx.validations.0.get(token) {
            if g == generation && v.data.expires_at > cx.clock.now() {
                return Ok(v);
            }
        }
    }
    // Boxed: the database reads behind a miss would otherwise make every caller's future as large (kilobytes).
    Box::pin(validate_afresh(cx, token, allow_expired, generation)).await
}

/// [`validate`] when no cached validation answers: open the token and look up what it names.
async fn validate_afresh(
    cx: &Context,
    token: &str,
    allow_expired: bool,
    generation: u64,
) -> Result<Arc<Validated>, TokenError> {
    let window = if allow_expired {
        Duration::from_std(cx.config.token.allow_expired_window).unwrap_or_default()
    } else {
        Duration::zero()
    };
    let (mut data, from_keystone) = cx.tokens.open_any(token, window, cx.clock.now())?;
    if from_keystone {
        data.role_ids = keystone_token_roles(cx, &data).await?;
    }
    let v = Arc::new(inspect(cx, data).await?);
    // The lookups may have waited on the database (or served the last known entries through an outage): still
    // within the staleness bound, or not an answer (src/cluster.rs).
    if !cx.node.may_serve(&cx.clock) {
        return Err(TokenError::Unavailable);
    }
    if !allow_expired {
        cx.validations
            .0
            .insert(token.to_string(), (generation, v.clone()));
    }
    Ok(v)
}

/// The roles of a token Keystone issued, worked out now as Keystone does at validation: for an application
/// credential's token, the credential's roles that the user still holds on its project (none left: the token is no
/// longer valid, as Keystone's "has no access to project"); else the user's effective roles on the scope.
async fn keystone_token_roles(cx: &Context, data: &TokenData) -> Result<Vec<String>, TokenError> {
    let unavailable = |e: DomainError| {
        if e.is_outage() {
            TokenError::Unavailable
        } else {
            TokenError::Unrecognized
        }
    };
    if let Some(id) = &data.app_cred_id {
        let cred = crate::credential::find(cx, id)
            .await
            .map_err(unavailable)?
            .ok_or(TokenError::Unrecognized)?;
        let held = crate::credential::granted_roles(cx, &cred)
            .await
            .map_err(unavailable)?;
        if held.is_empty() {
            return Err(TokenError::Unrecognized);
        }
        return Ok(held);
    }
    let user = store::find::<User>(&cx.db, &data.user_id)
        .await
        .map_err(unavailable)?
        .ok_or(TokenError::Unrecognized)?;
    scoped_roles(cx, &user, &target_of(&data.scope))
        .await
        .map_err(unavailable)
}

/// Validate a token the caller presents as its own credential (`X-Auth-Token`, Bearer, `X-Service-Token`, the
/// introspection caller's token): as [`validate`], and a certificate-bound token only with the certificate of
/// the request's connection. Tokens presented to be looked at (`X-Subject-Token`, the token introspected) are
/// not the caller's and go through [`validate`].
pub async fn validate_presented(
    cx: &Context,
    token: &str,
    cert: Option<&crate::mtls::ClientCert>,
) -> Result<Arc<Validated>, TokenError> {
    let v = validate(cx, token, false).await?;
    if crate::mtls::binding_holds(&v.data, cert) {
        Ok(v)
    } else {
        Err(TokenError::CertificateMismatch)
    }
}

/// A lookup that failed leaves the token undecided: never "revoked" (a validator would drop a good token), but
/// unavailable until the database answers.
fn undecidable(e: DomainError) -> TokenError {
    tracing::warn!(error = ?e, "token validation could not reach the database");
    TokenError::Unavailable
}

/// Look up the user, scope and roles of token data and check it against revocation events.
pub async fn inspect(cx: &Context, data: TokenData) -> Result<Validated, TokenError> {
    let db = &cx.db;
    let view = &cx.view;
    let user = view
        .user(db, &data.user_id)
        .await
        .map_err(undecidable)?
        .ok_or(TokenError::Revoked)?;
    let user_domain = view
        .domain(db, &user.domain_id)
        .await
        .map_err(undecidable)?
        .ok_or(TokenError::Revoked)?;
    if !user.enabled_now(&cx.config.auth.passwords, cx.clock.now()) || !user_domain.enabled {
        return Err(TokenError::Revoked);
    }
    let mut project = None;
    let mut domain = None;
    match &data.scope {
        Scope::Project(p) => {
            let pv = view
                .project(db, p)
                .await
                .map_err(undecidable)?
                .ok_or(TokenError::Revoked)?;
            let pd = view
                .domain(db, &pv.domain_id)
                .await
                .map_err(undecidable)?
                .ok_or(TokenError::Revoked)?;
            if !pv.enabled || !pd.enabled {
                return Err(TokenError::Revoked);
            }
            project = Some((pv, pd));
        }
        Scope::Domain(d) => {
            let dv = view
                .domain(db, d)
                .await
                .map_err(undecidable)?
                .ok_or(TokenError::Revoked)?;
            if !dv.enabled {
                return Err(TokenError::Revoked);
            }
            domain = Some(dv);
        }
        Scope::Unscoped | Scope::System => {}
    }
    let ctx = TokenContext {
        user_domain: Some(&user.domain_id),
        project_domain: project.as_ref().map(|(p, _)| p.domain_id.as_str()),
    };
    if cx.revocations.is_revoked(&data, &ctx) {
        return Err(TokenError::Revoked);
    }
    let mut roles = Vec::with_capacity(data.role_ids.len());
    for id in &data.role_ids {
        roles.push(
            view.role(db, id)
                .await
                .map_err(undecidable)?
                .ok_or(TokenError::Revoked)?,
        );
    }
    let app_cred = match &data.app_cred_id {
        Some(id) => Some(
            view.app_cred(db, id)
                .await
                .map_err(undecidable)?
                .ok_or(TokenError::Revoked)?,
        ),
        None => None,
    };
    Ok(Validated {
        data,
        user,
        user_domain,
        project,
        domain,
        roles,
        app_cred,
        rendered: Default::default(),
    })
}

/// Resolve the requested scope to a target (None: unscoped).
async fn resolve_scope(
    cx: &Context,
    scope: &Option<serde_json::Value>,
    user: &User,
) -> DomainResult<Option<Target>> {
    let Some(value) = scope else {
        // Keystone scopes to the default project when none is asked for and the user has roles there.
        if let Some(p) = &user.default_project_id {
            let t = Target::Project(p.clone());
            if !assignment::effective_roles(&cx.db, &user.id, &t)
                .await?
                .is_empty()
            {
                return Ok(Some(t));
            }
        }
        return Ok(None);
    };
    if value.as_str() == Some("unscoped") {
        return Ok(None);
    }
    let req: ScopeRequest = serde_json::from_value(value.clone())
        .map_err(|e| DomainError::validation(format!("scope. {e}")))?;
    match (req.project, req.domain, req.system) {
        (Some(p), None, None) => {
            let found = if let Some(id) = &p.id {
                store::find::<Project>(&cx.db, id).await?
            } else if let (Some(name), Some(d)) = (&p.name, &p.domain) {
                let d = resolve_domain(cx, d).await?;
                store::projects::by_name(&cx.db, &d.id, name).await?
            } else {
                return Err(DomainError::Invalid(
                    "Expecting to find project id, or name and domain, in scope.".into(),
                ));
            };
            let p = found.ok_or_else(|| DomainError::unauthorized_msg(AUTH_FAILED))?;
            if !p.enabled {
                return Err(DomainError::unauthorized_msg(format!(
                    "Project {} is disabled.",
                    p.id
                )));
            }
            Ok(Some(Target::Project(p.id)))
        }
        (None, Some(d), None) => {
            let d = resolve_domain(cx, &d).await?;
            if !d.enabled {
                return Err(DomainError::unauthorized_msg(format!(
                    "Domain {} is disabled.",
                    d.id
                )));
            }
            Ok(Some(Target::Domain(d.id)))
        }
        (None, None, Some(s))
            if s.get("all").and_then(serde_json::Value::as_bool) == Some(true) =>
        {
            Ok(Some(Target::System))
        }
        _ => Err(DomainError::Invalid(
            "Specify exactly one of project, domain or system in scope.".into(),
        )),
    }
}

/// Roles on a target, or 401 as Keystone answers a scope the user has no role on.
async fn scoped_roles(
    cx: &Context,
    user: &User,
    target: &Option<Target>,
) -> DomainResult<Vec<String>> {
    let Some(t) = target else {
        return Ok(Vec::new());
    };
    let roles = assignment::effective_roles(&cx.db, &user.id, t).await?;
    if roles.is_empty() {
        let what = match t {
            Target::Project(p) => format!("User {} has no access to project {}", user.id, p),
            Target::Domain(d) => format!("User {} has no access to domain {}", user.id, d),
            Target::System => format!("User {} has no access to the system", user.id),
        };
        return Err(DomainError::unauthorized_msg(what));
    }
    Ok(roles)
}

fn scope_of(target: Option<Target>) -> Scope {
    match target {
        None => Scope::Unscoped,
        Some(Target::Project(p)) => Scope::Project(p),
        Some(Target::Domain(d)) => Scope::Domain(d),
        Some(Target::System) => Scope::System,
    }
}

/// What a token's scope grants roles on (the inverse of [`scope_of`]).
fn target_of(scope: &Scope) -> Option<Target> {
    match scope {
        Scope::Unscoped => None,
        Scope::Project(p) => Some(Target::Project(p.clone())),
        Scope::Domain(d) => Some(Target::Domain(d.clone())),
        Scope::System => Some(Target::System),
    }
}

/// The default expiry of a token issued now.
pub fn default_expiry(cx: &Context, now: NaiveDateTime) -> NaiveDateTime {
    now + Duration::from_std(cx.config.token.expiration).unwrap_or_else(|_| Duration::hours(1))
}

/// Authenticate an `auth` request and decide what the new token carries; the attempt goes to the audit trail.
pub async fn authenticate(
    cx: &Context,
    req: AuthRequest,
    source: Option<std::net::IpAddr>,
) -> DomainResult<TokenData> {
    if !cx.audit.is_on() {
        return authenticate_unaudited(cx, req, source).await;
    }
    let presented = presented(&req, source);
    let outcome = authenticate_unaudited(cx, req, source).await;
    let now = cx.clock.now();
    match &outcome {
        Ok(data) => {
            let who = Initiator {
                user_id: Some(data.user_id.clone()),
                source,
                method: data.methods.first().cloned(),
                credential_id: data.app_cred_id.clone(),
                name: None,
            };
            cx.audit.authenticate(now, &who, Outcome::Success, None);
        }
        Err(e) => {
            if let Some(reason) = e.refusal() {
                cx.audit
                    .authenticate(now, &presented, Outcome::Failure, Some(reason));
            }
        }
    }
    outcome
}

/// Who an `auth` request says it is (for the audit trail, before anything is checked).
fn presented(req: &AuthRequest, source: Option<std::net::IpAddr>) -> Initiator {
    let id = &req.identity;
    let mut who = Initiator {
        source,
        method: id.methods.first().cloned(),
        ..Default::default()
    };
    if let Some(ac) = &id.application_credential {
        who.credential_id = ac.id.clone();
        who.name = ac.name.clone();
        who.user_id = ac.user.as_ref().and_then(|u| u.id.clone());
    } else if let Some(p) = &id.password {
        who.user_id = p.user.id.clone();
        who.name = p.user.name.clone();
    }
    who
}

async fn authenticate_unaudited(
    cx: &Context,
    req: AuthRequest,
    source: Option<std::net::IpAddr>,
) -> DomainResult<TokenData> {
    if req.identity.methods.is_empty() {
        return Err(DomainError::validation(
            "identity. 'methods' must not be empty",
        ));
    }
    let mut methods = Vec::with_capacity(req.identity.methods.len());
    for m in &req.identity.methods {
        match m.parse::<IdentityMethod>() {
            Ok(method) if cx.config.method_enabled(method) => methods.push(method),
            _ => {
                return Err(DomainError::unauthorized_msg(
                    "Attempted to authenticate with an unsupported method.",
                ))
            }
        }
    }
    // Before anything the token carries is read (src/cluster.rs).
    let now = cx.clock.now();
    cx.node.serving(&cx.clock)?;
    let expiry =
        now + Duration::from_std(cx.config.token.expiration).unwrap_or_else(|_| Duration::hours(1));
    if methods.contains(&IdentityMethod::ApplicationCredential) {
        let body = req
            .identity
            .application_credential
            .as_ref()
            .ok_or_else(|| {
                DomainError::validation("identity. 'application_credential' is a required property")
            })?;
        return app_cred_token(cx, body, req.scope.is_some(), now, expiry, source).await;
    }
    if methods.contains(&IdentityMethod::Password) {
        let body = req.identity.password.as_ref().ok_or_else(|| {
            DomainError::validation("identity. 'password' is a required property")
        })?;
        let user = check_password(cx, &body.user, source, false).await?;
        let target = resolve_scope(cx, &req.scope, &user).await?;
        let role_ids = scoped_roles(cx, &user, &target).await?;
        return Ok(TokenData {
            methods: vec![IdentityMethod::Password.to_string()],
            user_id: user.id,
            scope: scope_of(target),
            role_ids,
            issued_at: now,
            expires_at: expiry,
            audit_ids: vec![new_audit_id()],
            app_cred_id: None,
            cert: None,
            keystone_cert: None,
        });
    }
    if methods.contains(&IdentityMethod::Token) {
        let body =
            req.identity.token.as_ref().ok_or_else(|| {
                DomainError::validation("identity. 'token' is a required property")
            })?;
        let old = validate(cx, body.id.expose(), false)
            .await
            .map_err(|e| match e {
                TokenError::Unavailable => e.into_domain(),
                // Keystone's token method validates the token and lets its 404 through ("Failed to validate
                // token" for a revoked one; Tempest's test_user_update_own_password expects it, not a 401).
                TokenError::Revoked | TokenError::Unrecognized | TokenError::Expired => {
                    DomainError::NotFound(e.to_string())
                }
                TokenError::CertificateMismatch => DomainError::unauthorized_msg(AUTH_FAILED),
            })?;
        if old.data.app_cred_id.is_some() {
            return Err(DomainError::Forbidden(
                "Application credential tokens cannot be rescoped.".into(),
            ));
        }
        let user = store::find::<User>(&cx.db, &old.user.id)
            .await?
            .ok_or_else(|| DomainError::unauthorized_msg(AUTH_FAILED))?;
        let target = match &req.scope {
            None => target_of(&old.data.scope),
            some => resolve_scope(cx, some, &user).await?,
        };
        let role_ids = scoped_roles(cx, &user, &target).await?;
        let mut methods = old.data.methods.clone();
        let token: &str = IdentityMethod::Token.into();
        if !methods.iter().any(|m| m == token) {
            methods.push(token.to_string());
        }
        let mut audit_ids = vec![new_audit_id()];
        audit_ids.extend(old.data.audit_ids.first().cloned());
        return Ok(TokenData {
            methods,
            user_id: user.id,
            scope: scope_of(target),
            role_ids,
            issued_at: now,
            expires_at: old.data.expires_at,
            audit_ids,
            app_cred_id: None,
            cert: None,
            keystone_cert: None,
        });
    }
    Err(DomainError::unauthorized_msg(
        "Attempted to authenticate with an unsupported method.",
    ))
}

/// Keystone's timestamp format (microseconds, `Z`).
pub fn iso(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

async fn app_cred_token(
    cx: &Context,
    body: &AppCredMethod,
    scoped: bool,
    now: NaiveDateTime,
    expiry: NaiveDateTime,
    source: Option<std::net::IpAddr>,
) -> DomainResult<TokenData> {
    use crate::credential::{self, Rejection};
    if scoped {
        return Err(DomainError::unauthorized_msg(
            "Error authenticating with application credential: Application credentials cannot request a scope.",
        ));
    }
    // Keystone answers a missing secret like a wrong one.
    let secret = body
        .secret
        .as_ref()
        .ok_or_else(|| DomainError::unauthorized_msg(AUTH_FAILED))?;
    let id = match (&body.id, &body.name) {
        (Some(id), _) => id.clone(),
        (None, Some(name)) => {
            let user = body.user.as_ref().ok_or_else(|| DomainError::Invalid("Expecting to find user in application credential. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.".into()))?;
            let pu = PasswordUser {
                id: user.id.clone(),
                name: user.name.clone(),
                domain: user.domain.as_deref().map(|d| NamedRef {
                    id: d.id.clone(),
                    name: d.name.clone(),
                    domain: None,
                }),
                password: None,
            };
            // As Keystone: an unknown owner is a 404, an unknown credential name of a known owner a 401.
            let who = pu
                .id
                .clone()
                .or_else(|| pu.name.clone())
                .unwrap_or_default();
            let owner = find_user(cx, &pu)
                .await?
                .ok_or_else(|| DomainError::not_found("User", &who))?;
            credential::id_by_name(cx, &owner.id, name)
                .await?
                .ok_or_else(|| DomainError::unauthorized_msg(AUTH_FAILED))?
        }
        (None, None) => {
            return Err(DomainError::Invalid("Expecting to find name or ID in application credential. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.".into()));
        }
    };
    let (cred, user) = match credential::verify(cx, &id, secret, source).await? {
        Ok(found) => found,
        Err(Rejection::Unknown) => {
            return Err(DomainError::not_found("Application Credential", &id))
        }
        Err(Rejection::Throttled(wait)) => {
            return Err(DomainError::Throttled(wait.as_secs().max(1)))
        }
        Err(
            Rejection::BadSecret
            | Rejection::Expired
            | Rejection::Disabled
            | Rejection::Assertion(_),
        ) => return Err(DomainError::unauthorized_msg(AUTH_FAILED)),
    };
    credential_token(cx, &cred, &user, now, expiry).await
}

/// The token an application credential earns now: its roles the user still holds, capped at its expiry.
pub async fn credential_token(
    cx: &Context,
    cred: &crate::credential::Credential,
    user: &UserView,
    now: NaiveDateTime,
    expiry: NaiveDateTime,
) -> DomainResult<TokenData> {
    let role_ids = crate::credential::granted_roles(cx, cred).await?;
    if role_ids.is_empty() {
        return Err(DomainError::unauthorized_msg(format!(
            "User {} has no access to project {}",
            user.id, cred.model.project_id
        )));
    }
    let expires_at = cred.model.expires_at.map_or(expiry, |e| e.min(expiry));
    Ok(TokenData {
        methods: vec!["application_credential".into()],
        user_id: user.id.clone(),
        scope: Scope::Project(cred.model.project_id.clone()),
        role_ids,
        issued_at: now,
        expires_at,
        audit_ids: vec![new_audit_id()],
        app_cred_id: Some(cred.model.id.clone()),
        cert: None,
        keystone_cert: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_name(domain: NamedRef, name: &str) -> PasswordUser {
        PasswordUser {
            id: None,
            name: Some(name.into()),
            domain: Some(domain),
            password: None,
        }
    }

    fn domain_named(n: &str) -> NamedRef {
        NamedRef {
            name: Some(n.into()),
            ..NamedRef::default()
        }
    }

    #[test]
    fn throttle_keys_name_one_user_each() {
        let by_id = PasswordUser {
            id: Some("u1".into()),
            name: None,
            domain: None,
            password: None,
        };
        assert_eq!(
            named_key(&by_id),
            "user:u1",
            "an id is the found user's own key"
        );
        let id_ref = NamedRef {
            id: Some("default".into()),
            ..NamedRef::default()
        };
        assert_ne!(
            named_key(&by_name(id_ref, "admin")),
            named_key(&by_name(domain_named("default"), "admin")),
            "a domain's id and a domain's name are different references"
        );
        // However a name is split between domain and user, each pair has a key of its own.
        assert_ne!(
            named_key(&by_name(domain_named("a:b"), "c")),
            named_key(&by_name(domain_named("a"), "b:c"))
        );
    }
}
