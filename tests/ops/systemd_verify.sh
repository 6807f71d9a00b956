#!/usr/bin/env bash
# Check etc/systemd/ with `systemd-analyze verify`, against a real Lintel binary.
#
#   tests/ops/systemd_verify.sh [LINTEL_BIN]
#
# The units name /usr/local/bin/lintel; we verify copies that name the given binary instead (argument,
# else $LINTEL_BIN, else target/debug/lintel), because verify checks that every Exec*= command exists
# and is executable. Verified: lintel.service alone, lintel.service with the low-port drop-in, and the
# key rotation service and timer.
#
# systemd-analyze exits 0 on most unit-file mistakes (an unknown or misspelt key is only a warning), so
# any output about our files is a failure too (lib.sh: strict_verify). Before trusting that, the script
# checks that this systemd-analyze does report a deliberately broken copy.
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd -- "$here/../.." && pwd)"
units="$repo/etc/systemd"
bin="${1:-${LINTEL_BIN:-$repo/target/debug/lintel}}"
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac

fail() { echo "systemd_verify: FAIL: $*" >&2; exit 1; }

[[ -x "$bin" ]] || fail "no executable Lintel binary at $bin (build it: cargo build, or pass its path / set LINTEL_BIN)"

# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"
ensure_systemd_analyze || fail "systemd-analyze is required"

work="$(mktemp -d)"
trap 'rm -rf -- "$work"' EXIT

# stage <dir>: copy the units into <dir> with the binary path replaced.
stage() {
    local dir=$1 f
    mkdir -p -- "$dir"
    for f in lintel.service lintel-keys-rotate.service lintel-keys-rotate.timer; do
        sed "s#/usr/local/bin/lintel#$bin#g" -- "$units/$f" >"$dir/$f"
    done
}

# Every command line that runs lintel must run /usr/local/bin/lintel, the path we substitute: a unit naming
# another path would be verified against a binary we did not choose.
if grep -nE '^Exec[A-Za-z]*=[-+!@:]*[^ ]*lintel( |$)' -- "$units"/*.service \
        | grep -vE '=[-+!@:]*/usr/local/bin/lintel( |$)'; then
    fail "the lines above run lintel from a path other than /usr/local/bin/lintel"
fi

# 0. The detector works: an unknown key only makes systemd-analyze warn; we must still fail.
stage "$work/canary"
sed -i 's/^\[Service\]$/[Service]\nNoSuchOption=1/' "$work/canary/lintel.service"
if strict_verify "$work/canary" ./lintel.service 2>/dev/null; then
    fail "a unit with an unknown key passed verification; this systemd-analyze cannot be trusted"
fi
echo "systemd_verify: ok: a broken unit is detected"

# 1. The units as shipped.
stage "$work/plain"
strict_verify "$work/plain" ./lintel.service ./lintel-keys-rotate.service ./lintel-keys-rotate.timer \
    || fail "lintel.service / lintel-keys-rotate.{service,timer} (see above)"
echo "systemd_verify: ok: lintel.service, lintel-keys-rotate.service, lintel-keys-rotate.timer"

# 2. With the low-port drop-in installed the way docs/deploy.md says.
stage "$work/lowport"
mkdir -p -- "$work/lowport/lintel.service.d"
cp -- "$units/lintel.service.d/low-port.conf.example" "$work/lowport/lintel.service.d/low-port.conf"
strict_verify "$work/lowport" ./lintel.service || fail "lintel.service with lintel.service.d/low-port.conf (see above)"
# verify reads drop-ins silently; make sure this one was actually loaded, so step 2 tested something.
echo "NoSuchOption=1" >>"$work/lowport/lintel.service.d/low-port.conf"
if strict_verify "$work/lowport" ./lintel.service 2>/dev/null; then
    fail "systemd-analyze did not read lintel.service.d/low-port.conf, so the drop-in was not checked"
fi
echo "systemd_verify: ok: lintel.service + lintel.service.d/low-port.conf"

echo "systemd_verify: PASS ($(systemd-analyze --version | head -n1), binary $bin)"
