#!/usr/bin/env bash
# The benchmark: builds release, starts Lintel on a fresh database, seeds it, drives every scenario over HTTPS
# and prints one table (docs/BENCHMARKS.md). Arguments go to lintel-bench: --db postgres|mysql, --scale,
# --duration SECS, --connections N, --smoke; see `target/release/lintel-bench --help`.
#
# --peers: Lintel beside a bare axum + rustls server (the machine's limit), node-oidc-provider (installed from
# bench/peers/package-lock.json with npm) and real Keystone 30 served by gunicorn (in a virtualenv this script
# makes, pinned by tests/keystone_import/requirements.txt), one table of ratios to the bare server.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p lintel -p lintel-bench
extra=()
for a in "$@"; do
    if [[ "$a" == --peers ]]; then
        . tests/lib/venv.sh
        venv="${LINTEL_IMPORT_VENV:-$PWD/target/keystone-venv}"
        ensure_venv bench-peers "$venv" "${PYTHON:-python3}" tests/keystone_import/requirements.txt
        (cd bench/peers && npm ci --no-audit --no-fund --silent)
        extra=(--keystone-venv "$venv" --oidc-provider bench/peers)
    fi
done
exec target/release/lintel-bench --lintel target/release/lintel "$@" "${extra[@]}"
