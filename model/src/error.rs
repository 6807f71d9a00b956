//! Domain errors: what went wrong, in words a client may read, and nothing about HTTP.
//!
//! Lintel's `http::error` is the one place that turns these into Keystone's envelope, and `oauth2::OAuthError::from`
//! the one place that turns them into RFC 6749's error body.

/// Keystone's message for a request that lacks valid authentication.
pub const AUTH_REQUIRED: &str = "The request you have made requires authentication.";

/// Why a domain operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The input is malformed or fails validation.
    #[error("{0}")]
    Invalid(String),
    /// Authentication is missing or failed.
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// No such entity.
    #[error("{0}")]
    NotFound(String),
    /// A uniqueness or state conflict.
    #[error("{0}")]
    Conflict(String),
    /// Too many failed attempts; retry after this many seconds.
    #[error("Too many failed authentication attempts; retry after {}.", seconds(*.0))]
    Throttled(u64),
    /// A bounded resource (the hashing pool) is saturated.
    #[error("The service is temporarily overloaded; retry later.")]
    Busy,
    /// The database gave up on a write that collided with another (deadlock, serialization failure, lock
    /// timeout): nothing was written, and the same request may succeed when retried.
    #[error("The request collided with a concurrent change and was not applied; retry it.")]
    Contention(String),
    /// The database does not answer; the detail is logged, never shown.
    #[error("The service cannot reach its database; retry later.")]
    StoreUnavailable(String),
    /// A bug or an unexpected backend failure; the detail is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    /// Why an authentication was refused, when it was refused (rather than malformed or not answered): the
    /// reason an audit event records.
    pub fn refusal(&self) -> Option<&'static str> {
        match self {
            DomainError::Unauthenticated(_) => Some("unauthenticated"),
            DomainError::Forbidden(_) => Some("forbidden"),
            DomainError::Throttled(_) => Some("throttled"),
            DomainError::NotFound(_) => Some("not_found"),
            _ => None,
        }
    }

    /// Unauthenticated with Keystone's standard message.
    pub fn unauthorized() -> Self {
        DomainError::Unauthenticated(AUTH_REQUIRED.into())
    }

    /// Unauthenticated with a specific message.
    pub fn unauthorized_msg(message: impl Into<String>) -> Self {
        DomainError::Unauthenticated(message.into())
    }

    /// Forbidden, naming the policy rule as Keystone words it.
    pub fn forbidden_action(rule: impl std::fmt::Display) -> Self {
        DomainError::Forbidden(format!(
            "You are not authorized to perform the requested action: {rule}."
        ))
    }

    /// A missing entity, as Keystone words it (`Could not find user: <id>.`).
    pub fn not_found(kind: &str, id: &str) -> Self {
        // Keystone capitalises only its two-word credential kinds ("Could not find user: x." but
        // "Could not find Application Credential: x.").
        let kind = match kind {
            "Application Credential" | "Access Rule" | "Identity Provider" => kind.to_string(),
            other => other.to_lowercase(),
        };
        DomainError::NotFound(format!("Could not find {kind}: {id}."))
    }

    /// A duplicate, as Keystone words it.
    pub fn duplicate(kind: &str, field: &str, value: &str) -> Self {
        DomainError::Conflict(format!(
            "Conflict occurred attempting to store {kind} - Duplicate entry found with {field} {value}."
        ))
    }

    /// A body that fails schema validation, as Keystone words it.
    pub fn validation(detail: impl std::fmt::Display) -> Self {
        DomainError::Invalid(format!(
            "Invalid input for field/attribute {detail}. The server could not comply with the request since it is \
             either malformed or otherwise incorrect. The client is assumed to be in error."
        ))
    }

    /// An unexpected backend failure; the detail goes to the log only.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        DomainError::Internal(e.to_string())
    }

    /// Whether the database failed to answer, as opposed to answering with an error.
    pub fn is_outage(&self) -> bool {
        matches!(self, DomainError::StoreUnavailable(_))
    }
}

/// Result alias for domain code (and the handlers that return its errors).
pub type DomainResult<T> = Result<T, DomainError>;

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
            DomainError::Throttled(1).to_string(),
            "Too many failed authentication attempts; retry after 1 second."
        );
        assert_eq!(seconds(30), "30 seconds");
    }
}
