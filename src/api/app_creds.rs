//! `/v3/users/{user_id}/application_credentials` and `/v3/users/{user_id}/access_rules`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::Validated;
use crate::credential::{self, Bindings, Credential, NewCredential, RoleRef, RuleRef};
use crate::error::{DomainError, DomainResult};
use crate::hashing::Secret;
use crate::http::{Caller, JsonBody};
use crate::policy::{enforce, Target};
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v3/users/{user_id}/application_credentials",
            get(list).post(create),
        )
        .route(
            "/v3/users/{user_id}/application_credentials/{id}",
            get(show).delete(remove),
        )
        .route("/v3/users/{user_id}/access_rules", get(list_rules))
        .route(
            "/v3/users/{user_id}/access_rules/{id}",
            get(show_rule).delete(remove_rule),
        )
}

fn render_rule(r: &entity::access_rule::Model) -> Value {
    json!({"id": r.id, "service": r.service, "path": r.path, "method": r.method})
}

/// Render a credential as Keystone does (`secret` only at creation).
pub fn render(state: &AppState, c: &Credential, secret: Option<&Secret>) -> Value {
    let m = &c.model;
    let roles: Vec<Value> = c
        .roles
        .iter()
        .map(|r| {
            json!({"id": r.id, "name": r.name, "domain_id": r.domain_id, "description": r.description,
                   "options": serde_json::from_str::<Value>(&r.options).unwrap_or_else(|_| json!({}))})
        })
        .collect();
    let mut out = json!({
        "id": m.id, "name": m.name, "description": m.description, "user_id": m.user_id, "project_id": m.project_id,
        "system": null, "expires_at": m.expires_at.map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()),
        "unrestricted": m.unrestricted, "roles": roles,
        "links": crate::api::links(state, &format!("application_credentials/{}", m.id)),
    });
    // Keystone shows access_rules only when the credential has some.
    if !c.rules.is_empty() {
        out["access_rules"] = c.rules.iter().map(render_rule).collect::<Vec<_>>().into();
    }
    // Client authentication bindings, like access rules, appear only when set: Keystone's clients see its shape.
    for (k, v) in [
        ("tls_client_auth_subject_dn", &m.tls_client_auth_subject_dn),
        ("tls_client_auth_issuer_dn", &m.tls_client_auth_issuer_dn),
        ("tls_client_auth_x5t_s256", &m.tls_client_auth_x5t_s256),
    ] {
        if let Some(v) = v {
            out[k] = json!(v);
        }
    }
    if let Some(jwks) = m
        .jwks
        .as_deref()
        .and_then(|j| serde_json::from_str::<Value>(j).ok())
    {
        out["jwks"] = jwks;
    }
    if let Some(s) = secret {
        out["secret"] = json!(s.expose());
    }
    out
}

/// Keystone's schema for the create body, with its messages.
fn parse_new(body: Value) -> DomainResult<NewCredential> {
    let Value::Object(mut outer) = body else {
        return Err(DomainError::validation(
            "application_credential. 'application_credential' is a required property",
        ));
    };
    let Some(Value::Object(b)) = outer.remove("application_credential") else {
        return Err(DomainError::validation(
            "application_credential. 'application_credential' is a required property",
        ));
    };
    const ALLOWED: &[&str] = &[
        "name",
        "description",
        "secret",
        "expires_at",
        "roles",
        "unrestricted",
        "access_rules",
        "system",
        "tls_client_auth_subject_dn",
        "tls_client_auth_issuer_dn",
        "tls_client_auth_x5t_s256",
        "jwks",
    ];
    if let Some(bad) = b.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
        return Err(DomainError::validation(format!("application_credential. Additional properties are not allowed ('{bad}' was unexpected)")));
    }
    let text = |b: &Map<String, Value>, k: &str| -> DomainResult<Option<String>> {
        match b.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(DomainError::validation(format!(
                "application_credential.{k}. {other} is not of type 'string'"
            ))),
        }
    };
    let name = text(&b, "name")?.ok_or_else(|| {
        DomainError::validation("application_credential. 'name' is a required property")
    })?;
    crate::api::check_name(&name, crate::api::NAME_MAX)?;
    crate::api::check_description(text(&b, "description")?.as_deref(), None)?;
    let expires_at = match text(&b, "expires_at")? {
        None => None,
        Some(s) => Some(parse_time(&s)?),
    };
    let unrestricted = match b.get("unrestricted") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(v)) => Some(*v),
        Some(other) => {
            return Err(DomainError::validation(format!(
                "application_credential.unrestricted. {other} is not of type 'boolean'"
            )))
        }
    };
    let mut roles = Vec::new();
    match b.get("roles") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for r in items {
                match (
                    r.get("id").and_then(Value::as_str),
                    r.get("name").and_then(Value::as_str),
                ) {
                    (Some(id), _) => roles.push(RoleRef::Id(id.to_string())),
                    (None, Some(n)) => roles.push(RoleRef::Name(n.to_string())),
                    _ => {
                        return Err(DomainError::validation(format!(
                            "application_credential.roles. {r} needs an 'id' or a 'name'"
                        )))
                    }
                }
            }
        }
        Some(other) => {
            return Err(DomainError::validation(format!(
                "application_credential.roles. {other} is not of type 'array'"
            )))
        }
    }
    let mut access_rules = Vec::new();
    match b.get("access_rules") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for r in items {
                let field = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
                if let Some(id) = field("id") {
                    check_id_string("id", &id)?;
                    access_rules.push(RuleRef::Id(id));
                    continue;
                }
                let (Some(service), Some(method), Some(path)) =
                    (field("service"), field("method"), field("path"))
                else {
                    return Err(DomainError::validation(format!("application_credential.access_rules. {r} needs 'service', 'method' and 'path'")));
                };
                // Keystone's schema: a service type of at most 64 letters, digits and dashes, a path of at most
                // 225 characters (which also bounds the work of matching it against every request).
                check_id_string("service", &service)?;
                crate::api::check_len("path", &path, ACCESS_RULE_PATH_MAX)?;
                let method = method.to_ascii_uppercase();
                if !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                    return Err(DomainError::validation(format!("application_credential.access_rules.method. '{method}' is not a valid method")));
                }
                if !path.starts_with('/') {
                    return Err(DomainError::validation(format!(
                        "application_credential.access_rules.path. '{path}' must start with '/'"
                    )));
                }
                access_rules.push(RuleRef::New {
                    service,
                    method,
                    path,
                });
            }
        }
        Some(other) => {
            return Err(DomainError::validation(format!(
                "application_credential.access_rules. {other} is not of type 'array'"
            )))
        }
    }
    let bindings = Bindings {
        subject_dn: text(&b, "tls_client_auth_subject_dn")?,
        issuer_dn: text(&b, "tls_client_auth_issuer_dn")?,
        x5t_s256: text(&b, "tls_client_auth_x5t_s256")?,
        jwks: b.get("jwks").filter(|v| !v.is_null()).cloned(),
    };
    Ok(NewCredential {
        name,
        description: text(&b, "description")?,
        secret: text(&b, "secret")?.map(Secret::new),
        expires_at,
        roles,
        unrestricted,
        access_rules,
        bindings,
    })
}

/// ISO 8601 / RFC 3339, with or without a zone (no zone means UTC), normalised to naive UTC.
fn parse_time(s: &str) -> DomainResult<chrono::NaiveDateTime> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.naive_utc());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), f) {
            return Ok(t);
        }
    }
    Err(DomainError::Invalid(format!(
        "Timestamp not in expected format. The server could not comply with the request since it is either malformed \
         or otherwise incorrect. The client is assumed to be in error. ({s})"
    )))
}

/// Keystone forbids managing credentials with a restricted credential's token.
async fn refuse_restricted(c: &Validated, state: &AppState) -> DomainResult<()> {
    let cred_id = c.data.app_cred_id.clone();
    {
        let Some(id) = cred_id else { return Ok(()) };
        let restricted = credential::load(state, &id)
            .await?
            .is_none_or(|cred| cred.restricted());
        if restricted {
            return Err(DomainError::Forbidden(
                "You are not authorized to perform the requested action: Using method 'application_credential' is not \
                 allowed for managing additional application credentials."
                    .into(),
            ));
        }
        Ok(())
    }
}

async fn create(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> DomainResult<(StatusCode, Json<Value>)> {
    if c.user.id != user_id {
        return Err(DomainError::forbidden_action(
            "identity:create_application_credential",
        ));
    }
    refuse_restricted(&c, &state).await?;
    let new = parse_new(body)?;
    let project_id = c.project_id().ok_or_else(|| {
        DomainError::Invalid(
            "Application credentials must be created with a project-scoped token.".into(),
        )
    })?;
    let (cred, secret) =
        credential::create(&state, &user_id, project_id, &c.data.role_ids, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"application_credential": render(&state, &cred, Some(&secret))})),
    ))
}

fn owner_or_reader(c: &Validated, rule: &str, user_id: &str) -> DomainResult<()> {
    if c.user.id == user_id {
        return Ok(());
    }
    enforce(
        rule,
        c,
        Target {
            user_id: Some(user_id),
            ..Default::default()
        },
    )
}

#[derive(Deserialize)]
struct ListFilters {
    name: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(user_id): Path<String>,
    Query(f): Query<ListFilters>,
) -> DomainResult<Json<Value>> {
    owner_or_reader(&c, "identity:list_application_credentials", &user_id)?;
    let items = credential::list(&state, &user_id, f.name.as_deref())
        .await?
        .iter()
        .map(|cr| render(&state, cr, None))
        .collect();
    Ok(Json(crate::api::list(
        &state,
        "application_credentials",
        &format!("users/{user_id}/application_credentials"),
        items,
    )))
}

async fn owned(
    state: &AppState,
    c: &Validated,
    user_id: &str,
    id: &str,
    rule: &str,
) -> DomainResult<Credential> {
    let cred = credential::load(state, id).await?;
    match cred {
        Some(cred) if cred.model.user_id == user_id => {
            owner_or_reader(c, rule, user_id)?;
            Ok(cred)
        }
        // Someone else's credential (whichever user's path is used) is a 403, as in Keystone.
        Some(cred)
            if cred.model.user_id != c.user.id && enforce(rule, c, Target::default()).is_err() =>
        {
            Err(DomainError::forbidden_action(rule))
        }
        _ => Err(DomainError::not_found("Application Credential", id)),
    }
}

async fn show(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((user_id, id)): Path<(String, String)>,
) -> DomainResult<Json<Value>> {
    let cred = owned(
        &state,
        &c,
        &user_id,
        &id,
        "identity:get_application_credential",
    )
    .await?;
    Ok(Json(
        json!({"application_credential": render(&state, &cred, None)}),
    ))
}

async fn remove(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((user_id, id)): Path<(String, String)>,
) -> DomainResult<StatusCode> {
    let cred = owned(
        &state,
        &c,
        &user_id,
        &id,
        "identity:delete_application_credential",
    )
    .await?;
    if c.user.id != cred.model.user_id && !c.has_role("admin") {
        return Err(DomainError::forbidden_action(
            "identity:delete_application_credential",
        ));
    }
    refuse_restricted(&c, &state).await?;
    credential::delete(&state, &cred.model.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_rules(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(user_id): Path<String>,
) -> DomainResult<Json<Value>> {
    owner_or_reader(&c, "identity:list_access_rules", &user_id)?;
    let rules = credential::rules_of(&state, &user_id).await?;
    Ok(Json(crate::api::list(
        &state,
        "access_rules",
        &format!("users/{user_id}/access_rules"),
        rules.iter().map(render_rule).collect(),
    )))
}

async fn show_rule(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((user_id, id)): Path<(String, String)>,
) -> DomainResult<Json<Value>> {
    owner_or_reader(&c, "identity:get_access_rule", &user_id)?;
    let rule = credential::rules_of(&state, &user_id)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| DomainError::not_found("Access Rule", &id))?;
    Ok(Json(json!({"access_rule": render_rule(&rule)})))
}

async fn remove_rule(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((user_id, id)): Path<(String, String)>,
) -> DomainResult<StatusCode> {
    if c.user.id != user_id && !c.has_role("admin") {
        return Err(DomainError::forbidden_action("identity:delete_access_rule"));
    }
    credential::delete_rule(&state, &user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Longest access rule path (Keystone's schema).
const ACCESS_RULE_PATH_MAX: usize = 225;

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
