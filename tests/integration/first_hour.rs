//! A new user's first hour with the `lintel` binary: the endpoint and certificate on a non-loopback bind, a port
//! in use, an unreachable or foreign database, file modes, log format and the messages they read.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::common::lintel;
use std::time::{Duration, Instant};

/// `lintel serve --bind ADDR` in `dir`, its output captured.
fn spawn_serve(dir: &Path, bind: &str, config: Option<&str>) -> Child {
    let mut c = lintel(dir);
    if let Some(conf) = config {
        c.args(["--config", conf]);
    }
    c.args(["serve", "--bind", bind])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait until `data/admin-openrc.sh` exists, then read one exported variable from it.
fn openrc_var(dir: &Path, name: &str) -> String {
    let openrc = dir.join("data/admin-openrc.sh");
    let started = Instant::now();
    while !openrc.exists() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = std::fs::read_to_string(&openrc).expect("openrc written");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("export {name}=")))
        .unwrap_or_else(|| panic!("{name} missing"))
        .to_string()
}

fn stop(child: Child) -> String {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A client that trusts only the certificate at `cert`.
fn https_client(cert: &Path) -> reqwest::Client {
    lintel::server::install_crypto();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(cert).unwrap()).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap()
}

/// Send what `make` builds until the server accepts the connection (it may still be starting).
async fn send_when_up(make: impl Fn() -> reqwest::RequestBuilder) -> reqwest::Response {
    for _ in 0..100 {
        match make().send().await {
            Ok(r) => return r,
            Err(e) if e.is_connect() => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("{e:?}"),
        }
    }
    panic!("the server did not answer");
}

/// GET `url` trusting only `cert`; the status.
fn get_with_ca(url: &str, cert: &Path) -> reqwest::StatusCode {
    let client = https_client(cert);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(send_when_up(|| client.get(url))).status()
}

#[test]
fn a_specific_bind_address_is_the_endpoint_and_in_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.2");
    let child = spawn_serve(dir.path(), &format!("127.0.0.2:{port}"), None);
    let url = openrc_var(dir.path(), "OS_AUTH_URL");
    assert_eq!(url, format!("https://127.0.0.2:{port}/v3"));
    let cert = dir.path().join("data/tls/cert.pem");
    assert!(lintel::transport::self_signed::covers(&cert, "127.0.0.2"));
    // The certificate verifies for that address: a client that trusts it reaches the API there.
    assert_eq!(get_with_ca(&url, &cert), reqwest::StatusCode::OK);
    let log = stop(child);
    assert!(!log.contains("public_endpoint is not set"), "{log}");
}

#[test]
fn a_wildcard_bind_names_the_host_and_says_it_guessed() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1");
    let child = spawn_serve(dir.path(), &format!("0.0.0.0:{port}"), None);
    let host = lintel::config::host_name();
    let url = openrc_var(dir.path(), "OS_AUTH_URL");
    assert_eq!(url, format!("https://{host}:{port}/v3"));
    let cert = dir.path().join("data/tls/cert.pem");
    assert!(
        lintel::transport::self_signed::covers(&cert, &host),
        "the certificate names {host}"
    );
    assert!(lintel::transport::self_signed::covers(&cert, "127.0.0.1"));
    // Connect by that name only where it resolves to loopback: tests never reach another address.
    let resolved: Vec<std::net::SocketAddr> =
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
            .map(std::iter::Iterator::collect)
            .unwrap_or_default();
    if !resolved.is_empty() && resolved.iter().all(|a| a.ip().is_loopback()) {
        assert_eq!(get_with_ca(&url, &cert), reqwest::StatusCode::OK);
    } else {
        eprintln!("{host} does not resolve to loopback only ({resolved:?}): checked the certificate, not a request");
    }
    let log = stop(child);
    assert_eq!(
        log.matches("public_endpoint is not set").count(),
        1,
        "one clear warning: {log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal: {log}"
    );
}

#[test]
fn a_port_in_use_fails_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let out = lintel(dir.path())
        .args(["serve", "--bind", &addr.to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("First start"));
    assert!(
        !dir.path().join("data").exists(),
        "no data directory, keys or openrc"
    );
}

#[test]
fn an_unreachable_database_fails_fast_naming_server_and_cause() {
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port("127.0.0.1");
    std::fs::write(
        dir.path().join("pg.conf"),
        format!("[database]\nconnection = postgresql://postgres@127.0.0.1:{closed}/test\n"),
    )
    .unwrap();
    let started = Instant::now();
    let out = lintel(dir.path())
        .args(["--config", "pg.conf", "db-sync"])
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!("PostgreSQL at 127.0.0.1:{closed}"))
            && err.contains("connection refused"),
        "{err}"
    );
    assert!(!err.contains("pool timed out"), "{err}");
}

#[test]
fn a_sqlite_file_in_a_missing_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo/lintel.db");
    std::fs::write(
        dir.path().join("l.conf"),
        format!("[database]\nconnection = sqlite://{}\n", missing.display()),
    )
    .unwrap();
    let out = lintel(dir.path())
        .args(["--config", "l.conf", "db-sync"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("directory that does not exist"), "{err}");
    assert!(!dir.path().join("typo").exists(), "nothing created");
}

#[test]
fn db_sync_refuses_a_foreign_schema_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keystone.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tables = |url: String| async move {
        use sea_orm::ConnectionTrait;
        let conn = sea_orm::Database::connect(url).await.unwrap();
        let rows = conn
            .query_all(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.try_get::<String>("", "name").unwrap())
            .collect::<Vec<_>>()
    };
    rt.block_on(async {
        use sea_orm::ConnectionTrait;
        let conn = sea_orm::Database::connect(url.clone()).await.unwrap();
        for t in ["project", "user", "assignment"] {
            conn.execute_unprepared(&format!("CREATE TABLE {t} (id VARCHAR(64) PRIMARY KEY)"))
                .await
                .unwrap();
        }
    });
    std::fs::write(
        dir.path().join("l.conf"),
        format!("[database]\nconnection = {url}\n"),
    )
    .unwrap();
    let out = lintel(dir.path())
        .args(["--config", "l.conf", "db-sync"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already holds 3 tables that Lintel did not create")
            && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(
        rt.block_on(tables(url)),
        vec!["assignment", "project", "user"],
        "no table added"
    );
}

#[test]
fn the_database_file_is_private_and_restarts_are_quiet() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("l.conf"),
        format!(
            "[DEFAULT]\ndata_dir = {d}\n[server]\ninsecure_http = true\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    let sync = |dir: &Path| {
        let out = lintel(dir)
            .args(["--config", "l.conf", "db-sync"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let first = sync(dir.path());
    assert!(first.contains("database schema upgraded"), "{first}");
    let again = sync(dir.path());
    assert!(
        !again.contains("INFO"),
        "nothing to say when no migration ran: {again}"
    );
    let mode = std::fs::metadata(dir.path().join("lintel.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A plain-HTTP start says where it listens too.
    let port = free_port("127.0.0.1");
    let child = spawn_serve(dir.path(), &format!("127.0.0.1:{port}"), Some("l.conf"));
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
        && started.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let log = stop(child);
    assert!(log.contains("Lintel listening (plain HTTP)"), "{log}");
}

#[test]
fn config_parse_errors_are_words_not_debug_text() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.conf"), "[database\nconnection = x\n").unwrap();
    let out = lintel(dir.path())
        .args(["--config", "bad.conf", "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.conf: not a valid INI file: line"),
        "{err}"
    );
    assert!(!err.contains("Some("), "{err}");
}

#[test]
fn a_failed_client_authentication_is_logged_with_source_and_client() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1");
    let child = spawn_serve(dir.path(), &format!("127.0.0.1:{port}"), None);
    let _ = openrc_var(dir.path(), "OS_AUTH_URL");
    let client = https_client(&dir.path().join("data/tls/cert.pem"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt
        .block_on(send_when_up(|| {
            client
                .post(format!("https://127.0.0.1:{port}/v3/OS-OAUTH2/token"))
                .basic_auth("client-4711", Some("the-wrong-secret"))
                .form(&[("grant_type", "client_credentials")])
        }))
        .status();
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    let log = stop(child);
    let line = log
        .lines()
        .find(|l| l.contains("/v3/OS-OAUTH2/token") && l.contains("status=401"))
        .unwrap_or_else(|| panic!("no access log line: {log}"));
    assert!(line.contains("source=127.0.0.1"), "{line}");
    assert!(
        line.contains("subject=\"client-4711\"") || line.contains("subject=client-4711"),
        "{line}"
    );
    assert!(
        !log.contains("the-wrong-secret"),
        "the secret is never logged"
    );
}

#[test]
fn access_lines_reach_the_log_while_the_server_runs() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1");
    let mut child = spawn_serve(dir.path(), &format!("127.0.0.1:{port}"), None);
    let stderr = child.stderr.take().unwrap();
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let _ = openrc_var(dir.path(), "OS_AUTH_URL");
    let client = https_client(&dir.path().join("data/tls/cert.pem"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt
        .block_on(send_when_up(|| {
            client.get(format!("https://127.0.0.1:{port}/v3/auth/tokens"))
        }))
        .status();
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    // Access lines are held for at most a tenth of a second, then written though nothing else is logged.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut found = None;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match seen.recv_timeout(left) {
            Ok(line) if line.contains("route=/v3/auth/tokens") && line.contains("status=401") => {
                found = Some(line);
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    stop(child);
    let line = found.expect("the access line was written while the server ran");
    assert!(line.contains("source=127.0.0.1"), "{line}");
}

#[test]
fn first_start_registers_public_and_internal_identity_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1");
    let child = spawn_serve(dir.path(), &format!("127.0.0.1:{port}"), None);
    let password = openrc_var(dir.path(), "OS_PASSWORD");
    let client = https_client(&dir.path().join("data/tls/cert.pem"));
    let body = serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    let rt = tokio::runtime::Runtime::new().unwrap();
    let token: serde_json::Value = rt.block_on(async {
        send_when_up(|| {
            client
                .post(format!("https://127.0.0.1:{port}/v3/auth/tokens"))
                .json(&body)
        })
        .await
        .json()
        .await
        .unwrap()
    });
    let mut interfaces: Vec<String> = token["token"]["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["type"] == "identity")
        .flat_map(|s| s["endpoints"].as_array().unwrap().clone())
        .map(|e| e["interface"].as_str().unwrap().to_string())
        .collect();
    interfaces.sort();
    assert_eq!(interfaces, vec!["internal", "public"]);
    stop(child);
}

#[test]
fn the_test_command_explains_itself_without_running_anything() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let started = Instant::now();
    let out = Command::new(format!("{repo}/scripts/test.sh"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "--help runs no test"
    );
    let help = String::from_utf8_lossy(&out.stdout);
    for part in ["--rust", "--clients", "--tempest", "--backend", "python3"] {
        assert!(help.contains(part), "{part} missing from: {help}");
    }
    let out = Command::new(format!("{repo}/scripts/test.sh"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A server that is killed if the test fails before stopping it (a failed assertion leaves no process behind).
struct Served(Option<Child>);

impl Served {
    fn stop(mut self) -> String {
        stop(self.0.take().expect("running"))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A password token from the openrc's credentials, and the identity endpoints its catalog names.
async fn catalog_urls(client: &reqwest::Client, auth_url: &str, password: &str) -> Vec<String> {
    let body = serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
    let resp = send_when_up(|| client.post(format!("{auth_url}/auth/tokens")).json(&body)).await;
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED);
    let token: serde_json::Value = resp.json().await.unwrap();
    token["token"]["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["type"] == "identity")
        .flat_map(|s| s["endpoints"].as_array().unwrap().clone())
        .map(|e| e["url"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_install_served_on_another_address_tells_clients_that_address_and_a_bootstrap_shows_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = free_port("127.0.0.1");
    let child = Served(Some(spawn_serve(
        dir.path(),
        &format!("127.0.0.1:{first}"),
        None,
    )));
    let password = openrc_var(dir.path(), "OS_PASSWORD");
    child.stop();

    // The same data directory, served on another address.
    let port = free_port("127.0.0.2");
    let child = Served(Some(spawn_serve(
        dir.path(),
        &format!("127.0.0.2:{port}"),
        None,
    )));
    let url = format!("https://127.0.0.2:{port}/v3");
    let cert = dir.path().join("data/tls/cert.pem");
    // The certificate is made again for the new address as the server starts.
    for _ in 0..100 {
        if lintel::transport::self_signed::covers(&cert, "127.0.0.2") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = https_client(&cert);
    let urls = rt.block_on(catalog_urls(&client, &url, &password));
    assert_eq!(
        urls,
        [url.clone(), url.clone()],
        "public and internal follow the bind"
    );
    assert_eq!(openrc_var(dir.path(), "OS_AUTH_URL"), url);

    // An operator's bootstrap changes the public URL: the running server serves it without a restart.
    let out = lintel(dir.path())
        .env("OS_BOOTSTRAP_PASSWORD", &password)
        .args([
            "bootstrap",
            "--bootstrap-public-url",
            "https://id.example.com/v3",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen = rt.block_on(catalog_urls(&client, &url, &password));
        if seen.contains(&"https://id.example.com/v3".to_string()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        seen.contains(&"https://id.example.com/v3".to_string()),
        "{seen:?}"
    );
    child.stop();

    // Set by an operator: left alone at the next start, with a warning; the generated internal one still follows.
    let port = free_port("127.0.0.1");
    let child = Served(Some(spawn_serve(
        dir.path(),
        &format!("127.0.0.1:{port}"),
        None,
    )));
    let url = format!("https://127.0.0.1:{port}/v3");
    let urls = rt.block_on(catalog_urls(&client, &url, &password));
    assert!(
        urls.contains(&"https://id.example.com/v3".to_string()) && urls.contains(&url),
        "{urls:?}"
    );
    let log = child.stop();
    assert!(
        log.contains("set by an operator are left as they are"),
        "{log}"
    );
}
