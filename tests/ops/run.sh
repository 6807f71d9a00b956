#!/usr/bin/env bash
# Run the operations tests: the systemd units (systemd_verify.sh) and the devstack plugin
# (devstack_test.sh), both against a built Lintel binary.
#
#   tests/ops/run.sh [LINTEL_BIN]        (default: $LINTEL_BIN, else target/debug/lintel)
#
# Runs both even when the first fails, so one run shows every problem; exits non-zero if either failed.
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd -- "$here/../.." && pwd)"
bin="${1:-${LINTEL_BIN:-$repo/target/debug/lintel}}"
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac

failed=()
for t in systemd_verify.sh devstack_test.sh haproxy_test.sh; do
    echo "### tests/ops/$t"
    if "$here/$t" "$bin"; then
        echo
    else
        failed+=("$t")
        echo
    fi
done

if ((${#failed[@]})); then
    echo "ops tests FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "ops tests passed"
