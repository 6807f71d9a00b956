//! Which client is asking: its proof (a secret, the connection's certificate, or a signed assertion) checked
//! against the credential it names.

use std::sync::Arc;

use super::{client_proof, AuthMethod, ClientAuth, Form, OAuthError, Proof};
use crate::audit::{Initiator, Outcome};
use crate::context::Context;
use crate::credential::{self, Credential};
use crate::transport::mtls::ClientCert;
use crate::view::UserView;

/// Authenticate the client with one of the enabled methods: a secret, the connection's certificate, or a
/// signed assertion. The attempt goes to the audit trail (a malformed request is not an attempt).
pub async fn authenticate(
    cx: &Context,
    source: Option<std::net::IpAddr>,
    authorization: Option<&[u8]>,
    cert: Option<&ClientCert>,
    form: &Form,
) -> Result<(Arc<Credential>, Arc<UserView>), OAuthError> {
    let enabled = |m| cx.config.oauth2_method(m);
    let proof = client_proof(authorization, form, cert.is_some(), enabled)?;
    if !cx.audit.is_on() {
        return verify_proof(cx, source, proof, cert).await;
    }
    let (credential_id, method) = match &proof {
        Proof::Secret(auth) => (auth.id.clone(), auth.method),
        Proof::Certificate(id) => (id.clone(), AuthMethod::TlsClientAuth),
        Proof::Assertion { id, .. } => (id.clone(), AuthMethod::PrivateKeyJwt),
    };
    let outcome = verify_proof(cx, source, proof, cert).await;
    let mut who = Initiator {
        source,
        method: Some(<&str>::from(method).to_string()),
        credential_id: Some(credential_id),
        ..Default::default()
    };
    let now = cx.clock.now();
    match &outcome {
        Ok((_, user)) => {
            who.user_id = Some(user.id.clone());
            cx.audit.authenticate(now, &who, Outcome::Success, None);
        }
        Err(OAuthError::SlowDown(_)) => {
            cx.audit
                .authenticate(now, &who, Outcome::Failure, Some("throttled"));
        }
        Err(OAuthError::InvalidClient | OAuthError::InvalidClientAssertion(_)) => {
            cx.audit
                .authenticate(now, &who, Outcome::Failure, Some("unauthenticated"));
        }
        Err(_) => {}
    }
    outcome
}

/// Check the client's proof.
async fn verify_proof(
    cx: &Context,
    source: Option<std::net::IpAddr>,
    proof: Proof,
    cert: Option<&ClientCert>,
) -> Result<(Arc<Credential>, Arc<UserView>), OAuthError> {
    let verdict = match proof {
        Proof::Secret(auth) => return verify_client(cx, &auth, source).await,
        // The other methods run boxed, so that their state does not enlarge the secret's future.
        Proof::Certificate(id) => match cert {
            Some(c) => Box::pin(credential::verify_certificate(cx, &id, c, source)).await,
            None => return Err(OAuthError::InvalidClient),
        },
        Proof::Assertion { id, assertion } => {
            Box::pin(credential::verify_assertion(cx, &id, &assertion.0, source)).await
        }
    };
    match verdict.map_err(OAuthError::from)? {
        Ok(found) => Ok(found),
        Err(credential::Rejection::Assertion(why)) => {
            Err(OAuthError::InvalidClientAssertion(why.to_string()))
        }
        Err(_) => Err(OAuthError::InvalidClient),
    }
}

/// Verify the client, trying the form-decoded reading of a Basic header when the first reading fails.
async fn verify_client(
    cx: &Context,
    auth: &ClientAuth,
    source: Option<std::net::IpAddr>,
) -> Result<(Arc<Credential>, Arc<UserView>), OAuthError> {
    // Two readings of one header are one attempt for throttling: only the last failure counts.
    let first = credential::verify_counting(
        cx,
        &auth.id,
        &auth.secret.secret(),
        source,
        auth.decoded.is_none(),
    )
    .await
    .map_err(OAuthError::from)?;
    match first {
        Ok(found) => return Ok(found),
        Err(credential::Rejection::Throttled(wait)) => {
            return Err(OAuthError::SlowDown(wait.as_secs().max(1)))
        }
        Err(_) => {}
    }
    if let Some((id, secret)) = &auth.decoded {
        // Rare (a client that form-encoded its Basic credentials): boxed, off the common future.
        if let Ok(found) = Box::pin(credential::verify(cx, id, &secret.secret(), source))
            .await
            .map_err(OAuthError::from)?
        {
            return Ok(found);
        }
    }
    Err(OAuthError::InvalidClient)
}
