#!/usr/bin/env bash
# Fill a running Keystone through its API with one of everything keystone-import carries, as `openstack` makes
# it, and write what the import must reproduce (ids, names, secrets, tokens) to $OUT (a shell file to source).
# Needs: OS_* variables for Keystone's admin (run.sh's openrc), python-openstackclient on PATH.
set -euo pipefail
OUT=${OUT:?where to write the facts}
os() { openstack "$@"; }
val() { os "$@" -f value -c id; }
: >"$OUT"
fact() { printf '%s=%q\n' "$1" "$2" >>"$OUT"; }

D2=$(val domain create --description "second domain" dom2)
P1=$(val project create --domain default --description "top" --tag alpha --tag beta parent1)
P2=$(val project create --domain default --parent parent1 --tag gamma child1)
P3=$(val project create --domain dom2 proj2)
U1=$(val user create --domain default --password 'pw-one-Ä' --email one@example.com --project parent1 user1)
U2=$(val user create --domain dom2 --password pw-two user2)
G1=$(val group create --domain default devs)
os group add user devs user1
R1=$(val role create reader2)
R2=$(val role create --domain dom2 domrole)
R3=$(val role create writer2)
os implied role create writer2 --implied-role reader2
os role add --user user1 --project parent1 writer2
os role add --user user1 --project parent1 member
os role add --group devs --project child1 reader2
os role add --user user2 --user-domain dom2 --domain dom2 --role-domain dom2 domrole
os role add --user user1 --system all reader
os role add --user user1 --project parent1 --inherited reader2 || true
for v in D2 P1 P2 P3 U1 U2 G1 R1 R2 R3; do fact "$v" "${!v}"; done

# user1's own credentials, made with user1's project-scoped token.
export OS_USERNAME=user1 OS_PASSWORD='pw-one-Ä' OS_PROJECT_NAME=parent1 OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default
AC1=$(os application credential create --secret ac1-secret --role writer2 --expiration 2099-01-01T00:00:00 \
  --access-rules '[{"service": "identity", "method": "GET", "path": "/v3/auth/projects"}]' ac1 -f value -c id)
AC2=$(os application credential create --secret ac2-secret --unrestricted ac2 -f value -c id)
fact AC1 "$AC1"; fact AC2 "$AC2"
fact U1_TOKEN "$(os token issue -f value -c id)"
# Tokens in flight at the switch: one still good, one revoked in Keystone, one from the application credential.
revoked=$(os token issue -f value -c id)
os token revoke "$revoked"
fact REVOKED_TOKEN "$revoked"
fact AC_TOKEN "$(env -u OS_USERNAME -u OS_PASSWORD -u OS_PROJECT_NAME -u OS_USER_DOMAIN_NAME -u OS_PROJECT_DOMAIN_NAME \
  openstack --os-auth-type v3applicationcredential --os-application-credential-id "$AC1" \
  --os-application-credential-secret ac1-secret token issue -f value -c id)"
