//! `/v3/auth/*`: issue, validate, check and revoke tokens; the caller's projects, domains, system and catalog.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::assignment::{self, Target};
use crate::auth::{self, iso, AuthRequest, Validated};
use crate::error::{DomainError, DomainResult};
use crate::http::{Caller, JsonBody, PeerCert, SourceAddr};
use crate::policy::{self, Target as PolicyTarget};
use crate::state::AppState;
use crate::token::revocation::{Event, RevKey};
use crate::token::{Scope, TokenError};

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/auth/tokens", get(validate).post(issue).delete(revoke))
        .route("/v3/auth/projects", get(my_projects))
        .route("/v3/auth/domains", get(my_domains))
        .route("/v3/auth/system", get(my_system))
        .route("/v3/auth/catalog", get(my_catalog))
}

/// Body of `POST /v3/auth/tokens`.
#[derive(Deserialize)]
struct IssueBody {
    auth: AuthRequest,
}

/// Query flags of the token endpoints.
#[derive(Deserialize, Default)]
struct TokenQuery {
    nocatalog: Option<String>,
    allow_expired: Option<String>,
}

fn flag(name: &str, v: &Option<String>) -> DomainResult<bool> {
    v.as_deref()
        .map(|v| crate::api::query_bool(name, v))
        .transpose()
        .map(|b| b.unwrap_or(false))
}

/// Render a validated token as Keystone's `{"token": {...}}` body.
pub async fn token_body(
    state: &AppState,
    v: &Validated,
    with_catalog: bool,
) -> DomainResult<Value> {
    let d = &v.data;
    let mut t = json!({
        "methods": d.methods,
        "user": {
            "domain": {"id": v.user_domain.id, "name": v.user_domain.name},
            "id": v.user.id,
            "name": v.user.name,
            "password_expires_at": v.user.password_expires_at.map(iso),
        },
        "audit_ids": d.audit_ids,
        "expires_at": iso(d.expires_at),
        "issued_at": iso(d.issued_at),
    });
    match &d.scope {
        Scope::Project(_) => {
            if let Some((p, pd)) = &v.project {
                t["project"] =
                    json!({"domain": {"id": pd.id, "name": pd.name}, "id": p.id, "name": p.name});
                t["is_domain"] = json!(false);
            }
        }
        Scope::Domain(_) => {
            if let Some(dv) = &v.domain {
                t["domain"] = json!({"id": dv.id, "name": dv.name});
            }
        }
        Scope::System => t["system"] = json!({"all": true}),
        Scope::Unscoped => {}
    }
    if d.scope != Scope::Unscoped {
        t["roles"] = Value::Array(
            v.roles
                .iter()
                .map(|r| json!({"id": r.id, "name": r.name}))
                .collect(),
        );
        if with_catalog {
            t["catalog"] = (*crate::catalog::document(state).await?).clone();
        }
    }
    if let Some(ac) = &v.app_cred {
        let mut block = json!({"id": ac.id, "name": ac.name, "restricted": ac.restricted});
        if !ac.access_rules.is_empty() {
            block["access_rules"] = json!(ac.access_rules);
        }
        t["application_credential"] = block;
    }
    // Keystone's form of a certificate binding, which keystonemiddleware's oauth2_mtls_token checks.
    if let Some(b) = &d.cert {
        t["oauth2_credential"] = json!({"x5t#S256": b.keystone()});
    }
    Ok(json!({"token": t}))
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

fn with_subject(status: StatusCode, token: &str, body: Value) -> Response {
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
) -> DomainResult<Response> {
    let nocatalog = flag("nocatalog", &q.nocatalog)?;
    let data = auth::authenticate(&state, body.auth, source).await?;
    let token = state.tokens.issue(&data);
    let v = auth::inspect(&state, data).await.map_err(|e| match e {
        TokenError::Unavailable => e.into_domain(),
        _ => DomainError::unauthorized(),
    })?;
    let body = token_body(&state, &v, !nocatalog).await?;
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
fn token_error(e: TokenError) -> DomainError {
    match e {
        TokenError::Unavailable => e.into_domain(),
        _ => DomainError::NotFound(e.to_string()),
    }
}

/// Whether the validator announced `OpenStack-Identity-Access-Rules` with a version of at least 1.0.
fn understands_access_rules(headers: &HeaderMap) -> bool {
    let version = headers
        .get("openstack-identity-access-rules")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut parts = version.trim().split('.').map(str::parse::<u32>);
    matches!(parts.next(), Some(Ok(major)) if major >= 1)
}

/// May the caller (or the service token beside it) look at tokens of `subject_user`?
async fn authorize(
    state: &AppState,
    caller: &Validated,
    headers: &HeaderMap,
    cert: Option<&crate::mtls::ClientCert>,
    rule: &str,
    subject_user: &str,
) -> DomainResult<()> {
    let target = PolicyTarget {
        user_id: Some(subject_user),
        ..Default::default()
    };
    let denied = match policy::enforce(rule, caller, target) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    if let Some(service) = headers.get("x-service-token").and_then(|v| v.to_str().ok()) {
        match auth::validate_presented(state, service.trim(), cert).await {
            Ok(s) if policy::enforce(rule, &s, target).is_ok() => return Ok(()),
            Err(e @ TokenError::Unavailable) => return Err(e.into_domain()),
            _ => {}
        }
    }
    Err(denied)
}

async fn validate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PeerCert(cert): PeerCert,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> DomainResult<Response> {
    let nocatalog = flag("nocatalog", &q.nocatalog)?;
    let allow_expired = flag("allow_expired", &q.allow_expired)?;
    let token = subject(&headers)?;
    let v = auth::validate(&state, token, allow_expired)
        .await
        .map_err(token_error)?;
    authorize(
        &state,
        &caller,
        &headers,
        cert.as_deref(),
        "identity:validate_token",
        &v.user.id,
    )
    .await?;
    if v.app_cred
        .as_ref()
        .is_some_and(|ac| !ac.access_rules.is_empty())
        && !understands_access_rules(&headers)
    {
        // A validator that cannot enforce access rules must not be handed a token that has them.
        return Err(token_error(TokenError::Revoked));
    }
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
    PeerCert(cert): PeerCert,
    headers: HeaderMap,
) -> DomainResult<StatusCode> {
    let token = subject(&headers)?;
    let v = auth::validate(&state, token, false)
        .await
        .map_err(token_error)?;
    authorize(
        &state,
        &caller,
        &headers,
        cert.as_deref(),
        "identity:revoke_token",
        &v.user.id,
    )
    .await?;
    let event = Event::now(
        &state.clock,
        RevKey::Audit(v.data.audit_ids.first().cloned().unwrap_or_default()),
    );
    let txn = state.db.write().await?;
    event.save(&*txn).await?;
    txn.commit().await?;
    state.revoked(&[event]);
    Ok(StatusCode::NO_CONTENT)
}

async fn my_projects(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> DomainResult<Json<crate::api::projects::ProjectsResponse>> {
    let ids = assignment::projects_of(&state.db.conn, &caller.user.id).await?;
    let mut projects = crate::resource::projects::by_ids(&state, ids).await?;
    projects.retain(|p| p.enabled);
    Ok(Json(crate::api::projects::ProjectsResponse::of(
        &state,
        "auth/projects",
        &projects,
    )))
}

async fn my_domains(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> DomainResult<Json<crate::api::domains::DomainsResponse>> {
    let mut items = Vec::new();
    for d in crate::resource::domains::search(&state, None, Some(true)).await? {
        if !assignment::direct_roles(
            &state.db.conn,
            &caller.user.id,
            &Target::Domain(d.id.clone()),
        )
        .await?
        .is_empty()
        {
            items.push(d);
        }
    }
    Ok(Json(crate::api::domains::DomainsResponse::of(
        &state,
        "auth/domains",
        &items,
    )))
}

async fn my_system(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> DomainResult<Json<Value>> {
    let roles = assignment::direct_roles(&state.db.conn, &caller.user.id, &Target::System).await?;
    let system: Vec<Value> = if roles.is_empty() {
        vec![]
    } else {
        vec![json!({"all": true})]
    };
    Ok(Json(
        json!({"system": system, "links": crate::api::links(&state, "auth/system")}),
    ))
}

async fn my_catalog(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> DomainResult<Json<Value>> {
    if caller.data.scope == Scope::Unscoped {
        return Err(DomainError::Forbidden(
            "The authenticated token is not scoped; a scoped token is required.".into(),
        ));
    }
    let doc = crate::catalog::document(&state).await?;
    Ok(Json(
        json!({"catalog": *doc, "links": crate::api::links(&state, "auth/catalog")}),
    ))
}
