//! The server under test: a `lintel` process on a fresh database, and what /proc says about it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The bootstrap admin's password on the benchmark's throw-away database.
pub const ADMIN_PASSWORD: &str = "benchmark admin password";

/// A running `lintel serve`.
pub struct Server {
    /// The lintel binary.
    pub bin: PathBuf,
    /// Its configuration file.
    pub config: PathBuf,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its self-signed certificate (PEM).
    pub cert: Vec<u8>,
    /// The bootstrap admin's password.
    pub admin_password: String,
    child: Option<Child>,
    /// Processes measured with it that it did not start (a cluster's nodes).
    others: Vec<u32>,
}

/// Write a configuration for `url` in `dir`, run `db-sync` and `bootstrap`.
pub fn prepare(
    bin: &Path,
    dir: &Path,
    url: &str,
    extra: &str,
) -> anyhow::Result<(PathBuf, SocketAddr)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let config = dir.join("lintel.conf");
    std::fs::write(
        &config,
        format!(
            "[DEFAULT]\npublic_endpoint = https://127.0.0.1:{port}\ndata_dir = {}\n[database]\nconnection = {url}\n\
             max_pool_size = 16\n[server]\nbind = {addr}\n{extra}\n",
            dir.display()
        ),
    )?;
    run(bin, &config, &["db-sync"])?;
    let status = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .arg("bootstrap")
        .env("OS_BOOTSTRAP_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::null())
        .stderr(log_file(&config)?)
        .status()?;
    if !status.success() {
        bail!("lintel bootstrap failed: {status}\n{}", log_tail(&config));
    }
    Ok((config, addr))
}

/// The server's log file beside its configuration: kept out of the table, shown when something fails.
fn log_file(config: &Path) -> anyhow::Result<Stdio> {
    let path = config.with_file_name("lintel.log");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    Ok(Stdio::from(f))
}

/// The last lines of the server's log, for an error message.
pub fn log_tail(config: &Path) -> String {
    let text = std::fs::read_to_string(config.with_file_name("lintel.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn run(bin: &Path, config: &Path, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdout(Stdio::null())
        .stderr(log_file(config)?)
        .status()
        .with_context(|| format!("running {}", bin.display()))?;
    if !status.success() {
        bail!(
            "lintel {} failed: {status}\n{}",
            args.join(" "),
            log_tail(config)
        );
    }
    Ok(())
}

impl Server {
    /// Start `lintel serve` and wait until `/healthz` answers.
    pub async fn start(bin: &Path, config: &Path, addr: SocketAddr) -> anyhow::Result<Server> {
        let child = Command::new(bin)
            .arg("--config")
            .arg(config)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log_file(config)?)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let dir = config.parent().unwrap_or(Path::new("."));
        let cert_path = dir.join("tls").join("cert.pem");
        let mut server = Server {
            bin: bin.into(),
            config: config.into(),
            addr,
            cert: Vec::new(),
            admin_password: ADMIN_PASSWORD.into(),
            child: Some(child),
            others: Vec::new(),
        };
        let started = Instant::now();
        loop {
            if let Some(c) = server.child.as_mut() {
                if let Some(status) = c.try_wait()? {
                    bail!("lintel serve exited early: {status}\n{}", log_tail(config));
                }
            }
            // Ready means /healthz answers over TLS with the certificate in the data directory: a bare TCP
            // connect could reach another process that took the port, and a file read while it is written is
            // not the certificate the server presents.
            if let Ok(cert) = std::fs::read(&cert_path) {
                if healthy(addr, &cert).await {
                    server.cert = cert;
                    return Ok(server);
                }
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("lintel serve did not listen on {addr} within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Adopt a server process someone else started (a peer: the bare server, node-oidc-provider, Keystone's
    /// gunicorn), once it accepts connections on `addr`.
    pub async fn adopt(
        name: &str,
        child: Child,
        addr: SocketAddr,
        cert: Vec<u8>,
    ) -> anyhow::Result<Server> {
        let mut server = Server {
            bin: name.into(),
            config: PathBuf::new(),
            addr,
            cert,
            admin_password: ADMIN_PASSWORD.into(),
            child: Some(child),
            others: Vec::new(),
        };
        let started = Instant::now();
        loop {
            if let Some(c) = server.child.as_mut() {
                if let Some(status) = c.try_wait()? {
                    bail!("{name} exited early: {status}");
                }
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(server);
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("{name} did not listen on {addr} within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Servers someone else runs (a cluster's nodes, `processes` their PIDs), reached at `addr`; never stopped
    /// from here.
    pub fn external(
        config: PathBuf,
        addr: SocketAddr,
        cert: Vec<u8>,
        admin_password: String,
        processes: Vec<u32>,
    ) -> Server {
        Server {
            bin: PathBuf::new(),
            config,
            addr,
            cert,
            admin_password,
            child: None,
            others: processes,
        }
    }

    /// The server's process and every process under it (gunicorn's workers).
    fn pids(&self) -> Vec<u32> {
        let mut all: Vec<u32> = self.child.as_ref().map(Child::id).into_iter().collect();
        all.extend(&self.others);
        let mut i = 0;
        while i < all.len() {
            let pid = all[i];
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            all.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
            i += 1;
        }
        all
    }

    /// User + system CPU seconds the server (with its child processes) has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        let one = |pid: u32| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Fields after the parenthesised command name; utime and stime are the 12th and 13th of those.
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            (ticks(11) + ticks(12)) / clock_ticks()
        };
        self.pids().into_iter().map(one).sum()
    }

    /// Peak resident set size since the last [`Server::reset_peak`], in MiB (summed over its processes).
    pub fn peak_rss_mib(&self) -> f64 {
        let one = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map(|kb| kb / 1024.0)
                .unwrap_or(0.0)
        };
        self.pids().into_iter().map(one).sum()
    }

    /// Reset the kernel's peak-RSS mark so the next reading covers one scenario only.
    pub fn reset_peak(&self) {
        for pid in self.pids() {
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        }
    }

    /// Stop the server and anything it started (SIGKILL is fine: the benchmark's data is thrown away).
    pub fn stop(&mut self) {
        let workers = self.pids();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            for pid in workers.into_iter().skip(1) {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `GET /healthz` on `addr` answers 200 through a TLS session that trusts only `cert`.
async fn healthy(addr: SocketAddr, cert: &[u8]) -> bool {
    let Ok(tls) = crate::load::tls_config(cert) else {
        return false;
    };
    let req = hyper::Request::get("/healthz")
        .header(hyper::header::HOST, addr.to_string())
        .body(http_body_util::Full::new(bytes::Bytes::new()));
    let Ok(req) = req else { return false };
    let probe = crate::load::call(addr, &tls, req);
    matches!(
        tokio::time::timeout(Duration::from_secs(5), probe).await,
        Ok(Ok((200, _, _)))
    )
}

fn clock_ticks() -> f64 {
    // Linux reports /proc CPU times in USER_HZ, which is 100 on every architecture Linux ships.
    100.0
}
