//! The HTTP API: one file per resource, each with its handlers and request types; this file builds the router.

pub mod app_creds;
pub mod auth_tokens;
pub mod catalog;
pub mod discovery;
pub mod domains;
pub mod federation;
pub mod grants;
pub mod groups;
pub mod oauth2;
pub mod oauth2_introspect;
pub mod oauth2_metadata;
pub mod oauth2_revoke;
pub mod projects;
pub mod roles;
pub mod service_accounts;
pub mod users;

use crate::http::routes::Routes;
pub use crate::rules::{
    check_description, check_len, check_name, existing, new_id, query_bool, DESCRIPTION_MAX_BYTES,
    GROUP_NAME_MAX, NAME_MAX, PROJECT_NAME_MAX, SHORT_DESCRIPTION_MAX,
};
use crate::state::AppState;
use axum::Router;

/// Every route of the API, with its documentation.
fn all_routes() -> Routes {
    Routes::new()
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
        .merge(service_accounts::routes())
        .merge(federation::routes())
        .merge(oauth2::routes())
        .merge(oauth2_introspect::routes())
        .merge(oauth2_revoke::routes())
        .merge(oauth2_metadata::routes())
}

/// Build the whole application router over the given state.
pub fn router(state: AppState) -> Router {
    all_routes().into_router(&state).with_state(state)
}

/// The OpenAPI 3.1 document of every route (what `/openapi.json` serves and `docs/openapi.json` holds).
pub fn openapi() -> utoipa::openapi::OpenApi {
    all_routes().document()
}

/// The OpenAPI document as pretty JSON, built once.
pub fn openapi_json() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut text = openapi().to_pretty_json().unwrap_or_default();
        text.push('\n');
        text
    })
}

/// `{"self": URL}`, the links of one entity.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SelfLink {
    /// The entity's URL.
    #[serde(rename = "self")]
    pub self_url: String,
}

impl SelfLink {
    /// The link to `path` under `/v3`.
    pub fn to(state: &AppState, path: &str) -> SelfLink {
        SelfLink {
            self_url: format!("{}/{}", state.config.v3_url(), path),
        }
    }
}

/// A list's links: `self`, and `previous`/`next` (always null: Lintel does not paginate).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ListLinks {
    /// The list's URL.
    #[serde(rename = "self")]
    pub self_url: String,
    /// Always null.
    pub previous: Option<String>,
    /// Always null.
    pub next: Option<String>,
}

impl ListLinks {
    /// The links of the list at `path` under `/v3`.
    pub fn to(state: &AppState, path: &str) -> ListLinks {
        ListLinks {
            self_url: format!("{}/{}", state.config.v3_url(), path),
            previous: None,
            next: None,
        }
    }
}

#[cfg(test)]
mod tests {
    /// Two types with one schema name would share one component: the document would describe one of them wrongly.
    #[test]
    fn schema_names_are_unique() {
        let routes = super::all_routes();
        let mut seen = std::collections::HashMap::new();
        for (name, schema) in &routes.schemas {
            if let Some(previous) = seen.insert(name.clone(), schema.clone()) {
                assert!(
                    previous == *schema,
                    "two different schemas are named {name}"
                );
            }
        }
        assert!(seen.len() > 50);
    }
}
