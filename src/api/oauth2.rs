//! `POST /v3/OS-OAUTH2/token`: the client credentials grant, answered as RFC 6749 says.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::routes::{op, Routes};
use crate::http::{PeerCert, SourceAddr};
use crate::oauth2::{self, check_grant, parse_form, OAuthError};
use crate::state::AppState;
use crate::transport::mtls::ClientCert;

/// Routes of this module.
pub fn routes() -> Routes {
    const PATH: &str = "/v3/OS-OAUTH2/token";
    Routes::new()
        .post(
            PATH,
            token,
            op("The client credentials grant (RFC 6749 §4.4)")
                .oauth()
                .form::<crate::oauth2::Form>()
                .ok::<TokenResponse>(200, "An access token"),
        )
        .other_methods(PATH, crate::http::error::oauth_method_not_allowed)
}

/// RFC 6749 §5.1's answer (no `Debug`: it carries the access token).
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The roles granted, when the request named some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

async fn token(
    State(state): State<AppState>,
    SourceAddr(source): SourceAddr,
    PeerCert(cert): PeerCert,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut claimed = None;
    let outcome = issue(
        &state,
        source,
        &headers,
        cert.as_deref(),
        body,
        &mut claimed,
    )
    .await;
    let label = match &outcome {
        Ok(_) => "success",
        Err(e) => e.code(),
    };
    crate::metrics::metrics()
        .tokens_issued
        .get_or_create(&crate::metrics::Issue {
            endpoint: "oauth2",
            outcome: label,
        })
        .inc();
    match outcome {
        Ok(resp) => resp,
        Err(e) => {
            let mut resp = e.into_response();
            if let Some(id) = claimed {
                resp.extensions_mut().insert(crate::http::AuthSubject(id));
            }
            resp
        }
    }
}

/// Over plain HTTP the endpoint only answers requests a trusted proxy marks as HTTPS.
fn check_transport(state: &AppState, headers: &HeaderMap) -> Result<(), OAuthError> {
    if !state.config.server.insecure_http {
        return Ok(());
    }
    let forwarded_https = state.config.server.trust_proxy_headers
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    if forwarded_https {
        Ok(())
    } else {
        Err(OAuthError::InvalidRequest(
            "The token endpoint requires HTTPS: this server speaks plain HTTP and no trusted proxy marked the request \
             as HTTPS ([oslo_middleware] enable_proxy_headers_parsing with X-Forwarded-Proto: https)."
                .into(),
        ))
    }
}

/// The checks every OAuth 2.0 endpoint makes before reading its parameters: the credential method is enabled,
/// the transport is HTTPS, the body was read within its limit and is a valid form.
pub(crate) fn read_form(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<crate::oauth2::Form, OAuthError> {
    if !state
        .config
        .method_enabled(crate::config::IdentityMethod::ApplicationCredential)
    {
        return Err(OAuthError::InvalidRequest(
            "Application credentials are disabled on this server.".into(),
        ));
    }
    check_transport(state, headers)?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OAuthError::body_too_large()
        } else {
            OAuthError::InvalidRequest("The request body could not be read.".into())
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    parse_form(content_type, &body)
}

/// The raw `Authorization` value, as client authentication reads it.
pub(crate) fn authorization(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
}

async fn issue(
    state: &AppState,
    source: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    cert: Option<&ClientCert>,
    body: Result<Bytes, BytesRejection>,
    claimed: &mut Option<String>,
) -> Result<Response, OAuthError> {
    let form = read_form(state, headers, body)?;
    let authorization = authorization(headers);
    let granted = grant(state, source, authorization, cert, &form).await;
    if granted.is_err() {
        // Who a refused client claimed to be, for the access log line: worked out only for a refusal.
        *claimed = crate::oauth2::claimed_client(authorization, &form);
    }
    let issued = granted?;
    let out = TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: issued.scope,
    };
    let mut resp = (StatusCode::OK, Json(out)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// The grant itself: the grant type, the client's authentication, and the token.
async fn grant(
    state: &AppState,
    source: Option<std::net::IpAddr>,
    authorization: Option<&[u8]>,
    cert: Option<&ClientCert>,
    form: &crate::oauth2::Form,
) -> Result<oauth2::grant::Issued, OAuthError> {
    check_grant(form)?;
    // Before anything the token carries is read (src/cluster.rs).
    let now = state.clock.now();
    state.node.serving(&state.clock)?;
    if form.grant_type.as_deref() == Some(oauth2::jwt_bearer::GRANT_TYPE) {
        return Box::pin(bearer_grant(state, now, form, source)).await;
    }
    let (cred, user) =
        oauth2::client::authenticate(state, source, authorization, cert, form).await?;
    oauth2::grant::issue(state, now, &cred, &user, form.scope.as_deref(), cert).await
}

/// RFC 7523 §2.1: the assertion is the proof; no client authentication is needed.
async fn bearer_grant(
    state: &AppState,
    now: chrono::NaiveDateTime,
    form: &crate::oauth2::Form,
    source: Option<std::net::IpAddr>,
) -> Result<oauth2::grant::Issued, OAuthError> {
    let assertion = form
        .assertion
        .as_ref()
        .filter(|a| !a.0.is_empty())
        .ok_or_else(|| OAuthError::InvalidRequest("The parameter assertion is required.".into()))?;
    let data =
        oauth2::jwt_bearer::grant(state, now, &assertion.0, form.scope.as_deref(), source).await?;
    oauth2::grant::access_token(state, now, data, None).await
}

#[cfg(test)]
mod tests {
    use axum::body::Bytes;
    use axum::http::HeaderMap;

    /// Every request's future is allocated and moved whole, so what only a cache miss needs (database reads,
    /// argon2, the rarer client authentication methods) runs boxed. A size budget with room to spare, not a timing:
    /// inline, those steps made the token endpoint's future 29 KiB and token validation's 28 KiB.
    #[tokio::test]
    async fn request_futures_stay_small() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("lintel.conf");
        let path = dir.path().display();
        std::fs::write(
            &conf,
            format!(
                "[DEFAULT]\ndata_dir = {path}\n[database]\nconnection = sqlite://{path}/db.sqlite?mode=rwc\n"
            ),
        )
        .unwrap();
        let config = crate::config::Config::from_file(&conf).unwrap();
        let db = crate::store::db::Db::connect(&config.database, &config.default.data_dir)
            .await
            .unwrap();
        db.migrate(&config.database.url).await.unwrap();
        db.close().await;
        let state = crate::server::build_state(config).await.unwrap();

        let token = super::token(
            axum::extract::State(state.clone()),
            crate::http::SourceAddr(None),
            crate::http::PeerCert(None),
            HeaderMap::new(),
            Ok(Bytes::new()),
        );
        let size = std::mem::size_of_val(&token);
        assert!(size <= 4096, "the token endpoint's future is {size} bytes");
        let validation = crate::token::validate_presented(&state, "a token", None);
        let size = std::mem::size_of_val(&validation);
        assert!(size <= 512, "token validation's future is {size} bytes");
    }
}
