#!/usr/bin/env bash
# The benchmark: builds release, starts Lintel on a fresh database, seeds it, drives every scenario over HTTPS
# and prints one table (docs/BENCHMARKS.md). Arguments go to lintel-bench: --db postgres|mysql, --scale,
# --duration SECS, --connections N, --smoke; see `target/release/lintel-bench --help`.
#
# --cluster: brings up scripts/cluster.sh's cluster (Galera, HAProxy, three nodes) with this build, compares one
# node with the three behind HAProxy on the same run, kills a Lintel node and the Galera writer mid-run for the
# failover gaps, and takes it down.
#
# --peers: Lintel beside a bare axum + rustls server (the machine's limit), node-oidc-provider (installed from
# bench/peers/package-lock.json with npm) and real Keystone 30 served by gunicorn (in a virtualenv this script
# makes, pinned by tests/keystone_import/requirements.txt), one table of ratios to the bare server.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p lintel -p lintel-bench
extra=()
for a in "$@"; do
    if [[ "$a" == --cluster ]]; then
        # The cluster (three Galera nodes, HAProxy, three Lintel nodes) with this release build, down on exit.
        export LINTEL_BIN="$PWD/target/release/lintel" LINTEL_CLUSTER_DIR="$PWD/target/cluster-bench"
        scripts/cluster.sh down
        trap 'scripts/cluster.sh down' EXIT
        scripts/cluster.sh up >/dev/null
        set -a
        eval "$(scripts/cluster.sh env)"
        set +a
        target/release/lintel-bench "$@"
        exit
    fi
    if [[ "$a" == --peers ]]; then
        . tests/lib/venv.sh
        venv="${LINTEL_IMPORT_VENV:-$PWD/target/keystone-venv}"
        ensure_venv bench-peers "$venv" "${PYTHON:-python3}" tests/keystone_import/requirements.txt
        (cd bench/peers && npm ci --no-audit --no-fund --silent)
        extra=(--keystone-venv "$venv" --oidc-provider bench/peers)
    fi
done
exec target/release/lintel-bench --lintel target/release/lintel "$@" "${extra[@]}"
