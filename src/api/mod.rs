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

use crate::error::DomainError;
use crate::state::AppState;

/// Build the whole application router over the given state.
pub fn router(state: AppState) -> Router {
    let limit = state.config.server.max_request_body_size;
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

/// A lookup whose "not found" is kept for later (policy is enforced before a 404 tells the caller anything),
/// while any other failure, a database outage above all, is returned at once and never taken for a miss.
pub fn existing<T>(found: Result<T, DomainError>) -> Result<Result<T, DomainError>, DomainError> {
    match found {
        Err(DomainError::NotFound(m)) => Ok(Err(DomainError::NotFound(m))),
        Err(e) => Err(e),
        Ok(t) => Ok(Ok(t)),
    }
}

/// A new 32-character hex id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Parse Keystone's boolean query values (`true`, `True`, `1`, ...); anything else is a 400.
pub fn query_bool(name: &str, v: &str) -> Result<bool, DomainError> {
    match v.to_ascii_lowercase().as_str() {
        "" | "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(DomainError::Invalid(format!(
            "Invalid value '{v}' for query parameter {name}: expected a boolean."
        ))),
    }
}

/// Longest domain and project name (Keystone's resource schema).
pub const PROJECT_NAME_MAX: usize = 64;
/// Longest group name (Keystone's column).
pub const GROUP_NAME_MAX: usize = 64;
/// Longest user, role, service and application credential name.
pub const NAME_MAX: usize = 255;
/// Longest description of a domain, role or region (Keystone's schema and columns).
pub const SHORT_DESCRIPTION_MAX: usize = 255;
/// Longest other description, in bytes: what a MariaDB/MySQL `TEXT` column holds, so that all three databases
/// accept the same descriptions.
pub const DESCRIPTION_MAX_BYTES: usize = 65_535;

/// A value for an error message: at most 64 characters of it.
fn shown(value: &str) -> String {
    if value.chars().count() <= 64 {
        value.to_string()
    } else {
        format!("{}...", value.chars().take(64).collect::<String>())
    }
}

/// Check a name as Keystone's schemas do: not empty, some non-space character, at most `max` characters.
pub fn check_name(name: &str, max: usize) -> Result<(), DomainError> {
    let why = if name.is_empty() {
        "should be non-empty"
    } else if name.chars().all(char::is_whitespace) {
        "does not match '[\\S]+'"
    } else if name.chars().count() > max {
        "is too long"
    } else {
        return Ok(());
    };
    let v = shown(name);
    Err(DomainError::validation(format!(
        "name. Value: {v}. '{v}' {why}"
    )))
}

/// Check a description: at most `max_chars` characters (when given) and [`DESCRIPTION_MAX_BYTES`] bytes.
pub fn check_description(
    description: Option<&str>,
    max_chars: Option<usize>,
) -> Result<(), DomainError> {
    let Some(d) = description else {
        return Ok(());
    };
    if d.len() > DESCRIPTION_MAX_BYTES || max_chars.is_some_and(|m| d.chars().count() > m) {
        let v = shown(d);
        return Err(DomainError::validation(format!(
            "description. Value: {v}. '{v}' is too long"
        )));
    }
    Ok(())
}

/// Check another bounded string field (an id, a type, a URL) the same way.
pub fn check_len(field: &str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.chars().count() > max {
        let v = shown(value);
        return Err(DomainError::validation(format!(
            "{field}. Value: {v}. '{v}' is too long"
        )));
    }
    Ok(())
}
