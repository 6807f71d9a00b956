//! The layers hold by construction, not by convention: only the store crate knows rows and queries, and the
//! domain modules know nothing of HTTP (docs/architecture.md, "Layers").

use std::path::{Path, PathBuf};

/// The modules that speak HTTP: handlers, the HTTP plumbing, the server and the process around it.
const HTTP_SIDE: &[&str] = &[
    "src/api/",
    "src/http/",
    "src/server.rs",
    "src/main.rs",
    "src/metrics.rs",
    "src/transport/",
];

/// Words that show HTTP reaching into a module.
const HTTP_WORDS: &[&str] = &[
    "axum",
    "hyper",
    "http::",
    "StatusCode",
    "HeaderMap",
    "ApiError",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every source file as (path relative to the crate, its code lines without comments).
fn code() -> Vec<(String, Vec<String>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(root).unwrap().display().to_string();
            let lines = std::fs::read_to_string(&f)
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .map(str::to_string)
                .collect();
            (rel, lines)
        })
        .collect()
}

/// Rows and queries are the store crate's alone: the service does not depend on `entity` or sea-orm, so the
/// compiler refuses a row type or a query anywhere in `src/` (the tests may look at rows: dev-dependencies).
#[test]
fn only_the_store_crate_knows_rows_and_queries() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let deps = manifest
        .split("\n[dependencies]\n")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap();
    for crate_name in ["entity", "sea-orm", "sea-orm-migration", "migration"] {
        assert!(
            !deps
                .lines()
                .any(|l| l.starts_with(&format!("{crate_name} "))
                    || l.starts_with(&format!("{crate_name}."))),
            "lintel depends on {crate_name}: only lintel-store may"
        );
    }
}

#[test]
fn domain_modules_know_nothing_of_http() {
    let mut offenders = Vec::new();
    for (file, lines) in code() {
        if HTTP_SIDE.iter().any(|p| file.starts_with(p)) {
            continue;
        }
        for l in &lines {
            if let Some(w) = HTTP_WORDS.iter().find(|w| l.contains(*w)) {
                offenders.push(format!("{file}: {w} in `{}`", l.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "HTTP in domain modules:\n{}",
        offenders.join("\n")
    );
}
