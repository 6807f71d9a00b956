//! Typed configuration loaded once from a keystone.conf-style INI file.
//!
//! Option names follow Keystone wherever Keystone has the option, so an operator can start from their
//! keystone.conf: sections Lintel does not know, and Keystone options it ignores, are warnings; an unknown
//! option inside a section Lintel owns, or a bad value, is an error naming file, section and option.

mod load;
mod options;
#[cfg(test)]
mod props;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ini::Ini;

pub use options::{sample, OptionSpec, OPTIONS};

use crate::oauth2::AuthMethod as ClientAuthMethod;

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
    /// The loader asked for an option that is not in the option table (a bug in Lintel, not in the file).
    #[error("[{section}] {option} is read by Lintel but missing from its option table")]
    Undeclared { section: String, option: String },
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

/// An identity authentication method (`[auth] methods`, `identity.methods` of a token request).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::Display,
)]
#[strum(serialize_all = "snake_case")]
pub enum IdentityMethod {
    /// A user's password.
    Password,
    /// An existing token (rescoping).
    Token,
    /// An application credential's id (or name) and secret.
    ApplicationCredential,
}

/// How log lines are written (`[DEFAULT] log_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where audit events go (`[audit] destination`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum AuditDestination {
    /// Nowhere.
    Off,
    /// The service log, target `lintel::audit`.
    Log,
    /// A file of their own, one JSON event per line.
    File,
}

/// `[audit]`.
#[derive(Debug, Clone)]
pub struct AuditSection {
    /// Where events go.
    pub destination: AuditDestination,
    /// The file, with `destination = file`.
    pub file: PathBuf,
}

/// What the token endpoint issues (`[oauth2] access_token_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum AccessTokenFormat {
    /// Fernet tokens, validated by this service.
    Opaque,
    /// RFC 9068 JWTs, verifiable offline.
    Jwt,
}

/// `[DEFAULT]`.
#[derive(Debug, Clone)]
pub struct DefaultSection {
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
    /// How log lines are written.
    pub log_format: LogFormat,
}

/// `[database]` (the store's own type: it connects with it).
pub use lintel_store::DatabaseSection;

/// `[token]` and `[fernet_tokens]`.
#[derive(Debug, Clone)]
pub struct TokenSection {
    /// Token lifetime.
    pub expiration: Duration,
    /// Grace window for `allow_expired`.
    pub allow_expired_window: Duration,
    /// Where the token keys live.
    pub key_store: KeyStore,
    /// Fernet key repository.
    pub key_repository: PathBuf,
    /// Keys kept by rotation.
    pub max_active_keys: usize,
}

/// `[auth]` and `[security_compliance]`.
#[derive(Debug, Clone)]
pub struct AuthSection {
    /// Enabled authentication methods (supported ones only).
    pub methods: Vec<IdentityMethod>,
    /// Failed attempts before lockout (0: never).
    pub lockout_failure_attempts: u32,
    /// Lockout duration.
    pub lockout_duration: Duration,
    /// The other password rules of `[security_compliance]`.
    pub passwords: PasswordRules,
    /// Most application credentials per user (negative: unlimited; `[application_credential] user_limit`).
    pub app_cred_user_limit: i64,
    /// How long a credential's previous secret keeps working after a rotation (`[application_credential]
    /// rotation_grace`, at most 7 days).
    pub app_cred_rotation_grace: Duration,
    /// How often the last uses noted in memory are written (`[application_credential] usage_flush_interval`); one
    /// credential's at most once a minute whatever this is.
    pub app_cred_usage_flush: Duration,
    /// How long a service account's credential marked "rotation required" keeps its secret (`[application_credential]
    /// rotation_deadline`; zero: until rotated).
    pub app_cred_rotation_deadline: Duration,
}

/// Keystone's password rules from `[security_compliance]`; every one is off by default.
#[derive(Debug, Clone, Default)]
pub struct PasswordRules {
    /// `password_regex`, compiled to match from the start of the password (Python's `re.match`).
    pub regex: Option<fancy_regex::Regex>,
    /// `password_regex_description`.
    pub regex_description: Option<String>,
    /// `unique_last_password_count` (0: off).
    pub unique_last_password_count: u32,
    /// `minimum_password_age`, in days (0: off).
    pub minimum_password_age_days: u32,
    /// `password_expires_days`.
    pub password_expires_days: Option<u32>,
    /// `change_password_upon_first_use`.
    pub change_password_upon_first_use: bool,
    /// `disable_user_account_days_inactive`.
    pub disable_user_account_days_inactive: Option<u32>,
}

/// `[oauth2]`.
#[derive(Debug, Clone)]
pub struct OAuth2Section {
    /// Client authentication methods enabled.
    pub authn_methods: Vec<ClientAuthMethod>,
    /// Throttling of failed authentications.
    pub throttle: ThrottleLimits,
    /// What the token endpoint issues.
    pub access_token_format: AccessTokenFormat,
    /// The `aud` of JWT access tokens, when not the issuer.
    pub jwt_audience: Option<String>,
    /// The signature algorithm of JWT access tokens.
    pub jwt_algorithm: jsonwebtoken::Algorithm,
    /// Tokens one application credential may be issued per minute (0: no limit).
    pub credential_issue_rate: u32,
    /// Tokens the application credentials of one project may be issued per minute together (0: no limit).
    pub project_issue_rate: u32,
}

/// `[federation]`: how identity providers' tokens are fetched and checked.
#[derive(Debug, Clone)]
pub struct FederationSection {
    /// CA certificates (PEM, read at load) trusted for providers' discovery and JWKS (None: the web PKI roots).
    pub ca_pem: Option<Vec<u8>>,
    /// How long fetched keys are used before they are fetched again.
    pub jwks_max_age: Duration,
    /// Least time between two fetches of one provider's keys for an unknown `kid`.
    pub jwks_refresh_interval: Duration,
    /// Clock difference allowed on `exp`, `nbf`, `iat`, in seconds.
    pub clock_skew: u64,
    /// The longest a provider's token may be valid for, in seconds.
    pub max_token_lifetime: u64,
    /// Whether the listener asks for client certificates, for SPIFFE X.509-SVID sign-ins.
    pub x509_svids: bool,
}

/// `[server]`, `[oslo_middleware]`, `[tls]` and `[metrics]`: how requests reach Lintel.
#[derive(Debug, Clone)]
pub struct ServerSection {
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
    /// How long a connection may go without reading or writing anything.
    pub idle_timeout: Duration,
    /// Connection cap per source address (None: no per-source cap).
    pub max_connections_per_source: Option<usize>,
    /// Header size limit.
    pub max_header_size: usize,
    /// Largest request body.
    pub max_request_body_size: usize,
    /// Believe `X-Forwarded-For`/`-Proto` from a trusted proxy.
    pub trust_proxy_headers: bool,
    /// The proxies whose forwarding headers are believed (addresses and networks).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// argon2 permits (resolved, at least 1).
    pub hash_workers: usize,
    /// Certificate and key files, when configured.
    pub tls_files: Option<(PathBuf, PathBuf)>,
    /// CAs trusted for client certificates (mutual TLS), when configured.
    pub client_ca_file: Option<PathBuf>,
    /// Stateless TLS session tickets under keys derived from the token keys (any node resumes a session).
    pub session_tickets: bool,
    /// Prometheus listener, when configured.
    pub metrics_bind: Option<SocketAddr>,
}

/// The whole configuration, typed, one struct per concern; loaded once from the option table.
#[derive(Debug, Clone)]
pub struct Config {
    /// File the configuration came from, or `(defaults)`.
    pub source: String,
    /// `[DEFAULT]`.
    pub default: DefaultSection,
    /// `[database]`.
    pub database: DatabaseSection,
    /// `[token]`, `[fernet_tokens]`.
    pub token: TokenSection,
    /// `[auth]`, `[security_compliance]`, `[application_credential]`.
    pub auth: AuthSection,
    /// `[oauth2]`.
    pub oauth2: OAuth2Section,
    /// `[federation]`.
    pub federation: FederationSection,
    /// `[server]`, `[oslo_middleware]`, `[tls]`, `[metrics]`.
    pub server: ServerSection,
    /// `[audit]`.
    pub audit: AuditSection,
    /// `[keystone_import]`: Keystone's key repository and methods, for its tokens in flight.
    pub keystone_keys: Option<(PathBuf, Vec<String>)>,
    /// Warnings found while loading (unknown sections, ignored options), to log once logging is up.
    pub warnings: Vec<String>,
}

impl Config {
    /// Built-in defaults, as when no file is given.
    pub fn defaults() -> Result<Config, ConfigError> {
        // A test (defaults_match_keystone) keeps this Ok; an error here would name the bad default.
        load::from_ini(&Ini::new(), DEFAULTS)
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
        load::from_text(&text, &shown)
    }

    /// Whether this configuration came from a file.
    pub fn from_a_file(&self) -> bool {
        self.source != DEFAULTS
    }

    /// Listen elsewhere (the `serve --bind` flag); a derived public endpoint follows.
    pub fn rebind(&mut self, bind: SocketAddr) {
        self.server.bind = bind;
        if self.default.public_endpoint_derived {
            let scheme = if self.server.insecure_http {
                "http"
            } else {
                "https"
            };
            (
                self.default.public_endpoint,
                self.default.public_endpoint_guessed,
            ) = derived_endpoint(scheme, bind);
        }
    }

    /// The base URL clients use to reach this service.
    pub fn public_endpoint(&self) -> &str {
        &self.default.public_endpoint
    }

    /// The `aud` of JWT access tokens: `[oauth2] jwt_audience`, else the issuer.
    pub fn jwt_audience(&self) -> &str {
        self.oauth2
            .jwt_audience
            .as_deref()
            .unwrap_or(&self.default.public_endpoint)
    }

    /// Whether the token endpoint issues JWT access tokens (RFC 9068) instead of Fernet tokens.
    pub fn jwt_access_tokens(&self) -> bool {
        self.oauth2.access_token_format == AccessTokenFormat::Jwt
    }

    /// Whether an OAuth 2.0 client authentication method is enabled.
    pub fn oauth2_method(&self, method: ClientAuthMethod) -> bool {
        self.oauth2.authn_methods.contains(&method)
    }

    /// Whether the TLS listener asks clients for certificates (mutual TLS).
    pub fn requests_client_certs(&self) -> bool {
        !self.server.insecure_http
            && (self.server.client_ca_file.is_some()
                || self.oauth2_method(ClientAuthMethod::SelfSignedTlsClientAuth)
                || self.federation.x509_svids)
    }

    /// The token endpoint's URL: the `aud` a client assertion must name.
    pub fn token_endpoint(&self) -> String {
        format!("{}/OS-OAUTH2/token", self.v3_url())
    }

    /// Whether an authentication method is enabled.
    pub fn method_enabled(&self, method: IdentityMethod) -> bool {
        self.auth.methods.contains(&method)
    }

    /// The path part of `public_endpoint` (e.g. `/identity` behind devstack's Apache), if any.
    pub fn path_prefix(&self) -> Option<String> {
        let url = url::Url::parse(&self.default.public_endpoint).ok()?;
        let path = url.path().trim_end_matches('/');
        (!path.is_empty()).then(|| path.to_string())
    }

    /// The `/v3` base URL.
    pub fn v3_url(&self) -> String {
        format!("{}/v3", self.default.public_endpoint)
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

/// The authentication throttle's limits, from `[oauth2]`.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    /// Consecutive failures of one client before back-off starts.
    pub failures_before_backoff: u32,
    /// Longest back-off.
    pub max_backoff: Duration,
    /// Failures one source address may cause per minute.
    pub source_failures_per_minute: u32,
}

/// Write a file readable by its owner only.
pub fn write_private(path: &std::path::Path, data: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(data)?;
    Ok(())
}
