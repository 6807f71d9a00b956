//! Authorization server metadata (RFC 8414): what this server offers, exactly as configured.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route(
            "/v3/OS-OAUTH2/.well-known/oauth-authorization-server",
            get(metadata),
        )
}

async fn metadata(State(state): State<AppState>) -> impl IntoResponse {
    let base = format!("{}/OS-OAUTH2", state.config.v3_url());
    let methods = &state.config.oauth2_authn_methods;
    let mut introspection_methods = methods.clone();
    // A resource server may also present a token holding the service role.
    introspection_methods.push("bearer".into());
    let doc = json!({
        "issuer": state.config.public_endpoint,
        "token_endpoint": format!("{base}/token"),
        "introspection_endpoint": format!("{base}/introspect"),
        "revocation_endpoint": format!("{base}/revoke"),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": introspection_methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "tls_client_certificate_bound_access_tokens": false,
    });
    ([(header::CACHE_CONTROL, "public, max-age=3600")], Json(doc))
}
