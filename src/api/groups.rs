//! `/v3/groups` and group membership.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use entity::{assignment, group, user, user_group_membership};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder, Set,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{check_name, list, new_id};
use crate::error::{DomainError, DomainResult};
use crate::http::{Caller, JsonBody};
use crate::policy::{enforce, Target};
use crate::state::AppState;
use crate::token::revocation::{Event, RevKey};

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/groups", get(list_groups).post(create))
        .route(
            "/v3/groups/{group_id}",
            get(show).patch(update).delete(remove),
        )
        .route("/v3/groups/{group_id}/users", get(members))
        .route(
            "/v3/groups/{group_id}/users/{user_id}",
            put(add_member)
                .head(check_member)
                .get(check_member)
                .delete(remove_member),
        )
}

/// Render a group.
pub fn render(state: &AppState, g: &group::Model) -> Value {
    json!({
        "id": g.id, "name": g.name, "domain_id": g.domain_id, "description": g.description.clone().unwrap_or_default(),
        "links": crate::api::links(state, &format!("groups/{}", g.id)),
    })
}

/// Fetch a group or 404.
pub async fn load(state: &AppState, id: &str) -> DomainResult<group::Model> {
    group::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| DomainError::not_found("Group", id))
}

#[derive(Deserialize)]
struct GroupFilters {
    name: Option<String>,
    domain_id: Option<String>,
}

async fn list_groups(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<GroupFilters>,
) -> DomainResult<Json<Value>> {
    enforce(
        "identity:list_groups",
        &c,
        Target {
            domain_id: f.domain_id.as_deref().or(Some(&c.user_domain.id)),
            ..Default::default()
        },
    )?;
    let mut q = group::Entity::find().order_by_asc(group::Column::Name);
    if let Some(n) = &f.name {
        q = q.filter(group::Column::Name.eq(n.as_str()));
    }
    if let Some(d) = &f.domain_id {
        q = q.filter(group::Column::DomainId.eq(d.as_str()));
    }
    let items = q
        .all(&state.db.conn)
        .await?
        .iter()
        .map(|g| render(&state, g))
        .collect();
    Ok(Json(list(&state, "groups", "groups", items)))
}

async fn show(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<Value>> {
    let g = crate::api::existing(load(&state, &id).await)?;
    let domain = g.as_ref().ok().map(|g| g.domain_id.clone());
    enforce(
        "identity:get_group",
        &c,
        Target {
            domain_id: domain.as_deref(),
            ..Default::default()
        },
    )?;
    Ok(Json(json!({"group": render(&state, &g?)})))
}

#[derive(Deserialize)]
struct GroupBody {
    name: Option<String>,
    domain_id: Option<String>,
    description: Option<Option<String>>,
}

#[derive(Deserialize)]
struct GroupWrapper {
    group: GroupBody,
}

async fn create(
    State(state): State<AppState>,
    Caller(c): Caller,
    JsonBody(body): JsonBody<GroupWrapper>,
) -> DomainResult<(StatusCode, Json<Value>)> {
    let b = body.group;
    let name = b
        .name
        .ok_or_else(|| DomainError::validation("group. 'name' is a required property"))?;
    check_name(&name, crate::api::GROUP_NAME_MAX)?;
    crate::api::check_description(b.description.as_ref().and_then(Option::as_deref), None)?;
    let domain_id = b.domain_id.unwrap_or_else(|| c.user_domain.id.clone());
    enforce(
        "identity:create_group",
        &c,
        Target {
            domain_id: Some(&domain_id),
            ..Default::default()
        },
    )?;
    crate::api::domains::load(&state, &domain_id).await?;
    let row = group::ActiveModel {
        id: Set(new_id()),
        name: Set(name.clone()),
        domain_id: Set(domain_id),
        description: Set(b.description.flatten()),
        created_at: Set(state.clock.now()),
    };
    let txn = state.db.write().await?;
    let created = crate::store::unique(row.insert(&*txn).await, || {
        DomainError::duplicate("group", "name", &name)
    })?;
    txn.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"group": render(&state, &created)})),
    ))
}

async fn update(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<GroupWrapper>,
) -> DomainResult<Json<Value>> {
    let g = load(&state, &id).await?;
    enforce(
        "identity:update_group",
        &c,
        Target {
            domain_id: Some(&g.domain_id),
            ..Default::default()
        },
    )?;
    let b = body.group;
    if b.domain_id.as_ref().is_some_and(|d| *d != g.domain_id) {
        return Err(DomainError::Invalid(
            "Cannot change the domain_id of a group.".into(),
        ));
    }
    let mut row: group::ActiveModel = g.clone().into();
    if let Some(n) = b.name {
        check_name(&n, crate::api::GROUP_NAME_MAX)?;
        row.name = Set(n);
    }
    if let Some(d) = b.description {
        crate::api::check_description(d.as_deref(), None)?;
        row.description = Set(d);
    }
    let txn = state.db.write().await?;
    let updated = crate::store::unique(row.update(&*txn).await, || {
        DomainError::duplicate("group", "name", &g.name)
    })?;
    txn.commit().await?;
    Ok(Json(json!({"group": render(&state, &updated)})))
}

async fn remove(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    let g = load(&state, &id).await?;
    enforce(
        "identity:delete_group",
        &c,
        Target {
            domain_id: Some(&g.domain_id),
            ..Default::default()
        },
    )?;
    // Members are read in the write transaction, so one added while this runs is not missed.
    let txn = state.db.write().await?;
    let members = crate::assignment::affected_users(&*txn, &id, true).await?;
    let events: Vec<Event> = members
        .into_iter()
        .map(|u| Event::now(&state.clock, RevKey::User(u)))
        .collect();
    assignment::Entity::delete_many()
        .filter(assignment::Column::ActorId.eq(id.as_str()))
        .filter(assignment::Column::Kind.is_in(["GroupProject", "GroupDomain", "GroupSystem"]))
        .exec(&*txn)
        .await?;
    for e in &events {
        e.save(&*txn).await?;
    }
    g.delete(&*txn).await?;
    txn.commit().await?;
    state.revoked(&events);
    Ok(StatusCode::NO_CONTENT)
}

async fn members(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<Value>> {
    let g = load(&state, &id).await?;
    enforce(
        "identity:list_users_in_group",
        &c,
        Target {
            domain_id: Some(&g.domain_id),
            ..Default::default()
        },
    )?;
    let ids = crate::assignment::affected_users(&state.db.conn, &id, true).await?;
    let users = user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .order_by_asc(user::Column::Name)
        .all(&state.db.conn)
        .await?;
    let items = users
        .iter()
        .map(|u| crate::api::users::render(&state, u))
        .collect();
    Ok(Json(list(
        &state,
        "users",
        &format!("groups/{id}/users"),
        items,
    )))
}

async fn membership_target(
    state: &AppState,
    c: &crate::auth::Validated,
    gid: &str,
    uid: &str,
    rule: &str,
) -> DomainResult<()> {
    let g = load(state, gid).await?;
    enforce(
        rule,
        c,
        Target {
            domain_id: Some(&g.domain_id),
            ..Default::default()
        },
    )?;
    crate::api::users::load(state, uid).await?;
    Ok(())
}

async fn add_member(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((gid, uid)): Path<(String, String)>,
) -> DomainResult<StatusCode> {
    membership_target(&state, &c, &gid, &uid, "identity:add_user_to_group").await?;
    let txn = state.db.write().await?;
    let row = user_group_membership::ActiveModel {
        user_id: Set(uid),
        group_id: Set(gid),
    };
    crate::store::insert_unless_present(txn, row).await?;
    state.view.forget_authorizations();
    Ok(StatusCode::NO_CONTENT)
}

async fn check_member(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((gid, uid)): Path<(String, String)>,
) -> DomainResult<StatusCode> {
    membership_target(&state, &c, &gid, &uid, "identity:check_user_in_group").await?;
    let found = user_group_membership::Entity::find_by_id((uid.clone(), gid.clone()))
        .one(&state.db.conn)
        .await?;
    match found {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(DomainError::NotFound(format!(
            "User '{uid}' not found in group '{gid}'"
        ))),
    }
}

async fn remove_member(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((gid, uid)): Path<(String, String)>,
) -> DomainResult<StatusCode> {
    membership_target(&state, &c, &gid, &uid, "identity:remove_user_from_group").await?;
    let found = user_group_membership::Entity::find_by_id((uid.clone(), gid.clone()))
        .one(&state.db.conn)
        .await?;
    let Some(row) = found else {
        return Err(DomainError::NotFound(format!(
            "User '{uid}' not found in group '{gid}'"
        )));
    };
    let event = Event::now(&state.clock, RevKey::User(uid));
    let txn = state.db.write().await?;
    row.delete(&*txn).await?;
    event.save(&*txn).await?;
    txn.commit().await?;
    state.revoked(&[event]);
    Ok(StatusCode::NO_CONTENT)
}
