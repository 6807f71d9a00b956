#!/usr/bin/env bash
# A Lintel cluster the way OpenStack's high-availability guide runs Keystone, on loopback: three MariaDB Galera
# nodes behind HAProxy (one writer, the others backups), and three Lintel nodes behind HAProxy (TLS passed through,
# each checked on /readyz). Or, with --postgres, the three Lintel nodes over the local PostgreSQL.
#
#   scripts/cluster.sh up [--postgres]   build and start it under target/cluster; prints the endpoints
#   scripts/cluster.sh down              stop everything it started (by PID) and remove target/cluster
#   scripts/cluster.sh env               the endpoints as shell assignments (after `up`)
#   scripts/cluster.sh start NODE        start a stopped node again (lintel1-3, galera1-3) and wait for it
#
# Ports (loopback only): Galera SQL 3321-3323, group communication 4571-4573, IST 4581-4583, SST 4591-4593;
# HAProxy: SQL 3330 (the writer), Lintel 5440; Lintel nodes 5441-5443.
# Environment: LINTEL_BIN (default target/debug/lintel), LINTEL_CLUSTER_DIR (default target/cluster),
# LINTEL_TEST_POSTGRES_URL (for --postgres; default postgres://postgres@127.0.0.1:5432/test).
# Needs galera-4, mariadb-server, mariadb-backup, socat, haproxy and openssl (installed with apt-get when missing).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
dir="${LINTEL_CLUSTER_DIR:-$repo/target/cluster}"
bin="${LINTEL_BIN:-$repo/target/debug/lintel}"
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac

LINTEL_FRONT=5440
# How soon a silent Galera node is declared gone: while it is only suspected, the cluster cannot commit. Galera's
# defaults (5 s to suspect, 15 s to drop) pause writes that long after a node dies; these are tighter.
EVS="evs.keepalive_period=PT0.5S;evs.inactive_check_period=PT0.5S;evs.suspect_timeout=PT2S;evs.inactive_timeout=PT4S;evs.install_timeout=PT4S"
SQL_FRONT=3330

log() { echo "cluster: $*" >&2; }
die() { echo "cluster: error: $*" >&2; exit 1; }

ensure_packages() {
    local missing=()
    [[ -f /usr/lib/galera/libgalera_smm.so ]] || missing+=(galera-4)
    command -v mariadbd >/dev/null || missing+=(mariadb-server)
    command -v mariadb-backup >/dev/null || missing+=(mariadb-backup)
    command -v socat >/dev/null || missing+=(socat)
    command -v haproxy >/dev/null || missing+=(haproxy)
    command -v openssl >/dev/null || missing+=(openssl)
    ((${#missing[@]} == 0)) && return 0
    [[ "$(id -u)" == 0 ]] || die "missing packages (${missing[*]}); install them or run as root"
    log "installing ${missing[*]} (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >"$dir/apt.log" 2>&1 ||
        { tail -20 "$dir/apt.log" >&2; die "apt-get install failed"; }
}

# Wait until "$@" succeeds, at most $1 seconds.
wait_for() {
    local limit=$1; shift
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.3
    done
}

galera_cnf() {
    local n=$1 d="$dir/galera$1"
    cat >"$d/my.cnf" <<CNF
[mysqld]
user = $(id -un)
datadir = $d/data
socket = $d/mysqld.sock
pid-file = $d/mysqld.pid
log-error = $d/error.log
port = 332$n
bind-address = 127.0.0.1
skip-name-resolve
binlog_format = ROW
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2
innodb_buffer_pool_size = 64M
innodb_log_file_size = 16M
wsrep_on = ON
wsrep_provider = /usr/lib/galera/libgalera_smm.so
wsrep_cluster_name = lintel-test
wsrep_cluster_address = gcomm://127.0.0.1:4571,127.0.0.1:4572,127.0.0.1:4573
wsrep_node_name = galera$n
wsrep_node_address = 127.0.0.1:457$n
wsrep_provider_options = "gmcast.listen_addr=tcp://127.0.0.1:457$n;ist.recv_addr=127.0.0.1:458$n;gcache.size=64M;$EVS"
wsrep_sst_method = mariabackup
wsrep_sst_auth = root:
wsrep_sst_receive_address = 127.0.0.1:459$n
[sst]
sockopt = reuseaddr
CNF
}

synced() {
    [[ "$(mariadb --no-defaults -uroot -h127.0.0.1 -P"332$1" -N -B \
        -e "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | cut -f2)" == Synced ]]
}

# Start Galera node $1 (the first bootstraps the cluster); waits until it is Synced.
galera_start() {
    local n=$1 d="$dir/galera$1" extra=()
    [[ "$n" == 1 && ! -f "$d/started" ]] && extra=(--wsrep-new-cluster)
    mariadbd --defaults-file="$d/my.cnf" "${extra[@]}" </dev/null >>"$d/stdout.log" 2>&1 &
    echo $! >"$d/launcher.pid"
    wait_for 120 synced "$n" || { tail -30 "$d/error.log" >&2; die "galera$n did not become Synced"; }
    touch "$d/started"
}

galera_up() {
    for n in 1 2 3; do
        mkdir -p "$dir/galera$n"
        galera_cnf "$n"
    done
    # Only the first node needs a data directory; the others receive theirs by state transfer (mariabackup).
    mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$dir/galera1/data" \
        --auth-root-authentication-method=normal --skip-test-db >"$dir/galera1/install.log" 2>&1 ||
        { cat "$dir/galera1/install.log" >&2; die "mariadb-install-db failed"; }
    mkdir -p "$dir/galera2/data" "$dir/galera3/data"
    for n in 1 2 3; do
        galera_start "$n"
        log "galera$n synced"
    done
    mariadb --no-defaults -uroot -h127.0.0.1 -P3321 -e "CREATE DATABASE IF NOT EXISTS lintel"
}

# A server certificate, not a CA (webpki, as rustls clients use it, refuses a CA certificate as a server's).
cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
        -keyout "$dir/tls/key.pem" -out "$dir/tls/cert.pem" >/dev/null 2>&1
}

# The HA guide's clustercheck, as HAProxy's external check: a node counts only when it is Synced (a node that is
# joining, donating or cut off answers connections, then refuses statements with 1047).
clustercheck() {
    cat >"$dir/clustercheck.sh" <<'SH'
#!/bin/sh
state=$(mariadb --no-defaults -uroot -h"$HAPROXY_SERVER_ADDR" -P"$HAPROXY_SERVER_PORT" --connect-timeout=1 \
    -N -B -e "SHOW STATUS LIKE 'wsrep_local_state'" 2>/dev/null | cut -f2)
[ "$state" = 4 ]
SH
    chmod +x "$dir/clustercheck.sh"
}

haproxy_cfg() {
    local sql="" global=""
    if [[ "$backend" == galera ]]; then
        clustercheck
        global="    external-check
    insecure-fork-wanted"
        # The HA guide's Galera front: one writer; the others take over, in order, when it fails its check, and
        # the sessions of a server marked down are cut so that clients reconnect at once.
        sql="
listen galera
    bind 127.0.0.1:$SQL_FRONT
    mode tcp
    timeout client 90m
    timeout server 90m
    option tcpka
    option external-check
    external-check path /usr/bin:/bin
    external-check command $dir/clustercheck.sh
    default-server check inter 1s fall 2 rise 2 on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions
    server galera1 127.0.0.1:3321
    server galera2 127.0.0.1:3322 backup
    server galera3 127.0.0.1:3323 backup
"
    fi
    cat >"$dir/haproxy.cfg" <<CFG
global
    maxconn 4096
    pidfile $dir/haproxy.pid
$global
defaults
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 2
$sql
listen lintel
    bind 127.0.0.1:$LINTEL_FRONT
    mode tcp
    balance roundrobin
    # A connection refused by a dead node is tried on another.
    option redispatch
    option httpchk GET /readyz
    http-check expect status 200
    server lintel1 127.0.0.1:5441 check check-ssl verify none inter 1s fall 2 rise 2
    server lintel2 127.0.0.1:5442 check check-ssl verify none inter 1s fall 2 rise 2
    server lintel3 127.0.0.1:5443 check check-ssl verify none inter 1s fall 2 rise 2
CFG
}

lintel_conf() {
    local n=$1
    mkdir -p "$dir/lintel$n"
    cat >"$dir/lintel$n/lintel.conf" <<CONF
[DEFAULT]
public_endpoint = https://127.0.0.1:$LINTEL_FRONT
data_dir = $dir/lintel$n
[database]
connection = $db_url
[token]
key_store = database
key_encryption_key = $kek
[server]
bind = 127.0.0.1:544$n
# Behind HAProxy in TCP mode every connection comes from HAProxy: a per-source cap would cap the whole front.
max_connections_per_source = 0
[tls]
cert_file = $dir/tls/cert.pem
key_file = $dir/tls/key.pem
CONF
}

lintel_start() {
    local n=$1
    (cd "$dir/lintel$n" && exec "$bin" --config "$dir/lintel$n/lintel.conf" serve) \
        </dev/null >>"$dir/lintel$n/serve.log" 2>&1 &
    echo $! >"$dir/lintel$n/serve.pid"
    wait_for 60 curl -sf --cacert "$dir/tls/cert.pem" "https://127.0.0.1:544$n/readyz" ||
        { tail -30 "$dir/lintel$n/serve.log" >&2; die "lintel$n did not become ready"; }
}

up() {
    backend=galera
    [[ "${1:-}" == --postgres ]] && backend=postgres
    [[ -x "$bin" ]] || die "no Lintel binary at $bin (cargo build, or set LINTEL_BIN)"
    [[ -e "$dir" ]] && die "$dir exists: run 'scripts/cluster.sh down' first"
    mkdir -p "$dir/tls"
    echo "$backend" >"$dir/backend"
    ensure_packages
    if [[ "$backend" == galera ]]; then
        galera_up
        db_url="mysql://root@127.0.0.1:$SQL_FRONT/lintel"
    else
        local pg="${LINTEL_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
        local name="lintel_cluster_$$"
        PGOPTIONS='-c client_min_messages=warning' psql "$pg" -q -c "DROP DATABASE IF EXISTS $name" \
            -c "CREATE DATABASE $name" >/dev/null
        echo "$pg $name" >"$dir/postgres-db"
        db_url="${pg%/*}/$name"
    fi
    cert
    haproxy_cfg
    haproxy -f "$dir/haproxy.cfg" -D
    wait_for 10 test -s "$dir/haproxy.pid" || die "haproxy did not start"
    if [[ "$backend" == galera ]]; then
        wait_for 30 mariadb --no-defaults -uroot -h127.0.0.1 -P"$SQL_FRONT" -e "SELECT 1" ||
            die "HAProxy's SQL front does not answer"
    fi
    kek="$("$bin" keys new-kek)"
    for n in 1 2 3; do lintel_conf "$n"; done
    admin_password="$(openssl rand -hex 16)"
    echo "$admin_password" >"$dir/admin-password"
    "$bin" --config "$dir/lintel1/lintel.conf" db-sync >"$dir/db-sync.log" 2>&1 ||
        { cat "$dir/db-sync.log" >&2; die "db-sync failed"; }
    OS_BOOTSTRAP_PASSWORD="$admin_password" "$bin" --config "$dir/lintel1/lintel.conf" bootstrap \
        --bootstrap-public-url "https://127.0.0.1:$LINTEL_FRONT/v3" >"$dir/bootstrap.log" 2>&1 ||
        { cat "$dir/bootstrap.log" >&2; die "bootstrap failed"; }
    for n in 1 2 3; do lintel_start "$n"; done
    wait_for 30 curl -sf --cacert "$dir/tls/cert.pem" "https://127.0.0.1:$LINTEL_FRONT/readyz" ||
        die "HAProxy's Lintel front does not answer"
    log "up ($backend): Lintel https://127.0.0.1:$LINTEL_FRONT (CA $dir/tls/cert.pem)"
    env_out
}

env_out() {
    [[ -f "$dir/backend" ]] || die "not up"
    cat <<ENV
LINTEL_CLUSTER_URL=https://127.0.0.1:$LINTEL_FRONT
LINTEL_CLUSTER_CACERT=$dir/tls/cert.pem
LINTEL_CLUSTER_ADMIN_PASSWORD=$(cat "$dir/admin-password" 2>/dev/null)
LINTEL_CLUSTER_BACKEND=$(cat "$dir/backend")
LINTEL_CLUSTER_DIR=$dir
ENV
}

# Stop what a pid file names, politely then by force.
stop_pid() {
    local f=$1 pid
    [[ -f "$f" ]] || return 0
    pid="$(cat "$f")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

down() {
    [[ -d "$dir" ]] || return 0
    for n in 1 2 3 4 5; do stop_pid "$dir/lintel$n/serve.pid"; done
    stop_pid "$dir/haproxy.pid"
    for n in 3 2 1; do
        stop_pid "$dir/galera$n/mysqld.pid"
        stop_pid "$dir/galera$n/launcher.pid"
    done
    if [[ -f "$dir/postgres-db" ]]; then
        read -r pg name <"$dir/postgres-db"
        psql "$pg" -q -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    case "$dir" in /|"$repo"|"$HOME") die "refusing to remove $dir" ;; esac
    rm -rf -- "$dir"
    log "down"
}

# Start one stopped node again (lintelN or galeraN) and wait until it serves or is Synced.
start_one() {
    [[ -f "$dir/backend" ]] || die "not up"
    case "${1:-}" in
        lintel[1-3]) lintel_start "${1#lintel}" ;;
        galera[1-3]) galera_start "${1#galera}" ;;
        *) die "start: name lintel1-3 or galera1-3" ;;
    esac
}

case "${1:-}" in
    up) shift; up "$@" ;;
    start) shift; start_one "$@" ;;
    down) down ;;
    env) env_out ;;
    *) echo "usage: scripts/cluster.sh up [--postgres] | down | env | start NODE" >&2; exit 2 ;;
esac
