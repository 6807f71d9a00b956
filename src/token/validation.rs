//! Validating a presented token: open it, check it against revocation events, its user, its scope and its
//! roles, and keep the answer (the facts a response or a policy check needs) until anything it depends on changes.

use std::sync::Arc;

use crate::model::User;
use chrono::Duration;

use crate::audit::Initiator;
use crate::auth::{scoped_roles, target_of};
use crate::context::Context;
use crate::error::DomainError;
use crate::store;
use crate::token::revocation::TokenContext;
use crate::token::{Scope, TokenData, TokenError};
use crate::view::{RoleView, ScopeView, UserView};

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
    cert: Option<&crate::transport::mtls::ClientCert>,
) -> Result<Arc<Validated>, TokenError> {
    let v = validate(cx, token, false).await?;
    if crate::transport::mtls::binding_holds(&v.data, cert) {
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
