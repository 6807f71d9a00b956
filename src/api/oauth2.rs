//! `POST /v3/OS-OAUTH2/token`: the client credentials grant, answered as RFC 6749 says.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::credential::{self, Credential};
use crate::http::routes::{op, Routes};
use crate::http::{PeerCert, SourceAddr};
use crate::mtls::ClientCert;
use crate::oauth2::{
    check_grant, client_proof, parse_form, requested_roles, ClientAuth, OAuthError, Proof,
};
use crate::state::AppState;
use crate::view::UserView;

/// Routes of this module.
pub fn routes() -> Routes {
    const PATH: &str = "/v3/OS-OAUTH2/token";
    Routes::new()
        .post(
            PATH,
            token,
            op("The client credentials grant (RFC 6749 §4.4)")
                .oauth()
                .form::<crate::oauth2::Form>()
                .ok::<TokenResponse>(200, "An access token"),
        )
        .other_methods(PATH, crate::http::error::oauth_method_not_allowed)
}

/// RFC 6749 §5.1's answer (no `Debug`: it carries the access token).
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The roles granted, when the request named some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

async fn token(
    State(state): State<AppState>,
    SourceAddr(source): SourceAddr,
    PeerCert(cert): PeerCert,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut claimed = None;
    let outcome = issue(
        &state,
        source,
        &headers,
        cert.as_deref(),
        body,
        &mut claimed,
    )
    .await;
    let label = match &outcome {
        Ok(_) => "success",
        Err(e) => e.code(),
    };
    crate::metrics::metrics()
        .tokens_issued
        .get_or_create(&crate::metrics::Issue {
            endpoint: "oauth2",
            outcome: label,
        })
        .inc();
    match outcome {
        Ok(resp) => resp,
        Err(e) => {
            let mut resp = e.into_response();
            if let Some(id) = claimed {
                resp.extensions_mut().insert(crate::http::AuthSubject(id));
            }
            resp
        }
    }
}

/// Over plain HTTP the endpoint only answers requests a trusted proxy marks as HTTPS.
fn check_transport(state: &AppState, headers: &HeaderMap) -> Result<(), OAuthError> {
    if !state.config.server.insecure_http {
        return Ok(());
    }
    let forwarded_https = state.config.server.trust_proxy_headers
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    if forwarded_https {
        Ok(())
    } else {
        Err(OAuthError::InvalidRequest(
            "The token endpoint requires HTTPS: this server speaks plain HTTP and no trusted proxy marked the request \
             as HTTPS ([oslo_middleware] enable_proxy_headers_parsing with X-Forwarded-Proto: https)."
                .into(),
        ))
    }
}

/// Verify the client, trying the form-decoded reading of a Basic header when the first reading fails.
async fn verify_client(
    state: &AppState,
    auth: &ClientAuth,
    source: Option<std::net::IpAddr>,
) -> Result<(std::sync::Arc<Credential>, std::sync::Arc<UserView>), OAuthError> {
    // Two readings of one header are one attempt for throttling: only the last failure counts.
    let first = credential::verify_counting(
        state,
        &auth.id,
        &auth.secret.secret(),
        source,
        auth.decoded.is_none(),
    )
    .await
    .map_err(OAuthError::from)?;
    match first {
        Ok(found) => return Ok(found),
        Err(credential::Rejection::Throttled(wait)) => {
            return Err(OAuthError::SlowDown(wait.as_secs().max(1)))
        }
        Err(_) => {}
    }
    if let Some((id, secret)) = &auth.decoded {
        if let Ok(found) = credential::verify(state, id, &secret.secret(), source)
            .await
            .map_err(OAuthError::from)?
        {
            return Ok(found);
        }
    }
    Err(OAuthError::InvalidClient)
}

/// The checks every OAuth 2.0 endpoint makes before reading its parameters: the credential method is enabled,
/// the transport is HTTPS, the body was read within its limit and is a valid form.
pub(crate) fn read_form(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<crate::oauth2::Form, OAuthError> {
    if !state
        .config
        .method_enabled(crate::config::IdentityMethod::ApplicationCredential)
    {
        return Err(OAuthError::InvalidRequest(
            "Application credentials are disabled on this server.".into(),
        ));
    }
    check_transport(state, headers)?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OAuthError::body_too_large()
        } else {
            OAuthError::InvalidRequest("The request body could not be read.".into())
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    parse_form(content_type, &body)
}

/// Authenticate the client with one of the enabled methods: a secret, the connection's certificate, or a
/// signed assertion.
pub(crate) async fn authenticate(
    state: &AppState,
    source: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    cert: Option<&ClientCert>,
    form: &crate::oauth2::Form,
) -> Result<(std::sync::Arc<Credential>, std::sync::Arc<UserView>), OAuthError> {
    let enabled = |m| state.config.oauth2_method(m);
    let verdict = match client_proof(headers, form, cert.is_some(), enabled)? {
        Proof::Secret(auth) => return verify_client(state, &auth, source).await,
        Proof::Certificate(id) => match cert {
            Some(c) => credential::verify_certificate(state, &id, c).await,
            None => return Err(OAuthError::InvalidClient),
        },
        Proof::Assertion { id, assertion } => {
            credential::verify_assertion(state, &id, &assertion.0).await
        }
    };
    match verdict.map_err(OAuthError::from)? {
        Ok(found) => Ok(found),
        Err(credential::Rejection::Assertion(why)) => {
            Err(OAuthError::InvalidClientAssertion(why.to_string()))
        }
        Err(_) => Err(OAuthError::InvalidClient),
    }
}

async fn issue(
    state: &AppState,
    source: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    cert: Option<&ClientCert>,
    body: Result<Bytes, BytesRejection>,
    claimed: &mut Option<String>,
) -> Result<Response, OAuthError> {
    let form = read_form(state, headers, body)?;
    *claimed = crate::oauth2::claimed_client(headers, &form);
    check_grant(&form)?;
    let (cred, user) = authenticate(state, source, headers, cert, &form).await?;

    let now = state.clock.now();
    let mut data = crate::auth::credential_token(
        state,
        &cred,
        &user,
        now,
        crate::auth::default_expiry(state, now),
    )
    .await
    // The user holding none of the credential's roles any more is `invalid_client`: the client cannot act.
    .map_err(OAuthError::from)?;
    let scope = requested_roles(form.scope.as_deref());
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
        let rules = crate::assignment::implications(&state.db.conn)
            .await
            .map_err(OAuthError::from)?;
        let narrowed = crate::assignment::expand(wanted, &rules);
        data.role_ids.retain(|r| narrowed.contains(r));
    }
    // Whatever the method, a token requested over mutual TLS is bound to that certificate (RFC 8705 §3).
    data.cert = cert.map(|c| c.binding);
    let access_token = if state.config.jwt_access_tokens() {
        jwt_access_token(state, &data, &cred).await?
    } else {
        state.tokens.issue(&data)
    };
    let expires_in = (data.expires_at - now).num_seconds().max(0);
    let out = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
        scope: scope.map(|names| names.join(" ")),
    };
    let mut resp = (StatusCode::OK, Json(out)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// An RFC 9068 access token for the token data: role and project names from the authorization view.
async fn jwt_access_token(
    state: &AppState,
    data: &crate::token::TokenData,
    cred: &Credential,
) -> Result<String, OAuthError> {
    use crate::token::jwt::{Claims, Confirmation, LintelClaims};
    let mut names = Vec::with_capacity(data.role_ids.len());
    for id in &data.role_ids {
        if let Some(r) = state
            .view
            .role(&state.db, id)
            .await
            .map_err(OAuthError::from)?
        {
            names.push(r.name.clone());
        }
    }
    let project = state
        .view
        .project(&state.db, &cred.model.project_id)
        .await
        .map_err(OAuthError::from)?
        .ok_or(OAuthError::InvalidClient)?;
    let claims = Claims {
        iss: state.config.default.public_endpoint.clone(),
        sub: data.user_id.clone(),
        aud: state.config.jwt_audience().to_string(),
        exp: data.expires_at.and_utc().timestamp(),
        iat: data.issued_at.and_utc().timestamp(),
        jti: data.audit_ids.first().cloned().unwrap_or_default(),
        client_id: cred.model.id.clone(),
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
    state.tokens.issue_jwt(&claims).ok_or_else(|| {
        tracing::error!("no JWT signing key could be derived from the primary token key");
        OAuthError::ServerError
    })
}
