//! The benchmark's smoke mode runs end to end (tiny counts, under a second per scenario) so that it cannot rot;
//! timing is not asserted: tests check behaviour.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed assumption is a failed test

use std::path::PathBuf;
use std::process::Command;

fn lintel_bin() -> PathBuf {
    if let Ok(p) = std::env::var("LINTEL_BIN") {
        return p.into();
    }
    // `cargo test --workspace` builds the root package's binary beside this test's.
    let me = PathBuf::from(env!("CARGO_BIN_EXE_lintel-bench"));
    me.with_file_name("lintel")
}

fn smoke(extra: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_lintel-bench"))
        .arg("--smoke")
        .arg("--lintel")
        .arg(lintel_bin())
        .args(extra)
        .output()
        .expect("run lintel-bench");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lintel-bench --smoke {extra:?} failed\nstdout:\n{table}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for scenario in [
        "| ceiling |",
        "| issue-hot |",
        "| issue-cold |",
        "| cold-burst |",
        "| validate |",
        "| bearer-api |",
        "| flood: issue-hot |",
        "| flood: bad secrets |",
        "| issue-hot, 200 creds |",
        "| validate, 100 revocations |",
    ] {
        let row = table
            .lines()
            .find(|l| l.starts_with(scenario))
            .unwrap_or_else(|| panic!("no row {scenario} in\n{table}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let rate: f64 = cells[2].parse().expect("req/s");
        assert!(rate > 0.0, "{scenario} answered nothing: {row}");
        assert_eq!(cells[7], "0", "{scenario} had errors: {row}");
    }
    assert!(
        table.contains("slowest answer") && table.contains("÷ one lone first use"),
        "the cold burst states its yardstick: {table}"
    );
    assert!(
        table.contains("issue-hot p99 under the flood ÷ quiet"),
        "{table}"
    );
    assert!(
        table.contains("validate, 100 revocations ÷ validate, 200 creds"),
        "{table}"
    );
}

#[test]
fn smoke_sqlite() {
    smoke(&[]);
}

#[test]
fn smoke_postgres() {
    let Ok(url) = std::env::var("LINTEL_TEST_POSTGRES_URL") else {
        return;
    };
    smoke(&["--db", "postgres", &format!("--postgres-url={url}")]);
}

#[test]
fn smoke_mysql() {
    let Ok(url) = std::env::var("LINTEL_TEST_MYSQL_URL") else {
        return;
    };
    smoke(&["--db", "mysql", &format!("--mysql-url={url}")]);
}

/// `--peers` with the peers that need nothing installed (the bare server and Lintel): every scenario answers.
#[test]
fn smoke_peers() {
    let out = Command::new(env!("CARGO_BIN_EXE_lintel-bench"))
        .args(["--smoke", "--peers", "--lintel"])
        .arg(lintel_bin())
        .output()
        .expect("run lintel-bench --peers");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lintel-bench --smoke --peers failed\nstdout:\n{table}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for scenario in [
        "lightest request",
        "issue",
        "validate",
        "issue, new connection",
        "issue, new connection, resumed",
    ] {
        for server in ["bare axum + rustls", "Lintel"] {
            let start = format!("| {scenario} | {server} |");
            let row = table
                .lines()
                .find(|l| l.starts_with(&start))
                .unwrap_or_else(|| panic!("no row {start} in\n{table}"));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let rate: f64 = cells[3].parse().expect("req/s");
            assert!(rate > 0.0, "{start} answered nothing: {row}");
            assert_eq!(cells[7], "0", "{start} had errors: {row}");
        }
    }
    assert!(table.contains("Keystone: not prepared"), "{table}");
}
