//! `/v3/roles`, implied roles (`/v3/roles/{prior}/implies/{implied}`) and `/v3/role_inferences`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use entity::{implied_role, role};
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

fn options(r: &role::Model) -> Value {
    serde_json::from_str(&r.options).unwrap_or_else(|_| json!({}))
}

/// Render a role.
pub fn render(state: &AppState, r: &role::Model) -> Value {
    json!({
        "id": r.id, "name": r.name, "domain_id": r.domain_id, "description": r.description,
        "options": options(r), "links": crate::api::links(state, &format!("roles/{}", r.id)),
    })
}

fn brief(state: &AppState, r: &role::Model) -> Value {
    json!({"id": r.id, "name": r.name, "links": crate::api::links(state, &format!("roles/{}", r.id))})
}

/// Fetch a role or 404.
pub async fn load(state: &AppState, id: &str) -> DomainResult<role::Model> {
    role::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| DomainError::not_found("Role", id))
}

#[derive(Deserialize)]
struct RoleFilters {
    name: Option<String>,
    domain_id: Option<String>,
}

async fn list_roles(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<RoleFilters>,
) -> DomainResult<Json<Value>> {
    enforce(
        "identity:list_roles",
        &c,
        Target {
            domain_id: f.domain_id.as_deref(),
            ..Default::default()
        },
    )?;
    let mut q = role::Entity::find().order_by_asc(role::Column::Name);
    if let Some(n) = &f.name {
        q = q.filter(role::Column::Name.eq(n.as_str()));
    }
    q = match &f.domain_id {
        Some(d) => q.filter(role::Column::DomainId.eq(d.as_str())),
        None => q.filter(role::Column::DomainId.is_null()),
    };
    let items = q
        .all(&state.db.conn)
        .await?
        .iter()
        .map(|r| render(&state, r))
        .collect();
    Ok(Json(list(&state, "roles", "roles", items)))
}

async fn show(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<Value>> {
    enforce("identity:get_role", &c, Target::default())?;
    Ok(Json(
        json!({"role": render(&state, &load(&state, &id).await?)}),
    ))
}

#[derive(Deserialize)]
struct RoleBody {
    name: Option<String>,
    domain_id: Option<Option<String>>,
    description: Option<Option<String>>,
    options: Option<serde_json::Map<String, Value>>,
}

#[derive(Deserialize)]
struct RoleWrapper {
    role: RoleBody,
}

async fn name_taken(
    state: &AppState,
    name: &str,
    domain: Option<&str>,
    except: Option<&str>,
) -> DomainResult<bool> {
    let found = crate::assignment::role_by_name(&state.db.conn, name, domain).await?;
    Ok(found.is_some_and(|r| Some(r.id.as_str()) != except))
}

async fn create(
    State(state): State<AppState>,
    Caller(c): Caller,
    JsonBody(body): JsonBody<RoleWrapper>,
) -> DomainResult<(StatusCode, Json<Value>)> {
    enforce("identity:create_role", &c, Target::default())?;
    let b = body.role;
    let name = b
        .name
        .ok_or_else(|| DomainError::validation("role. 'name' is a required property"))?;
    check_name(&name, crate::api::NAME_MAX)?;
    crate::api::check_description(
        b.description.as_ref().and_then(Option::as_deref),
        Some(crate::api::SHORT_DESCRIPTION_MAX),
    )?;
    let domain_id = b.domain_id.flatten();
    if let Some(d) = &domain_id {
        crate::api::domains::load(&state, d).await?;
    }
    let txn = state.db.write().await?;
    if name_taken(&state, &name, domain_id.as_deref(), None).await? {
        return Err(DomainError::duplicate("role", "name", &name));
    }
    let row = role::ActiveModel {
        id: Set(new_id()),
        name: Set(name.clone()),
        domain_id: Set(domain_id),
        description: Set(b.description.flatten()),
        options: Set(
            serde_json::to_string(&b.options.unwrap_or_default()).map_err(DomainError::internal)?
        ),
        created_at: Set(state.clock.now()),
    };
    let created = crate::store::unique(row.insert(&*txn).await, || {
        DomainError::duplicate("role", "name", &name)
    })?;
    txn.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"role": render(&state, &created)})),
    ))
}

fn immutable(r: &role::Model) -> bool {
    options(r).get("immutable").and_then(Value::as_bool) == Some(true)
}

async fn update(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RoleWrapper>,
) -> DomainResult<Json<Value>> {
    enforce("identity:update_role", &c, Target::default())?;
    let r = load(&state, &id).await?;
    let b = body.role;
    let new_options = b.options.clone();
    let unlocking = new_options
        .as_ref()
        .is_some_and(|o| o.get("immutable").and_then(Value::as_bool) == Some(false));
    if immutable(&r) && !unlocking {
        return Err(DomainError::Forbidden(format!(
            "Role {} is immutable and cannot be changed.",
            r.id
        )));
    }
    let mut row: role::ActiveModel = r.clone().into();
    if let Some(n) = b.name {
        check_name(&n, crate::api::NAME_MAX)?;
        if name_taken(&state, &n, r.domain_id.as_deref(), Some(&id)).await? {
            return Err(DomainError::duplicate("role", "name", &n));
        }
        row.name = Set(n);
    }
    if let Some(d) = b.description {
        crate::api::check_description(d.as_deref(), Some(crate::api::SHORT_DESCRIPTION_MAX))?;
        row.description = Set(d);
    }
    if let Some(o) = new_options {
        row.options = Set(serde_json::to_string(&o).map_err(DomainError::internal)?);
    }
    let txn = state.db.write().await?;
    let updated = row.update(&*txn).await?;
    txn.commit().await?;
    state.view.forget_role(&id);
    Ok(Json(json!({"role": render(&state, &updated)})))
}

async fn remove(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    enforce("identity:delete_role", &c, Target::default())?;
    let r = load(&state, &id).await?;
    if immutable(&r) {
        return Err(DomainError::Forbidden(format!(
            "Role {} is immutable and cannot be deleted.",
            r.id
        )));
    }
    let event = Event::now(&state.clock, RevKey::Role(id.clone()));
    let txn = state.db.write().await?;
    // Every application credential carrying the role goes too, as in Keystone; grants and implication rules
    // follow by foreign-key cascade.
    let creds = crate::credential::carrying_role(&*txn, &id).await?;
    let mut events = vec![event];
    for c in &creds {
        entity::application_credential::Entity::delete_by_id(c.as_str())
            .exec(&*txn)
            .await?;
        events.push(crate::credential::revocation_event(&state.clock, c));
    }
    for e in &events {
        e.save(&*txn).await?;
    }
    r.delete(&*txn).await?;
    txn.commit().await?;
    state.view.forget_role(&id);
    for c in &creds {
        state.secrets.forget(c);
    }
    state.revoked(&events);
    Ok(StatusCode::NO_CONTENT)
}

async fn list_implied(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<Value>> {
    enforce("identity:list_implied_roles", &c, Target::default())?;
    let prior = load(&state, &id).await?;
    let rows = implied_role::Entity::find()
        .filter(implied_role::Column::PriorRoleId.eq(id.as_str()))
        .all(&state.db.conn)
        .await?;
    let ids: Vec<String> = rows.into_iter().map(|r| r.implied_role_id).collect();
    let implied = role::Entity::find()
        .filter(role::Column::Id.is_in(ids))
        .all(&state.db.conn)
        .await?;
    Ok(Json(json!({
        "role_inference": {"prior_role": brief(&state, &prior), "implies": implied.iter().map(|r| brief(&state, r)).collect::<Vec<_>>()},
        "links": crate::api::links(&state, &format!("roles/{id}/implies")),
    })))
}

async fn pair(
    state: &AppState,
    prior: &str,
    implied: &str,
) -> DomainResult<(role::Model, role::Model)> {
    Ok((load(state, prior).await?, load(state, implied).await?))
}

fn inference(state: &AppState, p: &role::Model, i: &role::Model) -> Value {
    json!({
        "role_inference": {"prior_role": brief(state, p), "implies": brief(state, i)},
        "links": crate::api::links(state, &format!("roles/{}/implies/{}", p.id, i.id)),
    })
}

async fn add_implied(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((prior, implied)): Path<(String, String)>,
) -> DomainResult<(StatusCode, Json<Value>)> {
    enforce("identity:create_implied_role", &c, Target::default())?;
    let (p, i) = pair(&state, &prior, &implied).await?;
    if prior == implied {
        return Err(DomainError::Invalid("A role cannot imply itself.".into()));
    }
    // Keystone's rules: nothing implies a prohibited role ([assignment] prohibited_implied_role, default admin),
    // and a global role never implies a domain-specific one (a domain's role would leak into every domain).
    if i.name == "admin" || (p.domain_id.is_none() && i.domain_id.is_some()) {
        return Err(DomainError::Forbidden(format!(
            "{implied} cannot be an implied roles."
        )));
    }
    let txn = state.db.write().await?;
    let row = implied_role::ActiveModel {
        prior_role_id: Set(prior),
        implied_role_id: Set(implied),
    };
    crate::store::unique(row.insert(&*txn).await, || {
        DomainError::Conflict(
            "Conflict occurred attempting to store implied_role - Duplicate entry.".into(),
        )
    })?;
    txn.commit().await?;
    state.view.forget_authorizations();
    Ok((StatusCode::CREATED, Json(inference(&state, &p, &i))))
}

async fn get_implied(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((prior, implied)): Path<(String, String)>,
) -> DomainResult<Json<Value>> {
    enforce("identity:get_implied_role", &c, Target::default())?;
    let (p, i) = pair(&state, &prior, &implied).await?;
    implied_role::Entity::find_by_id((prior.clone(), implied.clone()))
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("{prior} does not imply {implied}.")))?;
    Ok(Json(inference(&state, &p, &i)))
}

/// `HEAD`: 204 when the rule exists (Keystone answers the check call without a body).
async fn check_implied(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((prior, implied)): Path<(String, String)>,
) -> DomainResult<StatusCode> {
    enforce("identity:check_implied_role", &c, Target::default())?;
    pair(&state, &prior, &implied).await?;
    implied_role::Entity::find_by_id((prior.clone(), implied.clone()))
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("{prior} does not imply {implied}.")))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_implied(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((prior, implied)): Path<(String, String)>,
) -> DomainResult<StatusCode> {
    enforce("identity:delete_implied_role", &c, Target::default())?;
    let row = implied_role::Entity::find_by_id((prior.clone(), implied.clone()))
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("{prior} does not imply {implied}.")))?;
    // Tokens whose roles came through this rule carry the implied role: revoke those.
    let event = Event::now(&state.clock, RevKey::Role(implied));
    let txn = state.db.write().await?;
    row.delete(&*txn).await?;
    event.save(&*txn).await?;
    txn.commit().await?;
    state.revoked(&[event]);
    Ok(StatusCode::NO_CONTENT)
}

async fn inferences(State(state): State<AppState>, Caller(c): Caller) -> DomainResult<Json<Value>> {
    enforce("identity:list_role_inference_rules", &c, Target::default())?;
    let rules = implied_role::Entity::find().all(&state.db.conn).await?;
    let roles = role::Entity::find().all(&state.db.conn).await?;
    let by_id = |id: &str| roles.iter().find(|r| r.id == id);
    let mut out: Vec<Value> = Vec::new();
    let mut priors: Vec<&str> = rules.iter().map(|r| r.prior_role_id.as_str()).collect();
    priors.sort();
    priors.dedup();
    for p in priors {
        let Some(prior) = by_id(p) else { continue };
        let implies: Vec<Value> = rules
            .iter()
            .filter(|r| r.prior_role_id == p)
            .filter_map(|r| by_id(&r.implied_role_id))
            .map(|r| brief(&state, r))
            .collect();
        out.push(json!({"prior_role": brief(&state, prior), "implies": implies}));
    }
    Ok(Json(
        json!({"role_inferences": out, "links": crate::api::links(&state, "role_inferences")}),
    ))
}
