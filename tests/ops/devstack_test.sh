#!/usr/bin/env bash
# Run devstack/plugin.sh's phases against a fake devstack (tests/ops/fake-devstack/functions) and a real
# Lintel binary, and check what they leave behind.
#
#   tests/ops/devstack_test.sh [LINTEL_BIN]        (default: $LINTEL_BIN, else target/release/lintel)
#
# Scenarios, each in its own scratch directory, each phase in a fresh bash (errexit, nounset, like
# stack.sh but stricter), the plugin's settings sourced first as devstack does:
#   alongside   Apache in front at /lintel, Keystone untouched; then unstack and clean.
#   direct      alongside without Apache, listed in Keystone's catalog (LINTEL_REGISTER_IN_KEYSTONE).
#   replace     Keystone disabled; Lintel up by the end of "stack install" at /identity, devstack's
#               account functions run against it; then unstack and clean.
#   build       no LINTEL_BIN: the toolchain and `cargo build` steps (rustup faked, no compiling).
#   bad-mode    LINTEL_MODE=sideways stops the first phase with a clear message.
# For the started ones: the configuration has the right options and passes `lintel check-config` with no
# warning; db-sync, key setup and bootstrap really ran (SQLite file, keys, and a password token whose
# catalog holds the bootstrapped identity endpoint, fetched from the running server under the
# public_endpoint path); devstack@lintel.service as devstack writes it passes `systemd-analyze verify`;
# SIGTERM on unstack stops Lintel with exit status 0; clean removes config, data, Apache site and unit.
#
# Set LINTEL_KEEP=1 to keep the scratch directories (kept anyway when a check fails).
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd -- "$here/../.." && pwd)"
bin="${1:-${LINTEL_BIN:-$repo/target/release/lintel}}"
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
plugin_dir="$repo/devstack"
fake_functions="$here/fake-devstack/functions"

# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

if [[ ! -x "$bin" ]]; then
    echo "devstack_test: FAIL: no executable Lintel binary at $bin (cargo build --release, or set LINTEL_BIN)" >&2
    exit 1
fi
ensure_systemd_analyze
command -v curl >/dev/null || { echo "devstack_test: FAIL: curl is required" >&2; exit 1; }

root="$(mktemp -d "${TMPDIR:-/tmp}/lintel-devstack-test.XXXXXX")"
failures=0

cleanup() {
    # Never leave a Lintel running, whatever happened.
    local pid
    for pid in "$root"/*/units/*.pid; do
        [[ -e "$pid" ]] && kill -TERM "$(cat "$pid")" 2>/dev/null || true
    done
    if [[ $failures == 0 && "${LINTEL_KEEP:-0}" != 1 ]]; then
        rm -rf -- "$root"
    else
        echo "devstack_test: scratch directories kept in $root" >&2
    fi
}
trap cleanup EXIT

# --- checks: each prints ok/FAIL and counts failures; a scenario goes on after a failed check ----------

scenario=""
ok() { echo "  ok: $*"; }
bad() {
    echo "  FAIL [$scenario]: $*" >&2
    failures=$((failures + 1))
}
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# conf_value FILE SECTION OPTION: the value as Python's configparser (not our iniset) reads it.
conf_value() {
    python3 - "$@" <<'PY'
import configparser, sys
cp = configparser.ConfigParser(interpolation=None)
cp.read(sys.argv[1])
print(cp[sys.argv[2]].get(sys.argv[3], "<unset>"))
PY
}

check_conf() { # check_conf FILE SECTION OPTION EXPECTED
    local got
    got=$(conf_value "$1" "$2" "$3")
    if [[ "$got" == "$4" ]]; then ok "[$2] $3 = $4"; else bad "[$2] $3 is '$got', expected '$4'"; fi
}

# called NAME-AND-ARGS: calls.log has a line starting with exactly that.
called() { grep -qF -- "$1" "$state/calls.log" 2>/dev/null; }
line_of() { grep -nF -- "$1" "$state/calls.log" | head -n1 | cut -d: -f1; }

# run_phases PHASE...: the plugin's phases in a fresh bash, as devstack runs them: devstack's functions
# (here the fake), then the plugin's settings, then plugin.sh once per phase. Output in phases.log.
run_phases() {
    echo "  running: $*"
    bash -c '
        set -o errexit -o nounset -o pipefail
        source "$FAKE_FUNCTIONS"
        source "$PLUGIN_DIR/settings"
        for phase in "$@"; do
            echo "=== phase: $phase"
            # shellcheck disable=SC2086 # "stack install" is two arguments, as devstack passes them
            source "$PLUGIN_DIR/plugin.sh" $phase
        done
        # What settings did to the service lists, for the checks.
        printf "%s\n" "ENABLED_SERVICES=$ENABLED_SERVICES" "DISABLED_SERVICES=$DISABLED_SERVICES" \
            >"$FAKE_DEVSTACK_STATE/services"
    ' run_phases "$@" >>"$state/phases.log" 2>&1
}

phase_failed() {
    bad "phase(s) $* failed; last lines of $state/phases.log:"
    tail -n 25 "$state/phases.log" | sed 's/^/      /' >&2
}

# new_scenario NAME: a scratch directory and the devstack environment for one run of the plugin.
new_scenario() {
    scenario=$1
    echo "== $scenario"
    state="$root/$scenario"
    mkdir -p "$state/bin"
    export FAKE_DEVSTACK_STATE="$state" FAKE_FUNCTIONS="$fake_functions" PLUGIN_DIR="$plugin_dir"
    export LINTEL_CONF_DIR="$state/etc/lintel" DATA_DIR="$state/opt/stack/data" DEST="$state/opt/stack"
    export SERVICE_HOST=127.0.0.1 SERVICE_PROTOCOL=http SERVICE_TIMEOUT=30
    export KEYSTONE_SERVICE_URI="http://127.0.0.1/identity" STACK_USER
    STACK_USER=$(id -un)
    export LINTEL_PORT
    LINTEL_PORT=$(free_port)
    export LINTEL_BIN="$bin"
    unset LINTEL_MODE LINTEL_USE_APACHE LINTEL_REGISTER_IN_KEYSTONE LINTEL_DIR
    # A prebuilt binary means no toolchain and no build: any cargo or rustup call is a failure.
    local tool
    for tool in cargo rustup; do
        printf '#!/bin/sh\necho "UNEXPECTED %s $*" >>"%s/calls.log"\nexit 1\n' "$tool" "$state" >"$state/bin/$tool"
        chmod +x "$state/bin/$tool"
    done
    export PATH="$state/bin:$ORIG_PATH"
}
ORIG_PATH=$PATH

# check_started BASE_PATH PUBLIC_ENDPOINT_URL: what every scenario that starts Lintel must show.
check_started() {
    local path=$1 public=$2
    local conf="$LINTEL_CONF_DIR/lintel.conf" data="$DATA_DIR/lintel"
    local unit="$state/etc/systemd/system/devstack@lintel.service"

    check "configuration written to $conf" test -f "$conf"
    check "configuration readable by its owner only" test "$(stat -c %a "$conf")" = 600
    check_conf "$conf" DEFAULT public_endpoint "$public"
    check_conf "$conf" DEFAULT data_dir "$data"
    check_conf "$conf" server insecure_http true
    local out err
    if out=$("$bin" --config "$conf" check-config 2>"$state/check-config.err"); then
        err=$(cat "$state/check-config.err")
        if [[ -z "$err" ]]; then ok "lintel check-config: $out"; else bad "lintel check-config warns: $err"; fi
    else
        bad "lintel check-config rejects $conf: $(cat "$state/check-config.err")"
    fi

    check "db-sync created the SQLite database $data/lintel.db" test -s "$data/lintel.db"
    check "keys setup created a staged and a primary key" \
        test "$(find "$data/fernet-keys" -type f 2>/dev/null | wc -l)" -ge 2

    # devstack@lintel.service, as devstack's write_user_unit_file wrote it.
    check "run_process lintel \"$bin --config $conf serve\"" called "run_process lintel $bin --config $conf serve"
    check "unit file $unit written" test -f "$unit"
    if [[ -f "$unit" ]]; then
        if strict_verify "$(dirname "$unit")" "./$(basename "$unit")"; then
            ok "systemd-analyze verify devstack@lintel.service"
        else
            bad "systemd-analyze verify devstack@lintel.service (output above)"
        fi
    fi

    # The server really runs, under the public_endpoint path, with the bootstrapped admin and catalog.
    local api
    if api=$(python3 - "http://$(conf_value "$conf" server bind)" "$path" "$ADMIN_PASSWORD" "$REGION_NAME" \
        "$LINTEL_EXPECTED_IDENTITY_URL" <<'PY' 2>&1
import json, sys, urllib.error, urllib.request
backend, path, password, region, want_url = sys.argv[1:]

def call(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=body and json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), None

status, _, _ = call("GET", f"{backend}{path}/v3")
if status != 200:
    root, _, _ = call("GET", f"{backend}/v3")
    sys.exit(f"GET {path}/v3 answered {status} (GET /v3: {root}): Lintel must serve its API under the "
             f"path of public_endpoint ({path})")
body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "admin", "domain": {"id": "default"}, "password": password}}},
    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
status, headers, token = call("POST", f"{backend}{path}/v3/auth/tokens", body)
if status != 201 or not any(k.lower() == "x-subject-token" for k in headers):
    sys.exit(f"password token for admin (the bootstrap password): {status}")
endpoints = [e for s in token["token"].get("catalog", []) if s.get("type") == "identity"
             for e in s.get("endpoints", []) if e.get("interface") == "public"]
got = [(e.get("url"), e.get("region_id") or e.get("region")) for e in endpoints]
if (want_url, region) not in got:
    sys.exit(f"catalog identity public endpoints {got}, expected [({want_url!r}, {region!r})]")
print(f"admin token issued; catalog identity endpoint {want_url} in {region}")
PY
    ); then
        ok "API: $api"
    else
        bad "API: $api"
    fi
}

# check_stopped_and_cleaned: unstack, then clean.
check_unstack_clean() {
    local conf_dir=$LINTEL_CONF_DIR data="$DATA_DIR/lintel" port
    port=$(conf_value "$conf_dir/lintel.conf" server bind)
    if run_phases unstack; then
        check "unstack: stop_process lintel" called "stop_process lintel"
        local rc
        rc=$(cat "$state/units/devstack@lintel.service.rc" 2>/dev/null || echo "still running")
        if [[ "$rc" == 0 ]]; then ok "unstack: Lintel exited 0 on SIGTERM"; else bad "unstack: Lintel exit status on SIGTERM: $rc"; fi
        if curl -s -o /dev/null --max-time 2 "http://$port/healthz"; then bad "unstack: $port still answers"; else ok "unstack: nothing listens on $port"; fi
    else
        phase_failed unstack
    fi
    if run_phases clean; then
        check "clean: $conf_dir removed" test ! -e "$conf_dir"
        check "clean: $data removed" test ! -e "$data"
        check "clean: unit file removed" test ! -e "$state/etc/systemd/system/devstack@lintel.service"
    else
        phase_failed clean
    fi
}

check_apache_site() { # check_apache_site PATH
    local path=$1 site="$state/etc/apache2/sites-available/lintel.conf"
    local backend="127.0.0.1:$LINTEL_PORT"
    check "Apache site $site written" test -f "$site"
    check "Apache forwards $path to http://$backend$path" grep -qF "ProxyPass \"http://$backend$path\"" "$site"
    check "Apache sets X-Forwarded-Proto for $path" grep -qF 'RequestHeader set X-Forwarded-Proto "http"' "$site"
    check "Apache <Location \"$path\">" grep -qF "<Location \"$path\">" "$site"
    local mod
    for mod in proxy proxy_http headers; do
        check "enable_apache_mod $mod" called "enable_apache_mod $mod"
    done
    check "enable_apache_site lintel, then restart_apache_server" \
        test "$(line_of "enable_apache_site lintel")" -lt "$(line_of restart_apache_server)"
    check_conf "$LINTEL_CONF_DIR/lintel.conf" server bind "$backend"
    check_conf "$LINTEL_CONF_DIR/lintel.conf" oslo_middleware enable_proxy_headers_parsing true
}

site_removed() {
    called "disable_apache_site lintel" && test ! -e "$state/etc/apache2/sites-available/lintel.conf"
}

check_no_build() {
    check "no cargo or rustup call with a prebuilt LINTEL_BIN" not_called UNEXPECTED
}
not_called() { ! called "$1"; }


# --- scenarios -----------------------------------------------------------------------------------------

new_scenario alongside
export LINTEL_MODE=alongside ENABLED_SERVICES=key,mysql,n-api REGION_NAME=RegionOne ADMIN_PASSWORD=alongside-pw
export LINTEL_EXPECTED_IDENTITY_URL="http://127.0.0.1/lintel/v3"
if run_phases "stack pre-install" "stack install" "stack post-config" "stack extra"; then
    check "Keystone still enabled" grep -qx 'ENABLED_SERVICES=key,mysql,n-api,lintel' "$state/services"
    check_started /lintel "http://127.0.0.1/lintel"
    check_apache_site /lintel
    check "nothing registered in Keystone" not_called get_or_create_
    check "devstack's account functions left to devstack" not_called create_keystone_accounts
    check_no_build
    check_unstack_clean
    check "clean: Apache site disabled and removed" site_removed
else
    phase_failed "stack pre-install .. extra"
fi

new_scenario direct
export LINTEL_MODE=alongside LINTEL_USE_APACHE=False LINTEL_REGISTER_IN_KEYSTONE=True
export ENABLED_SERVICES=key,mysql REGION_NAME=RegionOne ADMIN_PASSWORD=direct-pw
export LINTEL_EXPECTED_IDENTITY_URL="http://127.0.0.1:$LINTEL_PORT/v3"
if run_phases "stack pre-install" "stack install" "stack post-config" "stack extra"; then
    check_started "" "http://127.0.0.1:$LINTEL_PORT"
    check_conf "$LINTEL_CONF_DIR/lintel.conf" server bind "127.0.0.1:$LINTEL_PORT"
    check_conf "$LINTEL_CONF_DIR/lintel.conf" oslo_middleware enable_proxy_headers_parsing "<unset>"
    check "no Apache site" not_called enable_apache_site
    check "get_or_create_service lintel identity-lintel" called "get_or_create_service lintel identity-lintel"
    check "get_or_create_endpoint identity-lintel RegionOne $LINTEL_EXPECTED_IDENTITY_URL" \
        called "get_or_create_endpoint identity-lintel RegionOne $LINTEL_EXPECTED_IDENTITY_URL"
    check_no_build
    check_unstack_clean
else
    phase_failed "stack pre-install .. extra"
fi

new_scenario replace
export LINTEL_MODE=replace ENABLED_SERVICES=key,mysql,n-api,n-cpu,g-api,placement-api
export REGION_NAME=RegionTwo ADMIN_PASSWORD=replace-pw
export LINTEL_EXPECTED_IDENTITY_URL="$KEYSTONE_SERVICE_URI/v3"
if run_phases "stack pre-install" "stack install"; then
    # Everything devstack needs from an identity service happens in "stack install".
    check "Keystone disabled" grep -qx 'DISABLED_SERVICES=key,keystone' "$state/services"
    check "Keystone's service removed" grep -qx 'ENABLED_SERVICES=mysql,n-api,n-cpu,g-api,placement-api,lintel' "$state/services"
    check_started /identity "$KEYSTONE_SERVICE_URI"
    check_apache_site /identity
    check "python-openstackclient installed for the account functions" called "pip_install_gr python-openstackclient"
    accounts="OS_AUTH_URL=$KEYSTONE_SERVICE_URI OS_USERNAME=admin OS_PASSWORD=$ADMIN_PASSWORD OS_PROJECT_NAME=admin OS_REGION_NAME=$REGION_NAME OS_CLOUD="
    for fn in create_keystone_accounts create_nova_accounts create_glance_accounts; do
        check "$fn, as admin against Lintel" called "$fn $accounts"
    done
    check "create_keystone_accounts after Lintel started" \
        test "$(line_of "run_process lintel")" -lt "$(line_of create_keystone_accounts)"
    for fn in create_cinder_accounts create_neutron_accounts create_swift_accounts; do
        check "no $fn (service not enabled)" not_called "$fn"
    done
    check_no_build
    before=$(sha256sum "$LINTEL_CONF_DIR/lintel.conf" "$state/calls.log" | sha256sum)
    if run_phases "stack post-config" "stack extra"; then
        after=$(sha256sum "$LINTEL_CONF_DIR/lintel.conf" "$state/calls.log" | sha256sum)
        check "post-config and extra do nothing more in replace mode" test "$before" = "$after"
    else
        phase_failed "stack post-config" "stack extra"
    fi
    check_unstack_clean
else
    phase_failed "stack pre-install" "stack install"
fi

new_scenario build
unset LINTEL_BIN
export LINTEL_MODE=alongside ENABLED_SERVICES=key LINTEL_DIR="$state/src" HOME="$state/home"
mkdir -p "$LINTEL_DIR" "$HOME"
# rustup on PATH: the plugin must use it (no installer download), install the toolchain, and build with
# it in LINTEL_DIR; "building" copies the real binary where cargo would put it.
cat >"$state/bin/rustup" <<EOF
#!/bin/sh
echo "rustup \$* (in \$PWD)" >>"$state/calls.log"
case "\$*" in
    "run stable cargo build --release --locked") mkdir -p target/release && cp "$bin" target/release/lintel ;;
esac
EOF
if run_phases "stack pre-install" "stack install"; then
    check "rustup toolchain install stable --profile minimal" called "rustup toolchain install stable --profile minimal"
    check "cargo build --release --locked in LINTEL_DIR, with rustup's toolchain" \
        called "rustup run stable cargo build --release --locked (in $LINTEL_DIR)"
    check "no cargo other than through rustup" not_called "UNEXPECTED cargo"
    check "the built binary ran (--version)" grep -q "^lintel " "$state/phases.log"
else
    phase_failed "stack pre-install" "stack install"
fi

new_scenario bad-mode
export LINTEL_MODE=sideways ENABLED_SERVICES=key
if run_phases "stack pre-install"; then
    bad "LINTEL_MODE=sideways was accepted"
else
    check "LINTEL_MODE=sideways stops stack.sh with a clear message" \
        grep -q "LINTEL_MODE must be 'alongside' or 'replace', not 'sideways'" "$state/phases.log"
fi

echo
if [[ $failures == 0 ]]; then
    echo "devstack_test: PASS"
else
    echo "devstack_test: FAIL ($failures failed check(s))" >&2
    exit 1
fi
