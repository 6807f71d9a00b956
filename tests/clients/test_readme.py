"""README's code blocks, run as written, in order, against a fresh server, so that the README cannot rot.

A block marked `<!-- readme-test: serve -->` starts the server; one marked `<!-- readme-test: run -->` runs in one
bash session, in order, in the server's directory, with `set -euo pipefail`. Two substitutions, both stated here:
`cargo run --release --` is the binary under test (building release here would take the whole budget), and the
default port 5000 is a free port (the suites run in parallel). Everything else is the README's text.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from conftest import REPO, _free_port, _lintel_bin, _openstack_bin, _with_no_proxy

BLOCK = re.compile(r"<!-- readme-test: (serve|run) -->\s*\n```sh\n(.*?)```", re.S)


def _blocks() -> list[tuple[str, str]]:
    return BLOCK.findall((REPO / "README.md").read_text())


def test_readme_marks_its_runnable_blocks():
    kinds = [k for k, _ in _blocks()]
    assert kinds[:1] == ["serve"] and kinds.count("serve") == 1 and "run" in kinds, kinds


def test_readme_code_blocks_run_as_written(tmp_path: Path):
    port = _free_port()
    blocks = _blocks()
    serve = next(text for kind, text in blocks if kind == "serve").strip()
    assert serve == "cargo run --release -- serve", serve
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")
           and k not in ("LINTEL_CONFIG", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    _with_no_proxy(env)
    env["PATH"] = f"{_openstack_bin().parent}{os.pathsep}{env.get('PATH', '')}"
    log = (tmp_path / "lintel.log").open("wb")
    proc = subprocess.Popen([str(_lintel_bin()), "serve", "--bind", f"127.0.0.1:{port}"], cwd=tmp_path, env=env,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "data" / "admin-openrc.sh").exists():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "lintel.log").read_text()
            time.sleep(0.1)
        time.sleep(0.3)
        script = "set -euo pipefail\n" + "\n".join(
            text.replace("127.0.0.1:5000", f"127.0.0.1:{port}") for kind, text in blocks if kind == "run")
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"README's blocks failed:\n{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        # What the README promises each block shows: a token, then the OAuth 2.0 token response.
        assert "expires" in done.stdout and '"token_type":"Bearer"' in done.stdout.replace(" ", ""), done.stdout
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
