#!/usr/bin/env bash
# The cluster suite: three Lintel nodes behind HAProxy over a three-node MariaDB Galera cluster, then over the local
# PostgreSQL (scripts/cluster.sh), each put through tests/cluster/faults.py under load, then taken down.
#
#   tests/cluster/run.sh [galera] [postgres]      (default: both)
#
# Environment: LINTEL_BIN (default target/debug/lintel), LINTEL_VENV (a venv with requests; default
# target/clients-venv, which tests/clients/run.sh makes), LINTEL_TEST_POSTGRES_URL.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export LINTEL_BIN="${LINTEL_BIN:-$repo/target/debug/lintel}"
python="${LINTEL_VENV:-$repo/target/clients-venv}/bin/python"
[[ -x "$python" ]] || { echo "error: no venv at ${python%/bin/python} (run tests/clients/run.sh first)" >&2; exit 1; }
variants=("$@")
((${#variants[@]})) || variants=(galera postgres)
export LINTEL_CLUSTER_DIR="$repo/target/cluster"
trap '"$repo/scripts/cluster.sh" down' EXIT
rc=0
for v in "${variants[@]}"; do
    "$repo/scripts/cluster.sh" down
    case "$v" in
        galera) "$repo/scripts/cluster.sh" up >/dev/null ;;
        postgres) "$repo/scripts/cluster.sh" up --postgres >/dev/null ;;
        *) echo "error: unknown variant $v" >&2; exit 2 ;;
    esac
    set -a
    eval "$("$repo/scripts/cluster.sh" env)"
    set +a
    if ! "$python" "$here/faults.py"; then
        rc=1
        # Keep the nodes' logs (down removes the cluster's directory) and show their errors.
        keep="$repo/target/cluster-logs/$v"
        rm -rf -- "$keep" && mkdir -p -- "$keep"
        for f in "$LINTEL_CLUSTER_DIR"/*/serve.log "$LINTEL_CLUSTER_DIR"/*/error.log; do
            [[ -f "$f" ]] && cp -- "$f" "$keep/$(basename "$(dirname "$f")")-$(basename "$f")"
        done
        echo "cluster ($v): errors in the Lintel nodes' logs (all logs kept in $keep):"
        grep -h "ERROR" "$keep"/lintel*-serve.log | tail -n 20 || true
    fi
done
exit $rc
