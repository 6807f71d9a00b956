//! Starting the service: state, TLS (given or self-signed), the HTTPS listener, background sync, shutdown.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::Handle;
use hyper_util::rt::TokioTimer;

use crate::config::Config;
use crate::state::AppState;
use crate::store::Db;
use crate::token::{key_store, TokenCodec};
use crate::transport::conn_limit::Capped;

/// Install rustls' process-wide crypto provider (ring) once.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Build the application state from configuration: database (already migrated) and key ring.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    Ok(AppState::wrap(build_context(config).await?))
}

/// Build the domain's context from configuration: database (already migrated), key ring, audit trail, and this
/// node registered among its peers with the revocation events read.
pub async fn build_context(config: Config) -> anyhow::Result<crate::context::Context> {
    let db = Db::connect(&config.database, &config.default.data_dir)
        .await
        .with_context(|| "connecting to the database")?;
    if !db.is_migrated().await? {
        bail!("the database schema is not up to date: run `lintel db-sync` first");
    }
    if key_store::setup(&config, &db).await? {
        tracing::warn!(store = ?config.token.key_store, path = %config.token.key_repository.display(), "no token keys found: created a staged and a primary key");
    }
    let ring = key_store::load(&config, &db).await?;
    let mut tokens = TokenCodec::new(ring).with_jwt(
        &config.default.public_endpoint,
        config.jwt_audience(),
        config.oauth2.jwt_algorithm,
    );
    if let Some((repo, methods)) = &config.keystone_keys {
        let keystone = crate::token::keys::KeyRing::load(repo).with_context(|| {
            format!("[keystone_import] fernet_key_repository {}", repo.display())
        })?;
        tracing::info!(
            keys = keystone.count,
            "Keystone's tokens validate until they expire ([keystone_import] fernet_key_repository)"
        );
        tokens = tokens.with_keystone(keystone, methods.clone());
    }
    let audit = crate::audit::Audit::open(&config.audit)
        .with_context(|| format!("opening the audit file {}", config.audit.file.display()))?;
    let state = crate::context::Context::new(config, db, tokens, audit);
    // Beat before the first read (src/cluster.rs): a node that changes something from now on waits for this one.
    crate::store::nodes::register(&state.db, &state.node.id, state.clock.now()).await?;
    // The events as recorded: their settled times already cover what any node served from before them.
    let (events, read) = state.revocations.unseen(&state.db).await?;
    for e in &events {
        state.revocations.apply(e);
    }
    state.revocations.read_up_to(read);
    let peers = crate::store::nodes::all(&state.db).await?;
    state.node.looked(state.clock.now(), &peers);
    Ok(state)
}

/// Certificate and key paths: configured ones, or a self-signed pair made in `data_dir/tls`.
pub fn tls_files(config: &Config) -> anyhow::Result<(PathBuf, PathBuf)> {
    match &config.server.tls_files {
        Some((c, k)) => Ok((c.clone(), k.clone())),
        None => crate::transport::self_signed::ensure(config),
    }
}

/// Bind the configured address (before anything else happens, so a port in use changes nothing).
pub fn bind(config: &Config) -> anyhow::Result<std::net::TcpListener> {
    let bind = config.server.bind;
    std::net::TcpListener::bind(bind).with_context(|| format!("cannot listen on {bind}"))
}

/// Serve on an already bound listener (tests bind port 0 and read the port back).
pub async fn serve_on(state: AppState, listener: std::net::TcpListener) -> anyhow::Result<()> {
    let config = state.config.clone();
    let app = crate::api::router(state.clone());

    tokio::spawn(follow_changes(state.clone()));
    tokio::spawn(announce_changes(state.clone()));
    tokio::spawn(summarise_throttled(state.clone()));
    tokio::spawn(write_usage(state.clone()));
    if let Some(addr) = config.server.metrics_bind {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the metrics listener {addr}"))?;
        tracing::info!(%addr, "metrics at http://{addr}/metrics");
        tokio::spawn(serve_metrics(listener, state.clone()));
    }

    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let mut server = axum_server::from_tcp(listener)?;
    let handle = Handle::new();
    let shutdown = handle.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: draining in-flight requests");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        shutdown.graceful_shutdown(Some(Duration::from_secs(30)));
    });
    tune(server.http_builder(), &config);
    let server = server.handle(handle);
    // Served at the root and under public_endpoint's path (devstack's http://HOST/identity behind Apache).
    let prefix = config.path_prefix();
    let app = tower::Layer::layer(
        &tower::util::MapRequestLayer::new(move |req| strip_prefix(req, prefix.as_deref())),
        app,
    );
    let make = axum::ServiceExt::<axum::http::Request<hyper::body::Incoming>>::into_make_service_with_connect_info::<
        std::net::SocketAddr,
    >(app);
    if config.server.insecure_http {
        tracing::warn!(addr = %local, "serving plain HTTP ([server] insecure_http = true): only behind a TLS-terminating proxy");
        tracing::info!(addr = %local, endpoint = %config.default.public_endpoint, "Lintel listening (plain HTTP)");
        let acceptor = Capped::new(
            axum_server::accept::NoDelayAcceptor::new(),
            crate::transport::conn_limit::Limits::of(&config),
        );
        reload_on_hangup(state.clone(), None)?;
        notify_ready();
        server.acceptor(acceptor).serve(make).await?;
    } else {
        let (cert, key) = tls_files(&config)?;
        let trust = crate::transport::mtls::Trust::default();
        let tls = RustlsConfig::from_config(
            crate::transport::mtls::server_config(&config, &cert, &key, &trust, tickets(&state))
                .with_context(|| {
                    format!("loading TLS from {} and {}", cert.display(), key.display())
                })?,
        );
        tracing::info!(addr = %local, endpoint = %config.default.public_endpoint, client_certs = config.requests_client_certs(), "Lintel listening (HTTPS)");
        let reloadable = Reloadable {
            rustls: tls.clone(),
            cert,
            key,
            trust: trust.clone(),
        };
        let tls = RustlsAcceptor::new(tls)
            .handshake_timeout(config.server.handshake_timeout)
            .acceptor(axum_server::accept::NoDelayAcceptor::new());
        let acceptor = Capped::new(
            crate::transport::peer_cert::PeerCertAcceptor::new(tls, trust),
            crate::transport::conn_limit::Limits::of(&config),
        );
        reload_on_hangup(state.clone(), Some(reloadable))?;
        notify_ready();
        server.acceptor(acceptor).serve(make).await?;
    }
    // Nobody need wait for this node to read their changes any more.
    state.node.stop();
    if let Err(e) = crate::store::nodes::remove(&state.db, &state.node.id).await {
        tracing::warn!(error = %e, "removing this node's row failed; it is pruned within the hour");
    }
    Ok(())
}

/// Follow what other nodes change, every [`crate::cluster::BEAT`]: beat, then read revocation events (which also
/// stand for disabled users, deleted credentials and removed roles), notices of changes to what this node holds in
/// memory (`view_change`: names, flags, the catalog, grants) and the other nodes' beats. Key rotations are looked
/// for every 2 s; notices, jtis and the rows of long-gone nodes are pruned every 5 minutes.
async fn follow_changes(state: AppState) {
    let mut tick = tokio::time::interval(crate::cluster::BEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // What came before this node started is in its database reads already.
    let mut notices = None;
    let mut read_ok = true;
    for n in 0u64.. {
        tick.tick().await;
        if state.node.stopped() {
            return;
        }
        let began = state.clock.instant();
        // The count goes up only after a read that succeeded: a node waiting for this one to have read its change
        // counts two (src/cluster.rs).
        let beat =
            crate::store::nodes::beat(&state.db, &state.node.id, state.clock.now(), read_ok).await;
        if let Err(e) = &beat {
            crate::metrics::metrics().database_errors.inc();
            tracing::warn!(error = %e, "beating failed");
        }
        let read = follow_once(&state, &mut notices).await;
        if let Err(e) = &read {
            crate::metrics::metrics().database_errors.inc();
            tracing::warn!(error = %e, "reading the other nodes' changes failed");
        }
        read_ok = read.is_ok();
        if beat.is_ok() && read_ok {
            state.node.fresh(began);
        }
        if n % 8 == 7 {
            if let Err(e) = reload_keys(&state, false).await {
                tracing::warn!(error = %e, "token key reload failed");
            }
        }
        if n % 1200 == 3 {
            prune(&state).await;
        }
    }
}

/// One read of what the other nodes changed since the last: revocation events, notices and beats.
async fn follow_once(
    state: &AppState,
    notices: &mut Option<crate::store::follow::Cursor>,
) -> crate::error::DomainResult<()> {
    let (mut events, read) = state.revocations.unseen(&state.db).await?;
    // This node's own, settled when it made them: no news.
    events.retain(|e| !state.revocations.is_own(e));
    // Another node took something away: drop what this node derived from it, then count from now.
    let peers = if events.is_empty() {
        crate::store::nodes::all(&state.db).await
    } else {
        crate::cluster::take_in(state, &events).await.1
    };
    if let Ok(peers) = &peers {
        state.node.looked(state.clock.now(), peers);
    }
    state.revocations.read_up_to(read);
    peers?;
    let cursor = match notices {
        Some(c) => c,
        None => {
            // A little before the newest: a notice committed while this node started is read again (dropping
            // what a fresh node holds costs nothing).
            let last = crate::store::changes::last_id(&state.db).await?;
            notices.insert(crate::store::follow::Cursor::after((last - 200).max(0)))
        }
    };
    apply_changes(state, cursor).await
}

/// Drop notices every node has long read, the jtis of long-expired client assertions and the rows of nodes gone
/// for an hour.
async fn prune(state: &AppState) {
    let cutoff = state.clock.now() - chrono::Duration::hours(1);
    if let Err(e) = crate::store::changes::prune(&state.db, cutoff).await {
        tracing::warn!(error = %e, "pruning change notices failed");
    }
    if let Err(e) = crate::store::nodes::prune(&state.db, cutoff).await {
        tracing::warn!(error = %e, "pruning the rows of stopped nodes failed");
    }
    if state
        .config
        .oauth2_method(crate::oauth2::AuthMethod::PrivateKeyJwt)
    {
        if let Err(e) = crate::credential::prune_jtis(state).await {
            tracing::warn!(error = %e, "pruning client assertion jtis failed");
        }
    }
}

/// Drop what the notices the cursor has not seen make stale.
async fn apply_changes(
    state: &AppState,
    cursor: &mut crate::store::follow::Cursor,
) -> crate::error::DomainResult<()> {
    const PAGE: u64 = 1000;
    loop {
        let rows = crate::store::changes::newer(&state.db, cursor, PAGE).await?;
        let page = rows.len() as u64;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        cursor.saw(&ids);
        for row in rows {
            state
                .view
                .apply(&crate::view::Change::of(&row.kind, row.item_id));
        }
        if page < PAGE {
            cursor.tick();
            return Ok(());
        }
    }
}

/// Tell the other nodes what this node changed of what they hold in memory, as soon as it changed it. A database
/// that does not take the notices keeps them queued (bounded) for the next try.
async fn announce_changes(state: AppState) {
    loop {
        state.view.announcing.notified().await;
        let changes = state.view.take_announcements();
        if changes.is_empty() {
            continue;
        }
        let notices: Vec<_> = changes.iter().map(crate::view::Change::parts).collect();
        if let Err(e) = crate::store::changes::record(&state.db, &notices, state.clock.now()).await
        {
            tracing::warn!(error = %e, "announcing changes to the other nodes failed; trying again");
            state.view.requeue(changes);
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    }
}

/// Write credentials' last uses behind the token path, and refresh the credential gauges once a minute.
async fn write_usage(state: AppState) {
    let mut tick = tokio::time::interval(state.config.auth.app_cred_usage_flush);
    let mut writer = crate::credential::usage::Writer::default();
    let mut measured: Option<std::time::Instant> = None;
    loop {
        tick.tick().await;
        if let Err(e) = writer.flush(&state).await {
            tracing::warn!(error = %e, "writing credentials' last use failed; it is retried");
        }
        let now = state.clock.instant();
        if measured.is_none_or(|t| now.duration_since(t) >= std::time::Duration::from_secs(60)) {
            measured = Some(now);
            state.quotas.report();
            if let Err(e) = crate::credential::usage::measure(&state).await {
                tracing::warn!(error = %e, "counting application credentials for the metrics failed");
            }
        }
    }
}

/// Log, once per interval, how many throttled refusals the access log counted instead of logging.
async fn summarise_throttled(state: AppState) {
    let mut tick = tokio::time::interval(crate::access_log::INTERVAL);
    loop {
        tick.tick().await;
        state.throttled_log().report(state.clock.instant());
        state.audit.sweep_throttled(state.clock.now());
    }
}

/// Load the key ring again when its keys changed (or always, when `force`); the old ring stays on any error.
async fn reload_keys(state: &AppState, force: bool) -> anyhow::Result<()> {
    let ids = key_store::ids(&state.config, &state.db).await?;
    if !force && ids == state.tokens.key_ids() {
        return Ok(());
    }
    let ring = key_store::load(&state.config, &state.db).await?;
    tracing::info!(keys = ?ring.ids, "token keys reloaded");
    state.tokens.replace(ring);
    // A retired key's tokens must stop validating now, not when their cached validations age out.
    state.validations.clear();
    Ok(())
}

/// On SIGHUP: reload the TLS certificate and key (new handshakes use them, open connections carry on) and the
/// token keys. The handler is installed before READY=1, so a reload right after start never meets SIGHUP's
/// default action (terminate).
fn reload_on_hangup(state: AppState, tls: Option<Reloadable>) -> anyhow::Result<()> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            reload(&state, &tls).await;
        }
    });
    Ok(())
}

/// The listener's session ticketer, when `[tls] session_tickets` is on.
fn tickets(state: &AppState) -> Option<std::sync::Arc<dyn rustls::server::ProducesTickets>> {
    state
        .config
        .server
        .session_tickets
        .then(|| std::sync::Arc::new(crate::transport::tickets::Tickets(state.clone())) as _)
}

/// What SIGHUP reloads of the TLS listener: certificate, key and client CAs.
struct Reloadable {
    rustls: RustlsConfig,
    cert: PathBuf,
    key: PathBuf,
    trust: crate::transport::mtls::Trust,
}

async fn reload(state: &AppState, tls: &Option<Reloadable>) {
    // The audit file's path is opened again before its next event (a rotation that copied the file).
    state.audit.reopen();
    if let Some(t) = tls {
        let config = state.config.clone();
        let (cert, key, trust) = (t.cert.clone(), t.key.clone(), t.trust.clone());
        let tickets = tickets(state);
        // File reads off the runtime.
        let loaded = tokio::task::spawn_blocking(move || {
            crate::transport::mtls::server_config(&config, &cert, &key, &trust, tickets)
        })
        .await
        .map_err(anyhow::Error::from)
        .and_then(|r| r);
        match loaded {
            Ok(server) => {
                t.rustls.reload_from_config(server);
                tracing::info!(cert = %t.cert.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, "TLS reload failed: still serving the previous certificate");
            }
        }
    }
    if let Err(e) = reload_keys(state, true).await {
        tracing::error!(error = %e, "token key reload failed: still using the previous keys");
    }
}

/// Tell systemd we are ready (`Type=notify`) and feed its watchdog; both do nothing without `NOTIFY_SOCKET`.
fn notify_ready() {
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!(error = %e, "could not notify systemd");
    }
    if let Some(timeout) = sd_notify::watchdog_enabled() {
        tokio::spawn(async move {
            // Half the timeout, as sd_watchdog_enabled(3) advises; a stalled runtime stops the pings.
            let mut tick = tokio::time::interval(timeout / 2);
            loop {
                tick.tick().await;
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
        });
    }
}

/// Route `<prefix>/...` as `/...` (the root paths keep working too).
fn strip_prefix<B>(
    mut req: axum::http::Request<B>,
    prefix: Option<&str>,
) -> axum::http::Request<B> {
    let Some(prefix) = prefix else { return req };
    let path = req.uri().path();
    let rest = match path.strip_prefix(prefix) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => return req,
    };
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = format!("{rest}{query}").parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// The Prometheus listener: `GET /metrics` only, plain HTTP, on its own address.
async fn serve_metrics(listener: tokio::net::TcpListener, state: AppState) {
    // A separate listener, not part of the API (or its document).
    #[allow(clippy::disallowed_methods)]
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let state = state.clone();
            async move {
                let m = crate::metrics::metrics();
                m.hash_queue.set(state.hasher.queue_depth() as i64);
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    m.render(),
                )
            }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "metrics listener failed");
    }
}

fn tune(
    b: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    config: &Config,
) {
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.server.header_read_timeout)
        .max_buf_size(config.server.max_header_size.max(8192));
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(config.server.max_header_size as u32)
        .max_concurrent_streams(128);
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
