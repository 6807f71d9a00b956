#!/usr/bin/env bash
# The benchmark: builds release, starts Lintel on a fresh database, seeds it, drives every scenario over HTTPS
# and prints one table (docs/BENCHMARKS.md). Arguments go to lintel-bench: --db postgres|mysql, --scale,
# --duration SECS, --connections N, --smoke; see `target/release/lintel-bench --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p lintel -p lintel-bench
exec target/release/lintel-bench --lintel target/release/lintel "$@"
