//! `/v3/domains`: HTTP in, one `resource::domains` call, a typed response out.

use crate::error::DomainResult;
use crate::model::Domain;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::api::{ListLinks, SelfLink};
use crate::http::error::ApiResult;
use crate::http::routes::{op, Routes};
use crate::http::{Caller, JsonBody, SourceAddr};
use crate::resource::domains::{self, DomainFields};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Routes {
    const ONE: &str = "/v3/domains/{domain_id}";
    Routes::new()
        .get(
            "/v3/domains",
            list_domains,
            op("List domains")
                .query::<DomainFilters>()
                .ok::<DomainsResponse>(200, "The domains"),
        )
        .post(
            "/v3/domains",
            create,
            op("Create a domain")
                .json::<DomainRequest>()
                .ok::<DomainResponse>(201, "Created"),
        )
        .get(
            ONE,
            show,
            op("Show a domain").ok::<DomainResponse>(200, "The domain"),
        )
        .patch(
            ONE,
            update,
            op("Update a domain")
                .json::<DomainRequest>()
                .ok::<DomainResponse>(200, "Updated"),
        )
        .delete(
            ONE,
            remove,
            op("Delete a disabled domain").empty(204, "Deleted"),
        )
}

/// A domain as Keystone shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainView {
    /// Domain id.
    pub id: String,
    /// Name, unique.
    pub name: String,
    /// Description (empty when none).
    pub description: String,
    /// Whether the domain's users and projects may be used.
    pub enabled: bool,
    /// Tags (not supported on domains: always empty).
    pub tags: Vec<String>,
    /// Options (none supported: always empty).
    pub options: Map<String, Value>,
    /// `self` link.
    pub links: SelfLink,
}

impl DomainView {
    /// The view of a stored domain.
    pub fn of(state: &AppState, d: &Domain) -> DomainView {
        DomainView {
            id: d.id.clone(),
            name: d.name.clone(),
            description: d.description.clone().unwrap_or_default(),
            enabled: d.enabled,
            tags: Vec::new(),
            options: Map::new(),
            links: SelfLink::to(state, &format!("domains/{}", d.id)),
        }
    }
}

/// `{"domain": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainResponse {
    /// The domain.
    pub domain: DomainView,
}

/// `{"domains": [...], "links": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainsResponse {
    /// The domains.
    pub domains: Vec<DomainView>,
    /// Keystone's list links.
    pub links: ListLinks,
}

impl DomainsResponse {
    /// A list of domains found at `path` (under `/v3`).
    pub fn of(state: &AppState, path: &str, found: &[Domain]) -> DomainsResponse {
        DomainsResponse {
            domains: found.iter().map(|d| DomainView::of(state, d)).collect(),
            links: ListLinks::to(state, path),
        }
    }
}

/// Query filters of `GET /v3/domains`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DomainFilters {
    /// Exact name.
    pub name: Option<String>,
    /// Enabled flag (Keystone's boolean spellings).
    pub enabled: Option<String>,
}

/// `{"domain": {...}}` as a request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DomainRequest {
    /// The domain.
    pub domain: DomainFields,
}

/// An optional `enabled` query value as a boolean.
pub fn enabled_filter(v: Option<&str>) -> DomainResult<Option<bool>> {
    v.map(|e| crate::api::query_bool("enabled", e)).transpose()
}

async fn list_domains(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<DomainFilters>,
) -> ApiResult<Json<DomainsResponse>> {
    let enabled = enabled_filter(f.enabled.as_deref())?;
    let found = domains::list(&state, &c, f.name.as_deref(), enabled).await?;
    Ok(Json(DomainsResponse::of(&state, "domains", &found)))
}

async fn show(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<DomainResponse>> {
    let domain = DomainView::of(&state, &domains::get(&state, &c, &id).await?);
    Ok(Json(DomainResponse { domain }))
}

async fn create(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    JsonBody(body): JsonBody<DomainRequest>,
) -> ApiResult<(StatusCode, Json<DomainResponse>)> {
    let created = domains::create(&state, &c, &c.initiator(source), body.domain).await?;
    let domain = DomainView::of(&state, &created);
    Ok((StatusCode::CREATED, Json(DomainResponse { domain })))
}

async fn update(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<DomainRequest>,
) -> ApiResult<Json<DomainResponse>> {
    let updated = domains::update(&state, &c, &c.initiator(source), &id, body.domain).await?;
    let domain = DomainView::of(&state, &updated);
    Ok(Json(DomainResponse { domain }))
}

async fn remove(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    domains::delete(&state, &c, &c.initiator(source), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
