//! The `lintel` command: serve, db-sync, bootstrap, keys, check-config.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lintel::bootstrap::{self, Bootstrap};
use lintel::config::Config;
use lintel::config::KeyStore;
use lintel::server;
use lintel::store::Db;
use lintel::token::{key_store, keys};
use rand::distributions::{Alphanumeric, DistString};

/// Lintel: a Keystone-compatible identity service.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (keystone.conf style); overrides LINTEL_CONFIG.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API over HTTPS.
    Serve {
        /// Listen on this address instead of [server] bind.
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
    },
    /// Create or upgrade the database schema (safe to run on several nodes at once).
    DbSync,
    /// Create the default domain, admin project, roles, admin user and identity endpoint (idempotent).
    Bootstrap(Box<BootstrapArgs>),
    /// Manage the Fernet key repository.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Application credentials kept by the operator.
    Credentials {
        #[command(subcommand)]
        action: CredentialsAction,
    },
    /// Validate a configuration file and exit; the database is tried too (5 s at most) unless --offline.
    CheckConfig {
        /// Check the file only, without connecting to the database.
        #[arg(long)]
        offline: bool,
    },
    /// Print the sample configuration generated from the option definitions.
    SampleConfig,
    /// Print the OpenAPI 3.1 document of the API (what /openapi.json serves).
    Openapi,
    /// Import a Keystone database into Lintel's: domains, projects, users with their passwords, groups, roles,
    /// assignments, the catalog and application credentials with their secrets, every id kept. Read-only on
    /// Keystone's database; a second run changes nothing.
    KeystoneImport {
        /// Keystone's [database] connection URL, e.g. mysql+pymysql://keystone:PASS@db/keystone or
        /// sqlite:////var/lib/keystone/keystone.db.
        #[arg(long)]
        from: String,
        /// Add to a Lintel database that already holds data of its own (rows it holds are never overwritten).
        #[arg(long)]
        merge: bool,
        /// Read Keystone's database and print what would be imported; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum CredentialsAction {
    /// Delete the application credentials that expired long ago (revoking their tokens), with a report.
    Reap {
        /// How long ago they must have expired: 30d, 12h, 90m.
        #[arg(long, value_parser = humantime::parse_duration)]
        expired_for: std::time::Duration,
        /// Print what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(clap::Args)]
struct BootstrapArgs {
    /// Admin password (or set OS_BOOTSTRAP_PASSWORD).
    #[arg(long, env = "OS_BOOTSTRAP_PASSWORD", hide_env_values = true)]
    bootstrap_password: String,
    /// Admin user name.
    #[arg(long, default_value = "admin")]
    bootstrap_username: String,
    /// Admin project name.
    #[arg(long, default_value = "admin")]
    bootstrap_project_name: String,
    /// Role granted to the admin user.
    #[arg(long, default_value = "admin")]
    bootstrap_role_name: String,
    /// Identity service name.
    #[arg(long, default_value = "keystone")]
    bootstrap_service_name: String,
    /// Region id.
    #[arg(long, default_value = "RegionOne")]
    bootstrap_region_id: String,
    /// Public identity endpoint URL (default: public_endpoint + /v3).
    #[arg(long)]
    bootstrap_public_url: Option<String>,
    /// Internal identity endpoint URL.
    #[arg(long)]
    bootstrap_internal_url: Option<String>,
    /// Admin identity endpoint URL.
    #[arg(long)]
    bootstrap_admin_url: Option<String>,
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create the key repository with a staged and a primary key (no-op when keys exist).
    Setup,
    /// Promote the staged key to primary, stage a new key, retire keys beyond max_active_keys (under a lock:
    /// safe on any node at any time).
    Rotate,
    /// Print a new key-encryption key for [token] key_encryption_key.
    NewKek,
}

fn init_logging(config: &Config) {
    // sea-orm-migration reports every migration it checks at info, and PostgreSQL's notices about its table
    // ("already exists, skipping") come through sqlx at info; Lintel logs the migrations it applies itself.
    let default = if config.default.debug {
        "debug"
    } else {
        "info,sea_orm_migration=warn,sqlx::postgres::notice=warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINTEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only for a person at a terminal: journald and log files get plain text (https://no-color.org).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        // A failed write to stderr (a log reader gone: journald restarting, `| head`) must not become
        // tracing-subscriber's own `eprintln!`, which panics, and a panic in the task that heard SIGTERM would
        // leave the server running.
        .log_internal_errors(false)
        .with_env_filter(filter)
        .with_ansi(ansi)
        // Access lines are held briefly and written several at a time; everything else at once (log_sink).
        .with_writer(lintel::log_sink::Stderr);
    lintel::log_sink::start();
    if config.default.log_format == lintel::config::LogFormat::Json {
        builder
            .json()
            .with_timer(lintel::log_sink::Timestamp)
            .init();
    } else {
        builder
            .event_format(lintel::log_sink::TextFormat::new())
            .init();
        // Without colours an access line is plain text: written directly, the same bytes (log_sink::access).
        lintel::log_sink::write_access_directly(!ansi);
    }
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lintel: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::SampleConfig = cli.command {
        print!("{}", lintel::config::sample());
        return ExitCode::SUCCESS;
    }
    if let Command::Openapi = cli.command {
        print!("{}", lintel::api::openapi_json());
        return ExitCode::SUCCESS;
    }
    if let Command::CheckConfig { offline } = cli.command {
        for w in &config.warnings {
            eprintln!("warning: {w}");
        }
        if !config.server.insecure_http {
            if let Err(e) = lintel::transport::mtls::check_files(&config) {
                eprintln!(
                    "lintel: configuration error: {}: [tls]: {e:#}",
                    config.source
                );
                return ExitCode::from(2);
            }
        }
        if let Some((repo, _)) = &config.keystone_keys {
            println!(
                "note: [keystone_import] fernet_key_repository = {}: tokens Keystone issued validate until they \
                 expire. Remove the option once Keystone's longest token lifetime (its [token] expiration, and \
                 allow_expired_window where services use it) has passed since the switch.",
                repo.display()
            );
        }
        if !offline {
            let checked = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| lintel::store::ConnectError::Unusable(e.to_string()))
                .and_then(|rt| {
                    rt.block_on(lintel::store::db::check_reachable(
                        &config.database,
                        &config.default.data_dir,
                    ))
                });
            match checked {
                Ok(what) => println!("[database] connection: {what}"),
                Err(e) => {
                    eprintln!(
                        "lintel: configuration error: {}: [database] connection: {e}",
                        config.source
                    );
                    return ExitCode::from(2);
                }
            }
        }
        println!("{}: OK", config.source);
        return ExitCode::SUCCESS;
    }
    init_logging(&config);
    server::install_crypto();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lintel: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli.command, config));
    lintel::log_sink::flush();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lintel: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { bind } => {
            let mut config = config;
            if let Some(bind) = bind {
                config.rebind(bind);
            }
            serve(config).await
        }
        Command::DbSync => {
            let db = Db::connect(&config.database, &config.default.data_dir)
                .await
                .context("connecting to the database")?;
            let applied = db
                .migrate(&config.database.url)
                .await
                .context("applying migrations")?;
            if applied.is_empty() {
                println!("database schema was already up to date");
            } else {
                println!(
                    "applied {} migration{}; the database schema is up to date",
                    applied.len(),
                    if applied.len() == 1 { "" } else { "s" }
                );
            }
            Ok(())
        }
        Command::Bootstrap(args) => {
            let args = *args;
            let db = Db::connect(&config.database, &config.default.data_dir)
                .await
                .context("connecting to the database")?;
            let public = args
                .bootstrap_public_url
                .clone()
                .unwrap_or_else(|| config.v3_url());
            let mut endpoints = vec![("public".to_string(), public)];
            endpoints.extend(
                args.bootstrap_internal_url
                    .clone()
                    .map(|u| ("internal".to_string(), u)),
            );
            endpoints.extend(
                args.bootstrap_admin_url
                    .clone()
                    .map(|u| ("admin".to_string(), u)),
            );
            let password = args.bootstrap_password.clone();
            let password_hash = tokio::task::spawn_blocking(move || {
                lintel::crypto::hashing::hash_blocking(&password)
            })
            .await?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            let b = Bootstrap {
                username: args.bootstrap_username,
                password_hash,
                project_name: args.bootstrap_project_name,
                role_name: args.bootstrap_role_name,
                service_name: args.bootstrap_service_name,
                region_id: args.bootstrap_region_id,
                endpoints,
            };
            let audit = open_audit(&config)?;
            let done = bootstrap::run(&db, &audit, &b)
                .await
                .context("bootstrapping")?;
            audit.close();
            println!(
                "bootstrapped: user {} in project {}",
                done.user_id, done.project_id
            );
            Ok(())
        }
        Command::Keys {
            action: KeysAction::NewKek,
        } => {
            println!("{}", fernet::Fernet::generate_key());
            Ok(())
        }
        Command::Keys { action } => {
            let (created, primary, place) = match config.token.key_store {
                KeyStore::File => {
                    let repo = &config.token.key_repository;
                    let place = repo.display().to_string();
                    match action {
                        KeysAction::Setup => (Some(keys::setup(repo)?), None, place),
                        _ => (
                            None,
                            Some(keys::rotate(repo, config.token.max_active_keys)?),
                            place,
                        ),
                    }
                }
                KeyStore::Database { .. } => {
                    let db = Db::connect(&config.database, &config.default.data_dir)
                        .await
                        .context("connecting to the database")?;
                    let place = "the database (token_key)".to_string();
                    match action {
                        KeysAction::Setup => {
                            (Some(key_store::setup(&config, &db).await?), None, place)
                        }
                        _ => (None, Some(key_store::rotate(&config, &db).await?), place),
                    }
                }
            };
            match (created, primary) {
                (Some(true), _) => println!("created token keys in {place}"),
                (Some(false), _) => println!("token keys already exist in {place}"),
                (_, Some(n)) => println!("rotated: key {n} is now primary in {place}"),
                _ => {}
            }
            Ok(())
        }
        Command::CheckConfig { .. } | Command::SampleConfig | Command::Openapi => Ok(()),
        Command::KeystoneImport {
            from,
            merge,
            dry_run,
        } => keystone_import(&config, &from, merge, dry_run).await,
        Command::Credentials {
            action:
                CredentialsAction::Reap {
                    expired_for,
                    dry_run,
                },
        } => reap(config, expired_for, dry_run).await,
    }
}

/// `keystone-import`: the import with a progress bar on the terminal, then the table of counts.
async fn keystone_import(
    config: &Config,
    from: &str,
    merge: bool,
    dry_run: bool,
) -> anyhow::Result<()> {
    use lintel_import::{self as import, ImportOptions};
    let db = Db::connect(&config.database, &config.default.data_dir)
        .await
        .context("connecting to Lintel's database")?;
    if !db.is_migrated().await? {
        anyhow::bail!("Lintel's database schema is not up to date: run `lintel db-sync` first");
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>36} [{bar:40}] {pos}/{len}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut progress = |kind: &str, done: u64, total: u64| {
        bar.set_message(kind.to_string());
        bar.set_length(total);
        bar.set_position(done);
    };
    let opts = ImportOptions { merge, dry_run };
    let now = lintel::clock::Clock::system().now();
    let report = import::run(&db, from, opts, now, &mut progress)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    bar.finish_and_clear();
    if dry_run {
        println!("dry run: nothing was written. What an import would do:");
    }
    print!("{}", report.table());
    if !dry_run {
        // In the audit trail: what came in, kind by kind (one event each, not one per row).
        let audit = open_audit(config)?;
        lintel::audit::keystone_import(&audit, &report, now);
        audit.close();
    }
    db.close().await;
    Ok(())
}

/// `serve`, with the newcomer path: with no config file, migrate and bootstrap an empty database. The port is
/// bound first, so a start that cannot listen leaves nothing behind.
async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = server::bind(&config)?;
    if config.default.public_endpoint_guessed {
        tracing::warn!(
            endpoint = %config.default.public_endpoint,
            "[DEFAULT] public_endpoint is not set and Lintel listens on every address ({}): clients are told to use \
             this machine's host name. Set public_endpoint to the URL clients reach this service at",
            config.server.bind
        );
    }
    let marker = config.default.data_dir.join(bootstrap::GENERATED_ENDPOINT);
    if !config.from_a_file() || marker.exists() {
        let db = Db::connect(&config.database, &config.default.data_dir)
            .await
            .context("connecting to the database")?;
        if !config.from_a_file() {
            db.migrate(&config.database.url)
                .await
                .context("applying migrations")?;
            if bootstrap::is_empty(&db).await? {
                first_run(&config, &db).await?;
            }
        }
        // The endpoints a first start made (this one's, or an earlier one's) follow where this server listens.
        let url = config.v3_url();
        let followed = bootstrap::follow_endpoint(&db, &config.default.data_dir, &url).await?;
        if let Some(old) = &followed.moved_from {
            tracing::info!(%old, new = %url, "the identity endpoints the first start made, and admin-openrc.sh, now name where this server listens");
        }
        if !followed.operator_set.is_empty() {
            tracing::warn!(endpoints = ?followed.operator_set, clients_reach = %url, "identity endpoints set by an operator are left as they are: clients that read the catalog are told those URLs");
        }
    }
    let state = server::build_state(config).await?;
    server::serve_on(state, listener).await
}

/// The configured audit trail, for a command that changes something and exits (it closes it).
fn open_audit(config: &Config) -> anyhow::Result<lintel::audit::Audit> {
    lintel::audit::Audit::open(&config.audit)
        .with_context(|| format!("opening the audit file {}", config.audit.file.display()))
}

/// Bootstrap with a generated password and write it, never logged, into `data_dir/admin-openrc.sh`.
async fn first_run(config: &Config, db: &Db) -> anyhow::Result<()> {
    let password = Alphanumeric.sample_string(&mut rand::rngs::OsRng, 24);
    let p = password.clone();
    let password_hash =
        tokio::task::spawn_blocking(move || lintel::crypto::hashing::hash_blocking(&p))
            .await?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    // keystonemiddleware looks for the internal endpoint by default.
    let b = Bootstrap::defaults(password_hash, &config.v3_url(), &["public", "internal"]);
    let audit = open_audit(config)?;
    bootstrap::run(db, &audit, &b)
        .await
        .context("bootstrapping")?;
    audit.close();
    let cacert = if config.server.insecure_http {
        String::new()
    } else {
        let (cert, _) = server::tls_files(config)?;
        let abs = std::fs::canonicalize(&cert).unwrap_or(cert);
        format!("export OS_CACERT={}\n", abs.display())
    };
    let openrc = format!(
        "# Generated by lintel on first start. Source it, then run: openstack token issue\n\
         export OS_AUTH_URL={}\nexport OS_USERNAME=admin\nexport OS_PASSWORD={password}\nexport OS_PROJECT_NAME=admin\n\
         export OS_USER_DOMAIN_NAME=Default\nexport OS_PROJECT_DOMAIN_NAME=Default\nexport OS_IDENTITY_API_VERSION=3\n{cacert}",
        config.v3_url()
    );
    let path = config.default.data_dir.join("admin-openrc.sh");
    lintel::config::write_private(&path, openrc.as_bytes())?;
    // The URL these endpoints and the openrc name: a later start on another address moves them with it.
    let marker = config.default.data_dir.join(bootstrap::GENERATED_ENDPOINT);
    lintel::config::write_private(&marker, config.v3_url().as_bytes())?;
    println!("First start: bootstrapped an admin user. Credentials: {} (source it, then `openstack token issue`)", path.display());
    Ok(())
}

/// `lintel credentials reap`: one report line per credential, then a summary.
async fn reap(
    config: Config,
    expired_for: std::time::Duration,
    dry_run: bool,
) -> anyhow::Result<()> {
    let cx = lintel::server::build_context(config).await?;
    let result = lintel::credential::reap(&cx, expired_for, dry_run).await;
    // A command is not a node the others should wait for.
    let _ = lintel::store::nodes::remove(&cx.db, &cx.node.id).await;
    cx.audit.close();
    let reaped = result.map_err(|e| anyhow::anyhow!("{e}"))?;
    for c in &reaped {
        println!(
            "{} {} (user {}, project {}, expired {})",
            if dry_run { "would delete" } else { "deleted" },
            c.id,
            c.user_id,
            c.project_id,
            c.expires_at.map(lintel::auth::iso).unwrap_or_default()
        );
    }
    println!(
        "{} application credential(s) {} that expired more than {} ago",
        reaped.len(),
        if dry_run {
            "would be deleted"
        } else {
            "deleted"
        },
        humantime::format_duration(expired_for)
    );
    Ok(())
}
