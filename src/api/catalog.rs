//! `/v3/regions`, `/v3/services`, `/v3/endpoints`: HTTP in, one `catalog::entries` call, a typed response out.

use crate::model::{Endpoint, Region, Service};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::{ListLinks, SelfLink};
use crate::catalog::entries::{self, EndpointFields, EndpointQuery, RegionFields, ServiceFields};
use crate::http::error::ApiResult;
use crate::http::routes::{op, Routes};
use crate::http::{Caller, JsonBody};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Routes {
    const REGION: &str = "/v3/regions/{id}";
    const SERVICE: &str = "/v3/services/{id}";
    const ENDPOINT: &str = "/v3/endpoints/{id}";
    Routes::new()
        .get(
            "/v3/regions",
            list_regions,
            op("List regions")
                .query::<RegionFilters>()
                .ok::<RegionsResponse>(200, "The regions"),
        )
        .post(
            "/v3/regions",
            create_region,
            op("Create a region")
                .json::<RegionRequest>()
                .ok::<RegionResponse>(201, "Created"),
        )
        .get(
            REGION,
            show_region,
            op("Show a region").ok::<RegionResponse>(200, "The region"),
        )
        .put(
            REGION,
            put_region,
            op("Create a region with this id")
                .json::<RegionRequest>()
                .ok::<RegionResponse>(201, "Created"),
        )
        .patch(
            REGION,
            update_region,
            op("Update a region")
                .json::<RegionRequest>()
                .ok::<RegionResponse>(200, "Updated"),
        )
        .delete(
            REGION,
            delete_region,
            op("Delete a region").empty(204, "Deleted"),
        )
        .get(
            "/v3/services",
            list_services,
            op("List services")
                .query::<ServiceFilters>()
                .ok::<ServicesResponse>(200, "The services"),
        )
        .post(
            "/v3/services",
            create_service,
            op("Create a service")
                .json::<ServiceRequest>()
                .ok::<ServiceResponse>(201, "Created"),
        )
        .get(
            SERVICE,
            show_service,
            op("Show a service").ok::<ServiceResponse>(200, "The service"),
        )
        .patch(
            SERVICE,
            update_service,
            op("Update a service")
                .json::<ServiceRequest>()
                .ok::<ServiceResponse>(200, "Updated"),
        )
        .delete(
            SERVICE,
            delete_service,
            op("Delete a service").empty(204, "Deleted"),
        )
        .get(
            "/v3/endpoints",
            list_endpoints,
            op("List endpoints")
                .query::<EndpointFilters>()
                .ok::<EndpointsResponse>(200, "The endpoints"),
        )
        .post(
            "/v3/endpoints",
            create_endpoint,
            op("Create an endpoint")
                .json::<EndpointRequest>()
                .ok::<EndpointResponse>(201, "Created"),
        )
        .get(
            ENDPOINT,
            show_endpoint,
            op("Show an endpoint").ok::<EndpointResponse>(200, "The endpoint"),
        )
        .patch(
            ENDPOINT,
            update_endpoint,
            op("Update an endpoint")
                .json::<EndpointRequest>()
                .ok::<EndpointResponse>(200, "Updated"),
        )
        .delete(
            ENDPOINT,
            delete_endpoint,
            op("Delete an endpoint").empty(204, "Deleted"),
        )
}

/// A region as Keystone shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionView {
    /// Region id (chosen by the operator, e.g. `RegionOne`).
    pub id: String,
    /// Description (empty when none).
    pub description: String,
    /// Parent region.
    pub parent_region_id: Option<String>,
    /// `self` link.
    pub links: SelfLink,
}

impl RegionView {
    fn of(state: &AppState, r: Region) -> RegionView {
        RegionView {
            links: SelfLink::to(state, &format!("regions/{}", r.id)),
            id: r.id,
            description: r.description.unwrap_or_default(),
            parent_region_id: r.parent_region_id,
        }
    }
}

/// A service as Keystone shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceView {
    /// Service id.
    pub id: String,
    /// Type (`identity`, `compute`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Whether its endpoints appear in the catalog.
    pub enabled: bool,
    /// `self` link.
    pub links: SelfLink,
}

impl ServiceView {
    fn of(state: &AppState, s: Service) -> ServiceView {
        ServiceView {
            links: SelfLink::to(state, &format!("services/{}", s.id)),
            id: s.id,
            kind: s.r#type,
            name: s.name,
            description: s.description,
            enabled: s.enabled,
        }
    }
}

/// An endpoint as Keystone shows it (`region` repeats `region_id` for v2-era clients).
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    /// Endpoint id.
    pub id: String,
    /// `public`, `internal` or `admin`.
    pub interface: String,
    /// Region.
    pub region_id: Option<String>,
    /// Region, again.
    pub region: Option<String>,
    /// URL.
    pub url: String,
    /// The service.
    pub service_id: String,
    /// Whether it appears in the catalog.
    pub enabled: bool,
    /// `self` link.
    pub links: SelfLink,
}

impl EndpointView {
    fn of(state: &AppState, e: Endpoint) -> EndpointView {
        EndpointView {
            links: SelfLink::to(state, &format!("endpoints/{}", e.id)),
            id: e.id,
            interface: e.interface,
            region: e.region_id.clone(),
            region_id: e.region_id,
            url: e.url,
            service_id: e.service_id,
            enabled: e.enabled,
        }
    }
}

/// `{"region": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionResponse {
    /// The region.
    pub region: RegionView,
}

/// `{"regions": [...], "links": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionsResponse {
    /// The regions.
    pub regions: Vec<RegionView>,
    /// Keystone's list links.
    pub links: ListLinks,
}

/// `{"service": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceResponse {
    /// The service.
    pub service: ServiceView,
}

/// `{"services": [...], "links": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServicesResponse {
    /// The services.
    pub services: Vec<ServiceView>,
    /// Keystone's list links.
    pub links: ListLinks,
}

/// `{"endpoint": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointResponse {
    /// The endpoint.
    pub endpoint: EndpointView,
}

/// `{"endpoints": [...], "links": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointsResponse {
    /// The endpoints.
    pub endpoints: Vec<EndpointView>,
    /// Keystone's list links.
    pub links: ListLinks,
}

/// Query filters of `GET /v3/regions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegionFilters {
    /// Children of this region.
    pub parent_region_id: Option<String>,
}

/// `{"region": {...}}` as a request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegionRequest {
    /// The region.
    pub region: RegionFields,
}

/// Query filters of `GET /v3/services`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ServiceFilters {
    /// Of this type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// With this name.
    pub name: Option<String>,
}

/// `{"service": {...}}` as a request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ServiceRequest {
    /// The service.
    pub service: ServiceFields,
}

/// Query filters of `GET /v3/endpoints`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EndpointFilters {
    /// Of this service.
    pub service_id: Option<String>,
    /// With this interface.
    pub interface: Option<String>,
    /// In this region.
    pub region_id: Option<String>,
}

/// `{"endpoint": {...}}` as a request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EndpointRequest {
    /// The endpoint.
    pub endpoint: EndpointFields,
}

async fn list_regions(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<RegionFilters>,
) -> ApiResult<Json<RegionsResponse>> {
    let found = entries::regions(&state, &c, f.parent_region_id.as_deref()).await?;
    Ok(Json(RegionsResponse {
        regions: found
            .into_iter()
            .map(|r| RegionView::of(&state, r))
            .collect(),
        links: ListLinks::to(&state, "regions"),
    }))
}

async fn show_region(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<RegionResponse>> {
    let region = RegionView::of(&state, entries::region(&state, &c, &id).await?);
    Ok(Json(RegionResponse { region }))
}

async fn create_region(
    State(state): State<AppState>,
    Caller(c): Caller,
    JsonBody(body): JsonBody<RegionRequest>,
) -> ApiResult<(StatusCode, Json<RegionResponse>)> {
    let created = entries::create_region(&state, &c, None, body.region).await?;
    let region = RegionView::of(&state, created);
    Ok((StatusCode::CREATED, Json(RegionResponse { region })))
}

/// `PUT /v3/regions/{id}`: create a region with the id in the path.
async fn put_region(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RegionRequest>,
) -> ApiResult<(StatusCode, Json<RegionResponse>)> {
    let created = entries::create_region(&state, &c, Some(id), body.region).await?;
    let region = RegionView::of(&state, created);
    Ok((StatusCode::CREATED, Json(RegionResponse { region })))
}

async fn update_region(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RegionRequest>,
) -> ApiResult<Json<RegionResponse>> {
    let fields = RegionFields {
        id: None,
        ..body.region
    };
    let region = RegionView::of(
        &state,
        entries::update_region(&state, &c, &id, fields).await?,
    );
    Ok(Json(RegionResponse { region }))
}

async fn delete_region(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    entries::delete_region(&state, &c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_services(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<ServiceFilters>,
) -> ApiResult<Json<ServicesResponse>> {
    let found = entries::services(&state, &c, f.kind.as_deref(), f.name.as_deref()).await?;
    Ok(Json(ServicesResponse {
        services: found
            .into_iter()
            .map(|s| ServiceView::of(&state, s))
            .collect(),
        links: ListLinks::to(&state, "services"),
    }))
}

async fn show_service(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ServiceResponse>> {
    let service = ServiceView::of(&state, entries::service(&state, &c, &id).await?);
    Ok(Json(ServiceResponse { service }))
}

async fn create_service(
    State(state): State<AppState>,
    Caller(c): Caller,
    JsonBody(body): JsonBody<ServiceRequest>,
) -> ApiResult<(StatusCode, Json<ServiceResponse>)> {
    let created = entries::create_service(&state, &c, body.service).await?;
    let service = ServiceView::of(&state, created);
    Ok((StatusCode::CREATED, Json(ServiceResponse { service })))
}

async fn update_service(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ServiceRequest>,
) -> ApiResult<Json<ServiceResponse>> {
    let updated = entries::update_service(&state, &c, &id, body.service).await?;
    let service = ServiceView::of(&state, updated);
    Ok(Json(ServiceResponse { service }))
}

async fn delete_service(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    entries::delete_service(&state, &c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_endpoints(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<EndpointFilters>,
) -> ApiResult<Json<EndpointsResponse>> {
    let query = EndpointQuery {
        service_id: f.service_id.as_deref(),
        interface: f.interface.as_deref(),
        region_id: f.region_id.as_deref(),
    };
    let found = entries::endpoints(&state, &c, query).await?;
    Ok(Json(EndpointsResponse {
        endpoints: found
            .into_iter()
            .map(|e| EndpointView::of(&state, e))
            .collect(),
        links: ListLinks::to(&state, "endpoints"),
    }))
}

async fn show_endpoint(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<EndpointResponse>> {
    let endpoint = EndpointView::of(&state, entries::endpoint(&state, &c, &id).await?);
    Ok(Json(EndpointResponse { endpoint }))
}

async fn create_endpoint(
    State(state): State<AppState>,
    Caller(c): Caller,
    JsonBody(body): JsonBody<EndpointRequest>,
) -> ApiResult<(StatusCode, Json<EndpointResponse>)> {
    let created = entries::create_endpoint(&state, &c, body.endpoint).await?;
    let endpoint = EndpointView::of(&state, created);
    Ok((StatusCode::CREATED, Json(EndpointResponse { endpoint })))
}

async fn update_endpoint(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EndpointRequest>,
) -> ApiResult<Json<EndpointResponse>> {
    let updated = entries::update_endpoint(&state, &c, &id, body.endpoint).await?;
    let endpoint = EndpointView::of(&state, updated);
    Ok(Json(EndpointResponse { endpoint }))
}

async fn delete_endpoint(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    entries::delete_endpoint(&state, &c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
