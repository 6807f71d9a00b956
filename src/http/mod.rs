//! HTTP plumbing shared by the handlers: extractors for tokens and JSON bodies, and response layers.

pub mod error;
pub mod layers;
pub mod proxy;
pub mod routes;
pub mod schema;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;

use crate::error::DomainError;
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::token::TokenError;
use crate::token::Validated;

/// The caller's token, taken from `X-Auth-Token` or, failing that, `Authorization: Bearer` (RFC 6750).
pub struct Caller(pub std::sync::Arc<Validated>);

/// The raw token the caller presented and whether it came as a Bearer token.
pub fn presented_token(headers: &HeaderMap) -> Option<(&str, bool)> {
    if let Some(t) = headers.get("x-auth-token").and_then(|v| v.to_str().ok()) {
        return Some((t.trim(), false));
    }
    bearer_token(headers).map(|t| (t, true))
}

/// The token of an `Authorization: Bearer` header (RFC 6750), if that is how the request authenticates.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (token, bearer) =
            presented_token(&parts.headers).ok_or_else(DomainError::unauthorized)?;
        let cert = PeerCert::of(&parts.extensions);
        let v = crate::token::validate_presented(state, token, cert.as_deref())
            .await
            .map_err(|e| {
                let message = match e {
                    TokenError::Unavailable => return ApiError::from(e.into_domain()),
                    TokenError::CertificateMismatch => e.to_string(),
                    _ => crate::error::AUTH_REQUIRED.into(),
                };
                if bearer {
                    ApiError::InvalidBearer(message)
                } else {
                    DomainError::Unauthenticated(message).into()
                }
            })?;
        // A credential with access rules may only reach what they allow on this service (type identity).
        if let Some(ac) = v.app_cred.as_ref().filter(|ac| !ac.access_rules.is_empty()) {
            if !crate::credential::rules_allow(
                &ac.access_rules,
                "identity",
                parts.method.as_str(),
                parts.uri.path(),
            ) {
                return Err(DomainError::Forbidden(
                    "You are not authorized to perform the requested action: the application credential's access \
                     rules do not allow this request."
                        .into(),
                )
                .into());
            }
        }
        Ok(Caller(v))
    }
}

/// The client certificate of the request's TLS connection (mutual TLS), if it presented one.
pub struct PeerCert(pub Option<std::sync::Arc<crate::transport::mtls::ClientCert>>);

impl PeerCert {
    /// The certificate among a request's extensions.
    pub fn of(
        extensions: &axum::http::Extensions,
    ) -> Option<std::sync::Arc<crate::transport::mtls::ClientCert>> {
        extensions
            .get::<crate::transport::peer_cert::TlsPeer>()
            .and_then(|p| p.0.clone())
    }
}

impl<S: Sync> FromRequestParts<S> for PeerCert {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerCert(PeerCert::of(&parts.extensions)))
    }
}

/// The client's address: the connection's peer, or the client behind a trusted proxy ([`proxy::source`]).
pub struct SourceAddr(pub Option<std::net::IpAddr>);

/// Marks an answer to a write that the database rolled back because it collided with a concurrent one (a
/// deadlock, a serialization failure, a Galera certification failure): nothing was written, and the request
/// layer may run the same request again (see `layers::retrying`).
#[derive(Clone, Copy, Debug)]
pub struct Collided;

/// Who a failed authentication claimed to be (a client id or user id), for the access log line.
#[derive(Clone, Debug)]
pub struct AuthSubject(pub String);

impl SourceAddr {
    /// The source of a request: the client behind a trusted proxy, else the peer.
    pub fn of(
        headers: &HeaderMap,
        extensions: &axum::http::Extensions,
        server: &crate::config::ServerSection,
    ) -> SourceAddr {
        SourceAddr(proxy::source(server, headers, extensions))
    }
}

impl FromRequestParts<AppState> for SourceAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(SourceAddr::of(
            &parts.headers,
            &parts.extensions,
            &state.config.server,
        ))
    }
}

/// A JSON body, bounded, parsed with Keystone-style errors.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_none_or(|ct| ct == "application/json" || ct.ends_with("+json"));
        let limit = state.config.server.max_request_body_size;
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(limit)
            } else {
                DomainError::Invalid("Could not read the request body.".into()).into()
            }
        })?;
        if !json_type {
            return Err(DomainError::Invalid(
                "Expecting to find application/json in Content-Type header. The server could not comply with the \
                 request since it is either malformed or otherwise incorrect. The client is assumed to be in error."
                    .into(),
            )
            .into());
        }
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| {
            DomainError::Invalid(
                "Expecting to find valid JSON in request body. The server could not comply with the request since \
                 it is either malformed or otherwise incorrect. The client is assumed to be in error."
                    .into(),
            )
        })?;
        if let Some(field) = crate::rules::nul_in(&value) {
            return Err(DomainError::validation(format!(
                "{field}. A string may not contain a NUL character"
            ))
            .into());
        }
        // Into the request type, with Keystone's schema messages for what does not fit.
        Ok(JsonBody(schema::parse(value)?))
    }
}
