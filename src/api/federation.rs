//! `/v3/OS-FEDERATION`: identity providers, mappings and protocols as Keystone answers them. HTTP in, one
//! `federation::manage` call, a typed response out.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::{ListLinks, SelfLink};
use crate::federation::{manage, ProtocolFields, Provider, ProviderFields};
use crate::http::error::ApiResult;
use crate::http::routes::{op, Routes};
use crate::http::{Caller, JsonBody, PeerCert, SourceAddr};
use crate::model::federation::{Mapping, Protocol};
use crate::state::AppState;

const IDPS: &str = "/v3/OS-FEDERATION/identity_providers";
const IDP: &str = "/v3/OS-FEDERATION/identity_providers/{idp_id}";
const PROTOCOLS: &str = "/v3/OS-FEDERATION/identity_providers/{idp_id}/protocols";
const PROTOCOL: &str = "/v3/OS-FEDERATION/identity_providers/{idp_id}/protocols/{protocol_id}";
const AUTH: &str = "/v3/OS-FEDERATION/identity_providers/{idp_id}/protocols/{protocol_id}/auth";
const MAPPINGS: &str = "/v3/OS-FEDERATION/mappings";
const MAPPING: &str = "/v3/OS-FEDERATION/mappings/{mapping_id}";

/// Routes of this module.
pub fn routes() -> Routes {
    Routes::new()
        .get(
            IDPS,
            list_providers,
            op("List identity providers")
                .query::<ProviderFilters>()
                .ok::<ProvidersResponse>(200, "The providers"),
        )
        .get(
            IDP,
            show_provider,
            op("Show an identity provider").ok::<ProviderResponse>(200, "The provider"),
        )
        .put(
            IDP,
            create_provider,
            op("Register an identity provider")
                .json::<ProviderRequest>()
                .ok::<ProviderResponse>(201, "Created"),
        )
        .patch(
            IDP,
            update_provider,
            op("Update an identity provider")
                .json::<ProviderRequest>()
                .ok::<ProviderResponse>(200, "Updated"),
        )
        .delete(
            IDP,
            delete_provider,
            op("Delete an identity provider, its protocols and its users").empty(204, "Deleted"),
        )
        .get(
            PROTOCOLS,
            list_protocols,
            op("List a provider's protocols").ok::<ProtocolsResponse>(200, "The protocols"),
        )
        .get(
            PROTOCOL,
            show_protocol,
            op("Show a protocol").ok::<ProtocolResponse>(200, "The protocol"),
        )
        .put(
            PROTOCOL,
            create_protocol,
            op("Add a protocol to a provider")
                .json::<ProtocolRequest>()
                .ok::<ProtocolResponse>(201, "Created"),
        )
        .patch(
            PROTOCOL,
            update_protocol,
            op("Update a protocol")
                .json::<ProtocolRequest>()
                .ok::<ProtocolResponse>(200, "Updated"),
        )
        .delete(
            PROTOCOL,
            delete_protocol,
            op("Delete a protocol").empty(204, "Deleted"),
        )
        .get(
            MAPPINGS,
            list_mappings,
            op("List mappings").ok::<MappingsResponse>(200, "The mappings"),
        )
        .get(
            MAPPING,
            show_mapping,
            op("Show a mapping").ok::<MappingResponse>(200, "The mapping"),
        )
        .put(
            MAPPING,
            create_mapping,
            op("Create a mapping")
                .json::<MappingRequest>()
                .ok::<MappingResponse>(201, "Created"),
        )
        .patch(
            MAPPING,
            update_mapping,
            op("Update a mapping")
                .json::<MappingRequest>()
                .ok::<MappingResponse>(200, "Updated"),
        )
        .delete(
            MAPPING,
            delete_mapping,
            op("Delete a mapping").empty(204, "Deleted"),
        )
        .post(
            AUTH,
            sign_in,
            op("Sign in with the identity provider's token (Authorization: Bearer): an unscoped token")
                .empty(201, "The token, in X-Subject-Token"),
        )
        .get(
            AUTH,
            sign_in,
            op("Sign in, as POST does (Keystone answers both)")
                .empty(201, "The token, in X-Subject-Token"),
        )
}

/// `{"identity_provider": {...}}` as a request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderRequest {
    /// The provider.
    pub identity_provider: ProviderFields,
}

/// A provider's links.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderLinks {
    /// The provider.
    #[serde(rename = "self")]
    pub self_url: String,
    /// Its protocols.
    pub protocols: String,
}

/// An identity provider as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    /// Id.
    pub id: String,
    /// Whether sign-ins are accepted.
    pub enabled: bool,
    /// Description.
    pub description: Option<String>,
    /// The domain of its users.
    pub domain_id: String,
    /// Minutes group memberships from a sign-in count.
    pub authorization_ttl: Option<i32>,
    /// The issuers it answers for.
    pub remote_ids: Vec<String>,
    /// Links.
    pub links: ProviderLinks,
    /// The `aud` its tokens must name (Lintel).
    pub audience: Option<String>,
    /// The longest its tokens may be valid for, in seconds (Lintel).
    pub max_token_lifetime: Option<i32>,
    /// Whether its tokens must carry a `jti` (Lintel).
    pub require_jti: bool,
    /// The CA certificates (PEM) issuing its X.509-SVIDs (Lintel).
    pub trust_bundle: Option<String>,
}

impl ProviderView {
    fn of(state: &AppState, p: Provider) -> ProviderView {
        let base = format!(
            "{}/OS-FEDERATION/identity_providers/{}",
            state.config.v3_url(),
            p.idp.id
        );
        ProviderView {
            links: ProviderLinks {
                protocols: format!("{base}/protocols"),
                self_url: base,
            },
            id: p.idp.id,
            enabled: p.idp.enabled,
            description: p.idp.description,
            domain_id: p.idp.domain_id,
            authorization_ttl: p.idp.authorization_ttl,
            remote_ids: p.remote_ids,
            audience: p.idp.audience,
            max_token_lifetime: p.idp.max_token_lifetime,
            require_jti: p.idp.require_jti,
            trust_bundle: p.idp.trust_bundle,
        }
    }
}

/// `{"identity_provider": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderResponse {
    /// The provider.
    pub identity_provider: ProviderView,
}

/// `{"identity_providers": [...], "links": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvidersResponse {
    /// The providers.
    pub identity_providers: Vec<ProviderView>,
    /// Links.
    pub links: ListLinks,
}

/// Filters of the provider list (Keystone's).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ProviderFilters {
    /// Only this id.
    pub id: Option<String>,
    /// Only enabled (or, with a false-string such as `false` or `0`, disabled) providers.
    pub enabled: Option<String>,
}

async fn list_providers(
    State(state): State<AppState>,
    Caller(c): Caller,
    Query(f): Query<ProviderFilters>,
) -> ApiResult<Json<ProvidersResponse>> {
    let all = manage::providers(&state, &c).await?;
    // oslo's bool_from_string with default true: only a false-string means false.
    let enabled = f.enabled.as_deref().map(|v| {
        !matches!(
            v.to_ascii_lowercase().as_str(),
            "0" | "f" | "false" | "n" | "no" | "off"
        )
    });
    let wanted = |p: &Provider| {
        f.id.as_ref().is_none_or(|id| *id == p.idp.id) && enabled.is_none_or(|e| e == p.idp.enabled)
    };
    Ok(Json(ProvidersResponse {
        identity_providers: all
            .into_iter()
            .filter(wanted)
            .map(|p| ProviderView::of(&state, p))
            .collect(),
        links: ListLinks::to(&state, "OS-FEDERATION/identity_providers"),
    }))
}

async fn show_provider(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ProviderResponse>> {
    let p = manage::provider(&state, &c, &id).await?;
    Ok(Json(ProviderResponse {
        identity_provider: ProviderView::of(&state, p),
    }))
}

async fn create_provider(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ProviderRequest>,
) -> ApiResult<(StatusCode, Json<ProviderResponse>)> {
    let p = manage::create_provider(&state, &c, source, &id, body.identity_provider).await?;
    Ok((
        StatusCode::CREATED,
        Json(ProviderResponse {
            identity_provider: ProviderView::of(&state, p),
        }),
    ))
}

async fn update_provider(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ProviderRequest>,
) -> ApiResult<Json<ProviderResponse>> {
    let p = manage::update_provider(&state, &c, source, &id, body.identity_provider).await?;
    Ok(Json(ProviderResponse {
        identity_provider: ProviderView::of(&state, p),
    }))
}

async fn delete_provider(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    manage::delete_provider(&state, &c, source, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"protocol": {...}}` as a request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProtocolRequest {
    /// The protocol.
    pub protocol: ProtocolFields,
}

/// A protocol's links.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProtocolLinks {
    /// The protocol.
    #[serde(rename = "self")]
    pub self_url: String,
    /// Its provider.
    pub identity_provider: String,
}

/// A protocol as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProtocolView {
    /// Id.
    pub id: String,
    /// Its mapping.
    pub mapping_id: String,
    /// Its provider (in lists only, as Keystone answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp_id: Option<String>,
    /// Keystone's remote id attribute (in lists only, as Keystone answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_id_attribute: Option<Option<String>>,
    /// Links.
    pub links: ProtocolLinks,
}

impl ProtocolView {
    /// As a list shows it: with its provider and remote id attribute.
    fn listed(state: &AppState, p: Protocol) -> ProtocolView {
        let (idp, attr) = (p.idp_id.clone(), p.remote_id_attribute.clone());
        ProtocolView {
            idp_id: Some(idp),
            remote_id_attribute: Some(attr),
            ..ProtocolView::of(state, p)
        }
    }

    fn of(state: &AppState, p: Protocol) -> ProtocolView {
        let idp = format!(
            "{}/OS-FEDERATION/identity_providers/{}",
            state.config.v3_url(),
            p.idp_id
        );
        ProtocolView {
            links: ProtocolLinks {
                self_url: format!("{idp}/protocols/{}", p.id),
                identity_provider: idp,
            },
            id: p.id,
            mapping_id: p.mapping_id,
            idp_id: None,
            remote_id_attribute: None,
        }
    }
}

/// `{"protocol": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProtocolResponse {
    /// The protocol.
    pub protocol: ProtocolView,
}

/// `{"protocols": [...], "links": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProtocolsResponse {
    /// The protocols.
    pub protocols: Vec<ProtocolView>,
    /// Links.
    pub links: ListLinks,
}

async fn list_protocols(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(idp): Path<String>,
) -> ApiResult<Json<ProtocolsResponse>> {
    let all = manage::protocols(&state, &c, &idp).await?;
    Ok(Json(ProtocolsResponse {
        protocols: all
            .into_iter()
            .map(|p| ProtocolView::listed(&state, p))
            .collect(),
        links: ListLinks::to(
            &state,
            &format!("OS-FEDERATION/identity_providers/{idp}/protocols"),
        ),
    }))
}

async fn show_protocol(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((idp, id)): Path<(String, String)>,
) -> ApiResult<Json<ProtocolResponse>> {
    let p = manage::protocol(&state, &c, &idp, &id).await?;
    Ok(Json(ProtocolResponse {
        protocol: ProtocolView::of(&state, p),
    }))
}

async fn create_protocol(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path((idp, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<ProtocolRequest>,
) -> ApiResult<(StatusCode, Json<ProtocolResponse>)> {
    let p = manage::create_protocol(&state, &c, source, &idp, &id, body.protocol).await?;
    Ok((
        StatusCode::CREATED,
        Json(ProtocolResponse {
            protocol: ProtocolView::of(&state, p),
        }),
    ))
}

async fn update_protocol(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path((idp, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<ProtocolRequest>,
) -> ApiResult<Json<ProtocolResponse>> {
    let p = manage::update_protocol(&state, &c, source, &idp, &id, body.protocol).await?;
    Ok(Json(ProtocolResponse {
        protocol: ProtocolView::of(&state, p),
    }))
}

async fn delete_protocol(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path((idp, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    manage::delete_protocol(&state, &c, source, &idp, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"mapping": {"rules": [...]}}` as a request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingRequest {
    /// The mapping.
    pub mapping: MappingFields,
}

/// A mapping's fields as a request gives them (other keys are ignored, as Keystone does).
#[derive(Debug, Deserialize, ToSchema)]
pub struct MappingFields {
    /// The rules (Keystone's mapping language).
    #[schema(value_type = Option<Vec<Object>>)]
    pub rules: Option<Value>,
    /// Their schema version (`1.0`, `2.0`).
    pub schema_version: Option<String>,
}

/// A mapping as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct MappingView {
    /// Id.
    pub id: String,
    /// The rules.
    #[schema(value_type = Vec<Object>)]
    pub rules: Value,
    /// Their schema version.
    pub schema_version: String,
    /// `self` link.
    pub links: SelfLink,
}

impl MappingView {
    fn of(state: &AppState, m: Mapping) -> MappingView {
        MappingView {
            links: SelfLink::to(state, &format!("OS-FEDERATION/mappings/{}", m.id)),
            rules: serde_json::from_str(&m.rules).unwrap_or_default(),
            id: m.id,
            schema_version: m.schema_version,
        }
    }
}

/// `{"mapping": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MappingResponse {
    /// The mapping.
    pub mapping: MappingView,
}

/// `{"mappings": [...], "links": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MappingsResponse {
    /// The mappings.
    pub mappings: Vec<MappingView>,
    /// Links.
    pub links: ListLinks,
}

async fn list_mappings(
    State(state): State<AppState>,
    Caller(c): Caller,
) -> ApiResult<Json<MappingsResponse>> {
    let all = manage::mappings(&state, &c).await?;
    Ok(Json(MappingsResponse {
        mappings: all
            .into_iter()
            .map(|m| MappingView::of(&state, m))
            .collect(),
        links: ListLinks::to(&state, "OS-FEDERATION/mappings"),
    }))
}

async fn show_mapping(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<MappingResponse>> {
    let m = manage::mapping(&state, &c, &id).await?;
    Ok(Json(MappingResponse {
        mapping: MappingView::of(&state, m),
    }))
}

async fn create_mapping(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MappingRequest>,
) -> ApiResult<(StatusCode, Json<MappingResponse>)> {
    let f = body.mapping;
    let rules = f.rules.ok_or_else(|| {
        crate::error::DomainError::validation("mapping.rules. 'rules' is a required property")
    })?;
    let m = manage::create_mapping(&state, &c, source, &id, &rules, f.schema_version).await?;
    Ok((
        StatusCode::CREATED,
        Json(MappingResponse {
            mapping: MappingView::of(&state, m),
        }),
    ))
}

async fn update_mapping(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MappingRequest>,
) -> ApiResult<Json<MappingResponse>> {
    let f = body.mapping;
    let m =
        manage::update_mapping(&state, &c, source, &id, f.rules.as_ref(), f.schema_version).await?;
    Ok(Json(MappingResponse {
        mapping: MappingView::of(&state, m),
    }))
}

async fn delete_mapping(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    manage::delete_mapping(&state, &c, source, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A token in `Authorization: Bearer`, or else the connection's client certificate (a SPIFFE X.509-SVID).
async fn sign_in(
    State(state): State<AppState>,
    SourceAddr(source): SourceAddr,
    PeerCert(cert): PeerCert,
    Path((idp, protocol)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> ApiResult<axum::response::Response> {
    use crate::federation::signin::Proof;
    let proof =
        match (crate::http::bearer_token(&headers), cert.as_deref()) {
            (Some(token), _) => Proof::Jwt(token),
            (None, Some(c)) => Proof::Svid(c),
            (None, None) => return Err(crate::error::DomainError::unauthorized_msg(
                "An identity provider's token (Authorization: Bearer) or X.509-SVID is required.",
            )
            .into()),
        };
    let data = crate::federation::signin::sign_in(&state, &idp, &protocol, proof, source).await?;
    crate::api::auth_tokens::issued(&state, data, true).await
}
