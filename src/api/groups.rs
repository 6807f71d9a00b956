//! `/v3/groups` and group membership: HTTP in, one `identity::groups` call, a typed response out.

use crate::model::Group;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::users::UsersResponse;
use crate::api::{ListLinks, SelfLink};
use crate::http::error::ApiResult;
use crate::http::routes::{op, Routes};
use crate::http::{Caller, JsonBody, SourceAddr};
use crate::identity::groups::{self, GroupFields, Membership};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Routes {
    const ONE: &str = "/v3/groups/{group_id}";
    const MEMBER: &str = "/v3/groups/{group_id}/users/{user_id}";
    Routes::new()
        .get(
            "/v3/groups",
            list_groups,
            op("List groups")
                .query::<GroupFilters>()
                .ok::<GroupsResponse>(200, "The groups"),
        )
        .post(
            "/v3/groups",
            create,
            op("Create a group")
                .json::<GroupRequest>()
                .ok::<GroupResponse>(201, "Created"),
        )
        .get(
            ONE,
            show,
            op("Show a group").ok::<GroupResponse>(200, "The group"),
        )
        .patch(
            ONE,
            update,
            op("Update a group")
                .json::<GroupRequest>()
                .ok::<GroupResponse>(200, "Updated"),
        )
        .delete(ONE, remove, op("Delete a group").empty(204, "Deleted"))
        .get(
            "/v3/groups/{group_id}/users",
            members,
            op("List a group's members").ok::<UsersResponse>(200, "The members"),
        )
        .put(
            MEMBER,
            add_member,
            op("Add a user to a group").empty(204, "Added"),
        )
        .head(
            MEMBER,
            check_member,
            op("Check a membership").empty(204, "A member"),
        )
        .get(
            MEMBER,
            check_member,
            op("Check a membership").empty(204, "A member"),
        )
        .delete(
            MEMBER,
            remove_member,
            op("Remove a user from a group").empty(204, "Removed"),
        )
}

/// A group as Keystone shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    /// Group id.
    pub id: String,
    /// Name, unique in its domain.
    pub name: String,
    /// Owning domain.
    pub domain_id: String,
    /// Description (empty when none).
    pub description: String,
    /// `self` link.
    pub links: SelfLink,
}

impl GroupView {
    /// The view of a stored group.
    pub fn of(state: &AppState, g: Group) -> GroupView {
        GroupView {
            links: SelfLink::to(state, &format!("groups/{}", g.id)),
            id: g.id,
            name: g.name,
            domain_id: g.domain_id,
            description: g.description.unwrap_or_default(),
        }
    }
}

/// `{"group": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupResponse {
    /// The group.
    pub group: GroupView,
}

/// `{"groups": [...], "links": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupsResponse {
    /// The groups.
    pub groups: Vec<GroupView>,
    /// Keystone's list links.
    pub links: ListLinks,
}

impl GroupsResponse {
    /// A list of groups found at `path` (under `/v3`).
    pub fn of(state: &AppState, path: &str, groups: Vec<Group>) -> GroupsResponse {
        GroupsResponse {
            groups: groups
                .into_iter()
                .map(|g| GroupView::of(state, g))
                .collect(),
            links: ListLinks::to(state, path),
        }
    }
}

/// Query filters of `GET /v3/groups`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupFilters {
    /// Exact name.
    pub name: Option<String>,
    /// Owning domain.
    pub domain_id: Option<String>,
}

/// `{"group": {...}}` as a request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GroupRequest {
    /// The group.
    pub group: GroupFields,
}

async fn list_groups(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<GroupFilters>,
) -> ApiResult<Json<GroupsResponse>> {
    let found = groups::list(&state, &c, f.name.as_deref(), f.domain_id.as_deref()).await?;
    Ok(Json(GroupsResponse::of(&state, "groups", found)))
}

async fn show(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<GroupResponse>> {
    let group = GroupView::of(&state, groups::get(&state, &c, &id).await?);
    Ok(Json(GroupResponse { group }))
}

async fn create(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    JsonBody(body): JsonBody<GroupRequest>,
) -> ApiResult<(StatusCode, Json<GroupResponse>)> {
    let created = groups::create(&state, &c, &c.initiator(source), body.group).await?;
    let group = GroupView::of(&state, created);
    Ok((StatusCode::CREATED, Json(GroupResponse { group })))
}

async fn update(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<GroupRequest>,
) -> ApiResult<Json<GroupResponse>> {
    let updated = groups::update(&state, &c, &c.initiator(source), &id, body.group).await?;
    let group = GroupView::of(&state, updated);
    Ok(Json(GroupResponse { group }))
}

async fn remove(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    groups::delete(&state, &c, &c.initiator(source), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn members(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<UsersResponse>> {
    let users = groups::members(&state, &c, &id).await?;
    Ok(Json(UsersResponse::of(
        &state,
        &format!("groups/{id}/users"),
        &users,
    )))
}

async fn add_member(
    state: State<AppState>,
    caller: Caller,
    source: SourceAddr,
    path: Path<(String, String)>,
) -> ApiResult<StatusCode> {
    membership(state, caller, source, path, Membership::Add).await
}

async fn check_member(
    state: State<AppState>,
    caller: Caller,
    source: SourceAddr,
    path: Path<(String, String)>,
) -> ApiResult<StatusCode> {
    membership(state, caller, source, path, Membership::Check).await
}

async fn remove_member(
    state: State<AppState>,
    caller: Caller,
    source: SourceAddr,
    path: Path<(String, String)>,
) -> ApiResult<StatusCode> {
    membership(state, caller, source, path, Membership::Remove).await
}

async fn membership(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path((gid, uid)): Path<(String, String)>,
    op: Membership,
) -> ApiResult<StatusCode> {
    groups::membership(&state, &c, &c.initiator(source), &gid, &uid, op).await?;
    Ok(StatusCode::NO_CONTENT)
}
