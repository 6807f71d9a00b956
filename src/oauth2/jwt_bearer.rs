//! The JWT bearer grant (RFC 7523 §2.1): a workload presents its platform's token (a Kubernetes service-account
//! token, a CI job's OIDC token) as `assertion`, and gets an access token with nothing stored. The assertion's
//! issuer picks the identity provider (a remote id); its `openid` protocol's mapping decides the user, as a
//! federated sign-in does. The project is the one `scope` names (`project:ID`), else the user's only project;
//! role names in `scope` narrow the roles, as on the client credentials grant.

use super::OAuthError;
use crate::assignment::Target;
use crate::context::Context;
use crate::error::DomainError;
use crate::federation::signin::{self, Proof};
use crate::store;
use crate::token::codec::new_audit_id;
use crate::token::{Scope, TokenData};

/// The grant type.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// What `scope` asks for: a project, and role names.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// `project:ID`.
    pub project: Option<String>,
    /// The other words: role names.
    pub roles: Vec<String>,
}

/// Read `scope`: `project:ID` and role names, in any order, at most one project.
pub fn wanted(scope: Option<&str>) -> Result<Wanted, OAuthError> {
    let mut w = Wanted::default();
    for word in scope
        .unwrap_or_default()
        .split(' ')
        .filter(|w| !w.is_empty())
    {
        match word.strip_prefix("project:") {
            Some(p) if w.project.is_none() && !p.is_empty() && p.len() <= 64 => {
                w.project = Some(p.to_string());
            }
            Some(_) => {
                return Err(OAuthError::InvalidScope(
                    "The requested scope is invalid: name one project, as project:ID.".into(),
                ))
            }
            None => w.roles.push(word.to_string()),
        }
    }
    Ok(w)
}

/// The token an assertion earns: its user's roles on the project, narrowed to the requested roles.
pub async fn grant(
    cx: &Context,
    now: chrono::NaiveDateTime,
    assertion: &str,
    scope: Option<&str>,
    source: Option<std::net::IpAddr>,
) -> Result<TokenData, OAuthError> {
    let wanted = wanted(scope)?;
    let invalid_grant = |m: &str| OAuthError::InvalidGrant(m.to_string());
    let issuer = jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(assertion)
        .ok()
        .and_then(|c| c["iss"].as_str().map(str::to_string))
        .filter(|i| i.len() <= 255)
        .ok_or_else(|| invalid_grant("The assertion is not a JWT with an iss claim."))?;
    let idp = store::federation::provider_of_remote_id(&cx.db, &issuer)
        .await?
        .ok_or_else(|| {
            invalid_grant("The assertion's issuer is no identity provider's remote id.")
        })?;
    let signed = Box::pin(signin::signed_in(
        cx,
        &idp.id,
        "openid",
        Proof::Jwt(assertion),
        source,
    ))
    .await
    .map_err(|e| match e {
        DomainError::Unauthenticated(m) | DomainError::NotFound(m) => OAuthError::InvalidGrant(m),
        other => other.into(),
    })?;
    let project = match wanted.project {
        Some(p) => p,
        None => {
            let mut projects = store::users::projects(&cx.db, &signed.user.id).await?;
            match (projects.pop(), projects.is_empty()) {
                (Some(only), true) => only.id,
                (None, _) => {
                    return Err(OAuthError::InvalidScope(
                        "The mapped user has a role on no project.".into(),
                    ))
                }
                (Some(_), false) => {
                    return Err(OAuthError::InvalidScope(
                        "The mapped user has roles on several projects: name one in scope, as project:ID."
                            .into(),
                    ))
                }
            }
        }
    };
    let target = Target::Project(project.clone());
    let mut role_ids = crate::assignment::effective_roles(&cx.db, &signed.user.id, &target).await?;
    if role_ids.is_empty() {
        return Err(OAuthError::InvalidScope(format!(
            "The requested scope is invalid: the mapped user has no role on project {project}."
        )));
    }
    if !wanted.roles.is_empty() {
        // Each held role with its name (a role deleted meanwhile is left out, and never mistaken for another).
        let mut held = Vec::with_capacity(role_ids.len());
        for id in &role_ids {
            if let Some(r) = cx.view.role(&cx.db, id).await? {
                held.push(r);
            }
        }
        let mut keep = Vec::new();
        for name in &wanted.roles {
            let Some(r) = held.iter().find(|r| r.name == *name) else {
                return Err(OAuthError::InvalidScope(format!(
                    "The requested scope is invalid: role '{name}' is not granted to this workload."
                )));
            };
            keep.push(r.id.clone());
        }
        let narrowed = crate::assignment::with_implied(cx, keep).await?;
        role_ids.retain(|r| narrowed.contains(r));
    }
    Ok(TokenData {
        methods: vec!["openid".into()],
        user_id: signed.user.id,
        scope: Scope::Project(project),
        role_ids,
        issued_at: now,
        expires_at: crate::auth::default_expiry(cx, now),
        audit_ids: vec![new_audit_id()],
        app_cred_id: None,
        cert: None,
        keystone_cert: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_one_project_and_roles() {
        assert_eq!(wanted(None).unwrap(), Wanted::default());
        let w = wanted(Some("reader project:p1 member")).unwrap();
        assert_eq!(w.project.as_deref(), Some("p1"));
        assert_eq!(w.roles, ["reader", "member"]);
        assert!(wanted(Some("project:a project:b")).is_err());
        assert!(wanted(Some("project:")).is_err());
    }
}
