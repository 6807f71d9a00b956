//! The service catalog as tokens show it, built from services and endpoints and cached in the view.

pub mod entries;

use std::sync::Arc;

use serde_json::{json, Value};

use crate::context::Context;
use crate::error::DomainResult;
use crate::store;

/// The catalog document (`[{"endpoints": [...], "id", "type", "name"}]`), from cache or database.
pub async fn document(cx: &Context) -> DomainResult<Arc<Value>> {
    if let Some(doc) = cx.view.catalog() {
        return Ok(doc);
    }
    let services = store::catalog::services(&cx.db, None, None).await?;
    let endpoints = store::catalog::endpoints(&cx.db, Default::default()).await?;
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
    cx.view.set_catalog(doc.clone());
    Ok(doc)
}
