//! The scenarios, back to back on one server, and the scale pairs on another.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use rand::Rng;

use crate::load::{self, Load, MakeRequest};
use crate::report::Row;
use crate::seed;
use crate::server::Server;
use crate::setup::{
    basic, oauth_token, token_request, Fixture, COLD, FILLER, FLOOD, SEEDED_SECRET,
};
use crate::Sizes;

fn get(path: &'static str, headers: &[(&'static str, &str)]) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method("GET")
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::new()))
        .unwrap_or_else(|_| unreachable!())
}

fn ok(status: u16) -> bool {
    (200..300).contains(&status)
}

/// What a flood of wrong secrets may be answered with: refused, slowed down, or shed.
fn refused(status: u16) -> bool {
    matches!(status, 401 | 429 | 503)
}

pub fn load(sizes: Sizes, make: MakeRequest) -> Load {
    Load {
        connections: sizes.connections,
        duration: sizes.duration,
        sources: Vec::new(),
        make,
        expected: ok,
        fresh: false,
        timeline: false,
    }
}

/// Run one workload and read the server's CPU and peak RSS around it.
async fn measure(srv: &Server, name: &str, l: Load) -> anyhow::Result<Row> {
    measure_with(srv, name, l, load::tls_config(&srv.cert)?).await
}

/// [`measure`] with a TLS client configuration of the caller's.
async fn measure_with(
    srv: &Server,
    name: &str,
    l: Load,
    tls: Arc<rustls::ClientConfig>,
) -> anyhow::Result<Row> {
    srv.reset_peak();
    let cpu = srv.cpu_seconds();
    let outcome = load::run(srv.addr, tls, l).await;
    let cpu = srv.cpu_seconds() - cpu;
    Ok(Row::new(name, outcome, cpu, srv.peak_rss_mib()))
}

pub fn hot(f: &Fixture) -> MakeRequest {
    let hot = f.hot.clone();
    Arc::new(move |conn, _| Some(token_request(&hot[conn % hot.len()])))
}

pub fn validate(f: &Fixture) -> MakeRequest {
    let (service, subjects) = (f.service_token.clone(), f.subjects.clone());
    Arc::new(move |conn, i| {
        let subject = &subjects[(conn + i as usize) % subjects.len()];
        Some(get(
            "/v3/auth/tokens",
            &[("x-auth-token", &service), ("x-subject-token", subject)],
        ))
    })
}

/// Each seeded cold credential once (shared by every run on the fixture), until they are used up.
pub fn cold(f: &Fixture, sizes: Sizes) -> MakeRequest {
    let next = f.cold_next.clone();
    let cold_count = sizes.cold;
    Arc::new(move |_, _| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        (i < cold_count).then(|| token_request(&basic(&seed::seeded_id(COLD, i), SEEDED_SECRET)))
    })
}

/// Every scenario on one server with the fixture's credentials.
pub async fn main(
    srv: &Server,
    f: &Fixture,
    sizes: Sizes,
    only: &[String],
) -> anyhow::Result<Vec<Row>> {
    let want = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let mut rows = Vec::new();
    let healthz: MakeRequest = Arc::new(|_, _| Some(get("/healthz", &[])));
    rows.push(measure(srv, "ceiling", load(sizes, healthz)).await?);
    if want("issue-hot") {
        rows.push(measure(srv, "issue-hot", load(sizes, hot(f))).await?);
    }

    if want("issue-cold") {
        rows.push(measure(srv, "issue-cold", load(sizes, cold(f, sizes))).await?);
    }
    // A new TLS connection per token, as cron jobs and scripts make them: full handshakes, then resumed ones.
    if want("issue-fresh-connection") {
        let l = Load {
            fresh: true,
            ..load(sizes, hot(f))
        };
        let tls = load::tls_config_without_resumption(&srv.cert)?;
        rows.push(measure_with(srv, "issue-fresh-connection", l, tls).await?);
    }
    if want("issue-resumed") {
        let l = Load {
            fresh: true,
            ..load(sizes, hot(f))
        };
        rows.push(measure(srv, "issue-resumed", l).await?);
    }
    if want("cold-burst") {
        rows.push(cold_burst(srv, sizes).await?);
    }
    if want("validate") {
        rows.push(measure(srv, "validate", load(sizes, validate(f))).await?);
    }

    let subjects = f.subjects.clone();
    let bearer: MakeRequest = Arc::new(move |conn, _| {
        let auth = format!("Bearer {}", subjects[conn % subjects.len()]);
        Some(get("/v3/auth/projects", &[("authorization", &auth)]))
    });
    if want("bearer-api") {
        rows.push(measure(srv, "bearer-api", load(sizes, bearer)).await?);
    }
    if !want("flood") {
        return Ok(rows);
    }

    // The flood: wrong secrets for many credential ids from many loopback addresses, beside the hot clients.
    let flood_count = sizes.cold;
    let guess: MakeRequest = Arc::new(move |_, _| {
        let i = rand::thread_rng().gen_range(0..flood_count);
        Some(token_request(&basic(
            &seed::seeded_id(FLOOD, i),
            "not-the-secret",
        )))
    });
    let sources: Vec<IpAddr> = (2..=250).map(|n| IpAddr::from([127, 0, 0, n])).collect();
    let flood = Load {
        sources,
        expected: refused,
        ..load(sizes, guess)
    };
    let tls = load::tls_config(&srv.cert)?;
    srv.reset_peak();
    let cpu = srv.cpu_seconds();
    let (h, b) = tokio::join!(
        load::run(srv.addr, tls.clone(), load(sizes, hot(f))),
        load::run(srv.addr, tls, flood)
    );
    let cpu = srv.cpu_seconds() - cpu;
    let rss = srv.peak_rss_mib();
    // The server's CPU is shared between both workloads: each row shows the cost per request of the two together.
    let total = (h.answered() + b.answered()).max(1) as f64;
    let (hn, bn) = (h.answered() as f64 / total, b.answered() as f64 / total);
    rows.push(Row::new("flood: issue-hot", h, cpu * hn, rss));
    rows.push(Row::new("flood: bad secrets", b, cpu * bn, rss));
    Ok(rows)
}

/// Bursts of every connection presenting one fresh credential's secret at once (a client's pool starting up, a
/// restart of every node): they share one argon2 verification, so the slowest answer should take about one
/// verification, not a queue of them. Uses the seeded cold credentials from the top, which `issue-cold` (counting
/// up) does not reach.
async fn cold_burst(srv: &Server, sizes: Sizes) -> anyhow::Result<Row> {
    let tls = load::tls_config(&srv.cert)?;
    let mut next = sizes.cold;
    let mut fresh = || {
        next -= 1;
        basic(&seed::seeded_id(COLD, next), SEEDED_SECRET)
    };
    // The yardstick: one first use alone (the median of five), connection set-up included.
    let mut lone = Vec::new();
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let (status, _, _) = load::call(srv.addr, &tls, token_request(&fresh())).await?;
        anyhow::ensure!(ok(status), "cold-burst: a lone first use got {status}");
        lone.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    lone.sort_by(f64::total_cmp);
    let one = lone[lone.len() / 2];
    let bursts = if sizes.duration.as_secs() >= 5 { 20 } else { 3 };
    srv.reset_peak();
    let cpu = srv.cpu_seconds();
    let mut total: Option<load::Outcome> = None;
    for _ in 0..bursts {
        let auth = fresh();
        let first_only: MakeRequest = Arc::new(move |_, i| (i == 0).then(|| token_request(&auth)));
        let burst = Load {
            duration: std::time::Duration::from_secs(30),
            ..load(sizes, first_only)
        };
        let outcome = load::run(srv.addr, tls.clone(), burst).await;
        match total.as_mut() {
            Some(t) => t.merge(outcome),
            None => total = Some(outcome),
        }
    }
    let cpu = srv.cpu_seconds() - cpu;
    let outcome = total.ok_or_else(|| anyhow::anyhow!("cold-burst ran no burst"))?;
    let max = outcome.max_ms();
    let mut row = Row::new("cold-burst", outcome, cpu, srv.peak_rss_mib());
    row.note = Some(format!(
        "{bursts} bursts of {} connections; slowest answer {max:.1} ms ÷ one lone first use {one:.1} ms = {:.2}",
        sizes.connections,
        max / one
    ));
    Ok(row)
}

/// Restart the server (caches cold, revocation events loaded afresh) and warm the hot clients once each.
async fn restart(srv: Server, f: &Fixture) -> anyhow::Result<Server> {
    let (bin, config, addr) = (srv.bin.clone(), srv.config.clone(), srv.addr);
    drop(srv);
    let srv = Server::start(&bin, &config, addr).await?;
    let tls = load::tls_config(&srv.cert)?;
    for h in &f.hot {
        oauth_token(&srv, &tls, h).await?;
    }
    Ok(srv)
}

/// `issue-hot` and `validate` with few and with many credentials, then `validate` with many revocation events.
pub async fn scale(srv: Server, sizes: Sizes) -> anyhow::Result<Vec<Row>> {
    let f = Fixture::create(&srv, sizes, false).await?;
    let db = seed::connect(&srv.config).await?;
    let hash = lintel::crypto::hashing::hash_blocking(SEEDED_SECRET)?;
    let (few, many) = sizes.scale_creds;
    // The fixture made five credentials through the API.
    let made = 5;
    seed::credentials(&db, &f.owner, &hash, FILLER, 0, few - made).await?;
    let mut rows = Vec::new();
    let srv = restart(srv, &f).await?;
    rows.push(
        measure(
            &srv,
            &format!("issue-hot, {} creds", human(few)),
            load(sizes, hot(&f)),
        )
        .await?,
    );
    rows.push(
        measure(
            &srv,
            &format!("validate, {} creds", human(few)),
            load(sizes, validate(&f)),
        )
        .await?,
    );

    eprintln!("lintel-bench: seeding {} credentials", human(many));
    seed::credentials(&db, &f.owner, &hash, FILLER, few - made, many - made).await?;
    let srv = restart(srv, &f).await?;
    rows.push(
        measure(
            &srv,
            &format!("issue-hot, {} creds", human(many)),
            load(sizes, hot(&f)),
        )
        .await?,
    );
    rows.push(
        measure(
            &srv,
            &format!("validate, {} creds", human(many)),
            load(sizes, validate(&f)),
        )
        .await?,
    );

    seed::revocations(&db, sizes.scale_events).await?;
    let srv = restart(srv, &f).await?;
    let name = format!("validate, {} revocations", human(sizes.scale_events));
    rows.push(measure(&srv, &name, load(sizes, validate(&f))).await?);
    db.close().await.ok();
    drop(srv);
    Ok(rows)
}

fn human(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}
