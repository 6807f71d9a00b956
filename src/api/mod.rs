//! The HTTP API: one file per resource, each with its handlers and request types; this file builds the router.

pub mod app_creds;
pub mod auth_tokens;
pub mod catalog;
pub mod discovery;
pub mod domains;
pub mod grants;
pub mod groups;
pub mod oauth2;
pub mod oauth2_introspect;
pub mod oauth2_metadata;
pub mod oauth2_revoke;
pub mod projects;
pub mod roles;
pub mod users;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// Build the whole application router over the given state.
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_request_body_size;
    Router::new()
        .merge(discovery::routes())
        .merge(auth_tokens::routes())
        .merge(domains::routes())
        .merge(projects::routes())
        .merge(users::routes())
        .merge(groups::routes())
        .merge(roles::routes())
        .merge(grants::routes())
        .merge(catalog::routes())
        .merge(app_creds::routes())
        .merge(oauth2::routes())
        .merge(oauth2_introspect::routes())
        .merge(oauth2_revoke::routes())
        .merge(oauth2_metadata::routes())
        .route_layer(axum::middleware::from_fn(
            crate::http::layers::remember_route,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::layers::around,
        ))
        .with_state(state)
}

/// `{"self": <v3>/<path>}`.
pub fn links(state: &AppState, path: &str) -> Value {
    json!({"self": format!("{}/{}", state.config.v3_url(), path)})
}

/// Keystone's list envelope: `{"<key>": [...], "links": {...}}`.
pub fn list(state: &AppState, key: &str, path: &str, items: Vec<Value>) -> Value {
    json!({key: items, "links": {"self": format!("{}/{}", state.config.v3_url(), path), "previous": null, "next": null}})
}

/// A new 32-character hex id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Parse Keystone's boolean query values (`true`, `True`, `1`, ...); anything else is a 400.
pub fn query_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "" | "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ApiError::BadRequest(format!(
            "Invalid value '{v}' for query parameter {name}: expected a boolean."
        ))),
    }
}

/// Check a name: present, not blank, at most 255 characters.
pub fn check_name(entity: &str, name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::validation(format!(
            "{entity}. Value: '{name}'. 'name' must not be empty"
        )));
    }
    if name.chars().count() > 255 {
        return Err(ApiError::validation(format!(
            "{entity}. '{name}' is too long"
        )));
    }
    Ok(())
}

/// Whether a database error is a uniqueness violation, on any backend.
pub fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
