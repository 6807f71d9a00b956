//! The service catalog as tokens show it, built from services and endpoints and cached in the view.

pub mod entries;

use std::sync::Arc;

use entity::{endpoint, service};
use sea_orm::{DbErr, EntityTrait, QueryOrder};
use serde_json::{json, Value};

use crate::state::AppState;

/// The catalog document (`[{"endpoints": [...], "id", "type", "name"}]`), from cache or database.
pub async fn document(state: &AppState) -> Result<Arc<Value>, DbErr> {
    if let Some(doc) = state.view.catalog() {
        return Ok(doc);
    }
    let services = service::Entity::find()
        .order_by_asc(service::Column::Id)
        .all(&state.db.conn)
        .await?;
    let endpoints = endpoint::Entity::find()
        .order_by_asc(endpoint::Column::Id)
        .all(&state.db.conn)
        .await?;
    let doc: Vec<Value> = services
        .iter()
        .filter(|s| s.enabled)
        .map(|s| {
            let eps: Vec<Value> = endpoints
                .iter()
                .filter(|e| e.service_id == s.id && e.enabled)
                .map(|e| {
                    json!({"id": e.id, "interface": e.interface, "region_id": e.region_id, "url": e.url,
                           "region": e.region_id})
                })
                .collect();
            json!({"endpoints": eps, "id": s.id, "type": s.r#type, "name": s.name.clone().unwrap_or_default()})
        })
        .collect();
    let doc = Arc::new(Value::Array(doc));
    state.view.set_catalog(doc.clone());
    Ok(doc)
}
