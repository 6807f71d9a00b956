//! `/v3/domains`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use entity::{assignment, domain, group, project, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
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
        .route("/v3/domains", get(list_domains).post(create))
        .route(
            "/v3/domains/{domain_id}",
            get(show).patch(update).delete(remove),
        )
}

/// Render a domain.
pub fn render(state: &AppState, d: &domain::Model) -> Value {
    json!({
        "id": d.id, "name": d.name, "description": d.description.clone().unwrap_or_default(), "enabled": d.enabled,
        "tags": [], "options": {}, "links": crate::api::links(state, &format!("domains/{}", d.id)),
    })
}

/// Render a domain in project form (for `GET /v3/projects?is_domain=true`).
pub fn render_as_project(state: &AppState, d: &domain::Model) -> Value {
    json!({
        "id": d.id, "name": d.name, "description": d.description.clone().unwrap_or_default(), "enabled": d.enabled,
        "domain_id": null, "parent_id": null, "is_domain": true, "tags": [], "options": {},
        "links": crate::api::links(state, &format!("projects/{}", d.id)),
    })
}

/// Fetch a domain or 404.
pub async fn load(state: &AppState, id: &str) -> DomainResult<domain::Model> {
    find(state, id)
        .await?
        .ok_or_else(|| DomainError::not_found("Domain", id))
}

/// Fetch a domain, if there is one with this id.
pub async fn find(state: &AppState, id: &str) -> DomainResult<Option<domain::Model>> {
    Ok(domain::Entity::find_by_id(id).one(&state.db.conn).await?)
}

/// Domains matching optional name and enabled filters.
pub async fn list_filtered(
    state: &AppState,
    name: Option<&str>,
    enabled: Option<&str>,
) -> DomainResult<Vec<domain::Model>> {
    let mut q = domain::Entity::find().order_by_asc(domain::Column::Name);
    if let Some(n) = name {
        q = q.filter(domain::Column::Name.eq(n));
    }
    if let Some(e) = enabled {
        q = q.filter(domain::Column::Enabled.eq(query_bool("enabled", e)?));
    }
    Ok(q.all(&state.db.conn).await?)
}

#[derive(Deserialize)]
struct DomainFilters {
    name: Option<String>,
    enabled: Option<String>,
}

async fn list_domains(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<DomainFilters>,
) -> DomainResult<Json<Value>> {
    let rows = list_filtered(&state, f.name.as_deref(), f.enabled.as_deref()).await?;
    // Non-admins see the domains they may read (their own), as Keystone filters the list.
    let allowed = enforce("identity:list_domains", &c, Target::default()).is_ok();
    let items = rows
        .iter()
        .filter(|d| {
            allowed
                || enforce(
                    "identity:get_domain",
                    &c,
                    Target {
                        domain_id: Some(&d.id),
                        ..Default::default()
                    },
                )
                .is_ok()
        })
        .map(|d| render(&state, d))
        .collect();
    Ok(Json(list(&state, "domains", "domains", items)))
}

async fn show(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<Value>> {
    enforce(
        "identity:get_domain",
        &c,
        Target {
            domain_id: Some(&id),
            ..Default::default()
        },
    )?;
    Ok(Json(
        json!({"domain": render(&state, &load(&state, &id).await?)}),
    ))
}

#[derive(Deserialize)]
struct DomainBody {
    name: Option<String>,
    description: Option<Option<String>>,
    enabled: Option<bool>,
    #[serde(default, rename = "options")]
    _options: Option<Value>,
    #[serde(default, rename = "tags")]
    _tags: Option<Value>,
}

#[derive(Deserialize)]
struct DomainWrapper {
    domain: DomainBody,
}

async fn create(
    State(state): State<AppState>,
    Caller(c): Caller,
    JsonBody(body): JsonBody<DomainWrapper>,
) -> DomainResult<(StatusCode, Json<Value>)> {
    let b = body.domain;
    let created = create_domain(&state, &c, b.name, b.description.flatten(), b.enabled).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"domain": render(&state, &created)})),
    ))
}

/// Create a domain (also reached as `POST /v3/projects` with `is_domain`).
pub(crate) async fn create_domain(
    state: &AppState,
    c: &crate::auth::Validated,
    name: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
) -> DomainResult<domain::Model> {
    enforce("identity:create_domain", c, Target::default())?;
    let name =
        name.ok_or_else(|| DomainError::validation("domain. 'name' is a required property"))?;
    check_name(&name, crate::api::PROJECT_NAME_MAX)?;
    crate::api::check_description(
        description.as_deref(),
        Some(crate::api::SHORT_DESCRIPTION_MAX),
    )?;
    let row = domain::ActiveModel {
        id: Set(new_id()),
        name: Set(name.clone()),
        description: Set(description),
        enabled: Set(enabled.unwrap_or(true)),
        created_at: Set(state.clock.now()),
    };
    let txn = state.db.write().await?;
    let created = crate::store::unique(row.insert(&*txn).await, || {
        DomainError::duplicate("domain", "name", &name)
    })?;
    txn.commit().await?;
    Ok(created)
}

async fn update(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<DomainWrapper>,
) -> DomainResult<Json<Value>> {
    let b = body.domain;
    let updated = update_domain(&state, &c, &id, b.name, b.description, b.enabled).await?;
    Ok(Json(json!({"domain": render(&state, &updated)})))
}

/// Update a domain (also reached as `PATCH /v3/projects/{id}` for a project acting as a domain).
pub(crate) async fn update_domain(
    state: &AppState,
    c: &crate::auth::Validated,
    id: &str,
    name: Option<String>,
    description: Option<Option<String>>,
    enabled: Option<bool>,
) -> DomainResult<domain::Model> {
    enforce(
        "identity:update_domain",
        c,
        Target {
            domain_id: Some(id),
            ..Default::default()
        },
    )?;
    let d = load(state, id).await?;
    let mut events = Vec::new();
    let mut row: domain::ActiveModel = d.clone().into();
    if let Some(n) = name {
        check_name(&n, crate::api::PROJECT_NAME_MAX)?;
        row.name = Set(n);
    }
    if let Some(desc) = description {
        crate::api::check_description(desc.as_deref(), Some(crate::api::SHORT_DESCRIPTION_MAX))?;
        row.description = Set(desc);
    }
    if let Some(e) = enabled {
        if !e && d.enabled {
            events.push(Event::now(&state.clock, RevKey::Domain(id.to_string())));
        }
        row.enabled = Set(e);
    }
    let txn = state.db.write().await?;
    let updated = crate::store::unique(row.update(&*txn).await, || {
        DomainError::duplicate("domain", "name", &d.name)
    })?;
    for e in &events {
        e.save(&*txn).await?;
    }
    txn.commit().await?;
    state.view.forget_domain(id);
    state.revoked(&events);
    Ok(updated)
}

async fn remove(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    delete_domain(&state, &c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a disabled domain with its grants (also reached as `DELETE /v3/projects/{id}`).
pub(crate) async fn delete_domain(
    state: &AppState,
    c: &crate::auth::Validated,
    id: &str,
) -> DomainResult<()> {
    enforce(
        "identity:delete_domain",
        c,
        Target {
            domain_id: Some(id),
            ..Default::default()
        },
    )?;
    let d = load(state, id).await?;
    if d.enabled {
        return Err(DomainError::Forbidden(
            "Cannot delete a domain that is enabled, please disable it first.".into(),
        ));
    }
    let db = &state.db.conn;
    let ids = |rows: Vec<String>| rows;
    let users: Vec<String> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::DomainId.eq(id))
        .into_tuple()
        .all(db)
        .await?;
    let groups: Vec<String> = group::Entity::find()
        .select_only()
        .column(group::Column::Id)
        .filter(group::Column::DomainId.eq(id))
        .into_tuple()
        .all(db)
        .await?;
    let projects: Vec<String> = project::Entity::find()
        .select_only()
        .column(project::Column::Id)
        .filter(project::Column::DomainId.eq(id))
        .into_tuple()
        .all(db)
        .await?;
    let mut actors = ids(users);
    actors.extend(groups);
    let mut targets = ids(projects);
    targets.push(id.to_string());
    let event = Event::now(&state.clock, RevKey::Domain(id.to_string()));
    let txn = state.db.write().await?;
    // Grants name users, groups, projects and domains without foreign keys: remove them explicitly.
    assignment::Entity::delete_many()
        .filter(assignment::Column::ActorId.is_in(actors))
        .exec(&*txn)
        .await?;
    assignment::Entity::delete_many()
        .filter(assignment::Column::TargetId.is_in(targets))
        .exec(&*txn)
        .await?;
    event.save(&*txn).await?;
    d.delete(&*txn).await?;
    txn.commit().await?;
    state.view.forget_domain(id);
    state.revoked(&[event]);
    Ok(())
}
