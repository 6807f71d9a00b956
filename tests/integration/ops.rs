//! Operations, on the real binary: systemd's protocol (READY=1, watchdog, SIGHUP reload, SIGTERM drain), the
//! path prefix, readiness and metrics; and three nodes over one database sharing keys and changes.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{backends, bin, TestDatabase};

const PASSWORD: &str = "ops test password";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A certificate and key for localhost, written to `dir/{name}.pem` and `dir/{name}.key`.
struct Tls {
    cert: PathBuf,
    key: PathBuf,
    der: Vec<u8>,
    pem: Vec<u8>,
}

fn make_tls(dir: &Path, name: &str) -> Tls {
    let g =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert, g.cert.pem()).unwrap();
    std::fs::write(&key, g.key_pair.serialize_pem()).unwrap();
    Tls {
        cert,
        key,
        der: g.cert.der().to_vec(),
        pem: g.cert.pem().into_bytes(),
    }
}

/// Install `from`'s files where the server reads its certificate (what a renewal does).
fn install_tls(from: &Tls, to: &Tls) {
    std::fs::copy(&from.cert, &to.cert).unwrap();
    std::fs::copy(&from.key, &to.key).unwrap();
}

fn client(roots: &[&Tls]) -> reqwest::Client {
    let mut b = reqwest::Client::builder().tls_info(true);
    for t in roots {
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&t.pem).unwrap());
    }
    b.build().unwrap()
}

fn write_conf(
    dir: &Path,
    name: &str,
    port: u16,
    prefix: &str,
    db: &str,
    tls: &Tls,
    extra: &str,
) -> PathBuf {
    let conf = dir.join(format!("{name}.conf"));
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\npublic_endpoint = https://127.0.0.1:{port}{prefix}\ndata_dir = {data}\n\
             [database]\nconnection = {db}\n[server]\nbind = 127.0.0.1:{port}\n\
             [tls]\ncert_file = {cert}\nkey_file = {key}\n{extra}\n",
            data = dir.join(name).display(),
            cert = tls.cert.display(),
            key = tls.key.display(),
        ),
    )
    .unwrap();
    conf
}

/// Run a `lintel` subcommand to completion.
fn run(conf: &Path, args: &[&str]) -> Output {
    let out = Command::new(bin())
        .arg("--config")
        .arg(conf)
        .args(args)
        .env("OS_BOOTSTRAP_PASSWORD", PASSWORD)
        .env_remove("LINTEL_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lintel {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A `lintel serve` process.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    fn start(conf: &Path, port: u16, env: &[(&str, String)]) -> Node {
        let log = std::fs::File::create(conf.with_extension("log")).unwrap();
        let child = Command::new(bin())
            .arg("--config")
            .arg(conf)
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env_remove("LINTEL_CONFIG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Node {
            child,
            base: format!("https://127.0.0.1:{port}"),
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    async fn wait_up(&self, client: &reqwest::Client) {
        let started = Instant::now();
        while client
            .get(format!("{}/healthz", self.base))
            .send()
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} never came up",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn password_auth() -> Value {
    json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
}

/// An admin token and the admin's user id, from `base` (which may carry a path prefix).
async fn admin_token(client: &reqwest::Client, base: &str) -> (String, String) {
    let r = client
        .post(format!("{base}/v3/auth/tokens"))
        .json(&password_auth())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    (
        token,
        body["token"]["user"]["id"].as_str().unwrap().to_string(),
    )
}

fn peer_der(r: &reqwest::Response) -> Vec<u8> {
    r.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("TLS info")
        .to_vec()
}

/// Messages received on the notify socket until one contains `want` (panics after 30 s).
fn await_notify(sock: &UnixDatagram, want: &str) -> String {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no {want} on NOTIFY_SOCKET"
        );
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).to_string();
            if msg.lines().any(|l| l == want) {
                return msg;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_protocol_prefix_readiness_metrics_reload_and_drain() {
    lintel::server::install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let first = make_tls(dir.path(), "first");
    let renewed = make_tls(dir.path(), "renewed");
    let live = make_tls(dir.path(), "live");
    install_tls(&first, &live);
    let database = TestDatabase::create("sqlite", dir.path()).await;
    let db = database.url.clone();
    let conf = write_conf(
        dir.path(),
        "node",
        port,
        "/identity",
        &db,
        &live,
        &format!("[metrics]\nbind = 127.0.0.1:{metrics_port}"),
    );
    run(&conf, &["db-sync"]);
    run(&conf, &["bootstrap"]);

    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let node = Node::start(
        &conf,
        port,
        &[
            ("NOTIFY_SOCKET", sock_path.display().to_string()),
            ("WATCHDOG_USEC", "400000".to_string()),
        ],
    );
    await_notify(&sock, "READY=1");
    // READY=1 is sent once the listener is up: no retry needed.
    let c = client(&[&first, &renewed]);
    let ready = c.get(format!("{}/readyz", node.base)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"], json!({"database": "ok", "keys": "ok"}));
    await_notify(&sock, "WATCHDOG=1");

    // The API answers under public_endpoint's path and at the root, and links carry the path.
    let prefixed = format!("{}/identity", node.base);
    let v3: Value = c
        .get(format!("{prefixed}/v3"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v3["version"]["links"][0]["href"],
        format!("https://127.0.0.1:{port}/identity/v3/")
    );
    let root = c.get(&prefixed).send().await.unwrap();
    assert_eq!(root.status(), StatusCode::MULTIPLE_CHOICES);
    assert_eq!(
        c.get(format!("{}/v3", node.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let (admin, _) = admin_token(&c, &prefixed).await;
    let r = c
        .get(format!("{prefixed}/v3/auth/tokens"))
        .header("x-auth-token", &admin)
        .header("x-subject-token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(peer_der(&r), first.der, "the first certificate is served");

    // Metrics on their own listener, plain HTTP.
    let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "lintel_tokens_issued_total{endpoint=\"auth_tokens\",outcome=\"success\"} 1",
        "lintel_token_validations_total{outcome=\"valid\"} 1",
        "lintel_argon2_queue_depth 0",
        "lintel_request_duration_seconds_count{method=\"GET\",route=\"/v3/auth/tokens\",status=\"2xx\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    let api_metrics = c
        .get(format!("{}/metrics", node.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        api_metrics.status(),
        StatusCode::NOT_FOUND,
        "metrics stay off the API listener"
    );

    // SIGHUP: new connections get the renewed certificate; the open connection carries on.
    install_tls(&renewed, &live);
    node.signal("HUP");
    let started = Instant::now();
    loop {
        let fresh = client(&[&first, &renewed]);
        let r = fresh
            .get(format!("{}/healthz", node.base))
            .send()
            .await
            .unwrap();
        if peer_der(&r) == renewed.der {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "SIGHUP did not reload the certificate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let same = c
        .get(format!("{}/healthz", node.base))
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), StatusCode::OK);
    assert_eq!(
        peer_der(&same),
        first.der,
        "the connection opened before the reload was kept"
    );

    // SIGTERM while a password authentication (argon2) is in flight: it completes, then the process exits 0.
    let (c2, url) = (c.clone(), format!("{prefixed}/v3/auth/tokens"));
    let in_flight = tokio::spawn(async move { c2.post(url).json(&password_auth()).send().await });
    tokio::time::sleep(Duration::from_millis(5)).await;
    node.signal("TERM");
    let answered = in_flight
        .await
        .unwrap()
        .expect("the in-flight request was answered");
    assert_eq!(answered.status(), StatusCode::CREATED);
    await_notify(&sock, "STOPPING=1");
    let mut node = node;
    let status = node.child.wait().unwrap();
    assert!(status.success(), "SIGTERM exits 0: {status:?}");

    // Each request's access line, written at exit at the latest, in the text format's shape (time, level, target,
    // then the fields; written without tracing's formatter, byte for byte what it would write).
    let log = std::fs::read_to_string(conf.with_extension("log")).unwrap();
    let line = regex::Regex::new(
        r"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z  INFO lintel::access: request_id=req-[0-9a-f-]{36} source=127\.0\.0\.1 method=POST route=\S*/v3/auth/tokens status=201 latency_us=\d+$",
    )
    .unwrap();
    assert!(
        line.is_match(&log),
        "no access line for the token request in:\n{log}"
    );
}

async fn client_credentials(
    c: &reqwest::Client,
    base: &str,
    cred: &(String, String),
) -> (StatusCode, Value) {
    let r = c
        .post(format!("{base}/v3/OS-OAUTH2/token"))
        .basic_auth(&cred.0, Some(&cred.1))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn validates(c: &reqwest::Client, base: &str, admin: &str, token: &str) -> StatusCode {
    c.get(format!("{base}/v3/auth/tokens"))
        .header("x-auth-token", admin)
        .header("x-subject-token", token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn key_ids(url: &str) -> Vec<i64> {
    use sea_orm::{EntityTrait, QueryOrder};
    let db = sea_orm::Database::connect(url).await.unwrap();
    let rows = entity::token_key::Entity::find()
        .order_by_asc(entity::token_key::Column::Id)
        .all(&db)
        .await
        .unwrap();
    db.close().await.ok();
    rows.into_iter().map(|r| r.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_keys_and_changes() {
    lintel::server::install_crypto();
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let database = TestDatabase::create(backend, dir.path()).await;
        let db = database.url.clone();
        let tls = make_tls(dir.path(), "tls");
        let kek = fernet::Fernet::generate_key();
        let extra = format!(
            "[token]\nkey_store = database\nkey_encryption_key = {kek}\n[fernet_tokens]\nmax_active_keys = 4"
        );
        let ports = [free_port(), free_port(), free_port()];
        let confs: Vec<PathBuf> = ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                write_conf(
                    dir.path(),
                    &format!("n{}", i + 1),
                    *p,
                    "",
                    &db,
                    &tls,
                    &extra,
                )
            })
            .collect();
        run(&confs[0], &["db-sync"]);
        run(&confs[0], &["bootstrap"]);
        run(&confs[0], &["keys", "setup"]);
        let nodes: Vec<Node> = confs
            .iter()
            .zip(ports)
            .map(|(conf, port)| Node::start(conf, port, &[]))
            .collect();
        let c = client(&[&tls]);
        for n in &nodes {
            n.wait_up(&c).await;
        }
        let base = |i: usize| nodes[i].base.clone();

        // A credential made on node 1; its token validates on nodes 2 and 3.
        let (admin, user_id) = admin_token(&c, &base(0)).await;
        let made: Value = c
            .post(format!(
                "{}/v3/users/{user_id}/application_credentials",
                base(0)
            ))
            .header("x-auth-token", &admin)
            .json(&json!({"application_credential": {"name": "cluster"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ac = &made["application_credential"];
        let cred = (
            ac["id"].as_str().unwrap().to_string(),
            ac["secret"].as_str().unwrap().to_string(),
        );
        let (status, body) = client_credentials(&c, &base(0), &cred).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        let old = body["access_token"].as_str().unwrap().to_string();
        for i in 1..3 {
            assert_eq!(
                validates(&c, &base(i), &admin, &old).await,
                StatusCode::OK,
                "{backend}: node {}",
                i + 1
            );
        }

        // Two rotations at once from nodes 2 and 3: the lock serialises them.
        let rotations: Vec<Child> = confs[1..]
            .iter()
            .map(|conf| {
                Command::new(bin())
                    .arg("--config")
                    .arg(conf)
                    .args(["keys", "rotate"])
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut r in rotations {
            assert!(r.wait().unwrap().success(), "{backend}: keys rotate");
        }
        assert_eq!(
            key_ids(&db).await,
            vec![0, 1, 2, 3],
            "{backend}: two rotations, in turn"
        );
        // Every node follows within the sync interval; then a new token from node 3 and the old one
        // validate everywhere.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let (status, body) = client_credentials(&c, &base(2), &cred).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        let new = body["access_token"].as_str().unwrap().to_string();
        let (status, body) = client_credentials(&c, &base(1), &cred).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {body}");
        for i in 0..3 {
            for t in [&old, &new] {
                assert_eq!(
                    validates(&c, &base(i), &admin, t).await,
                    StatusCode::OK,
                    "{backend}: node {}",
                    i + 1
                );
            }
        }

        // Deleting the credential on node 3 stops its tokens and its token requests on nodes 1 and 2 within 2 s.
        let r = c
            .delete(format!(
                "{}/v3/users/{user_id}/application_credentials/{}",
                base(2),
                cred.0
            ))
            .header("x-auth-token", &admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let deleted = Instant::now();
        loop {
            let mut stopped = true;
            for i in 0..2 {
                stopped &= validates(&c, &base(i), &admin, &new).await == StatusCode::NOT_FOUND;
            }
            if stopped {
                break;
            }
            assert!(
                deleted.elapsed() < Duration::from_millis(2500),
                "{backend}: nodes 1 and 2 still validate tokens of a credential deleted on node 3"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Asked once each (repeated failures would be slowed down instead).
        for i in 0..2 {
            let (status, body) = client_credentials(&c, &base(i), &cred).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{backend}: node {}: {body}",
                i + 1
            );
            assert_eq!(body["error"], "invalid_client");
        }
        assert!(
            deleted.elapsed() < Duration::from_millis(2500),
            "{backend}: took {:?}",
            deleted.elapsed()
        );
        drop(nodes);
        drop(database);
    }
}
