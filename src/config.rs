//! Typed configuration loaded once from a keystone.conf-style INI file.
//!
//! Option names follow Keystone wherever Keystone has the option, so an operator can start from their
//! keystone.conf: sections Lintel does not know, and Keystone options it ignores, are warnings; an unknown
//! option inside a section Lintel owns, or a bad value, is an error naming file, section and option.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ini::Ini;

/// What went wrong while loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named explicitly does not exist or cannot be read.
    #[error("cannot read configuration file {path}: {reason}")]
    Read { path: String, reason: String },
    /// The file is not valid INI.
    #[error("{path}: not a valid INI file: {reason}")]
    Parse { path: String, reason: String },
    /// An option Lintel does not know, inside a section Lintel owns.
    #[error("{path}: [{section}] {option}: unknown option")]
    UnknownOption {
        path: String,
        section: String,
        option: String,
    },
    /// An option whose value cannot be used.
    #[error("{path}: [{section}] {option}: {reason}")]
    BadValue {
        path: String,
        section: String,
        option: String,
        reason: String,
    },
}

/// Where the configuration came from, for messages.
const DEFAULTS: &str = "(defaults)";

/// Authentication methods Lintel implements.
pub const SUPPORTED_AUTH_METHODS: &[&str] = &["password", "token", "application_credential"];

/// Keystone authentication methods Lintel accepts in a config file but does not implement yet.
const KNOWN_UNSUPPORTED_AUTH_METHODS: &[&str] = &[
    "external",
    "oauth1",
    "mapped",
    "totp",
    "tls_client_auth",
    "openid",
    "saml2",
    "kerberos",
    "x509",
];

/// One option: its section, name, default as written in the sample file, and a one-line help.
pub struct OptionSpec {
    /// INI section.
    pub section: &'static str,
    /// Option name.
    pub name: &'static str,
    /// Default value as it would be written in the file (empty: unset).
    pub default: &'static str,
    /// What the option does.
    pub help: &'static str,
}

/// Every option Lintel reads: the single source of truth for parsing and for `etc/lintel.conf.sample`.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec { section: "DEFAULT", name: "public_endpoint", default: "", help: "Base URL clients use to reach this service, e.g. https://id.example.com:5000 (default: https://<server.bind>, or https://<this host's name>:<port> when bind is a wildcard address)." },
    OptionSpec { section: "DEFAULT", name: "data_dir", default: "./data", help: "Directory for the SQLite database, generated TLS certificate, key repository and admin-openrc.sh." },
    OptionSpec { section: "DEFAULT", name: "debug", default: "false", help: "Log at debug level." },
    OptionSpec { section: "DEFAULT", name: "log_format", default: "text", help: "Log line format: text or json." },
    OptionSpec { section: "database", name: "connection", default: "", help: "sea-orm/sqlx database URL: sqlite://PATH?mode=rwc, postgres://USER@HOST/DB or mysql://USER@HOST/DB (default: SQLite in data_dir). Keystone's SQLAlchemy forms (mysql+pymysql://, postgresql://, sqlite:///) are accepted. A SQLite file's directory must exist; the file is created mode 0600." },
    OptionSpec { section: "database", name: "max_pool_size", default: "10", help: "Maximum open database connections per node." },
    OptionSpec { section: "token", name: "expiration", default: "3600", help: "Token lifetime in seconds." },
    OptionSpec { section: "token", name: "allow_expired_window", default: "172800", help: "Seconds after expiry during which ?allow_expired=1 still validates a token." },
    OptionSpec { section: "token", name: "provider", default: "fernet", help: "Token format; only fernet is supported." },
    OptionSpec { section: "token", name: "key_store", default: "file", help: "Where the token keys live: file ([fernet_tokens] key_repository, one node) or database (shared by every node, encrypted under key_encryption_key)." },
    OptionSpec { section: "token", name: "key_encryption_key", default: "", help: "With key_store = database: the key that encrypts the stored keys, a Fernet key (44 characters of URL-safe base64; 'lintel keys new-kek' prints one). The same on every node." },
    OptionSpec { section: "fernet_tokens", name: "key_repository", default: "", help: "Directory of Fernet keys (default: <data_dir>/fernet-keys)." },
    OptionSpec { section: "fernet_tokens", name: "max_active_keys", default: "3", help: "Keys kept by 'lintel keys rotate' (staged + primary + secondaries); at least 1." },
    OptionSpec { section: "auth", name: "methods", default: "password,token,application_credential", help: "Enabled authentication methods. Keystone-only values (external, oauth1, mapped, ...) are ignored with a warning." },
    OptionSpec { section: "security_compliance", name: "lockout_failure_attempts", default: "0", help: "Failed password attempts before a user is locked out (0: never)." },
    OptionSpec { section: "security_compliance", name: "lockout_duration", default: "1800", help: "Seconds a locked-out user stays locked." },
    OptionSpec { section: "application_credential", name: "user_limit", default: "-1", help: "Most application credentials one user may own (-1: unlimited)." },
    OptionSpec { section: "oauth2", name: "oauth2_authn_methods", default: "client_secret_basic,client_secret_post", help: "Client authentication methods of the OAuth 2.0 endpoints: client_secret_basic, client_secret_post, tls_client_auth (a certificate from [tls] client_ca_file whose subject matches the credential's), self_signed_tls_client_auth (a certificate whose SHA-256 thumbprint the credential names), private_key_jwt (an assertion signed with a key of the credential's JWKS)." },
    OptionSpec { section: "oauth2", name: "access_token_format", default: "opaque", help: "Access tokens of the token endpoint: opaque (a Lintel Fernet token) or jwt (RFC 9068, ES256, verifiable offline with the keys at /v3/OS-OAUTH2/jwks). Both validate everywhere a Lintel token does." },
    OptionSpec { section: "oauth2", name: "jwt_signing_algorithm", default: "ES256", help: "The signature of JWT access tokens: ES256 (P-256) or EdDSA (Ed25519). Both key pairs derive from the token keys and the JWKS publishes both, the configured one first." },
    OptionSpec { section: "oauth2", name: "jwt_audience", default: "", help: "The aud claim of JWT access tokens (default: the issuer, public_endpoint)." },
    OptionSpec { section: "oauth2", name: "client_failure_threshold", default: "5", help: "Consecutive failed authentications of one client (application credential or user) before back-off starts." },
    OptionSpec { section: "oauth2", name: "client_max_backoff", default: "300", help: "Longest back-off, in seconds; it doubles from 1 s after the threshold." },
    OptionSpec { section: "oauth2", name: "source_failures_per_minute", default: "60", help: "Failed authentications one source address may cause per minute before it is slowed down." },
    OptionSpec { section: "oslo_middleware", name: "enable_proxy_headers_parsing", default: "false", help: "Trust X-Forwarded-Proto from the proxy in front (with [server] insecure_http), so the OAuth2 endpoint knows the client used HTTPS." },
    OptionSpec { section: "oslo_middleware", name: "max_request_body_size", default: "114688", help: "Largest request body accepted, in bytes (larger: 413)." },
    OptionSpec { section: "server", name: "bind", default: "127.0.0.1:5000", help: "Address and port to listen on." },
    OptionSpec { section: "server", name: "insecure_http", default: "false", help: "Serve plain HTTP instead of HTTPS (only behind a TLS-terminating proxy)." },
    OptionSpec { section: "server", name: "max_connections", default: "4096", help: "Most client connections served at once." },
    OptionSpec { section: "server", name: "handshake_timeout", default: "10", help: "Seconds a client has to finish the TLS handshake." },
    OptionSpec { section: "server", name: "header_read_timeout", default: "10", help: "Seconds a client has to send the request headers." },
    OptionSpec { section: "server", name: "max_header_size", default: "16384", help: "Largest total request header size, in bytes." },
    OptionSpec { section: "server", name: "hash_workers", default: "0", help: "Concurrent argon2 hash computations (0: one per core less one, at least one)." },
    OptionSpec { section: "metrics", name: "bind", default: "", help: "Address of the Prometheus listener serving GET /metrics over plain HTTP, e.g. 127.0.0.1:9464 (empty: no metrics listener)." },
    OptionSpec { section: "tls", name: "cert_file", default: "", help: "PEM certificate chain (default: a self-signed certificate generated in <data_dir>/tls)." },
    OptionSpec { section: "tls", name: "key_file", default: "", help: "PEM private key matching cert_file." },
    OptionSpec { section: "tls", name: "client_ca_file", default: "", help: "PEM bundle of the CAs whose client certificates the listener accepts (mutual TLS, RFC 8705). Client certificates are optional; they are requested when this is set or self_signed_tls_client_auth is enabled." },
];

/// Keystone options that Lintel accepts in the sections it owns but does not act on (a warning, not an error).
const IGNORED_KEYSTONE_OPTIONS: &[(&str, &[&str])] = &[
    (
        "DEFAULT",
        &[
            "log_dir",
            "log_file",
            "use_syslog",
            "use_stderr",
            "verbose",
            "transport_url",
            "max_param_size",
            "max_token_size",
            "max_project_tree_depth",
            "list_limit",
            "strict_password_check",
            "insecure_debug",
            "notification_format",
            "notification_opt_out",
            "admin_token",
            "member_role_id",
            "member_role_name",
            "logging_context_format_string",
            "default_log_levels",
            "use_json",
            "host",
            "executor_thread_pool_size",
        ],
    ),
    (
        "database",
        &[
            "connection_recycle_time",
            "max_overflow",
            "pool_timeout",
            "max_retries",
            "retry_interval",
            "db_max_retries",
            "db_retry_interval",
            "sqlite_synchronous",
            "backend",
            "slave_connection",
            "connection_debug",
            "connection_trace",
            "mysql_sql_mode",
            "mysql_enable_ndb",
            "min_pool_size",
            "idle_timeout",
            "db_inc_retry_interval",
            "db_max_retry_interval",
            "use_db_reconnect",
        ],
    ),
    (
        "token",
        &[
            "caching",
            "cache_time",
            "revoke_by_id",
            "infer_roles",
            "cache_on_issue",
            "allow_rescope_scoped_token",
        ],
    ),
    ("fernet_tokens", &[]),
    (
        "auth",
        &[
            "password",
            "token",
            "external",
            "application_credential",
            "oauth1",
            "mapped",
            "totp",
        ],
    ),
    (
        "security_compliance",
        &[
            "disable_user_account_days_inactive",
            "password_expires_days",
            "unique_last_password_count",
            "minimum_password_age",
            "password_regex",
            "password_regex_description",
            "change_password_upon_first_use",
            "lockout_ignored_user_ids",
            "report_invalid_password_hash",
            "invalid_password_hash_secret_key",
            "invalid_password_hash_function",
            "invalid_password_hash_max_chars",
        ],
    ),
    ("oslo_middleware", &["http_basic_auth_user_file"]),
    (
        "application_credential",
        &["driver", "caching", "cache_time"],
    ),
    ("oauth2", &[]),
    ("server", &[]),
    ("metrics", &[]),
    ("tls", &[]),
];

/// Where the token keys live.
#[derive(Clone)]
pub enum KeyStore {
    /// The Fernet key repository directory (a single node, or keys distributed by the operator).
    File,
    /// The `token_key` table, each key encrypted under this key-encryption key.
    Database {
        /// The key-encryption key (a Fernet key).
        kek: zeroize::Zeroizing<String>,
    },
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key-encryption key.
        f.write_str(match self {
            KeyStore::File => "File",
            KeyStore::Database { .. } => "Database",
        })
    }
}

/// The whole configuration, typed.
#[derive(Debug, Clone)]
pub struct Config {
    /// File the configuration came from, or `(defaults)`.
    pub source: String,
    /// Base URL clients use to reach this service, without a trailing slash.
    pub public_endpoint: String,
    /// Whether `public_endpoint` was derived from `bind` rather than configured.
    pub public_endpoint_derived: bool,
    /// Whether the derived endpoint names this machine's host name because `bind` is a wildcard address.
    pub public_endpoint_guessed: bool,
    /// Directory for generated state.
    pub data_dir: PathBuf,
    /// Whether to log at debug level.
    pub debug: bool,
    /// Log as JSON lines instead of text.
    pub log_json: bool,
    /// Database URL as sea-orm takes it.
    pub database_url: String,
    /// Whether the database URL was the built-in default (SQLite in data_dir).
    pub database_is_default: bool,
    /// Maximum pool size.
    pub db_max_pool_size: u32,
    /// Token lifetime.
    pub token_expiration: Duration,
    /// Grace window for `allow_expired`.
    pub allow_expired_window: Duration,
    /// Fernet key repository.
    pub key_repository: PathBuf,
    /// Keys kept by rotation.
    pub max_active_keys: usize,
    /// Enabled authentication methods (supported ones only).
    pub auth_methods: Vec<String>,
    /// Failed attempts before lockout (0: never).
    pub lockout_failure_attempts: u32,
    /// Lockout duration.
    pub lockout_duration: Duration,
    /// Largest request body.
    pub max_request_body_size: usize,
    /// Most application credentials per user (negative: unlimited).
    pub app_cred_user_limit: i64,
    /// OAuth2 client authentication methods enabled (RFC 7591 names).
    pub oauth2_authn_methods: Vec<String>,
    /// Trust `X-Forwarded-Proto` from the proxy.
    pub trust_proxy_headers: bool,
    /// Throttling of failed authentications.
    pub throttle: crate::throttle::Limits,
    /// Listen address.
    pub bind: SocketAddr,
    /// Serve plain HTTP.
    pub insecure_http: bool,
    /// Connection cap.
    pub max_connections: usize,
    /// TLS handshake timeout.
    pub handshake_timeout: Duration,
    /// Header read timeout.
    pub header_read_timeout: Duration,
    /// Header size limit.
    pub max_header_size: usize,
    /// argon2 permits (resolved, at least 1).
    pub hash_workers: usize,
    /// Certificate and key files, when configured.
    pub tls_files: Option<(PathBuf, PathBuf)>,
    /// CAs trusted for client certificates (mutual TLS), when configured.
    pub client_ca_file: Option<PathBuf>,
    /// Where the token keys live.
    pub key_store: KeyStore,
    /// Whether the token endpoint issues JWT access tokens (RFC 9068) instead of Fernet tokens.
    pub jwt_access_tokens: bool,
    /// The `aud` of JWT access tokens, when not the issuer.
    pub jwt_audience: Option<String>,
    /// The signature algorithm of JWT access tokens.
    pub jwt_algorithm: jsonwebtoken::Algorithm,
    /// Prometheus listener, when configured.
    pub metrics_bind: Option<SocketAddr>,
    /// Warnings found while loading (unknown sections, ignored options), to log once logging is up.
    pub warnings: Vec<String>,
}

impl Config {
    /// Built-in defaults, as when no file is given.
    pub fn defaults() -> Result<Config, ConfigError> {
        // A test (defaults_match_keystone) keeps this Ok; an error here would name the bad default.
        Self::from_ini(&Ini::new(), DEFAULTS)
    }

    /// Load from `explicit` (the --config flag), else `LINTEL_CONFIG`, else defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let from_env = std::env::var_os("LINTEL_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        match explicit.map(Path::to_path_buf).or(from_env) {
            Some(path) => Self::from_file(&path),
            None => Self::defaults(),
        }
    }

    /// Load from one file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let ini = Ini::load_from_str(&text).map_err(|e| ConfigError::Parse {
            path: shown.clone(),
            reason: describe_ini_error(&e),
        })?;
        Self::from_ini(&ini, &shown)
    }

    /// Whether this configuration came from a file.
    pub fn from_a_file(&self) -> bool {
        self.source != DEFAULTS
    }

    fn from_ini(ini: &Ini, path: &str) -> Result<Config, ConfigError> {
        let mut warnings = Vec::new();
        check_known(ini, path, &mut warnings)?;
        let r = Reader { ini, path };

        let data_dir = PathBuf::from(r.string("DEFAULT", "data_dir"));
        let bind: SocketAddr =
            r.parse("server", "bind", "expected HOST:PORT, e.g. 127.0.0.1:5000")?;
        let insecure_http = r.boolean("server", "insecure_http")?;
        let scheme = if insecure_http { "http" } else { "https" };
        let public_endpoint = match r.string("DEFAULT", "public_endpoint") {
            s if s.is_empty() => derived_endpoint(scheme, bind).0,
            s => {
                let url = url::Url::parse(&s)
                    .map_err(|e| r.bad("DEFAULT", "public_endpoint", &format!("not a URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(r.bad(
                        "DEFAULT",
                        "public_endpoint",
                        "must be an http or https URL",
                    ));
                }
                s.trim_end_matches('/').to_string()
            }
        };
        let (database_url, database_is_default) = match r.string("database", "connection") {
            s if s.is_empty() => (
                format!("sqlite://{}?mode=rwc", data_dir.join("lintel.db").display()),
                true,
            ),
            s => (
                normalise_db_url(&s).map_err(|reason| r.bad("database", "connection", &reason))?,
                false,
            ),
        };
        let key_repository = match r.string("fernet_tokens", "key_repository") {
            s if s.is_empty() => data_dir.join("fernet-keys"),
            s => PathBuf::from(s),
        };
        let max_active_keys: usize = r.parse(
            "fernet_tokens",
            "max_active_keys",
            "expected a whole number",
        )?;
        if max_active_keys < 1 {
            return Err(r.bad("fernet_tokens", "max_active_keys", "must be at least 1"));
        }
        let provider = r.string("token", "provider");
        if provider != "fernet" {
            return Err(r.bad("token", "provider", "only 'fernet' is supported"));
        }
        let mut auth_methods = Vec::new();
        for m in r
            .string("auth", "methods")
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            if SUPPORTED_AUTH_METHODS.contains(&m) {
                auth_methods.push(m.to_string());
            } else if KNOWN_UNSUPPORTED_AUTH_METHODS.contains(&m) {
                warnings.push(format!(
                    "{path}: [auth] methods: '{m}' is not supported by Lintel yet and is ignored"
                ));
            } else {
                return Err(r.bad(
                    "auth",
                    "methods",
                    &format!("unknown authentication method '{m}'"),
                ));
            }
        }
        let mut oauth2_authn_methods = Vec::new();
        for m in r
            .string("oauth2", "oauth2_authn_methods")
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            match m {
                "client_secret_basic"
                | "client_secret_post"
                | "tls_client_auth"
                | "self_signed_tls_client_auth"
                | "private_key_jwt" => oauth2_authn_methods.push(m.to_string()),
                other => {
                    return Err(r.bad(
                        "oauth2",
                        "oauth2_authn_methods",
                        &format!("unknown method '{other}'"),
                    ))
                }
            }
        }
        let tls_files = match (r.string("tls", "cert_file"), r.string("tls", "key_file")) {
            (c, k) if c.is_empty() && k.is_empty() => None,
            (c, _) if c.is_empty() => {
                return Err(r.bad(
                    "tls",
                    "cert_file",
                    "key_file is set, so cert_file must be too",
                ))
            }
            (_, k) if k.is_empty() => {
                return Err(r.bad(
                    "tls",
                    "key_file",
                    "cert_file is set, so key_file must be too",
                ))
            }
            (c, k) => Some((PathBuf::from(c), PathBuf::from(k))),
        };
        let client_ca_file = Some(r.string("tls", "client_ca_file"))
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        if oauth2_authn_methods.iter().any(|m| m == "tls_client_auth") && client_ca_file.is_none() {
            return Err(r.bad(
                "oauth2",
                "oauth2_authn_methods",
                "tls_client_auth needs [tls] client_ca_file: the CAs whose client certificates to trust",
            ));
        }
        let cert_methods: Vec<&String> = oauth2_authn_methods
            .iter()
            .filter(|m| m.contains("tls_client_auth"))
            .collect();
        if insecure_http && !cert_methods.is_empty() {
            warnings.push(format!(
                "{path}: [oauth2] oauth2_authn_methods: {cert_methods:?} need Lintel's own TLS listener; over plain \
                 HTTP ([server] insecure_http) no client certificate reaches Lintel, so they never succeed"
            ));
        }
        let key_store = match r.string("token", "key_store").as_str() {
            "file" => KeyStore::File,
            "database" => {
                let kek = r.string("token", "key_encryption_key");
                if fernet::Fernet::new(&kek).is_none() {
                    return Err(r.bad(
                        "token",
                        "key_encryption_key",
                        "key_store = database needs a Fernet key here (44 characters of URL-safe base64; \
                         'lintel keys new-kek' prints one)",
                    ));
                }
                KeyStore::Database {
                    kek: zeroize::Zeroizing::new(kek),
                }
            }
            _ => return Err(r.bad("token", "key_store", "expected 'file' or 'database'")),
        };
        let jwt_access_tokens = match r.string("oauth2", "access_token_format").as_str() {
            "opaque" => false,
            "jwt" => true,
            _ => {
                return Err(r.bad(
                    "oauth2",
                    "access_token_format",
                    "expected 'opaque' or 'jwt'",
                ))
            }
        };
        let jwt_audience = Some(r.string("oauth2", "jwt_audience")).filter(|s| !s.is_empty());
        let jwt_algorithm = match r.string("oauth2", "jwt_signing_algorithm").as_str() {
            "ES256" => jsonwebtoken::Algorithm::ES256,
            "EdDSA" => jsonwebtoken::Algorithm::EdDSA,
            _ => {
                return Err(r.bad(
                    "oauth2",
                    "jwt_signing_algorithm",
                    "expected 'ES256' or 'EdDSA'",
                ))
            }
        };
        let metrics_bind = match r.string("metrics", "bind") {
            s if s.is_empty() => None,
            _ => Some(r.parse("metrics", "bind", "expected HOST:PORT, e.g. 127.0.0.1:9464")?),
        };
        let log_format = r.string("DEFAULT", "log_format");
        if !matches!(log_format.as_str(), "text" | "json") {
            return Err(r.bad("DEFAULT", "log_format", "expected 'text' or 'json'"));
        }
        let hash_workers: usize = r.parse("server", "hash_workers", "expected a whole number")?;
        let hash_workers = if hash_workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get().saturating_sub(1))
                .unwrap_or(1)
                .max(1)
        } else {
            hash_workers
        };
        Ok(Config {
            source: path.to_string(),
            public_endpoint_derived: r.string("DEFAULT", "public_endpoint").is_empty(),
            public_endpoint_guessed: r.string("DEFAULT", "public_endpoint").is_empty()
                && bind.ip().is_unspecified(),
            public_endpoint,
            debug: r.boolean("DEFAULT", "debug")?,
            log_json: log_format == "json",
            database_url,
            database_is_default,
            db_max_pool_size: r.positive("database", "max_pool_size")? as u32,
            token_expiration: Duration::from_secs(r.positive("token", "expiration")?),
            allow_expired_window: Duration::from_secs(r.parse(
                "token",
                "allow_expired_window",
                "expected seconds",
            )?),
            key_repository,
            max_active_keys,
            auth_methods,
            lockout_failure_attempts: r.parse(
                "security_compliance",
                "lockout_failure_attempts",
                "expected a whole number",
            )?,
            lockout_duration: Duration::from_secs(r.parse(
                "security_compliance",
                "lockout_duration",
                "expected seconds",
            )?),
            max_request_body_size: r.positive("oslo_middleware", "max_request_body_size")? as usize,
            oauth2_authn_methods,
            throttle: crate::throttle::Limits {
                failures_before_backoff: r.positive("oauth2", "client_failure_threshold")? as u32,
                max_backoff: Duration::from_secs(r.positive("oauth2", "client_max_backoff")?),
                source_failures_per_minute: r.positive("oauth2", "source_failures_per_minute")?
                    as u32,
            },
            trust_proxy_headers: r.boolean("oslo_middleware", "enable_proxy_headers_parsing")?,
            app_cred_user_limit: r.parse(
                "application_credential",
                "user_limit",
                "expected a whole number (-1: unlimited)",
            )?,
            bind,
            insecure_http,
            max_connections: r.positive("server", "max_connections")? as usize,
            handshake_timeout: Duration::from_secs(r.positive("server", "handshake_timeout")?),
            header_read_timeout: Duration::from_secs(r.positive("server", "header_read_timeout")?),
            max_header_size: r.positive("server", "max_header_size")? as usize,
            hash_workers,
            tls_files,
            client_ca_file,
            key_store,
            jwt_access_tokens,
            jwt_audience,
            jwt_algorithm,
            metrics_bind,
            data_dir,
            warnings,
        })
    }

    /// Listen elsewhere (the `serve --bind` flag); a derived public endpoint follows.
    pub fn rebind(&mut self, bind: SocketAddr) {
        self.bind = bind;
        if self.public_endpoint_derived {
            let scheme = if self.insecure_http { "http" } else { "https" };
            (self.public_endpoint, self.public_endpoint_guessed) = derived_endpoint(scheme, bind);
        }
    }

    /// The `aud` of JWT access tokens: `[oauth2] jwt_audience`, else the issuer.
    pub fn jwt_audience(&self) -> &str {
        self.jwt_audience
            .as_deref()
            .unwrap_or(&self.public_endpoint)
    }

    /// Whether an OAuth 2.0 client authentication method is enabled.
    pub fn oauth2_method(&self, method: &str) -> bool {
        self.oauth2_authn_methods.iter().any(|m| m == method)
    }

    /// Whether the TLS listener asks clients for certificates (mutual TLS).
    pub fn requests_client_certs(&self) -> bool {
        !self.insecure_http
            && (self.client_ca_file.is_some() || self.oauth2_method("self_signed_tls_client_auth"))
    }

    /// The token endpoint's URL: the `aud` a client assertion must name.
    pub fn token_endpoint(&self) -> String {
        format!("{}/OS-OAUTH2/token", self.v3_url())
    }

    /// Whether an authentication method is enabled.
    pub fn method_enabled(&self, method: &str) -> bool {
        self.auth_methods.iter().any(|m| m == method)
    }

    /// The path part of `public_endpoint` (e.g. `/identity` behind devstack's Apache), if any.
    pub fn path_prefix(&self) -> Option<String> {
        let url = url::Url::parse(&self.public_endpoint).ok()?;
        let path = url.path().trim_end_matches('/');
        (!path.is_empty()).then(|| path.to_string())
    }

    /// The `/v3` base URL.
    pub fn v3_url(&self) -> String {
        format!("{}/v3", self.public_endpoint)
    }
}

/// The endpoint clients are told when none is configured: the bound address when it is a specific one, else this
/// machine's host name (a wildcard address is no place to connect to). The flag says the name was guessed.
fn derived_endpoint(scheme: &str, bind: SocketAddr) -> (String, bool) {
    if bind.ip().is_unspecified() {
        (format!("{scheme}://{}:{}", host_name(), bind.port()), true)
    } else {
        (format!("{scheme}://{bind}"), false)
    }
}

/// This machine's host name, lower-cased; `localhost` when it has none usable in a URL.
pub fn host_name() -> String {
    let name = gethostname::gethostname()
        .to_string_lossy()
        .to_ascii_lowercase();
    let usable = !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if usable {
        name
    } else {
        "localhost".into()
    }
}

/// rust-ini's parse error in words (its messages print expected characters as Rust `Option` Debug text).
fn describe_ini_error(e: &ini::ParseError) -> String {
    let msg = if e.msg.contains("but found EOF") {
        let wanted: Vec<String> = e
            .msg
            .split("Some('")
            .skip(1)
            .filter_map(|p| p.split("')").next())
            .map(|c| format!("'{c}'"))
            .collect();
        if wanted.is_empty() {
            "unexpected end of file".to_string()
        } else {
            format!("the file ends where {} was expected", wanted.join(" or "))
        }
    } else {
        e.msg.replace("Some(", "").replace(')', "")
    };
    format!("line {}, column {}: {msg}", e.line, e.col)
}

/// Accept Keystone's SQLAlchemy URLs as well as sqlx ones.
fn normalise_db_url(s: &str) -> Result<String, String> {
    let (scheme, rest) = s
        .split_once("://")
        .ok_or_else(|| "expected a URL such as postgres://USER@HOST/DB".to_string())?;
    let driverless = scheme.split('+').next().unwrap_or(scheme);
    let scheme = match driverless {
        "sqlite" => {
            // sqlx's sqlite:///abs/path and SQLAlchemy's sqlite:////abs/path both name an absolute path.
            let path = if rest.starts_with("//") {
                &rest[1..]
            } else {
                rest
            };
            let path = if path.is_empty() {
                return Err("SQLite URL needs a file path".into());
            } else {
                path
            };
            let sep = if path.contains('?') { "&" } else { "?" };
            let mode = if path.contains("mode=") {
                String::new()
            } else {
                format!("{sep}mode=rwc")
            };
            return Ok(format!("sqlite://{path}{mode}"));
        }
        "postgres" | "postgresql" => "postgres",
        "mysql" | "mariadb" => "mysql",
        other => {
            return Err(format!(
                "unsupported database '{other}' (use sqlite, postgres or mysql)"
            ))
        }
    };
    // Keystone's URLs often carry ?charset=utf8, which sqlx's MySQL driver takes too; pass query strings through.
    Ok(format!("{scheme}://{rest}"))
}

/// Warn about unknown sections and ignored Keystone options; refuse unknown options in our sections.
fn check_known(ini: &Ini, path: &str, warnings: &mut Vec<String>) -> Result<(), ConfigError> {
    for (section, props) in ini {
        let section = section.unwrap_or("DEFAULT");
        let ignored = IGNORED_KEYSTONE_OPTIONS
            .iter()
            .find(|(s, _)| *s == section)
            .map(|(_, o)| *o);
        let Some(ignored) = ignored else {
            warnings.push(format!(
                "{path}: section [{section}] is not used by Lintel and is ignored"
            ));
            continue;
        };
        for (key, _) in props {
            if OPTIONS
                .iter()
                .any(|o| o.section == section && o.name == key)
            {
                continue;
            }
            if ignored.contains(&key) {
                warnings.push(format!(
                    "{path}: [{section}] {key} is a Keystone option Lintel does not use; ignored"
                ));
                continue;
            }
            return Err(ConfigError::UnknownOption {
                path: path.into(),
                section: section.into(),
                option: key.into(),
            });
        }
    }
    Ok(())
}

/// Typed access to option values with their defaults from [`OPTIONS`].
struct Reader<'a> {
    ini: &'a Ini,
    path: &'a str,
}

impl Reader<'_> {
    fn string(&self, section: &str, name: &str) -> String {
        let given = self.ini.section(Some(section)).and_then(|s| s.get(name));
        // Options before any section header belong to [DEFAULT], as in oslo.config.
        let given = given.or_else(|| {
            if section == "DEFAULT" {
                self.ini.general_section().get(name)
            } else {
                None
            }
        });
        match given {
            Some(v) => v.trim().to_string(),
            None => OPTIONS
                .iter()
                .find(|o| o.section == section && o.name == name)
                .map(|o| o.default.to_string())
                .unwrap_or_default(),
        }
    }

    fn bad(&self, section: &str, name: &str, reason: &str) -> ConfigError {
        ConfigError::BadValue {
            path: self.path.into(),
            section: section.into(),
            option: name.into(),
            reason: reason.into(),
        }
    }

    fn parse<T: std::str::FromStr>(
        &self,
        section: &str,
        name: &str,
        expected: &str,
    ) -> Result<T, ConfigError> {
        let v = self.string(section, name);
        v.parse()
            .map_err(|_| self.bad(section, name, &format!("'{v}': {expected}")))
    }

    fn positive(&self, section: &str, name: &str) -> Result<u64, ConfigError> {
        let n: u64 = self.parse(section, name, "expected a positive whole number")?;
        if n == 0 {
            return Err(self.bad(section, name, "must be greater than 0"));
        }
        Ok(n)
    }

    fn boolean(&self, section: &str, name: &str) -> Result<bool, ConfigError> {
        match self.string(section, name).to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            v => Err(self.bad(section, name, &format!("'{v}': expected true or false"))),
        }
    }
}

/// One commented-out option line, `#name = default` (or `#name =` when unset).
fn sample_line(o: &OptionSpec) -> String {
    if o.default.is_empty() {
        format!("#{} =", o.name)
    } else {
        format!("#{} = {}", o.name, o.default)
    }
}

/// Render `etc/lintel.conf.sample` from [`OPTIONS`].
pub fn sample() -> String {
    let mut out = String::from(
        "# Lintel configuration (keystone.conf style). Every option is shown commented out with its default.\n\
         # Generated by `lintel sample-config` from the option definitions in src/config.rs.\n",
    );
    let mut current = "";
    for o in OPTIONS {
        if o.section != current {
            out.push_str(&format!("\n[{}]\n", o.section));
            current = o.section;
        }
        out.push_str(&format!("\n# {}\n{}\n", o.help, sample_line(o)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_ini(&Ini::load_from_str(text).expect("ini"), "test.conf")
    }

    #[test]
    fn defaults_match_keystone() {
        let c = Config::defaults().unwrap();
        assert_eq!(c.token_expiration, Duration::from_secs(3600));
        assert_eq!(c.max_request_body_size, 114_688);
        assert_eq!(c.bind.to_string(), "127.0.0.1:5000");
        assert_eq!(c.public_endpoint, "https://127.0.0.1:5000");
        assert!(c.database_url.starts_with("sqlite://./data/lintel.db"));
    }

    #[test]
    fn unknown_option_in_owned_section_names_file_section_option() {
        let e = load("[token]\nexpirashun = 5\n").unwrap_err().to_string();
        assert_eq!(e, "test.conf: [token] expirashun: unknown option");
    }

    #[test]
    fn default_section_is_read_with_or_without_its_header() {
        let c =
            load("[DEFAULT]\npublic_endpoint = https://id.example.com/\ndata_dir = /srv/lintel\n")
                .unwrap();
        assert_eq!(c.public_endpoint, "https://id.example.com");
        assert_eq!(c.key_repository, PathBuf::from("/srv/lintel/fernet-keys"));
        let c = load("data_dir = /srv/x\n").unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/x"));
    }

    #[test]
    fn bad_value_is_an_error() {
        let e = load("[token]\nexpiration = soon\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("test.conf: [token] expiration: 'soon'"),
            "{e}"
        );
    }

    #[test]
    fn keystone_sections_and_methods_warn() {
        let c = load("[DEFAULT]\nlog_dir=/var/log\n[cache]\nenabled=true\n[auth]\nmethods=external,password,token\n").unwrap();
        assert_eq!(c.auth_methods, vec!["password", "token"]);
        assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
        assert!(c.warnings.iter().any(|w| w.contains("[cache]")));
        assert!(c.warnings.iter().any(|w| w.contains("'external'")));
    }

    #[test]
    fn sqlalchemy_urls_are_translated() {
        assert_eq!(
            normalise_db_url("mysql+pymysql://k:p@h/keystone?charset=utf8").unwrap(),
            "mysql://k:p@h/keystone?charset=utf8"
        );
        assert_eq!(
            normalise_db_url("postgresql://u@h/db").unwrap(),
            "postgres://u@h/db"
        );
        assert_eq!(
            normalise_db_url("sqlite:////var/lib/k.db").unwrap(),
            "sqlite:///var/lib/k.db?mode=rwc"
        );
        assert!(normalise_db_url("oracle://x").is_err());
    }

    #[test]
    fn sample_lists_every_option() {
        let s = sample();
        for o in OPTIONS {
            assert!(s.contains(&sample_line(o)));
        }
    }
}
