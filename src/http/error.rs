//! The only place where errors become HTTP: status codes, Keystone's envelope on `/v3`, RFC 6749's body on the
//! OAuth 2.0 endpoints, and the headers each answer needs (`Retry-After`, challenges, `Allow`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::DomainError;
use crate::oauth2::OAuthError;

/// An error answered on `/v3`: a domain error, or one that only exists at the HTTP layer.
#[derive(Debug)]
pub enum ApiError {
    /// A domain error.
    Domain(DomainError),
    /// A Bearer token (RFC 6750) was presented and rejected: 401 with `WWW-Authenticate: Bearer`.
    InvalidBearer(String),
    /// 405: the resource does not support this method.
    MethodNotAllowed,
    /// 413: the body is larger than this many bytes.
    PayloadTooLarge(usize),
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError::Domain(e)
    }
}

/// The HTTP status of a domain error.
pub fn status(e: &DomainError) -> StatusCode {
    match e {
        DomainError::Invalid(_) => StatusCode::BAD_REQUEST,
        DomainError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        DomainError::Forbidden(_) => StatusCode::FORBIDDEN,
        DomainError::NotFound(_) => StatusCode::NOT_FOUND,
        DomainError::Conflict(_) => StatusCode::CONFLICT,
        DomainError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        DomainError::Busy | DomainError::StoreUnavailable(_) | DomainError::Contention(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        DomainError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Keystone's title for a status (the reason phrase, as webob words it).
fn title(status: StatusCode) -> &'static str {
    match status.as_u16() {
        413 => "Request Entity Too Large",
        500 => "Internal Server Error",
        _ => status.canonical_reason().unwrap_or("Error"),
    }
}

/// Keystone's error envelope: `{"error": {"code", "message", "title"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeystoneError {
    /// The error.
    pub error: KeystoneErrorDetail,
}

/// The inside of Keystone's error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeystoneErrorDetail {
    /// The HTTP status code.
    pub code: u16,
    /// What went wrong, for a person.
    pub message: String,
    /// The status's reason phrase.
    pub title: String,
}

/// RFC 6749 §5.2's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// The error code (`invalid_client`, `invalid_request`, ...).
    pub error: String,
    /// What went wrong, for a person.
    pub error_description: String,
}

/// Build the Keystone error envelope for a status and message.
pub fn envelope(status: StatusCode, message: &str) -> Response {
    let body = KeystoneError {
        error: KeystoneErrorDetail {
            code: status.as_u16(),
            message: message.to_owned(),
            title: title(status).to_owned(),
        },
    };
    (status, axum::Json(body)).into_response()
}

/// The message a client may read; backend details go to the log instead.
fn public_message(e: &DomainError) -> String {
    match e {
        DomainError::Internal(detail) => {
            tracing::error!(error = %detail, "internal error");
            "An unexpected error prevented the server from fulfilling your request.".to_string()
        }
        DomainError::StoreUnavailable(detail) => {
            tracing::warn!(error = %detail, "database unavailable");
            e.to_string()
        }
        DomainError::Contention(detail) => {
            tracing::warn!(error = %detail, "write collided with a concurrent one");
            e.to_string()
        }
        other => other.to_string(),
    }
}

/// `Retry-After` for an error that passes with time.
fn retry_after(e: &DomainError) -> Option<HeaderValue> {
    match e {
        DomainError::Throttled(secs) => Some(HeaderValue::from(*secs)),
        DomainError::Busy | DomainError::StoreUnavailable(_) | DomainError::Contention(_) => {
            Some(HeaderValue::from_static("1"))
        }
        _ => None,
    }
}

/// What a handler returns: its answer, or an error in Keystone's envelope.
pub type ApiResult<T> = Result<T, ApiError>;

/// A domain error in Keystone's envelope, with `Retry-After` where waiting helps.
fn domain_response(e: &DomainError) -> Response {
    let mut resp = envelope(status(e), &public_message(e));
    if let Some(v) = retry_after(e) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    if matches!(e, DomainError::Contention(_)) {
        resp.extensions_mut().insert(crate::http::Collided);
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Domain(e) => domain_response(&e),
            ApiError::InvalidBearer(message) => {
                let mut resp = envelope(StatusCode::UNAUTHORIZED, &message);
                resp.headers_mut().append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                resp
            }
            ApiError::MethodNotAllowed => envelope(
                StatusCode::METHOD_NOT_ALLOWED,
                "The requested method is not supported by this resource.",
            ),
            ApiError::PayloadTooLarge(limit) => envelope(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "Request Entity Too Large: the request body is larger than {limit} bytes."
                ),
            ),
        }
    }
}

/// The HTTP status of an OAuth 2.0 error.
pub fn oauth_status(e: &OAuthError) -> StatusCode {
    match e {
        OAuthError::InvalidRequest(_)
        | OAuthError::UnsupportedGrantType(_)
        | OAuthError::InvalidScope(_)
        | OAuthError::InvalidGrant(_) => StatusCode::BAD_REQUEST,
        OAuthError::InvalidClient | OAuthError::InvalidClientAssertion(_) => {
            StatusCode::UNAUTHORIZED
        }
        OAuthError::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        OAuthError::SlowDown(_) => StatusCode::TOO_MANY_REQUESTS,
        OAuthError::AccessDenied(_) => StatusCode::FORBIDDEN,
        OAuthError::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// RFC 6749 §5.2's body with `Cache-Control: no-store`.
fn oauth_body(status: StatusCode, code: &str, description: &str) -> Response {
    let mut resp = (
        status,
        axum::Json(OAuthErrorBody {
            error: code.to_owned(),
            error_description: description.to_owned(),
        }),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut resp = oauth_body(oauth_status(&self), self.code(), &self.to_string());
        let h = resp.headers_mut();
        match self {
            // RFC 6749 §5.2: a 401 names the scheme the client should use; the Keystone challenge is added later.
            OAuthError::InvalidClient | OAuthError::InvalidClientAssertion(_) => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"lintel\""),
                );
            }
            OAuthError::TemporarilyUnavailable => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            OAuthError::SlowDown(secs) => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            _ => {}
        }
        resp
    }
}

/// 405 on an OAuth 2.0 endpoint: RFC 6749's body with `Allow: POST`.
pub async fn oauth_method_not_allowed() -> Response {
    let mut resp = oauth_body(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "The method is not allowed for the requested URL.",
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    resp
}
