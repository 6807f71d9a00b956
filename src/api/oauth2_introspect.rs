//! `POST /v3/OS-OAUTH2/introspect`: token introspection (RFC 7662) for resource servers.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::oauth2::{authenticate, read_form};
use crate::auth::{self, Validated};
use crate::http::{PeerCert, SourceAddr};
use crate::oauth2::OAuthError;
use crate::state::AppState;
use crate::token::TokenError;

/// Roles that may introspect tokens.
const INTROSPECTING_ROLES: [&str; 2] = ["service", "admin"];

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/v3/OS-OAUTH2/introspect",
        post(introspect).fallback(crate::http::error::oauth_method_not_allowed),
    )
}

async fn introspect(
    State(state): State<AppState>,
    SourceAddr(source): SourceAddr,
    PeerCert(cert): PeerCert,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match answer(&state, source, &headers, cert.as_deref(), body).await {
        Ok(v) => {
            let mut resp = (StatusCode::OK, Json(v)).into_response();
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => e.into_response(),
    }
}

/// The caller's token, when it authenticates with one rather than as a client.
fn caller_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(t) = headers.get("x-auth-token").and_then(|v| v.to_str().ok()) {
        return Some(t.trim());
    }
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Authenticate the caller (a client, or a token) and check it holds `service` or `admin`.
async fn authorize(
    state: &AppState,
    source: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    cert: Option<&crate::mtls::ClientCert>,
    form: &crate::oauth2::Form,
) -> Result<(), OAuthError> {
    let held = |names: &[String]| {
        names
            .iter()
            .any(|n| INTROSPECTING_ROLES.contains(&n.as_str()))
    };
    let names = if let Some(token) = caller_token(headers) {
        let v = auth::validate_presented(state, token, cert)
            .await
            .map_err(|e| match e {
                TokenError::Unavailable => OAuthError::TemporarilyUnavailable,
                _ => OAuthError::InvalidClient,
            })?;
        v.roles.iter().map(|r| r.name.clone()).collect::<Vec<_>>()
    } else {
        let (cred, user) = authenticate(state, source, headers, cert, form).await?;
        let now = state.clock.now();
        let data = auth::credential_token(state, &cred, &user, now, now)
            .await
            .map_err(OAuthError::from)?;
        let mut names = Vec::new();
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
        names
    };
    if held(&names) {
        Ok(())
    } else {
        Err(OAuthError::AccessDenied(
            "Token introspection needs a client or token holding the service or admin role.".into(),
        ))
    }
}

async fn answer(
    state: &AppState,
    source: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    cert: Option<&crate::mtls::ClientCert>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, OAuthError> {
    let form = read_form(state, headers, body)?;
    authorize(state, source, headers, cert, &form).await?;
    let Some(token) = form.token.as_ref().filter(|t| !t.0.is_empty()) else {
        return Err(OAuthError::InvalidRequest(
            "The parameter token is required.".into(),
        ));
    };
    // Any token this server would not accept is simply inactive (RFC 7662 §2.2): no reason is given. One it
    // could not check is neither, and the caller is asked to retry.
    Ok(match auth::validate(state, &token.0, false).await {
        Err(TokenError::Unavailable) => return Err(OAuthError::TemporarilyUnavailable),
        Ok(v)
            if v.app_cred
                .as_ref()
                .is_none_or(|ac| ac.access_rules.is_empty()) =>
        {
            claims(state, &v)
        }
        _ => json!({"active": false}),
    })
}

/// RFC 7662's members, plus the flat and nested facts keystonemiddleware's `external_oauth2_token` maps
/// (`roles` comma-separated, as it expects a string).
pub fn claims(state: &AppState, v: &Validated) -> Value {
    let d = &v.data;
    let issuer = &state.config.default.public_endpoint;
    let names: Vec<&str> = v.roles.iter().map(|r| r.name.as_str()).collect();
    let mut c = json!({
        "active": true,
        "token_type": "Bearer",
        "scope": names.join(" "),
        "sub": v.user.id,
        "username": v.user.name,
        "iss": issuer,
        "aud": state.config.jwt_audience(),
        "iat": d.issued_at.and_utc().timestamp(),
        "exp": d.expires_at.and_utc().timestamp(),
        "jti": d.audit_ids.first(),
        "roles": names.join(","),
        "user": {"id": v.user.id, "name": v.user.name,
                 "domain": {"id": v.user_domain.id, "name": v.user_domain.name}},
        "user_domain_id": v.user_domain.id,
        "user_domain_name": v.user_domain.name,
    });
    if let Some(id) = &d.app_cred_id {
        c["client_id"] = json!(id);
    }
    if let Some((p, pd)) = &v.project {
        c["project"] =
            json!({"id": p.id, "name": p.name, "domain": {"id": pd.id, "name": pd.name}});
        c["project_id"] = json!(p.id);
        c["project_name"] = json!(p.name);
        c["project_domain_id"] = json!(pd.id);
        c["project_domain_name"] = json!(pd.name);
    }
    if let Some(dv) = &v.domain {
        c["domain"] = json!({"id": dv.id, "name": dv.name});
    }
    if let Some(b) = &d.cert {
        c["cnf"] = json!({"x5t#S256": b.rfc()});
    }
    if d.scope == crate::token::Scope::System {
        c["system"] = json!({"all": true});
    }
    c
}
