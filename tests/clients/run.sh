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
stamp="$venv/.lintel-requirements.sha256"
setup_only="${LINTEL_CLIENTS_SETUP_ONLY:-0}"

# Make relative overrides independent of the directory we cd into below.
case "$venv" in /*) ;; *) venv="$PWD/$venv"; stamp="$venv/.lintel-requirements.sha256" ;; esac
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac

if [[ "$setup_only" != 1 && ! -x "$bin" ]]; then
    cat >&2 <<EOF
error: Lintel release binary not found (or not executable): $bin
       Build it first:  cargo build --release --locked
       or point LINTEL_BIN at an existing binary.
EOF
    exit 1
fi

# Create the venv, or recreate it when its interpreter no longer works
# (e.g. the base python it was made from was removed).
if [[ -x "$venv/bin/python" ]] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "clients: venv at $venv is broken; recreating it" >&2
    rm -rf -- "$venv"
fi
if [[ ! -x "$venv/bin/python" ]]; then
    echo "clients: creating venv at $venv (with $("$python" --version 2>&1))" >&2
    mkdir -p -- "$(dirname -- "$venv")"
    "$python" -m venv -- "$venv"
    rm -f -- "$stamp"
fi

# (Re)install only when requirements.txt changed since the last good install.
want="$(sha256sum -- "$req" | cut -d' ' -f1)"
have="$(cat -- "$stamp" 2>/dev/null || true)"
if [[ "$want" != "$have" ]]; then
    echo "clients: installing $req into $venv" >&2
    start=$SECONDS
    "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req"
    echo "$want" >"$stamp"
    echo "clients: install took $((SECONDS - start))s" >&2
fi

if [[ "$setup_only" == 1 ]]; then
    echo "clients: venv ready at $venv" >&2
    exit 0
fi

export LINTEL_BIN="$bin"
cd -- "$repo"
# Keep pytest's cache (--lf/--ff) out of the work tree.
exec "$venv/bin/python" -m pytest tests/clients -q --tb=short -o cache_dir="$venv/pytest-cache" "$@"
