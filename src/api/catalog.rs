//! `/v3/regions`, `/v3/services`, `/v3/endpoints`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use entity::{endpoint, region, service};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder, Set,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{list, new_id};
use crate::error::{DomainError, DomainResult};
use crate::http::{Caller, JsonBody};
use crate::policy::{enforce, Target};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/regions", get(list_regions).post(create_region))
        .route(
            "/v3/regions/{id}",
            get(show_region)
                .put(put_region)
                .patch(update_region)
                .delete(delete_region),
        )
        .route("/v3/services", get(list_services).post(create_service))
        .route(
            "/v3/services/{id}",
            get(show_service)
                .patch(update_service)
                .delete(delete_service),
        )
        .route("/v3/endpoints", get(list_endpoints).post(create_endpoint))
        .route(
            "/v3/endpoints/{id}",
            get(show_endpoint)
                .patch(update_endpoint)
                .delete(delete_endpoint),
        )
}

fn render_region(state: &AppState, r: &region::Model) -> Value {
    json!({"id": r.id, "description": r.description.clone().unwrap_or_default(), "parent_region_id": r.parent_region_id,
           "links": crate::api::links(state, &format!("regions/{}", r.id))})
}

fn render_service(state: &AppState, s: &service::Model) -> Value {
    json!({"id": s.id, "type": s.r#type, "name": s.name, "description": s.description, "enabled": s.enabled,
           "links": crate::api::links(state, &format!("services/{}", s.id))})
}

fn render_endpoint(state: &AppState, e: &endpoint::Model) -> Value {
    json!({"id": e.id, "interface": e.interface, "region_id": e.region_id, "region": e.region_id, "url": e.url,
           "service_id": e.service_id, "enabled": e.enabled, "links": crate::api::links(state, &format!("endpoints/{}", e.id))})
}

#[derive(Deserialize)]
struct RegionFilters {
    parent_region_id: Option<String>,
}

async fn list_regions(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<RegionFilters>,
) -> DomainResult<Json<Value>> {
    enforce("identity:list_regions", &c, Target::default())?;
    let mut q = region::Entity::find().order_by_asc(region::Column::Id);
    if let Some(p) = &f.parent_region_id {
        crate::api::check_len("parent_region_id", p, 255)?;
        q = q.filter(region::Column::ParentRegionId.eq(p.as_str()));
    }
    let rows = q.all(&state.db.conn).await?;
    Ok(Json(list(
        &state,
        "regions",
        "regions",
        rows.iter().map(|r| render_region(&state, r)).collect(),
    )))
}

async fn show_region(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<Value>> {
    enforce("identity:get_region", &c, Target::default())?;
    let r = region::Entity::find_by_id(id.as_str())
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| DomainError::not_found("Region", &id))?;
    Ok(Json(json!({"region": render_region(&state, &r)})))
}

#[derive(Deserialize)]
struct RegionBody {
    id: Option<String>,
    description: Option<String>,
    parent_region_id: Option<String>,
}

#[derive(Deserialize)]
struct RegionWrapper {
    region: RegionBody,
}

async fn create_region(
    State(state): State<AppState>,
    Caller(c): Caller,
    JsonBody(body): JsonBody<RegionWrapper>,
) -> DomainResult<(StatusCode, Json<Value>)> {
    let mut b = body.region;
    let id = b.id.take().filter(|i| !i.is_empty()).unwrap_or_else(new_id);
    insert_region(&state, &c, id, b).await
}

/// `PUT /v3/regions/{id}`: create a region with the id in the path (an id in the body must match it).
async fn put_region(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RegionWrapper>,
) -> DomainResult<(StatusCode, Json<Value>)> {
    let b = body.region;
    if b.id.as_ref().is_some_and(|given| *given != id) {
        return Err(DomainError::Invalid(
            "The region id in the body does not match the one in the URL.".into(),
        ));
    }
    insert_region(&state, &c, id, b).await
}

async fn insert_region(
    state: &AppState,
    c: &crate::auth::Validated,
    id: String,
    b: RegionBody,
) -> DomainResult<(StatusCode, Json<Value>)> {
    enforce("identity:create_region", c, Target::default())?;
    crate::api::check_len("id", &id, 255)?;
    crate::api::check_description(
        b.description.as_deref(),
        Some(crate::api::SHORT_DESCRIPTION_MAX),
    )?;
    if let Some(p) = &b.parent_region_id {
        crate::api::check_len("parent_region_id", p, 255)?;
        region::Entity::find_by_id(p.as_str())
            .one(&state.db.conn)
            .await?
            .ok_or_else(|| DomainError::not_found("Region", p))?;
    }
    let row = region::ActiveModel {
        id: Set(id.clone()),
        description: Set(b.description),
        parent_region_id: Set(b.parent_region_id),
    };
    let txn = state.db.write().await?;
    let created = crate::store::unique(row.insert(&*txn).await, || {
        DomainError::duplicate("region", "id", &id)
    })?;
    txn.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"region": render_region(state, &created)})),
    ))
}

#[derive(Deserialize)]
struct RegionPatch {
    description: Option<Option<String>>,
    parent_region_id: Option<Option<String>>,
}

#[derive(Deserialize)]
struct RegionPatchWrapper {
    region: RegionPatch,
}

/// `PATCH /v3/regions/{id}`: description and parent (never itself, never one of its descendants).
async fn update_region(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RegionPatchWrapper>,
) -> DomainResult<Json<Value>> {
    enforce("identity:update_region", &c, Target::default())?;
    let r = region::Entity::find_by_id(id.as_str())
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| DomainError::not_found("Region", &id))?;
    let b = body.region;
    let mut row: region::ActiveModel = r.into();
    if let Some(d) = b.description {
        crate::api::check_description(d.as_deref(), Some(crate::api::SHORT_DESCRIPTION_MAX))?;
        row.description = Set(d);
    }
    if let Some(parent) = b.parent_region_id {
        if let Some(p) = &parent {
            crate::api::check_len("parent_region_id", p, 255)?;
            // Walk up from the new parent: meeting this region would make a cycle. Bounded by the depth.
            let mut cursor = Some(p.clone());
            let mut steps = 0;
            while let Some(cur) = cursor {
                if cur == id {
                    return Err(DomainError::Invalid(format!(
                        "Circular reference or a repeated entry found in region tree - {id}."
                    )));
                }
                steps += 1;
                if steps > 1000 {
                    break;
                }
                cursor = region::Entity::find_by_id(cur.as_str())
                    .one(&state.db.conn)
                    .await?
                    .ok_or_else(|| DomainError::not_found("Region", &cur))?
                    .parent_region_id;
            }
        }
        row.parent_region_id = Set(parent);
    }
    let txn = state.db.write().await?;
    let updated = row.update(&*txn).await?;
    txn.commit().await?;
    state.view.forget_catalog();
    Ok(Json(json!({"region": render_region(&state, &updated)})))
}

async fn delete_region(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    enforce("identity:delete_region", &c, Target::default())?;
    let r = region::Entity::find_by_id(id.as_str())
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| DomainError::not_found("Region", &id))?;
    let txn = state.db.write().await?;
    r.delete(&*txn).await?;
    txn.commit().await?;
    state.view.forget_catalog();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ServiceFilters {
    r#type: Option<String>,
    name: Option<String>,
}

async fn list_services(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<ServiceFilters>,
) -> DomainResult<Json<Value>> {
    enforce("identity:list_services", &c, Target::default())?;
    let mut q = service::Entity::find().order_by_asc(service::Column::Id);
    if let Some(t) = &f.r#type {
        q = q.filter(service::Column::Type.eq(t.as_str()));
    }
    if let Some(n) = &f.name {
        q = q.filter(service::Column::Name.eq(n.as_str()));
    }
    let rows = q.all(&state.db.conn).await?;
    Ok(Json(list(
        &state,
        "services",
        "services",
        rows.iter().map(|s| render_service(&state, s)).collect(),
    )))
}

async fn load_service(state: &AppState, id: &str) -> DomainResult<service::Model> {
    service::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| DomainError::not_found("Service", id))
}

async fn show_service(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<Value>> {
    enforce("identity:get_service", &c, Target::default())?;
    Ok(Json(
        json!({"service": render_service(&state, &load_service(&state, &id).await?)}),
    ))
}

#[derive(Deserialize)]
struct ServiceBody {
    r#type: Option<String>,
    name: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
}

#[derive(Deserialize)]
struct ServiceWrapper {
    service: ServiceBody,
}

async fn create_service(
    State(state): State<AppState>,
    Caller(c): Caller,
    JsonBody(body): JsonBody<ServiceWrapper>,
) -> DomainResult<(StatusCode, Json<Value>)> {
    enforce("identity:create_service", &c, Target::default())?;
    let b = body.service;
    let kind = b
        .r#type
        .ok_or_else(|| DomainError::validation("service. 'type' is a required property"))?;
    check_service(Some(&kind), b.name.as_deref(), b.description.as_deref())?;
    let row = service::ActiveModel {
        id: Set(new_id()),
        r#type: Set(kind),
        name: Set(b.name),
        description: Set(b.description),
        enabled: Set(b.enabled.unwrap_or(true)),
    };
    let txn = state.db.write().await?;
    let created = row.insert(&*txn).await?;
    txn.commit().await?;
    state.view.forget_catalog();
    Ok((
        StatusCode::CREATED,
        Json(json!({"service": render_service(&state, &created)})),
    ))
}

async fn update_service(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ServiceWrapper>,
) -> DomainResult<Json<Value>> {
    enforce("identity:update_service", &c, Target::default())?;
    let s = load_service(&state, &id).await?;
    let b = body.service;
    check_service(
        b.r#type.as_deref(),
        b.name.as_deref(),
        b.description.as_deref(),
    )?;
    let mut row: service::ActiveModel = s.into();
    if let Some(t) = b.r#type {
        row.r#type = Set(t);
    }
    if let Some(n) = b.name {
        row.name = Set(Some(n));
    }
    if let Some(d) = b.description {
        row.description = Set(Some(d));
    }
    if let Some(e) = b.enabled {
        row.enabled = Set(e);
    }
    let txn = state.db.write().await?;
    let updated = row.update(&*txn).await?;
    txn.commit().await?;
    state.view.forget_catalog();
    Ok(Json(json!({"service": render_service(&state, &updated)})))
}

async fn delete_service(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    enforce("identity:delete_service", &c, Target::default())?;
    let s = load_service(&state, &id).await?;
    let txn = state.db.write().await?;
    s.delete(&*txn).await?;
    txn.commit().await?;
    state.view.forget_catalog();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct EndpointFilters {
    service_id: Option<String>,
    interface: Option<String>,
    region_id: Option<String>,
}

async fn list_endpoints(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<EndpointFilters>,
) -> DomainResult<Json<Value>> {
    enforce("identity:list_endpoints", &c, Target::default())?;
    let mut q = endpoint::Entity::find().order_by_asc(endpoint::Column::Id);
    if let Some(s) = &f.service_id {
        q = q.filter(endpoint::Column::ServiceId.eq(s.as_str()));
    }
    if let Some(i) = &f.interface {
        q = q.filter(endpoint::Column::Interface.eq(i.as_str()));
    }
    if let Some(r) = &f.region_id {
        q = q.filter(endpoint::Column::RegionId.eq(r.as_str()));
    }
    let rows = q.all(&state.db.conn).await?;
    Ok(Json(list(
        &state,
        "endpoints",
        "endpoints",
        rows.iter().map(|e| render_endpoint(&state, e)).collect(),
    )))
}

async fn load_endpoint(state: &AppState, id: &str) -> DomainResult<endpoint::Model> {
    endpoint::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| DomainError::not_found("Endpoint", id))
}

async fn show_endpoint(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<Value>> {
    enforce("identity:get_endpoint", &c, Target::default())?;
    Ok(Json(
        json!({"endpoint": render_endpoint(&state, &load_endpoint(&state, &id).await?)}),
    ))
}

#[derive(Deserialize)]
struct EndpointBody {
    service_id: Option<String>,
    interface: Option<String>,
    url: Option<String>,
    region_id: Option<String>,
    region: Option<String>,
    enabled: Option<bool>,
}

#[derive(Deserialize)]
struct EndpointWrapper {
    endpoint: EndpointBody,
}

/// Longest endpoint URL (Keystone's schema).
const URL_MAX: usize = 225;

/// Keystone's service schema: type and name at most 255 characters.
fn check_service(
    kind: Option<&str>,
    name: Option<&str>,
    description: Option<&str>,
) -> DomainResult<()> {
    if let Some(t) = kind {
        if t.is_empty() {
            return Err(DomainError::validation(
                "type. Value: . '' should be non-empty",
            ));
        }
        crate::api::check_len("type", t, 255)?;
    }
    if let Some(n) = name {
        crate::api::check_len("name", n, crate::api::NAME_MAX)?;
    }
    crate::api::check_description(description, None)
}

fn check_interface(i: &str) -> DomainResult<()> {
    if matches!(i, "public" | "internal" | "admin") {
        Ok(())
    } else {
        Err(DomainError::validation(format!(
            "endpoint.interface. '{i}' is not one of ['public', 'internal', 'admin']"
        )))
    }
}

async fn create_endpoint(
    State(state): State<AppState>,
    Caller(c): Caller,
    JsonBody(body): JsonBody<EndpointWrapper>,
) -> DomainResult<(StatusCode, Json<Value>)> {
    enforce("identity:create_endpoint", &c, Target::default())?;
    let b = body.endpoint;
    let service_id = b
        .service_id
        .ok_or_else(|| DomainError::validation("endpoint. 'service_id' is a required property"))?;
    let interface = b
        .interface
        .ok_or_else(|| DomainError::validation("endpoint. 'interface' is a required property"))?;
    let url = b
        .url
        .ok_or_else(|| DomainError::validation("endpoint. 'url' is a required property"))?;
    check_interface(&interface)?;
    crate::api::check_len("url", &url, URL_MAX)?;
    load_service(&state, &service_id).await?;
    let region_id = endpoint_region(&state, b.region_id, b.region).await?;
    let row = endpoint::ActiveModel {
        id: Set(new_id()),
        service_id: Set(service_id),
        interface: Set(interface),
        url: Set(url),
        region_id: Set(region_id),
        enabled: Set(b.enabled.unwrap_or(true)),
    };
    let txn = state.db.write().await?;
    let created = row.insert(&*txn).await?;
    txn.commit().await?;
    state.view.forget_catalog();
    Ok((
        StatusCode::CREATED,
        Json(json!({"endpoint": render_endpoint(&state, &created)})),
    ))
}

/// The region an endpoint names: `region_id` must exist; the legacy `region` (v2-era clients) names a region that
/// is created when missing, as Keystone does.
async fn endpoint_region(
    state: &AppState,
    region_id: Option<String>,
    legacy: Option<String>,
) -> DomainResult<Option<String>> {
    let (id, create) = match (region_id, legacy) {
        (Some(r), _) => (r, false),
        (None, Some(r)) => (r, true),
        (None, None) => return Ok(None),
    };
    crate::api::check_len("region_id", &id, 255)?;
    let found = region::Entity::find_by_id(id.as_str())
        .one(&state.db.conn)
        .await?;
    if found.is_some() {
        return Ok(Some(id));
    }
    if !create {
        return Err(DomainError::not_found("Region", &id));
    }
    let region = region::ActiveModel {
        id: Set(id.clone()),
        description: Set(None),
        parent_region_id: Set(None),
    };
    // In a transaction of its own: a region created meanwhile by another request is as good, and a failed insert
    // must not abort the endpoint's transaction (PostgreSQL would).
    let txn = state.db.write().await?;
    crate::store::insert_unless_present(txn, region).await?;
    Ok(Some(id))
}

async fn update_endpoint(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EndpointWrapper>,
) -> DomainResult<Json<Value>> {
    enforce("identity:update_endpoint", &c, Target::default())?;
    let e = load_endpoint(&state, &id).await?;
    let b = body.endpoint;
    let mut row: endpoint::ActiveModel = e.into();
    if let Some(i) = b.interface {
        check_interface(&i)?;
        row.interface = Set(i);
    }
    if let Some(u) = b.url {
        crate::api::check_len("url", &u, URL_MAX)?;
        row.url = Set(u);
    }
    if let Some(s) = b.service_id {
        load_service(&state, &s).await?;
        row.service_id = Set(s);
    }
    if b.region_id.is_some() || b.region.is_some() {
        row.region_id = Set(endpoint_region(&state, b.region_id, b.region).await?);
    }
    if let Some(en) = b.enabled {
        row.enabled = Set(en);
    }
    let txn = state.db.write().await?;
    let updated = row.update(&*txn).await?;
    txn.commit().await?;
    state.view.forget_catalog();
    Ok(Json(json!({"endpoint": render_endpoint(&state, &updated)})))
}

async fn delete_endpoint(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    enforce("identity:delete_endpoint", &c, Target::default())?;
    let e = load_endpoint(&state, &id).await?;
    let txn = state.db.write().await?;
    e.delete(&*txn).await?;
    txn.commit().await?;
    state.view.forget_catalog();
    Ok(StatusCode::NO_CONTENT)
}
