//! `/v3/roles`, implied roles (`/v3/roles/{prior}/implies/{implied}`) and `/v3/role_inferences`: HTTP in, one
//! `assignment::roles` call, a typed response out.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use entity::role;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::{ListLinks, SelfLink};
use crate::assignment::roles::{self, Implication, RoleFields};
use crate::error::DomainResult;
use crate::http::{Caller, JsonBody};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/roles", get(list_roles).post(create))
        .route(
            "/v3/roles/{role_id}",
            get(show).patch(update).delete(remove),
        )
        .route("/v3/roles/{role_id}/implies", get(list_implied))
        .route(
            "/v3/roles/{role_id}/implies/{implied_id}",
            put(add_implied)
                .get(get_implied)
                .head(check_implied)
                .delete(remove_implied),
        )
        .route("/v3/role_inferences", get(inferences))
}

/// A role as Keystone shows it.
#[derive(Debug, Serialize)]
pub struct RoleView {
    /// Role id.
    pub id: String,
    /// Name, unique among the global roles or in its domain.
    pub name: String,
    /// Owning domain (null: a global role).
    pub domain_id: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Options (`immutable`, ...).
    pub options: Map<String, Value>,
    /// `self` link.
    pub links: SelfLink,
}

impl RoleView {
    /// The view of a stored role.
    pub fn of(state: &AppState, r: &role::Model) -> RoleView {
        RoleView {
            id: r.id.clone(),
            name: r.name.clone(),
            domain_id: r.domain_id.clone(),
            description: r.description.clone(),
            options: roles::options_of(r),
            links: link(state, r),
        }
    }
}

fn link(state: &AppState, r: &role::Model) -> SelfLink {
    SelfLink::to(state, &format!("roles/{}", r.id))
}

/// `{"role": {...}}`.
#[derive(Debug, Serialize)]
pub struct RoleResponse {
    /// The role.
    pub role: RoleView,
}

/// `{"roles": [...], "links": {...}}`.
#[derive(Debug, Serialize)]
pub struct RolesResponse {
    /// The roles.
    pub roles: Vec<RoleView>,
    /// Keystone's list links.
    pub links: ListLinks,
}

impl RolesResponse {
    /// A list of roles found at `path` (under `/v3`).
    pub fn of(state: &AppState, path: &str, found: &[role::Model]) -> RolesResponse {
        RolesResponse {
            roles: found.iter().map(|r| RoleView::of(state, r)).collect(),
            links: ListLinks::to(state, path),
        }
    }
}

/// A role as an implication rule names it.
#[derive(Debug, Serialize)]
pub struct RoleBrief {
    /// Role id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `self` link.
    pub links: SelfLink,
}

impl RoleBrief {
    fn of(state: &AppState, r: &role::Model) -> RoleBrief {
        RoleBrief {
            id: r.id.clone(),
            name: r.name.clone(),
            links: link(state, r),
        }
    }

    fn all(state: &AppState, found: &[role::Model]) -> Vec<RoleBrief> {
        found.iter().map(|r| RoleBrief::of(state, r)).collect()
    }
}

/// A prior role and what it implies: one role, or a list.
#[derive(Debug, Serialize)]
pub struct Inference<T> {
    /// The prior role.
    pub prior_role: RoleBrief,
    /// The implied role(s).
    pub implies: T,
}

/// `{"role_inference": {...}, "links": {...}}`.
#[derive(Debug, Serialize)]
pub struct InferenceResponse<T> {
    /// The rule(s) of one prior role.
    pub role_inference: Inference<T>,
    /// `self` link.
    pub links: SelfLink,
}

/// `{"role_inferences": [...], "links": {...}}`.
#[derive(Debug, Serialize)]
pub struct InferencesResponse {
    /// Every prior role's rules.
    pub role_inferences: Vec<Inference<Vec<RoleBrief>>>,
    /// `self` link.
    pub links: SelfLink,
}

/// Query filters of `GET /v3/roles`.
#[derive(Debug, Deserialize)]
pub struct RoleFilters {
    /// Exact name.
    pub name: Option<String>,
    /// Owning domain (absent: the global roles).
    pub domain_id: Option<String>,
}

/// A role as a create or update request gives it.
#[derive(Debug, Deserialize)]
pub struct RoleBody {
    /// Name.
    pub name: Option<String>,
    /// Owning domain.
    pub domain_id: Option<Option<String>>,
    /// Description.
    pub description: Option<Option<String>>,
    /// Options.
    pub options: Option<Map<String, Value>>,
}

/// `{"role": {...}}` as a request.
#[derive(Debug, Deserialize)]
pub struct RoleRequest {
    /// The role.
    pub role: RoleBody,
}

impl From<RoleBody> for RoleFields {
    fn from(b: RoleBody) -> Self {
        RoleFields {
            name: b.name,
            domain_id: b.domain_id,
            description: b.description,
            options: b.options,
        }
    }
}

async fn list_roles(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<RoleFilters>,
) -> DomainResult<Json<RolesResponse>> {
    let found = roles::list(&state, &c, f.name.as_deref(), f.domain_id.as_deref()).await?;
    Ok(Json(RolesResponse::of(&state, "roles", &found)))
}

async fn show(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<RoleResponse>> {
    let role = RoleView::of(&state, &roles::get(&state, &c, &id).await?);
    Ok(Json(RoleResponse { role }))
}

async fn create(
    State(state): State<AppState>,
    Caller(c): Caller,
    JsonBody(body): JsonBody<RoleRequest>,
) -> DomainResult<(StatusCode, Json<RoleResponse>)> {
    let role = RoleView::of(&state, &roles::create(&state, &c, body.role.into()).await?);
    Ok((StatusCode::CREATED, Json(RoleResponse { role })))
}

async fn update(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RoleRequest>,
) -> DomainResult<Json<RoleResponse>> {
    let updated = roles::update(&state, &c, &id, body.role.into()).await?;
    let role = RoleView::of(&state, &updated);
    Ok(Json(RoleResponse { role }))
}

async fn remove(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    roles::delete(&state, &c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_implied(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<InferenceResponse<Vec<RoleBrief>>>> {
    let (prior, implied) = roles::implied(&state, &c, &id).await?;
    Ok(Json(InferenceResponse {
        role_inference: Inference {
            prior_role: RoleBrief::of(&state, &prior),
            implies: RoleBrief::all(&state, &implied),
        },
        links: SelfLink::to(&state, &format!("roles/{id}/implies")),
    }))
}

/// One rule as Keystone shows it.
async fn one_rule(
    state: &AppState,
    c: &crate::auth::Validated,
    (prior, implied): (String, String),
    op: Implication,
) -> DomainResult<InferenceResponse<RoleBrief>> {
    let (p, i) = roles::implication(state, c, &prior, &implied, op).await?;
    Ok(InferenceResponse {
        links: SelfLink::to(state, &format!("roles/{}/implies/{}", p.id, i.id)),
        role_inference: Inference {
            prior_role: RoleBrief::of(state, &p),
            implies: RoleBrief::of(state, &i),
        },
    })
}

async fn add_implied(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(pair): Path<(String, String)>,
) -> DomainResult<(StatusCode, Json<InferenceResponse<RoleBrief>>)> {
    let rule = one_rule(&state, &c, pair, Implication::Add).await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

async fn get_implied(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(pair): Path<(String, String)>,
) -> DomainResult<Json<InferenceResponse<RoleBrief>>> {
    Ok(Json(one_rule(&state, &c, pair, Implication::Get).await?))
}

/// `HEAD`: 204 when the rule exists (Keystone answers the check call without a body).
async fn check_implied(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(pair): Path<(String, String)>,
) -> DomainResult<StatusCode> {
    one_rule(&state, &c, pair, Implication::Check).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_implied(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((prior, implied)): Path<(String, String)>,
) -> DomainResult<StatusCode> {
    roles::remove_implication(&state, &c, &prior, &implied).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn inferences(
    State(state): State<AppState>,
    Caller(c): Caller,
) -> DomainResult<Json<InferencesResponse>> {
    let rules = roles::inferences(&state, &c).await?;
    let role_inferences = rules
        .iter()
        .map(|(prior, implies)| Inference {
            prior_role: RoleBrief::of(&state, prior),
            implies: RoleBrief::all(&state, implies),
        })
        .collect();
    Ok(Json(InferencesResponse {
        role_inferences,
        links: SelfLink::to(&state, "role_inferences"),
    }))
}
