//! Roles, implied roles, role grants and effective roles, as Keystone computes them.

pub mod grants;
pub mod roles;

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::model::{Domain, Project};

use crate::context::Context;
use crate::error::DomainResult;
use crate::store::{assignments, Reader};

pub use crate::model::grant::{Target, SYSTEM_TARGET};

/// Expand role ids with everything they imply, transitively (cycles are harmless).
pub fn expand(
    roles: impl IntoIterator<Item = String>,
    rules: &HashMap<String, Vec<String>>,
) -> Vec<String> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<String> = roles.into_iter().collect();
    while let Some(r) = stack.pop() {
        if let Some(next) = rules.get(&r) {
            stack.extend(next.iter().filter(|n| !seen.contains(*n)).cloned());
        }
        seen.insert(r);
    }
    seen.into_iter().collect()
}

/// The effective role ids of a user on a target: grants, group grants and implied roles.
pub async fn effective_roles<R: Reader>(
    db: &R,
    user_id: &str,
    target: &Target,
) -> DomainResult<Vec<String>> {
    let direct = assignments::direct_roles(db, user_id, target).await?;
    if direct.is_empty() {
        return Ok(direct);
    }
    let rules = assignments::implications(db).await?;
    assignments::strip_domain_roles(db, expand(direct, &rules)).await
}

/// Expand role ids with everything they imply, by the stored implication rules.
pub async fn with_implied(cx: &Context, roles: Vec<String>) -> DomainResult<Vec<String>> {
    Ok(expand(roles, &assignments::implications(&cx.db).await?))
}

/// The enabled projects on which a user has any role (`GET /v3/auth/projects`).
pub async fn projects_of(
    cx: &Context,
    user_id: &str,
) -> DomainResult<std::sync::Arc<Vec<Project>>> {
    let load = || async {
        let ids = assignments::projects_of(&cx.db, user_id).await?;
        let mut projects = crate::resource::projects::by_ids(cx, ids).await?;
        projects.retain(|p| p.enabled);
        Ok(projects)
    };
    cx.view.projects_of(user_id, load).await
}

/// The enabled domains on which a user has a role (`GET /v3/auth/domains`): two queries, however many domains
/// there are (any user may ask).
pub async fn domains_of(cx: &Context, user_id: &str) -> DomainResult<Vec<Domain>> {
    let held: HashSet<String> = assignments::domains_of(&cx.db, user_id)
        .await?
        .into_iter()
        .collect();
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let mut items = crate::resource::domains::search(cx, None, Some(true)).await?;
    items.retain(|d| held.contains(&d.id));
    Ok(items)
}

/// Whether a user has any role on the system (`GET /v3/auth/system`).
pub async fn has_system_role(cx: &Context, user_id: &str) -> DomainResult<bool> {
    Ok(!assignments::direct_roles(&cx.db, user_id, &Target::System)
        .await?
        .is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_follows_chains_and_survives_cycles() {
        let mut rules = HashMap::new();
        rules.insert("admin".to_string(), vec!["manager".to_string()]);
        rules.insert("manager".to_string(), vec!["member".to_string()]);
        rules.insert(
            "member".to_string(),
            vec!["reader".to_string(), "admin".to_string()],
        );
        let got = expand(vec!["manager".to_string()], &rules);
        assert_eq!(got, vec!["admin", "manager", "member", "reader"]);
        assert_eq!(expand(vec!["reader".to_string()], &rules), vec!["reader"]);
    }
}
