//! Which client is asking: its proof (a secret, the connection's certificate, or a signed assertion) checked
//! against the credential it names.

use std::sync::Arc;

use super::{client_proof, ClientAuth, Form, OAuthError, Proof};
use crate::credential::{self, Credential};
use crate::mtls::ClientCert;
use crate::state::AppState;
use crate::view::UserView;

/// Authenticate the client with one of the enabled methods: a secret, the connection's certificate, or a
/// signed assertion.
pub async fn authenticate(
    state: &AppState,
    source: Option<std::net::IpAddr>,
    authorization: Option<&[u8]>,
    cert: Option<&ClientCert>,
    form: &Form,
) -> Result<(Arc<Credential>, Arc<UserView>), OAuthError> {
    let enabled = |m| state.config.oauth2_method(m);
    let verdict = match client_proof(authorization, form, cert.is_some(), enabled)? {
        Proof::Secret(auth) => return verify_client(state, &auth, source).await,
        Proof::Certificate(id) => match cert {
            Some(c) => credential::verify_certificate(state, &id, c).await,
            None => return Err(OAuthError::InvalidClient),
        },
        Proof::Assertion { id, assertion } => {
            credential::verify_assertion(state, &id, &assertion.0).await
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
    state: &AppState,
    auth: &ClientAuth,
    source: Option<std::net::IpAddr>,
) -> Result<(Arc<Credential>, Arc<UserView>), OAuthError> {
    // Two readings of one header are one attempt for throttling: only the last failure counts.
    let first = credential::verify_counting(
        state,
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
        if let Ok(found) = credential::verify(state, id, &secret.secret(), source)
            .await
            .map_err(OAuthError::from)?
        {
            return Ok(found);
        }
    }
    Err(OAuthError::InvalidClient)
}
