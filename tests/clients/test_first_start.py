"""A new user's first start, as README tells it: `lintel serve --bind ADDR:PORT` on a fresh directory, then
`source data/admin-openrc.sh && openstack token issue`, with nothing edited; and keystonemiddleware's
`auth_token` filter with its default options (interface `internal`) against that fresh server.

Only loopback addresses are used: 127.0.0.2 (a specific, non-default bind), and the machine's host name on a
wildcard bind only where that name resolves to loopback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import webob

from conftest import _free_port, _lintel_bin, _openstack_bin, _with_no_proxy
from test_oauth2 import _EchoApp


class FirstStart:
    def __init__(self, tmp: Path, bind: str) -> None:
        self.dir = tmp
        self.log = (tmp / "lintel.log").open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_") and k != "LINTEL_CONFIG"}
        self.proc = subprocess.Popen([str(_lintel_bin()), "serve", "--bind", bind], cwd=tmp, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        openrc = tmp / "data" / "admin-openrc.sh"
        deadline = time.monotonic() + 30
        while not openrc.exists() and time.monotonic() < deadline:
            assert self.proc.poll() is None, (tmp / "lintel.log").read_text()
            time.sleep(0.1)
        time.sleep(0.2)
        self.openrc = {}
        for line in openrc.read_text().splitlines():
            if line.startswith("export "):
                key, _, value = line[len("export "):].partition("=")
                self.openrc[key] = value

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        return (self.dir / "lintel.log").read_text(errors="replace")

    def openstack(self, *args: str) -> subprocess.CompletedProcess:
        # Exactly what `source data/admin-openrc.sh` gives a shell, and nothing else of ours.
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")
               and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
        env.update(self.openrc)
        _with_no_proxy(env)
        last = None
        for _ in range(50):
            last = subprocess.run([str(_openstack_bin()), *args], env=env, capture_output=True, text=True,
                                  timeout=120)
            if last.returncode == 0 or "Connection refused" not in last.stderr + last.stdout:
                return last
            time.sleep(0.2)
        return last


@pytest.fixture
def first_start(tmp_path):
    started: list[FirstStart] = []

    def start(bind: str) -> FirstStart:
        d = tmp_path / f"run{len(started)}"
        d.mkdir()
        s = FirstStart(d, bind)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def test_token_issue_with_a_specific_bind(first_start):
    port = _free_port()
    s = first_start(f"127.0.0.2:{port}")
    assert s.openrc["OS_AUTH_URL"] == f"https://127.0.0.2:{port}/v3"
    res = s.openstack("token", "issue", "-f", "value", "-c", "id")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip(), "a token id"


def test_token_issue_with_a_wildcard_bind(first_start):
    host = socket.gethostname().lower()
    port = _free_port()
    try:
        addrs = {info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
    except OSError:
        addrs = set()
    s = first_start(f"0.0.0.0:{port}")
    assert s.openrc["OS_AUTH_URL"] == f"https://{host}:{port}/v3"
    if not addrs or not all(a.startswith("127.") or a == "::1" for a in addrs):
        pytest.skip(f"{host} resolves to {addrs or 'nothing'}, not loopback only: tests stay on loopback "
                    "(the Rust test checks the certificate's names)")
    res = s.openstack("token", "issue", "-f", "value", "-c", "id")
    assert res.returncode == 0, res.stdout + res.stderr


def test_auth_token_with_default_interface_on_a_fresh_server(first_start):
    from keystonemiddleware import auth_token
    from oslo_config import cfg

    port = _free_port()
    s = first_start(f"127.0.0.1:{port}")
    token = s.openstack("token", "issue", "-f", "value", "-c", "id")
    assert token.returncode == 0, token.stdout + token.stderr
    conf = cfg.ConfigOpts()
    conf([], project="lintel-first-start", default_config_files=[])
    app = _EchoApp()
    # keystonemiddleware's defaults otherwise: interface = internal.
    middleware = auth_token.filter_factory(
        {}, oslo_config_config=conf, www_authenticate_uri=s.openrc["OS_AUTH_URL"],
        auth_url=s.openrc["OS_AUTH_URL"], auth_type="password", username="admin",
        password=s.openrc["OS_PASSWORD"], user_domain_name="Default", project_name="admin",
        project_domain_name="Default", cafile=s.openrc["OS_CACERT"], http_request_max_retries="0",
    )(app)
    resp = webob.Request.blank("/v1/things", headers={"X-Auth-Token": token.stdout.strip()}) \
        .get_response(middleware)
    assert resp.status_int == 200, f"{resp.status} {resp.text}"
    (env,) = app.calls
    assert env.get("HTTP_X_IDENTITY_STATUS") == "Confirmed"
    assert "admin" in env.get("HTTP_X_ROLES", "")
