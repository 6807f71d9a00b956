# shellcheck shell=bash
# ensure_venv LABEL VENV PYTHON REQUIREMENTS: create the virtualenv VENV with PYTHON (again, when its interpreter
# no longer works) and install REQUIREMENTS into it, only when that file changed since the last good install.
ensure_venv() {
    local label=$1 venv=$2 python=$3 req=$4
    local stamp="$venv/.lintel-requirements.sha256" want have start
    if [[ -x "$venv/bin/python" ]] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        echo "$label: venv at $venv is broken; recreating it" >&2
        rm -rf -- "$venv"
    fi
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "$label: creating venv at $venv (with $("$python" --version 2>&1))" >&2
        mkdir -p -- "$(dirname -- "$venv")"
        "$python" -m venv -- "$venv"
        rm -f -- "$stamp"
    fi
    want="$(sha256sum -- "$req" | cut -d' ' -f1)"
    have="$(cat -- "$stamp" 2>/dev/null || true)"
    if [[ "$want" != "$have" ]]; then
        echo "$label: installing $req into $venv" >&2
        start=$SECONDS
        "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req"
        echo "$want" >"$stamp"
        echo "$label: install took $((SECONDS - start))s" >&2
    fi
}
