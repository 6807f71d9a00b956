//! Authorization server metadata (RFC 8414): what this server offers, exactly as configured.

use crate::http::error::ApiResult;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::DomainError;
use crate::http::routes::{op, Routes};
use crate::oauth2::AuthMethod;
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Routes {
    let meta = || {
        op("Authorization server metadata (RFC 8414)")
            .oauth_public()
            .ok::<Metadata>(200, "The metadata")
    };
    Routes::new()
        .get("/.well-known/oauth-authorization-server", metadata, meta())
        .get(
            "/v3/OS-OAUTH2/.well-known/oauth-authorization-server",
            metadata,
            meta(),
        )
        .get(
            "/v3/OS-OAUTH2/jwks",
            jwks,
            op("The public keys of JWT access tokens (404 unless they are enabled)")
                .public()
                .ok::<Jwks>(200, "The keys"),
        )
}

/// A JWK set (RFC 7517).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Names the schema; the set is built by the token module.
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Value>,
}

/// RFC 8414 metadata: what this server offers, as configured.
#[derive(Debug, Serialize, ToSchema)]
pub struct Metadata {
    /// The issuer (the public endpoint).
    pub issuer: String,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The introspection endpoint (RFC 7662).
    pub introspection_endpoint: String,
    /// The revocation endpoint (RFC 7009).
    pub revocation_endpoint: String,
    /// `client_credentials`, and the JWT bearer grant (RFC 7523) for identity providers' tokens.
    pub grant_types_supported: Vec<&'static str>,
    /// None: there is no authorization endpoint.
    pub response_types_supported: Vec<&'static str>,
    /// Client authentication methods of the token endpoint.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Client authentication methods of the introspection endpoint (and `bearer`).
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Client authentication methods of the revocation endpoint.
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Tokens requested over mutual TLS are bound to the client's certificate (RFC 8705 §3).
    pub tls_client_certificate_bound_access_tokens: bool,
    /// Signature algorithms of `private_key_jwt` client assertions (when enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    /// The JWK set of JWT access tokens (when enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
}

/// The public keys of JWT access tokens (current, staged and previous), when JWT access tokens are enabled.
async fn jwks(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    if !state.config.jwt_access_tokens() {
        return Err(DomainError::NotFound(
            "JWT access tokens are not enabled ([oauth2] access_token_format = opaque).".into(),
        )
        .into());
    }
    // Short enough that a verifier sees a newly staged key well before it signs (one rotation interval).
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.tokens.jwks()),
    ))
}

async fn metadata(State(state): State<AppState>) -> impl IntoResponse {
    let base = format!("{}/OS-OAUTH2", state.config.v3_url());
    let methods: Vec<&'static str> = state
        .config
        .oauth2
        .authn_methods
        .iter()
        .map(|&m| m.into())
        .collect();
    let mut introspection_methods = methods.clone();
    // A resource server may also present a token holding the service role.
    introspection_methods.push("bearer");
    let doc = Metadata {
        issuer: state.config.default.public_endpoint.clone(),
        token_endpoint: format!("{base}/token"),
        introspection_endpoint: format!("{base}/introspect"),
        revocation_endpoint: format!("{base}/revoke"),
        grant_types_supported: vec!["client_credentials", crate::oauth2::jwt_bearer::GRANT_TYPE],
        response_types_supported: vec![],
        token_endpoint_auth_methods_supported: methods.clone(),
        introspection_endpoint_auth_methods_supported: introspection_methods,
        revocation_endpoint_auth_methods_supported: methods,
        tls_client_certificate_bound_access_tokens: state.config.requests_client_certs(),
        token_endpoint_auth_signing_alg_values_supported: state
            .config
            .oauth2_method(AuthMethod::PrivateKeyJwt)
            .then(|| {
                crate::client_assertion::ALGORITHMS
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect()
            }),
        jwks_uri: state
            .config
            .jwt_access_tokens()
            .then(|| format!("{base}/jwks")),
    };
    ([(header::CACHE_CONTROL, "public, max-age=3600")], Json(doc))
}
