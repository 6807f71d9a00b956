//! `POST /v3/OS-OAUTH2/introspect`: token introspection (RFC 7662) for resource servers.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::oauth2::{authorization, read_form};
use crate::api::auth_tokens::IdName;
use crate::auth;
use crate::http::routes::{op, Routes};
use crate::http::{PeerCert, SourceAddr};
use crate::oauth2::client::authenticate;
use crate::oauth2::OAuthError;
use crate::state::AppState;
use crate::token::TokenError;
use crate::token::Validated;

/// Roles that may introspect tokens.
const INTROSPECTING_ROLES: [&str; 2] = ["service", "admin"];

/// Routes of this module.
pub fn routes() -> Routes {
    const PATH: &str = "/v3/OS-OAUTH2/introspect";
    Routes::new()
        .post(
            PATH,
            introspect,
            op("Token introspection (RFC 7662), for callers holding service or admin")
                .oauth()
                .form::<crate::oauth2::Form>()
                .ok::<Introspection>(200, "What the token is (or active: false)"),
        )
        .other_methods(PATH, crate::http::error::oauth_method_not_allowed)
}

/// A user or project with its domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct InDomain {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Its domain.
    pub domain: IdName,
}

/// A certificate binding (RFC 8705 §3.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct Confirmation {
    /// The certificate's SHA-256 thumbprint (base64url).
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: String,
}

/// The facts of an active token: RFC 7662's members, plus the flat and nested facts keystonemiddleware's
/// `external_oauth2_token` maps (all absent when the token is not active).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ActiveToken {
    /// `Bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Role names, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// User id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// User name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Issued at (seconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Expiry (seconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Token id (its audit id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Role names, comma-separated (as keystonemiddleware expects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<String>,
    /// The user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<InDomain>,
    /// The user's domain id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_domain_id: Option<String>,
    /// The user's domain name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_domain_name: Option<String>,
    /// The application credential it was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Project scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<InDomain>,
    /// Project id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Project name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    /// Project's domain id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_domain_id: Option<String>,
    /// Project's domain name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_domain_name: Option<String>,
    /// Domain scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<IdName>,
    /// Certificate binding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// System scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<crate::api::grants::AllOfIt>,
}

/// RFC 7662's answer: `active`, and the facts of an active token.
#[derive(Debug, Serialize, ToSchema)]
pub struct Introspection {
    /// Whether the token is one this server accepts.
    pub active: bool,
    /// The facts (only when active).
    #[serde(flatten)]
    pub facts: ActiveToken,
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

/// Authenticate the caller (a client, or a token) and check it holds `service` or `admin`.
async fn authorize(
    state: &AppState,
    source: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    cert: Option<&crate::transport::mtls::ClientCert>,
    form: &crate::oauth2::Form,
) -> Result<(), OAuthError> {
    let held = |names: &[String]| {
        names
            .iter()
            .any(|n| INTROSPECTING_ROLES.contains(&n.as_str()))
    };
    let names = if let Some(token) = crate::http::presented_token(headers).map(|(t, _)| t) {
        let v = crate::token::validate_presented(state, token, cert)
            .await
            .map_err(|e| match e {
                TokenError::Unavailable => OAuthError::TemporarilyUnavailable,
                _ => OAuthError::InvalidClient,
            })?;
        v.roles.iter().map(|r| r.name.clone()).collect::<Vec<_>>()
    } else {
        let (cred, user) = authenticate(state, source, authorization(headers), cert, form).await?;
        let now = state.clock.now();
        let data = auth::credential_token(state, &cred, &user, now, now)
            .await
            .map_err(OAuthError::from)?;
        state
            .view
            .role_names(&state.db, &data.role_ids)
            .await
            .map_err(OAuthError::from)?
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
    cert: Option<&crate::transport::mtls::ClientCert>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Introspection, OAuthError> {
    let form = read_form(state, headers, body)?;
    authorize(state, source, headers, cert, &form).await?;
    let Some(token) = form.token.as_ref().filter(|t| !t.0.is_empty()) else {
        return Err(OAuthError::InvalidRequest(
            "The parameter token is required.".into(),
        ));
    };
    // Any token this server would not accept is simply inactive (RFC 7662 §2.2): no reason is given. One it
    // could not check is neither, and the caller is asked to retry.
    Ok(match crate::token::validate(state, &token.0, false).await {
        Err(TokenError::Unavailable) => return Err(OAuthError::TemporarilyUnavailable),
        // A Keystone-issued certificate-bound token is not vouched for here: its binding cannot be stated as RFC
        // 8705's `cnf` (Keystone kept only a hash of the PEM text), and without `cnf` a resource server would
        // take it from anyone. Keystone had no introspection, so no client expects it to be active here.
        Ok(v)
            if v.data.keystone_cert.is_none()
                && v.app_cred
                    .as_ref()
                    .is_none_or(|ac| ac.access_rules.is_empty()) =>
        {
            claims(state, &v)
        }
        _ => Introspection {
            active: false,
            facts: ActiveToken::default(),
        },
    })
}

/// RFC 7662's members, plus the flat and nested facts keystonemiddleware's `external_oauth2_token` maps
/// (`roles` comma-separated, as it expects a string).
pub fn claims(state: &AppState, v: &Validated) -> Introspection {
    let d = &v.data;
    let names: Vec<&str> = v.roles.iter().map(|r| r.name.as_str()).collect();
    let named = |id: &str, name: &str| IdName {
        id: id.to_owned(),
        name: name.to_owned(),
    };
    let project = v.project.as_ref();
    let facts = ActiveToken {
        token_type: Some("Bearer"),
        scope: Some(names.join(" ")),
        sub: Some(v.user.id.clone()),
        username: Some(v.user.name.clone()),
        iss: Some(state.config.default.public_endpoint.clone()),
        aud: Some(state.config.jwt_audience().to_string()),
        iat: Some(d.issued_at.and_utc().timestamp()),
        exp: Some(d.expires_at.and_utc().timestamp()),
        jti: d.audit_ids.first().cloned(),
        roles: Some(names.join(",")),
        user: Some(InDomain {
            id: v.user.id.clone(),
            name: v.user.name.clone(),
            domain: named(&v.user_domain.id, &v.user_domain.name),
        }),
        user_domain_id: Some(v.user_domain.id.clone()),
        user_domain_name: Some(v.user_domain.name.clone()),
        client_id: d.app_cred_id.clone(),
        project: project.map(|(p, pd)| InDomain {
            id: p.id.clone(),
            name: p.name.clone(),
            domain: named(&pd.id, &pd.name),
        }),
        project_id: project.map(|(p, _)| p.id.clone()),
        project_name: project.map(|(p, _)| p.name.clone()),
        project_domain_id: project.map(|(_, pd)| pd.id.clone()),
        project_domain_name: project.map(|(_, pd)| pd.name.clone()),
        domain: v.domain.as_ref().map(|dv| named(&dv.id, &dv.name)),
        cnf: d.cert.as_ref().map(|b| Confirmation { x5t_s256: b.rfc() }),
        system: (d.scope == crate::token::Scope::System)
            .then_some(crate::api::grants::AllOfIt { all: true }),
    };
    Introspection {
        active: true,
        facts,
    }
}
