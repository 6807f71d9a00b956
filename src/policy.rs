//! Who may do what: Keystone 30's default policies for the APIs Lintel serves, in one table.
//!
//! `admin` may do anything. `reader` with system scope may read anything. Domain-scoped `reader` may read inside
//! its domain and domain-scoped `manager` may manage users, groups, projects and ordinary grants there. The
//! `service` role may validate tokens, as keystonemiddleware's service user does. Everyone may act on themselves.

use crate::auth::Validated;
use crate::error::{DomainError, DomainResult};
use crate::token::Scope;

/// Roles a domain manager may grant (Keystone's `domain_managed_target_role`).
const MANAGER_GRANTABLE: &[&str] = &["reader", "member", "manager"];

/// What the rule is checked against.
#[derive(Debug, Default, Clone, Copy)]
pub struct Target<'a> {
    /// The target's domain.
    pub domain_id: Option<&'a str>,
    /// The target user (for self-service rules).
    pub user_id: Option<&'a str>,
    /// The target project (for project members reading their own project).
    pub project_id: Option<&'a str>,
    /// The role being granted.
    pub role_name: Option<&'a str>,
}

fn is_admin(c: &Validated) -> bool {
    c.has_role("admin")
}

fn system_reader(c: &Validated) -> bool {
    c.data.scope == Scope::System && c.has_role("reader")
}

fn domain_role(c: &Validated, role: &str, t: &Target<'_>) -> bool {
    matches!((&c.data.scope, t.domain_id), (Scope::Domain(d), Some(td)) if d == td)
        && c.has_role(role)
}

fn is_self(c: &Validated, t: &Target<'_>) -> bool {
    t.user_id.is_some_and(|u| u == c.user.id)
}

/// Check `rule` for `caller` on `target`; 403 naming the rule when it does not pass.
pub fn enforce(rule: &str, c: &Validated, t: Target<'_>) -> DomainResult<()> {
    let action = rule.strip_prefix("identity:").unwrap_or(rule);
    let reader = || is_admin(c) || system_reader(c) || domain_role(c, "reader", &t);
    let manager = || is_admin(c) || domain_role(c, "manager", &t);
    let allowed = match action {
        // Reads inside a domain.
        "get_user" | "list_user_projects" => reader() || is_self(c, &t),
        "get_project" => reader() || t.project_id.is_some_and(|p| c.project_id() == Some(p)),
        "get_domain" => {
            reader()
                || t.domain_id.is_some_and(|d| {
                    c.domain.as_ref().is_some_and(|x| x.id == d)
                        || c.project.as_ref().is_some_and(|(_, pd)| pd.id == d)
                })
        }
        "list_users"
        | "list_projects"
        | "list_groups"
        | "get_group"
        | "list_users_in_group"
        | "check_user_in_group"
        | "list_groups_for_user"
        | "list_project_tags"
        | "get_project_tag"
        | "list_role_assignments"
        | "list_grants"
        | "check_grant" => reader(),
        // Writes inside a domain.
        "create_user"
        | "update_user"
        | "delete_user"
        | "create_project"
        | "update_project"
        | "delete_project"
        | "create_group"
        | "update_group"
        | "delete_group"
        | "add_user_to_group"
        | "remove_user_from_group"
        | "create_project_tag"
        | "update_project_tags"
        | "delete_project_tag"
        | "delete_project_tags" => manager(),
        "create_grant" | "revoke_grant" => {
            is_admin(c)
                || (domain_role(c, "manager", &t)
                    && t.role_name.is_some_and(|r| MANAGER_GRANTABLE.contains(&r)))
        }
        // Roles and the catalog: read by readers and managers, written by admins.
        "list_roles"
        | "get_role"
        | "list_implied_roles"
        | "get_implied_role"
        | "list_role_inference_rules"
        | "check_implied_role" => is_admin(c) || c.has_role("reader") || c.has_role("manager"),
        "list_regions" | "get_region" => true,
        "list_services" | "get_service" | "list_endpoints" | "get_endpoint" | "list_domains" => {
            is_admin(c) || system_reader(c)
        }
        // Tokens.
        "validate_token" | "check_token" => {
            is_admin(c) || system_reader(c) || c.has_role("service") || is_self(c, &t)
        }
        "revoke_token" => is_admin(c) || c.has_role("service") || is_self(c, &t),
        // Everything else (domains, roles, implied roles, catalog writes, system grants) is for admins.
        _ => is_admin(c),
    };
    if allowed {
        Ok(())
    } else {
        Err(DomainError::forbidden_action(rule))
    }
}
