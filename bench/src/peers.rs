//! `--peers`: Lintel beside the machine's limit (a bare axum + rustls server), node-oidc-provider and real
//! Keystone 30, each on this machine, driven by the same load generator with the same settings and the same
//! certificate, in one table whose ratios are to the bare server doing the same thing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use serde_json::{json, Value};

use crate::load::{self, Load, MakeRequest};
use crate::report::Row;
use crate::server::Server;
use crate::setup::{basic, json_request, Fixture};
use crate::Sizes;

/// The workloads every peer is put through.
const SCENARIOS: &[&str] = &[
    "lightest request",
    "issue",
    "validate",
    "issue, new connection",
    "issue, new connection, resumed",
];

/// A peer ready for load: where it listens, how it issues a token and how it validates one.
struct Peer {
    name: &'static str,
    addr: SocketAddr,
    cert: Vec<u8>,
    /// The cheapest thing it answers (health check, version document): what its HTTP stack costs.
    light: MakeRequest,
    issue: MakeRequest,
    validate: MakeRequest,
}

fn get(path: &'static str) -> MakeRequest {
    Arc::new(move |_, _| Some(request("GET", path, &[], b"")))
}

/// Where the peers' own software is (prepared by `scripts/bench.sh --peers`).
pub struct PeerSoftware {
    /// A virtualenv with keystone and gunicorn.
    pub keystone_venv: Option<PathBuf>,
    /// The directory holding `oidc-provider.mjs` and its `node_modules`.
    pub oidc_provider: Option<PathBuf>,
    /// Only the scenarios whose name starts with one of these (all when empty).
    pub only: Vec<String>,
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &'static [u8],
) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::from_static(body)))
        .unwrap_or_else(|_| unreachable!())
}

fn form_post(path: &'static str, auth: String) -> MakeRequest {
    Arc::new(move |_, _| {
        Some(request(
            "POST",
            path,
            &[
                ("authorization", &auth),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            b"grant_type=client_credentials",
        ))
    })
}

/// Every peer that can run here, one after the other, then the table.
pub async fn run(
    lintel: &Server,
    f: &Fixture,
    bare_bin: &Path,
    software: &PeerSoftware,
    sizes: Sizes,
) -> anyhow::Result<String> {
    let dir = lintel.config.parent().unwrap_or(Path::new(".")).join("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let mut rows: Vec<(&'static str, &'static str, Row)> = Vec::new();
    let mut notes = Vec::new();

    let (bare_peer, bare_srv) = bare(bare_bin, &cert, &key, lintel.cert.clone()).await?;
    let hot = f.hot.clone();
    let (service, subjects) = (f.service_token.clone(), f.subjects.clone());
    let me = Peer {
        name: "Lintel",
        addr: lintel.addr,
        cert: lintel.cert.clone(),
        light: get("/healthz"),
        issue: Arc::new(move |conn, _| Some(crate::setup::token_request(&hot[conn % hot.len()]))),
        validate: Arc::new(move |conn, i| {
            let subject = &subjects[(conn + i as usize) % subjects.len()];
            Some(request(
                "GET",
                "/v3/auth/tokens",
                &[("x-auth-token", &service), ("x-subject-token", subject)],
                b"",
            ))
        }),
    };
    let scenarios: Vec<&'static str> = SCENARIOS
        .iter()
        .copied()
        .filter(|s| {
            software.only.is_empty() || software.only.iter().any(|o| s.starts_with(o.as_str()))
        })
        .collect();
    let (paired, spread) = paired(&bare_peer, &bare_srv, &me, lintel, &scenarios, sizes).await?;
    drop(bare_srv);
    rows.extend(paired);
    notes.push(spread);
    match &software.oidc_provider {
        Some(dir) => match oidc_provider(dir, &cert, &key, lintel.cert.clone()).await {
            Ok((p, srv)) => rows.extend(drive(&p, &srv, &scenarios, sizes).await?),
            Err(e) => notes.push(format!("node-oidc-provider did not run: {e:#}")),
        },
        None => {
            notes.push("node-oidc-provider: not prepared (scripts/bench.sh --peers does)".into());
        }
    }
    match &software.keystone_venv {
        Some(venv) => match keystone(venv, &cert, &key, lintel.cert.clone()).await {
            Ok((p, srv, _dir)) => rows.extend(drive(&p, &srv, &scenarios, sizes).await?),
            Err(e) => notes.push(format!("Keystone did not run: {e:#}")),
        },
        None => notes.push("Keystone: not prepared (scripts/bench.sh --peers does)".into()),
    }
    Ok(crate::report::peers_table(&rows, &notes))
}

/// How many times `--duration` each scenario runs on the bare server and on Lintel, in slices of [`SLICE`].
const ROUNDS: u32 = 3;

/// The bare server and Lintel take turns this long each. The machine's speed drifts over seconds (other tenants,
/// frequency): three rounds of five seconds gave one scenario's ratio 0.65–0.97 in one run. Slices of a second,
/// each pair in the other order from the last (bare–Lintel, Lintel–bare), see the same drift on both sides.
const SLICE: std::time::Duration = std::time::Duration::from_secs(1);

/// The bare server and Lintel, each scenario in [`ROUNDS`] × `--duration` of alternating [`SLICE`]s; each one's
/// rows merge its slices (requests over time). With a note of the median and quartiles of the slices' ratios:
/// the spread the table's ratio stands on.
async fn paired(
    bare: &Peer,
    bare_srv: &Server,
    me: &Peer,
    lintel: &Server,
    scenarios: &[&'static str],
    sizes: Sizes,
) -> anyhow::Result<(Vec<(&'static str, &'static str, Row)>, String)> {
    let slice = sizes.duration.min(SLICE);
    let pairs = (ROUNDS * (sizes.duration.as_millis() / slice.as_millis()).max(1) as u32) as usize;
    let short = Sizes {
        duration: slice,
        ..sizes
    };
    let mut merged: Vec<(&'static str, &'static str, Row)> = Vec::new();
    let mut spread = format!(
        "Lintel ÷ bare over {pairs} pairs of {} ms slices, each pair in turn bare first and Lintel first: \
         median (quartiles)",
        slice.as_millis()
    );
    for scenario in scenarios {
        let mut ratios = Vec::new();
        for i in 0..pairs {
            let (b, l) = if i % 2 == 0 {
                let b = drive_one(bare, bare_srv, scenario, short).await?;
                (b, drive_one(me, lintel, scenario, short).await?)
            } else {
                let l = drive_one(me, lintel, scenario, short).await?;
                (drive_one(bare, bare_srv, scenario, short).await?, l)
            };
            ratios.push(l.outcome.rate() / b.outcome.rate());
            for (name, row) in [(bare.name, b), (me.name, l)] {
                match merged
                    .iter_mut()
                    .find(|(p, s, _)| *p == name && s == scenario)
                {
                    Some((_, _, m)) => {
                        m.cpu_seconds += row.cpu_seconds;
                        m.rss_mib = m.rss_mib.max(row.rss_mib);
                        m.outcome.merge(row.outcome);
                    }
                    None => merged.push((name, scenario, row)),
                }
            }
        }
        ratios.sort_by(f64::total_cmp);
        let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
        spread.push_str(&format!(
            "\n- {scenario}: {:.3} ({:.3}–{:.3})",
            at(0.5),
            at(0.25),
            at(0.75)
        ));
    }
    Ok((merged, spread))
}

/// Every scenario against `p`, with CPU and memory read from `measured`, its server process.
async fn drive(
    p: &Peer,
    measured: &Server,
    scenarios: &[&'static str],
    sizes: Sizes,
) -> anyhow::Result<Vec<(&'static str, &'static str, Row)>> {
    let mut rows = Vec::new();
    for scenario in scenarios {
        rows.push((
            p.name,
            *scenario,
            drive_one(p, measured, scenario, sizes).await?,
        ));
    }
    Ok(rows)
}

/// One scenario against `p`.
async fn drive_one(
    p: &Peer,
    measured: &Server,
    scenario: &str,
    sizes: Sizes,
) -> anyhow::Result<Row> {
    {
        let (make, fresh, resume) = match scenario {
            "lightest request" => (p.light.clone(), false, true),
            "issue" => (p.issue.clone(), false, true),
            "validate" => (p.validate.clone(), false, true),
            "issue, new connection" => (p.issue.clone(), true, false),
            _ => (p.issue.clone(), true, true),
        };
        let tls = if resume {
            load::tls_config(&p.cert)?
        } else {
            load::tls_config_without_resumption(&p.cert)?
        };
        let l = Load {
            connections: sizes.connections,
            duration: sizes.duration,
            sources: Vec::new(),
            make,
            expected: |s| (200..300).contains(&s),
            fresh,
            timeline: false,
        };
        measured.reset_peak();
        let cpu = measured.cpu_seconds();
        let outcome = load::run(p.addr, tls, l).await;
        let cpu = measured.cpu_seconds() - cpu;
        Ok(Row::new(scenario, outcome, cpu, measured.peak_rss_mib()))
    }
}

/// The limit: `lintel-bare` with the same certificate, answering every request with a fixed token-sized body.
async fn bare(bin: &Path, cert: &Path, key: &Path, pem: Vec<u8>) -> anyhow::Result<(Peer, Server)> {
    let addr = free_addr()?;
    let child = Command::new(bin)
        .args([
            "--cert",
            &cert.display().to_string(),
            "--key",
            &key.display().to_string(),
        ])
        .args(["--bind", &addr.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let srv = Server::adopt("lintel-bare", child, addr, pem.clone()).await?;
    let peer = Peer {
        name: "bare axum + rustls",
        addr,
        cert: pem,
        light: get("/healthz"),
        issue: form_post("/token", "Basic eDp5".into()),
        validate: Arc::new(|_, _| Some(request("GET", "/validate", &[], b""))),
    };
    Ok((peer, srv))
}

/// node-oidc-provider (client credentials, opaque tokens, introspection to validate).
async fn oidc_provider(
    dir: &Path,
    cert: &Path,
    key: &Path,
    pem: Vec<u8>,
) -> anyhow::Result<(Peer, Server)> {
    let addr = free_addr()?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("{}", dir.display()))?;
    let (id, secret) = ("bench", "bench-client-secret-0123456789");
    let child = Command::new("node")
        .arg(dir.join("oidc-provider.mjs"))
        .arg(addr.port().to_string())
        .args([cert, key])
        .args([id, secret])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting node")?;
    let srv = Server::adopt("node-oidc-provider", child, addr, pem.clone()).await?;
    let tls = load::tls_config(&srv.cert)?;
    let auth = basic(id, secret);
    let (status, _, body) = load::call(
        addr,
        &tls,
        form_post("/token", auth.clone())(0, 0).unwrap_or_else(|| unreachable!()),
    )
    .await?;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(token) = v["access_token"].as_str().filter(|_| status == 200) else {
        bail!("its token endpoint answered {status}: {v}");
    };
    let introspect: &'static [u8] = format!("token={token}").into_bytes().leak();
    let auth2 = auth.clone();
    let peer = Peer {
        name: "node-oidc-provider 9.13.3",
        addr,
        cert: pem,
        light: get("/.well-known/openid-configuration"),
        issue: form_post("/token", auth),
        validate: Arc::new(move |_, _| {
            Some(request(
                "POST",
                "/token/introspection",
                &[
                    ("authorization", &auth2),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                introspect,
            ))
        }),
    };
    Ok((peer, srv))
}

/// Real Keystone 30 on SQLite, served by gunicorn with one worker per core (Keystone's docs: a WSGI server with
/// several workers), with an application credential for the OAuth 2.0 endpoint.
async fn keystone(
    venv: &Path,
    cert: &Path,
    key: &Path,
    pem: Vec<u8>,
) -> anyhow::Result<(Peer, Server, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let addr = free_addr()?;
    let conf = d.join("keystone.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\nlog_file = {log}\n[database]\nconnection = sqlite:///{db}\n[token]\nprovider = fernet\n\
             [fernet_tokens]\nkey_repository = {keys}\n[fernet_receipts]\nkey_repository = {keys}\n\
             [credential]\nkey_repository = {creds}\n",
            log = d.join("keystone.log").display(),
            db = d.join("keystone.db").display(),
            keys = d.join("fernet-keys").display(),
            creds = d.join("credential-keys").display(),
        ),
    )?;
    let manage = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new(venv.join("bin/keystone-manage"))
            .arg("--config-file")
            .arg(&conf)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        anyhow::ensure!(
            status.success(),
            "keystone-manage {} failed",
            args.join(" ")
        );
        Ok(())
    };
    let (user, group) = (whoami("-un")?, whoami("-gn")?);
    manage(&["db_sync"])?;
    for setup in ["fernet_setup", "credential_setup"] {
        manage(&[setup, "--keystone-user", &user, "--keystone-group", &group])?;
    }
    let public = format!("https://127.0.0.1:{}/v3", addr.port());
    manage(&[
        "bootstrap",
        "--bootstrap-username",
        "admin",
        "--bootstrap-password",
        "adminpw",
        "--bootstrap-project-name",
        "admin",
        "--bootstrap-role-name",
        "admin",
        "--bootstrap-service-name",
        "keystone",
        "--bootstrap-region-id",
        "RegionOne",
        "--bootstrap-public-url",
        &public,
    ])?;
    let workers = std::thread::available_parallelism()
        .map(std::num::NonZero::get)
        .unwrap_or(2);
    let wsgi_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/keystone_import");
    let child = Command::new(venv.join("bin/gunicorn"))
        .args([
            "--workers",
            &workers.to_string(),
            "--bind",
            &addr.to_string(),
            "--no-control-socket",
        ])
        .args([
            "--certfile",
            &cert.display().to_string(),
            "--keyfile",
            &key.display().to_string(),
        ])
        .arg("--pythonpath")
        .arg(&wsgi_dir)
        .arg("ks_wsgi:application")
        .env("OS_KEYSTONE_CONFIG_DIR", d)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting gunicorn")?;
    let srv = Server::adopt("keystone", child, addr, pem.clone()).await?;
    let tls = load::tls_config(&srv.cert)?;
    let auth = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": "adminpw"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    // gunicorn listens before its workers have loaded Keystone: retry until one answers.
    let mut answer = None;
    for _ in 0..120 {
        if let Ok(a) = load::call(
            addr,
            &tls,
            json_request("POST", "/v3/auth/tokens", None, auth.clone()),
        )
        .await
        {
            if a.0 == 201 {
                answer = Some(a);
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let Some((_, headers, body)) = answer else {
        bail!("no token from Keystone's password authentication");
    };
    let admin = headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .context("no X-Subject-Token")?
        .to_string();
    let v: Value = serde_json::from_slice(&body)?;
    let user_id = v["token"]["user"]["id"]
        .as_str()
        .context("no user id")?
        .to_string();
    let (status, _, body) = load::call(
        addr,
        &tls,
        json_request(
            "POST",
            &format!("/v3/users/{user_id}/application_credentials"),
            Some(&admin),
            json!({"application_credential": {"name": "bench"}}),
        ),
    )
    .await?;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (Some(id), Some(secret)) = (
        v["application_credential"]["id"].as_str(),
        v["application_credential"]["secret"].as_str(),
    ) else {
        bail!("creating an application credential answered {status}: {v}");
    };
    let client = basic(id, secret);
    let issue = form_post("/v3/OS-OAUTH2/token", client);
    let (status, _, body) =
        load::call(addr, &tls, issue(0, 0).unwrap_or_else(|| unreachable!())).await?;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(token) = v["access_token"]
        .as_str()
        .filter(|_| status == 200)
        .map(str::to_string)
    else {
        bail!("Keystone's OAuth 2.0 endpoint answered {status}: {v}");
    };
    let peer = Peer {
        name: "Keystone 30 (gunicorn)",
        addr,
        cert: pem,
        light: get("/v3"),
        issue,
        validate: Arc::new(move |_, _| {
            Some(request(
                "GET",
                "/v3/auth/tokens",
                &[("x-auth-token", &admin), ("x-subject-token", &token)],
                b"",
            ))
        }),
    };
    Ok((peer, srv, dir))
}

fn whoami(flag: &str) -> anyhow::Result<String> {
    let out = Command::new("id").arg(flag).output()?;
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}
