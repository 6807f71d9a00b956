//! Groups: Keystone's rules for creating, changing and deleting them, and for their memberships.

use crate::model::{Domain, Group, User};

use crate::audit::{Initiator, Operation};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::policy::{enforce, Action, Target};
use crate::store;
use crate::token::revocation::{Event, RevKey};
use crate::token::Validated;

/// Longest group name (Keystone's column).
pub const NAME_MAX: usize = crate::rules::GROUP_NAME_MAX;

/// A group's fields as a create or update request gives them (absent: not given).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct GroupFields {
    /// New name.
    pub name: Option<String>,
    /// Owning domain (only on create; on update it may only repeat the current one).
    pub domain_id: Option<String>,
    /// New description (`Some(None)`: cleared).
    pub description: Option<Option<String>>,
}

/// Who may act on a group: its domain's managers (and admins).
fn in_domain(domain_id: &str) -> Target<'_> {
    Target {
        domain_id: Some(domain_id),
        ..Default::default()
    }
}

/// A group by id, or not found.
pub async fn load(cx: &Context, id: &str) -> DomainResult<Group> {
    store::find::<Group>(&cx.db, id)
        .await?
        .ok_or_else(|| DomainError::not_found("Group", id))
}

/// Groups the caller may list, optionally by exact name and domain.
pub async fn list(
    cx: &Context,
    caller: &Validated,
    name: Option<&str>,
    domain_id: Option<&str>,
) -> DomainResult<Vec<Group>> {
    enforce(
        Action::ListGroups,
        caller,
        in_domain(domain_id.unwrap_or(&caller.user_domain.id)),
    )?;
    store::groups::list(&cx.db, name, domain_id).await
}

/// One group; policy is decided before a missing group is reported.
pub async fn get(cx: &Context, caller: &Validated, id: &str) -> DomainResult<Group> {
    let g = crate::rules::existing(load(cx, id).await)?;
    let domain = g.as_ref().ok().map(|g| g.domain_id.clone());
    enforce(
        Action::GetGroup,
        caller,
        Target {
            domain_id: domain.as_deref(),
            ..Default::default()
        },
    )?;
    g
}

fn check_fields(f: &GroupFields) -> DomainResult<()> {
    if let Some(n) = &f.name {
        crate::rules::check_name(n, NAME_MAX)?;
    }
    crate::rules::check_description(f.description.as_ref().and_then(Option::as_deref), None)
}

/// Create a group in the given domain (default: the caller's).
pub async fn create(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    f: GroupFields,
) -> DomainResult<Group> {
    let name = f
        .name
        .clone()
        .ok_or_else(|| DomainError::validation("group. 'name' is a required property"))?;
    check_fields(&f)?;
    let domain_id = f.domain_id.unwrap_or_else(|| caller.user_domain.id.clone());
    enforce(Action::CreateGroup, caller, in_domain(&domain_id))?;
    store::find::<Domain>(&cx.db, &domain_id)
        .await?
        .ok_or_else(|| DomainError::not_found("Domain", &domain_id))?;
    let row = Group {
        id: crate::rules::new_id(),
        name,
        domain_id,
        description: f.description.flatten(),
        created_at: cx.clock.now(),
    };
    let created = store::groups::insert(&cx.db, row).await?;
    cx.audit_change(who, Operation::Created, "group", &created.id, &[]);
    Ok(created)
}

/// Rename a group or change its description; its domain cannot change.
pub async fn update(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    id: &str,
    f: GroupFields,
) -> DomainResult<Group> {
    let g = load(cx, id).await?;
    enforce(Action::UpdateGroup, caller, in_domain(&g.domain_id))?;
    if f.domain_id.as_ref().is_some_and(|d| *d != g.domain_id) {
        return Err(DomainError::Invalid(
            "Cannot change the domain_id of a group.".into(),
        ));
    }
    check_fields(&f)?;
    let updated = store::groups::update(&cx.db, &g, f.name, f.description).await?;
    cx.audit_change(who, Operation::Updated, "group", id, &[]);
    Ok(updated)
}

/// Delete a group and its grants; its members' tokens are revoked (they may carry the group's roles).
pub async fn delete(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    id: &str,
) -> DomainResult<()> {
    let g = load(cx, id).await?;
    enforce(Action::DeleteGroup, caller, in_domain(&g.domain_id))?;
    let clock = &cx.clock;
    let events = store::groups::delete(&cx.db, g, |members| {
        members
            .into_iter()
            .map(|u| Event::now(clock, RevKey::User(u)))
            .collect()
    })
    .await?;
    crate::cluster::settle(cx, &events).await?;
    crate::credential::witness::after(cx, &events).await?;
    cx.audit_change(who, Operation::Deleted, "group", id, &[]);
    Ok(())
}

/// The users in a group.
pub async fn members(cx: &Context, caller: &Validated, id: &str) -> DomainResult<Vec<User>> {
    let g = load(cx, id).await?;
    enforce(Action::ListUsersInGroup, caller, in_domain(&g.domain_id))?;
    store::groups::members(&cx.db, id).await
}

/// What to do with a user's membership of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// Put the user in the group; the user's cached authorizations are forgotten (the group's roles apply).
    Add,
    /// Whether the user is in the group (not found when not).
    Check,
    /// Take the user out; the user's tokens are revoked (they may carry the group's roles).
    Remove,
}

/// Add, check or remove a user's membership of a group, once both exist and the caller may.
pub async fn membership(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    group_id: &str,
    user_id: &str,
    op: Membership,
) -> DomainResult<()> {
    let rule = match op {
        Membership::Add => Action::AddUserToGroup,
        Membership::Check => Action::CheckUserInGroup,
        Membership::Remove => Action::RemoveUserFromGroup,
    };
    let g = load(cx, group_id).await?;
    enforce(rule, caller, in_domain(&g.domain_id))?;
    store::find::<User>(&cx.db, user_id)
        .await?
        .ok_or_else(|| DomainError::not_found("User", user_id))?;
    let not_a_member =
        || DomainError::NotFound(format!("User '{user_id}' not found in group '{group_id}'"));
    match op {
        Membership::Add => {
            store::groups::add_member(&cx.db, group_id, user_id).await?;
            cx.view.forget_authorizations();
            cx.audit_change(
                who,
                Operation::Created,
                "group_membership",
                group_id,
                &[("user", user_id)],
            );
        }
        Membership::Check => {
            if !store::groups::is_member(&cx.db, group_id, user_id).await? {
                return Err(not_a_member());
            }
        }
        Membership::Remove => {
            let event = Event::now(&cx.clock, RevKey::User(user_id.to_string()));
            if !store::groups::remove_member(&cx.db, group_id, user_id, &event).await? {
                return Err(not_a_member());
            }
            crate::cluster::settle(cx, std::slice::from_ref(&event)).await?;
            crate::credential::witness::after(cx, &[event]).await?;
            cx.audit_change(
                who,
                Operation::Deleted,
                "group_membership",
                group_id,
                &[("user", user_id)],
            );
        }
    }
    Ok(())
}
