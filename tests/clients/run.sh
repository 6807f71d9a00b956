#!/usr/bin/env bash
# Run the Python client-compatibility suite (tests/clients) against a real
# Lintel server. See tests/clients/README.md.
#
#   tests/clients/run.sh [extra pytest args...]
#
# Environment:
#   LINTEL_VENV   venv to create/reuse     (default: <repo>/target/clients-venv)
#   LINTEL_BIN    binary to test           (default: <repo>/target/debug/lintel)
#   PYTHON        interpreter for the venv (default: python3)
#   LINTEL_CLIENTS_SETUP_ONLY=1  only create/update the venv, run no tests
#   LINTEL_TEST_POSTGRES_URL / LINTEL_TEST_MYSQL_URL  add those backends
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd -- "$here/../.." && pwd)"
venv="${LINTEL_VENV:-$repo/target/clients-venv}"
bin="${LINTEL_BIN:-$repo/target/debug/lintel}"
python="${PYTHON:-python3}"
req="$here/requirements.txt"
setup_only="${LINTEL_CLIENTS_SETUP_ONLY:-0}"

# Make relative overrides independent of the directory we cd into below.
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac

if [[ "$setup_only" != 1 && ! -x "$bin" ]]; then
    cat >&2 <<EOF
error: Lintel binary not found (or not executable): $bin
       Build it first:  cargo build --locked
       or point LINTEL_BIN at an existing binary.
EOF
    exit 1
fi

# shellcheck source=../lib/venv.sh
. "$here/../lib/venv.sh"
ensure_venv clients "$venv" "$python" "$req"
# The repository's openstack CLI plugin (osc-lintel/), installed again whenever its sources change.
plugin="$repo/osc-lintel"
plugin_stamp="$venv/.lintel-osc.sha256"
plugin_sum="$(cd -- "$plugin" && find . -name '*.py' -o -name '*.toml' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"
if [[ "$plugin_sum" != "$(cat -- "$plugin_stamp" 2>/dev/null || true)" ]]; then
    echo "clients: installing $plugin into $venv" >&2
    "$venv/bin/python" -m pip install --disable-pip-version-check -q --no-deps --force-reinstall "$plugin"
    echo "$plugin_sum" >"$plugin_stamp"
    # stevedore caches the CLI's entry points: a reinstalled plugin's new commands must not hide behind it.
    rm -rf -- "$venv/cache"
fi
# node-oidc-provider, the identity provider of test_federation.py, from its lock file (npm registry). No Node.js
# is a failure, never a skipped test.
idp="$here/idp"
idp_stamp="$idp/node_modules/.lintel-lock.sha256"
idp_sum="$(sha256sum -- "$idp/package-lock.json" | cut -d' ' -f1)"
if [[ "$idp_sum" != "$(cat -- "$idp_stamp" 2>/dev/null || true)" ]]; then
    command -v npm >/dev/null || { echo "error: npm (Node.js) is needed for tests/clients/idp" >&2; exit 1; }
    echo "clients: installing node-oidc-provider into $idp/node_modules" >&2
    (cd -- "$idp" && npm ci --no-audit --no-fund --silent)
    echo "$idp_sum" >"$idp_stamp"
fi

# The CLI's caches (stevedore's entry points) live with the venv, not in the user's home.
export XDG_CACHE_HOME="$venv/cache"

if [[ "$setup_only" == 1 ]]; then
    echo "clients: venv ready at $venv" >&2
    exit 0
fi

export LINTEL_BIN="$bin"
cd -- "$repo"
backends=(sqlite)
[[ -n "${LINTEL_TEST_POSTGRES_URL:-}" ]] && backends+=(postgres)
[[ -n "${LINTEL_TEST_MYSQL_URL:-}" ]] && backends+=(mysql)
if ((${#backends[@]} == 1)); then
    # Keep pytest's cache (--lf/--ff) out of the work tree.
    exec "$venv/bin/python" -m pytest tests/clients -q --tb=short -o cache_dir="$venv/pytest-cache" "$@"
fi

# One pytest per backend, at once: each has its own server and database and mostly waits on them or on Python, so
# together they take little more than the slowest alone. Each writes its own log, shown whole at the end; the tests
# that use no backend run in the SQLite one (conftest.py).
logs="$repo/target/clients-logs"
rm -rf -- "$logs"
mkdir -p -- "$logs"
pids=()
stop_all() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait; }
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
for b in "${backends[@]}"; do
    LINTEL_CLIENTS_BACKEND=$b "$venv/bin/python" -m pytest tests/clients -q --tb=short \
        -o cache_dir="$venv/pytest-cache-$b" --basetemp="$logs/tmp-$b" "$@" >"$logs/$b.log" 2>&1 &
    pids+=("$!")
done
failed=()
for i in "${!backends[@]}"; do
    wait "${pids[$i]}" || failed+=("${backends[$i]}")
done
trap - INT TERM
for b in "${backends[@]}"; do
    echo "===== clients on $b ($logs/$b.log) ====="
    cat -- "$logs/$b.log"
done
for b in "${backends[@]}"; do
    echo "clients on $b: $(tail -n 1 "$logs/$b.log")"
done
if ((${#failed[@]})); then
    echo "clients: FAILED on ${failed[*]}" >&2
    exit 1
fi
