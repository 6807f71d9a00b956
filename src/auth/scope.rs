//! The scope a token is asked for, resolved to a project, a domain or the system, and the roles the user holds
//! there.

use crate::model::{Project, User};

use super::password::{resolve_domain, AUTH_FAILED};
use super::request::*;
use crate::assignment::{self, Target};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::store;
use crate::token::Scope;

/// Resolve the requested scope to a target (None: unscoped).
pub(crate) async fn resolve_scope(
    cx: &Context,
    scope: &Option<serde_json::Value>,
    user: &User,
) -> DomainResult<Option<Target>> {
    let Some(value) = scope else {
        // Keystone scopes to the default project when none is asked for and the user has roles there.
        if let Some(p) = &user.default_project_id {
            let t = Target::Project(p.clone());
            if !assignment::effective_roles(&cx.db, &user.id, &t)
                .await?
                .is_empty()
            {
                return Ok(Some(t));
            }
        }
        return Ok(None);
    };
    if value.as_str() == Some("unscoped") {
        return Ok(None);
    }
    let req: ScopeRequest = serde_json::from_value(value.clone())
        .map_err(|e| DomainError::validation(format!("scope. {e}")))?;
    match (req.project, req.domain, req.system) {
        (Some(p), None, None) => {
            let found = if let Some(id) = &p.id {
                store::find::<Project>(&cx.db, id).await?
            } else if let (Some(name), Some(d)) = (&p.name, &p.domain) {
                let d = resolve_domain(cx, d).await?;
                store::projects::by_name(&cx.db, &d.id, name).await?
            } else {
                return Err(DomainError::Invalid(
                    "Expecting to find project id, or name and domain, in scope.".into(),
                ));
            };
            let p = found.ok_or_else(|| DomainError::unauthorized_msg(AUTH_FAILED))?;
            if !p.enabled {
                return Err(DomainError::unauthorized_msg(format!(
                    "Project {} is disabled.",
                    p.id
                )));
            }
            Ok(Some(Target::Project(p.id)))
        }
        (None, Some(d), None) => {
            let d = resolve_domain(cx, &d).await?;
            if !d.enabled {
                return Err(DomainError::unauthorized_msg(format!(
                    "Domain {} is disabled.",
                    d.id
                )));
            }
            Ok(Some(Target::Domain(d.id)))
        }
        (None, None, Some(s))
            if s.get("all").and_then(serde_json::Value::as_bool) == Some(true) =>
        {
            Ok(Some(Target::System))
        }
        _ => Err(DomainError::Invalid(
            "Specify exactly one of project, domain or system in scope.".into(),
        )),
    }
}

/// Roles on a target, or 401 as Keystone answers a scope the user has no role on.
pub(crate) async fn scoped_roles(
    cx: &Context,
    user: &User,
    target: &Option<Target>,
) -> DomainResult<Vec<String>> {
    let Some(t) = target else {
        return Ok(Vec::new());
    };
    let roles = assignment::effective_roles(&cx.db, &user.id, t).await?;
    if roles.is_empty() {
        let what = match t {
            Target::Project(p) => format!("User {} has no access to project {}", user.id, p),
            Target::Domain(d) => format!("User {} has no access to domain {}", user.id, d),
            Target::System => format!("User {} has no access to the system", user.id),
        };
        return Err(DomainError::unauthorized_msg(what));
    }
    Ok(roles)
}

pub(crate) fn scope_of(target: Option<Target>) -> Scope {
    match target {
        None => Scope::Unscoped,
        Some(Target::Project(p)) => Scope::Project(p),
        Some(Target::Domain(d)) => Scope::Domain(d),
        Some(Target::System) => Scope::System,
    }
}

/// What a token's scope grants roles on (the inverse of [`scope_of`]).
pub(crate) fn target_of(scope: &Scope) -> Option<Target> {
    match scope {
        Scope::Unscoped => None,
        Scope::Project(p) => Some(Target::Project(p.clone())),
        Scope::Domain(d) => Some(Target::Domain(d.clone())),
        Scope::System => Some(Target::System),
    }
}
