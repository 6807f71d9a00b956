//! OS-FEDERATION as stored: identity providers, mappings, protocols and federated users.

use serde::{Deserialize, Serialize};

/// An identity provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityProvider {
    /// Id.
    pub id: String,
    /// Whether sign-ins through it are accepted.
    pub enabled: bool,
    /// Description.
    pub description: Option<String>,
    /// The domain its federated users live in.
    pub domain_id: String,
    /// Minutes group memberships from a sign-in count (Keystone's `authorization_ttl`).
    pub authorization_ttl: Option<i32>,
    /// The `aud` its tokens must name.
    pub audience: Option<String>,
    /// The longest its tokens may be valid for, in seconds.
    pub max_token_lifetime: Option<i32>,
    /// Whether its tokens must carry a `jti`, accepted once.
    pub require_jti: bool,
    /// PEM certificates issuing its X.509-SVIDs.
    pub trust_bundle: Option<String>,
}

/// A mapping: Keystone's rules, as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    /// Id.
    pub id: String,
    /// The rules (a JSON array).
    pub rules: String,
    /// Their schema version.
    pub schema_version: String,
}

/// A protocol of an identity provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protocol {
    /// Id (`openid`).
    pub id: String,
    /// Its provider.
    pub idp_id: String,
    /// Its mapping.
    pub mapping_id: String,
    /// Keystone's remote id attribute.
    pub remote_id_attribute: Option<String>,
}

/// The local user a provider's subject signs in as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederatedUser {
    /// The provider.
    pub idp_id: String,
    /// The protocol.
    pub protocol_id: String,
    /// The subject as the mapping names it.
    pub unique_id: String,
    /// The local user.
    pub user_id: String,
    /// The mapped name.
    pub display_name: Option<String>,
}
