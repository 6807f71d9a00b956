//! `POST /v3/OS-OAUTH2/revoke`: a client revokes its own access tokens (RFC 7009).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::oauth2::{authorization, read_form};
use crate::http::routes::{op, Routes};
use crate::http::{PeerCert, SourceAddr};
use crate::oauth2::client::authenticate;
use crate::oauth2::OAuthError;
use crate::state::AppState;
use crate::token::revocation::{Event, RevKey};

/// Routes of this module.
pub fn routes() -> Routes {
    const PATH: &str = "/v3/OS-OAUTH2/revoke";
    Routes::new()
        .post(
            PATH,
            revoke,
            op("Revoke one of the client's own access tokens (RFC 7009)")
                .oauth()
                .form::<crate::oauth2::Form>()
                .empty(200, "Revoked, or not a token of this client"),
        )
        .other_methods(PATH, crate::http::error::oauth_method_not_allowed)
}

async fn revoke(
    State(state): State<AppState>,
    SourceAddr(source): SourceAddr,
    PeerCert(cert): PeerCert,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match run(&state, source, &headers, cert.as_deref(), body).await {
        Ok(()) => {
            let mut resp = StatusCode::OK.into_response();
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn run(
    state: &AppState,
    source: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    cert: Option<&crate::transport::mtls::ClientCert>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(), OAuthError> {
    let form = read_form(state, headers, body)?;
    let (cred, _) = authenticate(state, source, authorization(headers), cert, &form).await?;
    let Some(token) = form.token.as_ref().filter(|t| !t.0.is_empty()) else {
        return Err(OAuthError::InvalidRequest(
            "The parameter token is required.".into(),
        ));
    };
    // An invalid, expired or already revoked token needs nothing done: 200, as RFC 7009 §2.2 says. Checking
    // first also keeps a loop of revocations from writing events (and emptying every node's caches) forever.
    let v = match crate::token::validate(state, &token.0, false).await {
        Ok(v) => v,
        // Answering 200 here would tell the client a token it could not check is gone.
        Err(crate::token::TokenError::Unavailable) => {
            return Err(OAuthError::TemporarilyUnavailable)
        }
        Err(_) => return Ok(()),
    };
    let data = &v.data;
    if data.app_cred_id.as_deref() != Some(cred.model.id.as_str()) {
        return Err(OAuthError::InvalidRequest(
            "The token was not issued to this client.".into(),
        ));
    }
    let Some(audit) = data.audit_ids.first() else {
        return Ok(());
    };
    let event = Event::now(&state.clock, RevKey::Audit(audit.clone()));
    let who = crate::audit::Initiator {
        user_id: Some(cred.model.user_id.clone()),
        source,
        method: Some("oauth2_revoke".into()),
        credential_id: Some(cred.model.id.clone()),
        name: None,
    };
    crate::token::revocation::revoke(state, &who, &[event])
        .await
        .map_err(OAuthError::from)
}
