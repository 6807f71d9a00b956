//! Domains: Keystone's rules for creating, changing and deleting them, and who may see which.

use entity::domain;

use crate::auth::Validated;
use crate::error::{DomainError, DomainResult};
use crate::policy::{enforce, Action, Target};
use crate::rules::{check_description, check_name, PROJECT_NAME_MAX, SHORT_DESCRIPTION_MAX};
use crate::state::AppState;
use crate::store;
use crate::store::domains::DomainChanges;
use crate::token::revocation::{Event, RevKey};

/// A domain's fields as a create or update request gives them (absent: not given).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct DomainFields {
    /// Name.
    pub name: Option<String>,
    /// Description (`Some(None)`: cleared).
    pub description: Option<Option<String>>,
    /// Enabled flag.
    pub enabled: Option<bool>,
}

fn this(id: &str) -> Target<'_> {
    Target {
        domain_id: Some(id),
        ..Default::default()
    }
}

/// A domain by id, if there is one.
pub async fn find(state: &AppState, id: &str) -> DomainResult<Option<domain::Model>> {
    store::find::<domain::Entity>(&state.db, id).await
}

/// A domain by id, or not found.
pub async fn load(state: &AppState, id: &str) -> DomainResult<domain::Model> {
    find(state, id)
        .await?
        .ok_or_else(|| DomainError::not_found("Domain", id))
}

/// Domains by optional exact name and enabled flag, without a policy check (for callers that made their own).
pub async fn search(
    state: &AppState,
    name: Option<&str>,
    enabled: Option<bool>,
) -> DomainResult<Vec<domain::Model>> {
    store::domains::list(&state.db, name, enabled).await
}

/// The domains the caller may see: all of them for a reader of every domain, else those it may read (its own),
/// as Keystone filters the list.
pub async fn list(
    state: &AppState,
    caller: &Validated,
    name: Option<&str>,
    enabled: Option<bool>,
) -> DomainResult<Vec<domain::Model>> {
    let all = enforce(Action::ListDomains, caller, Target::default()).is_ok();
    let mut found = search(state, name, enabled).await?;
    found.retain(|d| all || enforce(Action::GetDomain, caller, this(&d.id)).is_ok());
    Ok(found)
}

/// One domain.
pub async fn get(state: &AppState, caller: &Validated, id: &str) -> DomainResult<domain::Model> {
    enforce(Action::GetDomain, caller, this(id))?;
    load(state, id).await
}

fn check(name: Option<&str>, description: Option<&str>) -> DomainResult<()> {
    if let Some(n) = name {
        check_name(n, PROJECT_NAME_MAX)?;
    }
    check_description(description, Some(SHORT_DESCRIPTION_MAX))
}

/// Create a domain (also reached as `POST /v3/projects` with `is_domain`).
pub async fn create(
    state: &AppState,
    caller: &Validated,
    f: DomainFields,
) -> DomainResult<domain::Model> {
    enforce(Action::CreateDomain, caller, Target::default())?;
    let name = f
        .name
        .ok_or_else(|| DomainError::validation("domain. 'name' is a required property"))?;
    let description = f.description.flatten();
    check(Some(&name), description.as_deref())?;
    let row = domain::Model {
        id: crate::rules::new_id(),
        name,
        description,
        enabled: f.enabled.unwrap_or(true),
        created_at: state.clock.now(),
    };
    store::domains::insert(&state.db, row).await
}

/// Change a domain (also reached as `PATCH /v3/projects/{id}`); disabling it revokes every token scoped to it or
/// held by its users.
pub async fn update(
    state: &AppState,
    caller: &Validated,
    id: &str,
    f: DomainFields,
) -> DomainResult<domain::Model> {
    enforce(Action::UpdateDomain, caller, this(id))?;
    let d = load(state, id).await?;
    check(
        f.name.as_deref(),
        f.description.as_ref().and_then(Option::as_deref),
    )?;
    let events: Vec<Event> = (f.enabled == Some(false) && d.enabled)
        .then(|| Event::now(&state.clock, RevKey::Domain(id.to_string())))
        .into_iter()
        .collect();
    let changes = DomainChanges {
        name: f.name,
        description: f.description,
        enabled: f.enabled,
    };
    let updated = store::domains::update(&state.db, &d, changes, &events).await?;
    state.view.forget_domain(id);
    crate::cluster::settle(state, &events).await?;
    Ok(updated)
}

/// Delete a disabled domain with its grants (also reached as `DELETE /v3/projects/{id}`).
pub async fn delete(state: &AppState, caller: &Validated, id: &str) -> DomainResult<()> {
    enforce(Action::DeleteDomain, caller, this(id))?;
    let d = load(state, id).await?;
    if d.enabled {
        return Err(DomainError::Forbidden(
            "Cannot delete a domain that is enabled, please disable it first.".into(),
        ));
    }
    let event = Event::now(&state.clock, RevKey::Domain(id.to_string()));
    store::domains::delete(&state.db, d, &event).await?;
    state.view.forget_domain(id);
    crate::cluster::settle(state, &[event]).await?;
    Ok(())
}
