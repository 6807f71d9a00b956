//! Managing application credentials on a caller's behalf: who may create, see and delete which credential, as
//! Keystone decides it. The policy rule, the owner rule (someone else's credential is a 403, an unknown one a 404),
//! the refusal of restricted credentials' tokens and the project-scope requirement all live here, so every path
//! that manages credentials applies them, and a unit test can prove each without a server.

use super::{Credential, NewCredential};
use crate::context::Context;
use crate::crypto::hashing::Secret;
use crate::error::{DomainError, DomainResult};
use crate::model::AccessRule;
use crate::policy::{enforce, Action, Target};
use crate::token::Validated;
use std::net::IpAddr;

/// Keystone's refusal of a restricted credential's token managing credentials.
const RESTRICTED: &str = "You are not authorized to perform the requested action: Using method \
                          'application_credential' is not allowed for managing additional application credentials.";

/// Create a credential for `user_id` on the caller's project, with at most the caller's roles; or, for a service
/// account, by a manager of its project, on that project with at most the account's roles.
pub async fn create(
    cx: &Context,
    caller: &Validated,
    source: Option<IpAddr>,
    user_id: &str,
    new: NewCredential,
) -> DomainResult<(Credential, Secret)> {
    let who = caller.initiator(source);
    let default_rate = cx.config.oauth2.credential_issue_rate;
    if new
        .issue_rate
        .is_some_and(|r| default_rate > 0 && r > default_rate)
    {
        enforce(Action::RaiseIssueRate, caller, Target::default())?;
    }
    if let Err(denied) = owner_rule(caller, Action::CreateApplicationCredential, user_id) {
        let project_id = managed_service_account(cx, caller, user_id)
            .await?
            .ok_or(denied)?;
        refuse_restricted(cx, caller).await?;
        let target = crate::assignment::Target::Project(project_id.clone());
        let roles = crate::assignment::effective_roles(&cx.db, user_id, &target).await?;
        return super::insert(cx, &who, user_id, &project_id, &roles, new).await;
    }
    refuse_restricted(cx, caller).await?;
    let project_id = caller.project_id().ok_or_else(|| {
        DomainError::Invalid(
            "Application credentials must be created with a project-scoped token.".into(),
        )
    })?;
    super::insert(cx, &who, user_id, project_id, &caller.data.role_ids, new).await
}

/// The project of `user_id` when it is a service account the caller manages.
async fn managed_service_account(
    cx: &Context,
    caller: &Validated,
    user_id: &str,
) -> DomainResult<Option<String>> {
    let Some(user) = crate::store::find::<crate::model::User>(&cx.db, user_id).await? else {
        return Ok(None);
    };
    Ok(user
        .service_project_id
        .filter(|p| crate::identity::service_accounts::allowed(caller, p).is_ok()))
}

/// `action` on what `user_id` owns: the owner's (or a reader's or admin's, by the policy), or a service account's
/// manager's.
async fn owner_or_manager(
    cx: &Context,
    caller: &Validated,
    action: Action,
    user_id: &str,
) -> DomainResult<()> {
    match owner_rule(caller, action, user_id) {
        Ok(()) => Ok(()),
        Err(denied) => match managed_service_account(cx, caller, user_id).await? {
            Some(_) => Ok(()),
            None => Err(denied),
        },
    }
}

/// A user's credentials, optionally only the one with `name`.
pub async fn list_of(
    cx: &Context,
    caller: &Validated,
    user_id: &str,
    name: Option<&str>,
) -> DomainResult<Vec<Credential>> {
    owner_or_manager(cx, caller, Action::ListApplicationCredentials, user_id).await?;
    super::list(cx, user_id, name).await
}

/// One credential of `user_id`'s.
pub async fn get(
    cx: &Context,
    caller: &Validated,
    user_id: &str,
    id: &str,
) -> DomainResult<Credential> {
    owned(cx, caller, user_id, id, Action::GetApplicationCredential).await
}

/// Delete one of `user_id`'s credentials, revoking its tokens.
pub async fn remove(
    cx: &Context,
    caller: &Validated,
    source: Option<IpAddr>,
    user_id: &str,
    id: &str,
) -> DomainResult<()> {
    let cred = owned(cx, caller, user_id, id, Action::DeleteApplicationCredential).await?;
    refuse_restricted(cx, caller).await?;
    super::delete(cx, &caller.initiator(source), &cred).await
}

/// Give one of `user_id`'s credentials a new secret under the same id (a Lintel extension). The current secret
/// keeps working for `grace` (at most [`MAX_GRACE`]), then retires on its own; a second rotation while it works is
/// refused, so a credential never has more than two live secrets.
pub async fn rotate(
    cx: &Context,
    caller: &Validated,
    source: Option<IpAddr>,
    user_id: &str,
    id: &str,
    rotation: Rotation,
) -> DomainResult<(Credential, Secret)> {
    let cred = owned(cx, caller, user_id, id, Action::RotateApplicationCredential).await?;
    refuse_restricted(cx, caller).await?;
    let now = cx.clock.now();
    let m = &cred.model;
    if let Some(until) = m.prior_secret_retires_at.filter(|t| *t > now) {
        return Err(DomainError::Conflict(format!(
            "Application credential {id} was rotated at {}; its previous secret works until {}. It can be \
             rotated again after that.",
            crate::auth::iso(m.rotated_at.unwrap_or(now)),
            crate::auth::iso(until)
        )));
    }
    let grace = rotation
        .grace
        .unwrap_or(cx.config.auth.app_cred_rotation_grace);
    if grace > MAX_GRACE {
        return Err(DomainError::validation(format!(
            "grace_period. {} is more than the {} seconds allowed",
            grace.as_secs(),
            MAX_GRACE.as_secs()
        )));
    }
    let jwks = rotation
        .jwks
        .as_ref()
        .map(super::checked_jwks)
        .transpose()?;
    if jwks.is_some() && m.jwks.is_none() {
        return Err(DomainError::validation(
            "application_credential.jwks. This credential has no private_key_jwt keys to roll over",
        ));
    }
    let secret = super::generate_secret();
    let hash = cx.hasher.hash(&secret).await?;
    let retires = now + chrono::Duration::from_std(grace).unwrap_or_default();
    let rotated = crate::store::credentials::rotate(
        &cx.db,
        crate::store::credentials::Rotated {
            id,
            old_hash: &m.secret_hash,
            new_hash: &hash,
            jwks: jwks.as_deref(),
            now,
            retires_at: retires,
            rotator: &caller.user.id,
        },
    );
    if !rotated.await? {
        return Err(DomainError::Conflict(format!(
            "Application credential {id} changed while it was rotated; try again."
        )));
    }
    // Here and on every other node: the view reads the new hashes, and vouches are weighed against them.
    cx.secrets.forget(id);
    cx.view.forget_credential(id);
    cx.audit_change(
        &caller.initiator(source),
        crate::audit::Operation::Updated,
        "application_credential",
        id,
        &[
            (
                "rotated",
                if jwks.is_some() {
                    "secret,jwks"
                } else {
                    "secret"
                },
            ),
            ("user", user_id),
        ],
    );
    let cred = super::load(cx, id)
        .await?
        .ok_or_else(|| DomainError::not_found("Application Credential", id))?;
    Ok((cred, secret))
}

/// What a rotation may change beside the secret.
#[derive(Debug, Default)]
pub struct Rotation {
    /// How long the previous secret (and keys) keep working; `[application_credential] rotation_grace` if unset.
    pub grace: Option<std::time::Duration>,
    /// New `private_key_jwt` keys, for a credential that has some.
    pub jwks: Option<serde_json::Value>,
}

/// The longest a previous secret may keep working after a rotation.
pub const MAX_GRACE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// A user's access rules.
pub async fn rules(
    cx: &Context,
    caller: &Validated,
    user_id: &str,
) -> DomainResult<Vec<AccessRule>> {
    owner_rule(caller, Action::ListAccessRules, user_id)?;
    super::rules_of(cx, user_id).await
}

/// One of a user's access rules.
pub async fn rule(
    cx: &Context,
    caller: &Validated,
    user_id: &str,
    id: &str,
) -> DomainResult<AccessRule> {
    owner_rule(caller, Action::GetAccessRule, user_id)?;
    super::rules_of(cx, user_id)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| DomainError::not_found("Access Rule", id))
}

/// Delete one of a user's access rules that no credential uses.
pub async fn remove_rule(
    cx: &Context,
    caller: &Validated,
    source: Option<IpAddr>,
    user_id: &str,
    id: &str,
) -> DomainResult<()> {
    owner_rule(caller, Action::DeleteAccessRule, user_id)?;
    super::delete_rule(cx, &caller.initiator(source), user_id, id).await
}

/// `action` on what `user_id` owns (the owner passes every such rule; readers and admins by the policy).
fn owner_rule(caller: &Validated, action: Action, user_id: &str) -> DomainResult<()> {
    enforce(
        action,
        caller,
        Target {
            user_id: Some(user_id),
            ..Default::default()
        },
    )
}

/// The credential `id` if it is `user_id`'s and the caller may `action` it. Someone else's credential (whichever
/// user's path is used) is a 403 unless the policy lets the caller act on any, as in Keystone; an unknown one a 404.
async fn owned(
    cx: &Context,
    caller: &Validated,
    user_id: &str,
    id: &str,
    action: Action,
) -> DomainResult<Credential> {
    match super::load(cx, id).await? {
        Some(cred) if cred.model.user_id == user_id => {
            owner_or_manager(cx, caller, action, user_id).await?;
            Ok(cred)
        }
        Some(cred)
            if cred.model.user_id != caller.user.id
                && enforce(action, caller, Target::default()).is_err() =>
        {
            Err(DomainError::forbidden_action(action))
        }
        _ => Err(DomainError::not_found("Application Credential", id)),
    }
}

/// Keystone forbids managing credentials with a restricted credential's token (and with one whose credential is
/// gone).
async fn refuse_restricted(cx: &Context, caller: &Validated) -> DomainResult<()> {
    let Some(id) = &caller.data.app_cred_id else {
        return Ok(());
    };
    let restricted = super::load(cx, id)
        .await?
        .is_none_or(|cred| cred.restricted());
    if restricted {
        return Err(DomainError::Forbidden(RESTRICTED.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::{Bindings, RoleRef};
    use crate::testing::{context, TestContext};
    use serde_json::json;

    fn new(name: &str) -> NewCredential {
        NewCredential {
            name: name.into(),
            description: None,
            secret: None,
            expires_at: None,
            roles: Vec::new(),
            unrestricted: None,
            access_rules: Vec::new(),
            bindings: Bindings::default(),
            issue_rate: None,
        }
    }

    async fn app_cred_login(t: &TestContext, id: &str, secret: &Secret) -> Arc<Validated> {
        t.login(
            json!({"methods": ["application_credential"],
                   "application_credential": {"id": id, "secret": secret.expose()}}),
            None,
        )
        .await
        .expect("application credential login")
    }

    use std::sync::Arc;

    /// The error is a 400 whose message says `what`.
    fn says_invalid(err: DomainError, what: &str) {
        assert!(
            matches!(&err, DomainError::Invalid(m) if m.contains(what)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn binds_the_callers_project_and_roles_with_what_they_imply() {
        let t = context().await;
        let (alice, caller) = t.member("alice").await;
        let (cred, _) = create(&t, &caller, None, &alice, new("ci")).await.unwrap();
        assert_eq!(cred.model.project_id, t.admin.project_id);
        let mut names: Vec<String> = cred.roles.iter().map(|r| r.name.clone()).collect();
        names.sort();
        assert_eq!(names, ["member", "reader"], "member implies reader");
    }

    #[tokio::test]
    async fn a_rate_above_the_operators_default_is_an_admins_to_give() {
        let t = crate::testing::context_with("[oauth2]\ncredential_issue_rate = 10\n").await;
        let (alice, caller) = t.member("alice").await;
        let rated = |name: &str, r: u32| NewCredential {
            issue_rate: Some(r),
            ..new(name)
        };
        let (cred, _) = create(&t, &caller, None, &alice, rated("slow", 5))
            .await
            .unwrap();
        assert_eq!(cred.model.issue_rate, Some(5), "lower: anyone's own choice");
        let err = create(&t, &caller, None, &alice, rated("fast", 20))
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
        let err = create(&t, &caller, None, &alice, rated("zero", 0))
            .await
            .unwrap_err();
        says_invalid(err, "issue_rate");
        let admin = t.admin().await;
        let admin_id = admin.user.id.clone();
        let (cred, _) = create(&t, &admin, None, &admin_id, rated("batch", 20))
            .await
            .unwrap();
        assert_eq!(cred.model.issue_rate, Some(20));
    }

    #[tokio::test]
    async fn refuses_a_role_the_caller_does_not_hold() {
        let t = context().await;
        let (alice, caller) = t.member("alice").await;
        let mut req = new("ci");
        req.roles = vec![RoleRef::Name("admin".into())];
        says_invalid(
            create(&t, &caller, None, &alice, req).await.unwrap_err(),
            "unassigned role",
        );
    }

    #[tokio::test]
    async fn someone_elses_credentials_are_forbidden_and_unknown_ones_not_found() {
        let t = context().await;
        let (alice, alice_t) = t.member("alice").await;
        let (bob, bob_t) = t.member("bob").await;
        let (cred, _) = create(&t, &alice_t, None, &alice, new("ci")).await.unwrap();
        let id = cred.model.id.as_str();
        for err in [
            create(&t, &bob_t, None, &alice, new("x"))
                .await
                .unwrap_err(),
            get(&t, &bob_t, &alice, id).await.unwrap_err(),
            get(&t, &bob_t, &bob, id).await.unwrap_err(),
            remove(&t, &bob_t, None, &alice, id).await.unwrap_err(),
        ] {
            assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
        }
        let err = get(&t, &bob_t, &bob, "no-such-id").await.unwrap_err();
        assert!(matches!(err, DomainError::NotFound(_)), "{err:?}");
        // The admin may look at anyone's.
        let admin = t.admin().await;
        assert_eq!(get(&t, &admin, &alice, id).await.unwrap().model.id, id);
    }

    #[tokio::test]
    async fn a_restricted_credentials_token_cannot_manage_credentials() {
        let t = context().await;
        let (alice, caller) = t.member("alice").await;
        let (restricted, secret) = create(&t, &caller, None, &alice, new("r")).await.unwrap();
        let via = app_cred_login(&t, &restricted.model.id, &secret).await;
        let err = create(&t, &via, None, &alice, new("x")).await.unwrap_err();
        assert!(
            matches!(&err, DomainError::Forbidden(m) if m == RESTRICTED),
            "{err:?}"
        );
        let err = remove(&t, &via, None, &alice, &restricted.model.id)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DomainError::Forbidden(m) if m == RESTRICTED),
            "{err:?}"
        );

        let mut open = new("u");
        open.unrestricted = Some(true);
        let (unrestricted, secret) = create(&t, &caller, None, &alice, open).await.unwrap();
        let via = app_cred_login(&t, &unrestricted.model.id, &secret).await;
        create(&t, &via, None, &alice, new("made by a credential"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn needs_a_project_scoped_token_and_a_future_expiry() {
        let t = context().await;
        let (alice, caller) = t.member("alice").await;
        let unscoped = t
            .login(
                json!({"methods": ["password"], "password": {"user": {"id": alice, "password": "alicealice"}}}),
                None,
            )
            .await
            .unwrap();
        says_invalid(
            create(&t, &unscoped, None, &alice, new("ci"))
                .await
                .unwrap_err(),
            "project-scoped",
        );
        let mut past = new("ci");
        past.expires_at = Some(t.clock.now() - chrono::Duration::seconds(1));
        says_invalid(
            create(&t, &caller, None, &alice, past).await.unwrap_err(),
            "must not be before now",
        );
    }

    #[tokio::test]
    async fn deleting_revokes_its_tokens_at_once() {
        let t = context().await;
        let (alice, caller) = t.member("alice").await;
        let (cred, secret) = create(&t, &caller, None, &alice, new("ci")).await.unwrap();
        let data = crate::auth::authenticate(
            &t,
            serde_json::from_value(json!({"identity": {"methods": ["application_credential"],
                "application_credential": {"id": cred.model.id, "secret": secret.expose()}}}))
            .unwrap(),
            None,
        )
        .await
        .unwrap();
        let token = t.tokens.issue(&data);
        crate::token::validate(&t, &token, false).await.unwrap();
        remove(&t, &caller, None, &alice, &cred.model.id)
            .await
            .unwrap();
        assert!(crate::token::validate(&t, &token, false).await.is_err());
        let err = get(&t, &caller, &alice, &cred.model.id).await.unwrap_err();
        assert!(matches!(err, DomainError::NotFound(_)), "{err:?}");
    }

    async fn works(t: &TestContext, id: &str, secret: &Secret) -> bool {
        matches!(
            crate::credential::verify(t, id, secret, None).await,
            Ok(Ok(_))
        )
    }

    fn grace(d: std::time::Duration) -> Rotation {
        Rotation {
            grace: Some(d),
            jwks: None,
        }
    }

    #[tokio::test]
    async fn a_rotation_keeps_the_id_and_retires_the_old_secret_after_its_grace() {
        let t = context().await;
        let (alice, caller) = t.member("alice").await;
        let (cred, old) = create(&t, &caller, None, &alice, new("ci")).await.unwrap();
        let id = cred.model.id.clone();
        assert!(works(&t, &id, &old).await, "vouched from now on");

        let hour = std::time::Duration::from_secs(3600);
        let (rotated, fresh) = rotate(&t, &caller, None, &alice, &id, grace(hour))
            .await
            .unwrap();
        assert_eq!(rotated.model.id, id);
        assert_ne!(fresh.expose(), old.expose());
        assert!(
            works(&t, &id, &fresh).await && works(&t, &id, &old).await,
            "both during the grace"
        );
        let err = rotate(&t, &caller, None, &alice, &id, Rotation::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DomainError::Conflict(m) if m.contains("rotated again after")),
            "{err:?}"
        );

        t.clock.advance(hour + std::time::Duration::from_secs(1));
        // The old secret is in the verified-secret cache: the vouch no longer counts once its hash retired.
        assert!(!works(&t, &id, &old).await, "retired");
        assert!(works(&t, &id, &fresh).await);
        // A second rotation is allowed now, and never beyond seven days of grace.
        let err = rotate(&t, &caller, None, &alice, &id, grace(MAX_GRACE * 2))
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::Invalid(_)), "{err:?}");
        rotate(&t, &caller, None, &alice, &id, Rotation::default())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn only_the_owner_rotates_and_never_with_a_restricted_credentials_token() {
        let t = context().await;
        let (alice, alice_t) = t.member("alice").await;
        let (_, bob_t) = t.member("bob").await;
        let (cred, secret) = create(&t, &alice_t, None, &alice, new("ci")).await.unwrap();
        let id = cred.model.id.clone();
        let err = rotate(&t, &bob_t, None, &alice, &id, Rotation::default())
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
        let via = app_cred_login(&t, &id, &secret).await;
        let err = rotate(&t, &via, None, &alice, &id, Rotation::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DomainError::Forbidden(m) if m == RESTRICTED),
            "{err:?}"
        );
    }
}
