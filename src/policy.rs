//! Who may do what: Keystone 30's default policies for the APIs Lintel serves, in one table.
//!
//! `admin` may do anything. `reader` with system scope may read anything. Domain-scoped `reader` may read inside
//! its domain and domain-scoped `manager` may manage users, groups, projects and ordinary grants there. The
//! `service` role may validate tokens, as keystonemiddleware's service user does. Everyone may act on themselves,
//! and a user's application credentials and access rules are their own.
//!
//! Every action is a variant of [`Action`], and [`allows`] matches them all without a catch-all: a new action does
//! not compile until it has a rule, and a misspelt one does not compile at all.

use crate::error::{DomainError, DomainResult};
use crate::token::Scope;
use crate::token::Validated;

/// Roles a domain manager may grant (Keystone's `domain_managed_target_role`).
const MANAGER_GRANTABLE: &[&str] = &["reader", "member", "manager"];

/// An action Keystone's policy names (`identity:<snake_case name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
#[allow(missing_docs)] // each variant is Keystone's rule of the same name
pub enum Action {
    GetUser,
    ListUsers,
    CreateUser,
    UpdateUser,
    DeleteUser,
    ListUserProjects,
    ListGroupsForUser,
    GetGroup,
    ListGroups,
    CreateGroup,
    UpdateGroup,
    DeleteGroup,
    ListUsersInGroup,
    CheckUserInGroup,
    AddUserToGroup,
    RemoveUserFromGroup,
    GetProject,
    ListProjects,
    CreateProject,
    UpdateProject,
    DeleteProject,
    ListProjectTags,
    GetProjectTag,
    CreateProjectTag,
    UpdateProjectTags,
    DeleteProjectTag,
    DeleteProjectTags,
    GetDomain,
    ListDomains,
    CreateDomain,
    UpdateDomain,
    DeleteDomain,
    GetRole,
    ListRoles,
    CreateRole,
    UpdateRole,
    DeleteRole,
    GetImpliedRole,
    ListImpliedRoles,
    ListRoleInferenceRules,
    CheckImpliedRole,
    CreateImpliedRole,
    DeleteImpliedRole,
    ListRoleAssignments,
    ListGrants,
    CheckGrant,
    CreateGrant,
    RevokeGrant,
    GetRegion,
    ListRegions,
    CreateRegion,
    UpdateRegion,
    DeleteRegion,
    GetService,
    ListServices,
    CreateService,
    UpdateService,
    DeleteService,
    GetEndpoint,
    ListEndpoints,
    CreateEndpoint,
    UpdateEndpoint,
    DeleteEndpoint,
    ValidateToken,
    RevokeToken,
    GetApplicationCredential,
    ListApplicationCredentials,
    CreateApplicationCredential,
    DeleteApplicationCredential,
    /// A Lintel extension: a new secret under the same id (docs/service-accounts.md).
    RotateApplicationCredential,
    /// A Lintel extension: give a credential an issuance rate above `[oauth2] credential_issue_rate`.
    RaiseIssueRate,
    /// A Lintel extension: create and list a project's service accounts, and manage their credentials.
    ManageServiceAccounts,
    GetAccessRule,
    ListAccessRules,
    DeleteAccessRule,
    ListIdentityProviders,
    GetIdentityProvider,
    CreateIdentityProvider,
    UpdateIdentityProvider,
    DeleteIdentityProvider,
    ListMappings,
    GetMapping,
    CreateMapping,
    UpdateMapping,
    DeleteMapping,
    ListProtocols,
    GetProtocol,
    CreateProtocol,
    UpdateProtocol,
    DeleteProtocol,
}

/// Keystone's name of the rule (`identity:get_user`), as a 403 names it.
impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "identity:{}", <&str>::from(*self))
    }
}

/// What the rule is checked against.
#[derive(Debug, Default, Clone, Copy)]
pub struct Target<'a> {
    /// The target's domain.
    pub domain_id: Option<&'a str>,
    /// The target user (for self-service rules, and the owner of an application credential or access rule).
    pub user_id: Option<&'a str>,
    /// The target project (for project members reading their own project).
    pub project_id: Option<&'a str>,
    /// The role being granted.
    pub role_name: Option<&'a str>,
}

/// What [`allows`] reads of the caller: its scope, its role names, who it is and what it is scoped to.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The token's scope.
    pub scope: &'a Scope,
    /// Its roles.
    pub roles: Roles<'a>,
    /// Its user.
    pub user_id: &'a str,
    /// Its project, when project-scoped.
    pub project_id: Option<&'a str>,
    /// The domain it is scoped to, or its project's domain.
    pub scope_domain_id: Option<&'a str>,
}

/// A caller's roles: a validated token's, or names (the tests' personas).
#[derive(Debug, Clone, Copy)]
pub enum Roles<'a> {
    /// As a validation found them.
    Views(&'a [std::sync::Arc<crate::view::RoleView>]),
    /// By name.
    Names(&'a [&'a str]),
}

impl Caller<'_> {
    fn has(&self, role: &str) -> bool {
        match self.roles {
            Roles::Views(v) => v.iter().any(|r| r.name == role),
            Roles::Names(n) => n.contains(&role),
        }
    }
}

/// Whether Keystone's default policy lets `c` do `action` on `t`.
pub fn allows(action: Action, c: &Caller<'_>, t: &Target<'_>) -> bool {
    use Action::*;
    let admin = c.has("admin");
    let system_reader = *c.scope == Scope::System && c.has("reader");
    let domain_role = |role: &str| {
        matches!((c.scope, t.domain_id), (Scope::Domain(d), Some(td)) if d == td) && c.has(role)
    };
    let is_self = t.user_id.is_some_and(|u| u == c.user_id);
    let reader = admin || system_reader || domain_role("reader");
    let manager = admin || domain_role("manager");
    match action {
        // Reads inside a domain.
        GetUser | ListUserProjects => reader || is_self,
        GetProject => reader || t.project_id.is_some_and(|p| c.project_id == Some(p)),
        GetDomain => reader || t.domain_id.is_some_and(|d| c.scope_domain_id == Some(d)),
        ListGroupsForUser => reader || is_self,
        // Any role on the project reads its tags, as it reads the project.
        ListProjectTags | GetProjectTag => {
            reader || t.project_id.is_some_and(|p| c.project_id == Some(p))
        }
        ListUsers | ListProjects | ListGroups | GetGroup | ListUsersInGroup | CheckUserInGroup
        | ListRoleAssignments | ListGrants | CheckGrant => reader,
        // A domain reader lists only its own domain (the list filters by get_domain).
        ListDomains => reader,
        // Writes inside a domain.
        CreateUser | UpdateUser | DeleteUser | CreateProject | UpdateProject | DeleteProject
        | CreateGroup | UpdateGroup | DeleteGroup | AddUserToGroup | RemoveUserFromGroup
        | CreateProjectTag | UpdateProjectTags | DeleteProjectTag | DeleteProjectTags => manager,
        CreateGrant | RevokeGrant => {
            admin
                || (domain_role("manager")
                    && t.role_name.is_some_and(|r| MANAGER_GRANTABLE.contains(&r)))
        }
        // Roles: a manager reads the roles it may grant, and lists roles with a domain-scoped token.
        GetRole => {
            admin
                || system_reader
                || (c.has("manager") && t.role_name.is_some_and(|r| MANAGER_GRANTABLE.contains(&r)))
        }
        ListRoles => {
            admin || system_reader || (c.has("manager") && matches!(c.scope, Scope::Domain(_)))
        }
        ListImpliedRoles | GetImpliedRole | ListRoleInferenceRules | CheckImpliedRole => {
            admin || system_reader
        }
        ListRegions | GetRegion => true,
        ListServices | GetService | ListEndpoints | GetEndpoint => admin || system_reader,
        CreateRole | UpdateRole | DeleteRole | CreateImpliedRole | DeleteImpliedRole
        | CreateDomain | UpdateDomain | DeleteDomain | CreateRegion | UpdateRegion
        | DeleteRegion | CreateService | UpdateService | DeleteService | CreateEndpoint
        | UpdateEndpoint | DeleteEndpoint => admin,
        // Federation: admins write, admins and system readers read.
        ListIdentityProviders
        | GetIdentityProvider
        | ListMappings
        | GetMapping
        | ListProtocols
        | GetProtocol => admin || system_reader,
        CreateIdentityProvider
        | UpdateIdentityProvider
        | DeleteIdentityProvider
        | CreateMapping
        | UpdateMapping
        | DeleteMapping
        | CreateProtocol
        | UpdateProtocol
        | DeleteProtocol => admin,
        // Tokens: services validate; only an admin or the token's own user revokes.
        ValidateToken => admin || system_reader || c.has("service") || is_self,
        RevokeToken => admin || is_self,
        // Application credentials and access rules belong to their user (Keystone's `rule:owner`); only the
        // user creates them. Access rules have no project-scoped admin clause in Keystone: a system reader reads
        // them, a system admin deletes them.
        // Rotating is creating a secret: the same rule as creating a credential.
        CreateApplicationCredential | RotateApplicationCredential => is_self,
        // More than the operator's default rate is the operator's to give.
        RaiseIssueRate => admin,
        // A project's service accounts are its managers' (Keystone's manager persona, on that project).
        ManageServiceAccounts => {
            admin || (c.has("manager") && t.project_id.is_some_and(|p| c.project_id == Some(p)))
        }
        GetApplicationCredential | ListApplicationCredentials => admin || system_reader || is_self,
        GetAccessRule | ListAccessRules => system_reader || is_self,
        DeleteApplicationCredential => admin || is_self,
        DeleteAccessRule => (admin && *c.scope == Scope::System) || is_self,
    }
}

/// Check `action` for the caller of a validated token on `target`; 403 naming the rule when it does not pass.
pub fn enforce(action: Action, c: &Validated, t: Target<'_>) -> DomainResult<()> {
    let scope_domain_id = c
        .domain
        .as_ref()
        .map(|d| d.id.as_str())
        .or_else(|| c.project.as_ref().map(|(_, pd)| pd.id.as_str()));
    let caller = Caller {
        scope: &c.data.scope,
        roles: Roles::Views(&c.roles),
        user_id: &c.user.id,
        project_id: c.project_id(),
        scope_domain_id,
    };
    if allows(action, &caller, &t) {
        Ok(())
    } else {
        Err(DomainError::forbidden_action(action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    // Keystone 30 (keystone master 30ef2ffa) default policies, evaluated for:
    // [admin, system_reader, domain_manager, domain_reader, project_member, service, owner]
    // Lintel's extensions, with the rule they follow (rotation is creation's rule: only the owner).
    const LINTEL: &[(&str, [bool; 7])] = &[
        (
            "rotate_application_credential",
            [false, false, false, false, false, false, true],
        ),
        // Only an admin among these personas (the project member is no manager): a project manager is tested
        // in identity::service_accounts.
        (
            "manage_service_accounts",
            [true, false, false, false, false, false, false],
        ),
        // The operator's: an owner cannot lift the default rate on their own credential.
        (
            "raise_issue_rate",
            [true, false, false, false, false, false, false],
        ),
    ];

    const KEYSTONE: &[(&str, [bool; 7])] = &[
        ("get_user", [true, true, true, true, false, false, true]), // admin or system reader or (reader and token.domain.id == target.user.domain_id) or user_id == target.user.id
        ("list_users", [true, true, true, true, false, false, false]), // admin or system reader or (reader and domain_id == target.domain_id); target.domain_id only set for domain-scoped tokens (= caller's domain)
        (
            "create_user",
            [true, false, true, false, false, false, false],
        ), // admin or (manager and token.domain.id == target.user.domain_id); target.user is the request body, so P2 needs domain_id in the body
        (
            "update_user",
            [true, false, true, false, false, false, false],
        ), // admin or (manager and token.domain.id == target.user.domain_id); no owner clause
        (
            "delete_user",
            [true, false, true, false, false, false, false],
        ), // admin or (manager and token.domain.id == target.user.domain_id)
        (
            "list_user_projects",
            [true, true, true, true, false, false, true],
        ), // admin or system reader or (reader and domain_id == target.user.domain_id) or user_id == target.user.id
        (
            "list_groups_for_user",
            [true, true, true, true, false, false, true],
        ), // admin or system reader or (reader and domain_id == target.user.domain_id) or user_id == %(user_id)s (URL path user)
        ("get_group", [true, true, true, true, false, false, false]), // admin or system reader or (reader and domain_id == target.group.domain_id)
        ("list_groups", [true, true, true, true, false, false, false]), // admin or system reader or (reader and domain_id == target.group.domain_id); target.group.domain_id = caller's domain for domain tokens
        (
            "create_group",
            [true, false, true, false, false, false, false],
        ), // admin or (manager and domain_id == target.group.domain_id); target.group is the request body
        (
            "update_group",
            [true, false, true, false, false, false, false],
        ), // admin or (manager and domain_id == target.group.domain_id)
        (
            "delete_group",
            [true, false, true, false, false, false, false],
        ), // admin or (manager and domain_id == target.group.domain_id); target group auto-loaded via member_key
        (
            "list_users_in_group",
            [true, true, true, true, false, false, false],
        ), // admin or system reader or (reader and domain_id == target.group.domain_id)
        (
            "check_user_in_group",
            [true, true, true, true, false, false, false],
        ), // admin or system reader or (reader and domain_id == group.domain_id and domain_id == user.domain_id); no owner clause, so P6 false
        (
            "add_user_to_group",
            [true, false, true, false, false, false, false],
        ), // admin or (manager and domain_id == group.domain_id and domain_id == user.domain_id)
        (
            "remove_user_from_group",
            [true, false, true, false, false, false, false],
        ), // admin or (manager and domain_id == group.domain_id and domain_id == user.domain_id)
        ("get_project", [true, true, true, true, true, false, false]), // admin or system reader or (reader and domain_id == target.project.domain_id and not None:..) or project_id == target.project.id (no role needed)
        (
            "list_projects",
            [true, true, true, true, false, false, false],
        ), // admin or system reader or (reader and domain_id == target.domain_id); target only set for domain-scoped tokens
        (
            "create_project",
            [true, false, true, false, false, false, false],
        ), // admin or (manager and domain_id == target.project.domain_id and not None:target.project.domain_id); target = request body
        (
            "update_project",
            [true, false, true, false, false, false, false],
        ), // admin or (manager and domain_id == target.project.domain_id and not None:..)
        (
            "delete_project",
            [true, false, true, false, false, false, false],
        ), // admin or (manager and domain_id == target.project.domain_id and not None:..)
        (
            "list_project_tags",
            [true, true, true, true, true, false, false],
        ), // same as get_project: ... or project_id == target.project.id (any role on the project)
        (
            "get_project_tag",
            [true, true, true, true, true, false, false],
        ), // same as get_project: ... or project_id == target.project.id (any role on the project)
        (
            "create_project_tag",
            [true, false, true, false, false, false, false],
        ), // admin or (manager and domain_id == target.project.domain_id and not None:..); project members cannot write tags
        (
            "update_project_tags",
            [true, false, true, false, false, false, false],
        ), // admin or (manager and domain_id == target.project.domain_id and not None:..)
        (
            "delete_project_tag",
            [true, false, true, false, false, false, false],
        ), // admin or (manager and domain_id == target.project.domain_id and not None:..)
        (
            "delete_project_tags",
            [true, false, true, false, false, false, false],
        ), // admin or (manager and domain_id == target.project.domain_id and not None:..)
        ("get_domain", [true, true, true, true, true, false, false]), // admin or system reader or token.domain.id == target.domain.id or token.project.domain.id == target.domain.id (no role needed); P4 true only because its project (the target project) is owned by the target domain. If the domain is unrelated to P4's project, P4 is false
        (
            "list_domains",
            [true, true, true, true, false, false, false],
        ), // admin or system reader or (reader and domain_id == target.domain.id); target.domain.id = caller's domain for domain tokens
        (
            "create_domain",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "update_domain",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "delete_domain",
            [true, false, false, false, false, false, false],
        ), // admin
        ("get_role", [true, true, true, false, false, false, false]), // admin or system reader or (manager and target.role.name in {manager,member,reader}); P2 assumes the target role is 'member'. No scope check, so any token holding 'manager' passes
        ("list_roles", [true, true, true, false, false, false, false]), // admin or system reader or (manager and not domain_id:None), meaning any domain-scoped manager
        (
            "create_role",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "update_role",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "delete_role",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "get_implied_role",
            [true, true, false, false, false, false, false],
        ), // admin or system reader
        (
            "list_implied_roles",
            [true, true, false, false, false, false, false],
        ), // admin or system reader
        (
            "list_role_inference_rules",
            [true, true, false, false, false, false, false],
        ), // admin or system reader
        (
            "check_implied_role",
            [true, true, false, false, false, false, false],
        ), // admin or system reader
        (
            "create_implied_role",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "delete_implied_role",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "list_role_assignments",
            [true, true, true, true, false, false, false],
        ), // admin or system reader or (reader and domain_id == target.domain_id); target.domain_id = caller's domain for domain tokens; no owner clause
        ("list_grants", [true, true, true, true, false, false, false]), // admin or system reader or (reader and domain_id == (user|group).domain_id and domain_id == (project.domain_id|domain.id))
        ("check_grant", [true, true, true, true, false, false, false]), // admin or system reader or (domain-reader actor+target match AND (domain_id == role.domain_id or role.domain_id is None)); P2/P3 assume a global role such as 'member'
        (
            "create_grant",
            [true, false, true, false, false, false, false],
        ), // admin or (domain admin actor+target match and role domain ok) or (manager actor+target match and role.name in {manager,member,reader}); P2 true because the granted role is 'member'
        (
            "revoke_grant",
            [true, false, true, false, false, false, false],
        ), // same as create_grant; P2 true because the role is 'member'. It would be false for 'admin'
        ("get_region", [true, true, true, true, true, true, true]), // "" (any valid token)
        ("list_regions", [true, true, true, true, true, true, true]), // "" (any valid token)
        (
            "create_region",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "update_region",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "delete_region",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "get_service",
            [true, true, false, false, false, false, false],
        ), // admin or system reader
        (
            "list_services",
            [true, true, false, false, false, false, false],
        ), // admin or system reader
        (
            "create_service",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "update_service",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "delete_service",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "get_endpoint",
            [true, true, false, false, false, false, false],
        ), // admin or system reader
        (
            "list_endpoints",
            [true, true, false, false, false, false, false],
        ), // admin or system reader
        (
            "create_endpoint",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "update_endpoint",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "delete_endpoint",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "validate_token",
            [true, true, false, false, false, true, true],
        ), // admin or system reader or role:service or token subject (user_id == target.token.user_id)
        (
            "revoke_token",
            [true, false, false, false, false, false, true],
        ), // admin or token subject; system reader and service cannot revoke
        (
            "get_application_credential",
            [true, true, false, false, false, false, true],
        ), // admin or system reader or user_id == %(user_id)s (path user_id is overwritten with the app cred's owner)
        (
            "list_application_credentials",
            [true, true, false, false, false, false, true],
        ), // admin or system reader or user_id == %(user_id)s (path user)
        (
            "create_application_credential",
            [false, false, false, false, false, false, true],
        ), // user_id == %(user_id)s ONLY, so even admin cannot create one for another user
        (
            "delete_application_credential",
            [true, false, false, false, false, false, true],
        ), // admin or owner (no system reader)
        (
            "get_access_rule",
            [false, true, false, false, false, false, true],
        ), // (reader and system_scope:all) or user_id == target.user.id; no rule:admin_required, so project-scoped admin is false
        (
            "list_access_rules",
            [false, true, false, false, false, false, true],
        ), // (reader and system_scope:all) or user_id == target.user.id; project-scoped admin false
        (
            "delete_access_rule",
            [false, false, false, false, false, false, true],
        ), // (admin and system_scope:all) or user_id == target.user.id; project-scoped admin false, system reader lacks admin
        (
            "list_identity_providers",
            [true, true, false, false, false, false, false],
        ), // admin or system reader
        (
            "get_identity_provider",
            [true, true, false, false, false, false, false],
        ), // admin or system reader
        (
            "list_mappings",
            [true, true, false, false, false, false, false],
        ), // admin or system reader
        (
            "get_mapping",
            [true, true, false, false, false, false, false],
        ), // admin or system reader
        (
            "list_protocols",
            [true, true, false, false, false, false, false],
        ), // admin or system reader
        (
            "get_protocol",
            [true, true, false, false, false, false, false],
        ), // admin or system reader
        (
            "create_identity_provider",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "update_identity_provider",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "delete_identity_provider",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "create_mapping",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "update_mapping",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "delete_mapping",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "create_protocol",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "update_protocol",
            [true, false, false, false, false, false, false],
        ), // admin
        (
            "delete_protocol",
            [true, false, false, false, false, false, false],
        ), // admin
    ];

    /// The personas of the table, each a caller and the target it acts on.
    fn personas() -> [(&'static str, Scope, &'static [&'static str], &'static str); 7] {
        let other_project = Scope::Project("other-project".into());
        [
            (
                "admin",
                other_project.clone(),
                &["admin", "manager", "member", "reader"],
                "someone",
            ),
            ("system_reader", Scope::System, &["reader"], "someone"),
            (
                "domain_manager",
                Scope::Domain("target-domain".into()),
                &["manager", "member", "reader"],
                "someone",
            ),
            (
                "domain_reader",
                Scope::Domain("target-domain".into()),
                &["reader"],
                "someone",
            ),
            (
                "project_member",
                Scope::Project("target-project".into()),
                &["member", "reader"],
                "someone",
            ),
            ("service", other_project.clone(), &["service"], "someone"),
            ("owner", other_project, &["member", "reader"], "target-user"),
        ]
    }

    #[test]
    fn every_action_follows_keystones_default_policy_for_every_persona() {
        let target = Target {
            domain_id: Some("target-domain"),
            user_id: Some("target-user"),
            project_id: Some("target-project"),
            role_name: Some("member"),
        };
        let mut seen = std::collections::HashSet::new();
        let mut wrong = Vec::new();
        for (name, expected) in KEYSTONE.iter().chain(LINTEL) {
            let action = Action::iter()
                .find(|a| <&str>::from(*a) == *name)
                .unwrap_or_else(|| panic!("{name}: no such action"));
            seen.insert(action);
            for ((persona, scope, roles, user), want) in personas().into_iter().zip(expected) {
                let scope_domain_id = match &scope {
                    Scope::Domain(d) => Some(d.as_str()),
                    // The target project is in the target domain; the other project is not.
                    Scope::Project(p) if p == "target-project" => Some("target-domain"),
                    _ => None,
                };
                let project_id = match &scope {
                    Scope::Project(p) => Some(p.as_str()),
                    _ => None,
                };
                let caller = Caller {
                    scope: &scope,
                    roles: Roles::Names(roles),
                    user_id: user,
                    project_id,
                    scope_domain_id,
                };
                if allows(action, &caller, &target) != *want {
                    wrong.push(format!("{name} for {persona}: Keystone says {want}"));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        let untested: Vec<_> = Action::iter().filter(|a| !seen.contains(a)).collect();
        assert!(untested.is_empty(), "actions without a row: {untested:?}");
    }

    #[test]
    fn a_refusal_names_keystones_rule() {
        let scope = Scope::Project("p".into());
        let caller = Caller {
            scope: &scope,
            roles: Roles::Names(&["member"]),
            user_id: "u",
            project_id: Some("p"),
            scope_domain_id: None,
        };
        assert!(!allows(Action::CreateDomain, &caller, &Target::default()));
        assert_eq!(Action::CreateDomain.to_string(), "identity:create_domain");
        assert_eq!(
            Action::ListRoleInferenceRules.to_string(),
            "identity:list_role_inference_rules"
        );
    }
}
