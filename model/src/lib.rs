//! Lintel's model: users, projects, domains, roles, groups, the catalog and application credentials as the
//! domain works with them. The store converts its rows to and from these (`entity` holds the conversions); nothing
//! here knows a database, a token or HTTP, so the layers above can be read and tested without either.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

pub mod bootstrap;
pub mod clock;
pub mod credential;
#[cfg(feature = "db")]
pub mod db_error;
pub mod error;
pub mod federation;
pub mod grant;
pub mod revocation;
pub mod rules;

/// A local user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// 32-character hex id.
    pub id: String,
    /// Unique within its domain.
    pub name: String,
    /// Owning domain.
    pub domain_id: String,
    /// The stored flag (rules such as inactivity may still refuse an enabled user).
    pub enabled: bool,
    /// argon2id (or an imported legacy) hash; none for a user without a password.
    pub password_hash: Option<String>,
    /// Default project.
    pub default_project_id: Option<String>,
    /// Other attributes as a JSON object (email, description, ...).
    pub extra: String,
    /// When the password expires.
    pub password_expires_at: Option<NaiveDateTime>,
    /// Failed authentications since the last success.
    pub failed_auth_count: i32,
    /// When the last one failed.
    pub last_failed_auth_at: Option<NaiveDateTime>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Keystone's user options as a JSON object.
    pub options: Option<String>,
    /// Last successful authentication (day precision is enough for inactivity).
    pub last_active_at: Option<NaiveDateTime>,
    /// When the current password was set.
    pub password_created_at: Option<NaiveDateTime>,
    /// Whether the user set it (rather than an administrator).
    pub password_self_service: bool,
    /// The project that owns this user when it is a service account; none for a person.
    pub service_project_id: Option<String>,
}

/// A project (Keystone's domains are projects too, but Lintel keeps them apart: [`Domain`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Id.
    pub id: String,
    /// Unique within its domain.
    pub name: String,
    /// Owning domain.
    pub domain_id: String,
    /// Parent project, if nested.
    pub parent_id: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Enabled flag.
    pub enabled: bool,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// A domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// Id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Enabled flag.
    pub enabled: bool,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// A role (global, or specific to a domain).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// The domain of a domain-specific role.
    pub domain_id: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Keystone's role options as a JSON object.
    pub options: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// A group of users.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Id.
    pub id: String,
    /// Unique within its domain.
    pub name: String,
    /// Owning domain.
    pub domain_id: String,
    /// Description.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// A catalog region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// Id (chosen by the creator).
    pub id: String,
    /// Description.
    pub description: Option<String>,
    /// Parent region.
    pub parent_region_id: Option<String>,
}

/// A catalog service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Id.
    pub id: String,
    /// Service type (`identity`, `compute`, ...).
    pub r#type: String,
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Enabled flag.
    pub enabled: bool,
}

/// A catalog endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Id.
    pub id: String,
    /// Its service.
    pub service_id: String,
    /// `public`, `internal` or `admin`.
    pub interface: String,
    /// URL.
    pub url: String,
    /// Region.
    pub region_id: Option<String>,
    /// Enabled flag.
    pub enabled: bool,
}

/// An access rule: a request a restricted credential's token may make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRule {
    /// Id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Service type.
    pub service: String,
    /// HTTP method.
    pub method: String,
    /// Path template (`*` one segment, `**` any).
    pub path: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// An application credential as stored: its secret only as a hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCred {
    /// Id (the OAuth 2.0 client id).
    pub id: String,
    /// Name, unique per user.
    pub name: String,
    /// Owner.
    pub user_id: String,
    /// The one project it is bound to.
    pub project_id: String,
    /// Description.
    pub description: Option<String>,
    /// argon2id hash of the secret.
    pub secret_hash: String,
    /// Whether it may manage credentials and trusts.
    pub unrestricted: Option<bool>,
    /// Expiry.
    pub expires_at: Option<NaiveDateTime>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// RFC 8705 `tls_client_auth`: the certificate's subject DN.
    pub tls_client_auth_subject_dn: Option<String>,
    /// … and its issuer DN.
    pub tls_client_auth_issuer_dn: Option<String>,
    /// RFC 8705 `self_signed_tls_client_auth`: the certificate's SHA-256 thumbprint.
    pub tls_client_auth_x5t_s256: Option<String>,
    /// RFC 7523 `private_key_jwt`: a JWK or JWK Set (JSON).
    pub jwks: Option<String>,
    /// The secret before the last rotation, accepted until `prior_secret_retires_at`.
    pub prior_secret_hash: Option<String>,
    /// When the previous secret stops working.
    pub prior_secret_retires_at: Option<NaiveDateTime>,
    /// When the secret was last rotated.
    pub rotated_at: Option<NaiveDateTime>,
    /// When the current secret was last used (written behind, at most once a minute).
    pub last_used_at: Option<NaiveDateTime>,
    /// The source address of that use.
    pub last_used_from: Option<String>,
    /// The node that served it.
    pub last_used_node: Option<String>,
    /// When the previous secret was last used.
    pub prior_last_used_at: Option<NaiveDateTime>,
    /// When a person who saw the current secret lost access to its project.
    pub rotation_required_at: Option<NaiveDateTime>,
    /// The `private_key_jwt` key set before the last rotation, verifying assertions while the previous secret works.
    pub prior_jwks: Option<String>,
    /// Tokens per minute it may be issued on each node, overriding `[oauth2] credential_issue_rate`.
    pub issue_rate: Option<i32>,
}

impl AppCred {
    /// The hashes a presented secret may match at `now`: the current one, and the previous one during its grace.
    pub fn live_hashes(&self, now: NaiveDateTime) -> impl Iterator<Item = (Which, &str)> {
        let prior = self
            .prior_secret_hash
            .as_deref()
            .filter(|_| self.prior_secret_retires_at.is_some_and(|t| now < t));
        std::iter::once((Which::Current, self.secret_hash.as_str()))
            .chain(prior.map(|h| (Which::Prior, h)))
    }

    /// The key sets an assertion may be signed with at `now`: the current one, and the previous one during the
    /// rotation's grace.
    pub fn live_jwks(&self, now: NaiveDateTime) -> impl Iterator<Item = (Which, &str)> {
        let prior = self
            .prior_jwks
            .as_deref()
            .filter(|_| self.prior_secret_retires_at.is_some_and(|t| now < t));
        self.jwks
            .as_deref()
            .map(|j| (Which::Current, j))
            .into_iter()
            .chain(prior.map(|j| (Which::Prior, j)))
    }
}

/// Which of a credential's secrets a client presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Which {
    /// The one the last rotation (or the creation) gave.
    Current,
    /// The one before it, during its grace window.
    Prior,
}

/// A node of the cluster as its row shows it (each node beats into its row; see Lintel's docs/consistency.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// The node's id.
    pub id: String,
    /// How many times it has beaten.
    pub seq: i64,
    /// When its last beat began, on its own clock.
    pub beat: NaiveDateTime,
}

/// A role granted to a user or group on a project, a domain or the system, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// `UserProject`, `GroupDomain`, ... (who, on what).
    pub kind: String,
    /// The user or group.
    pub actor_id: String,
    /// The project or domain id, or `system`.
    pub target_id: String,
    /// The role.
    pub role_id: String,
    /// Whether it is inherited by the target's projects.
    pub inherited: bool,
}

/// A role implication rule: holding the prior role implies the other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Implication {
    /// The role held.
    pub prior_role_id: String,
    /// The role it implies.
    pub implied_role_id: String,
}

/// A notice that a cached thing changed, for the other nodes (the `view_change` feed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewChange {
    /// Its place in the feed.
    pub id: i64,
    /// What kind of thing (`user`, `project`, `catalog`, `all`, ...).
    pub kind: String,
    /// Which one, when one.
    pub item_id: Option<String>,
    /// When.
    pub changed_at: NaiveDateTime,
}
