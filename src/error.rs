//! API errors: the one place where HTTP status codes and Keystone's error envelope are chosen.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Keystone's message for a request that lacks valid authentication.
pub const AUTH_REQUIRED: &str = "The request you have made requires authentication.";

/// An error answered on the `/v3` API as `{"error": {"code", "message", "title"}}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or fails validation.
    #[error("{0}")]
    BadRequest(String),
    /// 401: authentication is missing or failed; `bearer` adds RFC 6750's challenge.
    #[error("{message}")]
    Unauthorized {
        /// Message shown to the client.
        message: String,
        /// Whether a Bearer token was presented and rejected.
        bearer: bool,
    },
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 405: the resource does not support this method.
    #[error("The requested method is not supported by this resource.")]
    MethodNotAllowed,
    /// 409: a uniqueness or state conflict.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than allowed.
    #[error("Request Entity Too Large: the request body is larger than {0} bytes.")]
    PayloadTooLarge(usize),
    /// 429: too many failed attempts; retry after this many seconds.
    #[error("Too many failed authentication attempts; retry after {}.", seconds(*.0))]
    TooManyRequests(u64),
    /// 503: a bounded resource (the hashing pool) is saturated.
    #[error("The service is temporarily overloaded; retry later.")]
    Unavailable,
    /// 500: a bug or an unexpected backend failure; details are logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// 401 with Keystone's standard message.
    pub fn unauthorized() -> Self {
        ApiError::Unauthorized {
            message: AUTH_REQUIRED.into(),
            bearer: false,
        }
    }

    /// 401 with a specific message.
    pub fn unauthorized_msg(message: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            message: message.into(),
            bearer: false,
        }
    }

    /// 403 naming the policy rule, as Keystone words it.
    pub fn forbidden_action(rule: &str) -> Self {
        ApiError::Forbidden(format!(
            "You are not authorized to perform the requested action: {rule}."
        ))
    }

    /// 404 for a missing entity, as Keystone words it (`Could not find user: <id>.`).
    pub fn not_found(kind: &str, id: &str) -> Self {
        // Keystone capitalises only its two-word credential kinds ("Could not find user: x." but
        // "Could not find Application Credential: x.").
        let kind = match kind {
            "Application Credential" | "Access Rule" => kind.to_string(),
            other => other.to_lowercase(),
        };
        ApiError::NotFound(format!("Could not find {kind}: {id}."))
    }

    /// 409 for a duplicate, as Keystone words it.
    pub fn duplicate(kind: &str, field: &str, value: &str) -> Self {
        ApiError::Conflict(format!(
            "Conflict occurred attempting to store {kind} - Duplicate entry found with {field} {value}."
        ))
    }

    /// 400 for a body that fails schema validation, as Keystone words it.
    pub fn validation(detail: impl std::fmt::Display) -> Self {
        ApiError::BadRequest(format!(
            "Invalid input for field/attribute {detail}. The server could not comply with the request since it is \
             either malformed or otherwise incorrect. The client is assumed to be in error."
        ))
    }

    /// 500 from any backend error; the detail goes to the log only.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        crate::metrics::metrics().database_errors.inc();
        ApiError::Internal(format!("database: {e}"))
    }
}

impl From<sea_orm::TransactionError<ApiError>> for ApiError {
    fn from(e: sea_orm::TransactionError<ApiError>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(api) => api,
        }
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

/// Build the Keystone error envelope for a status and message.
pub fn envelope(status: StatusCode, message: &str) -> Response {
    let body =
        json!({"error": {"code": status.as_u16(), "message": message, "title": title(status)}});
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "An unexpected error prevented the server from fulfilling your request.".to_string()
            }
            other => other.to_string(),
        };
        let mut resp = envelope(status, &message);
        match &self {
            ApiError::TooManyRequests(secs) => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*secs));
            }
            ApiError::Unavailable => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        if let ApiError::Unauthorized { bearer: true, .. } = self {
            resp.headers_mut().append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        resp
    }
}

/// Result alias for handlers and domain code.
pub type ApiResult<T> = Result<T, ApiError>;

/// "1 second", "30 seconds".
pub fn seconds(n: u64) -> String {
    if n == 1 {
        "1 second".into()
    } else {
        format!("{n} seconds")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_spelled_in_words() {
        assert_eq!(
            ApiError::TooManyRequests(1).to_string(),
            "Too many failed authentication attempts; retry after 1 second."
        );
        assert_eq!(
            crate::oauth2::OAuthError::SlowDown(30).to_string(),
            "Too many failed attempts; retry after 30 seconds."
        );
    }
}
