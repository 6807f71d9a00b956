//! The password method: finding the user a request names, and checking its password with Keystone's rules
//! (lockout, expiry, first use) and the per-source throttle.

use crate::model::{Domain, User};

use super::request::*;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::store;

/// Resolve a domain reference by id or name.
pub async fn resolve_domain(cx: &Context, r: &NamedRef) -> DomainResult<Domain> {
    let found = if let Some(id) = &r.id {
        store::find::<Domain>(&cx.db, id).await?
    } else if let Some(name) = &r.name {
        store::domains::by_name(&cx.db, name).await?
    } else {
        return Err(DomainError::Invalid(
            "Expecting to find domain id or name in request body.".into(),
        ));
    };
    found.ok_or_else(|| DomainError::unauthorized_msg(AUTH_FAILED))
}

/// Keystone's message for failed authentication.
pub(crate) const AUTH_FAILED: &str = "The request you have made requires authentication.";

/// The user a password request names; None when there is no such user (or no such domain).
pub(crate) async fn find_user(cx: &Context, u: &PasswordUser) -> DomainResult<Option<User>> {
    let found = if let Some(id) = &u.id {
        store::find::<User>(&cx.db, id).await?
    } else if let Some(name) = &u.name {
        let domain = u.domain.as_ref().ok_or_else(|| {
            DomainError::Invalid("Expecting to find domain in user. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.".into())
        })?;
        let d = match resolve_domain(cx, domain).await {
            Ok(d) => d,
            Err(DomainError::Unauthenticated(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        store::users::by_name(&cx.db, &d.id, name).await?
    } else {
        return Err(DomainError::Invalid("Expecting to find name or ID in user. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.".into()));
    };
    Ok(found)
}

/// The throttle key of the user a password request names, known before any lookup: `user:ID` (what a found user
/// is throttled by too), or the domain and the name, each length-prefixed so that no two pairs make one key.
pub(crate) fn named_key(u: &PasswordUser) -> String {
    if let Some(id) = &u.id {
        return format!("user:{id}");
    }
    let name = u.name.as_deref().unwrap_or("");
    let domain = match u.domain.as_ref() {
        Some(NamedRef { id: Some(id), .. }) => format!("id={id}"),
        Some(NamedRef { name: Some(n), .. }) => format!("name={n}"),
        _ => String::new(),
    };
    format!("user-name:{}:{domain}:{name}", domain.len())
}

/// Check a password, with Keystone's lockout rules and throttling. Returns the user on success. An expired
/// password still proves who the user is when `expired_ok` (to change it, the one thing it is still good for).
pub async fn check_password(
    cx: &Context,
    u: &PasswordUser,
    source: Option<std::net::IpAddr>,
    expired_ok: bool,
) -> DomainResult<User> {
    let password = u
        .password
        .as_ref()
        .ok_or_else(|| DomainError::unauthorized_msg(AUTH_FAILED))?;
    // Throttled before any lookup: a refused guess costs no query. Failures count against what the request
    // names and, once found, against the user, so switching between a user's id and name gains nothing.
    let named = named_key(u);
    if let Some(wait) = cx.throttle.check(&named, source) {
        return Err(DomainError::Throttled(wait.as_secs().max(1)));
    }
    let Some(found) = find_user(cx, u).await? else {
        // An unknown name costs what a wrong password costs and counts against the source like one, so names
        // cannot be probed for free.
        cx.hasher.verify_nothing(password).await?;
        cx.throttle.failed(&named, source);
        return Err(DomainError::unauthorized_msg(AUTH_FAILED));
    };
    let cfg = &cx.config;
    let now = cx.clock.now();
    let options = crate::identity::passwords::UserOptions::of(&found);
    // Keystone's order: locked (even the right password is refused), wrong password, disabled, expired.
    if crate::identity::passwords::locked_until(&cfg.auth, &found, &options, now).is_some() {
        return Err(DomainError::unauthorized_msg(format!(
            "The account is locked for user: {}.",
            found.id
        )));
    }
    let user_key = format!("user:{}", found.id);
    let keys: &[&str] = if user_key == named {
        &[&named]
    } else {
        &[&named, &user_key]
    };
    if let Some(wait) = cx.throttle.check(&user_key, source) {
        if user_key != named {
            // The user is throttled for this source by another form of its name: the next request in this form
            // is refused before the lookup.
            cx.throttle.failed(&named, source);
        }
        return Err(DomainError::Throttled(wait.as_secs().max(1)));
    }
    let ok = match &found.password_hash {
        Some(phc) => cx.hasher.verify(&found.id, password, phc).await?,
        None => false,
    };
    if ok {
        for k in keys {
            cx.throttle.succeeded(k, source);
        }
        if let Some(old) = found.password_hash.as_deref() {
            if crate::crypto::legacy_hash::is_legacy(old) {
                // Keystone's hash verified: from now on the password is kept as argon2id. Best effort: the
                // password is right either way, and the next successful use tries again.
                let upgraded = async {
                    let new = cx.hasher.hash(password).await?;
                    store::users::replace_hash(&cx.db, &found.id, old, &new).await
                };
                match upgraded.await {
                    Ok(()) => cx.view.forget_user(&found.id),
                    Err(e) => crate::crypto::legacy_hash::upgrade_failed("user", &found.id, &e),
                }
            }
        }
    } else {
        for k in keys {
            cx.throttle.failed(k, source);
        }
    }
    if !ok {
        if cfg.auth.lockout_failure_attempts > 0 {
            let limit = i32::try_from(cfg.auth.lockout_failure_attempts).unwrap_or(i32::MAX);
            store::users::count_failed_login(&cx.db, &found.id, limit, now).await?;
        }
        return Err(DomainError::unauthorized_msg(AUTH_FAILED));
    }
    if !crate::identity::passwords::is_enabled(&cfg.auth.passwords, &found, now) {
        return Err(DomainError::unauthorized_msg(format!(
            "The account is disabled for user: {}.",
            found.id
        )));
    }
    if !expired_ok && crate::identity::passwords::is_expired(&found, &options, now) {
        return Err(DomainError::unauthorized_msg(format!(
            "The password is expired and needs to be changed for user: {}.",
            found.id
        )));
    }
    if found.last_active_at.is_none_or(|t| t.date() < now.date()) {
        // Active today (disable_user_account_days_inactive): written once a day per user, off the request.
        let (db, id) = (cx.db.clone(), found.id.clone());
        tokio::spawn(async move {
            if let Err(e) = store::users::touch_active(&db, &id, now).await {
                tracing::warn!(error = %e, user = %id, "recording the user's activity failed");
            }
        });
    }
    if found.failed_auth_count != 0 {
        store::users::clear_failed_logins(&cx.db, &found.id).await?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_name(domain: NamedRef, name: &str) -> PasswordUser {
        PasswordUser {
            id: None,
            name: Some(name.into()),
            domain: Some(domain),
            password: None,
        }
    }

    fn domain_named(n: &str) -> NamedRef {
        NamedRef {
            name: Some(n.into()),
            ..NamedRef::default()
        }
    }

    #[test]
    fn throttle_keys_name_one_user_each() {
        let by_id = PasswordUser {
            id: Some("u1".into()),
            name: None,
            domain: None,
            password: None,
        };
        assert_eq!(
            named_key(&by_id),
            "user:u1",
            "an id is the found user's own key"
        );
        let id_ref = NamedRef {
            id: Some("default".into()),
            ..NamedRef::default()
        };
        assert_ne!(
            named_key(&by_name(id_ref, "admin")),
            named_key(&by_name(domain_named("default"), "admin")),
            "a domain's id and a domain's name are different references"
        );
        // However a name is split between domain and user, each pair has a key of its own.
        assert_ne!(
            named_key(&by_name(domain_named("a:b"), "c")),
            named_key(&by_name(domain_named("a"), "b:c"))
        );
    }
}
