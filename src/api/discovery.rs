//! Version discovery (`GET /`, `GET /v3`), liveness (`GET /healthz`) and readiness (`GET /readyz`).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::http::routes::{op, Routes};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Routes {
    let v3 = || {
        op("The v3 API's version")
            .public()
            .ok::<VersionResponse>(200, "The version")
    };
    Routes::new()
        .get(
            "/",
            versions,
            op("The API versions (300, Location names v3)")
                .public()
                .ok::<VersionsResponse>(300, "The versions"),
        )
        .get("/v3", v3_version, v3())
        .get("/v3/", v3_version, v3())
        .get(
            "/healthz",
            healthz,
            op("Liveness").public().ok::<Health>(200, "Alive"),
        )
        .get(
            "/readyz",
            readyz,
            op("Readiness: the database answers and token keys are loaded")
                .public()
                .ok::<Readiness>(200, "Ready")
                .ok::<Readiness>(503, "Not ready"),
        )
        .get(
            "/openapi.json",
            openapi,
            op("This document")
                .public()
                .ok::<Document>(200, "The OpenAPI document"),
        )
}

/// A link of a version.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionLink {
    /// `self`.
    pub rel: &'static str,
    /// Its URL.
    pub href: String,
}

/// A media type a version speaks.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaType {
    /// `application/json`.
    pub base: &'static str,
    /// Keystone's vendor type.
    #[serde(rename = "type")]
    pub media_type: &'static str,
}

/// One API version, as Keystone describes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Version {
    /// `v3.14`.
    pub id: &'static str,
    /// `stable`.
    pub status: &'static str,
    /// When the version last changed.
    pub updated: &'static str,
    /// Its URL.
    pub links: Vec<VersionLink>,
    /// What it speaks.
    #[serde(rename = "media-types")]
    pub media_types: Vec<MediaType>,
}

/// `{"version": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionResponse {
    /// The version.
    pub version: Version,
}

/// The versions' list.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionValues {
    /// The versions (only v3).
    pub values: Vec<Version>,
}

/// `{"versions": {"values": [...]}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionsResponse {
    /// The versions.
    pub versions: VersionValues,
}

/// `{"status": "ok"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Each readiness check: `ok` or `unavailable`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessChecks {
    /// The database answers.
    pub database: &'static str,
    /// Token keys are loaded.
    pub keys: &'static str,
}

/// `{"status": "ready"|"not ready", "checks": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not ready`.
    pub status: &'static str,
    /// Each check.
    pub checks: ReadinessChecks,
}

/// An OpenAPI 3.1 document.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Names the schema of /openapi.json; the document itself is served as built.
pub struct Document {
    /// The OpenAPI version.
    pub openapi: String,
    /// Title and version.
    pub info: Value,
    /// The operations.
    pub paths: Value,
}

fn version(state: &AppState) -> Version {
    Version {
        id: "v3.14",
        status: "stable",
        updated: "2020-04-07T00:00:00Z",
        links: vec![VersionLink {
            rel: "self",
            href: format!("{}/", state.config.v3_url()),
        }],
        media_types: vec![MediaType {
            base: "application/json",
            media_type: "application/vnd.openstack.identity-v3+json",
        }],
    }
}

async fn versions(State(state): State<AppState>) -> impl IntoResponse {
    let location = format!("{}/", state.config.v3_url());
    (
        StatusCode::MULTIPLE_CHOICES,
        [(header::LOCATION, location)],
        Json(VersionsResponse {
            versions: VersionValues {
                values: vec![version(&state)],
            },
        }),
    )
}

async fn v3_version(State(state): State<AppState>) -> Json<VersionResponse> {
    Json(VersionResponse {
        version: version(&state),
    })
}

/// [`Health`] when alive, as its bytes: the answer never changes, and load balancers ask for it all the time.
const ALIVE: &str = r#"{"status":"ok"}"#;

async fn healthz() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], ALIVE)
}

/// The OpenAPI document, built once from the routes.
async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::api::openapi_json(),
    )
}

/// Ready when the database answers and token keys are loaded; 503 otherwise, so a load balancer skips the node.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = state.db.ping().await;
    let keys = !state.tokens.key_ids().is_empty();
    let status = if database && keys {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    (
        status,
        Json(Readiness {
            status: if status == StatusCode::OK {
                "ready"
            } else {
                "not ready"
            },
            checks: ReadinessChecks {
                database: word(database),
                keys: word(keys),
            },
        }),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_liveness_body_is_health_serialized() {
        let health = super::Health { status: "ok" };
        assert_eq!(serde_json::to_string(&health).unwrap(), super::ALIVE);
    }
}
