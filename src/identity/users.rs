//! Users: Keystone's rules for creating, changing and deleting them, and for changing one's own password.

use crate::model::{Domain, Group, Project, User};
use serde_json::{Map, Value};

use crate::audit::{Initiator, Operation};
use crate::context::Context;
use crate::crypto::hashing::Secret;
use crate::error::{DomainError, DomainResult};
use crate::identity::passwords::{self, UserOptions};
use crate::policy::{enforce, Action, Target};
use crate::store;
use crate::store::users::UserChanges;
use crate::token::revocation::{Event, RevKey};
use crate::token::Validated;

/// A user's fields as a create or update request gives them (absent: not given).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct UserFields {
    /// Name.
    pub name: Option<String>,
    /// Owning domain (only on create; on update it may only repeat the current one).
    pub domain_id: Option<String>,
    /// Enabled flag.
    pub enabled: Option<bool>,
    /// Password (`Some(None)`: none).
    pub password: Option<Option<Secret>>,
    /// Default project (`Some(None)`: cleared).
    pub default_project_id: Option<Option<String>>,
    /// Options (`ignore_password_expiry`, `lock_password`, ...): merged into the user's, null removing one.
    #[schema(value_type = Option<Object>)]
    pub options: Option<Value>,
    /// Any other attribute (email, description, ...), kept as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A user by id, or not found.
pub async fn load(cx: &Context, id: &str) -> DomainResult<User> {
    store::find::<User>(&cx.db, id)
        .await?
        .ok_or_else(|| DomainError::not_found("User", id))
}

/// The extra attributes of a stored user.
pub fn extra_of(u: &User) -> Map<String, Value> {
    match serde_json::from_str::<Value>(&u.extra) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Extra attributes merged into the stored ones; the attributes Keystone computes are never stored.
fn merge_extra(old: &User, new: Map<String, Value>) -> DomainResult<String> {
    let mut m = extra_of(old);
    for (k, v) in new {
        if !matches!(
            k.as_str(),
            "id" | "links" | "password_expires_at" | "options"
        ) {
            m.insert(k, v);
        }
    }
    serde_json::to_string(&m).map_err(DomainError::internal)
}

fn in_domain(domain_id: &str) -> Target<'_> {
    Target {
        domain_id: Some(domain_id),
        ..Default::default()
    }
}

/// Users the caller may list, optionally by exact name, domain and enabled flag.
pub async fn list(
    cx: &Context,
    caller: &Validated,
    name: Option<&str>,
    domain_id: Option<&str>,
    enabled: Option<bool>,
) -> DomainResult<Vec<User>> {
    enforce(
        Action::ListUsers,
        caller,
        in_domain(domain_id.unwrap_or(&caller.user_domain.id)),
    )?;
    store::users::list(&cx.db, name, domain_id, enabled).await
}

/// A user, under `rule` (a reader of the user's domain, or the user themself); policy is decided before a
/// missing user is reported.
async fn readable(cx: &Context, caller: &Validated, id: &str, rule: Action) -> DomainResult<User> {
    let u = crate::rules::existing(load(cx, id).await)?;
    let domain = u.as_ref().ok().map(|u| u.domain_id.clone());
    let target = Target {
        domain_id: domain.as_deref(),
        user_id: Some(id),
        ..Default::default()
    };
    enforce(rule, caller, target)?;
    u
}

/// One user.
pub async fn get(cx: &Context, caller: &Validated, id: &str) -> DomainResult<User> {
    readable(cx, caller, id, Action::GetUser).await
}

/// Create a user in the given domain (default: the caller's).
pub async fn create(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    f: UserFields,
) -> DomainResult<User> {
    let name = f
        .name
        .ok_or_else(|| DomainError::validation("user. 'name' is a required property"))?;
    crate::rules::check_name(&name, crate::rules::NAME_MAX)?;
    let domain_id = f.domain_id.unwrap_or_else(|| caller.user_domain.id.clone());
    enforce(Action::CreateUser, caller, in_domain(&domain_id))?;
    store::find::<Domain>(&cx.db, &domain_id)
        .await?
        .ok_or_else(|| DomainError::not_found("Domain", &domain_id))?;
    let rules = &cx.config.auth.passwords;
    let options = match &f.options {
        Some(o) => UserOptions::default().merged(o)?,
        None => UserOptions::default(),
    };
    let now = cx.clock.now();
    let password = match f.password {
        Some(Some(p)) => {
            passwords::check_requirements(rules, p.expose())?;
            Some(p)
        }
        Some(None) => {
            passwords::check_present(rules)?;
            None
        }
        None => None,
    };
    let password_hash = match &password {
        Some(p) => Some(cx.hasher.hash(p).await?),
        None => None,
    };
    let empty = User {
        id: crate::rules::new_id(),
        name,
        domain_id,
        enabled: f.enabled.unwrap_or(true),
        password_expires_at: password
            .as_ref()
            .and_then(|_| passwords::expiry_of_new(rules, now, true, &options)),
        password_created_at: password.as_ref().map(|_| now),
        password_hash,
        default_project_id: f.default_project_id.flatten(),
        extra: String::new(),
        failed_auth_count: 0,
        last_failed_auth_at: None,
        created_at: now,
        options: options.stored(),
        last_active_at: Some(now),
        password_self_service: false,
        service_project_id: None,
    };
    let extra = merge_extra(&empty, f.extra)?;
    let created = store::users::insert(&cx.db, User { extra, ..empty }).await?;
    cx.audit_change(who, Operation::Created, "user", &created.id, &[]);
    Ok(created)
}

/// Change a user; disabling them or setting their password revokes their tokens.
pub async fn update(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    id: &str,
    f: UserFields,
) -> DomainResult<User> {
    let u = load(cx, id).await?;
    enforce(Action::UpdateUser, caller, in_domain(&u.domain_id))?;
    if f.domain_id.as_ref().is_some_and(|d| *d != u.domain_id) {
        return Err(DomainError::Invalid(
            "Cannot change the domain_id of a user.".into(),
        ));
    }
    if let Some(n) = &f.name {
        crate::rules::check_name(n, crate::rules::NAME_MAX)?;
    }
    let revoke = f.enabled == Some(false) && u.enabled || f.password.is_some();
    let password = if f.password.is_some() {
        "changed"
    } else {
        "unchanged"
    };
    let rules = &cx.config.auth.passwords;
    let now = cx.clock.now();
    let old_options = UserOptions::of(&u);
    // Options first: what this request sets counts for the password it sets (ignore_change_password_upon_first_use).
    let options = match &f.options {
        Some(o) => Some(old_options.merged(o)?),
        None => None,
    };
    let effective = options.as_ref().unwrap_or(&old_options);
    let (password_hash, new_password) = match f.password {
        Some(Some(p)) => {
            passwords::check_requirements(rules, p.expose())?;
            let hash = cx.hasher.hash(&p).await?;
            // An administrator's reset: no history or age rule, but expired at once under first-use.
            let facts = store::users::NewPassword {
                expires_at: passwords::expiry_of_new(rules, now, true, effective),
                set_at: now,
                self_service: false,
                keep: passwords::history_kept(rules),
            };
            (Some(Some(hash)), Some(facts))
        }
        Some(None) => {
            passwords::check_present(rules)?;
            (Some(None), None)
        }
        None => (None, None),
    };
    let changes = UserChanges {
        name: f.name,
        enabled: f.enabled,
        password_hash,
        default_project_id: f.default_project_id,
        extra: Some(merge_extra(&u, f.extra)?),
        options: options.map(|o| o.stored()),
        new_password,
        // Enabled (again): active from now and unlocked, as Keystone's enabled setter does.
        active_from: (f.enabled == Some(true)).then_some(now),
    };
    let events: Vec<Event> = revoke
        .then(|| Event::now(&cx.clock, RevKey::User(id.to_string())))
        .into_iter()
        .collect();
    let updated = store::users::update(&cx.db, &u, changes, &events).await?;
    cx.view.forget_user(id);
    crate::cluster::settle(cx, &events).await?;
    crate::credential::witness::after(cx, &events).await?;
    cx.audit_change(
        who,
        Operation::Updated,
        "user",
        id,
        &[("password", password)],
    );
    Ok(updated)
}

/// Delete a user and their grants; their tokens are revoked.
pub async fn delete(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    id: &str,
) -> DomainResult<()> {
    let u = load(cx, id).await?;
    enforce(Action::DeleteUser, caller, in_domain(&u.domain_id))?;
    let event = Event::now(&cx.clock, RevKey::User(id.to_string()));
    store::users::delete(&cx.db, u, &event).await?;
    cx.view.forget_user(id);
    crate::cluster::settle(cx, std::slice::from_ref(&event)).await?;
    crate::credential::witness::after(cx, &[event]).await?;
    cx.audit_change(who, Operation::Deleted, "user", id, &[]);
    Ok(())
}

/// A user changes their own password: the original password is the proof (no token needed, so an expired
/// password can still be changed), and a wrong one counts towards lockout and throttling as a failed login.
pub async fn change_password(
    cx: &Context,
    source: Option<std::net::IpAddr>,
    id: &str,
    original: Secret,
    new: &Secret,
) -> DomainResult<()> {
    crate::rules::check_len("user_id", id, 64)?;
    let proof = crate::auth::PasswordUser {
        id: Some(id.to_string()),
        name: None,
        domain: None,
        password: Some(original),
    };
    let u = crate::auth::check_password(cx, &proof, source, true).await?;
    let rules = &cx.config.auth.passwords;
    let now = cx.clock.now();
    let options = UserOptions::of(&u);
    passwords::check_requirements(rules, new.expose())?;
    passwords::check_self_service(rules, &u, &options, now)?;
    check_history(cx, &u, new).await?;
    let hash = cx.hasher.hash(new).await?;
    let facts = store::users::NewPassword {
        expires_at: passwords::expiry_of_new(rules, now, false, &options),
        set_at: now,
        self_service: true,
        keep: passwords::history_kept(rules),
    };
    let event = Event::now(&cx.clock, RevKey::User(id.to_string()));
    let changes = UserChanges {
        password_hash: Some(Some(hash)),
        new_password: Some(facts),
        ..Default::default()
    };
    store::users::update(&cx.db, &u, changes, std::slice::from_ref(&event)).await?;
    cx.view.forget_user(id);
    crate::cluster::settle(cx, &[event]).await?;
    let who = Initiator {
        user_id: Some(id.to_string()),
        source,
        method: Some("password".into()),
        ..Default::default()
    };
    cx.audit_change(
        &who,
        Operation::Updated,
        "user",
        id,
        &[("password", "changed")],
    );
    Ok(())
}

/// `unique_last_password_count`: the new password is none of the current one and the N-1 before it.
async fn check_history(cx: &Context, u: &User, new: &Secret) -> DomainResult<()> {
    let rules = &cx.config.auth.passwords;
    let n = u64::from(rules.unique_last_password_count);
    if n == 0 {
        return Ok(());
    }
    let mut hashes: Vec<String> = u.password_hash.iter().cloned().collect();
    hashes.extend(store::users::earlier_hashes(&cx.db, &u.id, n - 1).await?);
    for phc in &hashes {
        if cx.hasher.verify(&u.id, new, phc).await? {
            return Err(passwords::reused(rules));
        }
    }
    Ok(())
}

/// The projects a user holds a role on.
pub async fn projects(cx: &Context, caller: &Validated, id: &str) -> DomainResult<Vec<Project>> {
    let u = readable(cx, caller, id, Action::ListUserProjects).await?;
    store::users::projects(&cx.db, &u.id).await
}

/// The groups a user is in; a user may always list their own.
pub async fn groups(cx: &Context, caller: &Validated, id: &str) -> DomainResult<Vec<Group>> {
    let u = match readable(cx, caller, id, Action::ListGroupsForUser).await {
        Err(DomainError::Forbidden(_)) if id == caller.user.id => load(cx, id).await?,
        other => other?,
    };
    store::groups::of_user(&cx.db, &u.id).await
}

#[cfg(test)]
mod tests {
    use crate::error::DomainError;
    use crate::store;
    use crate::testing::context;

    /// A password change whose user is deleted while the new password is hashed: the write finds no user, and
    /// says so (404), instead of failing on the password history's foreign key (a 500 Schemathesis once found).
    #[tokio::test]
    async fn a_user_deleted_meanwhile_is_not_found_not_a_fault() {
        let t = context().await;
        let (id, _) = t.member("racer").await;
        let read = store::find::<crate::model::User>(&t.db, &id)
            .await
            .unwrap()
            .unwrap();
        let admin = t.admin().await;
        super::delete(&t, &admin, &t.admin_initiator(), &id)
            .await
            .unwrap();
        let changes = store::users::UserChanges {
            password_hash: Some(Some("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into())),
            new_password: Some(store::users::NewPassword {
                expires_at: None,
                set_at: t.clock.now(),
                self_service: false,
                keep: 3,
            }),
            ..Default::default()
        };
        let err = store::users::update(&t.db, &read, changes, &[])
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::NotFound(_)), "{err:?}");
    }
}
