# shellcheck shell=bash
# tests/ops/lib.sh: shared by the ops tests (sourced, not run).

# ensure_systemd_analyze: make sure systemd-analyze exists, installing systemd when root; fail otherwise.
ensure_systemd_analyze() {
    command -v systemd-analyze >/dev/null && return 0
    if [[ $(id -u) != 0 ]]; then
        echo "error: systemd-analyze not found; install the systemd package (apt-get install systemd)" >&2
        return 1
    fi
    # Only as root, e.g. in a CI container.
    echo "systemd-analyze missing: installing systemd" >&2
    # A fresh container may have no package lists yet: update them once if the first try fails.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q systemd >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q systemd >/dev/null; }
    command -v systemd-analyze >/dev/null || { echo "error: systemd-analyze still missing" >&2; return 1; }
}

# strict_verify DIR UNIT...: `systemd-analyze verify` the units (paths relative to DIR), printing what it
# says. Fails if it fails, or if it says anything except about files outside DIR (the host's own
# units, e.g. multi-user.target, are not ours to judge): systemd-analyze exits 0 on most mistakes, an
# unknown or misspelt key being only a warning.
strict_verify() {
    local dir=$1
    shift
    local out rc=0 line bad=0
    out="$(cd -- "$dir" && systemd-analyze verify --man=no "$@" 2>&1)" || rc=$?
    while IFS= read -r line; do
        [[ -z "$line" ]] && continue
        if [[ "$line" == /* && "$line" != "$dir"/* ]]; then
            echo "  (ignored, not ours) $line" >&2
            continue
        fi
        echo "  $line" >&2
        bad=1
    done <<<"$out"
    [[ $rc == 0 && $bad == 0 ]]
}

# ensure_command CMD PACKAGE: make sure CMD exists, installing Debian's PACKAGE when root; fail otherwise.
ensure_command() {
    local cmd=$1 pkg=$2
    command -v "$cmd" >/dev/null && return 0
    if [[ $(id -u) != 0 ]]; then
        echo "error: $cmd not found; install it (apt-get install $pkg)" >&2
        return 1
    fi
    echo "$cmd missing: installing $pkg" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg" >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg" >/dev/null; }
    command -v "$cmd" >/dev/null || { echo "error: $cmd still missing after installing $pkg" >&2; return 1; }
}
