//! Role grants on projects, domains and the system, and the role-assignment listing: Keystone's rules for who may
//! grant what, and what taking a role away revokes.

use std::collections::{HashMap, HashSet};

use crate::model::{Group, Role};

use crate::assignment::Target as Grant;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::policy::{enforce, Action, Target};
use crate::store;
pub use crate::store::grants::AssignmentQuery;
use crate::store::grants::GrantKey;
use crate::token::revocation::{Event, RevKey};
use crate::token::Validated;

/// A grant's target and actor, both known to exist.
#[derive(Debug)]
pub struct Addressed {
    /// Project, domain or system.
    pub grant: Grant,
    /// Whether the actor is a group.
    pub group: bool,
    /// The user or group.
    pub actor_id: String,
    /// The domain policy judges by (the project's or the domain itself; none for the system).
    pub domain_id: Option<String>,
}

impl Addressed {
    fn key(&self) -> GrantKey<'_> {
        GrantKey {
            grant: &self.grant,
            group: self.group,
            actor_id: &self.actor_id,
        }
    }

    fn allowed(&self, c: &Validated, rule: Action, role: Option<&str>) -> DomainResult<()> {
        let target = Target {
            domain_id: self.domain_id.as_deref(),
            role_name: role,
            ..Default::default()
        };
        enforce(rule, c, target)
    }

    fn missing(&self, role_id: &str) -> DomainError {
        DomainError::NotFound(format!(
            "Could not find role assignment with role: {role_id}, actor: {}, target: {}.",
            self.actor_id,
            self.grant.id()
        ))
    }
}

/// Where a grant URL points: a project, a domain or the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// `/v3/projects/{id}/...`.
    Project,
    /// `/v3/domains/{id}/...`.
    Domain,
    /// `/v3/system/...`.
    System,
}

/// Resolve a grant's target and actor; not found when either is missing.
pub async fn address(
    cx: &Context,
    on: On,
    target_id: Option<String>,
    group: bool,
    actor_id: String,
) -> DomainResult<Addressed> {
    let (grant, domain_id) = match (on, target_id) {
        (On::Project, Some(t)) => {
            let p = crate::resource::projects::load(cx, &t).await?;
            (Grant::Project(t), Some(p.domain_id))
        }
        (On::Domain, Some(t)) => {
            crate::resource::domains::load(cx, &t).await?;
            (Grant::Domain(t.clone()), Some(t))
        }
        _ => (Grant::System, None),
    };
    if group {
        crate::identity::groups::load(cx, &actor_id).await?;
    } else {
        crate::identity::users::load(cx, &actor_id).await?;
    }
    Ok(Addressed {
        grant,
        group,
        actor_id,
        domain_id,
    })
}

/// The roles granted.
pub async fn list(cx: &Context, c: &Validated, a: &Addressed) -> DomainResult<Vec<Role>> {
    a.allowed(c, Action::ListGrants, None)?;
    let ids = store::grants::role_ids(&cx.db, &a.key()).await?;
    store::roles::by_ids(&cx.db, ids).await
}

/// What to do with one grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantOp {
    /// Grant the role; cached authorizations are forgotten.
    Create,
    /// Whether the role is granted (not found when not).
    Check,
    /// Take the role away; the tokens of every user it reached are revoked on that target.
    Revoke,
}

/// Create, check or revoke one grant.
pub async fn grant(
    cx: &Context,
    c: &Validated,
    who: &crate::audit::Initiator,
    a: &Addressed,
    role_id: &str,
    op: GrantOp,
) -> DomainResult<()> {
    let r = crate::assignment::roles::load(cx, role_id).await?;
    let rule = match op {
        GrantOp::Create => Action::CreateGrant,
        GrantOp::Check => Action::CheckGrant,
        GrantOp::Revoke => Action::RevokeGrant,
    };
    a.allowed(c, rule, Some(&r.name))?;
    match op {
        GrantOp::Create => {
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
            store::grants::insert(&cx.db, &a.key(), &r.id).await?;
            cx.view.forget_authorizations();
        }
        GrantOp::Check => {
            if !store::grants::exists(&cx.db, &a.key(), role_id).await? {
                return Err(a.missing(role_id));
            }
        }
        GrantOp::Revoke => {
            let clock = &cx.clock;
            let events = store::grants::delete(&cx.db, &a.key(), role_id, |users| {
                users
                    .into_iter()
                    .map(|u| match &a.grant {
                        Grant::Project(p) => Event::now(clock, RevKey::UserProject(u, p.clone())),
                        Grant::Domain(_) | Grant::System => Event::now(clock, RevKey::User(u)),
                    })
                    .collect()
            })
            .await?
            .ok_or_else(|| a.missing(role_id))?;
            crate::cluster::settle(cx, &events).await?;
            crate::credential::witness::after(cx, &events).await?;
        }
    }
    let operation = match op {
        GrantOp::Create => crate::audit::Operation::Created,
        GrantOp::Revoke => crate::audit::Operation::Deleted,
        GrantOp::Check => return Ok(()),
    };
    let on = match &a.grant {
        Grant::Project(p) => format!("projects/{p}"),
        Grant::Domain(d) => format!("domains/{d}"),
        Grant::System => "system".to_string(),
    };
    cx.audit_change(
        who,
        operation,
        "role_assignment",
        role_id,
        &[("actor", &a.actor_id), ("on", &on)],
    );
    Ok(())
}

/// Filters of `GET /v3/role_assignments`.
#[derive(Debug, Default)]
pub struct AssignmentFilters<'a> {
    /// Where, and to whom (with `effective`, a user's roles through groups count too).
    pub grants: AssignmentQuery<'a>,
    /// Of this role (with `effective`, also through implications).
    pub role_id: Option<&'a str>,
    /// Expand groups into their members and roles into what they imply.
    pub effective: bool,
}

/// Where an assignment applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A project.
    Project,
    /// A domain.
    Domain,
    /// The system.
    System,
}

/// One row of the role-assignment listing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Assignment {
    /// The role.
    pub role_id: String,
    /// The user (directly, or as a member with `effective`).
    pub user: Option<String>,
    /// The group (without `effective`).
    pub group: Option<String>,
    /// Where it applies.
    pub scope: Scope,
    /// The project or domain id (`::` for the system).
    pub target: String,
    /// The grant it comes from: its URL path under `/v3`.
    pub path: String,
}

fn scope_of(kind: &str) -> Scope {
    match kind {
        "UserProject" | "GroupProject" => Scope::Project,
        "UserDomain" | "GroupDomain" => Scope::Domain,
        _ => Scope::System,
    }
}

/// The role assignments the caller may list.
pub async fn assignments(
    cx: &Context,
    c: &Validated,
    f: &AssignmentFilters<'_>,
) -> DomainResult<Vec<Assignment>> {
    let scope_domain = match (f.grants.project_id, f.grants.domain_id) {
        (Some(p), _) => crate::rules::existing(crate::resource::projects::load(cx, p).await)?
            .ok()
            .map(|p| p.domain_id),
        (None, Some(d)) => Some(d.to_string()),
        _ => None,
    };
    let target = Target {
        domain_id: scope_domain.as_deref().or(Some(&c.user_domain.id)),
        ..Default::default()
    };
    enforce(Action::ListRoleAssignments, c, target)?;
    let query = AssignmentQuery {
        user_id: f.grants.user_id.filter(|_| !f.effective),
        ..f.grants
    };
    let db = &cx.db;
    let rules = if f.effective {
        Some(crate::store::assignments::implications(db).await?)
    } else {
        None
    };
    let mut rows = Vec::new();
    let mut members_of: HashMap<String, Vec<String>> = HashMap::new();
    for a in store::grants::assignments(db, &query).await? {
        let scope = scope_of(&a.kind);
        let group = a.kind.starts_with("Group");
        let target_path = match scope {
            Scope::System => "system".to_string(),
            Scope::Project => format!("projects/{}", a.target_id),
            Scope::Domain => format!("domains/{}", a.target_id),
        };
        let actor_path = if group { "groups" } else { "users" };
        let path = format!(
            "{target_path}/{actor_path}/{}/roles/{}",
            a.actor_id, a.role_id
        );
        let members = if f.effective && group {
            // A group granted roles on many targets is read once, not once per grant.
            match members_of.get(&a.actor_id) {
                Some(m) => m.clone(),
                None => {
                    let m =
                        crate::store::assignments::affected_users(db, &a.actor_id, true).await?;
                    members_of.insert(a.actor_id.clone(), m.clone());
                    m
                }
            }
        } else {
            vec![]
        };
        let roles = match &rules {
            Some(r) => crate::assignment::expand(vec![a.role_id.clone()], r),
            None => vec![a.role_id.clone()],
        };
        for role_id in roles {
            let row = |user: Option<String>, group: Option<String>| Assignment {
                role_id: role_id.clone(),
                user,
                group,
                scope,
                target: a.target_id.clone(),
                path: path.clone(),
            };
            if f.effective && group {
                rows.extend(members.iter().map(|u| row(Some(u.clone()), None)));
            } else if group {
                rows.push(row(None, Some(a.actor_id.clone())));
            } else {
                rows.push(row(Some(a.actor_id.clone()), None));
            }
        }
    }
    if f.effective {
        let mut ids: Vec<String> = rows.iter().map(|r| r.role_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let global = crate::store::assignments::strip_domain_roles(db, ids).await?;
        rows.retain(|r| global.binary_search(&r.role_id).is_ok());
    }
    if let Some(u) = f.grants.user_id {
        rows.retain(|r| r.user.as_deref() == Some(u));
    }
    if let Some(r) = f.role_id {
        rows.retain(|row| row.role_id == r);
    }
    let mut seen = HashSet::new();
    rows.retain(|r| {
        seen.insert((
            r.role_id.clone(),
            r.user.clone(),
            r.group.clone(),
            r.scope,
            r.target.clone(),
        ))
    });
    Ok(rows)
}

/// Name lookups for `include_names` (none at all without it): each gives the name and the owning domain's id.
/// One `Names` serves a whole listing: roles and groups (which the authorization view does not keep) are read
/// from the database once per id, not once per row that names them.
pub struct Names<'a> {
    cx: &'a Context,
    wanted: bool,
    roles: HashMap<String, Found>,
    groups: HashMap<String, Found>,
}

type Found = Option<(String, Option<String>)>;

impl<'a> Names<'a> {
    /// Lookups that run only when `wanted`.
    pub fn new(cx: &'a Context, wanted: bool) -> Self {
        Names {
            cx,
            wanted,
            roles: HashMap::new(),
            groups: HashMap::new(),
        }
    }

    /// Whether names were asked for.
    pub fn wanted(&self) -> bool {
        self.wanted
    }

    /// A role's name and domain (a global role has none).
    pub async fn role(&mut self, id: &str) -> DomainResult<Found> {
        if !self.wanted {
            return Ok(None);
        }
        if let Some(found) = self.roles.get(id) {
            return Ok(found.clone());
        }
        let r = store::find::<Role>(&self.cx.db, id).await?;
        let found = r.map(|r| (r.name, r.domain_id));
        self.roles.insert(id.to_string(), found.clone());
        Ok(found)
    }

    /// A user's name and domain.
    pub async fn user(&self, id: &str) -> DomainResult<Found> {
        if !self.wanted {
            return Ok(None);
        }
        let u = self.cx.view.user(&self.cx.db, id).await?;
        Ok(u.map(|u| (u.name.clone(), Some(u.domain_id.clone()))))
    }

    /// A group's name and domain.
    pub async fn group(&mut self, id: &str) -> DomainResult<Found> {
        if !self.wanted {
            return Ok(None);
        }
        if let Some(found) = self.groups.get(id) {
            return Ok(found.clone());
        }
        let g = store::find::<Group>(&self.cx.db, id).await?;
        let found = g.map(|g| (g.name, Some(g.domain_id)));
        self.groups.insert(id.to_string(), found.clone());
        Ok(found)
    }

    /// A project's name and domain.
    pub async fn project(&self, id: &str) -> DomainResult<Found> {
        if !self.wanted {
            return Ok(None);
        }
        let p = self.cx.view.project(&self.cx.db, id).await?;
        Ok(p.map(|p| (p.name.clone(), Some(p.domain_id.clone()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::context;

    #[tokio::test]
    async fn revoking_a_role_takes_it_from_every_token_at_once() {
        let t = context().await;
        let (alice, before) = t.member("alice").await;
        t.set_role(&alice, "reader", GrantOp::Create).await.unwrap();
        let token = t.tokens.issue(&before.data);
        assert!(before.has_role("member"));

        t.set_role(&alice, "member", GrantOp::Revoke).await.unwrap();
        // The token issued before the revocation carries the role: it is refused, not trimmed.
        assert!(crate::token::validate(&t, &token, false).await.is_err());
        // A new one no longer carries it.
        let after = t.login_user(&alice, "alicealice").await;
        assert!(!after.has_role("member") && after.has_role("reader"));
        // Checking a grant that is gone is "not found".
        let err = t
            .set_role(&alice, "member", GrantOp::Check)
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::NotFound(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_member_cannot_grant_roles() {
        let t = context().await;
        let (_, caller) = t.member("alice").await;
        let bob = t.user_with_role("bob", "bob pw", "reader").await;
        let a = address(
            &t,
            On::Project,
            Some(t.admin.project_id.clone()),
            false,
            bob,
        )
        .await
        .unwrap();
        let member = crate::store::assignments::role_by_name(&t.db, "member", None)
            .await
            .unwrap()
            .unwrap();
        let err = grant(
            &t,
            &caller,
            &t.admin_initiator(),
            &a,
            &member.id,
            GrantOp::Create,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
    }
}
