//! The load generator: N keep-alive HTTPS connections, each sending its next request as soon as the last answered.
//!
//! Our own rather than wrk or oha: the scenarios need a distinct body per request (cold clients), source addresses
//! bound per connection (the flood from many 127.0.0.x), two workloads at once in one process, and p99.9, and this
//! needs no package installed on the machine.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;

/// Builds the `i`-th request of connection `conn`; `None` ends that connection's work early.
pub type MakeRequest = Arc<dyn Fn(usize, u64) -> Option<Request<Full<Bytes>>> + Send + Sync>;

/// One workload.
#[derive(Clone)]
pub struct Load {
    /// Keep-alive connections.
    pub connections: usize,
    /// How long to run.
    pub duration: Duration,
    /// Source addresses to bind, round-robin over connections (empty: the kernel's choice).
    pub sources: Vec<IpAddr>,
    /// The requests.
    pub make: MakeRequest,
    /// Which statuses count as the expected answer (anything else is an error).
    pub expected: fn(u16) -> bool,
    /// A new connection (TCP and TLS) for every request, its set-up counted in the latency: what a cron job or a
    /// `curl` in a script costs. Whether TLS resumes a session is the client configuration's choice.
    pub fresh: bool,
    /// Keep the time of every expected answer, for [`Outcome::longest_gap`] (a failover run).
    pub timeline: bool,
}

/// What one workload measured.
pub struct Outcome {
    /// Latency of expected answers, in microseconds.
    pub latency: Histogram<u64>,
    /// Answers counted per status.
    pub statuses: BTreeMap<u16, u64>,
    /// Unexpected statuses plus connection failures.
    pub errors: u64,
    /// Wall time the workload ran.
    pub elapsed: Duration,
    /// When each expected answer came, in ms since the start (only with [`Load::timeline`]).
    pub timeline: Vec<u32>,
}

impl Outcome {
    /// Requests answered per second (any status).
    pub fn rate(&self) -> f64 {
        self.answered() as f64 / self.elapsed.as_secs_f64()
    }

    /// Requests answered, any status.
    pub fn answered(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// A latency quantile in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// The slowest expected answer, in milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.latency.max() as f64 / 1000.0
    }

    /// The longest time no request got its expected answer (from the start, between answers, to the end).
    pub fn longest_gap(&self) -> Duration {
        let mut times = self.timeline.clone();
        times.sort_unstable();
        let end = self.elapsed.as_millis() as u32;
        let mut last = 0;
        let mut longest = 0;
        for t in times.into_iter().chain([end]) {
            longest = longest.max(t.saturating_sub(last));
            last = t;
        }
        Duration::from_millis(u64::from(longest))
    }

    /// Add another run of the same workload (latencies, statuses, errors and time).
    pub fn merge(&mut self, other: Outcome) {
        self.latency.add(&other.latency).ok();
        for (s, n) in other.statuses {
            *self.statuses.entry(s).or_default() += n;
        }
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.timeline.extend(other.timeline);
    }
}

/// A TLS client configuration trusting exactly the server's certificate, that never resumes a session: every
/// handshake is a full one.
pub fn tls_config_without_resumption(cert_pem: &[u8]) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut config = Arc::unwrap_or_clone(tls_config(cert_pem)?);
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// A TLS client configuration trusting exactly the server's certificate (resuming sessions, as rustls does by
/// default).
pub fn tls_config(cert_pem: &[u8]) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &cert_pem[..]) {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

struct ConnResult {
    latency: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    timeline: Vec<u32>,
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 60 s at 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|_| unreachable!())
}

/// Run a workload against `target` and merge what every connection saw.
pub async fn run(target: SocketAddr, tls: Arc<rustls::ClientConfig>, load: Load) -> Outcome {
    let start = Instant::now();
    let deadline = start + load.duration;
    let mut tasks = Vec::new();
    for conn in 0..load.connections {
        let source = (!load.sources.is_empty()).then(|| load.sources[conn % load.sources.len()]);
        let (tls, make) = (tls.clone(), load.make.clone());
        let how = How {
            expected: load.expected,
            fresh: load.fresh,
            timeline: load.timeline.then_some(start),
        };
        tasks.push(tokio::spawn(async move {
            connection(target, source, tls, make, how, conn, deadline).await
        }));
    }
    let mut out = Outcome {
        latency: histogram(),
        statuses: BTreeMap::new(),
        errors: 0,
        elapsed: Duration::ZERO,
        timeline: Vec::new(),
    };
    for t in tasks {
        if let Ok(r) = t.await {
            out.latency.add(&r.latency).ok();
            for (s, n) in r.statuses {
                *out.statuses.entry(s).or_default() += n;
            }
            out.errors += r.errors;
            out.timeline.extend(r.timeline);
        } else {
            out.errors += 1;
        }
    }
    out.elapsed = start
        .elapsed()
        .min(load.duration.max(Duration::from_millis(1)));
    out
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(
    target: SocketAddr,
    source: Option<IpAddr>,
    tls: &Arc<rustls::ClientConfig>,
) -> anyhow::Result<Sender> {
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let tcp = socket.connect(target).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("localhost")?;
    let stream = TlsConnector::from(tls.clone()).connect(name, tcp).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// How a connection judges and records its answers.
struct How {
    expected: fn(u16) -> bool,
    fresh: bool,
    /// The workload's start, when every expected answer's time is kept.
    timeline: Option<Instant>,
}

async fn connection(
    target: SocketAddr,
    source: Option<IpAddr>,
    tls: Arc<rustls::ClientConfig>,
    make: MakeRequest,
    how: How,
    conn: usize,
    deadline: Instant,
) -> ConnResult {
    let How {
        expected,
        fresh,
        timeline,
    } = how;
    let mut r = ConnResult {
        latency: histogram(),
        statuses: BTreeMap::new(),
        errors: 0,
        timeline: Vec::new(),
    };
    let mut sender: Option<Sender> = None;
    let mut i = 0u64;
    while Instant::now() < deadline {
        let begun = Instant::now();
        let s = match sender.as_mut() {
            Some(s) => s,
            None => match connect(target, source, &tls).await {
                Ok(s) => sender.insert(s),
                Err(_) => {
                    r.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let Some(req) = make(conn, i) else { break };
        i += 1;
        let sent = if fresh { begun } else { Instant::now() };
        let answer = async {
            let resp = s.send_request(req).await?;
            let status = resp.status().as_u16();
            let closes = resp
                .headers()
                .get(hyper::header::CONNECTION)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
            resp.into_body().collect().await?;
            anyhow::Ok((status, closes))
        };
        match tokio::time::timeout(Duration::from_secs(30), answer).await {
            Ok(Ok((status, closes))) => {
                *r.statuses.entry(status).or_default() += 1;
                if expected(status) {
                    let us = sent.elapsed().as_micros().max(1) as u64;
                    r.latency.saturating_record(us);
                    if let Some(start) = timeline {
                        r.timeline.push(start.elapsed().as_millis() as u32);
                    }
                } else {
                    r.errors += 1;
                }
                if closes || fresh {
                    sender = None;
                }
            }
            _ => {
                r.errors += 1;
                sender = None;
            }
        }
    }
    r
}

/// One request on a fresh connection, for setup: status, headers and body.
pub async fn call(
    target: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    req: Request<Full<Bytes>>,
) -> anyhow::Result<(u16, hyper::HeaderMap, Bytes)> {
    let mut sender = connect(target, None, tls).await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, headers, body))
}
