//! `/v3/users`: users, their passwords, their projects and groups. HTTP in, one `identity::users` call, a
//! typed response out.

use crate::model::User;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::api::groups::GroupsResponse;
use crate::api::projects::ProjectsResponse;
use crate::api::{ListLinks, SelfLink};
use crate::crypto::hashing::Secret;
use crate::error::DomainError;
use crate::http::error::ApiResult;
use crate::http::routes::{op, Routes};
use crate::http::{Caller, JsonBody, SourceAddr};
use crate::identity::users::{self, UserFields};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Routes {
    const ONE: &str = "/v3/users/{user_id}";
    Routes::new()
        .get(
            "/v3/users",
            list_users,
            op("List users")
                .query::<UserFilters>()
                .ok::<UsersResponse>(200, "The users"),
        )
        .post(
            "/v3/users",
            create,
            op("Create a user")
                .json::<UserRequest>()
                .ok::<UserResponse>(201, "Created"),
        )
        .get(
            ONE,
            show,
            op("Show a user").ok::<UserResponse>(200, "The user"),
        )
        .patch(
            ONE,
            update,
            op("Update a user")
                .json::<UserRequest>()
                .ok::<UserResponse>(200, "Updated"),
        )
        .delete(ONE, remove, op("Delete a user").empty(204, "Deleted"))
        .post(
            "/v3/users/{user_id}/password",
            change_password,
            op("Change one's own password (the original password is the proof)")
                .public()
                .json::<PasswordRequest>()
                .empty(204, "Changed"),
        )
        .get(
            "/v3/users/{user_id}/projects",
            projects,
            op("List a user's projects").ok::<ProjectsResponse>(200, "The projects"),
        )
        .get(
            "/v3/users/{user_id}/groups",
            groups,
            op("List a user's groups").ok::<GroupsResponse>(200, "The groups"),
        )
}

/// A user as Keystone shows it: its extra attributes (email, description, ...) at top level.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// User id.
    pub id: String,
    /// Name, unique in its domain.
    pub name: String,
    /// Owning domain.
    pub domain_id: String,
    /// Whether the user may authenticate.
    pub enabled: bool,
    /// When the password expires (ISO 8601), if it does.
    pub password_expires_at: Option<String>,
    /// User options (`ignore_password_expiry`, `lock_password`, ...).
    pub options: Map<String, Value>,
    /// Default project, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_project_id: Option<String>,
    /// `self` link.
    pub links: SelfLink,
    /// Any other attribute the user was given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl UserView {
    /// The view of a stored user.
    pub fn of(state: &AppState, u: &User) -> UserView {
        let mut extra = users::extra_of(u);
        // The named fields win over a stored attribute of the same name.
        for k in [
            "id",
            "name",
            "domain_id",
            "enabled",
            "password_expires_at",
            "options",
            "default_project_id",
            "links",
        ] {
            extra.remove(k);
        }
        UserView {
            id: u.id.clone(),
            name: u.name.clone(),
            domain_id: u.domain_id.clone(),
            // Inactive for too long: disabled, as Keystone shows it.
            enabled: crate::identity::passwords::is_enabled(
                &state.config.auth.passwords,
                u,
                state.clock.now(),
            ),
            password_expires_at: u.password_expires_at.map(crate::auth::iso),
            options: crate::identity::passwords::UserOptions::of(u).to_map(),
            default_project_id: u.default_project_id.clone(),
            links: SelfLink::to(state, &format!("users/{}", u.id)),
            extra,
        }
    }
}

/// `{"user": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    /// The user.
    pub user: UserView,
}

/// `{"users": [...], "links": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsersResponse {
    /// The users.
    pub users: Vec<UserView>,
    /// Keystone's list links.
    pub links: ListLinks,
}

impl UsersResponse {
    /// A list of users found at `path` (under `/v3`).
    pub fn of(state: &AppState, path: &str, found: &[User]) -> UsersResponse {
        UsersResponse {
            users: found.iter().map(|u| UserView::of(state, u)).collect(),
            links: ListLinks::to(state, path),
        }
    }
}

/// Query filters of `GET /v3/users`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilters {
    /// Exact name.
    pub name: Option<String>,
    /// Owning domain.
    pub domain_id: Option<String>,
    /// Enabled flag (Keystone's boolean spellings).
    pub enabled: Option<String>,
}

/// `{"user": {...}}` as a request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UserRequest {
    /// The user.
    pub user: UserFields,
}

/// `{"user": {"original_password", "password"}}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordRequest {
    /// The change.
    pub user: PasswordChange,
}

/// A password change: the original is the proof.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChange {
    /// The current password.
    pub original_password: Secret,
    /// The new password.
    pub password: Secret,
}

async fn list_users(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<UserFilters>,
) -> ApiResult<Json<UsersResponse>> {
    let enabled = f
        .enabled
        .as_deref()
        .map(|e| crate::api::query_bool("enabled", e))
        .transpose()?;
    let found = users::list(
        &state,
        &c,
        f.name.as_deref(),
        f.domain_id.as_deref(),
        enabled,
    )
    .await?;
    Ok(Json(UsersResponse::of(&state, "users", &found)))
}

async fn show(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<UserResponse>> {
    let user = UserView::of(&state, &users::get(&state, &c, &id).await?);
    Ok(Json(UserResponse { user }))
}

async fn create(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    JsonBody(body): JsonBody<UserRequest>,
) -> ApiResult<(StatusCode, Json<UserResponse>)> {
    let created = users::create(&state, &c, &c.initiator(source), body.user).await?;
    let user = UserView::of(&state, &created);
    Ok((StatusCode::CREATED, Json(UserResponse { user })))
}

async fn update(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UserRequest>,
) -> ApiResult<Json<UserResponse>> {
    let updated = users::update(&state, &c, &c.initiator(source), &id, body.user).await?;
    let user = UserView::of(&state, &updated);
    Ok(Json(UserResponse { user }))
}

async fn remove(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    users::delete(&state, &c, &c.initiator(source), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// No token needed: the original password is the proof. A failed proof is logged with the user id it claimed.
async fn change_password(
    State(state): State<AppState>,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PasswordRequest>,
) -> Response {
    let PasswordChange {
        original_password,
        password,
    } = body.user;
    match users::change_password(&state, source, &id, original_password, &password).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            let failed_proof = matches!(
                e,
                DomainError::Unauthenticated(_) | DomainError::Throttled(_)
            );
            let mut resp = crate::http::error::ApiError::from(e).into_response();
            if failed_proof {
                resp.extensions_mut().insert(crate::http::AuthSubject(id));
            }
            resp
        }
    }
}

async fn projects(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ProjectsResponse>> {
    let found = users::projects(&state, &c, &id).await?;
    Ok(Json(ProjectsResponse::of(
        &state,
        &format!("users/{id}/projects"),
        &found,
    )))
}

async fn groups(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<GroupsResponse>> {
    let found = users::groups(&state, &c, &id).await?;
    Ok(Json(GroupsResponse::of(
        &state,
        &format!("users/{id}/groups"),
        found,
    )))
}
