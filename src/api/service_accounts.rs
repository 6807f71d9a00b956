//! `/v3/projects/{project_id}/service_accounts` (a Lintel extension): a project's non-human users. Their
//! application credentials are managed under `/v3/users/{id}/application_credentials` by the project's managers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::SelfLink;
use crate::http::error::ApiResult;
use crate::http::routes::{op, Routes};
use crate::http::{Caller, JsonBody, SourceAddr};
use crate::identity::service_accounts::{self, NewServiceAccount};
use crate::model::User;
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Routes {
    const PATH: &str = "/v3/projects/{project_id}/service_accounts";
    Routes::new()
        .post(
            PATH,
            create,
            op("Create a service account of the project (Lintel)")
                .json::<ServiceAccountRequest>()
                .ok::<ServiceAccountResponse>(201, "Created"),
        )
        .get(
            PATH,
            list,
            op("List the project's service accounts (Lintel)")
                .ok::<ServiceAccountsResponse>(200, "The accounts"),
        )
}

/// `{"service_account": {...}}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountRequest {
    /// The account.
    pub service_account: NewServiceAccount,
}

/// A service account as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountView {
    /// Its user id (what its tokens carry, and where its credentials live).
    pub id: String,
    /// Name.
    pub name: String,
    /// The project that owns it.
    pub project_id: String,
    /// Its domain (the project's).
    pub domain_id: String,
    /// Enabled flag.
    pub enabled: bool,
    /// `self` link (its user).
    pub links: SelfLink,
}

impl ServiceAccountView {
    fn of(state: &AppState, u: &User) -> ServiceAccountView {
        ServiceAccountView {
            id: u.id.clone(),
            name: u.name.clone(),
            project_id: u.service_project_id.clone().unwrap_or_default(),
            domain_id: u.domain_id.clone(),
            enabled: u.enabled,
            links: SelfLink::to(state, &format!("users/{}", u.id)),
        }
    }
}

/// `{"service_account": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountResponse {
    /// The account.
    pub service_account: ServiceAccountView,
}

/// `{"service_accounts": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountsResponse {
    /// The accounts.
    pub service_accounts: Vec<ServiceAccountView>,
}

async fn create(
    State(state): State<AppState>,
    Caller(c): Caller,
    SourceAddr(source): SourceAddr,
    Path(project_id): Path<String>,
    JsonBody(body): JsonBody<ServiceAccountRequest>,
) -> ApiResult<(StatusCode, Json<ServiceAccountResponse>)> {
    let who = c.initiator(source);
    let u = service_accounts::create(&state, &c, &who, &project_id, body.service_account).await?;
    Ok((
        StatusCode::CREATED,
        Json(ServiceAccountResponse {
            service_account: ServiceAccountView::of(&state, &u),
        }),
    ))
}

async fn list(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(project_id): Path<String>,
) -> ApiResult<Json<ServiceAccountsResponse>> {
    let accounts = service_accounts::list(&state, &c, &project_id).await?;
    Ok(Json(ServiceAccountsResponse {
        service_accounts: accounts
            .iter()
            .map(|u| ServiceAccountView::of(&state, u))
            .collect(),
    }))
}
