//! The table the benchmark prints.

use std::fmt::Write;

use crate::load::Outcome;

/// One measured workload.
pub struct Row {
    /// Scenario name.
    pub name: String,
    /// What the load generator saw.
    pub outcome: Outcome,
    /// Server CPU seconds spent on it.
    pub cpu_seconds: f64,
    /// Server peak RSS during it, in MiB.
    pub rss_mib: f64,
    /// What the scenario adds below the table (e.g. its own yardstick).
    pub note: Option<String>,
}

impl Row {
    /// A row from a workload's outcome and the server's readings around it.
    pub fn new(name: &str, outcome: Outcome, cpu_seconds: f64, rss_mib: f64) -> Row {
        Row {
            name: name.into(),
            outcome,
            cpu_seconds,
            rss_mib,
            note: None,
        }
    }

    /// Server CPU seconds per 1,000 answered requests (numerically, CPU milliseconds per request).
    pub fn cpu_per_1k(&self) -> f64 {
        self.cpu_seconds / self.outcome.answered().max(1) as f64 * 1000.0
    }
}

fn rate(rows: &[Row], name: &str) -> Option<f64> {
    rows.iter()
        .find(|r| r.name == name)
        .map(|r| r.outcome.rate())
}

/// The table, then the pair ratios of the scale run when it ran.
pub fn table(backend: &str, rows: &[Row]) -> String {
    let cores = std::thread::available_parallelism()
        .map(std::num::NonZero::get)
        .unwrap_or(1);
    let mut out = format!(
        "Lintel benchmark: {backend}, {cores} cores, load generator on the same machine\n\n"
    );
    let ceiling = rate(rows, "ceiling").unwrap_or(f64::NAN);
    let _ = writeln!(
        out,
        "| scenario | req/s | ÷ ceiling | p50 ms | p99 ms | p99.9 ms | errors | peak RSS MiB | CPU s / 1k req |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let o = &r.outcome;
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.3} |",
            r.name,
            o.rate(),
            o.rate() / ceiling,
            o.ms(0.5),
            o.ms(0.99),
            o.ms(0.999),
            o.errors,
            r.rss_mib,
            r.cpu_per_1k()
        );
    }
    for r in rows {
        if let Some(note) = &r.note {
            let _ = writeln!(out, "\n{}: {note}", r.name);
        }
    }
    let p99 = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .map(|r| r.outcome.ms(0.99))
    };
    if let (Some(quiet), Some(loud)) = (p99("issue-hot"), p99("flood: issue-hot")) {
        let _ = writeln!(
            out,
            "\nissue-hot p99 under the flood ÷ quiet: {:.2}",
            loud / quiet
        );
    }
    // Each scale row against the row of the same kind just before it: the same database, one change apart.
    let pairs: Vec<(&Row, &Row)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            let kind = a.name.split_once(", ")?.0;
            let before = rows[..i]
                .iter()
                .rev()
                .find(|r| r.name.starts_with(&format!("{kind}, ")))?;
            Some((before, a))
        })
        .collect();
    if !pairs.is_empty() {
        let _ = writeln!(out, "\nscale (throughput after ÷ before the change):");
        for (small, big) in pairs {
            let _ = writeln!(
                out,
                "- {} ÷ {}: {:.2}",
                big.name,
                small.name,
                big.outcome.rate() / small.outcome.rate()
            );
        }
    }
    out
}

/// The `--peers` table: each peer's row for each scenario, as a ratio to the bare server doing the same.
pub fn peers_table(rows: &[(&str, &str, Row)], notes: &[String]) -> String {
    let cores = std::thread::available_parallelism()
        .map(std::num::NonZero::get)
        .unwrap_or(1);
    let mut out = format!(
        "Peers: {cores} cores, one load generator on the same machine, same certificate and settings for all\n\n"
    );
    let _ = writeln!(
        out,
        "| scenario | server | req/s | ÷ bare | p50 ms | p99 ms | errors | peak RSS MiB | CPU ms / req |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut scenarios: Vec<&str> = Vec::new();
    for (_, s, _) in rows {
        if !scenarios.contains(s) {
            scenarios.push(s);
        }
    }
    for scenario in scenarios {
        let bare = rows
            .iter()
            .find(|(p, s, _)| *s == scenario && p.starts_with("bare"))
            .map_or(f64::NAN, |(_, _, r)| r.outcome.rate());
        for (peer, _, r) in rows.iter().filter(|(_, s, _)| *s == scenario) {
            let o = &r.outcome;
            let _ = writeln!(
                out,
                "| {scenario} | {peer} | {:.1} | {:.3} | {:.2} | {:.2} | {} | {:.0} | {:.3} |",
                o.rate(),
                o.rate() / bare,
                o.ms(0.5),
                o.ms(0.99),
                o.errors,
                r.rss_mib,
                r.cpu_per_1k()
            );
        }
    }
    for n in notes {
        let _ = writeln!(out, "\n{n}");
    }
    out
}
