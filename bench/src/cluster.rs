//! `--cluster`: the scenarios against one node of a running cluster (`scripts/cluster.sh up`) and through its
//! HAProxy front (three nodes), in one run and one table of ratios; then the failover gaps: the longest time no
//! request succeeded while a Lintel node, and then the Galera writer, was killed with SIGKILL mid-run.
//!
//! On one machine the three nodes, the database nodes, HAProxy and the load generator share its cores: the
//! absolute figures say little, the ratio of three nodes to one on the same run and the gaps in ms say more.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use crate::load::{self, Load, Outcome};
use crate::report::Row;
use crate::scenarios;
use crate::server::Server;
use crate::setup::Fixture;
use crate::Sizes;

/// The scenarios compared (the cluster's share of today's set).
const SCENARIOS: &[&str] = &[
    "issue-hot",
    "issue-cold",
    "validate",
    "issue-fresh-connection",
];

/// What `scripts/cluster.sh env` says of the running cluster.
struct Cluster {
    dir: PathBuf,
    cert: Vec<u8>,
    password: String,
    backend: String,
    script: PathBuf,
}

impl Cluster {
    fn from_env() -> anyhow::Result<Cluster> {
        let var = |k: &str| {
            std::env::var(k)
                .with_context(|| format!("{k} is not set (scripts/bench.sh --cluster sets it)"))
        };
        let dir = PathBuf::from(var("LINTEL_CLUSTER_DIR")?);
        let cert = std::fs::read(var("LINTEL_CLUSTER_CACERT")?)?;
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        Ok(Cluster {
            dir,
            cert,
            password: var("LINTEL_CLUSTER_ADMIN_PASSWORD")?,
            backend: var("LINTEL_CLUSTER_BACKEND")?,
            script: repo.join("scripts/cluster.sh"),
        })
    }

    fn pid(&self, what: &str) -> anyhow::Result<u32> {
        let file = match what {
            w if w.starts_with("lintel") => self.dir.join(w).join("serve.pid"),
            w => self.dir.join(w).join("mysqld.pid"),
        };
        let text = std::fs::read_to_string(&file).with_context(|| format!("{}", file.display()))?;
        Ok(text.trim().parse()?)
    }

    /// One node alone (`n` = 1..3), or the front (0), measured with the CPU of the nodes behind it.
    fn server(&self, n: u16) -> anyhow::Result<Server> {
        let nodes: Vec<u32> = if n == 0 {
            (1..=3)
                .map(|i| self.pid(&format!("lintel{i}")))
                .collect::<anyhow::Result<_>>()?
        } else {
            vec![self.pid(&format!("lintel{n}"))?]
        };
        Ok(Server::external(
            self.dir.join("lintel1/lintel.conf"),
            format!("127.0.0.1:{}", 5440 + n).parse()?,
            self.cert.clone(),
            self.password.clone(),
            nodes,
        ))
    }

    /// Start a killed node again and wait until it serves (or is Synced and, the first Galera node, HAProxy's
    /// writer again: the next run is to kill the writer, not a backup).
    fn start(&self, what: &str) -> anyhow::Result<()> {
        let out = Command::new(&self.script)
            .args(["start", what])
            .env("LINTEL_CLUSTER_DIR", &self.dir)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "scripts/cluster.sh start {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if what == "galera1" {
            for _ in 0..100 {
                let writer = Command::new("mariadb")
                    .args([
                        "--no-defaults",
                        "-uroot",
                        "-h127.0.0.1",
                        "-P3330",
                        "-N",
                        "-B",
                    ])
                    .args(["-e", "SELECT @@wsrep_node_name"])
                    .output()?;
                if String::from_utf8_lossy(&writer.stdout).trim() == "galera1" {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            anyhow::bail!("HAProxy did not make galera1 its writer again within 20 s");
        }
        Ok(())
    }
}

/// Run the comparison and the failover runs; the table.
pub async fn run(sizes: Sizes) -> anyhow::Result<(String, bool)> {
    let c = Cluster::from_env()?;
    let front = c.server(0)?;
    let f = Fixture::create(&front, sizes, true)
        .await
        .context("setting up credentials")?;
    let only: Vec<String> = SCENARIOS.iter().map(|s| (*s).to_string()).collect();
    let one = scenarios::main(&c.server(1)?, &f, sizes, &only).await?;
    let three = scenarios::main(&front, &f, sizes, &only).await?;
    let mut failed = false;
    let mut out = format!(
        "Cluster ({}): one node alone vs three nodes behind HAProxy, same run, load generator on the same machine\n\n",
        c.backend
    );
    let _ = writeln!(
        out,
        "| scenario | one node req/s | p99 ms | three nodes req/s | p99 ms | ÷ one node | errors |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for (a, b) in one.iter().zip(&three) {
        failed |= a.outcome.errors > 0 || b.outcome.errors > 0 || b.outcome.answered() == 0;
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} | {} |",
            a.name,
            a.outcome.rate(),
            a.outcome.ms(0.99),
            b.outcome.rate(),
            b.outcome.ms(0.99),
            b.outcome.rate() / a.outcome.rate(),
            a.outcome.errors + b.outcome.errors
        );
    }

    let _ = writeln!(
        out,
        "\n| fault mid-run (SIGKILL) | workload | failover gap ms | failed requests | req/s |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|");
    let runs: [(&str, &str, &str); 3] = [
        ("a Lintel node", "lintel2", "issue-hot"),
        ("the Galera writer", "galera1", "issue-hot"),
        ("the Galera writer", "galera1", "create credential"),
    ];
    for (fault, victim, workload) in runs {
        if victim.starts_with("galera") && c.backend != "galera" {
            continue;
        }
        let make = if workload == "issue-hot" {
            scenarios::hot(&f)
        } else {
            create(&f)
        };
        let l = Load {
            timeline: true,
            duration: sizes.duration.max(Duration::from_secs(6)),
            ..scenarios::load(sizes, make)
        };
        let tls = load::tls_config(&front.cert)?;
        let third = l.duration / 3;
        let running = load::run(front.addr, tls, l);
        let killing = async {
            tokio::time::sleep(third).await;
            // kill(1) off the runtime's threads, which drive the load meanwhile.
            let pid = c.pid(victim)?;
            tokio::task::spawn_blocking(move || {
                let killed = Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status()?;
                anyhow::ensure!(killed.success(), "kill -9 {pid}");
                Ok(())
            })
            .await?
        };
        let (outcome, killed): (Outcome, _) = tokio::join!(running, killing);
        killed?;
        c.start(victim)?;
        let row = Row::new(workload, outcome, 0.0, 0.0);
        let _ = writeln!(
            out,
            "| {fault} | {workload} | {} | {} | {:.0} |",
            row.outcome.longest_gap().as_millis(),
            row.outcome.errors,
            row.outcome.rate()
        );
    }
    Ok((out, failed))
}

/// `POST /v3/users/{id}/application_credentials`, a new name each time: a write on every request (and an argon2
/// hash of the new secret).
fn create(f: &Fixture) -> load::MakeRequest {
    let path = format!("/v3/users/{}/application_credentials", f.owner.user_id);
    let token = f.admin_token.clone();
    std::sync::Arc::new(move |conn, i| {
        let body = serde_json::json!({"application_credential": {
            "name": format!("failover-{conn}-{i}-{}", rand::random::<u32>())}});
        Some(crate::setup::json_request(
            "POST",
            &path,
            Some(&token),
            body,
        ))
    })
}
