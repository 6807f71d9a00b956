//! Role grants on projects, domains and the system (`/v3/{projects|domains}/{id}/{users|groups}/{id}/roles`,
//! `/v3/system/{users|groups}/{id}/roles`) and `GET /v3/role_assignments`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use entity::{assignment, role};
use sea_orm::{ColumnTrait, EntityTrait, ModelTrait, QueryFilter, Set};
use serde_json::{json, Value};

use crate::assignment::Target as Grant;
use crate::auth::Validated;
use crate::error::{DomainError, DomainResult};
use crate::http::Caller;
use crate::policy::{enforce, Target};
use crate::state::AppState;
use crate::token::revocation::{Event, RevKey};

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    let mut r = Router::new();
    for target in ["projects", "domains"] {
        for actor in ["users", "groups"] {
            r = r
                .route(
                    &format!("/v3/{target}/{{target_id}}/{actor}/{{actor_id}}/roles"),
                    get(list_grants),
                )
                .route(
                    &format!("/v3/{target}/{{target_id}}/{actor}/{{actor_id}}/roles/{{role_id}}"),
                    put(create_grant)
                        .head(check_grant)
                        .get(check_grant)
                        .delete(revoke_grant),
                );
        }
    }
    for actor in ["users", "groups"] {
        r = r
            .route(
                &format!("/v3/system/{actor}/{{actor_id}}/roles"),
                get(list_system_grants),
            )
            .route(
                &format!("/v3/system/{actor}/{{actor_id}}/roles/{{role_id}}"),
                put(create_system_grant)
                    .head(check_system_grant)
                    .get(check_system_grant)
                    .delete(revoke_system_grant),
            );
    }
    r.route("/v3/role_assignments", get(role_assignments))
}

/// A grant addressed by URL.
struct Addressed {
    grant: Grant,
    group: bool,
    actor_id: String,
    domain_id: Option<String>,
}

/// Resolve the target and actor of a grant URL, 404 when either is missing.
async fn address(
    state: &AppState,
    uri: &axum::http::Uri,
    target_id: Option<String>,
    actor_id: String,
) -> DomainResult<Addressed> {
    let path = uri.path();
    let group = path.contains("/groups/");
    let (grant, domain_id) = match target_id {
        None => (Grant::System, None),
        Some(t) if path.starts_with("/v3/projects/") => {
            let p = crate::resource::projects::load(state, &t).await?;
            (Grant::Project(t), Some(p.domain_id))
        }
        Some(t) => {
            crate::resource::domains::load(state, &t).await?;
            (Grant::Domain(t.clone()), Some(t))
        }
    };
    if group {
        crate::identity::groups::load(state, &actor_id).await?;
    } else {
        crate::identity::users::load(state, &actor_id).await?;
    }
    Ok(Addressed {
        grant,
        group,
        actor_id,
        domain_id,
    })
}

fn allowed(c: &Validated, rule: &str, a: &Addressed, role: Option<&str>) -> DomainResult<()> {
    enforce(
        rule,
        c,
        Target {
            domain_id: a.domain_id.as_deref(),
            role_name: role,
            ..Default::default()
        },
    )
}

fn grant_filter(a: &Addressed) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(assignment::Column::Kind.eq(a.grant.kind(a.group)))
        .add(assignment::Column::ActorId.eq(a.actor_id.as_str()))
        .add(assignment::Column::TargetId.eq(a.grant.id()))
        .add(assignment::Column::Inherited.eq(false))
}

async fn list_for(
    state: &AppState,
    c: &Validated,
    a: Addressed,
    path: &str,
) -> DomainResult<Json<crate::api::roles::RolesResponse>> {
    allowed(c, "identity:list_grants", &a, None)?;
    let rows = assignment::Entity::find()
        .filter(grant_filter(&a))
        .all(&state.db.conn)
        .await?;
    let ids: Vec<String> = rows.into_iter().map(|r| r.role_id).collect();
    let roles = crate::store::roles::by_ids(&state.db, ids).await?;
    Ok(Json(crate::api::roles::RolesResponse::of(
        state,
        path.trim_start_matches("/v3/"),
        &roles,
    )))
}

async fn create_for(
    state: &AppState,
    c: &Validated,
    a: Addressed,
    role_id: &str,
) -> DomainResult<StatusCode> {
    let r = crate::assignment::roles::load(state, role_id).await?;
    allowed(c, "identity:create_grant", &a, Some(&r.name))?;
    // A domain-specific role is granted only within its domain (Keystone's rule).
    if let (Some(role_domain), Some(target_domain)) = (&r.domain_id, &a.domain_id) {
        if role_domain != target_domain {
            let what = match &a.grant {
                Grant::Project(p) => format!("Project {p}"),
                other => format!("Domain {}", other.id()),
            };
            return Err(DomainError::Forbidden(format!(
                "{what} must be in the same domain as the role {} being assigned.",
                r.id
            )));
        }
    }
    let row = assignment::ActiveModel {
        kind: Set(a.grant.kind(a.group).to_string()),
        actor_id: Set(a.actor_id.clone()),
        target_id: Set(a.grant.id().to_string()),
        role_id: Set(r.id),
        inherited: Set(false),
    };
    let txn = state.db.write().await?;
    crate::store::insert_unless_present(txn, row).await?;
    state.view.forget_authorizations();
    Ok(StatusCode::NO_CONTENT)
}

async fn check_for(
    state: &AppState,
    c: &Validated,
    a: Addressed,
    role_id: &str,
) -> DomainResult<StatusCode> {
    let r = crate::assignment::roles::load(state, role_id).await?;
    allowed(c, "identity:check_grant", &a, Some(&r.name))?;
    let found = assignment::Entity::find()
        .filter(grant_filter(&a))
        .filter(assignment::Column::RoleId.eq(role_id))
        .one(&state.db.conn)
        .await?;
    match found {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(DomainError::NotFound(format!(
            "Could not find role assignment with role: {role_id}, actor: {}, target: {}.",
            a.actor_id,
            a.grant.id()
        ))),
    }
}

async fn revoke_for(
    state: &AppState,
    c: &Validated,
    a: Addressed,
    role_id: &str,
) -> DomainResult<StatusCode> {
    let r = crate::assignment::roles::load(state, role_id).await?;
    allowed(c, "identity:revoke_grant", &a, Some(&r.name))?;
    let found = assignment::Entity::find()
        .filter(grant_filter(&a))
        .filter(assignment::Column::RoleId.eq(role_id))
        .one(&state.db.conn)
        .await?;
    let Some(row) = found else {
        return Err(DomainError::NotFound(format!(
            "Could not find role assignment with role: {role_id}, actor: {}, target: {}.",
            a.actor_id,
            a.grant.id()
        )));
    };
    // No token may keep showing the role: revoke the affected users' tokens on that target. The members are
    // read in the write transaction, so a member added while this runs is not missed.
    let txn = state.db.write().await?;
    let users = crate::assignment::affected_users(&*txn, &a.actor_id, a.group).await?;
    let events: Vec<Event> = users
        .into_iter()
        .map(|u| match &a.grant {
            Grant::Project(p) => Event::now(&state.clock, RevKey::UserProject(u, p.clone())),
            Grant::Domain(_) | Grant::System => Event::now(&state.clock, RevKey::User(u)),
        })
        .collect();
    row.delete(&*txn).await?;
    for e in &events {
        e.save(&*txn).await?;
    }
    txn.commit().await?;
    state.revoked(&events);
    Ok(StatusCode::NO_CONTENT)
}

async fn list_grants(
    State(s): State<AppState>,
    Caller(c): Caller,
    uri: axum::http::Uri,
    Path((t, a)): Path<(String, String)>,
) -> DomainResult<Json<crate::api::roles::RolesResponse>> {
    let addr = address(&s, &uri, Some(t), a).await?;
    list_for(&s, &c, addr, uri.path()).await
}

async fn create_grant(
    State(s): State<AppState>,
    Caller(c): Caller,
    uri: axum::http::Uri,
    Path((t, a, r)): Path<(String, String, String)>,
) -> DomainResult<StatusCode> {
    let addr = address(&s, &uri, Some(t), a).await?;
    create_for(&s, &c, addr, &r).await
}

async fn check_grant(
    State(s): State<AppState>,
    Caller(c): Caller,
    uri: axum::http::Uri,
    Path((t, a, r)): Path<(String, String, String)>,
) -> DomainResult<StatusCode> {
    let addr = address(&s, &uri, Some(t), a).await?;
    check_for(&s, &c, addr, &r).await
}

async fn revoke_grant(
    State(s): State<AppState>,
    Caller(c): Caller,
    uri: axum::http::Uri,
    Path((t, a, r)): Path<(String, String, String)>,
) -> DomainResult<StatusCode> {
    let addr = address(&s, &uri, Some(t), a).await?;
    revoke_for(&s, &c, addr, &r).await
}

async fn list_system_grants(
    State(s): State<AppState>,
    Caller(c): Caller,
    uri: axum::http::Uri,
    Path(a): Path<String>,
) -> DomainResult<Json<crate::api::roles::RolesResponse>> {
    let addr = address(&s, &uri, None, a).await?;
    list_for(&s, &c, addr, uri.path()).await
}

async fn create_system_grant(
    State(s): State<AppState>,
    Caller(c): Caller,
    uri: axum::http::Uri,
    Path((a, r)): Path<(String, String)>,
) -> DomainResult<StatusCode> {
    let addr = address(&s, &uri, None, a).await?;
    create_for(&s, &c, addr, &r).await
}

async fn check_system_grant(
    State(s): State<AppState>,
    Caller(c): Caller,
    uri: axum::http::Uri,
    Path((a, r)): Path<(String, String)>,
) -> DomainResult<StatusCode> {
    let addr = address(&s, &uri, None, a).await?;
    check_for(&s, &c, addr, &r).await
}

async fn revoke_system_grant(
    State(s): State<AppState>,
    Caller(c): Caller,
    uri: axum::http::Uri,
    Path((a, r)): Path<(String, String)>,
) -> DomainResult<StatusCode> {
    let addr = address(&s, &uri, None, a).await?;
    revoke_for(&s, &c, addr, &r).await
}

/// One row of the role-assignment listing.
struct Row {
    role_id: String,
    user: Option<String>,
    group: Option<String>,
    kind: &'static str,
    target: String,
    link: String,
}

fn scope_kind(kind: &str) -> &'static str {
    match kind {
        "UserProject" | "GroupProject" => "project",
        "UserDomain" | "GroupDomain" => "domain",
        _ => "system",
    }
}

async fn role_assignments(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> DomainResult<Json<Value>> {
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let effective = get("effective")
        .map(|v| crate::api::query_bool("effective", v))
        .transpose()?
        .unwrap_or(q.contains_key("effective"));
    let names = get("include_names")
        .map(|v| crate::api::query_bool("include_names", v))
        .transpose()?
        .unwrap_or(q.contains_key("include_names"));
    let scope_domain = match (get("scope.project.id"), get("scope.domain.id")) {
        (Some(p), _) => crate::api::existing(crate::resource::projects::load(&state, p).await)?
            .ok()
            .map(|p| p.domain_id),
        (None, Some(d)) => Some(d.to_string()),
        _ => None,
    };
    enforce(
        "identity:list_role_assignments",
        &c,
        Target {
            domain_id: scope_domain.as_deref().or(Some(&c.user_domain.id)),
            ..Default::default()
        },
    )?;
    let db = &state.db.conn;
    let mut query = assignment::Entity::find().filter(assignment::Column::Inherited.eq(false));
    if let Some(p) = get("scope.project.id") {
        query = query
            .filter(assignment::Column::TargetId.eq(p))
            .filter(assignment::Column::Kind.is_in(["UserProject", "GroupProject"]));
    }
    if let Some(d) = get("scope.domain.id") {
        query = query
            .filter(assignment::Column::TargetId.eq(d))
            .filter(assignment::Column::Kind.is_in(["UserDomain", "GroupDomain"]));
    }
    if q.contains_key("scope.system") {
        query = query.filter(assignment::Column::Kind.is_in(["UserSystem", "GroupSystem"]));
    }
    if let Some(g) = get("group.id") {
        query = query
            .filter(assignment::Column::ActorId.eq(g))
            .filter(assignment::Column::Kind.starts_with("Group"));
    }
    let user_filter = get("user.id");
    if let (Some(u), false) = (user_filter, effective) {
        query = query
            .filter(assignment::Column::ActorId.eq(u))
            .filter(assignment::Column::Kind.starts_with("User"));
    }
    let v3 = state.config.v3_url();
    let mut rows = Vec::new();
    let rules = if effective {
        Some(crate::assignment::implications(db).await?)
    } else {
        None
    };
    for a in query.all(db).await? {
        let kind = scope_kind(&a.kind);
        let plural = if kind == "system" {
            String::new()
        } else {
            format!("{kind}s/")
        };
        let group = a.kind.starts_with("Group");
        let actor_path = if group { "groups" } else { "users" };
        let target_path = if kind == "system" {
            "system".to_string()
        } else {
            format!("{plural}{}", a.target_id)
        };
        let link = format!(
            "{v3}/{target_path}/{actor_path}/{}/roles/{}",
            a.actor_id, a.role_id
        );
        let users = if effective && group {
            crate::assignment::affected_users(db, &a.actor_id, true).await?
        } else {
            vec![]
        };
        let roles = match &rules {
            Some(r) => crate::assignment::expand(vec![a.role_id.clone()], r),
            None => vec![a.role_id.clone()],
        };
        for role_id in roles {
            if effective && group {
                for u in &users {
                    rows.push(Row {
                        role_id: role_id.clone(),
                        user: Some(u.clone()),
                        group: None,
                        kind,
                        target: a.target_id.clone(),
                        link: link.clone(),
                    });
                }
            } else {
                let (user, grp) = if group {
                    (None, Some(a.actor_id.clone()))
                } else {
                    (Some(a.actor_id.clone()), None)
                };
                rows.push(Row {
                    role_id: role_id.clone(),
                    user,
                    group: grp,
                    kind,
                    target: a.target_id.clone(),
                    link: link.clone(),
                });
            }
        }
    }
    if effective {
        let mut ids: Vec<String> = rows.iter().map(|r| r.role_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let global = crate::assignment::strip_domain_roles(db, ids).await?;
        rows.retain(|r| global.binary_search(&r.role_id).is_ok());
    }
    if let Some(u) = user_filter {
        rows.retain(|r| r.user.as_deref() == Some(u));
    }
    if let Some(r) = get("role.id") {
        rows.retain(|row| row.role_id == r);
    }
    let mut seen = std::collections::HashSet::new();
    rows.retain(|r| {
        seen.insert((
            r.role_id.clone(),
            r.user.clone(),
            r.group.clone(),
            r.kind,
            r.target.clone(),
        ))
    });
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        items.push(render_row(&state, r, names).await?);
    }
    Ok(Json(crate::api::list(
        &state,
        "role_assignments",
        "role_assignments",
        items,
    )))
}

async fn domain_ref(state: &AppState, id: &str) -> DomainResult<Value> {
    let name = state
        .view
        .domain(&state.db, id)
        .await?
        .map(|d| d.name.clone());
    Ok(json!({"id": id, "name": name}))
}

async fn render_row(state: &AppState, r: Row, names: bool) -> DomainResult<Value> {
    let db = &state.db;
    let mut out = json!({"links": {"assignment": r.link}});
    let mut role = json!({"id": r.role_id});
    if names {
        if let Some(m) = role::Entity::find_by_id(r.role_id.as_str())
            .one(&db.conn)
            .await?
        {
            role["name"] = json!(m.name);
            if let Some(d) = m.domain_id {
                role["domain"] = domain_ref(state, &d).await?;
            }
        }
    }
    out["role"] = role;
    if let Some(u) = r.user {
        let mut v = json!({"id": u});
        if names {
            if let Some(m) = state.view.user(db, &u).await? {
                v["name"] = json!(m.name);
                v["domain"] = domain_ref(state, &m.domain_id).await?;
            }
        }
        out["user"] = v;
    }
    if let Some(g) = r.group {
        let mut v = json!({"id": g});
        if names {
            if let Some(m) = entity::group::Entity::find_by_id(g.as_str())
                .one(&db.conn)
                .await?
            {
                v["name"] = json!(m.name);
                v["domain"] = domain_ref(state, &m.domain_id).await?;
            }
        }
        out["group"] = v;
    }
    out["scope"] = match r.kind {
        "project" => {
            let mut v = json!({"id": r.target});
            if names {
                if let Some(p) = state.view.project(db, &r.target).await? {
                    v["name"] = json!(p.name);
                    v["domain"] = domain_ref(state, &p.domain_id).await?;
                }
            }
            json!({"project": v})
        }
        "domain" => {
            let mut v = json!({"id": r.target});
            if names {
                if let Some(d) = state.view.domain(db, &r.target).await? {
                    v["name"] = json!(d.name);
                }
            }
            json!({"domain": v})
        }
        _ => json!({"system": {"all": true}}),
    };
    Ok(out)
}
