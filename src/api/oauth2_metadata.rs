//! Authorization server metadata (RFC 8414): what this server offers, exactly as configured.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::error::DomainError;
use crate::oauth2::AuthMethod;
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route(
            "/v3/OS-OAUTH2/.well-known/oauth-authorization-server",
            get(metadata),
        )
        .route("/v3/OS-OAUTH2/jwks", get(jwks))
}

/// The public keys of JWT access tokens (current, staged and previous), when JWT access tokens are enabled.
async fn jwks(State(state): State<AppState>) -> Result<impl IntoResponse, DomainError> {
    if !state.config.jwt_access_tokens() {
        return Err(DomainError::NotFound(
            "JWT access tokens are not enabled ([oauth2] access_token_format = opaque).".into(),
        ));
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
    let mut doc = json!({
        "issuer": state.config.default.public_endpoint,
        "token_endpoint": format!("{base}/token"),
        "introspection_endpoint": format!("{base}/introspect"),
        "revocation_endpoint": format!("{base}/revoke"),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": introspection_methods,
        "revocation_endpoint_auth_methods_supported": methods,
        // Tokens requested over mutual TLS are bound to the client's certificate (RFC 8705 §3).
        "tls_client_certificate_bound_access_tokens": state.config.requests_client_certs(),
    });
    if state.config.oauth2_method(AuthMethod::PrivateKeyJwt) {
        let algs: Vec<String> = crate::client_assertion::ALGORITHMS
            .iter()
            .map(|a| format!("{a:?}"))
            .collect();
        doc["token_endpoint_auth_signing_alg_values_supported"] = json!(algs);
    }
    if state.config.jwt_access_tokens() {
        doc["jwks_uri"] = json!(format!("{base}/jwks"));
    }
    ([(header::CACHE_CONTROL, "public, max-age=3600")], Json(doc))
}
