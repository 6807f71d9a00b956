//! TLS session resumption with tickets sealed under keys derived from the shared token key repository: a client
//! resumes on another node, and across a key rotation, until the key that sealed its ticket is retired.

use std::sync::Arc;

use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::TestServer;

/// A client configuration trusting the nodes' shared certificate, resuming sessions as rustls does by default.
fn client(pem: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut &pem[..]) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}

/// One connection: its handshake, then a request answered in full (so the session tickets have arrived).
async fn connect(s: &TestServer, config: &Arc<rustls::ClientConfig>) -> rustls::HandshakeKind {
    let addr = s.base.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
        .unwrap();
    let kind = tls.get_ref().1.handshake_kind().unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    kind
}

/// The id of the key signing JWTs on `s`: it changes when the node has loaded a rotation.
async fn primary(s: &TestServer) -> String {
    let (_, _, jwks) = s.call(Method::GET, "/v3/OS-OAUTH2/jwks", None, None).await;
    jwks["keys"][0]["kid"].as_str().unwrap().to_string()
}

/// Rotate the shared repository and wait until both nodes use the new primary.
async fn rotate(a: &TestServer, b: &TestServer) {
    let before = primary(a).await;
    lintel::token::keys::rotate(&std::path::Path::new(&a.data_dir()).join("fernet-keys"), 3)
        .unwrap();
    for _ in 0..100 {
        if primary(a).await != before && primary(b).await != before {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the rotation was not picked up");
}

/// Two nodes as an operator runs them: the same keys, certificate and database; `extra` ends in `[tls]`. Returns
/// them and their certificate.
async fn two_nodes(extra: &str) -> (TestServer, TestServer, Vec<u8>) {
    let a = TestServer::start_with("sqlite", extra).await;
    let tls = format!("{}/tls", a.data_dir());
    let b = a
        .another_node(&format!(
            "{extra}cert_file = {tls}/cert.pem\nkey_file = {tls}/key.pem\n"
        ))
        .await;
    let pem = std::fs::read(format!("{tls}/cert.pem")).unwrap();
    (a, b, pem)
}

#[tokio::test]
async fn sessions_resume_on_another_node_and_across_a_rotation() {
    use rustls::HandshakeKind::{Full, Resumed};
    // JWT access tokens on, only so that each node's JWKS shows when it has loaded a rotation.
    let (a, b, pem) = two_nodes("[oauth2]\naccess_token_format = jwt\n[tls]\n").await;
    // Two clients, each with its own session cache.
    let (roaming, idle) = (client(&pem), client(&pem));
    assert_eq!(connect(&a, &roaming).await, Full);
    assert_eq!(connect(&a, &idle).await, Full);
    assert_eq!(
        connect(&b, &roaming).await,
        Resumed,
        "a ticket from node A resumes on node B"
    );
    rotate(&a, &b).await;
    assert_eq!(
        connect(&b, &roaming).await,
        Resumed,
        "a ticket sealed before the rotation"
    );
    assert_eq!(
        connect(&a, &roaming).await,
        Resumed,
        "and the one issued after it"
    );
    rotate(&a, &b).await;
    // `idle`'s tickets were sealed under the first primary, which the second rotation retired: a full handshake,
    // not an error.
    assert_eq!(
        connect(&a, &idle).await,
        Full,
        "a ticket whose key is retired"
    );
    assert_eq!(connect(&b, &roaming).await, Resumed);
    drop(b);
    a.stop().await;
}

#[tokio::test]
async fn without_tickets_each_node_resumes_only_its_own_sessions() {
    use rustls::HandshakeKind::{Full, Resumed};
    let (a, b, pem) = two_nodes("[tls]\nsession_tickets = false\n").await;
    let config = client(&pem);
    assert_eq!(connect(&a, &config).await, Full);
    assert_eq!(
        connect(&a, &config).await,
        Resumed,
        "node A's own session cache"
    );
    assert_eq!(
        connect(&b, &config).await,
        Full,
        "node B never saw the session"
    );
    drop(b);
    a.stop().await;
}
