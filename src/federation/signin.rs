//! A federated sign-in: a provider's token (or a SPIFFE certificate) in, through the protocol's mapping, a
//! federated user (Keystone's shadow user, made on first sign-in) with the mapped groups out, as an unscoped token
//! the client rescopes. Every attempt is audited (provider, subject, mapped user, outcome) and counted per provider.
//! The provider, protocol and mapping are read from the database on every sign-in, so disabling a provider or
//! changing a mapping holds at once on every node.

use sha2::{Digest, Sha256};

use crate::audit::{Initiator, Outcome};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::model::federation::{FederatedUser, IdentityProvider, Mapping};
use crate::model::User;
use crate::store;
use crate::token::codec::new_audit_id;
use crate::token::{Scope, TokenData};

use super::jwt::{self, Expect, Refusal};
use super::mapping::{DomainRef, Mapped, Rules, UserKind};

/// What the client proved.
pub enum Proof<'a> {
    /// A provider's JWT (`Authorization: Bearer`, or an RFC 7523 assertion).
    Jwt(&'a str),
    /// The chain of a TLS client certificate: a SPIFFE X.509-SVID, verified against the provider's trust bundle.
    Svid(&'a crate::transport::mtls::ClientCert),
}

/// A sign-in that did not get through: why (for the audit trail and metrics) and what the client is told.
#[derive(Debug)]
pub enum Failed {
    /// Refused: a 401.
    Refused(&'static str, String),
    /// Anything else (an unknown provider is a 404, the database may be down).
    Error(DomainError),
}

impl From<DomainError> for Failed {
    fn from(e: DomainError) -> Self {
        Failed::Error(e)
    }
}

impl From<Refusal> for Failed {
    fn from(r: Refusal) -> Self {
        Failed::Refused(r.reason(), r.to_string())
    }
}

fn refused(reason: &'static str, message: &str) -> Failed {
    Failed::Refused(reason, message.to_string())
}

/// Who signed in, as far as the attempt got.
#[derive(Default)]
struct Attempt {
    subject: Option<String>,
    user_id: Option<String>,
}

/// A signed-in user: who, through which provider and protocol.
pub struct SignedIn {
    /// The local user.
    pub user: User,
    /// The provider.
    pub idp_id: String,
    /// The protocol.
    pub protocol_id: String,
}

/// Sign in through `idp_id`'s `protocol_id`; an unscoped token's facts, audited.
pub async fn sign_in(
    cx: &Context,
    idp_id: &str,
    protocol_id: &str,
    proof: Proof<'_>,
    source: Option<std::net::IpAddr>,
) -> DomainResult<TokenData> {
    let signed = signed_in(cx, idp_id, protocol_id, proof, source).await?;
    let now = cx.clock.now();
    Ok(TokenData {
        methods: vec![protocol_method(protocol_id)],
        user_id: signed.user.id,
        scope: Scope::Unscoped,
        role_ids: Vec::new(),
        issued_at: now,
        expires_at: crate::auth::default_expiry(cx, now),
        audit_ids: vec![new_audit_id()],
        app_cred_id: None,
        cert: None,
        keystone_cert: None,
    })
}

/// The method a federated token records: `openid`, else Keystone's generic `mapped`.
fn protocol_method(protocol_id: &str) -> String {
    if protocol_id == "openid" {
        "openid".into()
    } else {
        "mapped".into()
    }
}

/// Sign in and audit the attempt; the user on success.
pub async fn signed_in(
    cx: &Context,
    idp_id: &str,
    protocol_id: &str,
    proof: Proof<'_>,
    source: Option<std::net::IpAddr>,
) -> DomainResult<SignedIn> {
    let mut attempt = Attempt::default();
    let outcome = attempt_sign_in(cx, idp_id, protocol_id, proof, &mut attempt).await;
    let who = Initiator {
        user_id: attempt.user_id.clone(),
        name: attempt.subject.map(|s| format!("{idp_id}:{s}")),
        source,
        method: Some(protocol_method(protocol_id)),
        credential_id: None,
    };
    let now = cx.clock.now();
    let count = |outcome: &'static str| {
        crate::metrics::metrics()
            .federated_sign_ins
            .get_or_create(&crate::metrics::SignIn {
                provider: idp_id.to_string(),
                outcome,
            })
            .inc();
    };
    match outcome {
        Ok(user) => {
            cx.audit.authenticate(now, &who, Outcome::Success, None);
            count("success");
            Ok(SignedIn {
                user,
                idp_id: idp_id.to_string(),
                protocol_id: protocol_id.to_string(),
            })
        }
        Err(Failed::Refused(reason, message)) => {
            cx.audit
                .authenticate(now, &who, Outcome::Failure, Some(reason));
            count(reason);
            Err(DomainError::unauthorized_msg(message))
        }
        Err(Failed::Error(e)) => {
            if matches!(e, DomainError::NotFound(_)) {
                cx.audit.authenticate(
                    now,
                    &who,
                    Outcome::Failure,
                    Some("unknown provider or protocol"),
                );
            }
            Err(e)
        }
    }
}

async fn attempt_sign_in(
    cx: &Context,
    idp_id: &str,
    protocol_id: &str,
    proof: Proof<'_>,
    attempt: &mut Attempt,
) -> Result<User, Failed> {
    cx.node.serving(&cx.clock)?;
    let idp = store::find::<IdentityProvider>(&cx.db, idp_id)
        .await?
        .ok_or_else(|| DomainError::not_found("Identity Provider", idp_id))?;
    let protocol = store::federation::protocol(&cx.db, idp_id, protocol_id)
        .await?
        .ok_or_else(|| {
            DomainError::NotFound(format!(
                "Could not find federated protocol {protocol_id} for Identity Provider: {idp_id}."
            ))
        })?;
    if !idp.enabled {
        return Err(refused(
            "provider disabled",
            "The identity provider is disabled.",
        ));
    }
    let claims = match proof {
        Proof::Jwt(token) => verified_claims(cx, &idp, token).await?,
        Proof::Svid(cert) => svid_claims(cx, &idp, cert).await?,
    };
    attempt.subject = claims["sub"].as_str().map(str::to_string);
    let mapping = store::find::<Mapping>(&cx.db, &protocol.mapping_id)
        .await?
        .ok_or_else(|| refused("no mapping", "The protocol's mapping is gone."))?;
    let rules_json: serde_json::Value = serde_json::from_str(&mapping.rules)
        .map_err(|_| refused("no mapping", "The protocol's mapping is unreadable."))?;
    let rules = Rules::parse(&rules_json)?;
    if let Some(sa) = default_service_account(&claims) {
        if !rules.names(&sa) {
            return Err(refused(
                "default service account",
                "A Kubernetes namespace's default service account signs in only where a mapping rule names it.",
            ));
        }
    }
    let mapped = rules.apply(&claims).ok_or_else(|| {
        refused(
            "not mapped",
            "Could not map any federated user properties to identity values.",
        )
    })?;
    let user = user_of(cx, &idp, protocol_id, &mapped).await?;
    attempt.user_id = Some(user.id.clone());
    if !user.enabled {
        return Err(refused("user disabled", "The mapped user is disabled."));
    }
    if mapped.user.kind != Some(UserKind::Local) {
        let groups = group_ids(cx, &idp, &mapped).await?;
        let changed = store::federation::set_groups(&cx.db, &user.id, &groups).await?;
        if provision(cx, &idp, &user, &mapped).await? || changed {
            cx.view.forget_authorizations();
        }
    }
    Ok(user)
}

/// A provider's token, verified; its `jti` accepted once on every node.
async fn verified_claims(
    cx: &Context,
    idp: &IdentityProvider,
    token: &str,
) -> Result<serde_json::Value, Failed> {
    let remote_ids = store::federation::remote_ids(&cx.db, &idp.id).await?;
    let audience = idp
        .audience
        .clone()
        .unwrap_or_else(|| cx.config.default.public_endpoint.clone());
    let f = &cx.config.federation;
    let max_lifetime = idp
        .max_token_lifetime
        .map_or(f.max_token_lifetime, |l| u64::try_from(l).unwrap_or(0));
    let expect = Expect {
        idp,
        remote_ids: &remote_ids,
        audience: &audience,
        skew: f.clock_skew,
        max_lifetime: i64::try_from(max_lifetime).unwrap_or(i64::MAX),
        now: cx.clock.unix(),
    };
    let v = jwt::verify(&cx.federation_keys, token, &expect).await?;
    if let Some((jti, exp)) = &v.jti {
        let key = crate::client_assertion::jti_key(&format!("federation:{}", idp.id), jti);
        let expires = chrono::DateTime::from_timestamp(exp.saturating_add(60), 0)
            .map(|t| t.naive_utc())
            .unwrap_or_else(|| cx.clock.now());
        if !cx.assertions.first_use(&key)
            || !store::credentials::record_jti(&cx.db, key, expires).await?
        {
            return Err(Refusal::Replayed.into());
        }
    }
    Ok(v.claims)
}

/// A SPIFFE X.509-SVID's claims: it chains to the provider's trust bundle, and its trust domain is one of the
/// provider's remote ids.
async fn svid_claims(
    cx: &Context,
    idp: &IdentityProvider,
    cert: &crate::transport::mtls::ClientCert,
) -> Result<serde_json::Value, Failed> {
    let bundle = idp.trust_bundle.as_deref().ok_or_else(|| {
        refused(
            "no trust bundle",
            "The identity provider takes no X.509-SVIDs (it has no trust_bundle).",
        )
    })?;
    let id = super::svid::verify(&cert.chain, bundle).map_err(|why| {
        tracing::info!(provider = %idp.id, why, "X.509-SVID refused");
        refused(
            "bad svid",
            "The client certificate is not an X.509-SVID of the identity provider.",
        )
    })?;
    let remote_ids = store::federation::remote_ids(&cx.db, &idp.id).await?;
    if !remote_ids.contains(&id.trust_domain) {
        return Err(Refusal::Issuer.into());
    }
    Ok(id.claims())
}

/// The service account of a Kubernetes token when it is a namespace's `default` one
/// (`system:serviceaccount:NS:default`).
fn default_service_account(claims: &serde_json::Value) -> Option<String> {
    let sub = claims["sub"].as_str()?;
    let rest = sub.strip_prefix("system:serviceaccount:")?;
    let (_, name) = rest.split_once(':')?;
    (name == "default").then(|| sub.to_string())
}

/// The local user a mapped sign-in is: an existing user (`type: local`), or the provider's federated user for
/// the subject, made on its first sign-in with an id derived from the provider's domain and the subject (the
/// same on every node, so two nodes making it at once make one).
async fn user_of(
    cx: &Context,
    idp: &IdentityProvider,
    protocol_id: &str,
    mapped: &Mapped,
) -> Result<User, Failed> {
    let u = &mapped.user;
    if u.kind == Some(UserKind::Local) {
        let found = match (&u.id, &u.name) {
            (Some(id), _) => store::find::<User>(&cx.db, id).await?,
            (None, Some(name)) => {
                let domain = domain_of(cx, u.domain.as_ref(), &idp.domain_id).await?;
                store::users::by_name(&cx.db, &domain, name).await?
            }
            (None, None) => None,
        };
        return found.ok_or_else(|| {
            refused(
                "no such local user",
                "The mapped local user does not exist.",
            )
        });
    }
    // Keystone's unique id: the mapped id, else the name (URL-quoted there; any text here).
    let unique_id =
        u.id.clone()
            .or_else(|| u.name.clone())
            .filter(|s| !s.is_empty() && s.len() <= 255)
            .ok_or_else(|| refused("not mapped", "The mapped user has no usable id or name."))?;
    for _ in 0..2 {
        if let Some(link) =
            store::federation::federated_user(&cx.db, &idp.id, protocol_id, &unique_id).await?
        {
            return store::find::<User>(&cx.db, &link.user_id)
                .await?
                .ok_or_else(|| refused("user gone", "The federated user was deleted."));
        }
        let id = federated_user_id(&idp.domain_id, &unique_id);
        let name = u.name.clone().unwrap_or_else(|| unique_id.clone());
        let now = cx.clock.now();
        let extra = match &u.email {
            Some(e) => serde_json::json!({ "email": e }).to_string(),
            None => "{}".into(),
        };
        let user = User {
            id: id.clone(),
            name: name.clone(),
            domain_id: idp.domain_id.clone(),
            enabled: true,
            password_hash: None,
            default_project_id: None,
            extra,
            password_expires_at: None,
            failed_auth_count: 0,
            last_failed_auth_at: None,
            created_at: now,
            options: None,
            last_active_at: None,
            password_created_at: None,
            password_self_service: false,
            service_project_id: None,
        };
        let link = FederatedUser {
            idp_id: idp.id.clone(),
            protocol_id: protocol_id.to_string(),
            unique_id: unique_id.clone(),
            user_id: id,
            display_name: Some(name),
        };
        match store::federation::insert_federated_user(&cx.db, user.clone(), link).await {
            Ok(true) => return Ok(user),
            // Another node made the link meanwhile: read it.
            Ok(false) => continue,
            Err(DomainError::Conflict(_)) => {
                return Err(refused(
                    "name taken",
                    "Another user of the identity provider's domain has the mapped name.",
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(refused(
        "user gone",
        "The federated user could not be made.",
    ))
}

/// A federated user's id: SHA-256 of the provider's domain and the subject, as 32 hex digits (the shape of
/// every other Lintel id).
fn federated_user_id(domain_id: &str, unique_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(domain_id.as_bytes());
    h.update(b"user");
    h.update(unique_id.as_bytes());
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn domain_of(cx: &Context, d: Option<&DomainRef>, default: &str) -> Result<String, Failed> {
    match d {
        Some(DomainRef { id: Some(id), .. }) => Ok(id.clone()),
        Some(DomainRef {
            name: Some(name), ..
        }) => Ok(store::domains::by_name(&cx.db, name)
            .await?
            .ok_or_else(|| refused("no such domain", "A mapped domain does not exist."))?
            .id),
        _ => Ok(default.to_string()),
    }
}

/// Keystone's auto-provisioning: each mapped project (by name, in its domain or the provider's) is made if it is
/// missing, and the user is granted the mapped roles on it (roles that do not exist are skipped); whether anything
/// was added. Grants are only added here: taking one away is an administrator's act, revoked as any other.
async fn provision(
    cx: &Context,
    idp: &IdentityProvider,
    user: &User,
    mapped: &Mapped,
) -> Result<bool, Failed> {
    use crate::model::grant::Target as Grant;
    let mut added = false;
    for p in &mapped.projects {
        if p.name.is_empty() || p.name.len() > 64 {
            continue;
        }
        let domain = domain_of(cx, p.domain.as_ref(), &idp.domain_id).await?;
        let project = match store::projects::by_name(&cx.db, &domain, &p.name).await? {
            Some(found) => found,
            None => {
                let new = crate::model::Project {
                    id: crate::rules::new_id(),
                    name: p.name.clone(),
                    domain_id: domain.clone(),
                    parent_id: None,
                    description: Some(format!("Provisioned by identity provider {}", idp.id)),
                    enabled: true,
                    created_at: cx.clock.now(),
                };
                match store::projects::insert(&cx.db, new, &[]).await {
                    Ok(made) => made,
                    // Made by a sign-in on another node meanwhile.
                    Err(DomainError::Conflict(_)) => {
                        store::projects::by_name(&cx.db, &domain, &p.name)
                            .await?
                            .ok_or_else(|| DomainError::internal("provisioned project vanished"))?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let grant = Grant::Project(project.id.clone());
        let key = store::grants::GrantKey {
            grant: &grant,
            group: false,
            actor_id: &user.id,
        };
        for r in &p.roles {
            let Some(role) = store::assignments::role_by_name(&cx.db, &r.name, None).await? else {
                continue;
            };
            if !store::grants::exists(&cx.db, &key, &role.id).await? {
                store::grants::insert(&cx.db, &key, &role.id).await?;
                added = true;
            }
        }
    }
    Ok(added)
}

/// The ids of the mapped groups that exist (Keystone ignores the others).
async fn group_ids(
    cx: &Context,
    idp: &IdentityProvider,
    mapped: &Mapped,
) -> Result<Vec<String>, Failed> {
    let mut ids = Vec::new();
    for id in &mapped.group_ids {
        if store::find::<crate::model::Group>(&cx.db, id)
            .await?
            .is_some()
            && !ids.contains(id)
        {
            ids.push(id.clone());
        }
    }
    for (name, domain) in &mapped.group_names {
        let Ok(d) = domain_of(
            cx,
            Some(domain).filter(|d| d.id.is_some() || d.name.is_some()),
            &idp.domain_id,
        )
        .await
        else {
            continue;
        };
        for g in store::groups::list(&cx.db, Some(name), Some(&d)).await? {
            if !ids.contains(&g.id) {
                ids.push(g.id);
            }
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespaces_default_service_account_is_told_apart() {
        let sa = |s: &str| default_service_account(&serde_json::json!({ "sub": s }));
        assert_eq!(
            sa("system:serviceaccount:ci:default").as_deref(),
            Some("system:serviceaccount:ci:default")
        );
        assert_eq!(sa("system:serviceaccount:ci:builder"), None);
        assert_eq!(sa("repo:org/default:ref:refs/heads/main"), None);
    }

    #[test]
    fn a_subjects_user_id_is_the_same_everywhere_and_apart_per_domain() {
        let a = federated_user_id("d1", "alice");
        assert_eq!(a, federated_user_id("d1", "alice"));
        assert_ne!(a, federated_user_id("d2", "alice"));
        assert_eq!(a.len(), 32);
    }
}
