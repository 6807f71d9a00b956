//! `/v3/roles`, implied roles (`/v3/roles/{prior}/implies/{implied}`) and `/v3/role_inferences`: HTTP in, one
//! `assignment::roles` call, a typed response out.

use crate::error::DomainResult;
use crate::model::Role;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::api::{ListLinks, SelfLink};
use crate::assignment::roles::{self, Implication, RoleFields};
use crate::http::error::ApiResult;
use crate::http::routes::{op, Routes};
use crate::http::{Caller, JsonBody, SourceAddr};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Routes {
    const ROLES: &str = "/v3/roles";
    const ROLE: &str = "/v3/roles/{role_id}";
    const RULE: &str = "/v3/roles/{role_id}/implies/{implied_id}";
    Routes::new()
        .get(
            ROLES,
            list_roles,
            op("List roles")
                .query::<RoleFilters>()
                .ok::<RolesResponse>(200, "The roles"),
        )
        .post(
            ROLES,
            create,
            op("Create a role")
                .json::<RoleRequest>()
                .ok::<RoleResponse>(201, "Created"),
        )
        .get(
            ROLE,
            show,
            op("Show a role").ok::<RoleResponse>(200, "The role"),
        )
        .patch(
            ROLE,
            update,
            op("Update a role")
                .json::<RoleRequest>()
                .ok::<RoleResponse>(200, "Updated"),
        )
        .delete(ROLE, remove, op("Delete a role").empty(204, "Deleted"))
        .get(
            "/v3/roles/{role_id}/implies",
            list_implied,
            op("List the roles a role implies").ok::<ImpliesResponse>(200, "The rules"),
        )
        .put(
            RULE,
            add_implied,
            op("Make a role imply another").ok::<ImplicationResponse>(201, "Created"),
        )
        .get(
            RULE,
            get_implied,
            op("Show an implication rule").ok::<ImplicationResponse>(200, "The rule"),
        )
        .head(
            RULE,
            check_implied,
            op("Check an implication rule").empty(204, "It exists"),
        )
        .delete(
            RULE,
            remove_implied,
            op("Delete an implication rule").empty(204, "Deleted"),
        )
        .get(
            "/v3/role_inferences",
            inferences,
            op("List every implication rule").ok::<InferencesResponse>(200, "The rules"),
        )
}

/// A role as Keystone shows it.
#[derive(Debug, Serialize, ToSchema)]
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
    pub fn of(state: &AppState, r: &Role) -> RoleView {
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

fn link(state: &AppState, r: &Role) -> SelfLink {
    SelfLink::to(state, &format!("roles/{}", r.id))
}

/// `{"role": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleResponse {
    /// The role.
    pub role: RoleView,
}

/// `{"roles": [...], "links": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolesResponse {
    /// The roles.
    pub roles: Vec<RoleView>,
    /// Keystone's list links.
    pub links: ListLinks,
}

impl RolesResponse {
    /// A list of roles found at `path` (under `/v3`).
    pub fn of(state: &AppState, path: &str, found: &[Role]) -> RolesResponse {
        RolesResponse {
            roles: found.iter().map(|r| RoleView::of(state, r)).collect(),
            links: ListLinks::to(state, path),
        }
    }
}

/// A role as an implication rule names it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleBrief {
    /// Role id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `self` link.
    pub links: SelfLink,
}

impl RoleBrief {
    fn of(state: &AppState, r: &Role) -> RoleBrief {
        RoleBrief {
            id: r.id.clone(),
            name: r.name.clone(),
            links: link(state, r),
        }
    }

    fn all(state: &AppState, found: &[Role]) -> Vec<RoleBrief> {
        found.iter().map(|r| RoleBrief::of(state, r)).collect()
    }
}

/// A prior role and the roles it implies.
#[derive(Debug, Serialize, ToSchema)]
pub struct Inference {
    /// The prior role.
    pub prior_role: RoleBrief,
    /// The implied roles.
    pub implies: Vec<RoleBrief>,
}

/// One implication rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImpliedRule {
    /// The prior role.
    pub prior_role: RoleBrief,
    /// The implied role.
    pub implies: RoleBrief,
}

/// `{"role_inference": {...}, "links": {...}}`: what one role implies.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImpliesResponse {
    /// The rules of one prior role.
    pub role_inference: Inference,
    /// `self` link.
    pub links: SelfLink,
}

/// `{"role_inference": {...}, "links": {...}}`: one rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImplicationResponse {
    /// The rule.
    pub role_inference: ImpliedRule,
    /// `self` link.
    pub links: SelfLink,
}

/// `{"role_inferences": [...], "links": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InferencesResponse {
    /// Every prior role's rules.
    pub role_inferences: Vec<Inference>,
    /// `self` link.
    pub links: SelfLink,
}

/// Query filters of `GET /v3/roles`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoleFilters {
    /// Exact name.
    pub name: Option<String>,
    /// Owning domain (absent: the global roles).
    pub domain_id: Option<String>,
}

/// `{"role": {...}}` as a request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleRequest {
    /// The role.
    pub role: RoleFields,
}

async fn list_roles(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<RoleFilters>,
) -> ApiResult<Json<RolesResponse>> {
    let found = roles::list(&state, &c, f.name.as_deref(), f.domain_id.as_deref()).await?;
    Ok(Json(RolesResponse::of(&state, "roles", &found)))
}

async fn show(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<RoleResponse>> {
    let role = RoleView::of(&state, &roles::get(&state, &c, &id).await?);
    Ok(Json(RoleResponse { role }))
}

async fn create(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    JsonBody(body): JsonBody<RoleRequest>,
) -> ApiResult<(StatusCode, Json<RoleResponse>)> {
    let created = roles::create(&state, &c, &c.initiator(source), body.role).await?;
    let role = RoleView::of(&state, &created);
    Ok((StatusCode::CREATED, Json(RoleResponse { role })))
}

async fn update(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RoleRequest>,
) -> ApiResult<Json<RoleResponse>> {
    let updated = roles::update(&state, &c, &c.initiator(source), &id, body.role).await?;
    let role = RoleView::of(&state, &updated);
    Ok(Json(RoleResponse { role }))
}

async fn remove(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    roles::delete(&state, &c, &c.initiator(source), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_implied(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ImpliesResponse>> {
    let (prior, implied) = roles::implied(&state, &c, &id).await?;
    Ok(Json(ImpliesResponse {
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
    c: &crate::token::Validated,
    (prior, implied): (String, String),
    op: Implication,
) -> DomainResult<ImplicationResponse> {
    let (p, i) = roles::implication(state, c, &prior, &implied, op).await?;
    Ok(ImplicationResponse {
        links: SelfLink::to(state, &format!("roles/{}/implies/{}", p.id, i.id)),
        role_inference: ImpliedRule {
            prior_role: RoleBrief::of(state, &p),
            implies: RoleBrief::of(state, &i),
        },
    })
}

async fn add_implied(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(pair): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<ImplicationResponse>)> {
    let rule = one_rule(&state, &c, pair, Implication::Add).await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

async fn get_implied(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(pair): Path<(String, String)>,
) -> ApiResult<Json<ImplicationResponse>> {
    Ok(Json(one_rule(&state, &c, pair, Implication::Get).await?))
}

/// `HEAD`: 204 when the rule exists (Keystone answers the check call without a body).
async fn check_implied(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(pair): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    one_rule(&state, &c, pair, Implication::Check).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_implied(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((prior, implied)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    roles::remove_implication(&state, &c, &prior, &implied).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn inferences(
    State(state): State<AppState>,
    Caller(c): Caller,
) -> ApiResult<Json<InferencesResponse>> {
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
