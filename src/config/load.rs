//! Reading the INI file into [`Config`]: every value through the option table, validated, with oslo.config's
//! rules (options before any header are `[DEFAULT]`; a repeated section or option merges, the last value wins).

use std::path::PathBuf;
use std::time::Duration;

use ini::Ini;

use super::options::{IGNORED_KEYSTONE_OPTIONS, KNOWN_UNSUPPORTED_AUTH_METHODS, OPTIONS};
use super::{
    derived_endpoint, AuditSection, AuthSection, ClientAuthMethod, Config, ConfigError,
    DatabaseSection, DefaultSection, IdentityMethod, KeyStore, OAuth2Section, ServerSection,
    TokenSection,
};

/// Parse INI text and load it.
pub(super) fn from_text(text: &str, path: &str) -> Result<Config, ConfigError> {
    // Backslashes are the value's own, as oslo.config reads them (a password_regex's `\d`, a Windows path).
    let options = ini::ParseOption {
        enabled_escape: false,
        ..Default::default()
    };
    let ini = Ini::load_from_str_opt(text, options).map_err(|e| ConfigError::Parse {
        path: path.into(),
        reason: describe_ini_error(&e),
    })?;
    from_ini(&ini, path)
}

/// Load a parsed file (an empty one gives the defaults).
pub(super) fn from_ini(ini: &Ini, path: &str) -> Result<Config, ConfigError> {
    let mut warnings = Vec::new();
    check_known(ini, path, &mut warnings)?;
    let r = Reader { ini, path };
    let server = server(&r)?;
    let default = default(&r, &server)?;
    let database = database(&r, &default)?;
    let token = token(&r, &default)?;
    let auth = auth(&r, &mut warnings)?;
    let mut oauth2 = oauth2(&r)?;
    let federation = federation(&r)?;
    let audit = audit(&r, &default)?;
    let keystone_keys = match r.string("keystone_import", "fernet_key_repository")? {
        s if s.is_empty() => None,
        s => {
            let methods: Vec<String> = r
                .string("keystone_import", "auth_methods")?
                .split(',')
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect();
            Some((PathBuf::from(s), methods))
        }
    };
    let cert_methods: Vec<&str> = oauth2
        .authn_methods
        .iter()
        .filter(|m| {
            matches!(
                m,
                ClientAuthMethod::TlsClientAuth | ClientAuthMethod::SelfSignedTlsClientAuth
            )
        })
        .map(|&m| <&str>::from(m))
        .collect();
    if oauth2
        .authn_methods
        .contains(&ClientAuthMethod::TlsClientAuth)
        && server.client_ca_file.is_none()
    {
        // Keystone's own default names tls_client_auth; a keystone.conf copied over starts, as Keystone does.
        oauth2
            .authn_methods
            .retain(|m| *m != ClientAuthMethod::TlsClientAuth);
        warnings.push(format!(
            "{path}: [oauth2] oauth2_authn_methods: tls_client_auth stays off until [tls] client_ca_file names              the CAs whose client certificates to trust"
        ));
    }
    if server.insecure_http && !cert_methods.is_empty() {
        warnings.push(format!(
            "{path}: [oauth2] oauth2_authn_methods: {cert_methods:?} need Lintel's own TLS listener; over plain \
             HTTP ([server] insecure_http) no client certificate reaches Lintel, so they never succeed"
        ));
    }
    Ok(Config {
        source: path.to_string(),
        default,
        database,
        token,
        auth,
        oauth2,
        federation,
        server,
        audit,
        keystone_keys,
        warnings,
    })
}

fn audit(r: &Reader<'_>, default: &DefaultSection) -> Result<AuditSection, ConfigError> {
    let file = match r.string("audit", "file")? {
        s if s.is_empty() => default.data_dir.join("audit.log"),
        s => PathBuf::from(s),
    };
    Ok(AuditSection {
        destination: r.parse("audit", "destination", "expected 'off', 'log' or 'file'")?,
        file,
    })
}

fn default(r: &Reader<'_>, server: &ServerSection) -> Result<DefaultSection, ConfigError> {
    let scheme = if server.insecure_http {
        "http"
    } else {
        "https"
    };
    let configured = r.string("DEFAULT", "public_endpoint")?;
    let public_endpoint = if configured.is_empty() {
        derived_endpoint(scheme, server.bind).0
    } else {
        let url = url::Url::parse(&configured)
            .map_err(|e| r.bad("DEFAULT", "public_endpoint", &format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(r.bad("DEFAULT", "public_endpoint", "must be an http or https URL"));
        }
        configured.trim_end_matches('/').to_string()
    };
    Ok(DefaultSection {
        public_endpoint,
        public_endpoint_derived: configured.is_empty(),
        public_endpoint_guessed: configured.is_empty() && server.bind.ip().is_unspecified(),
        data_dir: PathBuf::from(r.string("DEFAULT", "data_dir")?),
        debug: r.boolean("DEFAULT", "debug")?,
        log_format: r.parse("DEFAULT", "log_format", "expected 'text' or 'json'")?,
    })
}

fn database(r: &Reader<'_>, default: &DefaultSection) -> Result<DatabaseSection, ConfigError> {
    let (url, is_default) = match r.string("database", "connection")? {
        s if s.is_empty() => (
            format!(
                "sqlite://{}?mode=rwc",
                default.data_dir.join("lintel.db").display()
            ),
            true,
        ),
        s => (
            normalise_db_url(&s).map_err(|reason| r.bad("database", "connection", &reason))?,
            false,
        ),
    };
    Ok(DatabaseSection {
        url,
        is_default,
        max_pool_size: u32::try_from(r.positive("database", "max_pool_size")?)
            .map_err(|_| r.bad("database", "max_pool_size", "too large"))?,
        pool_timeout: r
            .parse::<f64>("database", "pool_timeout", "expected seconds, e.g. 0.5")
            .ok()
            .filter(|s| (0.01..=600.0).contains(s))
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                r.bad(
                    "database",
                    "pool_timeout",
                    "expected seconds between 0.01 and 600",
                )
            })?,
        connection_recycle_time: Duration::from_secs(
            r.positive("database", "connection_recycle_time")?,
        ),
    })
}

fn token(r: &Reader<'_>, default: &DefaultSection) -> Result<TokenSection, ConfigError> {
    let key_repository = match r.string("fernet_tokens", "key_repository")? {
        s if s.is_empty() => default.data_dir.join("fernet-keys"),
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
    if r.string("token", "provider")? != "fernet" {
        return Err(r.bad("token", "provider", "only 'fernet' is supported"));
    }
    let key_store = match r.string("token", "key_store")?.as_str() {
        "file" => KeyStore::File,
        "database" => {
            let kek = r.string("token", "key_encryption_key")?;
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
    Ok(TokenSection {
        expiration: Duration::from_secs(r.positive("token", "expiration")?),
        allow_expired_window: Duration::from_secs(r.parse(
            "token",
            "allow_expired_window",
            "expected seconds",
        )?),
        key_store,
        key_repository,
        max_active_keys,
    })
}

fn auth(r: &Reader<'_>, warnings: &mut Vec<String>) -> Result<AuthSection, ConfigError> {
    let mut methods = Vec::new();
    for m in r.list("auth", "methods")? {
        let m = m.as_str();
        if let Ok(method) = m.parse::<IdentityMethod>() {
            methods.push(method);
        } else if KNOWN_UNSUPPORTED_AUTH_METHODS.contains(&m) {
            warnings.push(format!(
                "{}: [auth] methods: '{m}' is not supported by Lintel yet and is ignored",
                r.path
            ));
        } else {
            return Err(r.bad(
                "auth",
                "methods",
                &format!("unknown authentication method '{m}'"),
            ));
        }
    }
    Ok(AuthSection {
        methods,
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
        passwords: password_rules(r)?,
        app_cred_user_limit: r.parse(
            "application_credential",
            "user_limit",
            "expected a whole number (-1: unlimited)",
        )?,
        app_cred_rotation_grace: {
            let secs: u64 = r.parse(
                "application_credential",
                "rotation_grace",
                "expected seconds",
            )?;
            // A previous secret always retires: never "until someone remembers".
            if secs > crate::credential::MAX_GRACE.as_secs() {
                return Err(r.bad(
                    "application_credential",
                    "rotation_grace",
                    "at most 604800 (7 days)",
                ));
            }
            Duration::from_secs(secs)
        },
        app_cred_usage_flush: Duration::from_secs(
            r.positive("application_credential", "usage_flush_interval")?,
        ),
        app_cred_rotation_deadline: Duration::from_secs(r.parse(
            "application_credential",
            "rotation_deadline",
            "expected seconds (0: none)",
        )?),
    })
}

fn federation(r: &Reader<'_>) -> Result<super::FederationSection, ConfigError> {
    let lifetime = r.positive("federation", "max_token_lifetime")?;
    if lifetime > 86_400 {
        return Err(r.bad("federation", "max_token_lifetime", "at most 86400 seconds"));
    }
    let ca_pem = match r.string("federation", "ca_file")? {
        f if f.is_empty() => None,
        f => {
            let pem = std::fs::read(&f)
                .map_err(|e| r.bad("federation", "ca_file", &format!("{f}: {e}")))?;
            if reqwest::Certificate::from_pem_bundle(&pem).map_or(true, |c| c.is_empty()) {
                return Err(r.bad("federation", "ca_file", &format!("{f}: no PEM certificate")));
            }
            Some(pem)
        }
    };
    Ok(super::FederationSection {
        ca_pem,
        jwks_max_age: Duration::from_secs(r.positive("federation", "jwks_max_age")?),
        jwks_refresh_interval: Duration::from_secs(
            r.positive("federation", "jwks_refresh_interval")?,
        ),
        clock_skew: r.parse("federation", "clock_skew", "expected seconds")?,
        max_token_lifetime: lifetime,
        x509_svids: r.boolean("federation", "x509_svids")?,
    })
}

fn oauth2(r: &Reader<'_>) -> Result<OAuth2Section, ConfigError> {
    let mut authn_methods = Vec::new();
    for m in r.list("oauth2", "oauth2_authn_methods")? {
        let method = m.parse::<ClientAuthMethod>().map_err(|_| {
            r.bad(
                "oauth2",
                "oauth2_authn_methods",
                &format!("unknown method '{m}'"),
            )
        })?;
        authn_methods.push(method);
    }
    let jwt_algorithm = match r.string("oauth2", "jwt_signing_algorithm")?.as_str() {
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
    let count = |name: &str| -> Result<u32, ConfigError> {
        u32::try_from(r.positive("oauth2", name)?).map_err(|_| r.bad("oauth2", name, "too large"))
    };
    Ok(OAuth2Section {
        credential_issue_rate: r.parse(
            "oauth2",
            "credential_issue_rate",
            "expected tokens per minute (0: no limit)",
        )?,
        project_issue_rate: r.parse(
            "oauth2",
            "project_issue_rate",
            "expected tokens per minute (0: no limit)",
        )?,
        authn_methods,
        throttle: super::ThrottleLimits {
            failures_before_backoff: count("client_failure_threshold")?,
            max_backoff: Duration::from_secs(r.positive("oauth2", "client_max_backoff")?),
            source_failures_per_minute: count("source_failures_per_minute")?,
        },
        access_token_format: r.parse(
            "oauth2",
            "access_token_format",
            "expected 'opaque' or 'jwt'",
        )?,
        jwt_audience: Some(r.string("oauth2", "jwt_audience")?).filter(|s| !s.is_empty()),
        jwt_algorithm,
    })
}

fn server(r: &Reader<'_>) -> Result<ServerSection, ConfigError> {
    let tls_files = match (r.string("tls", "cert_file")?, r.string("tls", "key_file")?) {
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
    let metrics_bind = match r.string("metrics", "bind")? {
        s if s.is_empty() => None,
        _ => Some(r.parse("metrics", "bind", "expected HOST:PORT, e.g. 127.0.0.1:9464")?),
    };
    let hash_workers: usize = r.parse("server", "hash_workers", "expected a whole number")?;
    let hash_workers = if hash_workers == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get().saturating_sub(1))
            .unwrap_or(1)
            .max(1)
    } else {
        hash_workers
    };
    let size = |section: &str, name: &str| -> Result<usize, ConfigError> {
        usize::try_from(r.positive(section, name)?).map_err(|_| r.bad(section, name, "too large"))
    };
    Ok(ServerSection {
        bind: r.parse("server", "bind", "expected HOST:PORT, e.g. 127.0.0.1:5000")?,
        insecure_http: r.boolean("server", "insecure_http")?,
        max_connections: size("server", "max_connections")?,
        handshake_timeout: Duration::from_secs(r.positive("server", "handshake_timeout")?),
        header_read_timeout: Duration::from_secs(r.positive("server", "header_read_timeout")?),
        idle_timeout: Duration::from_secs(r.positive("server", "idle_timeout")?),
        max_connections_per_source: Some(r.parse::<usize>(
            "server",
            "max_connections_per_source",
            "expected a whole number (0: no per-source cap)",
        )?)
        .filter(|n| *n > 0),
        max_header_size: size("server", "max_header_size")?,
        max_request_body_size: size("oslo_middleware", "max_request_body_size")?,
        trust_proxy_headers: r.boolean("oslo_middleware", "enable_proxy_headers_parsing")?,
        trusted_proxies: r
            .list("server", "trusted_proxies")?
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        r.bad(
                            "server",
                            "trusted_proxies",
                            &format!("'{p}': expected an IP address or a network (CIDR)"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?,
        hash_workers,
        tls_files,
        client_ca_file: Some(r.string("tls", "client_ca_file")?)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from),
        session_tickets: r.boolean("tls", "session_tickets")?,
        metrics_bind,
    })
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

/// Typed access to option values with their defaults from [`OPTIONS`]: the only code that looks options up by name.
struct Reader<'a> {
    ini: &'a Ini,
    path: &'a str,
}

/// The most days a password rule counts: a century.
const MAX_DAYS: u32 = 36_500;

fn password_rules(r: &Reader<'_>) -> Result<crate::config::PasswordRules, ConfigError> {
    const S: &str = "security_compliance";
    let pattern = r.string(S, "password_regex")?;
    let regex = if pattern.is_empty() {
        None
    } else {
        // Python's re.match anchors at the start only; a pattern without `$` may match a prefix.
        let anchored = format!(r"\A(?:{pattern})");
        let built = fancy_regex::RegexBuilder::new(&anchored)
            // Bounded work per password, whatever the pattern.
            .backtrack_limit(100_000)
            .build()
            .map_err(|e| r.bad(S, "password_regex", &format!("not a valid pattern: {e}")))?;
        Some(built)
    };
    let description = r.string(S, "password_regex_description")?;
    Ok(crate::config::PasswordRules {
        regex,
        regex_description: (!description.is_empty()).then_some(description),
        unique_last_password_count: r.at_most(S, "unique_last_password_count", 1000)?,
        minimum_password_age_days: r.at_most(S, "minimum_password_age", MAX_DAYS)?,
        password_expires_days: r.optional_days(S, "password_expires_days")?,
        change_password_upon_first_use: r.boolean(S, "change_password_upon_first_use")?,
        disable_user_account_days_inactive: r
            .optional_days(S, "disable_user_account_days_inactive")?,
    })
}

impl Reader<'_> {
    /// A number of days, at least 1, or nothing (empty).
    fn optional_days(&self, section: &str, name: &str) -> Result<Option<u32>, ConfigError> {
        if self.string(section, name)?.is_empty() {
            return Ok(None);
        }
        let n = self.at_most(section, name, MAX_DAYS)?;
        if n == 0 {
            return Err(self.bad(
                section,
                name,
                "must be at least 1 (leave it empty to turn it off)",
            ));
        }
        Ok(Some(n))
    }

    /// A whole number no greater than `max` (days beyond a century, or a history of thousands, are a mistake).
    fn at_most(&self, section: &str, name: &str, max: u32) -> Result<u32, ConfigError> {
        let n: u32 = self.parse(section, name, "expected a whole number")?;
        if n > max {
            return Err(self.bad(section, name, &format!("at most {max}")));
        }
        Ok(n)
    }

    /// The value of an option, or its default. An option missing from the table is a bug in this loader, and
    /// fails every load (so the first test that loads a configuration catches a misspelt name).
    fn string(&self, section: &str, name: &str) -> Result<String, ConfigError> {
        let spec = OPTIONS
            .iter()
            .find(|o| o.section == section && o.name == name)
            .ok_or_else(|| ConfigError::Undeclared {
                section: section.into(),
                option: name.into(),
            })?;
        // oslo.config merges a section given twice, and the last value of an option wins.
        let given = self
            .ini
            .section_all(Some(section))
            .filter_map(|s| s.get_all(name).next_back())
            .next_back();
        // Options before any section header belong to [DEFAULT], as in oslo.config.
        let given = given.or_else(|| {
            (section == "DEFAULT")
                .then(|| self.ini.general_section().get_all(name).next_back())
                .flatten()
        });
        Ok(given.unwrap_or(spec.default).trim().to_string())
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
        let v = self.string(section, name)?;
        v.parse()
            .map_err(|_| self.bad(section, name, &format!("'{v}': {expected}")))
    }

    /// A comma-separated list, blanks dropped.
    fn list(&self, section: &str, name: &str) -> Result<Vec<String>, ConfigError> {
        Ok(self
            .string(section, name)?
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect())
    }

    fn positive(&self, section: &str, name: &str) -> Result<u64, ConfigError> {
        let n: u64 = self.parse(section, name, "expected a positive whole number")?;
        if n == 0 {
            return Err(self.bad(section, name, "must be greater than 0"));
        }
        Ok(n)
    }

    fn boolean(&self, section: &str, name: &str) -> Result<bool, ConfigError> {
        match self.string(section, name)?.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            v => Err(self.bad(section, name, &format!("'{v}': expected true or false"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AccessTokenFormat, LogFormat};
    use std::path::PathBuf;

    fn load(text: &str) -> Result<Config, ConfigError> {
        from_text(text, "test.conf")
    }

    #[test]
    fn defaults_match_keystone() {
        let c = Config::defaults().unwrap();
        assert_eq!(c.token.expiration, Duration::from_secs(3600));
        assert_eq!(c.server.max_request_body_size, 114_688);
        assert_eq!(c.server.bind.to_string(), "127.0.0.1:5000");
        assert_eq!(c.public_endpoint(), "https://127.0.0.1:5000");
        assert!(c.database.url.starts_with("sqlite://./data/lintel.db"));
        assert_eq!(c.default.log_format, LogFormat::Text);
        assert_eq!(c.oauth2.access_token_format, AccessTokenFormat::Opaque);
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
        assert_eq!(c.public_endpoint(), "https://id.example.com");
        assert_eq!(
            c.token.key_repository,
            PathBuf::from("/srv/lintel/fernet-keys")
        );
        let c = load("data_dir = /srv/x\n").unwrap();
        assert_eq!(c.default.data_dir, PathBuf::from("/srv/x"));
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
    fn password_rules_read_backslashes_as_written_and_refuse_a_broken_pattern() {
        let c =
            load("[security_compliance]\npassword_regex = ^\\d{3}\npassword_expires_days = 90\n")
                .unwrap();
        let rules = &c.auth.passwords;
        let regex = rules.regex.as_ref().unwrap();
        assert!(regex.is_match("123x").unwrap() && !regex.is_match("x123").unwrap());
        assert_eq!(rules.password_expires_days, Some(90));
        assert_eq!(
            Config::defaults()
                .unwrap()
                .auth
                .passwords
                .password_expires_days,
            None
        );
        let e = load("[security_compliance]\npassword_regex = (unclosed\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[security_compliance] password_regex: not a valid pattern"),
            "{e}"
        );
        let e = load("[security_compliance]\ndisable_user_account_days_inactive = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be at least 1"), "{e}");
        let e = load("[security_compliance]\npassword_expires_days = 99999999\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 36500"), "{e}");
    }

    #[test]
    fn keystone_sections_and_methods_warn() {
        let c = load("[DEFAULT]\nlog_dir=/var/log\n[cache]\nenabled=true\n[auth]\nmethods=external,password,token\n").unwrap();
        assert_eq!(
            c.auth.methods,
            vec![IdentityMethod::Password, IdentityMethod::Token]
        );
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
    fn a_repeated_section_merges_and_the_last_value_wins_and_is_validated() {
        let c = load(
            "[DEFAULT]\ndebug = true\n[token]\nexpiration = 60\n[DEFAULT]\ndata_dir = /srv/y\n",
        )
        .unwrap();
        assert!(c.default.debug);
        assert_eq!(c.default.data_dir, PathBuf::from("/srv/y"));
        assert_eq!(c.token.expiration, Duration::from_secs(60));
        let e = load("[token]\nexpiration = 60\n[token]\nexpiration = soon\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("[token] expiration: 'soon'"), "{e}");
    }

    #[test]
    fn an_option_missing_from_the_table_is_refused_not_read_as_empty() {
        let r = Reader {
            ini: &Ini::new(),
            path: "test.conf",
        };
        assert!(matches!(
            r.string("token", "expirashun"),
            Err(ConfigError::Undeclared { .. })
        ));
    }

    #[test]
    fn methods_are_enums_with_keystone_names() {
        let c = load("[auth]\nmethods = application_credential\n[oauth2]\noauth2_authn_methods = client_secret_post, private_key_jwt\n").unwrap();
        assert!(c.method_enabled(IdentityMethod::ApplicationCredential));
        assert!(!c.method_enabled(IdentityMethod::Password));
        assert!(c.oauth2_method(ClientAuthMethod::PrivateKeyJwt));
        assert!(!c.oauth2_method(ClientAuthMethod::ClientSecretBasic));
        assert!(load("[oauth2]\noauth2_authn_methods = client_secret_jwt\n").is_err());
    }
}
