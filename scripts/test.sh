#!/usr/bin/env bash
# The one command that runs every test. See `scripts/test.sh --help` and docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

usage() {
    cat <<'EOF'
Usage: scripts/test.sh [--fast] [PART...] [--backend sqlite|postgres|mysql]

Runs Lintel's tests. With no PART, runs all of them on every backend (what .ci/run runs):

  --lint      cargo fmt --check and cargo clippy -D warnings
  --rust      the Rust unit and integration tests (each starts a real HTTPS server on an ephemeral port)
  --bench     the benchmark's smoke tests (lintel-bench --smoke end to end; no timing)
  --ops       the systemd units (systemd-analyze verify) and the devstack plugin against a fake devstack
  --clients   the Python client suite (openstack CLI, keystoneauth1, openstacksdk, keystonemiddleware,
              authlib, Schemathesis ...), pinned, in a venv it creates under target/clients-venv, one pytest
              per backend at once
  --tempest   OpenStack Tempest 47's identity tests (tests/tempest/selection.txt), pinned, in a venv it
              creates under target/tempest-venv, against a freshly started Lintel
  --cluster   three Lintel nodes behind HAProxy over a three-node MariaDB Galera cluster, then over PostgreSQL
              (scripts/cluster.sh; Debian's galera-4, mariadb-backup, haproxy installed if missing), with Lintel and
              database nodes killed under load (tests/cluster/faults.py); not in --fast
  --import    a move from real Keystone 30 (pinned, in target/keystone-venv) on each backend at once:
              Keystone filled through its API, its database imported, the openstack CLI checking ids,
              passwords and secrets on Lintel

  --fast      the edit-compile-test loop: lint, rust, ops, clients (without Schemathesis) and tempest, on
              SQLite only. Not a substitute for the full run before a commit.

One build serves every part: the dev profile (optimised dependencies, see Cargo.toml) builds the tests and
target/debug/lintel, which the ops, client, Tempest and import suites run. Python virtualenvs are made while it
builds. The parts then run at once, each writing target/test-logs/PART.log; at the end a table gives each
part's result and time, and the run fails if any part failed or if a server process or a test database was
left behind.

Backends: storage tests always run on SQLite, and also on PostgreSQL / MariaDB when
LINTEL_TEST_POSTGRES_URL / LINTEL_TEST_MYSQL_URL are set (each test creates and drops its own database).
A backend whose URL is set but does not answer fails the run. --backend NAME keeps only that backend's URL
(SQLite always runs):

  LINTEL_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
  LINTEL_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test scripts/test.sh --rust --backend postgres

Needs: the Rust toolchain (1.95 or later), a C compiler, python3 with venv and pip, network access to crates.io
and PyPI on the first run. The full run took 12 min 3 s cold on 2 cores (budget 20 minutes; docs/testing.md).
EOF
}

parts=()
backend=""
fast=0
while [ $# -gt 0 ]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --fast) fast=1 ;;
        --lint | --rust | --bench | --ops | --clients | --tempest | --import | --cluster) parts+=("${1#--}") ;;
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
if ((fast)); then
    [ ${#parts[@]} -gt 0 ] || parts=(lint rust ops clients tempest)
    [ -z "$backend" ] || [ "$backend" = sqlite ] || { echo "error: --fast runs on SQLite only" >&2; exit 2; }
    backend=sqlite
fi
[ ${#parts[@]} -gt 0 ] || parts=(lint rust bench ops clients tempest import cluster)
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

# --- the database servers -------------------------------------------------------------------------------------
# A backend we were told to use must answer; a silent skip would look green.
sql() { # BACKEND URL SQL: run SQL on the server of URL, print the rows
    local name=$1 url=$2 q=$3
    case "$name" in
        postgres) psql "${url/postgres:/postgresql:}" -qtAXc "$q" ;;
        mysql) python3 - "$url" "$q" <<'PY'
import sys, subprocess, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
args = ["mysql", "-h", u.hostname or "127.0.0.1", "-P", str(u.port or 3306), "-u", u.username or "root",
        "--batch", "--skip-column-names", "-e", sys.argv[2]]
if u.password:
    args.insert(1, f"-p{u.password}")
sys.exit(subprocess.run(args).returncode)
PY
        ;;
    esac
}
databases() { # every database on the servers in use, "backend name" a line
    [ -z "${LINTEL_TEST_POSTGRES_URL:-}" ] ||
        sql postgres "$LINTEL_TEST_POSTGRES_URL" 'select datname from pg_database' | sed 's/^/postgres /'
    [ -z "${LINTEL_TEST_MYSQL_URL:-}" ] || sql mysql "$LINTEL_TEST_MYSQL_URL" 'show databases' | sed 's/^/mysql /'
}
for b in postgres mysql; do
    var=LINTEL_TEST_POSTGRES_URL
    [ $b = mysql ] && var=LINTEL_TEST_MYSQL_URL
    [ -z "${!var:-}" ] && continue
    sql $b "${!var}" 'select 1' >/dev/null || { echo "error: $b at ${!var} does not answer" >&2; exit 1; }
done
echo "parts: ${parts[*]}; backends: sqlite${LINTEL_TEST_POSTGRES_URL:+ postgres}${LINTEL_TEST_MYSQL_URL:+ mysql}"
databases_before=$(databases | sort)

# --- running parts ----------------------------------------------------------------------------------------------
# Each part runs in a session of its own (setsid), so that an interrupt can stop the whole of it (servers included)
# by its process group; its output goes to target/test-logs/PART.log.
logs="$repo/target/test-logs"
rm -rf -- "$logs"
mkdir -p -- "$logs"
declare -A pid_of=() name_of=() began=() rc_of=() took=()
order=()
t0=$SECONDS
elapsed() { printf '%d:%02d' $(((SECONDS - t0) / 60)) $(((SECONDS - t0) % 60)); }
start() { # NAME COMMAND...: run COMMAND as part NAME in the background
    local name=$1
    shift
    order+=("$name")
    began[$name]=$SECONDS
    setsid "$@" >"$logs/$name.log" 2>&1 </dev/null &
    pid_of[$name]=$!
    name_of[$!]=$name
    echo "[$(elapsed)] $name: started (target/test-logs/$name.log)"
}
skip() { # NAME WHY: part NAME cannot run; it counts as failed
    order+=("$1")
    rc_of[$1]="not run"
    took[$1]=0
    echo "[$(elapsed)] $1: not run ($2)"
}
running() { [ ${#pid_of[@]} -gt 0 ]; }
finish_one() { # wait for any part to end; set `ended` to its name
    local pid rc=0
    wait -n -p pid "${pid_of[@]}" || rc=$?
    ended=${name_of[$pid]}
    unset "pid_of[$ended]" "name_of[$pid]"
    rc_of[$ended]=$rc
    took[$ended]=$((SECONDS - ${began[$ended]}))
    echo "[$(elapsed)] $ended: $( ((rc == 0)) && echo passed || echo "FAILED (exit $rc)") in ${took[$ended]}s"
    if ((rc != 0)); then
        echo "----- $ended: the last 150 lines of target/test-logs/$ended.log -----"
        tail -n 150 "$logs/$ended.log"
        echo "-----"
    fi
}
ok() { [ "${rc_of[$1]:-}" = 0 ]; }
stop_all() {
    local p
    for p in "${pid_of[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap 'echo "interrupted: stopping every part" >&2; stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM

# --- first the build, and the virtualenvs while it builds -------------------------------------------------------
needs_bin=0
for p in rust bench ops clients tempest import cluster; do want $p && needs_bin=1; done
if (want rust || want bench) && ! cargo nextest --version >/dev/null 2>&1; then
    echo "cargo-nextest is not installed: installing it (cargo install --locked cargo-nextest)"
    cargo install --locked cargo-nextest
fi
(want clients || want cluster) && start venv-clients env LINTEL_CLIENTS_SETUP_ONLY=1 tests/clients/run.sh
want tempest && start venv-tempest env LINTEL_TEMPEST_SETUP_ONLY=1 tests/tempest/run.sh
want import && start venv-import env LINTEL_IMPORT_SETUP_ONLY=1 tests/keystone_import/run.sh
# The tests, the benchmark and the binary, in the one dev-profile build that every part uses.
((needs_bin)) && start build cargo test --workspace --locked --no-run
export LINTEL_BIN="$repo/target/debug/lintel"

# --- then the parts, each as soon as what it needs is ready ------------------------------------------------------
# They mostly wait (on databases, servers, Python start-up), so they run at once. Cargo's parts run one after
# another (they share target/ and its lock): the Rust tests, the benchmark's, then lint.
cargo_parts=()
for p in rust bench lint; do want $p && cargo_parts+=("$p"); done
# The Rust tests run under cargo-nextest (.config/nextest.toml): a process per test, the test binaries at once, a
# JUnit report in target/nextest/default/junit.xml. Both parts select from the one --workspace build (a package left
# out of the build would change the features its dependencies are built with, and rebuild them).
cargo_cmd() {
    case "$1" in
        lint) echo "bash -c 'cargo fmt --all -- --check && cargo clippy --workspace --all-targets --locked -- -D warnings'" ;;
        rust) echo "cargo nextest run --workspace --locked -E 'not package(lintel-bench)'" ;;
        bench) echo "cargo nextest run --workspace --locked -E 'package(lintel-bench)'" ;;
    esac
}
client_args=()
((fast)) && client_args=(--ignore=tests/clients/test_openapi_schemathesis.py)
declare -A needs=([ops]="build" [clients]="build venv-clients" [tempest]="build venv-tempest"
    [import]="build venv-import" [cluster]="build venv-clients" [rust]="build" [bench]="build" [lint]="")
waiting=()
for p in ops clients tempest import cluster; do want $p && waiting+=("$p"); done
launch() { # PART: start it, or skip it if what it needs failed
    local p=$1 n
    for n in ${needs[$p]}; do
        [ -n "${rc_of[$n]:-}" ] || return 1 # not ready yet
        ok "$n" || { skip "$p" "$n failed"; return 0; }
    done
    case "$p" in
        ops) start ops tests/ops/run.sh "$LINTEL_BIN" ;;
        clients) start clients tests/clients/run.sh "${client_args[@]}" ;;
        tempest) start tempest tests/tempest/run.sh ;;
        import) start import tests/keystone_import/run.sh ;;
        cluster) start cluster tests/cluster/run.sh ;;
        *) eval "start $p $(cargo_cmd "$p")" ;;
    esac
}
next_cargo() { # start the next cargo part that can run, in order
    while [ ${#cargo_parts[@]} -gt 0 ]; do
        launch "${cargo_parts[0]}" || return 0
        cargo_parts=("${cargo_parts[@]:1}")
        [ -n "${pid_of[rust]:-}${pid_of[bench]:-}${pid_of[lint]:-}" ] && return 0
    done
}
# lint needs nothing built: it may start at once, but on 2 cores it would only slow the build down; it waits too.
needs[lint]="build"
((needs_bin)) || needs[lint]=""
while :; do
    still=()
    for p in "${waiting[@]}"; do launch "$p" || still+=("$p"); done
    waiting=("${still[@]}")
    [ -n "${pid_of[rust]:-}${pid_of[bench]:-}${pid_of[lint]:-}" ] || next_cargo
    running || break
    finish_one
done
trap - INT TERM

# --- nothing left behind ----------------------------------------------------------------------------------------
# Every server a suite starts runs from this checkout's target/ (the binary, or a venv's interpreter); every test
# database is made for the run. Once every part has ended, none of either may remain.
leftovers() { # PID and command line of every process whose program or command line is in this checkout's target/
    local d exe args
    for d in /proc/[0-9]*; do
        [ "${d#/proc/}" != "$$" ] || continue
        exe=$(readlink "$d/exe" 2>/dev/null) || continue
        args=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
        [[ "$exe" == "$repo/target/"* || "$args" == *"$repo/target/"* ]] && echo "${d#/proc/} $args"
    done
    return 0
}
leftover=$(leftovers)
leaked_dbs=$(comm -13 <(echo "$databases_before") <(databases | sort) || true)
hygiene=0
if [ -n "$leftover" ]; then
    echo "error: processes left running by the tests:" >&2
    echo "$leftover" >&2
    hygiene=1
fi
if [ -n "$leaked_dbs" ]; then
    echo "error: databases left behind by the tests:" >&2
    echo "$leaked_dbs" >&2
    hygiene=1
fi

# --- summary ------------------------------------------------------------------------------------------------------
total=$((SECONDS - t0))
echo
echo "part            result    time"
passed=0 failed=0
for name in "${order[@]}"; do
    case "${rc_of[$name]}" in
        0) res=passed; passed=$((passed + 1)) ;;
        "not run") res="not run"; failed=$((failed + 1)) ;;
        *) res=FAILED; failed=$((failed + 1)) ;;
    esac
    printf '%-15s %-9s %4ds\n' "$name" "$res" "${took[$name]}"
done
((hygiene)) && { printf '%-15s %-9s\n' leftovers FAILED; failed=$((failed + 1)); } || passed=$((passed + 1))
printf 'total: %d:%02d (budget for the full run: 20:00 cold on 2 cores; see docs/testing.md)\n' $((total / 60)) $((total % 60))
echo "parts: $passed passed, $failed failed"
((failed == 0))
