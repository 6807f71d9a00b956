//! Starting the service: state, TLS (given or self-signed), the HTTPS listener, background sync, shutdown.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::Handle;
use hyper_util::rt::TokioTimer;

use crate::config::Config;
use crate::conn_limit::Capped;
use crate::db::Db;
use crate::state::AppState;
use crate::token::{keys, KeyRing, TokenCodec};

/// How often each node picks up revocation events written by other nodes.
const REVOCATION_SYNC: Duration = Duration::from_secs(2);

/// Install rustls' process-wide crypto provider (ring) once.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Build the application state from configuration: database (already migrated) and key ring.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let db = Db::connect(&config)
        .await
        .with_context(|| "connecting to the database")?;
    if !db.is_migrated().await? {
        bail!("the database schema is not up to date: run `lintel db-sync` first");
    }
    if keys::setup(&config.key_repository)? {
        tracing::warn!(path = %config.key_repository.display(), "no Fernet keys found: created a new key repository");
    }
    let ring = KeyRing::load(&config.key_repository)?;
    let state = AppState::new(config, db, TokenCodec::new(ring));
    state.revocations.sync(&state.db.conn).await?;
    Ok(state)
}

/// Certificate and key paths: configured ones, or a self-signed pair for localhost made in `data_dir/tls`.
pub fn tls_files(config: &Config) -> anyhow::Result<(PathBuf, PathBuf)> {
    if let Some((c, k)) = &config.tls_files {
        return Ok((c.clone(), k.clone()));
    }
    let dir = config.data_dir.join("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let generated = rcgen::generate_simple_self_signed(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])?;
    write_private(&key, generated.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(&cert, generated.cert.pem())
        .with_context(|| format!("writing {}", cert.display()))?;
    tracing::warn!(cert = %cert.display(), "no [tls] configured: generated a self-signed certificate for localhost; clients need it as --os-cacert / OS_CACERT");
    Ok((cert, key))
}

/// Write a file readable by its owner only.
pub fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
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

/// Bind the configured address and serve until SIGTERM or SIGINT, then drain in-flight requests.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let bind = state.config.bind;
    let listener = std::net::TcpListener::bind(bind).with_context(|| format!("binding {bind}"))?;
    serve_on(state, listener).await
}

/// Serve on an already bound listener (tests bind port 0 and read the port back).
pub async fn serve_on(state: AppState, listener: std::net::TcpListener) -> anyhow::Result<()> {
    let config = state.config.clone();
    let app = crate::api::router(state.clone());

    let sync_state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REVOCATION_SYNC);
        loop {
            tick.tick().await;
            match sync_state.revocations.sync(&sync_state.db.conn).await {
                // Another node took something away: drop what this node derived from it.
                Ok(n) if n > 0 => sync_state.view.forget_authorizations(),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "revocation sync failed"),
            }
        }
    });

    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let mut server = axum_server::from_tcp(listener)?;
    let handle = Handle::new();
    let shutdown = handle.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: draining in-flight requests");
        shutdown.graceful_shutdown(Some(Duration::from_secs(30)));
    });
    tune(server.http_builder(), &config);
    let server = server.handle(handle);
    let make = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    if config.insecure_http {
        tracing::warn!(addr = %local, "serving plain HTTP ([server] insecure_http = true): only behind a TLS-terminating proxy");
        let acceptor = Capped::new(
            axum_server::accept::NoDelayAcceptor::new(),
            config.max_connections,
        );
        server.acceptor(acceptor).serve(make).await?;
    } else {
        let (cert, key) = tls_files(&config)?;
        let tls = RustlsConfig::from_pem_file(&cert, &key)
            .await
            .with_context(|| {
                format!("loading TLS from {} and {}", cert.display(), key.display())
            })?;
        tracing::info!(addr = %local, endpoint = %config.public_endpoint, "Lintel listening (HTTPS)");
        let tls = RustlsAcceptor::new(tls)
            .handshake_timeout(config.handshake_timeout)
            .acceptor(axum_server::accept::NoDelayAcceptor::new());
        let acceptor = Capped::new(tls, config.max_connections);
        server.acceptor(acceptor).serve(make).await?;
    }
    Ok(())
}

fn tune(
    b: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    config: &Config,
) {
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(config.max_header_size.max(8192));
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(config.max_header_size as u32)
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
