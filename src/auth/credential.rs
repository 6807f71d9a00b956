//! The application-credential method: the token a credential earns (its roles the user still holds, capped at
//! its expiry).

use chrono::NaiveDateTime;

use super::password::{find_user, AUTH_FAILED};
use super::request::*;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::token::codec::new_audit_id;
use crate::token::{Scope, TokenData};
use crate::view::UserView;

pub(crate) async fn app_cred_token(
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
            | Rejection::RotationOverdue
            | Rejection::Disabled
            | Rejection::Assertion(_),
        ) => return Err(DomainError::unauthorized_msg(AUTH_FAILED)),
    };
    cx.quotas.admit(&cred.model)?;
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
