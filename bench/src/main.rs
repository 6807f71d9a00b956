//! `lintel-bench`: start Lintel on a fresh database, seed it, drive each scenario over HTTPS and print one table
//! whose ratios (each scenario ÷ `ceiling`) are taken in the same run, so they hold on a noisy machine.

// The load generator measures real time; only the service's decisions read lintel::clock.
#![allow(clippy::disallowed_methods)]

mod cluster;
mod load;
mod peers;
mod report;
mod scenarios;
mod seed;
mod server;
mod setup;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};

use server::Server;

/// Command-line options.
#[derive(Parser, Clone)]
#[command(about = "Benchmark Lintel's token issuance and validation against its own ceiling")]
pub struct Args {
    /// The lintel binary to run (default: beside this one).
    #[arg(long)]
    lintel: Option<PathBuf>,
    /// Database backend.
    #[arg(long, value_enum, default_value = "sqlite")]
    db: Backend,
    /// Server URL of the local PostgreSQL (a fresh database is created on it and dropped after).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
    /// Server URL of the local MariaDB/MySQL.
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306/test")]
    mysql_url: String,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Keep-alive connections per workload.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Load generator threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Also run the scale pairs (1,000 vs 1,000,000 credentials; 0 vs 100,000 revocation events).
    #[arg(long)]
    scale: bool,
    /// Run only these scenarios of the main set (comma-separated names; `ceiling` always runs); with `--peers`,
    /// only the peers' rows whose name starts with one of them (`lightest`, `issue`, `validate`).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// A few seconds in all with tiny counts: proves the benchmark still runs (used by the tests).
    #[arg(long)]
    smoke: bool,
    /// Instead of Lintel's scenarios: Lintel beside a bare axum + rustls server, node-oidc-provider and Keystone.
    #[arg(long)]
    peers: bool,
    /// Instead of Lintel's scenarios on a server of its own: one node of a running cluster and its HAProxy front
    /// (`scripts/cluster.sh up`; `scripts/bench.sh --cluster` brings it up), then the failover gaps.
    #[arg(long)]
    cluster: bool,
    /// A virtualenv with keystone and gunicorn, for the Keystone peer.
    #[arg(long)]
    keystone_venv: Option<PathBuf>,
    /// The directory with oidc-provider.mjs and its node_modules, for the node-oidc-provider peer.
    #[arg(long)]
    oidc_provider: Option<PathBuf>,
}

/// Where the server keeps its rows.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the local PostgreSQL.
    Postgres,
    /// A fresh database on the local MariaDB/MySQL.
    Mysql,
}

/// Counts the run uses, smaller in smoke mode.
#[derive(Clone, Copy)]
pub struct Sizes {
    /// Seconds per scenario.
    pub duration: Duration,
    /// Connections per workload.
    pub connections: usize,
    /// Seeded credentials for `issue-cold` (each used once) and for the flood.
    pub cold: usize,
    /// Credentials in the small and the large scale run.
    pub scale_creds: (usize, usize),
    /// Revocation events in the scale run.
    pub scale_events: usize,
}

impl Args {
    fn sizes(&self) -> Sizes {
        if self.smoke {
            Sizes {
                duration: Duration::from_millis(700),
                connections: 4,
                cold: 300,
                scale_creds: (20, 200),
                scale_events: 100,
            }
        } else {
            Sizes {
                duration: Duration::from_secs(self.duration),
                connections: self.connections,
                cold: 20_000,
                scale_creds: (1_000, 1_000_000),
                scale_events: 100_000,
            }
        }
    }

    fn lintel(&self) -> anyhow::Result<PathBuf> {
        if let Some(p) = &self.lintel {
            return Ok(p.clone());
        }
        let me = std::env::current_exe()?;
        Ok(me.with_file_name("lintel"))
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    let failed = rt.block_on(run(args))?;
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

/// Run `f` on a fresh database and drop the database afterwards, whether `f` succeeded or not (its servers are
/// stopped by then: they are dropped inside `f`).
async fn with_database<T>(
    args: &Args,
    label: &str,
    f: impl AsyncFnOnce(&setup::Database) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let db = setup::Database::create(args, label).await?;
    let out = f(&db).await;
    let dropped = db.drop_db().await;
    let out = out?;
    dropped?;
    Ok(out)
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let bin = args.lintel()?;
    anyhow::ensure!(
        bin.exists(),
        "no lintel binary at {} (build it: cargo build --release)",
        bin.display()
    );
    let sizes = args.sizes();
    if args.cluster {
        let (table, failed) = cluster::run(sizes).await?;
        println!("{table}");
        return Ok(failed);
    }
    let mut rows = Vec::new();

    let main = with_database(&args, "main", async |db| {
        let dir = tempfile::tempdir()?;
        let (config, addr) = server::prepare(&bin, dir.path(), &db.url, "")?;
        let srv = Server::start(&bin, &config, addr).await?;
        if args.peers {
            let fixture = setup::Fixture::create(&srv, sizes, false).await?;
            let software = peers::PeerSoftware {
                keystone_venv: args.keystone_venv.clone(),
                oidc_provider: args.oidc_provider.clone(),
                only: args.only.clone(),
            };
            let bare = std::env::current_exe()?.with_file_name("lintel-bare");
            println!(
                "{}",
                peers::run(&srv, &fixture, &bare, &software, sizes).await?
            );
            return Ok(None);
        }
        let fixture = setup::Fixture::create(&srv, sizes, true)
            .await
            .context("setting up credentials")?;
        Ok(Some(
            scenarios::main(&srv, &fixture, sizes, &args.only).await?,
        ))
    })
    .await?;
    let Some(main) = main else {
        return Ok(false);
    };
    rows.extend(main);

    if args.scale || args.smoke {
        let scale = with_database(&args, "scale", async |db| {
            let dir = tempfile::tempdir()?;
            let (config, addr) = server::prepare(&bin, dir.path(), &db.url, "")?;
            let srv = Server::start(&bin, &config, addr).await?;
            scenarios::scale(srv, sizes).await
        })
        .await?;
        rows.extend(scale);
    }

    let backend = match args.db {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
        Backend::Mysql => "mysql",
    };
    println!("{}", report::table(backend, &rows));
    let failed = rows
        .iter()
        .any(|r| r.outcome.answered() == 0 || r.outcome.errors > 0);
    if failed {
        eprintln!("lintel-bench: a scenario answered nothing or had errors");
    }
    Ok(failed)
}
