//! `/v3/users`: users, their passwords, their projects and groups.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use entity::{assignment, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder, Set,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::{check_name, list, new_id, query_bool};
use crate::error::{DomainError, DomainResult};
use crate::hashing::Secret;
use crate::http::{Caller, JsonBody, SourceAddr};
use crate::policy::{enforce, Target};
use crate::state::AppState;
use crate::token::revocation::{Event, RevKey};

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/users", get(list_users).post(create))
        .route(
            "/v3/users/{user_id}",
            get(show).patch(update).delete(remove),
        )
        .route("/v3/users/{user_id}/password", post(change_password))
        .route("/v3/users/{user_id}/projects", get(projects))
        .route("/v3/users/{user_id}/groups", get(groups))
}

/// Render a user as Keystone does, extra attributes (email, description, ...) at top level.
pub fn render(state: &AppState, u: &user::Model) -> Value {
    let mut out = match serde_json::from_str::<Value>(&u.extra) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    out.insert("id".into(), json!(u.id));
    out.insert("name".into(), json!(u.name));
    out.insert("domain_id".into(), json!(u.domain_id));
    out.insert("enabled".into(), json!(u.enabled));
    out.insert(
        "password_expires_at".into(),
        json!(u.password_expires_at.map(crate::auth::iso)),
    );
    out.insert("options".into(), json!({}));
    if let Some(p) = &u.default_project_id {
        out.insert("default_project_id".into(), json!(p));
    }
    out.insert(
        "links".into(),
        crate::api::links(state, &format!("users/{}", u.id)),
    );
    Value::Object(out)
}

/// Fetch a user or 404.
pub async fn load(state: &AppState, id: &str) -> DomainResult<user::Model> {
    user::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| DomainError::not_found("User", id))
}

#[derive(Deserialize)]
struct UserFilters {
    name: Option<String>,
    domain_id: Option<String>,
    enabled: Option<String>,
}

async fn list_users(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<UserFilters>,
) -> DomainResult<Json<Value>> {
    enforce(
        "identity:list_users",
        &c,
        Target {
            domain_id: f.domain_id.as_deref().or(Some(&c.user_domain.id)),
            ..Default::default()
        },
    )?;
    let mut q = user::Entity::find().order_by_asc(user::Column::Name);
    if let Some(n) = &f.name {
        q = q.filter(user::Column::Name.eq(n.as_str()));
    }
    if let Some(d) = &f.domain_id {
        q = q.filter(user::Column::DomainId.eq(d.as_str()));
    }
    if let Some(e) = &f.enabled {
        q = q.filter(user::Column::Enabled.eq(query_bool("enabled", e)?));
    }
    let items = q
        .all(&state.db.conn)
        .await?
        .iter()
        .map(|u| render(&state, u))
        .collect();
    Ok(Json(list(&state, "users", "users", items)))
}

async fn show(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<Value>> {
    let u = crate::api::existing(load(&state, &id).await)?;
    let domain = u.as_ref().ok().map(|u| u.domain_id.clone());
    enforce(
        "identity:get_user",
        &c,
        Target {
            domain_id: domain.as_deref(),
            user_id: Some(&id),
            ..Default::default()
        },
    )?;
    Ok(Json(json!({"user": render(&state, &u?)})))
}

/// Fields of a user body; anything else is kept as an extra attribute.
#[derive(Deserialize)]
struct UserBody {
    name: Option<String>,
    domain_id: Option<String>,
    enabled: Option<bool>,
    password: Option<Option<Secret>>,
    default_project_id: Option<Option<String>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct UserWrapper {
    user: UserBody,
}

fn merge_extra(old: &str, new: Map<String, Value>) -> DomainResult<String> {
    let mut m = match serde_json::from_str::<Value>(old) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for (k, v) in new {
        if matches!(
            k.as_str(),
            "id" | "links" | "password_expires_at" | "options"
        ) {
            continue;
        }
        m.insert(k, v);
    }
    serde_json::to_string(&m).map_err(DomainError::internal)
}

async fn create(
    State(state): State<AppState>,
    Caller(c): Caller,
    JsonBody(body): JsonBody<UserWrapper>,
) -> DomainResult<(StatusCode, Json<Value>)> {
    let b = body.user;
    let name = b
        .name
        .ok_or_else(|| DomainError::validation("user. 'name' is a required property"))?;
    check_name(&name, crate::api::NAME_MAX)?;
    let domain_id = b.domain_id.unwrap_or_else(|| c.user_domain.id.clone());
    enforce(
        "identity:create_user",
        &c,
        Target {
            domain_id: Some(&domain_id),
            ..Default::default()
        },
    )?;
    crate::api::domains::load(&state, &domain_id).await?;
    let hash = match b.password.flatten() {
        Some(p) => Some(state.hasher.hash(&p).await?),
        None => None,
    };
    let row = user::ActiveModel {
        id: Set(new_id()),
        name: Set(name.clone()),
        domain_id: Set(domain_id),
        enabled: Set(b.enabled.unwrap_or(true)),
        password_hash: Set(hash),
        default_project_id: Set(b.default_project_id.flatten()),
        extra: Set(merge_extra("{}", b.extra)?),
        password_expires_at: Set(None),
        failed_auth_count: Set(0),
        last_failed_auth_at: Set(None),
        created_at: Set(state.clock.now()),
    };
    let txn = state.db.write().await?;
    let created = crate::store::unique(row.insert(&*txn).await, || {
        DomainError::duplicate("user", "name", &name)
    })?;
    txn.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": render(&state, &created)})),
    ))
}

async fn update(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UserWrapper>,
) -> DomainResult<Json<Value>> {
    let u = load(&state, &id).await?;
    enforce(
        "identity:update_user",
        &c,
        Target {
            domain_id: Some(&u.domain_id),
            ..Default::default()
        },
    )?;
    let b = body.user;
    if b.domain_id.as_ref().is_some_and(|d| *d != u.domain_id) {
        return Err(DomainError::Invalid(
            "Cannot change the domain_id of a user.".into(),
        ));
    }
    let mut events = Vec::new();
    let mut row: user::ActiveModel = u.clone().into();
    if let Some(n) = b.name {
        check_name(&n, crate::api::NAME_MAX)?;
        row.name = Set(n);
    }
    if let Some(e) = b.enabled {
        if !e && u.enabled {
            events.push(Event::now(&state.clock, RevKey::User(id.clone())));
        }
        row.enabled = Set(e);
    }
    if let Some(p) = b.password {
        let hash = match p {
            Some(p) => Some(state.hasher.hash(&p).await?),
            None => None,
        };
        row.password_hash = Set(hash);
        row.failed_auth_count = Set(0);
        events.push(Event::now(&state.clock, RevKey::User(id.clone())));
    }
    if let Some(p) = b.default_project_id {
        row.default_project_id = Set(p);
    }
    row.extra = Set(merge_extra(&u.extra, b.extra)?);
    let txn = state.db.write().await?;
    let updated = crate::store::unique(row.update(&*txn).await, || {
        DomainError::duplicate("user", "name", &u.name)
    })?;
    for e in &events {
        e.save(&*txn).await?;
    }
    txn.commit().await?;
    state.view.forget_user(&id);
    state.revoked(&events);
    Ok(Json(json!({"user": render(&state, &updated)})))
}

/// Delete a user with its grants, recording a revocation event, in one transaction.
pub async fn delete_user(state: &AppState, u: user::Model) -> DomainResult<()> {
    let event = Event::now(&state.clock, RevKey::User(u.id.clone()));
    let txn = state.db.write().await?;
    assignment::Entity::delete_many()
        .filter(assignment::Column::ActorId.eq(u.id.as_str()))
        .filter(assignment::Column::Kind.is_in(["UserProject", "UserDomain", "UserSystem"]))
        .exec(&*txn)
        .await?;
    event.save(&*txn).await?;
    let id = u.id.clone();
    u.delete(&*txn).await?;
    txn.commit().await?;
    state.view.forget_user(&id);
    state.revoked(&[event]);
    Ok(())
}

async fn remove(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    let u = load(&state, &id).await?;
    enforce(
        "identity:delete_user",
        &c,
        Target {
            domain_id: Some(&u.domain_id),
            ..Default::default()
        },
    )?;
    delete_user(&state, u).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct PasswordChange {
    original_password: Secret,
    password: Secret,
}

#[derive(Deserialize)]
struct PasswordWrapper {
    user: PasswordChange,
}

/// A user changes their own password. As in Keystone, the original password is the proof and no token is
/// needed (so a user whose password expired can still change it); wrong originals count towards lockout and
/// throttling exactly as failed logins do.
async fn change_password(
    State(state): State<AppState>,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PasswordWrapper>,
) -> DomainResult<Response> {
    crate::api::check_len("user_id", &id, 64)?;
    let proof = crate::auth::PasswordUser {
        id: Some(id.clone()),
        name: None,
        domain: None,
        password: Some(body.user.original_password),
    };
    let u = match crate::auth::check_password(&state, &proof, source, true).await {
        Ok(u) => u,
        Err(e) => {
            let mut resp = e.into_response();
            resp.extensions_mut().insert(crate::http::AuthSubject(id));
            return Ok(resp);
        }
    };
    let hash = state.hasher.hash(&body.user.password).await?;
    let event = Event::now(&state.clock, RevKey::User(id.clone()));
    let txn = state.db.write().await?;
    let mut row: user::ActiveModel = u.into();
    row.password_hash = Set(Some(hash));
    row.failed_auth_count = Set(0);
    row.update(&*txn).await?;
    event.save(&*txn).await?;
    txn.commit().await?;
    state.view.forget_user(&id);
    state.revoked(&[event]);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn projects(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<Value>> {
    let u = crate::api::existing(load(&state, &id).await)?;
    let domain = u.as_ref().ok().map(|u| u.domain_id.clone());
    enforce(
        "identity:list_user_projects",
        &c,
        Target {
            domain_id: domain.as_deref(),
            user_id: Some(&id),
            ..Default::default()
        },
    )?;
    let u = u?;
    let ids = crate::assignment::projects_of(&state.db.conn, &u.id).await?;
    let items = crate::api::projects::load_many(&state, ids)
        .await?
        .iter()
        .map(|p| crate::api::projects::render(&state, p, &[]))
        .collect();
    Ok(Json(list(
        &state,
        "projects",
        &format!("users/{id}/projects"),
        items,
    )))
}

async fn groups(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<crate::api::groups::GroupsResponse>> {
    let u = crate::api::existing(load(&state, &id).await)?;
    let domain = u.as_ref().ok().map(|u| u.domain_id.clone());
    enforce(
        "identity:list_groups_for_user",
        &c,
        Target {
            domain_id: domain.as_deref(),
            user_id: Some(&id),
            ..Default::default()
        },
    )
    .or_else(|e| if id == c.user.id { Ok(()) } else { Err(e) })?;
    let u = u?;
    let groups = crate::store::groups::of_user(&state.db, &u.id).await?;
    Ok(Json(crate::api::groups::GroupsResponse::of(
        &state,
        &format!("users/{id}/groups"),
        groups,
    )))
}
