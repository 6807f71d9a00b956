//! Domains: Keystone's rules for creating, changing and deleting them, and who may see which.

use crate::model::Domain;

use crate::audit::{Initiator, Operation};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::policy::{enforce, Action, Target};
use crate::rules::{check_description, check_name, PROJECT_NAME_MAX, SHORT_DESCRIPTION_MAX};
use crate::store;
use crate::store::domains::DomainChanges;
use crate::token::revocation::{Event, RevKey};
use crate::token::Validated;

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
pub async fn find(cx: &Context, id: &str) -> DomainResult<Option<Domain>> {
    store::find::<Domain>(&cx.db, id).await
}

/// A domain by id, or not found.
pub async fn load(cx: &Context, id: &str) -> DomainResult<Domain> {
    find(cx, id)
        .await?
        .ok_or_else(|| DomainError::not_found("Domain", id))
}

/// Domains by optional exact name and enabled flag, without a policy check (for callers that made their own).
pub async fn search(
    cx: &Context,
    name: Option<&str>,
    enabled: Option<bool>,
) -> DomainResult<Vec<Domain>> {
    store::domains::list(&cx.db, name, enabled).await
}

/// The domains the caller may see: all of them for a reader of every domain, else those it may read (its own),
/// as Keystone filters the list.
pub async fn list(
    cx: &Context,
    caller: &Validated,
    name: Option<&str>,
    enabled: Option<bool>,
) -> DomainResult<Vec<Domain>> {
    let all = enforce(Action::ListDomains, caller, Target::default()).is_ok();
    let mut found = search(cx, name, enabled).await?;
    found.retain(|d| all || enforce(Action::GetDomain, caller, this(&d.id)).is_ok());
    Ok(found)
}

/// One domain.
pub async fn get(cx: &Context, caller: &Validated, id: &str) -> DomainResult<Domain> {
    enforce(Action::GetDomain, caller, this(id))?;
    load(cx, id).await
}

fn check(name: Option<&str>, description: Option<&str>) -> DomainResult<()> {
    if let Some(n) = name {
        check_name(n, PROJECT_NAME_MAX)?;
    }
    check_description(description, Some(SHORT_DESCRIPTION_MAX))
}

/// Create a domain (also reached as `POST /v3/projects` with `is_domain`).
pub async fn create(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    f: DomainFields,
) -> DomainResult<Domain> {
    enforce(Action::CreateDomain, caller, Target::default())?;
    let name = f
        .name
        .ok_or_else(|| DomainError::validation("domain. 'name' is a required property"))?;
    let description = f.description.flatten();
    check(Some(&name), description.as_deref())?;
    let row = Domain {
        id: crate::rules::new_id(),
        name,
        description,
        enabled: f.enabled.unwrap_or(true),
        created_at: cx.clock.now(),
    };
    let created = store::domains::insert(&cx.db, row).await?;
    cx.audit_change(who, Operation::Created, "domain", &created.id, &[]);
    Ok(created)
}

/// Change a domain (also reached as `PATCH /v3/projects/{id}`); disabling it revokes every token scoped to it or
/// held by its users.
pub async fn update(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    id: &str,
    f: DomainFields,
) -> DomainResult<Domain> {
    enforce(Action::UpdateDomain, caller, this(id))?;
    let d = load(cx, id).await?;
    check(
        f.name.as_deref(),
        f.description.as_ref().and_then(Option::as_deref),
    )?;
    let events: Vec<Event> = (f.enabled == Some(false) && d.enabled)
        .then(|| Event::now(&cx.clock, RevKey::Domain(id.to_string())))
        .into_iter()
        .collect();
    let changes = DomainChanges {
        name: f.name,
        description: f.description,
        enabled: f.enabled,
    };
    let updated = store::domains::update(&cx.db, &d, changes, &events).await?;
    cx.view.forget_domain(id);
    crate::cluster::settle(cx, &events).await?;
    cx.audit_change(who, Operation::Updated, "domain", id, &[]);
    Ok(updated)
}

/// Delete a disabled domain with its grants (also reached as `DELETE /v3/projects/{id}`).
pub async fn delete(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    id: &str,
) -> DomainResult<()> {
    enforce(Action::DeleteDomain, caller, this(id))?;
    let d = load(cx, id).await?;
    if d.enabled {
        return Err(DomainError::Forbidden(
            "Cannot delete a domain that is enabled, please disable it first.".into(),
        ));
    }
    let event = Event::now(&cx.clock, RevKey::Domain(id.to_string()));
    store::domains::delete(&cx.db, d, &event).await?;
    cx.view.forget_domain(id);
    crate::cluster::settle(cx, &[event]).await?;
    cx.audit_change(who, Operation::Deleted, "domain", id, &[]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::context;

    fn fields(v: serde_json::Value) -> DomainFields {
        serde_json::from_value(v).unwrap()
    }

    #[tokio::test]
    async fn an_enabled_domain_is_not_deleted_and_disabling_revokes_its_users_tokens() {
        let t = context().await;
        let admin = t.admin().await;
        let d = create(
            &t,
            &admin,
            &t.admin_initiator(),
            fields(serde_json::json!({"name": "lab"})),
        )
        .await
        .unwrap();
        let err = delete(&t, &admin, &t.admin_initiator(), &d.id)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DomainError::Forbidden(m) if m.contains("please disable it first")),
            "{err:?}"
        );
        // A token scoped to the domain stops when the domain is disabled.
        t.set_domain_role(&d.id).await;
        let scoped = t
            .login(
                serde_json::json!({"methods": ["password"], "password": {"user": {"id": t.admin.user_id,
                    "password": crate::testing::ADMIN_PASSWORD}}}),
                Some(serde_json::json!({"domain": {"id": d.id}})),
            )
            .await
            .unwrap();
        let token = t.tokens.issue(&scoped.data);
        update(
            &t,
            &admin,
            &t.admin_initiator(),
            &d.id,
            fields(serde_json::json!({"enabled": false})),
        )
        .await
        .unwrap();
        assert!(crate::token::validate(&t, &token, false).await.is_err());
        delete(&t, &admin, &t.admin_initiator(), &d.id)
            .await
            .unwrap();
        let err = load(&t, &d.id).await.unwrap_err();
        assert!(matches!(err, DomainError::NotFound(_)), "{err:?}");
    }

    #[tokio::test]
    async fn only_an_admin_creates_domains() {
        let t = context().await;
        let alice = t.user_with_role("alice", "alice pw", "manager").await;
        let caller = t.login_user(&alice, "alice pw").await;
        let err = create(
            &t,
            &caller,
            &t.admin_initiator(),
            fields(serde_json::json!({"name": "mine"})),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
    }
}
