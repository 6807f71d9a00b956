//! The client credentials grant itself: what an authenticated client's access token carries.

use super::{requested_roles, OAuthError};
use crate::context::Context;
use crate::credential::Credential;
use crate::transport::mtls::ClientCert;
use crate::view::UserView;

/// An access token issued (no `Debug`: it is a bearer secret).
pub struct Issued {
    /// The access token (Fernet, or an RFC 9068 JWT).
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The roles granted, when the request named some (`scope`).
    pub scope: Option<String>,
}

/// Issue an access token to an authenticated client: the credential's roles that its user still holds, narrowed
/// to the requested `scope` (role names, with what they imply), bound to the certificate of a mutual-TLS
/// connection. `now` is its `issued_at`, taken before the client and its roles were read.
pub async fn issue(
    cx: &Context,
    now: chrono::NaiveDateTime,
    cred: &Credential,
    user: &UserView,
    scope: Option<&str>,
    cert: Option<&ClientCert>,
) -> Result<Issued, OAuthError> {
    // Past a quota: `slow_down` with Retry-After (the client authenticated; its secret was right).
    cx.quotas.admit(&cred.model).map_err(OAuthError::from)?;
    let mut data =
        crate::auth::credential_token(cx, cred, user, now, crate::auth::default_expiry(cx, now))
            .await
            // The user holding none of the credential's roles any more is `invalid_client`: the client cannot act.
            .map_err(OAuthError::from)?;
    let scope = requested_roles(scope);
    if let Some(names) = &scope {
        let mut wanted = Vec::new();
        for name in names {
            let held = cred
                .roles
                .iter()
                .find(|r| r.name == *name && data.role_ids.contains(&r.id));
            let Some(r) = held else {
                return Err(OAuthError::InvalidScope(format!(
                    "The requested scope is invalid: role '{name}' is not granted to this client."
                )));
            };
            wanted.push(r.id.clone());
        }
        // Boxed: a database read, kept out of the future of a token request without `scope`.
        let narrowed = Box::pin(crate::assignment::with_implied(cx, wanted))
            .await
            .map_err(OAuthError::from)?;
        data.role_ids.retain(|r| narrowed.contains(r));
    }
    // Whatever the method, a token requested over mutual TLS is bound to that certificate (RFC 8705 §3).
    data.cert = cert.map(|c| c.binding);
    let mut issued = access_token(cx, now, data, Some(&cred.model.id)).await?;
    issued.scope = scope.map(|names| names.join(" "));
    Ok(issued)
}

/// The access token for `data` (project-scoped), Fernet or an RFC 9068 JWT as configured; `client_id` names the
/// application credential, if one asked.
pub async fn access_token(
    cx: &Context,
    now: chrono::NaiveDateTime,
    data: crate::token::TokenData,
    client_id: Option<&str>,
) -> Result<Issued, OAuthError> {
    let access_token = if cx.config.jwt_access_tokens() {
        jwt_access_token(cx, &data, client_id).await?
    } else {
        cx.tokens.issue(&data)
    };
    let expires_in = (data.expires_at - now).num_seconds().max(0);
    Ok(Issued {
        access_token,
        expires_in,
        scope: None,
    })
}

/// An RFC 9068 access token for the token data: role and project names from the authorization view.
async fn jwt_access_token(
    cx: &Context,
    data: &crate::token::TokenData,
    client_id: Option<&str>,
) -> Result<String, OAuthError> {
    let crate::token::Scope::Project(project_id) = &data.scope else {
        return Err(OAuthError::ServerError);
    };
    use crate::token::jwt::{Claims, Confirmation, LintelClaims};
    let names = cx
        .view
        .role_names(&cx.db, &data.role_ids)
        .await
        .map_err(OAuthError::from)?;
    let project = cx
        .view
        .project(&cx.db, project_id)
        .await
        .map_err(OAuthError::from)?
        .ok_or(OAuthError::InvalidClient)?;
    let claims = Claims {
        iss: cx.config.default.public_endpoint.clone(),
        sub: data.user_id.clone(),
        aud: cx.config.jwt_audience().to_string(),
        exp: data.expires_at.and_utc().timestamp(),
        iat: data.issued_at.and_utc().timestamp(),
        jti: data.audit_ids.first().cloned().unwrap_or_default(),
        // A federated workload has no client: the user it signed in as stands for it.
        client_id: client_id.unwrap_or(&data.user_id).to_string(),
        scope: names.join(" "),
        roles: names,
        project_id: project.id.clone(),
        project_name: project.name.clone(),
        cnf: data.cert.map(|b| Confirmation { x5t_s256: b.rfc() }),
        lintel: LintelClaims {
            role_ids: data.role_ids.clone(),
            iat_us: data.issued_at.and_utc().timestamp_micros(),
            cert: data.cert,
        },
    };
    cx.tokens.issue_jwt(&claims).ok_or_else(|| {
        tracing::error!("no JWT signing key could be derived from the primary token key");
        OAuthError::ServerError
    })
}
