//! Managing OS-FEDERATION resources as Keystone does (admins write, admins and system readers read): identity
//! providers with their remote ids, mappings, protocols. Whatever takes authority away (deleting or disabling a
//! provider, deleting a mapping or protocol) revokes the tokens its sign-ins issued, in the same transaction.

use crate::audit::Operation::{self, Created, Deleted, Updated};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::model::federation::{IdentityProvider, Mapping, Protocol};
use crate::model::revocation::{Event, RevKey};
use crate::policy::{enforce, Action, Target};
use crate::rules::{check_description, check_len};
use crate::store;
use crate::token::Validated;

use super::mapping::Rules;

/// Longest provider, mapping and protocol id (Keystone's columns).
pub const ID_MAX: usize = 64;
/// Longest remote id.
pub const REMOTE_ID_MAX: usize = 255;
/// Most remote ids a provider may have.
pub const REMOTE_IDS_MAX: usize = 100;
/// The longest a provider may let its tokens live (Lintel's cap, whatever the provider says).
pub const TOKEN_LIFETIME_MAX: i32 = 24 * 3600;

/// Record a change in the audit trail, as the caller's.
fn audit(
    cx: &Context,
    c: &Validated,
    source: Option<std::net::IpAddr>,
    op: Operation,
    kind: &'static str,
    id: &str,
    details: &[(&'static str, &str)],
) {
    cx.audit_change(&c.initiator(source), op, kind, id, details);
}

fn allowed(c: &Validated, rule: Action) -> DomainResult<()> {
    enforce(rule, c, Target::default())
}

fn check_id(field: &str, id: &str) -> DomainResult<()> {
    check_len(field, id, ID_MAX)?;
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(DomainError::validation(format!(
            "{field}. '{id}' may hold only letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(())
}

/// A provider's fields as a request gives them (`None`: unchanged, or the default at creation).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderFields {
    /// Whether sign-ins are accepted (default: false, as Keystone).
    pub enabled: Option<bool>,
    /// Description.
    pub description: Option<Option<String>>,
    /// The domain of its users (creation only; default: a new domain made for it).
    pub domain_id: Option<String>,
    /// Minutes group memberships from a sign-in count.
    pub authorization_ttl: Option<Option<i32>>,
    /// The issuers (or trust domains) it answers for, each one provider's.
    pub remote_ids: Option<Vec<String>>,
    /// The `aud` its tokens must name (Lintel; default: this service's public URL).
    pub audience: Option<Option<String>>,
    /// The longest its tokens may be valid for, in seconds (Lintel; default and cap 86400).
    pub max_token_lifetime: Option<Option<i32>>,
    /// Whether its tokens must carry a `jti`, each accepted once (Lintel).
    pub require_jti: Option<bool>,
    /// PEM certificates issuing its X.509-SVIDs (Lintel; SPIFFE over mutual TLS).
    pub trust_bundle: Option<Option<String>>,
}

impl ProviderFields {
    fn is_empty(&self) -> bool {
        let ProviderFields {
            enabled,
            description,
            domain_id,
            authorization_ttl,
            remote_ids,
            audience,
            max_token_lifetime,
            require_jti,
            trust_bundle,
        } = self;
        enabled.is_none()
            && description.is_none()
            && domain_id.is_none()
            && authorization_ttl.is_none()
            && remote_ids.is_none()
            && audience.is_none()
            && max_token_lifetime.is_none()
            && require_jti.is_none()
            && trust_bundle.is_none()
    }
}

/// A provider and its remote ids.
#[derive(Debug, Clone)]
pub struct Provider {
    /// The row.
    pub idp: IdentityProvider,
    /// Its remote ids.
    pub remote_ids: Vec<String>,
}

fn checked_remote_ids(ids: Vec<String>) -> DomainResult<Vec<String>> {
    if ids.len() > REMOTE_IDS_MAX {
        return Err(DomainError::validation(format!(
            "remote_ids. more than {REMOTE_IDS_MAX}"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for id in &ids {
        check_len("remote_ids", id, REMOTE_ID_MAX)?;
        if id.is_empty() || !seen.insert(id.as_str()) {
            return Err(DomainError::validation(format!(
                "remote_ids. '{id}' is empty or repeated"
            )));
        }
    }
    Ok(ids)
}

fn apply(idp: &mut IdentityProvider, f: &ProviderFields) -> DomainResult<()> {
    if let Some(e) = f.enabled {
        idp.enabled = e;
    }
    if let Some(d) = &f.description {
        check_description(d.as_deref(), None)?;
        idp.description.clone_from(d);
    }
    if let Some(t) = f.authorization_ttl {
        if t.is_some_and(|t| t < 0) {
            return Err(DomainError::validation(
                "authorization_ttl. must be 0 or more",
            ));
        }
        idp.authorization_ttl = t;
    }
    if let Some(a) = &f.audience {
        if let Some(a) = a {
            check_len("audience", a, 255)?;
        }
        idp.audience.clone_from(a);
    }
    if let Some(l) = f.max_token_lifetime {
        if l.is_some_and(|l| !(1..=TOKEN_LIFETIME_MAX).contains(&l)) {
            return Err(DomainError::validation(format!(
                "max_token_lifetime. must be between 1 and {TOKEN_LIFETIME_MAX} seconds"
            )));
        }
        idp.max_token_lifetime = l;
    }
    if let Some(j) = f.require_jti {
        idp.require_jti = j;
    }
    if let Some(b) = &f.trust_bundle {
        if let Some(pem) = b {
            super::svid::parse_bundle(pem)
                .map_err(|why| DomainError::validation(format!("trust_bundle. {why}")))?;
        }
        idp.trust_bundle.clone_from(b);
    }
    Ok(())
}

async fn provider_row(cx: &Context, id: &str) -> DomainResult<IdentityProvider> {
    store::find::<IdentityProvider>(&cx.db, id)
        .await?
        .ok_or_else(|| DomainError::not_found("Identity Provider", id))
}

/// After revocation events were saved: every node honours them before the change is acknowledged, and service
/// accounts' credentials whose secret one of those users saw need a rotation.
async fn taken_away(cx: &Context, events: &[Event]) -> DomainResult<()> {
    crate::cluster::settle(cx, events).await?;
    crate::credential::witness::after(cx, events).await?;
    Ok(())
}

/// Revoke every token of every user a provider's sign-ins made.
async fn provider_events(cx: &Context, idp_id: &str) -> DomainResult<Vec<Event>> {
    let users = store::federation::users_of_provider(&cx.db, idp_id).await?;
    Ok(users
        .into_iter()
        .map(|u| Event::now(&cx.clock, RevKey::User(u)))
        .collect())
}

/// Identity providers.
pub async fn providers(cx: &Context, c: &Validated) -> DomainResult<Vec<Provider>> {
    allowed(c, Action::ListIdentityProviders)?;
    Ok(store::federation::providers(&cx.db)
        .await?
        .into_iter()
        .map(|(idp, remote_ids)| Provider { idp, remote_ids })
        .collect())
}

/// One identity provider.
pub async fn provider(cx: &Context, c: &Validated, id: &str) -> DomainResult<Provider> {
    allowed(c, Action::GetIdentityProvider)?;
    let idp = provider_row(cx, id).await?;
    let remote_ids = store::federation::remote_ids(&cx.db, id).await?;
    Ok(Provider { idp, remote_ids })
}

/// Register an identity provider under `id`; without a `domain_id`, a domain is made for its users.
pub async fn create_provider(
    cx: &Context,
    c: &Validated,
    source: Option<std::net::IpAddr>,
    id: &str,
    f: ProviderFields,
) -> DomainResult<Provider> {
    allowed(c, Action::CreateIdentityProvider)?;
    check_id("identity_provider.id", id)?;
    let remote_ids = checked_remote_ids(f.remote_ids.clone().unwrap_or_default())?;
    let (domain_id, new_domain) = match &f.domain_id {
        Some(d) => {
            store::find::<crate::model::Domain>(&cx.db, d)
                .await?
                .ok_or_else(|| DomainError::not_found("domain", d))?;
            (d.clone(), None)
        }
        None => {
            let d = crate::rules::new_id();
            let domain = crate::model::Domain {
                id: d.clone(),
                name: d.clone(),
                description: Some(format!(
                    "Auto generated federated domain for Identity Provider: {id}"
                )),
                enabled: true,
                created_at: cx.clock.now(),
            };
            (d, Some(domain))
        }
    };
    let mut idp = IdentityProvider {
        id: id.to_string(),
        enabled: false,
        description: None,
        domain_id,
        authorization_ttl: None,
        audience: None,
        max_token_lifetime: None,
        require_jti: false,
        trust_bundle: None,
    };
    apply(&mut idp, &f)?;
    let idp = store::federation::insert_provider(&cx.db, idp, &remote_ids, new_domain).await?;
    audit(cx, c, source, Created, "identity_provider", id, &[]);
    Ok(Provider { idp, remote_ids })
}

/// Change a provider; disabling it revokes the tokens its sign-ins issued.
pub async fn update_provider(
    cx: &Context,
    c: &Validated,
    source: Option<std::net::IpAddr>,
    id: &str,
    f: ProviderFields,
) -> DomainResult<Provider> {
    allowed(c, Action::UpdateIdentityProvider)?;
    if f.is_empty() {
        return Err(DomainError::validation(
            "identity_provider. {} does not have enough properties",
        ));
    }
    if f.domain_id.is_some() {
        return Err(DomainError::validation(
            "identity_provider.domain_id. It cannot be changed",
        ));
    }
    let mut idp = provider_row(cx, id).await?;
    let was_enabled = idp.enabled;
    apply(&mut idp, &f)?;
    let remote_ids = f.remote_ids.map(checked_remote_ids).transpose()?;
    let events = if was_enabled && !idp.enabled {
        provider_events(cx, id).await?
    } else {
        Vec::new()
    };
    let idp =
        store::federation::update_provider(&cx.db, idp, remote_ids.as_deref(), &events).await?;
    taken_away(cx, &events).await?;
    audit(
        cx,
        c,
        source,
        Updated,
        "identity_provider",
        id,
        &[("enabled", if idp.enabled { "true" } else { "false" })],
    );
    let remote_ids = store::federation::remote_ids(&cx.db, id).await?;
    Ok(Provider { idp, remote_ids })
}

/// Delete a provider with its protocols and the users its sign-ins made, revoking their tokens.
pub async fn delete_provider(
    cx: &Context,
    c: &Validated,
    source: Option<std::net::IpAddr>,
    id: &str,
) -> DomainResult<()> {
    allowed(c, Action::DeleteIdentityProvider)?;
    provider_row(cx, id).await?;
    let events = provider_events(cx, id).await?;
    store::federation::delete_provider(&cx.db, id, &events).await?;
    taken_away(cx, &events).await?;
    audit(cx, c, source, Deleted, "identity_provider", id, &[]);
    Ok(())
}

/// Mappings.
pub async fn mappings(cx: &Context, c: &Validated) -> DomainResult<Vec<Mapping>> {
    allowed(c, Action::ListMappings)?;
    store::federation::mappings(&cx.db).await
}

/// One mapping.
pub async fn mapping(cx: &Context, c: &Validated, id: &str) -> DomainResult<Mapping> {
    allowed(c, Action::GetMapping)?;
    mapping_row(cx, id).await
}

async fn mapping_row(cx: &Context, id: &str) -> DomainResult<Mapping> {
    store::find::<Mapping>(&cx.db, id)
        .await?
        .ok_or_else(|| DomainError::not_found("mapping", id))
}

/// The schema versions of Keystone's mapping rules that Lintel reads (not 3.0's `projects_json`).
const SCHEMA_VERSIONS: [&str; 2] = ["1.0", "2.0"];

fn checked_version(v: Option<String>) -> DomainResult<String> {
    let v = v.filter(|v| !v.is_empty()).unwrap_or_else(|| "1.0".into());
    if !SCHEMA_VERSIONS.contains(&v.as_str()) {
        return Err(DomainError::validation(format!(
            "mapping.schema_version. '{v}' is not one of {SCHEMA_VERSIONS:?}"
        )));
    }
    Ok(v)
}

/// Create a mapping under `id`.
pub async fn create_mapping(
    cx: &Context,
    c: &Validated,
    source: Option<std::net::IpAddr>,
    id: &str,
    rules: &serde_json::Value,
    schema_version: Option<String>,
) -> DomainResult<Mapping> {
    allowed(c, Action::CreateMapping)?;
    check_id("mapping.id", id)?;
    Rules::parse(rules)?;
    let m = Mapping {
        id: id.to_string(),
        // As given: Keystone's clients compare the rules they read with the ones they wrote.
        rules: rules.to_string(),
        schema_version: checked_version(schema_version)?,
    };
    let m = store::insert_new(&cx.db, m, || DomainError::duplicate("mapping", "id", id)).await?;
    audit(cx, c, source, Created, "mapping", id, &[]);
    Ok(m)
}

/// The users whose sign-ins went through protocols using a mapping.
async fn mapping_events(cx: &Context, id: &str) -> DomainResult<Vec<Event>> {
    let mut providers: Vec<String> = store::federation::protocols_using(&cx.db, id)
        .await?
        .into_iter()
        .map(|p| p.idp_id)
        .collect();
    // A provider with several protocols on the mapping is revoked once.
    providers.sort();
    providers.dedup();
    let mut events = Vec::new();
    for idp in &providers {
        events.extend(provider_events(cx, idp).await?);
    }
    Ok(events)
}

/// Replace a mapping's rules; the sign-ins they granted are revoked (the new rules decide the next ones).
pub async fn update_mapping(
    cx: &Context,
    c: &Validated,
    source: Option<std::net::IpAddr>,
    id: &str,
    rules: Option<&serde_json::Value>,
    schema_version: Option<String>,
) -> DomainResult<Mapping> {
    allowed(c, Action::UpdateMapping)?;
    let mut m = mapping_row(cx, id).await?;
    if let Some(r) = rules {
        Rules::parse(r)?;
        m.rules = r.to_string();
    }
    if rules.is_none() {
        return Err(DomainError::validation(
            "mapping.rules. 'rules' is a required property",
        ));
    }
    if schema_version.is_some() {
        m.schema_version = checked_version(schema_version)?;
    }
    let events = mapping_events(cx, id).await?;
    let m = store::update_row(&cx.db, m).await?;
    store::revocations::record(&cx.db, &events).await?;
    taken_away(cx, &events).await?;
    audit(cx, c, source, Updated, "mapping", id, &[]);
    Ok(m)
}

/// Delete a mapping, revoking what sign-ins through it issued.
pub async fn delete_mapping(
    cx: &Context,
    c: &Validated,
    source: Option<std::net::IpAddr>,
    id: &str,
) -> DomainResult<()> {
    allowed(c, Action::DeleteMapping)?;
    let m = mapping_row(cx, id).await?;
    let events = mapping_events(cx, id).await?;
    store::federation::delete_mapping(&cx.db, m, &events).await?;
    taken_away(cx, &events).await?;
    audit(cx, c, source, Deleted, "mapping", id, &[]);
    Ok(())
}

/// A provider's protocols.
pub async fn protocols(cx: &Context, c: &Validated, idp_id: &str) -> DomainResult<Vec<Protocol>> {
    allowed(c, Action::ListProtocols)?;
    provider_row(cx, idp_id).await?;
    store::federation::protocols(&cx.db, idp_id).await
}

/// One protocol of a provider.
pub async fn protocol(
    cx: &Context,
    c: &Validated,
    idp_id: &str,
    id: &str,
) -> DomainResult<Protocol> {
    allowed(c, Action::GetProtocol)?;
    protocol_row(cx, idp_id, id).await
}

async fn protocol_row(cx: &Context, idp_id: &str, id: &str) -> DomainResult<Protocol> {
    provider_row(cx, idp_id).await?;
    store::federation::protocol(&cx.db, idp_id, id)
        .await?
        .ok_or_else(|| {
            DomainError::NotFound(format!(
                "Could not find federated protocol {id} for Identity Provider: {idp_id}."
            ))
        })
}

/// A protocol's fields as a request gives them.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProtocolFields {
    /// Its mapping.
    pub mapping_id: Option<String>,
    /// Keystone's remote id attribute.
    pub remote_id_attribute: Option<Option<String>>,
}

/// A protocol's mapping: required, and it must exist (Keystone checks it first, and answers 400).
async fn existing_mapping(cx: &Context, id: Option<String>) -> DomainResult<String> {
    let id = id.ok_or_else(|| {
        DomainError::validation("protocol.mapping_id. 'mapping_id' is a required property")
    })?;
    check_len("mapping_id", &id, ID_MAX)?;
    match store::find::<Mapping>(&cx.db, &id).await? {
        Some(_) => Ok(id),
        None => Err(DomainError::Invalid(format!("Invalid mapping id: {id}"))),
    }
}

/// Add a protocol (`openid`) to a provider.
pub async fn create_protocol(
    cx: &Context,
    c: &Validated,
    source: Option<std::net::IpAddr>,
    idp_id: &str,
    id: &str,
    f: ProtocolFields,
) -> DomainResult<Protocol> {
    allowed(c, Action::CreateProtocol)?;
    check_id("protocol.id", id)?;
    let mapping_id = existing_mapping(cx, f.mapping_id).await?;
    provider_row(cx, idp_id).await?;
    let remote_id_attribute = f.remote_id_attribute.flatten();
    if let Some(a) = &remote_id_attribute {
        check_len("remote_id_attribute", a, ID_MAX)?;
    }
    let p = Protocol {
        id: id.to_string(),
        idp_id: idp_id.to_string(),
        mapping_id,
        remote_id_attribute,
    };
    let p = store::federation::insert_protocol(&cx.db, p).await?;
    audit(
        cx,
        c,
        source,
        Created,
        "federation_protocol",
        id,
        &[("identity_provider", idp_id)],
    );
    Ok(p)
}

/// Point a protocol at another mapping.
pub async fn update_protocol(
    cx: &Context,
    c: &Validated,
    source: Option<std::net::IpAddr>,
    idp_id: &str,
    id: &str,
    f: ProtocolFields,
) -> DomainResult<Protocol> {
    allowed(c, Action::UpdateProtocol)?;
    let mapping_id = existing_mapping(cx, f.mapping_id).await?;
    let mut p = protocol_row(cx, idp_id, id).await?;
    p.mapping_id = mapping_id;
    if let Some(a) = f.remote_id_attribute {
        if let Some(a) = &a {
            check_len("remote_id_attribute", a, ID_MAX)?;
        }
        p.remote_id_attribute = a;
    }
    let p = store::federation::update_protocol(&cx.db, p).await?;
    audit(
        cx,
        c,
        source,
        Updated,
        "federation_protocol",
        id,
        &[("identity_provider", idp_id)],
    );
    Ok(p)
}

/// Remove a protocol from a provider, revoking what its sign-ins issued.
pub async fn delete_protocol(
    cx: &Context,
    c: &Validated,
    source: Option<std::net::IpAddr>,
    idp_id: &str,
    id: &str,
) -> DomainResult<()> {
    allowed(c, Action::DeleteProtocol)?;
    let p = protocol_row(cx, idp_id, id).await?;
    let events = provider_events(cx, idp_id).await?;
    store::federation::delete_protocol(&cx.db, p, &events).await?;
    taken_away(cx, &events).await?;
    audit(
        cx,
        c,
        source,
        Deleted,
        "federation_protocol",
        id,
        &[("identity_provider", idp_id)],
    );
    Ok(())
}
