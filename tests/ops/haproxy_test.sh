#!/usr/bin/env bash
# Lintel behind a real HAProxy (Debian's package) on loopback, as docs/deploy.md sets it: TLS at HAProxy,
# `option forwardfor`, plain HTTP to Lintel with [oslo_middleware] enable_proxy_headers_parsing. Clients connect
# from their own loopback addresses (127.0.0.2, 127.0.0.3) and write whatever X-Forwarded-For they like.
#
#   tests/ops/haproxy_test.sh [LINTEL_BIN]        (default: $LINTEL_BIN, else target/debug/lintel)
#
# Checks: the source Lintel throttles, logs and audits is the address HAProxy saw, never the client's text, so a
# guesser rotating spoofed addresses is slowed down, and spoofing a victim's address slows the guesser, not the
# victim; a client talking to Lintel directly can claim neither an address nor HTTPS.
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd -- "$here/../.." && pwd)"
bin="${1:-${LINTEL_BIN:-$repo/target/debug/lintel}}"
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac

fail() { echo "haproxy_test: FAIL: $*" >&2; exit 1; }
[[ -x "$bin" ]] || fail "no executable Lintel binary at $bin (cargo build, or set LINTEL_BIN)"
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"
ensure_command haproxy haproxy || fail "HAProxy is required"

work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
lintel_port=$(free_port)
front_port=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
    -days 1 -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
cat "$work/cert.pem" "$work/key.pem" >"$work/haproxy.pem"

cat >"$work/lintel.conf" <<CONF
[DEFAULT]
data_dir = $work/data
public_endpoint = https://127.0.0.1:$front_port
[server]
bind = 127.0.0.1:$lintel_port
insecure_http = true
[oslo_middleware]
enable_proxy_headers_parsing = true
[oauth2]
source_failures_per_minute = 5
CONF
{ "$bin" --config "$work/lintel.conf" db-sync && "$bin" --config "$work/lintel.conf" bootstrap \
    --bootstrap-password 'Adm1n-pw' --bootstrap-public-url "https://127.0.0.1:$front_port/v3"; } >"$work/setup.log" 2>&1 \
    || { cat "$work/setup.log" >&2; fail "db-sync or bootstrap"; }
"$bin" --config "$work/lintel.conf" serve >"$work/lintel.log" 2>&1 &
pids+=("$!")

cat >"$work/haproxy.cfg" <<CFG
global
    maxconn 256
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend lintel_public
    bind 127.0.0.1:$front_port ssl crt $work/haproxy.pem
    option forwardfor
    http-request set-header X-Forwarded-Proto https
    default_backend lintel_nodes
backend lintel_nodes
    server node1 127.0.0.1:$lintel_port check
CFG
haproxy -c -q -f "$work/haproxy.cfg" || fail "HAProxy refuses the configuration"
haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pids+=("$!")

# A password authentication from FROM through HAProxy, with extra curl arguments; prints the status.
auth() {
    local from=$1 user=$2 password=$3
    shift 3
    curl -s -o /dev/null -w '%{http_code}' --interface "$from" --cacert "$work/cert.pem" "$@" \
        -H 'Content-Type: application/json' "https://127.0.0.1:$front_port/v3/auth/tokens" \
        -d "{\"auth\": {\"identity\": {\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": \"$user\",
            \"domain\": {\"id\": \"default\"}, \"password\": \"$password\"}}}}}"
}
for _ in $(seq 100); do
    [[ "$(auth 127.0.0.2 admin 'Adm1n-pw')" == 201 ]] && break
    sleep 0.2
done
[[ "$(auth 127.0.0.2 admin 'Adm1n-pw')" == 201 ]] || { tail -n 30 "$work/lintel.log" "$work/haproxy.log" >&2; fail "no token through HAProxy"; }

# A guesser at 127.0.0.3 claims a new address for every guess (and, in the end, the victim's): the budget of five
# failures a minute is its own, whatever it writes.
codes=""
for i in $(seq 1 7); do
    codes+="$(auth 127.0.0.3 "nobody-$i" guess -H "X-Forwarded-For: 198.51.100.$i") "
done
[[ "$codes" == "401 401 401 401 401 429 429 " ]] || fail "spoofed addresses escaped the source budget: $codes"
[[ "$(auth 127.0.0.3 nobody-8 guess -H 'X-Forwarded-For: 127.0.0.2')" == 429 ]] || fail "the guesser was not slowed down"
# The victim whose address it wrote is not slowed down.
[[ "$(auth 127.0.0.2 admin 'Adm1n-pw')" == 201 ]] || fail "the victim was throttled by the guesser's spoofing"
[[ "$(auth 127.0.0.2 nobody-victim guess)" == 401 ]] || fail "the victim's own budget was spent by the guesser"

# The access log names the address HAProxy saw, never what the guesser wrote.
grep -q "source=127.0.0.3 .*status=401" "$work/lintel.log" || fail "the access log does not name the guesser's address"
if grep -q "source=198.51.100" "$work/lintel.log"; then fail "the access log believed a spoofed address"; fi

# Directly from 127.0.0.2, past HAProxy: forwarding headers are nobody's to set but a trusted proxy's (here the
# default, loopback's 127.0.0.1 and ::1). The OAuth 2.0 endpoint does not believe the claimed HTTPS, and the
# claimed address is not the logged one.
direct=$(curl -s --interface 127.0.0.2 -H 'X-Forwarded-Proto: https' -H 'X-Forwarded-For: 203.0.113.7' -u id:secret \
    -d grant_type=client_credentials "http://127.0.0.1:$lintel_port/v3/OS-OAUTH2/token")
grep -q '"error":"invalid_request"' <<<"$direct" && grep -q "requires HTTPS" <<<"$direct" \
    || fail "a direct client's X-Forwarded-Proto was believed: $direct"
if grep -q "source=203.0.113.7" "$work/lintel.log"; then fail "a direct client's X-Forwarded-For was believed"; fi
echo "haproxy_test: OK (HAProxy $(haproxy -v | head -n1 | awk '{print $3}'): sources from HAProxy, spoofing neither escapes nor frames)"
