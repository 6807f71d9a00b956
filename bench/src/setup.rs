//! The benchmark's fixture: a fresh database, then credentials and tokens made through the real API.

use std::sync::Arc;

use anyhow::{bail, Context};
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

use crate::load;
use crate::seed::{self, Owner};
use crate::server::Server;
use crate::{Args, Backend, Sizes};

/// The secret every seeded credential shares.
pub const SEEDED_SECRET: &str = "seeded-credential-secret";

/// A database made for one run and dropped after it.
pub struct Database {
    /// Its URL, for the server.
    pub url: String,
    admin: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Database {
    /// Create a fresh database on the chosen backend.
    pub async fn create(args: &Args, label: &str) -> anyhow::Result<Database> {
        let dir = tempfile::tempdir()?;
        let server_url = match args.db {
            Backend::Sqlite => {
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("bench.db").display()
                );
                return Ok(Database {
                    url,
                    admin: None,
                    _dir: dir,
                });
            }
            Backend::Postgres => &args.postgres_url,
            Backend::Mysql => &args.mysql_url,
        };
        let name = format!("lintel_bench_{label}_{}", std::process::id());
        let conn = sea_orm::Database::connect(server_url.as_str())
            .await
            .with_context(|| format!("connecting to {server_url}"))?;
        let backend = conn.get_database_backend();
        conn.execute(Statement::from_string(
            backend,
            format!("DROP DATABASE IF EXISTS {name}"),
        ))
        .await?;
        conn.execute(Statement::from_string(
            backend,
            format!("CREATE DATABASE {name}"),
        ))
        .await?;
        conn.close().await?;
        let (head, tail) =
            server_url.split_at(server_url.rfind('/').context("database URL has no path")?);
        let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
        Ok(Database {
            url: format!("{head}/{name}{query}"),
            admin: Some((server_url.clone(), name)),
            _dir: dir,
        })
    }

    /// Drop the database (SQLite's file goes with its directory).
    pub async fn drop_db(&self) -> anyhow::Result<()> {
        if let Some((url, name)) = &self.admin {
            let conn = sea_orm::Database::connect(url.as_str()).await?;
            let backend = conn.get_database_backend();
            conn.execute(Statement::from_string(
                backend,
                format!("DROP DATABASE IF EXISTS {name}"),
            ))
            .await?;
            conn.close().await?;
        }
        Ok(())
    }
}

/// Credentials and tokens the scenarios use.
pub struct Fixture {
    /// `Basic` header values of the few hot clients.
    pub hot: Vec<String>,
    /// An OAuth2 token holding `admin`, sent as `X-Auth-Token` when validating.
    pub service_token: String,
    /// OAuth2 tokens of the hot clients, validated and used as Bearer.
    pub subjects: Vec<String>,
    /// Owner of the seeded rows.
    pub owner: Owner,
    /// A password-authenticated admin token (what may create credentials).
    pub admin_token: String,
    /// The next seeded cold credential to use (shared by every run on this fixture: each is used once).
    pub cold_next: Arc<std::sync::atomic::AtomicUsize>,
}

/// A request with a JSON body.
pub fn json_request(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("x-auth-token", t);
    }
    b.body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| unreachable!())
}

/// `POST /v3/OS-OAUTH2/token` with Basic authentication.
pub fn token_request(basic: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method("POST")
        .uri("/v3/OS-OAUTH2/token")
        .header("host", "localhost")
        .header("authorization", basic)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from_static(
            b"grant_type=client_credentials",
        )))
        .unwrap_or_else(|_| unreachable!())
}

/// A `Basic` header value for a client id and secret.
pub fn basic(id: &str, secret: &str) -> String {
    let raw = format!("{id}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

async fn call_json(
    srv: &Server,
    tls: &Arc<rustls::ClientConfig>,
    req: Request<Full<Bytes>>,
) -> anyhow::Result<(u16, hyper::HeaderMap, Value)> {
    let (status, headers, body) = load::call(srv.addr, tls, req).await?;
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Ok((status, headers, v))
}

/// Issue an OAuth2 token for a `Basic` header value.
pub async fn oauth_token(
    srv: &Server,
    tls: &Arc<rustls::ClientConfig>,
    basic: &str,
) -> anyhow::Result<String> {
    let (status, _, v) = call_json(srv, tls, token_request(basic)).await?;
    match v["access_token"].as_str() {
        Some(t) if status == 200 => Ok(t.to_string()),
        _ => bail!("token request answered {status}: {v}"),
    }
}

impl Fixture {
    /// Make the hot clients and a service credential through the API, then seed the cold and flood sets.
    pub async fn create(srv: &Server, sizes: Sizes, seed_sets: bool) -> anyhow::Result<Fixture> {
        let tls = load::tls_config(&srv.cert)?;
        let auth = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": srv.admin_password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
        let (status, headers, v) = call_json(
            srv,
            &tls,
            json_request("POST", "/v3/auth/tokens", None, auth),
        )
        .await?;
        if status != 201 {
            bail!("password authentication answered {status}: {v}");
        }
        let admin_token = headers
            .get("x-subject-token")
            .and_then(|h| h.to_str().ok())
            .context("no X-Subject-Token")?
            .to_string();
        let user_id = v["token"]["user"]["id"]
            .as_str()
            .context("no user id")?
            .to_string();
        let project_id = v["token"]["project"]["id"]
            .as_str()
            .context("no project id")?
            .to_string();
        let member = v["token"]["roles"]
            .as_array()
            .and_then(|roles| roles.iter().find(|r| r["name"] == "member"))
            .and_then(|r| r["id"].as_str())
            .context("the admin token lacks the member role")?
            .to_string();

        let path = format!("/v3/users/{user_id}/application_credentials");
        let make = |name: String, roles: Value| {
            let body = json!({"application_credential": {"name": name, "roles": roles}});
            let req = json_request("POST", &path, Some(&admin_token), body);
            let tls = tls.clone();
            async move {
                let (status, _, v) = call_json(srv, &tls, req).await?;
                let c = &v["application_credential"];
                match (c["id"].as_str(), c["secret"].as_str()) {
                    (Some(id), Some(secret)) if status == 201 => Ok(basic(id, secret)),
                    _ => bail!("creating an application credential answered {status}: {v}"),
                }
            }
        };
        let mut hot = Vec::new();
        for i in 0..4 {
            hot.push(make(format!("bench-hot-{i}"), json!([{"name": "member"}])).await?);
        }
        let service = make("bench-service".into(), json!([{"name": "admin"}])).await?;
        let service_token = oauth_token(srv, &tls, &service).await?;
        let mut subjects = Vec::new();
        for h in &hot {
            subjects.push(oauth_token(srv, &tls, h).await?);
        }

        let owner = Owner {
            user_id,
            project_id,
            role_id: member,
        };
        if seed_sets {
            let db = seed::connect(&srv.config).await?;
            let hash = lintel::crypto::hashing::hash_blocking(SEEDED_SECRET)?;
            seed::credentials(&db, &owner, &hash, COLD, 0, sizes.cold).await?;
            seed::credentials(&db, &owner, &hash, FLOOD, 0, sizes.cold).await?;
            db.close().await.ok();
        }
        Ok(Fixture {
            hot,
            service_token,
            subjects,
            owner,
            cold_next: Arc::default(),
            admin_token,
        })
    }
}

/// Seed tag of the credentials `issue-cold` uses once each.
pub const COLD: u32 = 1;
/// Seed tag of the credentials the bad-secret flood guesses at.
pub const FLOOD: u32 = 2;
/// Seed tag of the scale run's filler credentials.
pub const FILLER: u32 = 3;
