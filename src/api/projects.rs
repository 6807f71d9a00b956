//! `/v3/projects`: projects and their tags.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use entity::{assignment, project, project_tag};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder, Set,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{check_name, list, new_id, query_bool};
use crate::error::{DomainError, DomainResult};
use crate::http::{Caller, JsonBody};
use crate::policy::{enforce, Target};
use crate::state::AppState;
use crate::token::revocation::{Event, RevKey};

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/projects", get(list_projects).post(create))
        .route(
            "/v3/projects/{project_id}",
            get(show).patch(update).delete(remove),
        )
        .route(
            "/v3/projects/{project_id}/tags",
            get(list_tags).put(replace_tags).delete(clear_tags),
        )
        .route(
            "/v3/projects/{project_id}/tags/{tag}",
            get(check_tag).put(add_tag).delete(remove_tag),
        )
}

/// Render a project as Keystone does (top-level projects name their domain as parent).
pub fn render(state: &AppState, p: &project::Model, tags: &[String]) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "domain_id": p.domain_id,
        "description": p.description.clone().unwrap_or_default(),
        "enabled": p.enabled,
        "parent_id": p.parent_id.clone().unwrap_or_else(|| p.domain_id.clone()),
        "is_domain": false,
        "tags": tags,
        "options": {},
        "links": crate::api::links(state, &format!("projects/{}", p.id)),
    })
}

/// Fetch a project or 404.
pub async fn load(state: &AppState, id: &str) -> DomainResult<project::Model> {
    project::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| DomainError::not_found("Project", id))
}

/// Fetch several projects by id.
pub async fn load_many(state: &AppState, ids: Vec<String>) -> DomainResult<Vec<project::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(project::Entity::find()
        .filter(project::Column::Id.is_in(ids))
        .order_by_asc(project::Column::Name)
        .all(&state.db.conn)
        .await?)
}

async fn tags_of(state: &AppState, id: &str) -> DomainResult<Vec<String>> {
    Ok(project_tag::Entity::find()
        .filter(project_tag::Column::ProjectId.eq(id))
        .order_by_asc(project_tag::Column::Name)
        .all(&state.db.conn)
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect())
}

#[derive(Deserialize)]
struct ProjectFilters {
    name: Option<String>,
    domain_id: Option<String>,
    enabled: Option<String>,
    parent_id: Option<String>,
    is_domain: Option<String>,
}

async fn list_projects(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<ProjectFilters>,
) -> DomainResult<Json<Value>> {
    enforce(
        "identity:list_projects",
        &c,
        Target {
            domain_id: f.domain_id.as_deref().or(Some(&c.user_domain.id)),
            ..Default::default()
        },
    )?;
    if let Some(d) = &f.is_domain {
        if query_bool("is_domain", d)? {
            // Domains are not stored as projects here: list them in project form.
            let enabled = crate::api::domains::enabled_filter(f.enabled.as_deref())?;
            let domains =
                crate::resource::domains::search(&state, f.name.as_deref(), enabled).await?;
            let items = domains
                .iter()
                .map(|d| crate::api::domains::render_as_project(&state, d))
                .collect();
            return Ok(Json(list(&state, "projects", "projects", items)));
        }
    }
    let mut q = project::Entity::find().order_by_asc(project::Column::Name);
    if let Some(n) = &f.name {
        q = q.filter(project::Column::Name.eq(n.as_str()));
    }
    if let Some(d) = &f.domain_id {
        q = q.filter(project::Column::DomainId.eq(d.as_str()));
    }
    if let Some(e) = &f.enabled {
        q = q.filter(project::Column::Enabled.eq(query_bool("enabled", e)?));
    }
    if let Some(p) = &f.parent_id {
        q = q.filter(
            sea_orm::Condition::any()
                .add(project::Column::ParentId.eq(p.as_str()))
                .add(
                    sea_orm::Condition::all()
                        .add(project::Column::ParentId.is_null())
                        .add(project::Column::DomainId.eq(p.as_str())),
                ),
        );
    }
    let rows = q.all(&state.db.conn).await?;
    let mut items = Vec::with_capacity(rows.len());
    for p in &rows {
        items.push(render(&state, p, &tags_of(&state, &p.id).await?));
    }
    Ok(Json(list(&state, "projects", "projects", items)))
}

async fn show(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<Value>> {
    let p = load(&state, &id).await;
    if matches!(p, Err(DomainError::NotFound(_))) {
        if let Some(d) = crate::resource::domains::find(&state, &id).await? {
            enforce(
                "identity:get_domain",
                &c,
                Target {
                    domain_id: Some(&id),
                    ..Default::default()
                },
            )?;
            return Ok(Json(
                json!({"project": crate::api::domains::render_as_project(&state, &d)}),
            ));
        }
    }
    let domain = p.as_ref().ok().map(|p| p.domain_id.clone());
    enforce(
        "identity:get_project",
        &c,
        Target {
            domain_id: domain.as_deref(),
            project_id: Some(&id),
            ..Default::default()
        },
    )?;
    let p = p?;
    Ok(Json(
        json!({"project": render(&state, &p, &tags_of(&state, &id).await?)}),
    ))
}

#[derive(Deserialize)]
struct ProjectBody {
    name: Option<String>,
    domain_id: Option<String>,
    description: Option<Option<String>>,
    enabled: Option<bool>,
    parent_id: Option<Option<String>>,
    is_domain: Option<bool>,
    tags: Option<Vec<String>>,
    #[serde(default, rename = "options")]
    _options: Option<Value>,
}

#[derive(Deserialize)]
struct ProjectWrapper {
    project: ProjectBody,
}

/// Keystone's tag schema: 1 to 255 characters, no '/' or ','.
fn check_tag_name(field: &str, tag: &str) -> DomainResult<()> {
    let why = if tag.is_empty() {
        Some("should be non-empty".to_string())
    } else if tag.chars().count() > 255 {
        Some("is too long".to_string())
    } else if tag.contains('/') || tag.contains(',') {
        Some("does not match '^[^,/]*$'".to_string())
    } else {
        None
    };
    match why {
        Some(why) => Err(DomainError::validation(format!(
            "{field}. Value: {tag}. '{tag}' {why}"
        ))),
        None => Ok(()),
    }
}

/// Keystone's tag list schema: valid tags, at most [`MAX_TAGS`], no repeats.
fn check_tags(tags: &[String]) -> DomainResult<()> {
    for (i, t) in tags.iter().enumerate() {
        check_tag_name(&i.to_string(), t)?;
    }
    if tags.len() > MAX_TAGS {
        return Err(DomainError::validation(format!(
            "tags. A project may have at most {MAX_TAGS} tags; {} were given",
            tags.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = tags.iter().find(|t| !seen.insert(t.as_str())) {
        return Err(DomainError::validation(format!(
            "tags. '{dup}' appears more than once: tags must be unique"
        )));
    }
    Ok(())
}

/// Most tags a project may carry (Keystone's schema).
const MAX_TAGS: usize = 80;

/// The tag list as Keystone answers it: `{"links": {...}, "tags": [...]}`.
fn tags_body(state: &AppState, id: &str, tags: Vec<String>) -> Value {
    json!({"links": crate::api::links(state, &format!("projects/{id}/tags")), "tags": tags})
}

async fn create(
    State(state): State<AppState>,
    Caller(c): Caller,
    JsonBody(body): JsonBody<ProjectWrapper>,
) -> DomainResult<(StatusCode, Json<Value>)> {
    let b = body.project;
    if b.is_domain == Some(true) {
        return create_acting_domain(&state, &c, b).await;
    }
    let name = b
        .name
        .ok_or_else(|| DomainError::validation("project. 'name' is a required property"))?;
    check_name(&name, crate::api::PROJECT_NAME_MAX)?;
    crate::api::check_description(b.description.as_ref().and_then(Option::as_deref), None)?;
    let mut parent = b.parent_id.flatten();
    let domain_id = match (&b.domain_id, &parent) {
        (Some(d), _) => d.clone(),
        (None, Some(p)) => match crate::api::existing(load(&state, p).await)? {
            Ok(pp) => pp.domain_id,
            // Policy first; the missing parent is reported when the project is made.
            Err(_) => p.clone(),
        },
        (None, None) => c.user_domain.id.clone(),
    };
    enforce(
        "identity:create_project",
        &c,
        Target {
            domain_id: Some(&domain_id),
            ..Default::default()
        },
    )?;
    crate::resource::domains::load(&state, &domain_id).await?;
    if parent.as_deref() == Some(domain_id.as_str()) {
        parent = None;
    }
    if let Some(p) = &parent {
        let pp = load(&state, p).await?;
        if pp.domain_id != domain_id {
            return Err(DomainError::Invalid(
                "The parent project must be in the same domain.".into(),
            ));
        }
    }
    let tags = b.tags.unwrap_or_default();
    check_tags(&tags)?;
    let row = project::ActiveModel {
        id: Set(new_id()),
        name: Set(name.clone()),
        domain_id: Set(domain_id),
        parent_id: Set(parent),
        description: Set(b.description.flatten()),
        enabled: Set(b.enabled.unwrap_or(true)),
        created_at: Set(state.clock.now()),
    };
    let txn = state.db.write().await?;
    let created = crate::store::unique(row.insert(&*txn).await, || {
        DomainError::duplicate("project", "name", &name)
    })?;
    for t in &tags {
        project_tag::ActiveModel {
            project_id: Set(created.id.clone()),
            name: Set(t.clone()),
        }
        .insert(&*txn)
        .await?;
    }
    txn.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"project": render(&state, &created, &tags)})),
    ))
}

/// `POST /v3/projects` with `is_domain`: a domain, answered in project form (Keystone keeps domains as projects
/// acting as domains; Lintel keeps them in their own table and shows both forms).
async fn create_acting_domain(
    state: &AppState,
    c: &crate::auth::Validated,
    b: ProjectBody,
) -> DomainResult<(StatusCode, Json<Value>)> {
    if b.domain_id.is_some() || b.parent_id.flatten().is_some() {
        return Err(DomainError::Invalid(
            "only root projects are allowed to act as domains.".into(),
        ));
    }
    let name = b.name.clone().unwrap_or_default();
    let fields = crate::resource::domains::DomainFields {
        name: b.name,
        description: b.description,
        enabled: b.enabled,
    };
    let created = crate::resource::domains::create(state, c, fields)
    .await
    .map_err(|e| match e {
        DomainError::Conflict(_) => DomainError::Conflict(format!(
            "Conflict occurred attempting to store project - it is not permitted to have two projects acting as \
             domains with the same name: {name}."
        )),
        other => other,
    })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"project": crate::api::domains::render_as_project(state, &created)})),
    ))
}

async fn update(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ProjectWrapper>,
) -> DomainResult<Json<Value>> {
    let p = match load(&state, &id).await {
        Err(DomainError::NotFound(m)) => {
            if crate::resource::domains::find(&state, &id).await?.is_none() {
                return Err(DomainError::NotFound(m));
            }
            let b = body.project;
            let fields = crate::resource::domains::DomainFields {
                name: b.name,
                description: b.description,
                enabled: b.enabled,
            };
            let d = crate::resource::domains::update(&state, &c, &id, fields).await?;
            return Ok(Json(
                json!({"project": crate::api::domains::render_as_project(&state, &d)}),
            ));
        }
        other => other?,
    };
    enforce(
        "identity:update_project",
        &c,
        Target {
            domain_id: Some(&p.domain_id),
            ..Default::default()
        },
    )?;
    let b = body.project;
    if b.domain_id.as_ref().is_some_and(|d| *d != p.domain_id) {
        return Err(DomainError::Invalid(
            "Cannot change the domain_id of a project.".into(),
        ));
    }
    let mut events = Vec::new();
    let mut row: project::ActiveModel = p.clone().into();
    if let Some(n) = b.name {
        check_name(&n, crate::api::PROJECT_NAME_MAX)?;
        row.name = Set(n);
    }
    if let Some(d) = b.description {
        crate::api::check_description(d.as_deref(), None)?;
        row.description = Set(d);
    }
    if let Some(e) = b.enabled {
        if !e && p.enabled {
            events.push(Event::now(&state.clock, RevKey::Project(id.clone())));
        }
        row.enabled = Set(e);
    }
    let txn = state.db.write().await?;
    let updated = crate::store::unique(row.update(&*txn).await, || {
        DomainError::duplicate("project", "name", &p.name)
    })?;
    if let Some(tags) = &b.tags {
        check_tags(tags)?;
        project_tag::Entity::delete_many()
            .filter(project_tag::Column::ProjectId.eq(id.as_str()))
            .exec(&*txn)
            .await?;
        for t in tags {
            project_tag::ActiveModel {
                project_id: Set(id.clone()),
                name: Set(t.clone()),
            }
            .insert(&*txn)
            .await?;
        }
    }
    for e in &events {
        e.save(&*txn).await?;
    }
    txn.commit().await?;
    state.view.forget_project(&id);
    state.revoked(&events);
    Ok(Json(
        json!({"project": render(&state, &updated, &tags_of(&state, &id).await?)}),
    ))
}

/// Delete a project with its grants, recording a revocation event, in one transaction.
pub async fn delete_project(state: &AppState, p: project::Model) -> DomainResult<()> {
    let children = project::Entity::find()
        .filter(project::Column::ParentId.eq(p.id.as_str()))
        .one(&state.db.conn)
        .await?;
    if children.is_some() {
        return Err(DomainError::Forbidden(
            "Cannot delete a project that has child projects.".into(),
        ));
    }
    let event = Event::now(&state.clock, RevKey::Project(p.id.clone()));
    let id = p.id.clone();
    let txn = state.db.write().await?;
    assignment::Entity::delete_many()
        .filter(assignment::Column::TargetId.eq(id.as_str()))
        .filter(assignment::Column::Kind.is_in(["UserProject", "GroupProject"]))
        .exec(&*txn)
        .await?;
    event.save(&*txn).await?;
    p.delete(&*txn).await?;
    txn.commit().await?;
    state.view.forget_project(&id);
    state.revoked(&[event]);
    Ok(())
}

async fn remove(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    let p = match load(&state, &id).await {
        Err(DomainError::NotFound(m)) => {
            if crate::resource::domains::find(&state, &id).await?.is_none() {
                return Err(DomainError::NotFound(m));
            }
            crate::resource::domains::delete(&state, &c, &id).await?;
            return Ok(StatusCode::NO_CONTENT);
        }
        other => other?,
    };
    enforce(
        "identity:delete_project",
        &c,
        Target {
            domain_id: Some(&p.domain_id),
            ..Default::default()
        },
    )?;
    delete_project(&state, p).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tag_target(
    state: &AppState,
    c: &crate::auth::Validated,
    id: &str,
    rule: &str,
) -> DomainResult<project::Model> {
    let p = load(state, id).await?;
    enforce(
        rule,
        c,
        Target {
            domain_id: Some(&p.domain_id),
            project_id: Some(id),
            ..Default::default()
        },
    )?;
    Ok(p)
}

async fn list_tags(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<Value>> {
    tag_target(&state, &c, &id, "identity:list_project_tags").await?;
    Ok(Json(tags_body(&state, &id, tags_of(&state, &id).await?)))
}

#[derive(Deserialize)]
struct TagsBody {
    tags: Vec<String>,
}

async fn replace_tags(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TagsBody>,
) -> DomainResult<Json<Value>> {
    tag_target(&state, &c, &id, "identity:update_project_tags").await?;
    check_tags(&body.tags)?;
    let txn = state.db.write().await?;
    project_tag::Entity::delete_many()
        .filter(project_tag::Column::ProjectId.eq(id.as_str()))
        .exec(&*txn)
        .await?;
    for t in &body.tags {
        project_tag::ActiveModel {
            project_id: Set(id.clone()),
            name: Set(t.clone()),
        }
        .insert(&*txn)
        .await?;
    }
    txn.commit().await?;
    Ok(Json(tags_body(&state, &id, body.tags)))
}

async fn clear_tags(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    tag_target(&state, &c, &id, "identity:delete_project_tags").await?;
    let txn = state.db.write().await?;
    project_tag::Entity::delete_many()
        .filter(project_tag::Column::ProjectId.eq(id.as_str()))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET`/`HEAD`: 204 when the project has the tag.
async fn check_tag(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> DomainResult<StatusCode> {
    tag_target(&state, &c, &id, "identity:get_project_tag").await?;
    if tags_of(&state, &id).await?.contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(DomainError::not_found("Project tag", &tag))
    }
}

/// `PUT`: 201 with an empty body and the tag's `Location`, as Keystone; a tag already there is a repeat (400),
/// as Keystone's schema sees it.
async fn add_tag(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> DomainResult<Response> {
    tag_target(&state, &c, &id, "identity:create_project_tag").await?;
    check_tag_name("tag", &tag)?;
    let mut tags = tags_of(&state, &id).await?;
    tags.push(tag.clone());
    check_tags(&tags)?;
    let txn = state.db.write().await?;
    let insert = project_tag::ActiveModel {
        project_id: Set(id.clone()),
        name: Set(tag.clone()),
    }
    .insert(&*txn)
    .await;
    crate::store::unique(insert, || {
        DomainError::validation(format!(
            "tags. '{tag}' appears more than once: tags must be unique"
        ))
    })?;
    txn.commit().await?;
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
) -> DomainResult<StatusCode> {
    tag_target(&state, &c, &id, "identity:delete_project_tag").await?;
    let txn = state.db.write().await?;
    let res = project_tag::Entity::delete_many()
        .filter(project_tag::Column::ProjectId.eq(id.as_str()))
        .filter(project_tag::Column::Name.eq(tag.as_str()))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    if res.rows_affected == 0 {
        return Err(DomainError::not_found("Project tag", &tag));
    }
    Ok(StatusCode::NO_CONTENT)
}
