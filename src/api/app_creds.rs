//! `/v3/users/{user_id}/application_credentials` and `/v3/users/{user_id}/access_rules`.

use crate::model::AccessRule;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::api::{ListLinks, SelfLink};
use crate::credential::{self, Bindings, Credential, NewCredential, RoleRef, RuleRef};
use crate::crypto::hashing::Secret;
use crate::error::{DomainError, DomainResult};
use crate::http::error::ApiResult;
use crate::http::routes::{op, Routes};
use crate::http::{Caller, JsonBody, SourceAddr};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Routes {
    const CREDS: &str = "/v3/users/{user_id}/application_credentials";
    const CRED: &str = "/v3/users/{user_id}/application_credentials/{id}";
    const RULE: &str = "/v3/users/{user_id}/access_rules/{id}";
    Routes::new()
        .get(
            CREDS,
            list,
            op("List a user's application credentials")
                .query::<ListFilters>()
                .ok::<AppCredsResponse>(200, "The credentials"),
        )
        .post(
            CREDS,
            create,
            op("Create an application credential (the answer holds its secret, once)")
                .json::<AppCredRequest>()
                .ok::<AppCredResponse>(201, "Created"),
        )
        .get(
            CRED,
            show,
            op("Show an application credential").ok::<AppCredResponse>(200, "The credential"),
        )
        .delete(
            CRED,
            remove,
            op("Delete an application credential").empty(204, "Deleted"),
        )
        .post(
            "/v3/users/{user_id}/application_credentials/{id}/rotate",
            rotate,
            op("Rotate a credential's secret under the same id (Lintel; the answer holds the new secret, once)")
                .json::<RotateRequest>()
                .ok::<AppCredResponse>(200, "Rotated"),
        )
        .get(
            "/v3/users/{user_id}/access_rules",
            list_rules,
            op("List a user's access rules").ok::<AccessRulesResponse>(200, "The rules"),
        )
        .get(
            RULE,
            show_rule,
            op("Show an access rule").ok::<AccessRuleResponse>(200, "The rule"),
        )
        .delete(
            RULE,
            remove_rule,
            op("Delete an unused access rule").empty(204, "Deleted"),
        )
}

/// An access rule: which requests a restricted credential's token may make.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessRuleView {
    /// Rule id.
    pub id: String,
    /// Service type (`identity`, `compute`, ...).
    pub service: String,
    /// Path template (`*` one segment, `**` any number).
    pub path: String,
    /// HTTP method.
    pub method: String,
}

impl AccessRuleView {
    fn of(r: &AccessRule) -> AccessRuleView {
        AccessRuleView {
            id: r.id.clone(),
            service: r.service.clone(),
            path: r.path.clone(),
            method: r.method.clone(),
        }
    }
}

/// A role a credential carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppCredRole {
    /// Role id.
    pub id: String,
    /// Role name.
    pub name: String,
    /// Owning domain (null: a global role).
    pub domain_id: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Options.
    pub options: Map<String, Value>,
}

/// An application credential as Keystone shows it (no `Debug`: it may carry the secret).
#[derive(Serialize, ToSchema)]
pub struct AppCredView {
    /// Credential id (the OAuth 2.0 client id).
    pub id: String,
    /// Name, unique for its user.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Owner.
    pub user_id: String,
    /// The project its tokens are scoped to.
    pub project_id: String,
    /// Always null (system-scoped credentials are not supported).
    pub system: Option<String>,
    /// Expiry (ISO 8601, microseconds, UTC), or null.
    pub expires_at: Option<String>,
    /// Whether its tokens may manage credentials and trusts.
    pub unrestricted: Option<bool>,
    /// The roles its tokens carry.
    pub roles: Vec<AppCredRole>,
    /// `self` link.
    pub links: SelfLink,
    /// Access rules (only when it has some).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_rules: Option<Vec<AccessRuleView>>,
    /// mTLS binding: certificate subject DN (only when set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_subject_dn: Option<String>,
    /// mTLS binding: issuer DN (only when set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_issuer_dn: Option<String>,
    /// mTLS binding: certificate SHA-256 thumbprint (only when set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_x5t_s256: Option<String>,
    /// `private_key_jwt` keys (only when set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// The secret (only in the answer to its creation or rotation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// When its current secret was last used, as far as the last minute's write shows (Lintel; never used: null).
    pub last_used_at: Option<String>,
    /// When its secret was last rotated (Lintel; only after a rotation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<String>,
    /// Until when its previous secret works (Lintel; only during a rotation's grace window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
    /// Since when it must be rotated: a person who saw its secret lost access (Lintel; service accounts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_required_at: Option<String>,
    /// Its own issuance rate, tokens per minute per node (Lintel; only when set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue_rate: Option<i32>,
    /// The previous `private_key_jwt` keys, verifying assertions until `previous_secret_expires_at` (Lintel; only
    /// during a rotation's grace window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_jwks: Option<Value>,
}

impl AppCredView {
    /// The view of a credential (`secret` only at creation).
    pub fn of(state: &AppState, c: &Credential, secret: Option<&Secret>) -> AppCredView {
        let m = &c.model;
        let roles = c
            .roles
            .iter()
            .map(|r| AppCredRole {
                id: r.id.clone(),
                name: r.name.clone(),
                domain_id: r.domain_id.clone(),
                description: r.description.clone(),
                options: serde_json::from_str(&r.options).unwrap_or_default(),
            })
            .collect();
        AppCredView {
            id: m.id.clone(),
            name: m.name.clone(),
            description: m.description.clone(),
            user_id: m.user_id.clone(),
            project_id: m.project_id.clone(),
            system: None,
            expires_at: m
                .expires_at
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()),
            unrestricted: m.unrestricted,
            roles,
            links: SelfLink::to(state, &format!("application_credentials/{}", m.id)),
            // Keystone shows access rules and client bindings only when set: its clients expect that shape.
            access_rules: (!c.rules.is_empty())
                .then(|| c.rules.iter().map(AccessRuleView::of).collect()),
            tls_client_auth_subject_dn: m.tls_client_auth_subject_dn.clone(),
            tls_client_auth_issuer_dn: m.tls_client_auth_issuer_dn.clone(),
            tls_client_auth_x5t_s256: m.tls_client_auth_x5t_s256.clone(),
            jwks: m.jwks.as_deref().and_then(|j| serde_json::from_str(j).ok()),
            secret: secret.map(|s| s.expose().to_owned()),
            last_used_at: m.last_used_at.map(crate::auth::iso),
            rotated_at: m.rotated_at.map(crate::auth::iso),
            previous_secret_expires_at: m
                .prior_secret_retires_at
                .filter(|t| *t > state.clock.now())
                .map(crate::auth::iso),
            rotation_required_at: m.rotation_required_at.map(crate::auth::iso),
            issue_rate: m.issue_rate,
            previous_jwks: m
                .live_jwks(state.clock.now())
                .find(|(w, _)| *w == crate::model::Which::Prior)
                .and_then(|(_, j)| serde_json::from_str(j).ok()),
        }
    }
}

/// `{"application_credential": {...}}`.
#[derive(Serialize, ToSchema)]
pub struct AppCredResponse {
    /// The credential.
    pub application_credential: AppCredView,
}

/// `{"application_credentials": [...], "links": {...}}`.
#[derive(Serialize, ToSchema)]
pub struct AppCredsResponse {
    /// The credentials.
    pub application_credentials: Vec<AppCredView>,
    /// Keystone's list links.
    pub links: ListLinks,
}

/// `{"access_rule": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessRuleResponse {
    /// The rule.
    pub access_rule: AccessRuleView,
}

/// `{"access_rules": [...], "links": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessRulesResponse {
    /// The rules.
    pub access_rules: Vec<AccessRuleView>,
    /// Keystone's list links.
    pub links: ListLinks,
}

/// A role named in a create request: by id or by name.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleByIdOrName {
    /// Role id.
    pub id: Option<String>,
    /// Role name.
    pub name: Option<String>,
}

/// An access rule in a create request: an existing rule's id, or service, method and path.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AccessRuleRequest {
    /// An existing rule of this user.
    pub id: Option<String>,
    /// Service type: 1 to 64 letters, digits, dashes.
    pub service: Option<String>,
    /// Path template, starting with `/`, at most 225 characters.
    pub path: Option<String>,
    /// GET, HEAD, POST, PUT, PATCH or DELETE.
    pub method: Option<String>,
}

/// The credential a create request describes (Keystone's schema: no other field; null is absent).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAppCred {
    /// Name, unique for the user.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// The secret (generated when absent).
    pub secret: Option<String>,
    /// Expiry (ISO 8601).
    pub expires_at: Option<String>,
    /// A subset of the token's roles (default: all of them).
    pub roles: Option<Vec<RoleByIdOrName>>,
    /// Whether its tokens may manage credentials.
    pub unrestricted: Option<bool>,
    /// Access rules.
    pub access_rules: Option<Vec<AccessRuleRequest>>,
    /// Keystone's system scope for a credential: accepted and ignored, as Lintel's credentials are project-scoped.
    #[schema(value_type = Option<Object>)]
    pub system: Option<Value>,
    /// mTLS binding: certificate subject DN.
    pub tls_client_auth_subject_dn: Option<String>,
    /// mTLS binding: issuer DN.
    pub tls_client_auth_issuer_dn: Option<String>,
    /// mTLS binding: certificate SHA-256 thumbprint.
    pub tls_client_auth_x5t_s256: Option<String>,
    /// `private_key_jwt` keys.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// Tokens per minute it may be issued on each node (Lintel; overrides `[oauth2] credential_issue_rate`;
    /// above it only for an admin).
    pub issue_rate: Option<u32>,
}

/// `{"application_credential": {...}}` as a create request.
#[derive(Deserialize, ToSchema)]
pub struct AppCredRequest {
    /// The credential.
    pub application_credential: NewAppCred,
}

impl NewAppCred {
    /// The rules a well-formed request must still meet (Keystone's limits, bounded access rules), and the
    /// credential it asks for.
    fn into_new(self) -> DomainResult<NewCredential> {
        crate::api::check_name(&self.name, crate::api::NAME_MAX)?;
        crate::api::check_description(self.description.as_deref(), None)?;
        let expires_at = self.expires_at.as_deref().map(parse_time).transpose()?;
        let mut roles = Vec::new();
        for r in self.roles.unwrap_or_default() {
            match (r.id, r.name) {
                (Some(id), _) => roles.push(RoleRef::Id(id)),
                (None, Some(n)) => roles.push(RoleRef::Name(n)),
                (None, None) => {
                    return Err(DomainError::validation(
                        "application_credential.roles. a role needs an 'id' or a 'name'",
                    ))
                }
            }
        }
        let rules = self.access_rules.unwrap_or_default();
        // Every rule is matched against every request the credential's tokens make: bound their number.
        if rules.len() > ACCESS_RULES_MAX {
            return Err(DomainError::validation(format!(
                "application_credential.access_rules. {} rules is more than the {ACCESS_RULES_MAX} allowed",
                rules.len()
            )));
        }
        let access_rules = rules
            .into_iter()
            .map(AccessRuleRequest::into_ref)
            .collect::<DomainResult<Vec<_>>>()?;
        Ok(NewCredential {
            name: self.name,
            description: self.description,
            secret: self.secret.map(Secret::new),
            expires_at,
            roles,
            unrestricted: self.unrestricted,
            access_rules,
            bindings: Bindings {
                subject_dn: self.tls_client_auth_subject_dn,
                issuer_dn: self.tls_client_auth_issuer_dn,
                x5t_s256: self.tls_client_auth_x5t_s256,
                jwks: self.jwks,
            },
            issue_rate: self.issue_rate,
        })
    }
}

impl AccessRuleRequest {
    /// An existing rule by id, or a new one that meets Keystone's schema.
    fn into_ref(self) -> DomainResult<RuleRef> {
        if let Some(id) = self.id {
            check_id_string("id", &id)?;
            return Ok(RuleRef::Id(id));
        }
        let (Some(service), Some(method), Some(path)) = (self.service, self.method, self.path)
        else {
            return Err(DomainError::validation(
                "application_credential.access_rules. a rule needs 'service', 'method' and 'path'",
            ));
        };
        // Keystone's schema: a service type of at most 64 letters, digits and dashes, a path of at most 225
        // characters (which also bounds the work of matching it against every request).
        check_id_string("service", &service)?;
        crate::api::check_len("path", &path, ACCESS_RULE_PATH_MAX)?;
        let method = method.to_ascii_uppercase();
        if !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
            return Err(DomainError::validation(format!(
                "application_credential.access_rules.method. '{method}' is not a valid method"
            )));
        }
        if !path.starts_with('/') {
            return Err(DomainError::validation(format!(
                "application_credential.access_rules.path. '{path}' must start with '/'"
            )));
        }
        Ok(RuleRef::New {
            service,
            method,
            path,
        })
    }
}

/// ISO 8601 / RFC 3339, with or without a zone (no zone means UTC), normalised to naive UTC.
fn parse_time(s: &str) -> DomainResult<chrono::NaiveDateTime> {
    use chrono::Datelike;
    let parsed = chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.naive_utc())
        .ok()
        .or_else(|| {
            [
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M",
            ]
            .iter()
            .find_map(|f| chrono::NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), f).ok())
        });
    // Four-digit years only, as ISO 8601 writes them without agreement: every backend stores those exactly (MariaDB
    // would store a later one as a zero date, read back as no expiry at all).
    if let Some(t) = parsed.filter(|t| (1..=9999).contains(&t.year())) {
        return Ok(t);
    }
    Err(DomainError::Invalid(format!(
        "Timestamp not in expected format. The server could not comply with the request since it is either malformed \
         or otherwise incorrect. The client is assumed to be in error. ({s})"
    )))
}

async fn create(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<AppCredRequest>,
) -> ApiResult<(StatusCode, Json<AppCredResponse>)> {
    let new = body.application_credential.into_new()?;
    let (cred, secret) = credential::create(&state, &c, source, &user_id, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(AppCredResponse {
            application_credential: AppCredView::of(&state, &cred, Some(&secret)),
        }),
    ))
}

/// Query filters of the credential list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListFilters {
    /// Exact name.
    pub name: Option<String>,
    /// Only those not used since this time (never used included; Lintel).
    pub unused_since: Option<String>,
    /// Only those expiring before this time (Lintel).
    pub expires_before: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(user_id): Path<String>,
    Query(f): Query<ListFilters>,
) -> ApiResult<Json<AppCredsResponse>> {
    let unused_since = f.unused_since.as_deref().map(parse_time).transpose()?;
    let expires_before = f.expires_before.as_deref().map(parse_time).transpose()?;
    let application_credentials = credential::list_of(&state, &c, &user_id, f.name.as_deref())
        .await?
        .iter()
        .filter(|cr| {
            let m = &cr.model;
            unused_since.is_none_or(|t| m.last_used_at.is_none_or(|u| u < t))
                && expires_before.is_none_or(|t| m.expires_at.is_some_and(|e| e < t))
        })
        .map(|cr| AppCredView::of(&state, cr, None))
        .collect();
    Ok(Json(AppCredsResponse {
        application_credentials,
        links: ListLinks::to(&state, &format!("users/{user_id}/application_credentials")),
    }))
}

async fn show(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((user_id, id)): Path<(String, String)>,
) -> ApiResult<Json<AppCredResponse>> {
    let cred = credential::get(&state, &c, &user_id, &id).await?;
    Ok(Json(AppCredResponse {
        application_credential: AppCredView::of(&state, &cred, None),
    }))
}

async fn remove(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path((user_id, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    credential::remove(&state, &c, source, &user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST .../application_credentials/{id}/rotate`: `{}` for the configured grace window, or a shorter one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// What to change about the rotation.
    #[serde(default)]
    pub application_credential: Option<RotateFields>,
}

/// What a rotation may change beside the secret.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateFields {
    /// Seconds the previous secret keeps working (default `[application_credential] rotation_grace`, at most
    /// 604800).
    pub grace_period: Option<u64>,
    /// New `private_key_jwt` keys: the previous ones keep verifying assertions for the same grace window.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
}

async fn rotate(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path((user_id, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RotateRequest>,
) -> ApiResult<Json<AppCredResponse>> {
    let fields = body.application_credential.unwrap_or_default();
    let rotation = credential::Rotation {
        grace: fields.grace_period.map(std::time::Duration::from_secs),
        jwks: fields.jwks,
    };
    let (cred, secret) = credential::rotate(&state, &c, source, &user_id, &id, rotation).await?;
    Ok(Json(AppCredResponse {
        application_credential: AppCredView::of(&state, &cred, Some(&secret)),
    }))
}

async fn list_rules(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<AccessRulesResponse>> {
    let rules = credential::rules(&state, &c, &user_id).await?;
    Ok(Json(AccessRulesResponse {
        access_rules: rules.iter().map(AccessRuleView::of).collect(),
        links: ListLinks::to(&state, &format!("users/{user_id}/access_rules")),
    }))
}

async fn show_rule(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((user_id, id)): Path<(String, String)>,
) -> ApiResult<Json<AccessRuleResponse>> {
    let rule = credential::rule(&state, &c, &user_id, &id).await?;
    Ok(Json(AccessRuleResponse {
        access_rule: AccessRuleView::of(&rule),
    }))
}

async fn remove_rule(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path((user_id, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    credential::remove_rule(&state, &c, source, &user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Longest access rule path (Keystone's schema).
const ACCESS_RULE_PATH_MAX: usize = 225;
/// Access rules one credential may carry.
const ACCESS_RULES_MAX: usize = 100;

/// Keystone's `id_string`: 1 to 64 letters, digits, dashes (and underscores, for ids).
fn check_id_string(field: &str, value: &str) -> Result<(), DomainError> {
    crate::api::check_len(field, value, 64)?;
    if value.is_empty()
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(DomainError::validation(format!(
            "application_credential.access_rules.{field}. '{}' does not match '^[a-zA-Z0-9-_]+$'",
            value.chars().take(64).collect::<String>()
        )));
    }
    Ok(())
}
