//! The `lintel` binary as an operator meets it: configuration errors, the newcomer path, db-sync on several nodes.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::common::lintel;
use std::time::{Duration, Instant};

#[test]
fn config_errors_name_file_section_and_option() {
    let dir = tempfile::tempdir().unwrap();
    let out = lintel(dir.path())
        .args(["--config", "missing.conf", "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot read configuration file missing.conf"));

    std::fs::write(dir.path().join("bad.conf"), "[token]\nexpirashun = 10\n").unwrap();
    let out = lintel(dir.path())
        .args(["--config", "bad.conf", "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("bad.conf: [token] expirashun: unknown option"));

    std::fs::write(
        dir.path().join("mtls.conf"),
        "[tls]\nclient_ca_file = nope.pem\n",
    )
    .unwrap();
    let out = lintel(dir.path())
        .args(["--config", "mtls.conf", "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[tls]: reading nope.pem"));
    std::fs::write(
        dir.path().join("mtls2.conf"),
        "[oauth2]\noauth2_authn_methods = tls_client_auth\n",
    )
    .unwrap();
    let out = lintel(dir.path())
        .args(["--config", "mtls2.conf", "check-config"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "Keystone's default starts, as Keystone does"
    );
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("tls_client_auth stays off until [tls] client_ca_file"));

    std::fs::write(dir.path().join("ks.conf"), "[DEFAULT]\nlog_dir = /var/log/keystone\n[cache]\nenabled = true\n[auth]\nmethods = external,password,token\n").unwrap();
    let out = lintel(dir.path())
        .args(["--config", "ks.conf", "check-config"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a keystone.conf with foreign parts loads with warnings"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[cache]") && err.contains("'external'") && err.contains("log_dir"),
        "{err}"
    );

    // --config wins over LINTEL_CONFIG.
    let out = lintel(dir.path())
        .env("LINTEL_CONFIG", "bad.conf")
        .args(["--config", "ks.conf", "check-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = lintel(dir.path())
        .env("LINTEL_CONFIG", "bad.conf")
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Keystone 30's keystone.conf as the reference run wrote it (../shared/tools/keystone-reference/run.sh).
fn keystone_conf(dir: &std::path::Path) -> String {
    let h = dir.display();
    format!(
        "[DEFAULT]\nlog_file = {h}/keystone.log\n[database]\nconnection = sqlite:///{h}/keystone.db\n\
         [token]\nprovider = fernet\nexpiration = 3600\n[fernet_tokens]\nkey_repository = {h}/fernet-keys\n\
         [fernet_receipts]\nkey_repository = {h}/fernet-keys\n[credential]\nkey_repository = {h}/credential-keys\n\
         [auth]\nmethods = external,password,token,application_credential\n\
         [oauth2]\noauth2_authn_methods = client_secret_basic,tls_client_auth\n"
    )
}

#[test]
fn a_copied_keystone_conf_passes_check_config_with_warnings_and_a_missing_database_fails_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keystone.conf"), keystone_conf(dir.path())).unwrap();
    let out = lintel(dir.path())
        .args(["--config", "keystone.conf", "check-config"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("tls_client_auth stays off"), "{stderr}");
    assert!(
        stdout.contains("[database] connection: SQLite file"),
        "{stdout}"
    );

    // A database that does not answer (or does not exist) fails, naming it; --offline checks the file only.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut urls = vec![(
        format!("postgresql://postgres@127.0.0.1:{closed}/lintel"),
        "127.0.0.1".to_string(),
    )];
    if let Ok(pg) = std::env::var("LINTEL_TEST_POSTGRES_URL") {
        if let Some((head, _)) = pg.rsplit_once('/') {
            urls.push((
                format!("{head}/lintel_no_such_database"),
                "lintel_no_such_database".into(),
            ));
        }
    }
    for (url, named) in urls {
        std::fs::write(
            dir.path().join("db.conf"),
            format!("[database]\nconnection = {url}\n"),
        )
        .unwrap();
        let out = lintel(dir.path())
            .args(["--config", "db.conf", "check-config"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(
            stderr.contains("[database] connection") && stderr.contains(&named),
            "{stderr}"
        );
        let out = lintel(dir.path())
            .args(["--config", "db.conf", "check-config", "--offline"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "--offline: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // db-sync says what it did.
    let out = lintel(dir.path())
        .args(["--config", "keystone.conf", "db-sync"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("applied ") && stdout.contains("migrations"),
        "{stdout}"
    );
    let out = lintel(dir.path())
        .args(["--config", "keystone.conf", "db-sync"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "database schema was already up to date"
    );
}

#[test]
fn newcomer_path_serves_https_and_writes_a_private_openrc() {
    lintel::server::install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = lintel(dir.path())
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let openrc = dir.path().join("data/admin-openrc.sh");
    let cert = dir.path().join("data/tls/cert.pem");
    let started = Instant::now();
    while !(openrc.exists() && cert.exists()) && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let mode = std::fs::metadata(&openrc)
        .expect("openrc written")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&openrc).unwrap();
    let var = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("{name} missing"))
            .to_string()
    };
    assert_eq!(var("OS_AUTH_URL"), format!("https://127.0.0.1:{port}/v3"));
    assert_eq!(var("OS_IDENTITY_API_VERSION"), "3");
    assert_eq!(
        var("OS_CACERT"),
        std::fs::canonicalize(&cert).unwrap().display().to_string()
    );
    let password = var("OS_PASSWORD");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
        let client = reqwest::Client::builder().add_root_certificate(ca).build().unwrap();
        let body = serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": var("OS_USERNAME"), "domain": {"name": var("OS_USER_DOMAIN_NAME")}, "password": password}}},
            "scope": {"project": {"name": var("OS_PROJECT_NAME"), "domain": {"name": var("OS_PROJECT_DOMAIN_NAME")}}}}});
        let mut last = None;
        for _ in 0..100 {
            match client.post(format!("https://127.0.0.1:{port}/v3/auth/tokens")).json(&body).send().await {
                Ok(r) => {
                    last = Some(r.status());
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        last
    });
    assert_eq!(status, Some(reqwest::StatusCode::CREATED));

    // SIGTERM drains and exits 0; the password never reached the terminal or the log.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit status {:?}", out.status);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.contains("admin-openrc.sh"),
        "the terminal shows where the credentials are: {printed}"
    );
    assert!(
        !printed.contains(&password),
        "the password must not be printed"
    );
    assert!(
        printed.contains("self-signed"),
        "says it generated a certificate"
    );
}

#[test]
fn db_sync_runs_concurrently_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("lintel.conf");
    std::fs::write(
        &conf,
        format!("[DEFAULT]\ndata_dir = {}\n", dir.path().display()),
    )
    .unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            lintel(dir.path())
                .args(["--config", conf.to_str().unwrap(), "db-sync"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for _ in 0..2 {
        let out = lintel(dir.path())
            .args([
                "--config",
                conf.to_str().unwrap(),
                "bootstrap",
                "--bootstrap-password",
                "pw",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "bootstrap is idempotent: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn sigterm_stops_a_server_whose_log_reader_has_gone() {
    // journald restarting, or `lintel serve 2>&1 | head`: every write to stderr fails from then on.
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = lintel(dir.path())
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Serving: /healthz answers (the listener is bound before the start-up work, so an accepted connection alone
    // does not say the signal handler is in place yet).
    let started = Instant::now();
    let cert = dir.path().join("data/tls/cert.pem");
    while !dir.path().join("data/admin-openrc.sh").exists() || !cert.exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    lintel::server::install_crypto();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    while !rt
        .block_on(
            client
                .get(format!("https://127.0.0.1:{port}/healthz"))
                .send(),
        )
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(child.stdout.take());
    drop(child.stderr.take());
    let term = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(term.success());
    let asked = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if asked.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("still running 15 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn bootstrap_is_in_the_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("audit.log");
    std::fs::write(
        dir.path().join("l.conf"),
        format!(
            "[DEFAULT]\ndata_dir = {}/data\n[audit]\ndestination = file\nfile = {}\n",
            dir.path().display(),
            trail.display()
        ),
    )
    .unwrap();
    for args in [&["db-sync"][..], &["bootstrap"][..]] {
        let out = lintel(dir.path())
            .env("OS_BOOTSTRAP_PASSWORD", "correct horse battery staple")
            .args(["--config", "l.conf"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&trail).expect("audit file written");
    let event: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(event["action"], "updated.user", "{event}");
    assert_eq!(
        event["initiator"]["credential"]["type"], "bootstrap",
        "{event}"
    );
    assert!(!text.contains("correct horse"), "no secret in the trail");
}
