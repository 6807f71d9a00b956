#!/usr/bin/env bash
# Move from real Keystone 30 to Lintel, as an operator would: Keystone (from PyPI, pinned) is filled through its API
# by populate.py and stopped; `lintel keystone-import` reads its database; Lintel then serves on Keystone's address
# with Keystone's certificate, and the openstack CLI finds the same ids, names, passwords and secrets there.
#
#   tests/keystone_import/run.sh
#
# Environment: LINTEL_BIN (default target/debug/lintel), LINTEL_IMPORT_VENV (default target/keystone-venv),
# LINTEL_IMPORT_WORK (scratch, wiped first; default target/keystone-import-work), PYTHON (default python3),
# LINTEL_IMPORT_SETUP_ONLY=1 (only create or update the venv).
set -euo pipefail
here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd -- "$here/../.." && pwd)"
bin="${LINTEL_BIN:-$repo/target/debug/lintel}"
venv="${LINTEL_IMPORT_VENV:-$repo/target/keystone-venv}"
work="${LINTEL_IMPORT_WORK:-$repo/target/keystone-import-work}"
python="${PYTHON:-python3}"
. "$here/../lib/venv.sh"
ensure_venv keystone-import "$venv" "$python" "$here/requirements.txt"
[[ "${LINTEL_IMPORT_SETUP_ONLY:-0}" == 1 ]] && exit 0
[[ -x "$bin" ]] || { echo "error: no Lintel binary at $bin (cargo build)" >&2; exit 1; }
export PATH="$venv/bin:$PATH"

# Keystone's own database: SQLite always, and PostgreSQL and MariaDB when the test command has their URLs. The
# backends run at once (each its own Keystone, port, work directory and database), each to a log of its own, shown
# whole at the end.
if [[ -z "${KS_BACKEND:-}" ]]; then
    backends=(sqlite)
    [[ -n "${LINTEL_TEST_POSTGRES_URL:-}" ]] && backends+=(postgres)
    [[ -n "${LINTEL_TEST_MYSQL_URL:-}" ]] && backends+=(mysql)
    runs=()
    stop_runs() { for p in "${runs[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait; }
    trap 'stop_runs; exit 130' INT
    trap 'stop_runs; exit 143' TERM
    for b in "${backends[@]}"; do
        mkdir -p -- "$(dirname -- "$work")"
        KS_BACKEND=$b LINTEL_IMPORT_WORK="$work-$b" "$0" >"$work-$b.log" 2>&1 &
        runs+=("$!")
    done
    failed=()
    for i in "${!backends[@]}"; do wait "${runs[$i]}" || failed+=("${backends[$i]}"); done
    trap - INT TERM
    for b in "${backends[@]}"; do echo "===== keystone-import, Keystone on $b ($work-$b.log) ====="; cat -- "$work-$b.log"; done
    ((${#failed[@]} == 0)) || { echo "keystone-import: FAILED on ${failed[*]}" >&2; exit 1; }
    exit 0
fi

# Nothing of the caller's OpenStack environment leaks in.
while IFS= read -r v; do unset "$v"; done < <(env | sed -n 's/^\(OS_[A-Z_]*\)=.*/\1/p')
rm -rf -- "$work"; mkdir -p -- "$work"/{etc,tls,lintel}
# Keystone listens only after db_sync and bootstrap (seconds later): a port from the kernel's ephemeral range could be
# taken meanwhile as the source port of some outgoing connection (the cluster part makes many), so one below it.
port=$("$python" -c '
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for p in random.sample(range(20000, min(lo, 32768)), 200):
    try:
        socket.socket().bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
')
pids=()
# Every server this run starts is stopped by its PID, and waited for, however the run ends.
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() { echo "keystone-import: FAIL: $*" >&2; exit 1; }
wait_up() { for _ in $(seq 120); do curl -sf --cacert "$work/tls/cert.pem" "https://127.0.0.1:$port/v3" >/dev/null && return 0; sleep 0.5; done; fail "nothing answers on $port"; }

# --- Keystone -------------------------------------------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/tls/key.pem" -out "$work/tls/cert.pem" \
  -days 2 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1
ks_db="$work/keystone.db"
# A database of this run's own on a server backend, dropped at the end (by the server URL the test command gives).
prefix="${LINTEL_TEST_DB_PREFIX:-}"
[[ "$prefix" =~ ^([A-Za-z][A-Za-z0-9_]{0,29})?$ ]] || fail "LINTEL_TEST_DB_PREFIX=$prefix: a letter, then letters, digits and '_', at most 30"
ks_name="${prefix}ks_import_$$"
server_db() { # ACTION: create or drop ks_name on the server of KS_BACKEND
    "$venv/bin/python" "$here/../lib/server_db.py" "$1" "$KS_BACKEND" "$ks_name" "${LINTEL_TEST_POSTGRES_URL:-}" "${LINTEL_TEST_MYSQL_URL:-}"
}
case "$KS_BACKEND" in
    sqlite) ks_url="sqlite:///$ks_db" ;;
    postgres | mysql)
        server_db create
        trap 'cleanup; server_db drop' EXIT
        base=$("$venv/bin/python" -c 'import sys, urllib.parse as p; u = p.urlparse(sys.argv[1]); print(u.netloc)' \
            "$([[ $KS_BACKEND == postgres ]] && echo "$LINTEL_TEST_POSTGRES_URL" || echo "$LINTEL_TEST_MYSQL_URL")")
        if [[ $KS_BACKEND == postgres ]]; then ks_url="postgresql+psycopg2://$base/$ks_name"
        else ks_url="mysql+pymysql://$base/$ks_name?charset=utf8mb4"; fi
        ;;
    *) fail "unknown KS_BACKEND $KS_BACKEND" ;;
esac
cat >"$work/etc/keystone.conf" <<CONF
[DEFAULT]
log_file = $work/keystone.log
[database]
connection = $ks_url
[token]
provider = fernet
[fernet_tokens]
key_repository = $work/fernet-keys
[fernet_receipts]
key_repository = $work/fernet-keys
[credential]
key_repository = $work/credential-keys
[auth]
methods = password,token,application_credential
CONF
km=(keystone-manage --config-file "$work/etc/keystone.conf")
"${km[@]}" db_sync 2>/dev/null
"${km[@]}" fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" 2>/dev/null
"${km[@]}" credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" 2>/dev/null
"${km[@]}" bootstrap --bootstrap-username admin --bootstrap-password adminpw --bootstrap-project-name admin \
  --bootstrap-role-name admin --bootstrap-service-name keystone --bootstrap-region-id RegionOne \
  --bootstrap-public-url "https://127.0.0.1:$port/v3" >/dev/null 2>&1
OS_KEYSTONE_CONFIG_DIR="$work/etc" gunicorn --workers 1 --threads 2 --bind "127.0.0.1:$port" --no-control-socket \
  --certfile "$work/tls/cert.pem" --keyfile "$work/tls/key.pem" --error-logfile "$work/gunicorn.log" \
  --pythonpath "$here" ks_wsgi:application >"$work/gunicorn.out" 2>&1 &
ks_pid=$!; pids+=("$ks_pid")
wait_up
export OS_AUTH_URL="https://127.0.0.1:$port/v3" OS_CACERT="$work/tls/cert.pem" OS_IDENTITY_API_VERSION=3 \
  OS_USERNAME=admin OS_PASSWORD=adminpw OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default
OUT="$work/facts.sh" "$venv/bin/python" "$here/populate.py" >"$work/populate.log" 2>&1 || { cat "$work/populate.log" >&2; fail "populating Keystone"; }
. "$work/facts.sh"
# A certificate-bound OAuth 2.0 token (payload 10) for user1 on its default project, made by Keystone's own token
# formatter with Keystone's keys. Keystone issues these only behind a front server that passes it the client
# certificate (Apache's SSL_CLIENT_CERT), and then exactly so: thumbprint of the PEM text, methods oauth2_credential.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/tls/client-ca.key" \
  -out "$work/tls/client-ca.pem" -days 2 -subj "/CN=client-ca" >/dev/null 2>&1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/tls/client.key" \
  -out "$work/tls/client.csr" -subj "/CN=machine" >/dev/null 2>&1
openssl x509 -req -in "$work/tls/client.csr" -CA "$work/tls/client-ca.pem" -CAkey "$work/tls/client-ca.key" \
  -CAcreateserial -out "$work/tls/client.pem" -days 2 \
  -extfile <(printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n') >/dev/null 2>&1
MTLS_TOKEN=$("$venv/bin/python" - "$work/etc/keystone.conf" "$U1" "$P1" "$work/tls/client.pem" 2>/dev/null <<'PY'
import datetime, sys
import keystone.conf
from keystone.common import utils
from keystone.token import provider, token_formatters as tf
conf, user, project, cert = sys.argv[1:]
keystone.conf.configure()
keystone.conf.CONF(args=[], project="keystone", default_config_files=[conf])
expires = utils.isotime(datetime.datetime.utcnow() + datetime.timedelta(hours=1), subsecond=True)
print(tf.TokenFormatter().create_token(user, expires, [provider.random_urlsafe_str()], tf.Oauth2CredentialsScopedPayload,
      methods=["oauth2_credential"], project_id=project, thumbprint=utils.get_certificate_thumbprint(open(cert).read())))
PY
) || fail "Keystone's token formatter made no certificate-bound token"
listing() { openstack "$@" -f value -c ID -c Name | sort; }
before_users=$(listing user list --long); before_projects=$(listing project list)
before_assign=$(openstack role assignment list --names -f value | sort)
# What Keystone says of the tokens in flight, to compare with what Lintel says after the switch.
token_view() { # BASE ADMIN_TOKEN SUBJECT: "user project role,role,... thumbprint" or the HTTP status
    "$python" - "$@" "$work/tls/cert.pem" <<'PY'
import json, ssl, sys, urllib.error, urllib.request
base, admin, subject, ca = sys.argv[1:]
req = urllib.request.Request(base + "/v3/auth/tokens", headers={
    "X-Auth-Token": admin, "X-Subject-Token": subject, "OpenStack-Identity-Access-Rules": "1.0"})
try:
    t = json.load(urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca)))["token"]
except urllib.error.HTTPError as e:
    print(e.code); sys.exit(0)
print(t["user"]["id"], t.get("project", {}).get("id"), ",".join(sorted(r["name"] for r in t.get("roles", []))),
      t.get("oauth2_credential", {}).get("x5t#S256", "-"))
PY
}
ks_admin=$(openstack token issue -f value -c id)
ks_u1=$(token_view "https://127.0.0.1:$port" "$ks_admin" "$U1_TOKEN")
ks_ac=$(token_view "https://127.0.0.1:$port" "$ks_admin" "$AC_TOKEN")
ks_ac3=$(token_view "https://127.0.0.1:$port" "$ks_admin" "$AC3_TOKEN")
[[ "$ks_ac3" == "$U1 $P1 reader2,writer2 -" ]] || fail "Keystone's view of a credential token whose user lost a role: '$ks_ac3'"
ks_mtls=$(token_view "https://127.0.0.1:$port" "$ks_admin" "$MTLS_TOKEN")
[[ "$(token_view "https://127.0.0.1:$port" "$ks_admin" "$REVOKED_TOKEN")" == 404 ]] || fail "Keystone still takes the revoked token"
[[ "$ks_u1" == "$U1 $P1 "* && "$ks_ac" == "$U1 $P1 "* ]] || fail "Keystone's own view of its tokens: '$ks_u1' / '$ks_ac'"
pem_thumbprint=$(openssl dgst -sha256 -binary "$work/tls/client.pem" | base64 | tr '+/' '-_')
[[ "$ks_mtls" == "$U1 $P1 "*" $pem_thumbprint" ]] || fail "Keystone's own view of its certificate-bound token: '$ks_mtls'"
kill "$ks_pid"; wait "$ks_pid" 2>/dev/null || true

# --- the import ----------------------------------------------------------------------------------------------
cat >"$work/lintel/lintel.conf" <<CONF
[DEFAULT]
data_dir = $work/lintel/data
public_endpoint = https://127.0.0.1:$port
[server]
bind = 127.0.0.1:$port
[tls]
cert_file = $work/tls/cert.pem
key_file = $work/tls/key.pem
client_ca_file = $work/tls/client-ca.pem
[keystone_import]
fernet_key_repository = $work/fernet-keys
auth_methods = password,token,application_credential
[audit]
destination = file
file = $work/lintel/audit.log
CONF
lintel() { "$bin" --config "$work/lintel/lintel.conf" "$@"; }
lintel db-sync >/dev/null
from="$ks_url"
# Refusals first: Lintel's own database, and a Keystone schema of an unknown version; nothing written by either.
out=$(lintel keystone-import --from "sqlite:///$work/lintel/data/lintel.db" 2>&1) && fail "imported a database that is not Keystone's"
grep -q "not a Keystone database" <<<"$out" || fail "no clear refusal for a foreign database: $out"
if [[ $KS_BACKEND == sqlite ]]; then
cp "$ks_db" "$work/old.db"
"$python" -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"update alembic_version set version_num='27a7fd8ee1f6' where version_num = (select min(version_num) from alembic_version)\"); c.commit()" "$work/old.db"
out=$(lintel keystone-import --from "sqlite:///$work/old.db" 2>&1) && fail "imported an unknown schema version"
grep -q "unsupported Keystone schema version (27a7fd8ee1f6" <<<"$out" || fail "no clear refusal for an old schema: $out"
sum_before=$(sha256sum "$ks_db" | cut -d' ' -f1)
# A row lacking a field Lintel requires (Keystone's service.type may be NULL) is counted as skipped, with why.
cp "$ks_db" "$work/typeless.db"
"$python" -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"insert into service (id, type, enabled, extra) values ('typeless', NULL, 1, '{}')\"); c.commit()" "$work/typeless.db"
out=$(lintel keystone-import --from "sqlite:///$work/typeless.db" --dry-run)
grep -q "^services  *1  *0  *1  1: Keystone's row lacks a field Lintel requires" <<<"$out" || fail "a typeless service is not reported: $out"
# Rows Keystone's database holds but Lintel's API would refuse: user2 moved into user1's domain under user1's name,
# a group named by a million characters, a role with a NUL in its name. Each is skipped with its reason; the rest
# is imported, into a Lintel of its own, whole.
cp "$ks_db" "$work/odd.db"
"$python" - "$work/odd.db" "$U2" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("update local_user set name = 'user1' where user_id = ?", (sys.argv[2],))
c.execute("update user set domain_id = 'default' where id = ?", (sys.argv[2],))
c.execute("insert into \"group\" (id, domain_id, name, extra) values ('huge', 'default', ?, '{}')", ("g" * 1_000_010,))
c.execute("insert into role (id, name, domain_id, extra) values ('nul', 'a' || char(0) || 'b', '<<null>>', '{}')")
c.commit()
PY
sed "s#$work/lintel/data#$work/lintel-odd#" "$work/lintel/lintel.conf" >"$work/odd.conf"
"$bin" --config "$work/odd.conf" db-sync >/dev/null
out=$("$bin" --config "$work/odd.conf" keystone-import --from "sqlite:///$work/odd.db") || fail "the import stopped on an odd row: $out"
grep -q "^users  *2  *0  *1  1: another user in its domain already has its name" <<<"$out" || fail "a repeated user name is not reported: $out"
grep -q "^groups  *1  *0  *1  1: its name is one Lintel's API refuses" <<<"$out" || fail "a huge group name is not reported: $out"
grep -q "^roles .* 1: its name is one Lintel's API refuses" <<<"$out" || fail "a role name with a NUL is not reported: $out"
fi
dry=$(lintel keystone-import --from "$from" --dry-run)
grep -q "^users  *3 " <<<"$dry" || fail "dry run does not count 3 users: $dry"
"$python" - "$work/lintel/data/lintel.db" <<'PY' || fail "the dry run wrote"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
assert c.execute('select count(*) from user').fetchone()[0] == 0
PY
first=$(lintel keystone-import --from "$from")
echo "$first"
grep -q "^application credentials  *3 " <<<"$first" || fail "the credentials were not imported"
grep -q "inherited assignments" <<<"$first" || fail "the inherited assignment is not reported as skipped"
grep -q '"action":"created.keystone_import".*"id":"users"' "$work/lintel/audit.log" ||
    grep -q '"id":"users".*"action":"created.keystone_import"' "$work/lintel/audit.log" ||
    fail "the import is not in the audit trail"
second=$(lintel keystone-import --from "$from")
if grep -Eq "^(domains|projects|users|groups|roles|application credentials) +[1-9]" <<<"$second"; then fail "a second import imported again: $second"; fi
if [[ $KS_BACKEND == sqlite ]]; then
    [[ "$(sha256sum "$ks_db" | cut -d' ' -f1)" == "$sum_before" ]] || fail "Keystone's database changed"
fi

# --- Lintel where Keystone was ---------------------------------------------------------------------------------
# Not through the `lintel` function: in the background that would be a subshell, and its PID not the server's.
"$bin" --config "$work/lintel/lintel.conf" serve >"$work/lintel.log" 2>&1 &
pids+=("$!")
wait_up
[[ "$(listing user list --long)" == "$before_users" ]] || fail "users differ: $(listing user list --long)"
[[ "$(listing project list)" == "$before_projects" ]] || fail "projects differ"
after_assign=$(openstack role assignment list --names -f value | sort)
diff <(grep -v "True$" <<<"$before_assign") <(echo "$after_assign") >&2 || fail "assignments differ (inherited ones aside)"
# Every password authenticates, and is argon2id afterwards.
openstack --os-username user1 --os-password 'pw-one-Ä' --os-project-name parent1 token issue -f value -c id >/dev/null \
  || fail "user1's Keystone password"
env -u OS_PROJECT_NAME -u OS_PROJECT_DOMAIN_NAME openstack --os-username user2 --os-password pw-two \
  --os-user-domain-name dom2 token issue -f value -c id >/dev/null || fail "user2's Keystone password"
"$python" - "$work/lintel/data/lintel.db" "$U1" "$U2" <<'PY' || fail "passwords were not re-hashed"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for uid in sys.argv[2:]:
    h = c.execute('select password_hash from user where id = ?', (uid,)).fetchone()[0]
    assert h.startswith('$argon2id$'), (uid, h[:12])
PY
creds=$(openstack --os-username user1 --os-password 'pw-one-Ä' --os-project-name parent1 application credential list -f value -c ID | sort)
[[ "$creds" == "$(printf '%s\n' "$AC1" "$AC2" "$AC3" | sort)" ]] || fail "application credentials differ: $creds"
# The credential's id and Keystone-made secret get an OAuth 2.0 token with the same roles.
admin_token=$(openstack token issue -f value -c id)
"$python" - "https://127.0.0.1:$port" "$work/tls/cert.pem" "$AC1" ac1-secret "$admin_token" "$P1" <<'PY' || fail "the imported credential's OAuth 2.0 token"
import base64, json, ssl, sys, urllib.request
base, ca, cid, secret, admin, project = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
req = urllib.request.Request(base + "/v3/OS-OAUTH2/token", data=b"grant_type=client_credentials",
                             headers={"Authorization": "Basic " + basic,
                                      "Content-Type": "application/x-www-form-urlencoded"})
access = json.load(urllib.request.urlopen(req, context=ctx))["access_token"]
# The credential has an access rule: only a validator that understands them may see its tokens (as in Keystone).
req = urllib.request.Request(base + "/v3/auth/tokens", headers={
    "X-Auth-Token": admin, "X-Subject-Token": access, "OpenStack-Identity-Access-Rules": "1.0"})
token = json.load(urllib.request.urlopen(req, context=ctx))["token"]
roles = sorted(r["name"] for r in token["roles"])
assert roles == ["reader2", "writer2"], roles
assert token["project"]["id"] == project, token["project"]
assert token["application_credential"]["id"] == cid, token.get("application_credential")
PY
# Keystone's tokens in flight: the same user, project and roles; the one revoked in Keystone stays refused.
li_admin=$(openstack token issue -f value -c id)
[[ "$(token_view "https://127.0.0.1:$port" "$li_admin" "$U1_TOKEN")" == "$ks_u1" ]] \
  || fail "Keystone's password token: Keystone said '$ks_u1', Lintel '$(token_view "https://127.0.0.1:$port" "$li_admin" "$U1_TOKEN")'"
[[ "$(token_view "https://127.0.0.1:$port" "$li_admin" "$AC_TOKEN")" == "$ks_ac" ]] \
  || fail "Keystone's application credential token: Keystone said '$ks_ac', Lintel '$(token_view "https://127.0.0.1:$port" "$li_admin" "$AC_TOKEN")'"
[[ "$(token_view "https://127.0.0.1:$port" "$li_admin" "$AC3_TOKEN")" == "$ks_ac3" ]] \
  || fail "a credential token whose user lost a role: Keystone said '$ks_ac3', Lintel '$(token_view "https://127.0.0.1:$port" "$li_admin" "$AC3_TOKEN")'"
[[ "$(token_view "https://127.0.0.1:$port" "$li_admin" "$REVOKED_TOKEN")" == 404 ]] || fail "Lintel takes the token revoked in Keystone"
[[ "$(token_view "https://127.0.0.1:$port" "$li_admin" "$MTLS_TOKEN")" == "$ks_mtls" ]] \
  || fail "Keystone's certificate-bound token: Keystone said '$ks_mtls', Lintel '$(token_view "https://127.0.0.1:$port" "$li_admin" "$MTLS_TOKEN")'"
# Its binding holds: with the certificate it was bound to it is the caller's credential, without it not.
as_caller() { curl -s -o /dev/null -w '%{http_code}' --cacert "$work/tls/cert.pem" "$@" -H "X-Auth-Token: $MTLS_TOKEN" \
  "https://127.0.0.1:$port/v3/auth/projects"; }
[[ "$(as_caller --cert "$work/tls/client.pem" --key "$work/tls/client.key")" == 200 ]] \
  || fail "Keystone's certificate-bound token refused with its certificate"
[[ "$(as_caller)" == 401 ]] || fail "Keystone's certificate-bound token taken without its certificate"
# Introspection cannot state its binding in RFC 8705's terms, so it does not vouch for it; a plain token it does.
introspect() { curl -s --cacert "$work/tls/cert.pem" -H "Authorization: Bearer $li_admin" --data-urlencode "token=$1" \
  "https://127.0.0.1:$port/v3/OS-OAUTH2/introspect" | "$python" -c 'import json, sys; print(json.load(sys.stdin)["active"])'; }
[[ "$(introspect "$MTLS_TOKEN")" == False ]] || fail "introspection vouches for Keystone's certificate-bound token"
[[ "$(introspect "$U1_TOKEN")" == True ]] || fail "introspection does not know Keystone's password token"
echo "keystone-import: OK on $KS_BACKEND (Keystone 30 -> Lintel: ids, names, assignments, passwords, credential secrets and tokens in flight kept)"
