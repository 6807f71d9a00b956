#!/usr/bin/env bash
# The one command that runs every test: formatting, lints, Rust unit and integration tests (SQLite always;
# PostgreSQL and MariaDB when LINTEL_TEST_POSTGRES_URL / LINTEL_TEST_MYSQL_URL are set), then the Python
# client suite (openstack CLI, keystoneauth1, openstacksdk) against the release binary, in a venv it makes.
set -euo pipefail
cd "$(dirname "$0")/.."

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
echo "backends: sqlite${LINTEL_TEST_POSTGRES_URL:+ postgres}${LINTEL_TEST_MYSQL_URL:+ mysql}"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# One release build of the binary serves every test that runs it (tests/integration/cli.rs via LINTEL_BIN, and
# the client suite); the Rust tests themselves build in the dev profile, which compiles several times faster.
cargo build --release --locked
export LINTEL_BIN="$PWD/target/release/lintel"
cargo test --workspace --locked
# The systemd units (systemd-analyze verify) and the devstack plugin's phases against a fake devstack.
tests/ops/run.sh "$LINTEL_BIN"
tests/clients/run.sh
