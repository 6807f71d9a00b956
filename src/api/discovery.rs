//! Version discovery (`GET /`, `GET /v3`), liveness (`GET /healthz`) and readiness (`GET /readyz`).

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
        .route("/readyz", get(readyz))
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

/// Ready when the database answers and token keys are loaded; 503 otherwise, so a load balancer skips the node.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = state.db.conn.ping().await.is_ok();
    let keys = !state.tokens.key_ids().is_empty();
    let status = if database && keys {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    (
        status,
        Json(json!({
            "status": if status == StatusCode::OK { "ready" } else { "not ready" },
            "checks": {"database": word(database), "keys": word(keys)},
        })),
    )
}
