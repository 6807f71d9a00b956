#!/usr/bin/env bash
# Run OpenStack Tempest's identity tests (selection.txt) against a freshly
# started Lintel. See tests/tempest/README.md.
#
#   tests/tempest/run.sh [extra `tempest run` args...]
#
# Environment:
#   LINTEL_TEMPEST_VENV   venv to create/reuse      (default: <repo>/target/tempest-venv)
#   LINTEL_BIN            binary to test            (default: <repo>/target/debug/lintel)
#   LINTEL_TEMPEST_WORK   scratch dir, wiped first  (default: <repo>/target/tempest-work)
#   LINTEL_TEMPEST_CONCURRENCY  tempest workers, 1 = serial (default: 2)
#   LINTEL_TEMPEST_SELECTION    test id list        (default: tests/tempest/selection.txt)
#   PYTHON                interpreter for the venv  (default: python3)
#   LINTEL_TEST_STARTUP_TIMEOUT  seconds to wait for /healthz (default: 30)
#   LINTEL_TEMPEST_SETUP_ONLY=1  only create/update the venv, run no tests
#
# Exit status: 0 only when every selected test ran and passed (a skipped or
# missing test, or a run of 0 tests, fails it).
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd -- "$here/../.." && pwd)"
venv="${LINTEL_TEMPEST_VENV:-$repo/target/tempest-venv}"
bin="${LINTEL_BIN:-$repo/target/debug/lintel}"
work="${LINTEL_TEMPEST_WORK:-$repo/target/tempest-work}"
selection="${LINTEL_TEMPEST_SELECTION:-$here/selection.txt}"
concurrency="${LINTEL_TEMPEST_CONCURRENCY:-2}"
python="${PYTHON:-python3}"
req="$here/requirements.txt"
setup_only="${LINTEL_TEMPEST_SETUP_ONLY:-0}"
startup_timeout="${LINTEL_TEST_STARTUP_TIMEOUT:-30}"

# Make relative overrides independent of the directory we cd into below.
abs() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
venv="$(abs "$venv")"; bin="$(abs "$bin")"; work="$(abs "$work")"; selection="$(abs "$selection")"

if [[ "$setup_only" != 1 && ! -x "$bin" ]]; then
    cat >&2 <<EOF
error: Lintel binary not found (or not executable): $bin
       Build it first:  cargo build --locked
       or point LINTEL_BIN at an existing binary.
EOF
    exit 1
fi
if ! [[ "$concurrency" =~ ^[1-9][0-9]*$ ]]; then
    echo "error: LINTEL_TEMPEST_CONCURRENCY must be a positive integer, not '$concurrency'" >&2
    exit 1
fi

# --- the venv ---------------------------------------------------------------
# shellcheck source=../lib/venv.sh
. "$here/../lib/venv.sh"
ensure_venv tempest "$venv" "$python" "$req"
if [[ "$setup_only" == 1 ]]; then
    echo "tempest: venv ready at $venv" >&2
    exit 0
fi

# --- a fresh server ---------------------------------------------------------
# Nothing from the caller's OpenStack environment may leak into the server or
# tempest, and no proxy may sit between tempest and the loopback server.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep '^OS_' || true)
export no_proxy="${no_proxy:+$no_proxy,}127.0.0.1,localhost"
export NO_PROXY="${NO_PROXY:+$NO_PROXY,}127.0.0.1,localhost"

# Refuse to wipe anything that is obviously not a scratch directory.
case "$work" in /|"$repo"|"$repo/"|"$HOME"|"$HOME/") echo "error: refusing to use $work as scratch dir" >&2; exit 1 ;; esac
rm -rf -- "$work"
mkdir -p -- "$work/etc" "$work/logs" "$work/tempest_lock"
data="$work/data"
server_log="$work/lintel-serve.log"

port="$("$venv/bin/python" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="https://127.0.0.1:$port"

server_pid=""
stop_server() {
    local pid="$server_pid"
    server_pid=""
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "tempest: lintel serve ignored SIGTERM for 15s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Lintel with defaults except the gate's password rules: Keystone's gate (devstack's
# KEYSTONE_SECURITY_COMPLIANCE_ENABLED, on by default) runs Tempest with these, and
# tempest.conf says so (security_compliance = true and the user_* options), which
# turns on Tempest's lockout and password-history tests. With a configuration file
# the schema and the admin are set up as an operator does (db-sync, bootstrap); the
# newcomer path without one is tests/integration/first_hour.rs's. data_dir is
# ./data in the work dir, where serve writes its self-signed certificate.
conf="$work/lintel.conf"
cat >"$conf" <<CONF
[DEFAULT]
public_endpoint = $base
[server]
bind = 127.0.0.1:$port
[security_compliance]
lockout_failure_attempts = 2
lockout_duration = 10
unique_last_password_count = 2
CONF
admin_password="$("$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(24))')"
(cd -- "$work" && unset LINTEL_CONFIG && "$bin" --config "$conf" db-sync &&
    OS_BOOTSTRAP_PASSWORD="$admin_password" "$bin" --config "$conf" bootstrap) >"$work/setup.log" 2>&1 || {
    echo "error: setting up Lintel failed; log:" >&2
    cat "$work/setup.log" >&2
    exit 1
}
echo "tempest: starting $bin on $base (work dir $work)" >&2
(cd -- "$work" && unset LINTEL_CONFIG && RUST_BACKTRACE=1 \
    exec "$bin" --config "$conf" serve) </dev/null >"$server_log" 2>&1 &
server_pid=$!

cacert="$data/tls/cert.pem"
deadline=$((SECONDS + startup_timeout))
last="no attempt yet"
until [[ -f "$cacert" ]] &&
      code="$(curl -sS --noproxy '*' --cacert "$cacert" -o /dev/null -w '%{http_code}' \
                   --max-time 2 "$base/healthz" 2>&1)" && [[ "$code" == 200 ]]; do
    last="${code:-certificate not written yet}"
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "error: lintel serve exited before $base/healthz answered; log:" >&2
        tail -n 60 "$server_log" >&2
        exit 1
    fi
    if ((SECONDS >= deadline)); then
        echo "error: $base/healthz did not answer 200 within ${startup_timeout}s (last: $last); log:" >&2
        tail -n 60 "$server_log" >&2
        exit 1
    fi
    code=""
    sleep 0.2
done

# --- tempest ----------------------------------------------------------------
helper=("$venv/bin/python" "$here/helper.py")
"${helper[@]}" fill "$here/tempest.conf.template" "$work/etc/tempest.conf" \
    "WORKSPACE=$work" "ADMIN_PASSWORD=$admin_password" "PORT=$port" "CA_FILE=$cacert"
"${helper[@]}" include-list "$selection" "$work/include-list.txt"

if ((concurrency == 1)); then par=(--serial); else par=(--concurrency "$concurrency"); fi
echo "tempest: running $(grep -c . "$work/include-list.txt") selected tests (${par[*]})" >&2
start=$SECONDS
set +e
# In a directory without .stestr.conf, `tempest run` writes one there pointing
# at tempest's own test tree; the stestr repository lands there too.
# keystone-tempest-plugin's clients ignore [identity] ca_certificates_file: OpenSSL's default
# verify file is Lintel's certificate for this run (only loopback traffic is made).
(cd -- "$work" && SSL_CERT_FILE="$cacert" "$venv/bin/tempest" run --config-file "$work/etc/tempest.conf" \
    --include-list "$work/include-list.txt" "${par[@]}" "$@")
tempest_rc=$?
(cd -- "$work" && "$venv/bin/stestr" last --subunit >"$work/results.subunit" 2>/dev/null) ||
    : >"$work/results.subunit"
set -e
echo "tempest: run took $((SECONDS - start))s (tempest exit status $tempest_rc)" >&2

stop_server
rc=0
"${helper[@]}" summarize "$selection" "$work/results.subunit" "$work/failures.txt" || rc=$?
if ((rc == 0 && tempest_rc != 0)); then
    echo "tempest: tempest run exited $tempest_rc although every selected test passed" >&2
    rc=1
fi
echo "logs: $work/logs/tempest.log (requests and responses), $server_log" >&2
exit "$rc"
