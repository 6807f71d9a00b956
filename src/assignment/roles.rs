//! Roles and implication rules: Keystone's rules for them, and what a change revokes.

use crate::model::{Domain, Role};
use serde_json::{Map, Value};

use crate::audit::{Initiator, Operation};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::policy::{enforce, Action, Target};
use crate::rules::{check_description, check_name, NAME_MAX, SHORT_DESCRIPTION_MAX};
use crate::store;
use crate::store::roles::RoleChanges;
use crate::token::revocation::{Event, RevKey};
use crate::token::Validated;

/// A role's fields as a create or update request gives them (absent: not given).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct RoleFields {
    /// Name.
    pub name: Option<String>,
    /// Owning domain (`None` or `Some(None)`: a global role); only on create.
    pub domain_id: Option<Option<String>>,
    /// Description (`Some(None)`: cleared).
    pub description: Option<Option<String>>,
    /// Options (`immutable`, ...).
    pub options: Option<Map<String, Value>>,
}

/// A role's options.
pub fn options_of(r: &Role) -> Map<String, Value> {
    match serde_json::from_str::<Value>(&r.options) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn immutable(r: &Role) -> bool {
    options_of(r).get("immutable").and_then(Value::as_bool) == Some(true)
}

fn any() -> Target<'static> {
    Target::default()
}

/// A role by id, or not found.
pub async fn load(cx: &Context, id: &str) -> DomainResult<Role> {
    store::find::<Role>(&cx.db, id)
        .await?
        .ok_or_else(|| DomainError::not_found("Role", id))
}

/// Roles by optional exact name, in one domain (`None`: the global roles).
pub async fn list(
    cx: &Context,
    caller: &Validated,
    name: Option<&str>,
    domain_id: Option<&str>,
) -> DomainResult<Vec<Role>> {
    let target = Target {
        domain_id,
        ..Default::default()
    };
    enforce(Action::ListRoles, caller, target)?;
    store::roles::list(&cx.db, name, domain_id).await
}

/// One role.
pub async fn get(cx: &Context, caller: &Validated, id: &str) -> DomainResult<Role> {
    // Looked up first: a manager may read the roles it may grant, by name (a miss is told only after policy).
    let found = crate::rules::existing(load(cx, id).await)?;
    let target = Target {
        role_name: found.as_ref().ok().map(|r| r.name.as_str()),
        ..Default::default()
    };
    enforce(Action::GetRole, caller, target)?;
    found
}

fn options_json(o: &Map<String, Value>) -> DomainResult<String> {
    serde_json::to_string(o).map_err(DomainError::internal)
}

/// Create a role, global or in a domain.
pub async fn create(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    f: RoleFields,
) -> DomainResult<Role> {
    enforce(Action::CreateRole, caller, any())?;
    let name = f
        .name
        .ok_or_else(|| DomainError::validation("role. 'name' is a required property"))?;
    check_name(&name, NAME_MAX)?;
    check_description(
        f.description.as_ref().and_then(Option::as_deref),
        Some(SHORT_DESCRIPTION_MAX),
    )?;
    let domain_id = f.domain_id.flatten();
    if let Some(d) = &domain_id {
        store::find::<Domain>(&cx.db, d)
            .await?
            .ok_or_else(|| DomainError::not_found("Domain", d))?;
    }
    let row = Role {
        id: crate::rules::new_id(),
        name,
        domain_id,
        description: f.description.flatten(),
        options: options_json(&f.options.unwrap_or_default())?,
        created_at: cx.clock.now(),
    };
    let created = store::roles::insert(&cx.db, row).await?;
    cx.audit_change(who, Operation::Created, "role", &created.id, &[]);
    Ok(created)
}

/// Change a role; an immutable role only to make it mutable again.
pub async fn update(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    id: &str,
    f: RoleFields,
) -> DomainResult<Role> {
    enforce(Action::UpdateRole, caller, any())?;
    let r = load(cx, id).await?;
    let unlocking = f
        .options
        .as_ref()
        .is_some_and(|o| o.get("immutable").and_then(Value::as_bool) == Some(false));
    if immutable(&r) && !unlocking {
        return Err(DomainError::Forbidden(format!(
            "Role {} is immutable and cannot be changed.",
            r.id
        )));
    }
    if let Some(n) = &f.name {
        check_name(n, NAME_MAX)?;
    }
    if let Some(d) = &f.description {
        check_description(d.as_deref(), Some(SHORT_DESCRIPTION_MAX))?;
    }
    let changes = RoleChanges {
        name: f.name,
        description: f.description,
        options: f.options.as_ref().map(options_json).transpose()?,
    };
    let updated = store::roles::update(&cx.db, &r, changes).await?;
    cx.view.forget_role(id);
    cx.audit_change(who, Operation::Updated, "role", id, &[]);
    Ok(updated)
}

/// Delete a role: every token showing it is revoked, and every application credential carrying it goes too,
/// as in Keystone.
pub async fn delete(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    id: &str,
) -> DomainResult<()> {
    enforce(Action::DeleteRole, caller, any())?;
    let r = load(cx, id).await?;
    if immutable(&r) {
        return Err(DomainError::Forbidden(format!(
            "Role {} is immutable and cannot be deleted.",
            r.id
        )));
    }
    let clock = &cx.clock;
    let role_event = Event::now(clock, RevKey::Role(id.to_string()));
    let (creds, events) = store::roles::delete(&cx.db, r, role_event, |c| {
        crate::credential::revocation_event(clock, c)
    })
    .await?;
    cx.view.forget_role(id);
    for c in &creds {
        cx.secrets.forget(c);
    }
    crate::cluster::settle(cx, &events).await?;
    cx.audit_change(who, Operation::Deleted, "role", id, &[]);
    Ok(())
}

/// A role and the roles it implies directly.
pub async fn implied(
    cx: &Context,
    caller: &Validated,
    prior: &str,
) -> DomainResult<(Role, Vec<Role>)> {
    enforce(Action::ListImpliedRoles, caller, any())?;
    let p = load(cx, prior).await?;
    let implied = store::roles::implied_by(&cx.db, prior).await?;
    Ok((p, implied))
}

/// What to do with one implication rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implication {
    /// Make `prior` imply `implied`; cached authorizations are forgotten.
    Add,
    /// The rule (not found when it does not exist).
    Get,
    /// Whether the rule exists (not found when not): `HEAD`.
    Check,
}

/// Add, read or check the rule "`prior` implies `implied`"; both roles come back.
pub async fn implication(
    cx: &Context,
    caller: &Validated,
    prior: &str,
    implied: &str,
    op: Implication,
) -> DomainResult<(Role, Role)> {
    let rule = match op {
        Implication::Add => Action::CreateImpliedRole,
        Implication::Get => Action::GetImpliedRole,
        Implication::Check => Action::CheckImpliedRole,
    };
    enforce(rule, caller, any())?;
    let p = load(cx, prior).await?;
    let i = load(cx, implied).await?;
    match op {
        Implication::Add => {
            if prior == implied {
                return Err(DomainError::Invalid("A role cannot imply itself.".into()));
            }
            // Keystone's rules: nothing implies a prohibited role ([assignment] prohibited_implied_role, default
            // admin), and a global role never implies a domain-specific one (it would leak into every domain).
            if i.name == "admin" || (p.domain_id.is_none() && i.domain_id.is_some()) {
                return Err(DomainError::Forbidden(format!(
                    "{implied} cannot be an implied roles."
                )));
            }
            store::roles::add_implication(&cx.db, prior, implied).await?;
            cx.view.forget_authorizations();
        }
        Implication::Get | Implication::Check => {
            if !store::roles::implies(&cx.db, prior, implied).await? {
                return Err(not_implied(prior, implied));
            }
        }
    }
    Ok((p, i))
}

fn not_implied(prior: &str, implied: &str) -> DomainError {
    DomainError::NotFound(format!("{prior} does not imply {implied}."))
}

/// Remove the rule "`prior` implies `implied`"; tokens that may carry the implied role through it are revoked.
pub async fn remove_implication(
    cx: &Context,
    caller: &Validated,
    prior: &str,
    implied: &str,
) -> DomainResult<()> {
    enforce(Action::DeleteImpliedRole, caller, any())?;
    let event = Event::now(&cx.clock, RevKey::Role(implied.to_string()));
    if !store::roles::remove_implication(&cx.db, prior, implied, &event).await? {
        return Err(not_implied(prior, implied));
    }
    crate::cluster::settle(cx, &[event]).await?;
    Ok(())
}

/// Every implication rule, grouped by prior role (sorted by its id): the prior role and what it implies.
pub async fn inferences(cx: &Context, caller: &Validated) -> DomainResult<Vec<(Role, Vec<Role>)>> {
    enforce(Action::ListRoleInferenceRules, caller, any())?;
    let rules = store::roles::implications(&cx.db).await?;
    let roles = store::roles::all(&cx.db).await?;
    let by_id = |id: &str| roles.iter().find(|r| r.id == id).cloned();
    let mut priors: Vec<&str> = rules.iter().map(|r| r.prior_role_id.as_str()).collect();
    priors.sort_unstable();
    priors.dedup();
    let mut out = Vec::new();
    for p in priors {
        let Some(prior) = by_id(p) else { continue };
        let implies = rules
            .iter()
            .filter(|r| r.prior_role_id == p)
            .filter_map(|r| by_id(&r.implied_role_id))
            .collect();
        out.push((prior, implies));
    }
    Ok(out)
}
