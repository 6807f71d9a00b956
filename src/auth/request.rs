//! What an `auth` request body says: the identity methods and the scope asked for (Keystone's schema).

use serde::Deserialize;
use utoipa::ToSchema;

use crate::crypto::hashing::Secret;

/// `{"id": ...}` or `{"name": ...}` reference used in auth bodies.
#[derive(Debug, Deserialize, Default, ToSchema)]
pub struct NamedRef {
    /// Id.
    pub id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Owning domain, for a name.
    #[schema(no_recursion)]
    pub domain: Option<Box<NamedRef>>,
}

/// `identity.password`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordMethod {
    /// The user and password.
    pub user: PasswordUser,
}

/// `identity.password.user`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordUser {
    /// Id.
    pub id: Option<String>,
    /// Name (with `domain`).
    pub name: Option<String>,
    /// Domain of a user named by name.
    pub domain: Option<NamedRef>,
    /// The password.
    pub password: Option<Secret>,
}

/// `identity.token`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenMethod {
    /// The token to exchange.
    pub id: Secret,
}

/// `identity.application_credential`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AppCredMethod {
    /// Credential id.
    pub id: Option<String>,
    /// Credential name (with `user`).
    pub name: Option<String>,
    /// The owner, for a credential named by name.
    pub user: Option<NamedRef>,
    /// The secret.
    pub secret: Option<Secret>,
}

/// `auth.identity`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Identity {
    /// Methods used.
    pub methods: Vec<String>,
    /// Password method body.
    pub password: Option<PasswordMethod>,
    /// Token method body.
    pub token: Option<TokenMethod>,
    /// Application credential method body.
    pub application_credential: Option<AppCredMethod>,
}

/// `auth.scope`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ScopeRequest {
    /// Project scope.
    pub project: Option<NamedRef>,
    /// Domain scope.
    pub domain: Option<NamedRef>,
    /// System scope (`{"all": true}`).
    pub system: Option<serde_json::Value>,
}

/// The `auth` object of `POST /v3/auth/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AuthRequest {
    /// Who is authenticating.
    pub identity: Identity,
    /// What the token should be scoped to; `"unscoped"` is allowed as a string.
    #[serde(default)]
    pub scope: Option<serde_json::Value>,
}
