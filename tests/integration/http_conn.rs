//! One HTTP/1.1 connection carrying several requests, spoken by hand over TLS so that a silently closed
//! connection shows as the failure it is for a keep-alive client (pooled clients would hide it by reconnecting).

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::common::TestServer;

async fn connect(s: &TestServer) -> TlsStream<TcpStream> {
    let pem = std::fs::read(format!("{}/tls/cert.pem", s.data_dir())).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &pem[..]) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(s.base.trim_start_matches("https://"))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
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
