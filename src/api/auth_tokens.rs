//! `/v3/auth/*`: issue, validate, check and revoke tokens; the caller's projects, domains, system and catalog.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::api::SelfLink;
use crate::assignment;
use crate::auth::{self, iso, AuthRequest};
use crate::error::{DomainError, DomainResult};
use crate::http::error::ApiResult;
use crate::http::routes::{op, Routes};
use crate::http::{Caller, JsonBody, PeerCert, SourceAddr};
use crate::state::AppState;
use crate::token::Validated;
use crate::token::{subject, Scope, TokenError};

/// Routes of this module.
pub fn routes() -> Routes {
    const TOKENS: &str = "/v3/auth/tokens";
    Routes::new()
        .post(
            TOKENS,
            issue,
            op("Authenticate: a token in X-Subject-Token")
                .public()
                .query::<TokenQuery>()
                .json::<IssueBody>()
                .ok::<TokenBody>(201, "The token's body"),
        )
        .get(
            TOKENS,
            validate,
            op("Validate the token in X-Subject-Token")
                .query::<TokenQuery>()
                .ok::<TokenBody>(200, "The token's body"),
        )
        .head(
            TOKENS,
            validate,
            op("Check the token in X-Subject-Token")
                .query::<TokenQuery>()
                .empty(200, "Valid"),
        )
        .delete(
            TOKENS,
            revoke,
            op("Revoke the token in X-Subject-Token").empty(204, "Revoked"),
        )
        .get(
            "/v3/auth/projects",
            my_projects,
            op("The projects the caller may scope to")
                .ok::<crate::api::projects::ProjectsResponse>(200, "The projects"),
        )
        .get(
            "/v3/auth/domains",
            my_domains,
            op("The domains the caller may scope to")
                .ok::<crate::api::domains::DomainsResponse>(200, "The domains"),
        )
        .get(
            "/v3/auth/system",
            my_system,
            op("Whether the caller may scope to the system")
                .ok::<SystemResponse>(200, "The system scopes"),
        )
        .get(
            "/v3/auth/catalog",
            my_catalog,
            op("The service catalog").ok::<CatalogResponse>(200, "The catalog"),
        )
}

/// Body of `POST /v3/auth/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct IssueBody {
    /// Who authenticates and what the token is scoped to.
    pub auth: AuthRequest,
}

/// Query flags of the token endpoints.
#[derive(Debug, Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// Leave the catalog out of the body.
    pub nocatalog: Option<String>,
    /// Validate a token that has expired (within the configured window).
    pub allow_expired: Option<String>,
}

fn flag(name: &str, v: &Option<String>) -> DomainResult<bool> {
    v.as_deref()
        .map(|v| crate::api::query_bool(name, v))
        .transpose()
        .map(|b| b.unwrap_or(false))
}

/// `{"id", "name"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdName {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// The token's user.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenUser {
    /// The user's domain.
    pub domain: IdName,
    /// User id.
    pub id: String,
    /// User name.
    pub name: String,
    /// When the password expires (null: never).
    pub password_expires_at: Option<String>,
}

/// The token's project.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenProject {
    /// The project's domain.
    pub domain: IdName,
    /// Project id.
    pub id: String,
    /// Project name.
    pub name: String,
}

/// The application credential a token was issued for.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenAppCred {
    /// Credential id.
    pub id: String,
    /// Credential name.
    pub name: String,
    /// Whether the credential is restricted.
    pub restricted: bool,
    /// Its access rules (only when it has some).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub access_rules: Vec<Value>,
}

/// A certificate binding (RFC 8705), as Keystone writes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CertBinding {
    /// The certificate's SHA-256 thumbprint.
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: String,
}

/// Keystone's token body.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Authentication methods used.
    pub methods: Vec<String>,
    /// The user.
    pub user: TokenUser,
    /// Audit ids (this token's, then its parent's).
    pub audit_ids: Vec<String>,
    /// Expiry (ISO 8601, UTC).
    pub expires_at: String,
    /// Issue time (ISO 8601, UTC).
    pub issued_at: String,
    /// Project scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<TokenProject>,
    /// With a project scope: false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_domain: Option<bool>,
    /// Domain scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<IdName>,
    /// System scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<crate::api::grants::AllOfIt>,
    /// The roles (scoped tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<IdName>>,
    /// The service catalog (scoped tokens, unless `nocatalog`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<Vec<Value>>,
    /// The application credential it was issued for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_credential: Option<TokenAppCred>,
    /// The client certificate it is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2_credential: Option<CertBinding>,
}

/// `{"token": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenBody {
    /// The token.
    pub token: TokenView,
}

/// `{"system": [...], "links": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SystemResponse {
    /// `[{"all": true}]` when the caller has a system role, else empty.
    pub system: Vec<crate::api::grants::AllOfIt>,
    /// `self` link.
    pub links: SelfLink,
}

/// `{"catalog": [...], "links": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogResponse {
    /// The services and their endpoints.
    pub catalog: Vec<Value>,
    /// `self` link.
    pub links: SelfLink,
}

/// The catalog document as a list of services.
async fn catalog(state: &AppState) -> DomainResult<Vec<Value>> {
    let doc = crate::catalog::document(state).await?;
    Ok(doc.as_array().cloned().unwrap_or_default())
}

/// Render a validated token as Keystone's `{"token": {...}}` body.
pub async fn token_body(
    state: &AppState,
    v: &Validated,
    with_catalog: bool,
) -> DomainResult<TokenBody> {
    let d = &v.data;
    let id_name = |id: &str, name: &str| IdName {
        id: id.to_owned(),
        name: name.to_owned(),
    };
    let mut t = TokenView {
        methods: d.methods.clone(),
        user: TokenUser {
            domain: id_name(&v.user_domain.id, &v.user_domain.name),
            id: v.user.id.clone(),
            name: v.user.name.clone(),
            password_expires_at: v.user.password_expires_at.map(iso),
        },
        audit_ids: d.audit_ids.clone(),
        expires_at: iso(d.expires_at),
        issued_at: iso(d.issued_at),
        project: None,
        is_domain: None,
        domain: None,
        system: None,
        roles: None,
        catalog: None,
        application_credential: None,
        oauth2_credential: None,
    };
    match &d.scope {
        Scope::Project(_) => {
            if let Some((p, pd)) = &v.project {
                t.project = Some(TokenProject {
                    domain: id_name(&pd.id, &pd.name),
                    id: p.id.clone(),
                    name: p.name.clone(),
                });
                t.is_domain = Some(false);
            }
        }
        Scope::Domain(_) => t.domain = v.domain.as_ref().map(|dv| id_name(&dv.id, &dv.name)),
        Scope::System => t.system = Some(crate::api::grants::AllOfIt { all: true }),
        Scope::Unscoped => {}
    }
    if d.scope != Scope::Unscoped {
        t.roles = Some(v.roles.iter().map(|r| id_name(&r.id, &r.name)).collect());
        if with_catalog {
            t.catalog = Some(catalog(state).await?);
        }
    }
    t.application_credential = v.app_cred.as_ref().map(|ac| TokenAppCred {
        id: ac.id.clone(),
        name: ac.name.clone(),
        restricted: ac.restricted,
        access_rules: ac.access_rules.clone(),
    });
    // Keystone's form of a certificate binding, which keystonemiddleware's oauth2_mtls_token checks.
    let keystone_form = d.cert.as_ref().map(crate::token::CertBinding::keystone);
    t.oauth2_credential = keystone_form
        .or_else(|| {
            d.keystone_cert
                .as_ref()
                .map(crate::transport::mtls::keystone_thumbprint)
        })
        .map(|x5t_s256| CertBinding { x5t_s256 });
    Ok(TokenBody { token: t })
}

/// The validation body of a token, rendered once per cached validation and then served as bytes.
async fn rendered_body(state: &AppState, v: &Validated, with_catalog: bool) -> DomainResult<Bytes> {
    let slot = &v.rendered[usize::from(with_catalog)];
    if let Some(b) = slot.get() {
        return Ok(b.clone());
    }
    let body = token_body(state, v, with_catalog).await?;
    let bytes = Bytes::from(serde_json::to_vec(&body).map_err(DomainError::internal)?);
    Ok(slot.get_or_init(|| bytes).clone())
}

fn with_subject(status: StatusCode, token: &str, body: TokenBody) -> Response {
    let mut resp = (status, Json(body)).into_response();
    if let Ok(v) = token.parse() {
        resp.headers_mut().insert("x-subject-token", v);
    }
    resp
}

async fn issue(
    State(state): State<AppState>,
    SourceAddr(source): SourceAddr,
    Query(q): Query<TokenQuery>,
    JsonBody(body): JsonBody<IssueBody>,
) -> ApiResult<Response> {
    let nocatalog = flag("nocatalog", &q.nocatalog)?;
    let data = auth::authenticate(&state, body.auth, source).await?;
    issued(&state, data, !nocatalog).await
}

/// A new token's answer: 201, the token in `X-Subject-Token`, its body (with the catalog if asked).
pub(crate) async fn issued(
    state: &AppState,
    data: crate::token::TokenData,
    with_catalog: bool,
) -> ApiResult<Response> {
    let token = state.tokens.issue(&data);
    let v = crate::token::inspect(state, data)
        .await
        .map_err(|e| match e {
            TokenError::Unavailable => e.into_domain(),
            _ => DomainError::unauthorized(),
        })?;
    let body = token_body(state, &v, with_catalog).await?;
    Ok(with_subject(StatusCode::CREATED, &token, body))
}

fn subject(headers: &HeaderMap) -> DomainResult<&str> {
    headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .ok_or_else(|| {
            DomainError::NotFound("Could not find token: X-Subject-Token header is missing.".into())
        })
}

/// Keystone answers 404 for a subject token that does not validate; an unanswered lookup is not that.
/// Whether the validator announced `OpenStack-Identity-Access-Rules` with a version of at least 1.0.
fn understands_access_rules(headers: &HeaderMap) -> bool {
    let version = headers
        .get("openstack-identity-access-rules")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut parts = version.trim().split('.').map(str::parse::<u32>);
    matches!(parts.next(), Some(Ok(major)) if major >= 1)
}

/// The caller and what came with it, as the token domain weighs them.
fn asker<'a>(
    caller: &'a Validated,
    headers: &'a HeaderMap,
    cert: Option<&'a crate::transport::mtls::ClientCert>,
) -> subject::Asker<'a> {
    subject::Asker {
        caller,
        service_token: headers.get("x-service-token").and_then(|v| v.to_str().ok()),
        cert,
        enforces_access_rules: understands_access_rules(headers),
    }
}

async fn validate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PeerCert(cert): PeerCert,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> ApiResult<Response> {
    let nocatalog = flag("nocatalog", &q.nocatalog)?;
    let allow_expired = flag("allow_expired", &q.allow_expired)?;
    let token = subject(&headers)?;
    let asker = asker(&caller, &headers, cert.as_deref());
    let v = subject::validate(&state, &asker, token, allow_expired).await?;
    let body = rendered_body(&state, &v, !nocatalog).await?;
    let mut resp = (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Ok(t) = token.parse() {
        resp.headers_mut().insert("x-subject-token", t);
    }
    Ok(resp)
}

async fn revoke(
    State(state): State<AppState>,
    Caller(caller): Caller,
    SourceAddr(source): SourceAddr,
    PeerCert(cert): PeerCert,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let token = subject(&headers)?;
    let asker = asker(&caller, &headers, cert.as_deref());
    subject::revoke(&state, &asker, source, token).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn my_projects(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> ApiResult<Json<crate::api::projects::ProjectsResponse>> {
    let projects = assignment::projects_of(&state, &caller.user.id).await?;
    Ok(Json(crate::api::projects::ProjectsResponse::of(
        &state,
        "auth/projects",
        &projects,
    )))
}

async fn my_domains(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> ApiResult<Json<crate::api::domains::DomainsResponse>> {
    let items = assignment::domains_of(&state, &caller.user.id).await?;
    Ok(Json(crate::api::domains::DomainsResponse::of(
        &state,
        "auth/domains",
        &items,
    )))
}

async fn my_system(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> ApiResult<Json<SystemResponse>> {
    let system = if assignment::has_system_role(&state, &caller.user.id).await? {
        vec![crate::api::grants::AllOfIt { all: true }]
    } else {
        vec![]
    };
    Ok(Json(SystemResponse {
        system,
        links: SelfLink::to(&state, "auth/system"),
    }))
}

async fn my_catalog(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> ApiResult<Json<CatalogResponse>> {
    if caller.data.scope == Scope::Unscoped {
        return Err(DomainError::Forbidden(
            "The authenticated token is not scoped; a scoped token is required.".into(),
        )
        .into());
    }
    Ok(Json(CatalogResponse {
        catalog: catalog(&state).await?,
        links: SelfLink::to(&state, "auth/catalog"),
    }))
}
