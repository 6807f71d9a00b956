#!/usr/bin/env bash
# The one command that runs every test. See `scripts/test.sh --help`.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    cat <<'EOF'
Usage: scripts/test.sh [PART...] [--backend sqlite|postgres|mysql]

Runs Lintel's tests. With no PART, runs all of them, in this order:

  --lint      cargo fmt --check and cargo clippy -D warnings
  --rust      the Rust unit and integration tests (each starts a real HTTPS server on an ephemeral port)
  --ops       the systemd units (systemd-analyze verify) and the devstack plugin against a fake devstack
  --clients   the Python client suite (openstack CLI, keystoneauth1, openstacksdk, keystonemiddleware,
              authlib, ...), pinned, in a venv it creates under target/clients-venv
  --tempest   OpenStack Tempest 47's identity tests (tests/tempest/selection.txt), pinned, in a venv it
              creates under target/tempest-venv, against a freshly started Lintel
  --import    a move from real Keystone 30 (pinned, in target/keystone-venv): Keystone filled through its
              API, its database imported, the openstack CLI checking ids, passwords and secrets on Lintel

Every part except --lint first builds the release binary once (cargo build --release).

Backends: storage tests always run on SQLite, and also on PostgreSQL / MariaDB when
LINTEL_TEST_POSTGRES_URL / LINTEL_TEST_MYSQL_URL are set (each test creates and drops its own database).
A backend whose URL is set but does not answer fails the run. --backend NAME keeps only that backend's URL
(SQLite always runs):

  LINTEL_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
  LINTEL_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test scripts/test.sh --rust --backend postgres

Needs: the Rust toolchain (1.95 or later), a C compiler, python3 with venv and pip, network access to crates.io
and PyPI on the first run. The whole suite takes about 13 minutes on 2 cores from a warm build cache.
EOF
}

parts=()
backend=""
while [ $# -gt 0 ]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --lint | --rust | --ops | --clients | --tempest | --import) parts+=("${1#--}") ;;
        --backend)
            [ $# -ge 2 ] || { echo "error: --backend needs sqlite, postgres or mysql" >&2; exit 2; }
            backend=$2
            shift
            ;;
        --backend=*) backend=${1#--backend=} ;;
        *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[ ${#parts[@]} -gt 0 ] || parts=(lint rust ops clients tempest import)
want() { [[ " ${parts[*]} " == *" $1 "* ]]; }

case "$backend" in
    "") ;;
    sqlite) unset LINTEL_TEST_POSTGRES_URL LINTEL_TEST_MYSQL_URL ;;
    postgres)
        unset LINTEL_TEST_MYSQL_URL
        [ -n "${LINTEL_TEST_POSTGRES_URL:-}" ] || { echo "error: --backend postgres needs LINTEL_TEST_POSTGRES_URL" >&2; exit 2; }
        ;;
    mysql)
        unset LINTEL_TEST_POSTGRES_URL
        [ -n "${LINTEL_TEST_MYSQL_URL:-}" ] || { echo "error: --backend mysql needs LINTEL_TEST_MYSQL_URL" >&2; exit 2; }
        ;;
    *) echo "error: unknown backend '$backend' (sqlite, postgres or mysql)" >&2; exit 2 ;;
esac

check_db() {
    # A backend we were told to use must answer; a silent skip would look green.
    local name=$1 url=$2
    case "$name" in
        postgres) psql "${url/postgres:/postgresql:}" -qtAc 'select 1' >/dev/null ;;
        mysql) python3 - "$url" <<'PY'
import sys, subprocess, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
args = ["mysql", "-h", u.hostname or "127.0.0.1", "-P", str(u.port or 3306), "-u", u.username or "root", "-e", "select 1"]
if u.password:
    args.insert(1, f"-p{u.password}")
sys.exit(subprocess.run(args, stdout=subprocess.DEVNULL).returncode)
PY
        ;;
    esac || { echo "error: $name at $url does not answer" >&2; exit 1; }
}
[ -n "${LINTEL_TEST_POSTGRES_URL:-}" ] && check_db postgres "$LINTEL_TEST_POSTGRES_URL"
[ -n "${LINTEL_TEST_MYSQL_URL:-}" ] && check_db mysql "$LINTEL_TEST_MYSQL_URL"
echo "parts: ${parts[*]}; backends: sqlite${LINTEL_TEST_POSTGRES_URL:+ postgres}${LINTEL_TEST_MYSQL_URL:+ mysql}"

if want lint; then
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings
fi
if want rust || want ops || want clients || want tempest || want import; then
    # One release build of the binary serves every test that runs it (tests/integration/cli.rs via LINTEL_BIN,
    # the ops, client and Tempest suites); the Rust tests themselves build in the dev profile, several times faster.
    cargo build --release --locked
    export LINTEL_BIN="$PWD/target/release/lintel"
fi
if want rust; then
    cargo test --workspace --locked
fi
if want ops; then
    tests/ops/run.sh "$LINTEL_BIN"
fi
if want clients; then
    tests/clients/run.sh
fi
if want tempest; then
    tests/tempest/run.sh
fi
if want import; then
    tests/keystone_import/run.sh
fi
