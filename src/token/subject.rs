//! Operations on another token (the subject of `X-Subject-Token`): who may look at it or revoke it. A caller may
//! when the policy lets it act on the subject's user; a service may on the caller's behalf when the token it sends
//! beside (`X-Service-Token`, as keystonemiddleware does) passes the same rule.

use std::net::IpAddr;
use std::sync::Arc;

use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::policy::{self, Action, Target};
use crate::token::revocation::{Event, RevKey};
use crate::token::TokenError;
use crate::token::Validated;
use crate::transport::mtls::ClientCert;

/// Who asks about a subject token: the caller, and what came beside it.
pub struct Asker<'a> {
    /// The validated caller (`X-Auth-Token`).
    pub caller: &'a Validated,
    /// The service token sent beside, unvalidated.
    pub service_token: Option<&'a str>,
    /// The client certificate of the connection (for certificate-bound service tokens).
    pub cert: Option<&'a ClientCert>,
    /// Whether the asker enforces access rules (it announced `OpenStack-Identity-Access-Rules` ≥ 1.0).
    pub enforces_access_rules: bool,
}

/// Validate `token` for `asker`: the subject's facts if the asker may see them.
pub async fn validate(
    cx: &Context,
    asker: &Asker<'_>,
    token: &str,
    allow_expired: bool,
) -> DomainResult<Arc<Validated>> {
    let v = crate::token::validate(cx, token, allow_expired)
        .await
        .map_err(not_found)?;
    authorize(cx, asker, Action::ValidateToken, &v.user.id).await?;
    let has_rules = v
        .app_cred
        .as_ref()
        .is_some_and(|ac| !ac.access_rules.is_empty());
    if has_rules && !asker.enforces_access_rules {
        // A validator that cannot enforce access rules must not be handed a token that has them.
        return Err(not_found(TokenError::Revoked));
    }
    Ok(v)
}

/// Revoke `token` for `asker`: an event on its audit id, held on every node before this returns.
pub async fn revoke(
    cx: &Context,
    asker: &Asker<'_>,
    source: Option<IpAddr>,
    token: &str,
) -> DomainResult<()> {
    let v = crate::token::validate(cx, token, false)
        .await
        .map_err(not_found)?;
    authorize(cx, asker, Action::RevokeToken, &v.user.id).await?;
    let event = Event::now(
        &cx.clock,
        RevKey::Audit(v.data.audit_ids.first().cloned().unwrap_or_default()),
    );
    crate::token::revocation::revoke(cx, &asker.caller.initiator(source), &[event]).await
}

/// A subject token that does not validate is "not found", as Keystone answers; an outage stays an outage.
pub fn not_found(e: TokenError) -> DomainError {
    match e {
        TokenError::Unavailable => e.into_domain(),
        _ => DomainError::NotFound(e.to_string()),
    }
}

/// May the asker (or the service token beside it) `action` tokens of `subject_user`?
async fn authorize(
    cx: &Context,
    asker: &Asker<'_>,
    action: Action,
    subject_user: &str,
) -> DomainResult<()> {
    let target = Target {
        user_id: Some(subject_user),
        ..Default::default()
    };
    let denied = match policy::enforce(action, asker.caller, target) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    if let Some(service) = asker.service_token {
        match crate::token::validate_presented(cx, service.trim(), asker.cert).await {
            Ok(s) if policy::enforce(action, &s, target).is_ok() => return Ok(()),
            Err(e @ TokenError::Unavailable) => return Err(e.into_domain()),
            _ => {}
        }
    }
    Err(denied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::context;

    fn asker<'a>(caller: &'a Validated, service_token: Option<&'a str>) -> Asker<'a> {
        Asker {
            caller,
            service_token,
            cert: None,
            enforces_access_rules: true,
        }
    }

    #[tokio::test]
    async fn a_user_sees_its_own_tokens_and_a_service_token_beside_sees_others() {
        let t = context().await;
        let (alice, alice_t) = t.member("alice").await;
        let (bob, bob_t) = t.member("bob").await;
        let alice_token = t.tokens.issue(&alice_t.data);
        let bob_token = t.tokens.issue(&bob_t.data);

        let v = validate(&t, &asker(&alice_t, None), &alice_token, false)
            .await
            .unwrap();
        assert_eq!(v.user.id, alice);
        let err = validate(&t, &asker(&alice_t, None), &bob_token, false)
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
        // keystonemiddleware sends its own (admin) token beside the user's.
        let service = t.tokens.issue(&t.admin().await.data);
        let beside = asker(&alice_t, Some(&service));
        assert_eq!(
            validate(&t, &beside, &bob_token, false)
                .await
                .unwrap()
                .user
                .id,
            bob
        );
        // A service token that does not validate adds nothing.
        let err = validate(&t, &asker(&alice_t, Some("garbage")), &bob_token, false)
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_revoked_token_is_not_found_and_so_is_garbage() {
        let t = context().await;
        let admin = t.admin().await;
        let token = t.tokens.issue(&admin.data);
        revoke(&t, &asker(&admin, None), None, &token)
            .await
            .unwrap();
        for subject in [token.as_str(), "not-a-token"] {
            let err = validate(&t, &asker(&admin, None), subject, false)
                .await
                .unwrap_err();
            assert!(matches!(err, DomainError::NotFound(_)), "{err:?}");
        }
    }
}
