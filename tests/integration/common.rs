//! A real Lintel server over HTTPS on an ephemeral port, on SQLite or on the PostgreSQL/MariaDB server named
//! by `LINTEL_TEST_POSTGRES_URL` / `LINTEL_TEST_MYSQL_URL`, each test in a database of its own.

use std::io::Write;

use lintel::bootstrap::{self, Bootstrap};
use lintel::config::Config;
use lintel::store::Db;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{json, Value};

/// The binary under test: `LINTEL_BIN` (the test command points it at the one release build), else Cargo's.
pub fn bin() -> String {
    std::env::var("LINTEL_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_lintel").to_string())
}

/// `lintel` run in `dir` with nothing of the caller's configuration or log settings.
pub fn lintel(dir: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(bin());
    c.current_dir(dir)
        .env_remove("LINTEL_CONFIG")
        .env_remove("NO_COLOR")
        .env_remove("LINTEL_LOG")
        .stdin(std::process::Stdio::null());
    c
}

/// The admin password every test server is bootstrapped with.
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// The databases to run storage tests on: SQLite always, the others when their URLs are set.
pub fn backends() -> Vec<&'static str> {
    let mut b = vec!["sqlite"];
    if std::env::var("LINTEL_TEST_POSTGRES_URL").is_ok_and(|v| !v.is_empty()) {
        b.push("postgres");
    }
    if std::env::var("LINTEL_TEST_MYSQL_URL").is_ok_and(|v| !v.is_empty()) {
        b.push("mysql");
    }
    b
}

/// A running server and a client that trusts its certificate.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    /// A connection of the test's own, to look at what the server stored (the server's `Db` keeps its
    /// connection to itself).
    pub db: sea_orm::DatabaseConnection,
    /// The server's clock: tests move it to reach an expiry instead of sleeping.
    pub clock: lintel::clock::Clock,
    /// The server's own connection pool (closing it is how a test makes the database unreachable).
    server_db: Db,
    task: tokio::task::JoinHandle<()>,
    // Dropped after the server stops: its database, then its directory.
    database: TestDatabase,
    dir: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn swap_db(url: &str, name: &str) -> String {
    let (head, tail) = url.split_at(url.rfind('/').expect("database URL has a path"));
    let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
    format!("{head}/{name}{query}")
}

/// A database of one test's own: a file in the test's temporary directory on SQLite; on PostgreSQL/MariaDB a new
/// database, dropped when this guard goes, even when the test fails an assertion.
pub struct TestDatabase {
    /// The connection URL the server under test uses.
    pub url: String,
    backend: &'static str,
    /// The server URL to drop the database by, and its name.
    drop_by: Option<(String, String)>,
}

impl TestDatabase {
    /// A new, empty database on `backend` (SQLite: a file in `dir`).
    pub async fn create(backend: &'static str, dir: &std::path::Path) -> TestDatabase {
        if backend == "sqlite" {
            return TestDatabase {
                url: format!("sqlite://{}/lintel.db?mode=rwc", dir.display()),
                backend,
                drop_by: None,
            };
        }
        let var = if backend == "postgres" {
            "LINTEL_TEST_POSTGRES_URL"
        } else {
            "LINTEL_TEST_MYSQL_URL"
        };
        let admin = std::env::var(var).unwrap();
        let name = test_db_name(std::env::var("LINTEL_TEST_DB_PREFIX").ok().as_deref())
            .unwrap_or_else(|e| panic!("{e}"));
        let conn = Database::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("{backend} at {admin} does not answer: {e}"));
        conn.execute(Statement::from_string(
            conn.get_database_backend(),
            format!("CREATE DATABASE {name}"),
        ))
        .await
        .expect("create database");
        conn.close().await.ok();
        TestDatabase {
            url: swap_db(&admin, &name),
            backend,
            drop_by: Some((admin, name)),
        }
    }
}

async fn drop_database(backend: &str, admin: &str, name: &str) -> Result<(), sea_orm::DbErr> {
    let conn = Database::connect(admin).await?;
    let sql = if backend == "postgres" {
        format!("DROP DATABASE {name} WITH (FORCE)")
    } else {
        // MariaDB has no FORCE. A server's background task can be inside a transaction on this database that it
        // cannot finish (this drop blocks the test's runtime thread), and DROP DATABASE would wait for its
        // metadata lock for a year: end every connection on the database first, as FORCE does.
        let sessions = conn
            .query_all(Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT id FROM information_schema.processlist WHERE db = '{name}'"),
            ))
            .await?;
        for s in sessions {
            // MariaDB's processlist id is a signed BIGINT (MySQL's unsigned).
            let id = s
                .try_get::<i64>("", "id")
                .map(|i| i.to_string())
                .or_else(|_| s.try_get::<u64>("", "id").map(|i| i.to_string()))?;
            // One that ended meanwhile is no error.
            let _ = conn
                .execute(Statement::from_string(
                    conn.get_database_backend(),
                    format!("KILL {id}"),
                ))
                .await;
        }
        format!("DROP DATABASE {name}")
    };
    conn.execute(Statement::from_string(conn.get_database_backend(), sql))
        .await?;
    conn.close().await
}

impl TestDatabase {
    /// The server URL the database is dropped through (empty on SQLite).
    pub fn drop_url(&self) -> String {
        self.drop_by
            .as_ref()
            .map(|(a, _)| a.clone())
            .unwrap_or_default()
    }

    /// The database's name on its server (empty on SQLite).
    pub fn name(&self) -> String {
        self.drop_by
            .as_ref()
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin, name)) = self.drop_by.take() else {
            return;
        };
        let backend = self.backend;
        // Drop may run on the test's own runtime, which cannot block on itself (or while a panic unwinds): a thread
        // with a runtime of its own does the asynchronous drop, and a failure is reported, never a second panic.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(drop_database(backend, &admin, &name))
                .map_err(|e| format!("{name}: {e}"))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: {backend} test database left behind: {e}"),
            Err(_) => eprintln!("warning: {backend} test database left behind"),
        }
    }
}

/// A new test database's name: `LINTEL_TEST_DB_PREFIX` (default `lintel_t_`; letters, digits and `_`, at most 30,
/// since it goes into `CREATE DATABASE`) and a fresh uuid.
pub fn test_db_name(prefix: Option<&str>) -> Result<String, String> {
    let prefix = prefix.filter(|p| !p.is_empty()).unwrap_or("lintel_t_");
    let usable = prefix.len() <= 30
        && prefix.starts_with(|c: char| c.is_ascii_alphabetic())
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !usable {
        return Err(format!(
            "LINTEL_TEST_DB_PREFIX={prefix:?}: a letter, then letters, digits and '_', at most 30 characters"
        ));
    }
    Ok(format!("{prefix}{}", uuid::Uuid::new_v4().simple()))
}

/// Run `test` on every configured backend in turn, naming the backend if it fails.
pub async fn each_backend<F, Fut>(test: F)
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in backends() {
        eprintln!("-- on {backend}");
        test(backend).await;
    }
}

impl TestServer {
    /// Start a server on `backend` with extra config lines.
    pub async fn start_with(backend: &'static str, extra_conf: &str) -> TestServer {
        Self::start_routed(backend, extra_conf, str::to_string).await
    }

    /// Start a server on `backend` whose database URL is `route(url)` (a test proxy in between, say).
    pub async fn start_routed(
        backend: &'static str,
        extra_conf: &str,
        route: impl FnOnce(&str) -> String,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let database = TestDatabase::create(backend, dir.path()).await;
        Self::launch(dir, database, extra_conf, route).await
    }

    /// Another node on this server's database and token keys (its own data directory and certificate).
    pub async fn another_node(&self, extra_conf: &str) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let database = TestDatabase {
            url: self.database.url.clone(),
            backend: self.database.backend,
            drop_by: None, // the first node's guard drops it
        };
        let extra = format!(
            "[fernet_tokens]\nkey_repository = {}/fernet-keys\n{extra_conf}",
            self.data_dir()
        );
        Self::launch(dir, database, &extra, str::to_string).await
    }

    async fn launch(
        dir: tempfile::TempDir,
        database: TestDatabase,
        extra_conf: &str,
        route: impl FnOnce(&str) -> String,
    ) -> TestServer {
        lintel::server::install_crypto();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let url = &route(&database.url);
        let conf = format!(
            "[DEFAULT]\npublic_endpoint = https://127.0.0.1:{port}\ndata_dir = {dir}\n[database]\nconnection = {url}\n\
             [server]\nbind = 127.0.0.1:{port}\n{extra_conf}\n",
            dir = dir.path().display()
        );
        let conf_path = dir.path().join("lintel.conf");
        std::fs::File::create(&conf_path)
            .unwrap()
            .write_all(conf.as_bytes())
            .unwrap();
        let config = Config::from_file(&conf_path).expect("config");
        let db = Db::connect(&config.database, &config.default.data_dir)
            .await
            .expect("connect");
        db.migrate(&config.database.url).await.expect("migrate");
        bootstrap::run(
            &db,
            &lintel::audit::Audit::off(),
            &Bootstrap::defaults(
                lintel::crypto::hashing::hash_blocking(ADMIN_PASSWORD).unwrap(),
                &config.v3_url(),
                &["public"],
            ),
        )
        .await
        .expect("bootstrap");
        db.close().await;
        let db = sea_orm::Database::connect(database.url.as_str())
            .await
            .expect("connect");
        let (cert, _) = lintel::server::tls_files(&config).expect("tls");
        let state = lintel::server::build_state(config).await.expect("state");
        let clock = state.clock.clone();
        let server_db = state.db.clone();
        let task = tokio::spawn(async move {
            let _ = lintel::server::serve_on(state, listener).await;
        });
        let ca = reqwest::Certificate::from_pem(&std::fs::read(cert).unwrap()).unwrap();
        let client = reqwest::Client::builder()
            .add_root_certificate(ca)
            .build()
            .unwrap();
        let scheme = if extra_conf.contains("insecure_http = true") {
            "http"
        } else {
            "https"
        };
        let base = format!("{scheme}://127.0.0.1:{port}");
        for _ in 0..100 {
            if client.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        TestServer {
            base,
            client,
            db,
            clock,
            server_db,
            task,
            database,
            dir,
        }
    }

    /// Start a server with default settings.
    pub async fn start(backend: &'static str) -> TestServer {
        Self::start_with(backend, "").await
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// Stop the server and drop its database (dropping the server does the same, less gracefully).
    pub async fn stop(self) {
        self.db.clone().close().await.ok();
    }

    /// Make the database unreachable for the server: its pool is closed, so every query fails as a lost
    /// connection would, and nothing it has cached is forgotten.
    pub async fn cut_database(&self) {
        self.server_db.clone().close().await;
    }

    /// Send a request with an optional token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.header("X-Auth-Token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = resp.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, value)
    }

    /// A password token for a user by name in the Default domain, optionally project-scoped by name.
    pub async fn password_token(
        &self,
        user: &str,
        password: &str,
        project: Option<&str>,
    ) -> (StatusCode, String, Value) {
        let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}}}});
        if let Some(p) = project {
            auth["scope"] = json!({"project": {"name": p, "domain": {"id": "default"}}});
        }
        let (status, headers, body) = self
            .call(
                Method::POST,
                "/v3/auth/tokens",
                None,
                Some(json!({"auth": auth})),
            )
            .await;
        let token = headers
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, token, body)
    }

    /// The admin's project-scoped token.
    pub async fn admin_token(&self) -> String {
        let (status, token, body) = self
            .password_token("admin", ADMIN_PASSWORD, Some("admin"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        token
    }

    /// Create an application credential of `admin` with `token`: the status and the credential (or the error).
    pub async fn create_admin_credential(&self, token: &str, body: Value) -> (StatusCode, Value) {
        let (_, _, me) = self
            .call(Method::GET, "/v3/users?name=admin", Some(token), None)
            .await;
        let uid = me["users"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (status, _, body) = self
            .call(
                Method::POST,
                &format!("/v3/users/{uid}/application_credentials"),
                Some(token),
                Some(json!({"application_credential": body})),
            )
            .await;
        match body.get("application_credential") {
            Some(c) => (status, c.clone()),
            None => (status, body),
        }
    }

    /// Validate `subject` with `auth`, returning status and body.
    pub async fn validate(&self, auth: &str, subject: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .get(format!("{}/v3/auth/tokens", self.base))
            .header("X-Auth-Token", auth)
            .header("X-Subject-Token", subject)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// Names of the roles a token body carries, sorted.
pub fn role_names(body: &Value) -> Vec<String> {
    let mut names: Vec<String> = body["token"]["roles"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["name"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
