//! The option table: every option Lintel reads, its default and help, and the sample file made from it.

/// Keystone authentication methods Lintel accepts in a config file but does not implement yet.
pub(super) const KNOWN_UNSUPPORTED_AUTH_METHODS: &[&str] = &[
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
    OptionSpec { section: "database", name: "pool_timeout", default: "5", help: "Seconds a request waits for a database connection (opening one included) before it is answered 503 with Retry-After; Keystone waits 30. Lower it (e.g. 0.5) to report an outage sooner, at the risk of 503s while connections are slow to open under load." },
    OptionSpec { section: "database", name: "connection_recycle_time", default: "3600", help: "Seconds after which a pooled database connection is replaced." },
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
    OptionSpec { section: "security_compliance", name: "password_regex", default: "", help: "A pattern every new password must match from its start (Python's re.match; look-ahead works). Empty: any password." },
    OptionSpec { section: "security_compliance", name: "password_regex_description", default: "", help: "What password_regex asks for, in words: the message a refused password gets." },
    OptionSpec { section: "security_compliance", name: "unique_last_password_count", default: "0", help: "A user changing their own password may not reuse the current one or the N-1 before it (0: no history). An administrator's reset is not checked." },
    OptionSpec { section: "security_compliance", name: "minimum_password_age", default: "0", help: "Days a password a user set themselves must be kept before they may change it again (0: no minimum). An administrator's reset is not held." },
    OptionSpec { section: "security_compliance", name: "password_expires_days", default: "", help: "Days a new password is good for; then only a change of password works (empty: passwords never expire). Users with the option ignore_password_expiry are exempt." },
    OptionSpec { section: "security_compliance", name: "change_password_upon_first_use", default: "false", help: "A password an administrator sets (creating or resetting) is expired at once: the user must change it before anything else. Users with the option ignore_change_password_upon_first_use are exempt." },
    OptionSpec { section: "security_compliance", name: "disable_user_account_days_inactive", default: "", help: "Users who have not authenticated with their password for this many days are disabled (empty: never). Users with the option ignore_user_inactivity are exempt; enabling the user again restarts the count." },
    OptionSpec { section: "application_credential", name: "user_limit", default: "-1", help: "Most application credentials one user may own (-1: unlimited)." },
    OptionSpec { section: "application_credential", name: "rotation_grace", default: "86400", help: "Seconds a credential's previous secret keeps working after a rotation (POST .../application_credentials/{id}/rotate; at most 604800). A second rotation within it is refused." },
    OptionSpec { section: "application_credential", name: "rotation_deadline", default: "0", help: "Seconds a service account's credential keeps its secret after a person who saw it lost access to the project (it is marked rotation required at once); 0: until someone rotates it." },
    OptionSpec { section: "application_credential", name: "usage_flush_interval", default: "10", help: "Seconds between writes of credentials' last use (last_used_at), noted in memory on the token path; one credential's is written at most once a minute." },
    OptionSpec { section: "oauth2", name: "oauth2_authn_methods", default: "client_secret_basic,client_secret_post", help: "Client authentication methods of the OAuth 2.0 endpoints: client_secret_basic, client_secret_post, tls_client_auth (a certificate from [tls] client_ca_file whose subject matches the credential's), self_signed_tls_client_auth (a certificate whose SHA-256 thumbprint the credential names), private_key_jwt (an assertion signed with a key of the credential's JWKS)." },
    OptionSpec { section: "oauth2", name: "credential_issue_rate", default: "0", help: "Tokens one application credential may be issued per minute, on the OAuth 2.0 endpoint and by the application_credential method (0: no limit). Past it: 429 slow_down with Retry-After. Counted per node." },
    OptionSpec { section: "oauth2", name: "project_issue_rate", default: "0", help: "Tokens the application credentials of one project may be issued per minute together (0: no limit). Counted per node." },
    OptionSpec { section: "oauth2", name: "access_token_format", default: "opaque", help: "Access tokens of the token endpoint: opaque (a Lintel Fernet token) or jwt (RFC 9068, ES256, verifiable offline with the keys at /v3/OS-OAUTH2/jwks). Both validate everywhere a Lintel token does." },
    OptionSpec { section: "oauth2", name: "jwt_signing_algorithm", default: "ES256", help: "The signature of JWT access tokens: ES256 (P-256) or EdDSA (Ed25519). Both key pairs derive from the token keys and the JWKS publishes both, the configured one first." },
    OptionSpec { section: "oauth2", name: "jwt_audience", default: "", help: "The aud claim of JWT access tokens (default: the issuer, public_endpoint)." },
    OptionSpec { section: "oauth2", name: "client_failure_threshold", default: "5", help: "Consecutive failed authentications of one client (application credential or user) before back-off starts." },
    OptionSpec { section: "oauth2", name: "client_max_backoff", default: "300", help: "Longest back-off, in seconds; it doubles from 1 s after the threshold." },
    OptionSpec { section: "oauth2", name: "source_failures_per_minute", default: "60", help: "Failed authentications one source address may cause per minute before it is slowed down." },
    OptionSpec { section: "federation", name: "ca_file", default: "", help: "PEM CA certificates trusted for identity providers' discovery documents and JWKS (empty: the public web PKI roots). Only https:// issuers are fetched." },
    OptionSpec { section: "federation", name: "jwks_max_age", default: "3600", help: "Seconds an identity provider's keys are used before they are fetched again (kept when the provider cannot be reached)." },
    OptionSpec { section: "federation", name: "jwks_refresh_interval", default: "30", help: "Least seconds between two fetches of one provider's keys when a token names a key Lintel does not know." },
    OptionSpec { section: "federation", name: "clock_skew", default: "60", help: "Seconds of clock difference allowed on identity providers' exp, nbf and iat." },
    OptionSpec { section: "federation", name: "x509_svids", default: "false", help: "Ask TLS clients for a certificate, so that workloads sign in with a SPIFFE X.509-SVID, verified against their identity provider's trust_bundle (clients without one are served as before)." },
    OptionSpec { section: "federation", name: "max_token_lifetime", default: "3600", help: "The longest an identity provider's token may be valid for, in seconds (a provider's max_token_lifetime overrides it, up to 86400)." },
    OptionSpec { section: "oslo_middleware", name: "enable_proxy_headers_parsing", default: "false", help: "Believe X-Forwarded-For and X-Forwarded-Proto from the proxies in [server] trusted_proxies: the client's address (throttling, logs, audit) is the rightmost X-Forwarded-For hop that is not a trusted proxy, and with [server] insecure_http the OAuth2 endpoint knows the client used HTTPS. A request from any other peer has these headers removed." },
    OptionSpec { section: "oslo_middleware", name: "max_request_body_size", default: "114688", help: "Largest request body accepted, in bytes (larger: 413)." },
    OptionSpec { section: "server", name: "bind", default: "127.0.0.1:5000", help: "Address and port to listen on." },
    OptionSpec { section: "server", name: "trusted_proxies", default: "127.0.0.1, ::1", help: "Comma-separated addresses or networks (CIDR) of the reverse proxies in front of Lintel, whose forwarding headers are believed when [oslo_middleware] enable_proxy_headers_parsing is on." },
    OptionSpec { section: "server", name: "insecure_http", default: "false", help: "Serve plain HTTP instead of HTTPS (only behind a TLS-terminating proxy)." },
    OptionSpec { section: "server", name: "max_connections", default: "4096", help: "Most client connections served at once." },
    OptionSpec { section: "server", name: "handshake_timeout", default: "10", help: "Seconds a client has to finish the TLS handshake." },
    OptionSpec { section: "server", name: "header_read_timeout", default: "10", help: "Seconds a client has to send the request headers." },
    OptionSpec { section: "server", name: "idle_timeout", default: "60", help: "Seconds a connection may go without sending or receiving anything (HTTP/1.1 and HTTP/2 alike) before it is closed." },
    OptionSpec { section: "server", name: "max_connections_per_source", default: "256", help: "Most connections from one source address (an IPv6 /64 counts as one) served at once; 0: no per-source cap (behind a proxy, every connection comes from the proxy)." },
    OptionSpec { section: "server", name: "max_header_size", default: "16384", help: "Largest total request header size, in bytes." },
    OptionSpec { section: "server", name: "hash_workers", default: "0", help: "Concurrent argon2 hash computations (0: one per core less one, at least one)." },
    OptionSpec { section: "keystone_import", name: "fernet_key_repository", default: "", help: "Keystone's Fernet key directory, after a move from Keystone (lintel keystone-import): tokens Keystone issued keep validating until they expire. Remove it once Keystone's longest token lifetime has passed since the switch." },
    OptionSpec { section: "keystone_import", name: "auth_methods", default: "external,password,token,oauth1,mapped,application_credential", help: "Keystone's [auth] methods at the time, in its order: a Keystone token names its methods by their position in this list." },
    OptionSpec { section: "audit", name: "destination", default: "off", help: "Where security audit events go, one CADF JSON event each (authentication, credential, access-rule, role, grant and password changes, token revocation): off, log (the service log, target lintel::audit) or file." },
    OptionSpec { section: "audit", name: "file", default: "", help: "The audit file with destination = file (default: <data_dir>/audit.log); appended to, created readable by its owner only." },
    OptionSpec { section: "metrics", name: "bind", default: "", help: "Address of the Prometheus listener serving GET /metrics over plain HTTP, e.g. 127.0.0.1:9464 (empty: no metrics listener)." },
    OptionSpec { section: "tls", name: "cert_file", default: "", help: "PEM certificate chain (default: a self-signed certificate generated in <data_dir>/tls)." },
    OptionSpec { section: "tls", name: "key_file", default: "", help: "PEM private key matching cert_file." },
    OptionSpec { section: "tls", name: "session_tickets", default: "true", help: "Resume TLS sessions with tickets sealed under keys derived from the token key repository, so a client resumes on any node sharing it and across a key rotation (false: each node resumes only its own sessions, from memory)." },
    OptionSpec { section: "tls", name: "client_ca_file", default: "", help: "PEM bundle of the CAs whose client certificates the listener accepts (mutual TLS, RFC 8705). Client certificates are optional; they are requested when this is set or self_signed_tls_client_auth is enabled." },
];

/// Keystone options that Lintel accepts in the sections it owns but does not act on (a warning, not an error).
pub(super) const IGNORED_KEYSTONE_OPTIONS: &[(&str, &[&str])] = &[
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
            "max_overflow",
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
    // Keystone's [federation] options are Apache's business there; Lintel validates tokens itself.
    (
        "federation",
        &[
            "driver",
            "assertion_prefix",
            "remote_id_attribute",
            "federated_domain_name",
            "trusted_dashboard",
            "sso_callback_template",
            "caching",
            "cache_time",
            "default_authorization_ttl",
            "attribute_mapping_default_schema_version",
        ],
    ),
    ("server", &[]),
    ("metrics", &[]),
    ("audit", &[]),
    ("keystone_import", &[]),
    ("tls", &[]),
];

/// One commented-out option line, `#name = default` (or `#name =` when unset).
pub(super) fn sample_line(o: &OptionSpec) -> String {
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
         # Generated by `lintel sample-config` from the option definitions in src/config/options.rs.\n",
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

    #[test]
    fn sample_lists_every_option() {
        let s = sample();
        for o in OPTIONS {
            assert!(s.contains(&sample_line(o)));
        }
    }
}
