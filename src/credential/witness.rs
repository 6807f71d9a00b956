//! Who saw a service account's secret, and what happens when they lose access: the credential is marked
//! "rotation required" (an audit event and a metric say so), and past `[application_credential]
//! rotation_deadline` the secret they saw stops working until someone who still has access rotates it.

use crate::assignment::{effective_roles, Target};
use crate::context::Context;
use crate::error::DomainResult;
use crate::model::{AppCred, User};
use crate::store;

/// After a change that may have taken `user_ids`' access away (a role, a group membership, the user itself):
/// mark the service-account credentials they saw whose project they no longer reach. How many were marked.
pub async fn lost(cx: &Context, user_ids: &[String]) -> DomainResult<u64> {
    let now = cx.clock.now();
    let mut marked = 0;
    for witness in user_ids {
        let mut due = Vec::new();
        for cred in store::credentials::witnessed_by(&cx.db, witness).await? {
            if cred.rotation_required_at.is_none() && !still_reaches(cx, witness, &cred).await? {
                due.push(cred.id);
            }
        }
        let n = store::credentials::require_rotation(&cx.db, &due, now).await?;
        if n > 0 {
            marked += n;
            for id in &due {
                cx.view.forget_credential(id);
                cx.audit_change(
                    &crate::audit::Initiator {
                        user_id: Some(witness.clone()),
                        ..Default::default()
                    },
                    crate::audit::Operation::Updated,
                    "application_credential",
                    id,
                    &[(
                        "rotation_required",
                        "a person who saw its secret lost access",
                    )],
                );
            }
            crate::metrics::metrics().rotations_required.inc_by(n);
        }
    }
    Ok(marked)
}

/// [`lost`] for the users a change's revocation events name (a role or membership taken away, a user disabled or
/// deleted): called once the change holds everywhere.
pub async fn after(cx: &Context, events: &[crate::token::revocation::Event]) -> DomainResult<u64> {
    use crate::token::revocation::RevKey;
    let mut users: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.key {
            RevKey::User(u) | RevKey::UserProject(u, _) => Some(u.clone()),
            _ => None,
        })
        .collect();
    users.sort();
    users.dedup();
    lost(cx, &users).await
}

/// Whether `witness` is still an enabled user with a role on the project of a service account's credential.
/// Only service accounts' credentials are watched: a person's own credential goes with the person.
async fn still_reaches(cx: &Context, witness: &str, cred: &AppCred) -> DomainResult<bool> {
    let owner = store::find::<User>(&cx.db, &cred.user_id).await?;
    if owner.is_none_or(|o| o.service_project_id.is_none()) {
        return Ok(true);
    }
    let Some(person) = store::find::<User>(&cx.db, witness).await? else {
        return Ok(false);
    };
    if !person.enabled {
        return Ok(false);
    }
    let target = Target::Project(cred.project_id.clone());
    Ok(!effective_roles(&cx.db, witness, &target).await?.is_empty())
}

/// Whether the current secret of a credential marked "rotation required" is past its deadline at `now`.
pub fn overdue(cx: &Context, cred: &AppCred, now: chrono::NaiveDateTime) -> bool {
    let deadline = cx.config.auth.app_cred_rotation_deadline;
    match (cred.rotation_required_at, deadline.is_zero()) {
        (Some(t), false) => now >= t + chrono::Duration::from_std(deadline).unwrap_or_default(),
        _ => false,
    }
}
