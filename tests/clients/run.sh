#!/usr/bin/env bash
# Run the Python client-compatibility suite (tests/clients) against a real
# Lintel server. See tests/clients/README.md.
#
#   tests/clients/run.sh [extra pytest args...]
#
# Environment:
#   LINTEL_VENV   venv to create/reuse     (default: <repo>/target/clients-venv)
#   LINTEL_BIN    release binary to test   (default: <repo>/target/release/lintel)
#   PYTHON        interpreter for the venv (default: python3)
#   LINTEL_CLIENTS_SETUP_ONLY=1  only create/update the venv, run no tests
#   LINTEL_TEST_POSTGRES_URL / LINTEL_TEST_MYSQL_URL  add those backends
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd -- "$here/../.." && pwd)"
venv="${LINTEL_VENV:-$repo/target/clients-venv}"
bin="${LINTEL_BIN:-$repo/target/release/lintel}"
python="${PYTHON:-python3}"
req="$here/requirements.txt"
setup_only="${LINTEL_CLIENTS_SETUP_ONLY:-0}"

# Make relative overrides independent of the directory we cd into below.
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac

if [[ "$setup_only" != 1 && ! -x "$bin" ]]; then
    cat >&2 <<EOF
error: Lintel release binary not found (or not executable): $bin
       Build it first:  cargo build --release --locked
       or point LINTEL_BIN at an existing binary.
EOF
    exit 1
fi

# shellcheck source=../lib/venv.sh
. "$here/../lib/venv.sh"
ensure_venv clients "$venv" "$python" "$req"

if [[ "$setup_only" == 1 ]]; then
    echo "clients: venv ready at $venv" >&2
    exit 0
fi

export LINTEL_BIN="$bin"
cd -- "$repo"
# Keep pytest's cache (--lf/--ff) out of the work tree.
exec "$venv/bin/python" -m pytest tests/clients -q --tb=short -o cache_dir="$venv/pytest-cache" "$@"
