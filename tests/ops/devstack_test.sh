#!/usr/bin/env bash
# Run devstack/plugin.sh's phases against a fake devstack (tests/ops/fake-devstack/functions) and a real
# Lintel binary, and check what they leave behind.
#
#   tests/ops/devstack_test.sh [LINTEL_BIN]        (default: $LINTEL_BIN, else target/debug/lintel)
#
# Scenarios, each in its own scratch directory, each phase in a fresh bash (errexit, nounset, like
# stack.sh but stricter), the plugin's settings sourced first as devstack does:
#   alongside        tls-proxy enabled, Apache in front at https://.../lintel, Keystone untouched; the
#                    token endpoint takes what tls-proxy marks X-Forwarded-Proto: https; unstack, clean.
#   direct           alongside without Apache, no tls-proxy: Lintel serves HTTPS itself with the
#                    certificate it generates; listed in Keystone's catalog (LINTEL_REGISTER_IN_KEYSTONE).
#   direct-tls-proxy alongside without Apache, tls-proxy enabled: HTTPS with devstack's certificate.
#   replace          tls-proxy enabled; Keystone disabled; Lintel up by the end of "stack install" at
#                    https://.../identity, devstack's account functions run against it; unstack, clean.
#   plain-http       alongside, no tls-proxy, LINTEL_ALLOW_PLAIN_HTTP=True: a warning, plain HTTP, and the
#                    token endpoint refuses what Apache marks X-Forwarded-Proto: http; unstack, clean.
#   no-tls-proxy     alongside behind Apache without tls-proxy: "stack pre-install" stops stack.sh, before
#                    any build, naming the fixes; unstack and clean still work.
#   replace-no-tls-proxy   the same in replace mode, naming the fix replace mode allows.
#   build            no LINTEL_BIN: the toolchain and `cargo build` steps (rustup faked, no compiling).
#   bad-mode         LINTEL_MODE=sideways stops the first phase with a clear message.
# For the started ones: the configuration has the right options and passes `lintel check-config` with no
# warning; db-sync, key setup and bootstrap really ran (SQLite file, keys, and a password token whose
# catalog holds the bootstrapped identity endpoint, fetched from the running server under the
# public_endpoint path, over HTTPS checked against the expected CA when Lintel does TLS itself); the
# OAuth 2.0 token endpoint accepts or refuses the transport as it should (a made-up client, so
# "accepted" means invalid_client rather than the HTTPS refusal); devstack@lintel.service as devstack
# writes it passes `systemd-analyze verify`; SIGTERM on unstack stops Lintel with exit status 0; clean
# removes config, data, Apache site and unit. Apache itself is not run: the site file is checked as text.
#
# Set LINTEL_KEEP=1 to keep the scratch directories (kept anyway when a check fails).
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd -- "$here/../.." && pwd)"
bin="${1:-${LINTEL_BIN:-$repo/target/debug/lintel}}"
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
plugin_dir="$repo/devstack"
fake_functions="$here/fake-devstack/functions"

# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

if [[ ! -x "$bin" ]]; then
    echo "devstack_test: FAIL: no executable Lintel binary at $bin (cargo build, or set LINTEL_BIN)" >&2
    exit 1
fi
ensure_systemd_analyze
command -v curl >/dev/null || { echo "devstack_test: FAIL: curl is required" >&2; exit 1; }
command -v openssl >/dev/null || { echo "devstack_test: FAIL: openssl is required (a devstack-like certificate)" >&2; exit 1; }

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
print(cp.get(sys.argv[2], sys.argv[3], fallback="<unset>"))
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
    # SERVICE_PROTOCOL stays http with tls-proxy too, as in devstack; the fake derives KEYSTONE_SERVICE_URI.
    export SERVICE_HOST=127.0.0.1 SERVICE_PROTOCOL=http SERVICE_TIMEOUT=30 STACK_USER
    STACK_USER=$(id -un)
    export LINTEL_PORT
    LINTEL_PORT=$(free_port)
    export LINTEL_BIN="$bin"
    unset LINTEL_MODE LINTEL_USE_APACHE LINTEL_REGISTER_IN_KEYSTONE LINTEL_DIR LINTEL_ALLOW_PLAIN_HTTP
    unset KEYSTONE_SERVICE_URI KEYSTONE_SERVICE_PROTOCOL
    # A prebuilt binary means no toolchain and no build: any cargo or rustup call is a failure.
    local tool
    for tool in cargo rustup; do
        printf '#!/bin/sh\necho "UNEXPECTED %s $*" >>"%s/calls.log"\nexit 1\n' "$tool" "$state" >"$state/bin/$tool"
        chmod +x "$state/bin/$tool"
    done
    export PATH="$state/bin:$ORIG_PATH"
}
ORIG_PATH=$PATH

# backend_url: where the running Lintel answers, from its configuration (its own TLS listener or not).
backend_url() {
    local conf="$LINTEL_CONF_DIR/lintel.conf" scheme=https
    [[ $(conf_value "$conf" server insecure_http) == true ]] && scheme=http
    echo "$scheme://$(conf_value "$conf" server bind)"
}

# backend_ca: the certificate that backend_url's TLS must verify against (the configured cert_file, here
# always a file with the CA in it, else the one Lintel generated); empty for plain HTTP.
backend_ca() {
    local conf="$LINTEL_CONF_DIR/lintel.conf" cert
    [[ $(conf_value "$conf" server insecure_http) == true ]] && return 0
    cert=$(conf_value "$conf" tls cert_file)
    if [[ "$cert" == "<unset>" ]]; then echo "$DATA_DIR/lintel/tls/cert.pem"; else echo "$cert"; fi
}

# check_started BASE_PATH PUBLIC_ENDPOINT_URL INSECURE_HTTP: what every scenario that starts Lintel must show.
check_started() {
    local path=$1 public=$2 insecure=$3
    local conf="$LINTEL_CONF_DIR/lintel.conf" data="$DATA_DIR/lintel"
    local unit="$state/etc/systemd/system/devstack@lintel.service"

    check "configuration written to $conf" test -f "$conf"
    check "configuration readable by its owner only" test "$(stat -c %a "$conf")" = 600
    check_conf "$conf" DEFAULT public_endpoint "$public"
    check_conf "$conf" DEFAULT data_dir "$data"
    check_conf "$conf" server insecure_http "$insecure"
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
    if api=$(python3 - "$(backend_url)" "$(backend_ca)" "$path" "$ADMIN_PASSWORD" "$REGION_NAME" \
        "$LINTEL_EXPECTED_IDENTITY_URL" <<'PY' 2>&1
import json, ssl, sys, urllib.error, urllib.request
backend, cafile, path, password, region, want_url = sys.argv[1:]
# HTTPS: verified, certificate chain and host name, against the expected CA only.
tls = ssl.create_default_context(cafile=cafile) if cafile else None

def call(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=body and json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10, context=tls) as r:
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
print(f"admin token issued over {backend.split(':')[0]}; catalog identity endpoint {want_url} in {region}")
PY
    ); then
        ok "API: $api"
    else
        bad "API: $api"
    fi
}

# check_oauth accepted|refused BASE_PATH [X-Forwarded-Proto]: a client credentials request from a made-up
# client straight to Lintel, with the header the proxy in front would send (none without one). "accepted":
# the transport passed (invalid_client); "refused": the token endpoint's answer to plain HTTP.
check_oauth() {
    local want=$1 path=$2 proto=${3:-} out backend what
    backend=$(backend_url)
    what="OAuth 2.0 token endpoint at $backend without X-Forwarded-Proto"
    [[ -n "$proto" ]] && what="OAuth 2.0 token endpoint at $backend with X-Forwarded-Proto: $proto"
    if out=$(python3 - "$backend$path/v3/OS-OAUTH2/token" "$(backend_ca)" "$proto" <<'PY' 2>&1
import base64, json, ssl, sys, urllib.error, urllib.request
url, cafile, proto = sys.argv[1:]
headers = {"Content-Type": "application/x-www-form-urlencoded",
           "Authorization": "Basic " + base64.b64encode(b"no-such-client:wrong-secret").decode()}
if proto:
    headers["X-Forwarded-Proto"] = proto
req = urllib.request.Request(url, method="POST", data=b"grant_type=client_credentials", headers=headers)
tls = ssl.create_default_context(cafile=cafile) if cafile else None
try:
    with urllib.request.urlopen(req, timeout=10, context=tls) as r:
        status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
try:
    answer = json.loads(body)
except ValueError:
    sys.exit(f"{status}, not JSON: {body[:200]!r}")
error, text = answer.get("error"), answer.get("error_description", "")
if error == "invalid_request" and "HTTPS" in text:
    print(f"refused: {status} {error}: {text}")
elif error == "invalid_client":
    print(f"accepted: {status} {error} (HTTPS passed; the made-up client did not)")
else:
    sys.exit(f"unexpected answer {status}: {answer}")
PY
    ); then
        if [[ "$out" == "$want:"* ]]; then ok "$what: $out"; else bad "$what: $out (expected: $want)"; fi
    else
        bad "$what: $out"
    fi
}

# check_stopped_and_cleaned: unstack, then clean.
check_unstack_clean() {
    local conf_dir=$LINTEL_CONF_DIR data="$DATA_DIR/lintel" backend
    backend=$(backend_url)
    if run_phases unstack; then
        check "unstack: stop_process lintel" called "stop_process lintel"
        local rc
        rc=$(cat "$state/units/devstack@lintel.service.rc" 2>/dev/null || echo "still running")
        if [[ "$rc" == 0 ]]; then ok "unstack: Lintel exited 0 on SIGTERM"; else bad "unstack: Lintel exit status on SIGTERM: $rc"; fi
        if curl -sk -o /dev/null --max-time 2 "$backend/healthz"; then bad "unstack: $backend still answers"; else ok "unstack: nothing answers at $backend"; fi
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

check_apache_site() { # check_apache_site PATH X_FORWARDED_PROTO_LINE
    local path=$1 header=$2 site="$state/etc/apache2/sites-available/lintel.conf"
    local backend="127.0.0.1:$LINTEL_PORT"
    check "Apache site $site written" test -f "$site"
    check "Apache forwards $path to http://$backend$path" grep -qF "ProxyPass \"http://$backend$path\"" "$site"
    check "Apache: $header" grep -qxF "    $header" "$site"
    check "Apache never sets X-Forwarded-Proto https itself" not_grep -i 'X-Forwarded-Proto.*https' "$site"
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
not_grep() { ! grep -q "$@"; }

# make_devstack_cert: what devstack's lib/tls init_cert leaves in $DEVSTACK_CERT (the private key, the
# server certificate for $SERVICE_HOST, the CA certificate, in one file), from a throwaway CA.
make_devstack_cert() {
    local dir="$state/CA"
    mkdir -p "$dir" "$DATA_DIR"
    (
        cd "$dir"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out cacert.pem -days 2 \
            -subj "/O=OpenStack/OU=DevStack/CN=fake devstack CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
        openssl req -newkey rsa:2048 -nodes -keyout devstack-cert.key -out devstack-cert.csr \
            -subj "/O=OpenStack/OU=DevStack/CN=$SERVICE_HOST"
        printf '%s\n' "subjectAltName=IP:$SERVICE_HOST,DNS:localhost" "basicConstraints=CA:FALSE" \
            "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >ext.cnf
        openssl x509 -req -in devstack-cert.csr -CA cacert.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile ext.cnf -out devstack-cert.crt
        cat devstack-cert.key devstack-cert.crt cacert.pem >"$DATA_DIR/devstack-cert.pem"
    ) >"$state/openssl.log" 2>&1
}


# --- scenarios -----------------------------------------------------------------------------------------

new_scenario alongside
export LINTEL_MODE=alongside ENABLED_SERVICES=key,mysql,n-api,tls-proxy REGION_NAME=RegionOne ADMIN_PASSWORD=alongside-pw
export LINTEL_EXPECTED_IDENTITY_URL="https://127.0.0.1/lintel/v3"
if run_phases "stack pre-install" "stack install" "stack post-config" "stack extra"; then
    check "Keystone still enabled" grep -qx 'ENABLED_SERVICES=key,mysql,n-api,tls-proxy,lintel' "$state/services"
    check_started /lintel "https://127.0.0.1/lintel" true
    check_apache_site /lintel 'RequestHeader setifempty X-Forwarded-Proto "http"'
    # What tls-proxy forwards (X-Forwarded-Proto: https), and a request made to Apache's port 80 directly.
    check_oauth accepted /lintel https
    check_oauth refused /lintel http
    check "no warning" not_called "warn "
    check "TLS proxy left to stack.sh" not_called start_tls_proxy
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
export LINTEL_EXPECTED_IDENTITY_URL="https://127.0.0.1:$LINTEL_PORT/v3"
if run_phases "stack pre-install" "stack install" "stack post-config" "stack extra"; then
    # check_started verifies the HTTPS against the certificate Lintel generated.
    check_started "" "https://127.0.0.1:$LINTEL_PORT" false
    check_conf "$LINTEL_CONF_DIR/lintel.conf" server bind "127.0.0.1:$LINTEL_PORT"
    check_conf "$LINTEL_CONF_DIR/lintel.conf" tls cert_file "<unset>"
    check_conf "$LINTEL_CONF_DIR/lintel.conf" oslo_middleware enable_proxy_headers_parsing "<unset>"
    check "Lintel generated its certificate in $DATA_DIR/lintel/tls" test -s "$DATA_DIR/lintel/tls/cert.pem"
    check "stack.sh's output says where OS_CACERT is" \
        grep -qF "export OS_CACERT=$DATA_DIR/lintel/tls/cert.pem" "$state/phases.log"
    check_oauth accepted ""
    check "no Apache site" not_called enable_apache_site
    check "no warning" not_called "warn "
    check "get_or_create_service lintel identity-lintel" called "get_or_create_service lintel identity-lintel"
    check "get_or_create_endpoint identity-lintel RegionOne $LINTEL_EXPECTED_IDENTITY_URL" \
        called "get_or_create_endpoint identity-lintel RegionOne $LINTEL_EXPECTED_IDENTITY_URL"
    check_no_build
    check_unstack_clean
else
    phase_failed "stack pre-install .. extra"
fi

new_scenario direct-tls-proxy
export LINTEL_MODE=alongside LINTEL_USE_APACHE=False ENABLED_SERVICES=key,mysql,tls-proxy
export REGION_NAME=RegionOne ADMIN_PASSWORD=direct-tls-pw
export LINTEL_EXPECTED_IDENTITY_URL="https://127.0.0.1:$LINTEL_PORT/v3"
if ! make_devstack_cert; then
    bad "openssl could not make a devstack-like certificate; see $state/openssl.log"
elif run_phases "stack pre-install" "stack install" "stack post-config" "stack extra"; then
    # check_started verifies the HTTPS against the fake devstack CA (backend_ca: cert_file holds it).
    check_started "" "https://127.0.0.1:$LINTEL_PORT" false
    check_conf "$LINTEL_CONF_DIR/lintel.conf" tls cert_file "$DATA_DIR/devstack-cert.pem"
    check_conf "$LINTEL_CONF_DIR/lintel.conf" tls key_file "$DATA_DIR/devstack-cert.pem"
    check "no certificate generated" test ! -e "$DATA_DIR/lintel/tls/cert.pem"
    check_oauth accepted ""
    check "no Apache site" not_called enable_apache_site
    check_no_build
    check_unstack_clean
else
    phase_failed "stack pre-install .. extra"
fi

new_scenario replace
export LINTEL_MODE=replace ENABLED_SERVICES=key,mysql,n-api,n-cpu,g-api,placement-api,tls-proxy
export REGION_NAME=RegionTwo ADMIN_PASSWORD=replace-pw
identity="https://127.0.0.1/identity"
export LINTEL_EXPECTED_IDENTITY_URL="$identity/v3"
if run_phases "stack pre-install" "stack install"; then
    # Everything devstack needs from an identity service happens in "stack install".
    check "Keystone disabled" grep -qx 'DISABLED_SERVICES=key,keystone' "$state/services"
    check "Keystone's service removed" \
        grep -qx 'ENABLED_SERVICES=mysql,n-api,n-cpu,g-api,placement-api,tls-proxy,lintel' "$state/services"
    check_started /identity "$identity" true
    check_apache_site /identity 'RequestHeader setifempty X-Forwarded-Proto "http"'
    check_oauth accepted /identity https
    check "python-openstackclient installed for the account functions" called "pip_install_gr python-openstackclient"
    accounts="OS_AUTH_URL=$identity OS_USERNAME=admin OS_PASSWORD=$ADMIN_PASSWORD OS_PROJECT_NAME=admin OS_REGION_NAME=$REGION_NAME OS_CLOUD="
    for fn in create_keystone_accounts create_nova_accounts create_glance_accounts; do
        check "$fn, as admin against Lintel" called "$fn $accounts"
    done
    check "create_keystone_accounts after Lintel started" \
        test "$(line_of "run_process lintel")" -lt "$(line_of create_keystone_accounts)"
    # $identity is https, served by tls-proxy, which stack.sh itself starts only after "stack install".
    check "devstack's TLS proxy started (stack.sh's arguments) before create_keystone_accounts" \
        test "$(line_of "start_tls_proxy http-services * 443 127.0.0.1 80")" -lt "$(line_of create_keystone_accounts)"
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

new_scenario plain-http
export LINTEL_MODE=alongside LINTEL_ALLOW_PLAIN_HTTP=True ENABLED_SERVICES=key,mysql
export REGION_NAME=RegionOne ADMIN_PASSWORD=plain-pw
export LINTEL_EXPECTED_IDENTITY_URL="http://127.0.0.1/lintel/v3"
if run_phases "stack pre-install" "stack install" "stack post-config" "stack extra"; then
    check "a warning that OAuth 2.0 will not work" \
        called "warn Lintel is served over plain HTTP at http://127.0.0.1/lintel (LINTEL_ALLOW_PLAIN_HTTP=True): its OAuth 2.0 token endpoint"
    check_started /lintel "http://127.0.0.1/lintel" true
    check_apache_site /lintel 'RequestHeader set X-Forwarded-Proto "http"'
    # Exactly what this Apache sends: the endpoint must refuse (nothing claims HTTPS on the client's behalf).
    check_oauth refused /lintel http
    check_no_build
    check_unstack_clean
    check "clean: Apache site disabled and removed" site_removed
else
    phase_failed "stack pre-install .. extra"
fi

# check_refused FIX...: stack.sh stopped in "stack pre-install" with the HTTPS message naming each FIX, before
# the toolchain, build or configuration; unstack and clean still run.
check_refused() {
    local fix
    check "the HTTPS message" grep -qF "[ERROR] " "$state/phases.log"
    check "it says why" grep -qF "Lintel's OAuth 2.0 token endpoint requires HTTPS, but devstack's tls-proxy service is not enabled" "$state/phases.log"
    for fix in "$@"; do
        check "it names the fix: $fix" grep -qF -- "$fix" "$state/phases.log"
    done
    check "stopped in stack pre-install" not_grep -F "=== phase: stack install" "$state/phases.log"
    check "no toolchain or build attempted" not_called UNEXPECTED
    check "nothing configured" test ! -e "$LINTEL_CONF_DIR"
    if run_phases unstack clean; then ok "unstack and clean still run"; else phase_failed unstack clean; fi
}

new_scenario no-tls-proxy
# No LINTEL_BIN: had the plugin gone on, it would have run rustup (the stub records UNEXPECTED).
unset LINTEL_BIN
export LINTEL_MODE=alongside ENABLED_SERVICES=key,mysql LINTEL_DIR="$state/src" HOME="$state/home"
mkdir -p "$LINTEL_DIR" "$HOME"
if run_phases "stack pre-install" "stack install" "stack post-config" "stack extra"; then
    bad "Apache without tls-proxy was accepted"
else
    check_refused "add 'enable_service tls-proxy' to local.conf" "set LINTEL_USE_APACHE=False" \
        "set LINTEL_ALLOW_PLAIN_HTTP=True"
fi

new_scenario replace-no-tls-proxy
unset LINTEL_BIN
export LINTEL_MODE=replace ENABLED_SERVICES=key,mysql LINTEL_DIR="$state/src" HOME="$state/home"
mkdir -p "$LINTEL_DIR" "$HOME"
if run_phases "stack pre-install" "stack install"; then
    bad "replace mode without tls-proxy was accepted"
else
    check_refused "add 'enable_service tls-proxy' to local.conf" "set LINTEL_ALLOW_PLAIN_HTTP=True"
    check "no LINTEL_USE_APACHE=False in replace mode (it needs Apache)" \
        not_grep -F "LINTEL_USE_APACHE=False" "$state/phases.log"
fi

new_scenario build
unset LINTEL_BIN
export LINTEL_MODE=alongside ENABLED_SERVICES=key,tls-proxy LINTEL_DIR="$state/src" HOME="$state/home"
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
