//! Authentication: an `auth` request's methods (password, token, application credential) in, the facts of a new
//! token ([`TokenData`]) out, audited. Validating a token someone presents is the token's business
//! (`crate::token::validation`).

mod credential;
mod password;
mod request;
mod scope;

use crate::token::validate;
use credential::app_cred_token;
pub use credential::credential_token;
use password::AUTH_FAILED;
pub use password::{check_password, resolve_domain};
pub use request::*;
use scope::{resolve_scope, scope_of};
pub(crate) use scope::{scoped_roles, target_of};

use crate::model::User;
use chrono::{Duration, NaiveDateTime};

use crate::audit::{Initiator, Outcome};
use crate::config::IdentityMethod;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::store;
use crate::token::codec::new_audit_id;
use crate::token::{TokenData, TokenError};
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
