#!/usr/bin/env bash
# How long `lintel keystone-import` takes for a large Keystone: real Keystone 30 makes its schema and bootstrap
# rows (keystone-manage), then N users are added in the rows Keystone writes for a local user (user, local_user,
# password), spread over N/100 projects with one role assignment each. The import then runs into a fresh Lintel
# database on SQLite, and on PostgreSQL and MariaDB when LINTEL_TEST_POSTGRES_URL / LINTEL_TEST_MYSQL_URL are set.
# Prints the wall time of each; nothing is asserted (docs/BENCHMARKS.md records the figures).
#
#   scripts/import-scale.sh [USERS]      # default 100000
set -euo pipefail
repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
users="${1:-100000}"
bin="${LINTEL_BIN:-$repo/target/release/lintel}"
venv="${LINTEL_IMPORT_VENV:-$repo/target/keystone-venv}"
work="${LINTEL_IMPORT_WORK:-$repo/target/import-scale}"
python="${PYTHON:-python3}"
[[ -x "$bin" ]] || cargo build --release --locked -p lintel --manifest-path "$repo/Cargo.toml"
. "$repo/tests/lib/venv.sh"
ensure_venv import-scale "$venv" "$python" "$repo/tests/keystone_import/requirements.txt"
rm -rf -- "$work"; mkdir -p -- "$work"/{etc,lintel}

cat >"$work/etc/keystone.conf" <<CONF
[database]
connection = sqlite:///$work/keystone.db
[fernet_tokens]
key_repository = $work/fernet-keys
[fernet_receipts]
key_repository = $work/fernet-keys
CONF
km=("$venv/bin/keystone-manage" --config-file "$work/etc/keystone.conf")
"${km[@]}" db_sync >/dev/null 2>&1
"${km[@]}" fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" >/dev/null 2>&1
"${km[@]}" bootstrap --bootstrap-username admin --bootstrap-password adminpw --bootstrap-project-name admin \
  --bootstrap-role-name admin >/dev/null 2>&1
start=$SECONDS
"$venv/bin/python" - "$work/keystone.db" "$users" <<'PY'
import sqlite3, sys, uuid
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
# Every user gets a copy of admin's bcrypt hash: hashing 10^5 passwords would measure Keystone, not the import.
pw_hash = c.execute("select password_hash from password").fetchone()[0]
role = c.execute("select id from role where name = 'admin'").fetchone()[0]
projects = [uuid.uuid4().hex for _ in range(max(1, n // 100))]
c.executemany("insert into project (id, name, extra, description, enabled, domain_id, parent_id, is_domain) "
              "values (?, ?, '{}', '', 1, 'default', 'default', 0)",
              [(p, f"scale-project-{i}") for i, p in enumerate(projects)])
base = c.execute("select coalesce(max(id), 0) from local_user").fetchone()[0]
ids = [uuid.uuid4().hex for _ in range(n)]
c.executemany("insert into user (id, extra, enabled, default_project_id, created_at, domain_id) "
              "values (?, '{}', 1, ?, '2026-01-01 00:00:00', 'default')",
              [(u, projects[i % len(projects)]) for i, u in enumerate(ids)])
c.executemany("insert into local_user (id, user_id, domain_id, name, failed_auth_count) values (?, ?, 'default', ?, 0)",
              [(base + 1 + i, u, f"scale-user-{i}") for i, u in enumerate(ids)])
c.executemany("insert into password (local_user_id, self_service, password_hash, created_at_int, created_at) "
              "values (?, 0, ?, 1767225600000000, '2026-01-01 00:00:00')",
              [(base + 1 + i, pw_hash) for i in range(n)])
c.executemany("insert into assignment (type, actor_id, target_id, role_id, inherited) values ('UserProject', ?, ?, ?, 0)",
              [(u, projects[i % len(projects)], role) for i, u in enumerate(ids)])
c.commit()
PY
echo "import-scale: Keystone database with $users users filled in $((SECONDS - start))s" >&2

server_db() { # ACTION BACKEND NAME: create or drop a database of this run's own
    "$venv/bin/python" "$repo/tests/lib/server_db.py" "$@" "${LINTEL_TEST_POSTGRES_URL:-}" "${LINTEL_TEST_MYSQL_URL:-}"
}
targets=(sqlite)
[[ -n "${LINTEL_TEST_POSTGRES_URL:-}" ]] && targets+=(postgres)
[[ -n "${LINTEL_TEST_MYSQL_URL:-}" ]] && targets+=(mysql)
name="lintel_scale_$$"
trap 'for t in postgres mysql; do [[ " ${targets[*]} " == *" $t "* ]] && server_db drop "$t" "$name"; done' EXIT
for target in "${targets[@]}"; do
    case "$target" in
        sqlite) url="sqlite://$work/lintel/$target.db?mode=rwc" ;;
        postgres) server_db create postgres "$name"; url="${LINTEL_TEST_POSTGRES_URL%/*}/$name" ;;
        mysql) server_db create mysql "$name"; url="${LINTEL_TEST_MYSQL_URL%/*}/$name" ;;
    esac
    cat >"$work/lintel/$target.conf" <<CONF
[DEFAULT]
data_dir = $work/lintel/data-$target
[database]
connection = $url
CONF
    mkdir -p -- "$work/lintel/data-$target"
    "$bin" --config "$work/lintel/$target.conf" db-sync >/dev/null 2>&1
    start=$(date +%s.%N)
    "$bin" --config "$work/lintel/$target.conf" keystone-import --from "sqlite:///$work/keystone.db" >"$work/$target.report"
    secs=$(echo "$(date +%s.%N) - $start" | bc)
    grep -E "^(users|role assignments) " "$work/$target.report" >&2
    printf 'import-scale: %s users into %-8s %6.1f s\n' "$users" "$target" "$secs"
done
