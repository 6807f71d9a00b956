//! One HTTP/1.1 connection carrying several requests, spoken by hand over TLS so that a silently closed
//! connection shows as the failure it is for a keep-alive client (pooled clients would hide it by reconnecting).

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::common::TestServer;

async fn connect(s: &TestServer) -> TlsStream<TcpStream> {
    connect_with(s, "127.0.0.1", &[]).await.unwrap()
}

/// A TLS connection from a given loopback address, offering the given ALPN protocols; Err when the server closes
/// it before the handshake completes.
async fn connect_with(
    s: &TestServer,
    from: &str,
    alpn: &[&[u8]],
) -> std::io::Result<TlsStream<TcpStream>> {
    let pem = std::fs::read(format!("{}/tls/cert.pem", s.data_dir())).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &pem[..]) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let tcp = socket
        .connect(s.base.trim_start_matches("https://").parse().unwrap())
        .await?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// Read until the server closes the connection; how long that took, or None if it stayed open for `limit`.
async fn closed_within(
    conn: &mut TlsStream<TcpStream>,
    limit: std::time::Duration,
) -> Option<std::time::Duration> {
    #[allow(clippy::disallowed_methods)] // a real timeout is what is tested
    let started = std::time::Instant::now();
    let mut chunk = [0u8; 4096];
    let read_all = async {
        // Whatever the server sends first (HTTP/2 SETTINGS), then the end.
        while matches!(conn.read(&mut chunk).await, Ok(n) if n > 0) {}
    };
    tokio::time::timeout(limit, read_all).await.ok()?;
    Some(started.elapsed())
}

/// One response: its head (status line and headers, lower-cased) and body; `None` when the connection ended.
async fn response(conn: &mut TlsStream<TcpStream>) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), conn.read(&mut chunk))
            .await
            .expect("an answer within 10 s")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while buf.len() < head_end + length {
        let n = conn.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the body was cut off");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned();
    Some((head, body))
}

#[tokio::test]
async fn a_request_refused_before_its_body_is_read_keeps_the_connection_usable() {
    let s = TestServer::start("sqlite").await;
    let mut conn = connect(&s).await;
    let body = r#"{"project": {"name": "x"}}"#;
    // No token: refused before any handler reads the body. Like Python's http.client, the headers go first and
    // the body after them, so the refusal can be ready before the body has arrived.
    let refused = format!(
        "PATCH /v3/projects/p HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    for _ in 0..3 {
        conn.write_all(refused.as_bytes()).await.unwrap();
        conn.flush().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        conn.write_all(body.as_bytes()).await.unwrap();
        let (head, _) = response(&mut conn).await.expect("an answer");
        assert!(head.starts_with("http/1.1 401"), "{head}");
        assert!(!head.contains("connection: close"), "{head}");
    }
    conn.write_all(b"GET /v3 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let (head, body) = response(&mut conn)
        .await
        .expect("the same connection answers the next request");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(body.contains("v3.14"), "{body}");
    s.stop().await;
}

#[tokio::test]
async fn a_body_too_large_to_read_is_refused_with_connection_close() {
    let s = TestServer::start("sqlite").await;
    let token = s.admin_token().await;
    let limit = 114_688;
    // Keystone's envelope and 413 on /v3; RFC 6749's invalid_request on the token endpoint.
    for (path, status, format_key) in [
        ("/v3/users", "413", "\"error\":{"),
        (
            "/v3/OS-OAUTH2/token",
            "400",
            "\"error\":\"invalid_request\"",
        ),
    ] {
        let mut conn = connect(&s).await;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{{",
            limit + 1
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        let (head, body) = response(&mut conn).await.expect("an answer");
        assert!(
            head.starts_with(&format!("http/1.1 {status}")),
            "{path}: {head}"
        );
        assert!(head.contains("connection: close"), "{path}: {head}");
        assert!(body.contains(format_key), "{path}: {body}");
    }
    s.stop().await;
}

/// `idle_timeout = 1`, with the header timeout far longer, so that only the idle timeout can close a connection.
const IDLE: &str = "[server]\nidle_timeout = 1\nheader_read_timeout = 30\n";

#[tokio::test]
async fn a_connection_that_never_sends_a_request_is_closed_when_idle() {
    let s = TestServer::start_with("sqlite", IDLE).await;
    let mut conn = connect(&s).await;
    let took = closed_within(&mut conn, std::time::Duration::from_secs(5)).await;
    assert!(took.is_some(), "a silent TLS connection stayed open");
    s.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_its_last_answer() {
    let s = TestServer::start_with("sqlite", IDLE).await;
    let mut conn = connect(&s).await;
    conn.write_all(b"GET /v3 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = response(&mut conn).await.expect("an answer");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let took = closed_within(&mut conn, std::time::Duration::from_secs(5)).await;
    assert!(took.is_some(), "an idle keep-alive connection stayed open");
    s.stop().await;
}

#[tokio::test]
async fn idle_http2_connections_are_closed_with_or_without_the_preface() {
    let s = TestServer::start_with("sqlite", IDLE).await;
    for preface in [false, true] {
        let mut conn = connect_with(&s, "127.0.0.1", &[b"h2"]).await.unwrap();
        assert_eq!(conn.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        if preface {
            // The client preface and an empty SETTINGS frame, then nothing.
            conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
                .await
                .unwrap();
        }
        let took = closed_within(&mut conn, std::time::Duration::from_secs(5)).await;
        assert!(
            took.is_some(),
            "an idle HTTP/2 connection (preface: {preface}) stayed open"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn one_source_cannot_take_every_connection() {
    let s = TestServer::start_with("sqlite", "[server]\nmax_connections_per_source = 2\n").await;
    // From 127.0.0.3: the test server's own client holds pooled connections from 127.0.0.1.
    let _first = connect_with(&s, "127.0.0.3", &[]).await.unwrap();
    let _second = connect_with(&s, "127.0.0.3", &[]).await.unwrap();
    assert!(
        connect_with(&s, "127.0.0.3", &[]).await.is_err(),
        "a third connection from the same source was accepted"
    );
    let mut other = connect_with(&s, "127.0.0.2", &[])
        .await
        .expect("another source still gets in");
    other
        .write_all(b"GET /v3 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = response(&mut other).await.expect("an answer");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    s.stop().await;
}
