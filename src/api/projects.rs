//! `/v3/projects`: projects and their tags. HTTP in, one `resource::projects` call, a typed response out.

use crate::model::{Domain, Project};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::api::{ListLinks, SelfLink};
use crate::error::DomainError;
use crate::http::error::ApiResult;
use crate::http::routes::{op, Routes};
use crate::http::{Caller, JsonBody, SourceAddr};
use crate::resource::projects::{self, Found, ProjectFields, ProjectQuery, Tags};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Routes {
    const ONE: &str = "/v3/projects/{project_id}";
    const TAGS: &str = "/v3/projects/{project_id}/tags";
    const TAG: &str = "/v3/projects/{project_id}/tags/{tag}";
    Routes::new()
        .get(
            "/v3/projects",
            list_projects,
            op("List projects")
                .query::<ProjectFilters>()
                .ok::<ProjectsResponse>(200, "The projects"),
        )
        .post(
            "/v3/projects",
            create,
            op("Create a project (or, with is_domain, a domain)")
                .json::<ProjectRequest>()
                .ok::<ProjectResponse>(201, "Created"),
        )
        .get(
            ONE,
            show,
            op("Show a project").ok::<ProjectResponse>(200, "The project"),
        )
        .patch(
            ONE,
            update,
            op("Update a project")
                .json::<ProjectRequest>()
                .ok::<ProjectResponse>(200, "Updated"),
        )
        .delete(ONE, remove, op("Delete a project").empty(204, "Deleted"))
        .get(
            TAGS,
            list_tags,
            op("List a project's tags").ok::<TagsResponse>(200, "The tags"),
        )
        .put(
            TAGS,
            replace_tags,
            op("Replace a project's tags")
                .json::<TagsRequest>()
                .ok::<TagsResponse>(200, "The new tags"),
        )
        .delete(
            TAGS,
            clear_tags,
            op("Remove every tag of a project").empty(204, "Removed"),
        )
        .get(
            TAG,
            check_tag,
            op("Check a project tag").empty(204, "Tagged"),
        )
        .put(
            TAG,
            add_tag,
            op("Add a project tag").empty(201, "Added (Location names the tag)"),
        )
        .delete(
            TAG,
            remove_tag,
            op("Remove a project tag").empty(204, "Removed"),
        )
}

/// A project as Keystone shows it (a domain, too, in project form).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectView {
    /// Project id.
    pub id: String,
    /// Name, unique in its domain.
    pub name: String,
    /// Owning domain (null for a domain).
    pub domain_id: Option<String>,
    /// Description (empty when none).
    pub description: String,
    /// Whether the project may be used.
    pub enabled: bool,
    /// Parent project, or the domain for a top-level project (null for a domain).
    pub parent_id: Option<String>,
    /// Whether this is a domain.
    pub is_domain: bool,
    /// Tags, by name.
    pub tags: Vec<String>,
    /// Options (none supported: always empty).
    pub options: Map<String, Value>,
    /// `self` link.
    pub links: SelfLink,
}

impl ProjectView {
    /// The view of a stored project and its tags.
    pub fn of(state: &AppState, p: &Project, tags: Vec<String>) -> ProjectView {
        ProjectView {
            id: p.id.clone(),
            name: p.name.clone(),
            domain_id: Some(p.domain_id.clone()),
            description: p.description.clone().unwrap_or_default(),
            enabled: p.enabled,
            parent_id: Some(p.parent_id.clone().unwrap_or_else(|| p.domain_id.clone())),
            is_domain: false,
            tags,
            options: Map::new(),
            links: SelfLink::to(state, &format!("projects/{}", p.id)),
        }
    }

    /// A domain in project form.
    pub fn of_domain(state: &AppState, d: &Domain) -> ProjectView {
        ProjectView {
            id: d.id.clone(),
            name: d.name.clone(),
            domain_id: None,
            description: d.description.clone().unwrap_or_default(),
            enabled: d.enabled,
            parent_id: None,
            is_domain: true,
            tags: Vec::new(),
            options: Map::new(),
            links: SelfLink::to(state, &format!("projects/{}", d.id)),
        }
    }

    fn found(state: &AppState, f: Found) -> ProjectView {
        match f {
            Found::Project(p, tags) => ProjectView::of(state, &p, tags),
            Found::Domain(d) => ProjectView::of_domain(state, &d),
        }
    }
}

/// `{"project": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectResponse {
    /// The project.
    pub project: ProjectView,
}

/// `{"projects": [...], "links": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectsResponse {
    /// The projects.
    pub projects: Vec<ProjectView>,
    /// Keystone's list links.
    pub links: ListLinks,
}

impl ProjectsResponse {
    /// A list of projects (shown without their tags) found at `path` (under `/v3`).
    pub fn of(state: &AppState, path: &str, found: &[Project]) -> ProjectsResponse {
        ProjectsResponse {
            projects: found
                .iter()
                .map(|p| ProjectView::of(state, p, Vec::new()))
                .collect(),
            links: ListLinks::to(state, path),
        }
    }
}

/// `{"links": {...}, "tags": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagsResponse {
    /// `self` link.
    pub links: SelfLink,
    /// The tags.
    pub tags: Vec<String>,
}

/// Query filters of `GET /v3/projects`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProjectFilters {
    /// Exact name.
    pub name: Option<String>,
    /// Owning domain.
    pub domain_id: Option<String>,
    /// Enabled flag (Keystone's boolean spellings).
    pub enabled: Option<String>,
    /// Parent project or domain.
    pub parent_id: Option<String>,
    /// List domains in project form (only `true` is allowed).
    pub is_domain: Option<String>,
}

/// `{"project": {...}}` as a request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProjectRequest {
    /// The project.
    pub project: ProjectFields,
}

/// `{"tags": [...]}` as a request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TagsRequest {
    /// The tags.
    pub tags: Vec<String>,
}

async fn list_projects(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<ProjectFilters>,
) -> ApiResult<Json<ProjectsResponse>> {
    let is_domain = match f.is_domain.as_deref() {
        None => false,
        Some(v) if crate::api::query_bool("is_domain", v)? => true,
        Some(_) => {
            return Err(DomainError::Invalid(
                "only root projects are allowed to act as domains.".into(),
            )
            .into())
        }
    };
    let query = ProjectQuery {
        name: f.name.as_deref(),
        domain_id: f.domain_id.as_deref(),
        enabled: crate::api::domains::enabled_filter(f.enabled.as_deref())?,
        parent_id: f.parent_id.as_deref(),
    };
    let found = projects::list(&state, &c, &query, is_domain).await?;
    Ok(Json(ProjectsResponse {
        projects: found
            .into_iter()
            .map(|p| ProjectView::found(&state, p))
            .collect(),
        links: ListLinks::to(&state, "projects"),
    }))
}

async fn show(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ProjectResponse>> {
    let project = ProjectView::found(&state, projects::get(&state, &c, &id).await?);
    Ok(Json(ProjectResponse { project }))
}

async fn create(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    JsonBody(body): JsonBody<ProjectRequest>,
) -> ApiResult<(StatusCode, Json<ProjectResponse>)> {
    let created = projects::create(&state, &c, &c.initiator(source), body.project).await?;
    let project = ProjectView::found(&state, created);
    Ok((StatusCode::CREATED, Json(ProjectResponse { project })))
}

async fn update(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ProjectRequest>,
) -> ApiResult<Json<ProjectResponse>> {
    let updated = projects::update(&state, &c, &c.initiator(source), &id, body.project).await?;
    let project = ProjectView::found(&state, updated);
    Ok(Json(ProjectResponse { project }))
}

async fn remove(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    projects::delete(&state, &c, &c.initiator(source), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn tags_response(state: &AppState, id: &str, tags: Vec<String>) -> Json<TagsResponse> {
    Json(TagsResponse {
        links: SelfLink::to(state, &format!("projects/{id}/tags")),
        tags,
    })
}

async fn list_tags(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<TagsResponse>> {
    let tags = projects::tags(&state, &c, &id, Tags::List).await?;
    Ok(tags_response(&state, &id, tags))
}

async fn replace_tags(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TagsRequest>,
) -> ApiResult<Json<TagsResponse>> {
    let tags = projects::tags(&state, &c, &id, Tags::Replace(body.tags)).await?;
    Ok(tags_response(&state, &id, tags))
}

async fn clear_tags(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    projects::tags(&state, &c, &id, Tags::Clear).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET`/`HEAD`: 204 when the project has the tag.
async fn check_tag(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    projects::tags(&state, &c, &id, Tags::Check(tag)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT`: 201 with an empty body and the tag's `Location`, as Keystone.
async fn add_tag(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    projects::tags(&state, &c, &id, Tags::Add(tag.clone())).await?;
    let mut resp = StatusCode::CREATED.into_response();
    if let Ok(mut url) = url::Url::parse(&state.config.v3_url()) {
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["projects", id.as_str(), "tags", tag.as_str()]);
        }
        if let Ok(v) = HeaderValue::from_str(url.as_str()) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
    Ok(resp)
}

async fn remove_tag(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    projects::tags(&state, &c, &id, Tags::Remove(tag)).await?;
    Ok(StatusCode::NO_CONTENT)
}
