//! `lintel-bare`: axum + rustls answering every request with one fixed JSON body — no routing, no database, no
//! logging. It is the machine's limit in `lintel-bench --peers`: what an HTTPS server on this stack can do at all.
//!
//!     lintel-bare --cert cert.pem --key key.pem --bind 127.0.0.1:8443

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::http::header;
use axum::response::IntoResponse;
use clap::Parser;

/// Command-line options.
#[derive(Parser)]
struct Args {
    /// PEM certificate chain.
    #[arg(long)]
    cert: PathBuf,
    /// PEM private key.
    #[arg(long)]
    key: PathBuf,
    /// Address to listen on.
    #[arg(long)]
    bind: SocketAddr,
}

/// About the size of an OAuth 2.0 token response.
const BODY: &str = r#"{"access_token":"gAAAAABpL0bareBodyOfAboutTheSizeOfAFernetTokenAnswerxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","token_type":"Bearer","expires_in":3600}"#;

async fn fixed() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], BODY)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = rustls_pemfile::certs(&mut std::fs::read(&args.cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .context("reading the certificate")?;
    let key = rustls_pemfile::private_key(&mut std::fs::read(&args.key)?.as_slice())?
        .context("no private key")?;
    // As Lintel's listener: ring, TLS 1.2 and 1.3, rustls's default session cache, ALPN h2 and http/1.1.
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls));
    let app = axum::Router::new().fallback(fixed);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            // As Lintel's: Nagle off, or a response and the close of a short connection wait on delayed ACKs.
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config)
                .acceptor(axum_server::accept::NoDelayAcceptor::new());
            axum_server::bind(args.bind)
                .acceptor(acceptor)
                .serve(app.into_make_service())
                .await
        })?;
    Ok(())
}
