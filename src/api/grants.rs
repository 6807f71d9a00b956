//! Role grants on projects, domains and the system (`/v3/{projects|domains}/{id}/{users|groups}/{id}/roles`,
//! `/v3/system/{users|groups}/{id}/roles`) and `GET /v3/role_assignments`: HTTP in, one `assignment::grants`
//! call, a typed response out.

use crate::error::DomainResult;
use crate::metrics::route_label;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::roles::RolesResponse;
use crate::api::ListLinks;
use crate::assignment::grants::{
    self, Addressed, Assignment, AssignmentFilters, AssignmentQuery, GrantOp, On, Scope,
};
use crate::http::error::ApiResult;
use crate::http::routes::{op, Routes};
use crate::http::{Caller, SourceAddr};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Routes {
    let mut r = Routes::new();
    for (target, actor, list_summary, one_summary) in [
        (
            "projects",
            "users",
            "List a user's roles on a project",
            "a user's role on a project",
        ),
        (
            "projects",
            "groups",
            "List a group's roles on a project",
            "a group's role on a project",
        ),
        (
            "domains",
            "users",
            "List a user's roles on a domain",
            "a user's role on a domain",
        ),
        (
            "domains",
            "groups",
            "List a group's roles on a domain",
            "a group's role on a domain",
        ),
    ] {
        // Templates live as long as the router (interned once, as every route label).
        let list = route_label(&format!(
            "/v3/{target}/{{target_id}}/{actor}/{{actor_id}}/roles"
        ));
        let one = route_label(&format!("{list}/{{role_id}}"));
        r = r
            .get(
                list,
                list_grants,
                op(list_summary).ok::<RolesResponse>(200, "The roles"),
            )
            .put(
                one,
                create_grant,
                op(format!("Grant {one_summary}")).empty(204, "Granted"),
            )
            .head(
                one,
                check_grant,
                op(format!("Check {one_summary}")).empty(204, "Granted"),
            )
            .get(
                one,
                check_grant,
                op(format!("Check {one_summary}")).empty(204, "Granted"),
            )
            .delete(
                one,
                revoke_grant,
                op(format!("Revoke {one_summary}")).empty(204, "Revoked"),
            );
    }
    for actor in ["users", "groups"] {
        let list = route_label(&format!("/v3/system/{actor}/{{actor_id}}/roles"));
        let one = route_label(&format!("{list}/{{role_id}}"));
        r = r
            .get(
                list,
                list_system_grants,
                op("List system roles").ok::<RolesResponse>(200, "The roles"),
            )
            .put(
                one,
                create_system_grant,
                op("Grant a system role").empty(204, "Granted"),
            )
            .head(
                one,
                check_system_grant,
                op("Check a system role").empty(204, "Granted"),
            )
            .get(
                one,
                check_system_grant,
                op("Check a system role").empty(204, "Granted"),
            )
            .delete(
                one,
                revoke_system_grant,
                op("Revoke a system role").empty(204, "Revoked"),
            );
    }
    r.get(
        "/v3/role_assignments",
        role_assignments,
        op("List role assignments")
            .query::<AssignmentParams>()
            .ok::<AssignmentsResponse>(200, "The assignments"),
    )
}

/// The grant a URL names (the route tells project, domain or system, and user or group).
async fn address(
    state: &AppState,
    uri: &Uri,
    target_id: Option<String>,
    actor_id: String,
) -> DomainResult<Addressed> {
    let path = uri.path();
    let on = if target_id.is_none() {
        On::System
    } else if path.starts_with("/v3/projects/") {
        On::Project
    } else {
        On::Domain
    };
    grants::address(state, on, target_id, path.contains("/groups/"), actor_id).await
}

async fn list_of(
    state: &AppState,
    c: &crate::token::Validated,
    uri: &Uri,
    target_id: Option<String>,
    actor_id: String,
) -> DomainResult<Json<RolesResponse>> {
    let a = address(state, uri, target_id, actor_id).await?;
    let roles = grants::list(state, c, &a).await?;
    let path = uri.path().trim_start_matches("/v3/");
    Ok(Json(RolesResponse::of(state, path, &roles)))
}

async fn one(
    state: &AppState,
    c: &crate::token::Validated,
    uri: &Uri,
    (target_id, actor_id, role_id): (Option<String>, String, String),
    op: GrantOp,
    source: Option<std::net::IpAddr>,
) -> DomainResult<StatusCode> {
    let a = address(state, uri, target_id, actor_id.clone()).await?;
    grants::grant(state, c, &c.initiator(source), &a, &role_id, op).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_grants(
    State(s): State<AppState>,
    Caller(c): Caller,
    uri: Uri,
    Path((t, a)): Path<(String, String)>,
) -> ApiResult<Json<RolesResponse>> {
    Ok(list_of(&s, &c, &uri, Some(t), a).await?)
}

async fn create_grant(
    State(s): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    uri: Uri,
    Path((t, a, r)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    Ok(one(&s, &c, &uri, (Some(t), a, r), GrantOp::Create, source).await?)
}

async fn check_grant(
    State(s): State<AppState>,
    Caller(c): Caller,
    uri: Uri,
    Path((t, a, r)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    Ok(one(&s, &c, &uri, (Some(t), a, r), GrantOp::Check, None).await?)
}

async fn revoke_grant(
    State(s): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    uri: Uri,
    Path((t, a, r)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    Ok(one(&s, &c, &uri, (Some(t), a, r), GrantOp::Revoke, source).await?)
}

async fn list_system_grants(
    State(s): State<AppState>,
    Caller(c): Caller,
    uri: Uri,
    Path(a): Path<String>,
) -> ApiResult<Json<RolesResponse>> {
    Ok(list_of(&s, &c, &uri, None, a).await?)
}

async fn create_system_grant(
    State(s): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    uri: Uri,
    Path((a, r)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    Ok(one(&s, &c, &uri, (None, a, r), GrantOp::Create, source).await?)
}

async fn check_system_grant(
    State(s): State<AppState>,
    Caller(c): Caller,
    uri: Uri,
    Path((a, r)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    Ok(one(&s, &c, &uri, (None, a, r), GrantOp::Check, None).await?)
}

async fn revoke_system_grant(
    State(s): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    uri: Uri,
    Path((a, r)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    Ok(one(&s, &c, &uri, (None, a, r), GrantOp::Revoke, source).await?)
}

/// A domain named in an assignment: its id and (null when it is gone) its name.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainRef {
    /// Domain id.
    pub id: String,
    /// Domain name.
    pub name: Option<String>,
}

/// A role, user, group, project or domain in an assignment: its id, and with `include_names` its name and domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct Named {
    /// Id.
    pub id: String,
    /// Name (with `include_names`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Owning domain (with `include_names`, where there is one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainRef>,
}

/// `{"all": true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AllOfIt {
    /// Always true.
    pub all: bool,
}

/// Where an assignment applies, as Keystone writes it (`{"project": {...}}`, ...).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScopeView {
    /// A project.
    Project(Named),
    /// A domain.
    Domain(Named),
    /// The system.
    System(AllOfIt),
}

/// The grant an assignment comes from.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentLinks {
    /// Its URL.
    pub assignment: String,
}

/// One role assignment as Keystone shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentView {
    /// The grant's URL.
    pub links: AssignmentLinks,
    /// The role.
    pub role: Named,
    /// The user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Named>,
    /// The group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<Named>,
    /// Where it applies.
    pub scope: ScopeView,
}

/// `{"role_assignments": [...], "links": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentsResponse {
    /// The assignments.
    pub role_assignments: Vec<AssignmentView>,
    /// Keystone's list links.
    pub links: ListLinks,
}

/// Query filters of `GET /v3/role_assignments`, named as Keystone names them.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssignmentParams {
    /// Only assignments on this project.
    #[serde(rename = "scope.project.id")]
    #[param(rename = "scope.project.id")]
    pub project_id: Option<String>,
    /// Only assignments on this domain.
    #[serde(rename = "scope.domain.id")]
    #[param(rename = "scope.domain.id")]
    pub domain_id: Option<String>,
    /// Only system assignments (present: yes).
    #[serde(rename = "scope.system")]
    #[param(rename = "scope.system")]
    pub system: Option<String>,
    /// Only this group's.
    #[serde(rename = "group.id")]
    #[param(rename = "group.id")]
    pub group_id: Option<String>,
    /// Only this user's.
    #[serde(rename = "user.id")]
    #[param(rename = "user.id")]
    pub user_id: Option<String>,
    /// Only this role's.
    #[serde(rename = "role.id")]
    #[param(rename = "role.id")]
    pub role_id: Option<String>,
    /// Expand group memberships and implied roles (present without a value: yes).
    pub effective: Option<String>,
    /// Add names (present without a value: yes).
    pub include_names: Option<String>,
}

/// A Keystone boolean query flag: absent is false, present without a value is true.
fn flag(v: Option<&str>, name: &str) -> DomainResult<bool> {
    match v {
        None => Ok(false),
        Some("") => Ok(true),
        Some(v) => crate::api::query_bool(name, v),
    }
}

async fn role_assignments(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(q): Query<AssignmentParams>,
) -> ApiResult<Json<AssignmentsResponse>> {
    fn get(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|v| !v.is_empty())
    }
    let filters = AssignmentFilters {
        grants: AssignmentQuery {
            project_id: get(&q.project_id),
            domain_id: get(&q.domain_id),
            system: q.system.is_some(),
            group_id: get(&q.group_id),
            user_id: get(&q.user_id),
        },
        role_id: get(&q.role_id),
        effective: flag(q.effective.as_deref(), "effective")?,
    };
    let names = flag(q.include_names.as_deref(), "include_names")?;
    let rows = grants::assignments(&state, &c, &filters).await?;
    let mut role_assignments = Vec::with_capacity(rows.len());
    let mut lookups = grants::Names::new(&state, names);
    for r in rows {
        role_assignments.push(view(&state, r, &mut lookups).await?);
    }
    Ok(Json(AssignmentsResponse {
        role_assignments,
        links: ListLinks::to(&state, "role_assignments"),
    }))
}

async fn domain_ref(state: &AppState, id: &str) -> DomainResult<DomainRef> {
    let name = state
        .view
        .domain(&state.db, id)
        .await?
        .map(|d| d.name.clone());
    Ok(DomainRef {
        id: id.to_string(),
        name,
    })
}

/// An id, with its name and domain when `names` asks and it still exists.
async fn named(
    state: &AppState,
    id: String,
    found: Option<(String, Option<String>)>,
) -> DomainResult<Named> {
    let (name, domain) = match found {
        Some((name, Some(d))) => (Some(name), Some(domain_ref(state, &d).await?)),
        Some((name, None)) => (Some(name), None),
        None => (None, None),
    };
    Ok(Named { id, name, domain })
}

async fn view(
    state: &AppState,
    r: Assignment,
    lookups: &mut grants::Names<'_>,
) -> DomainResult<AssignmentView> {
    let db = &state.db;
    let names = lookups.wanted();
    let role = lookups.role(&r.role_id).await?;
    let role = named(state, r.role_id, role).await?;
    let user = match r.user {
        Some(u) => {
            let found = lookups.user(&u).await?;
            Some(named(state, u, found).await?)
        }
        None => None,
    };
    let group = match r.group {
        Some(g) => {
            let found = lookups.group(&g).await?;
            Some(named(state, g, found).await?)
        }
        None => None,
    };
    let scope = match r.scope {
        Scope::Project => {
            let found = lookups.project(&r.target).await?;
            ScopeView::Project(named(state, r.target, found).await?)
        }
        Scope::Domain => {
            let name = if names {
                state
                    .view
                    .domain(db, &r.target)
                    .await?
                    .map(|d| d.name.clone())
            } else {
                None
            };
            ScopeView::Domain(Named {
                id: r.target,
                name,
                domain: None,
            })
        }
        Scope::System => ScopeView::System(AllOfIt { all: true }),
    };
    Ok(AssignmentView {
        links: AssignmentLinks {
            assignment: format!("{}/{}", state.config.v3_url(), r.path),
        },
        role,
        user,
        group,
        scope,
    })
}
