//! Version discovery (`GET /`, `GET /v3`) and liveness (`GET /healthz`).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(versions))
        .route("/v3", get(v3))
        .route("/v3/", get(v3))
        .route("/healthz", get(healthz))
}

fn version(state: &AppState) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{}/", state.config.v3_url())}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]
    })
}

async fn versions(State(state): State<AppState>) -> impl IntoResponse {
    let location = format!("{}/", state.config.v3_url());
    (
        StatusCode::MULTIPLE_CHOICES,
        [(header::LOCATION, location)],
        Json(json!({"versions": {"values": [version(&state)]}})),
    )
}

async fn v3(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"version": version(&state)}))
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
