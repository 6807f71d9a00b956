//! Service accounts (a Lintel extension): non-human users a project owns. Its managers create them with a subset
//! of their own roles on the project and manage their application credentials, which therefore outlive whoever
//! created them. Keystone refuses project-owned credentials because their creator would keep access after losing
//! their role; Lintel answers that by recording every person who saw a secret and marking the credential
//! "rotation required" when one of them loses access (`credential::witness_lost`), with an optional deadline after
//! which the secret they saw stops working (docs/service-accounts.md). Tokens still carry a `user_id`: every
//! OpenStack service works unmodified.

use crate::assignment::Target as GrantTarget;
use crate::audit::Initiator;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::model::User;
use crate::policy::{enforce, Action, Target};
use crate::store;
use crate::token::Validated;

/// A service account as a create request gives it.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewServiceAccount {
    /// Name, unique in the project's domain (as a user's).
    pub name: String,
    /// Roles (by name) it holds on the project: each one the creator holds there.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// May the caller manage `project_id`'s service accounts?
pub fn allowed(caller: &Validated, project_id: &str) -> DomainResult<()> {
    enforce(
        Action::ManageServiceAccounts,
        caller,
        Target {
            project_id: Some(project_id),
            ..Default::default()
        },
    )
}

/// Create a service account of `project_id` with `new.roles` on it.
pub async fn create(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    project_id: &str,
    new: NewServiceAccount,
) -> DomainResult<User> {
    allowed(caller, project_id)?;
    let project = crate::resource::projects::load(cx, project_id).await?;
    crate::rules::check_name(&new.name, crate::rules::NAME_MAX)?;
    let mut role_ids = Vec::new();
    for name in &new.roles {
        // Never more than the creator holds here (an admin holds what it grants).
        if !caller.has_role(name) && !caller.has_role("admin") {
            return Err(DomainError::Forbidden(format!(
                "A service account cannot be given the role {name}, which you do not hold on the project."
            )));
        }
        let role = store::assignments::role_by_name(&cx.db, name, None)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("Role {name} is not defined")))?;
        role_ids.push(role.id);
    }
    let now = cx.clock.now();
    let user = store::users::insert(
        &cx.db,
        User {
            id: crate::rules::new_id(),
            name: new.name,
            domain_id: project.domain_id.clone(),
            enabled: true,
            password_hash: None,
            default_project_id: Some(project_id.to_string()),
            extra: "{}".into(),
            password_expires_at: None,
            failed_auth_count: 0,
            last_failed_auth_at: None,
            created_at: now,
            options: None,
            last_active_at: Some(now),
            password_created_at: None,
            password_self_service: false,
            service_project_id: Some(project_id.to_string()),
        },
    )
    .await?;
    let grant = GrantTarget::Project(project_id.to_string());
    for role_id in &role_ids {
        let key = store::grants::GrantKey {
            grant: &grant,
            group: false,
            actor_id: &user.id,
        };
        store::grants::insert(&cx.db, &key, role_id).await?;
    }
    cx.view.forget_user(&user.id);
    cx.audit_change(
        who,
        crate::audit::Operation::Created,
        "service_account",
        &user.id,
        &[("project", project_id)],
    );
    Ok(user)
}

/// A project's service accounts.
pub async fn list(cx: &Context, caller: &Validated, project_id: &str) -> DomainResult<Vec<User>> {
    allowed(caller, project_id)?;
    crate::resource::projects::load(cx, project_id).await?;
    store::users::service_accounts(&cx.db, project_id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::{Bindings, NewCredential, Rejection};
    use crate::crypto::hashing::Secret;
    use crate::testing::{context_with, TestContext};

    fn new_cred(name: &str) -> NewCredential {
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

    async fn verdict(t: &TestContext, id: &str, secret: &Secret) -> Result<(), Rejection> {
        crate::credential::verify(t, id, secret, None)
            .await
            .unwrap()
            .map(drop)
    }

    /// A manager of the admin project, a service account it made with `member`, and a credential of it.
    async fn setup(t: &TestContext) -> (String, Validated, String, String, Secret) {
        let carol = t.user_with_role("carol", "carol pw", "manager").await;
        let manager = t.login_user(&carol, "carol pw").await;
        let sa = create(
            t,
            &manager,
            &t.admin_initiator(),
            &t.admin.project_id,
            NewServiceAccount {
                name: "ci-bot".into(),
                roles: vec!["member".into()],
            },
        )
        .await
        .unwrap();
        let (cred, secret) = crate::credential::create(t, &manager, None, &sa.id, new_cred("ci"))
            .await
            .unwrap();
        (carol, (*manager).clone(), sa.id, cred.model.id, secret)
    }

    #[tokio::test]
    async fn a_service_accounts_credential_outlives_its_creator_and_is_marked_for_rotation() {
        let t = context_with("").await;
        let (carol, _, sa, id, secret) = setup(&t).await;
        let cred = crate::credential::load(&t, &id).await.unwrap().unwrap();
        assert_eq!(cred.model.user_id, sa);
        assert!(cred.roles.iter().any(|r| r.name == "member"));
        let admin = t.admin().await;
        crate::identity::users::delete(&t, &admin, &t.admin_initiator(), &carol)
            .await
            .unwrap();
        assert_eq!(
            verdict(&t, &id, &secret).await,
            Ok(()),
            "survives its creator"
        );
        let cred = crate::credential::load(&t, &id).await.unwrap().unwrap();
        assert!(
            cred.model.rotation_required_at.is_some(),
            "marked: its creator is gone"
        );
    }

    #[tokio::test]
    async fn past_the_deadline_the_secret_a_lost_witness_saw_stops_until_rotated() {
        let t = context_with("[application_credential]\nrotation_deadline = 60\n").await;
        let (carol, _, sa, id, secret) = setup(&t).await;
        let dave = t.user_with_role("dave", "dave pw", "manager").await;
        // Carol loses her role on the project: her credential of the account must be rotated within a minute.
        t.set_role(
            &carol,
            "manager",
            crate::assignment::grants::GrantOp::Revoke,
        )
        .await
        .unwrap();
        assert_eq!(
            verdict(&t, &id, &secret).await,
            Ok(()),
            "within the deadline"
        );
        t.clock.advance(std::time::Duration::from_secs(61));
        assert_eq!(
            verdict(&t, &id, &secret).await,
            Err(Rejection::RotationOverdue)
        );
        let dave_t = t.login_user(&dave, "dave pw").await;
        let (_, fresh) = crate::credential::rotate(&t, &dave_t, None, &sa, &id, Default::default())
            .await
            .unwrap();
        assert_eq!(
            verdict(&t, &id, &fresh).await,
            Ok(()),
            "rotated by one who still has access"
        );
    }

    #[tokio::test]
    async fn only_a_manager_of_the_project_makes_one_and_never_beyond_its_own_roles() {
        let t = context_with("").await;
        let (_, member) = t.member("alice").await;
        let new = |roles: &[&str]| NewServiceAccount {
            name: "bot".into(),
            roles: roles.iter().map(|r| (*r).to_string()).collect(),
        };
        let err = create(
            &t,
            &member,
            &t.admin_initiator(),
            &t.admin.project_id,
            new(&[]),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
        let carol = t.user_with_role("carol", "carol pw", "manager").await;
        let manager = t.login_user(&carol, "carol pw").await;
        let err = create(
            &t,
            &manager,
            &t.admin_initiator(),
            &t.admin.project_id,
            new(&["admin"]),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
        assert!(list(&t, &member, &t.admin.project_id).await.is_err());
        assert!(list(&t, &manager, &t.admin.project_id)
            .await
            .unwrap()
            .is_empty());
    }
}
