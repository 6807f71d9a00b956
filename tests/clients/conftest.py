"""Fixtures for the Python client-compatibility suite.

Starts a real Lintel server (release binary) per database backend for the
whole session and offers a helper that drives the real ``openstack`` CLI
against it. See README.md in this directory.

Backends:
  sqlite    always
  postgres  when LINTEL_TEST_POSTGRES_URL is set (e.g. postgres://postgres@127.0.0.1:5432/test)
  mysql     when LINTEL_TEST_MYSQL_URL is set    (e.g. mysql://root@127.0.0.1:3306/test)

For postgres/mysql a fresh, uniquely named database is created for the run
(with the psql / mysql command-line clients) and dropped at teardown. A
backend whose variable is set but whose server does not answer fails the
tests; it is never skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lib"))
import osc_in_process  # noqa: E402  (found through the path above)
STARTUP_TIMEOUT = float(os.environ.get("LINTEL_TEST_STARTUP_TIMEOUT", "20"))
CLI_TIMEOUT = float(os.environ.get("LINTEL_TEST_CLI_TIMEOUT", "60"))
LOG_TAIL_LINES = 60

# Variables dropped from the environment of the openstack CLI so that only
# what the helper sets decides where it connects and what it trusts.
_DROPPED_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
_LOOPBACK_NO_PROXY = "127.0.0.1,localhost"


def _lintel_bin() -> Path:
    return Path(os.environ.get("LINTEL_BIN") or REPO / "target" / "release" / "lintel")


def _openstack_bin() -> Path:
    # The venv's console scripts sit next to its interpreter; do not resolve
    # symlinks (venv/bin/python usually links to the base interpreter).
    return Path(sys.executable).parent / "openstack"


def _with_no_proxy(env: dict[str, str]) -> dict[str, str]:
    for key in ("no_proxy", "NO_PROXY"):
        cur = env.get(key, "")
        if _LOOPBACK_NO_PROXY not in cur:
            env[key] = f"{cur},{_LOOPBACK_NO_PROXY}" if cur else _LOOPBACK_NO_PROXY
    return env


# Never let a proxy from the environment sit between the in-process clients
# (requests, keystoneauth1, openstacksdk) and the loopback server.
_with_no_proxy(os.environ)  # type: ignore[arg-type]


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:]) or "<empty>"


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def pytest_configure(config: pytest.Config) -> None:
    # Deprecation notices raised inside the pinned client libraries are not
    # Lintel's to fix; keep them out of the summary.
    for category in ("DeprecationWarning", "PendingDeprecationWarning"):
        for module in ("openstack", "keystoneauth1", "osc_lib", "openstackclient"):
            config.addinivalue_line("filterwarnings",
                                    rf"ignore::{category}:{module}(\.|$)")


# --------------------------------------------------------------------------
# Database backends
# --------------------------------------------------------------------------

BACKEND_ENV = {
    "postgres": "LINTEL_TEST_POSTGRES_URL",
    "mysql": "LINTEL_TEST_MYSQL_URL",
}


# The fixtures parametrized by _backends(): a test that uses one runs on that backend.
BACKEND_FIXTURES = ("lintel", "fuzzed")


def _backends() -> list[str]:
    only = os.environ.get("LINTEL_CLIENTS_BACKEND")
    if only:
        # run.sh runs one pytest per backend, at once; the named backend's URL must be set like any other.
        if only != "sqlite" and not os.environ.get(BACKEND_ENV.get(only, "")):
            raise pytest.UsageError(f"LINTEL_CLIENTS_BACKEND={only}: not sqlite, or its URL variable is not set")
        return [only]
    backends = ["sqlite"]
    backends += [name for name, var in BACKEND_ENV.items() if os.environ.get(var)]
    return backends


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With LINTEL_CLIENTS_BACKEND naming a server backend, only the tests that run on it: the tests that use no
    backend (their own SQLite servers, Schemathesis, first start) run once, in the SQLite process."""
    only = os.environ.get("LINTEL_CLIENTS_BACKEND")
    if not only or only == "sqlite":
        return
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_backend = callspec is not None and any(f in callspec.params for f in BACKEND_FIXTURES)
        (keep if on_backend else drop).append(item)
    items[:] = keep
    if drop:
        config.hook.pytest_deselected(items=drop)


def _db_prefix() -> str:
    """LINTEL_TEST_DB_PREFIX (default lintel_test_): it goes into CREATE DATABASE, so only a letter, then letters,
    digits and '_', at most 30 characters."""
    prefix = os.environ.get("LINTEL_TEST_DB_PREFIX") or "lintel_test_"
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,29}", prefix):
        raise pytest.UsageError(f"LINTEL_TEST_DB_PREFIX={prefix!r}: a letter, then letters, digits and '_', at most 30")
    return prefix


class ExternalDatabase:
    """A throw-away database on a PostgreSQL or MySQL/MariaDB server."""

    def __init__(self, backend: str, base_url: str) -> None:
        self.backend = backend
        self.base_url = base_url
        self.parts = urllib.parse.urlsplit(base_url)
        self.name = f"{_db_prefix()}{uuid.uuid4().hex[:12]}"
        self.url = urllib.parse.urlunsplit(self.parts._replace(path="/" + self.name))
        self.created = False

    # -- client invocation -------------------------------------------------
    def _client_cmd(self, sql: str) -> tuple[list[str], dict[str, str]]:
        p = self.parts
        user = urllib.parse.unquote(p.username) if p.username else None
        password = urllib.parse.unquote(p.password) if p.password else None
        host = p.hostname or "127.0.0.1"
        env = dict(os.environ)
        if self.backend == "postgres":
            admin_db = urllib.parse.unquote(p.path.lstrip("/")) or "postgres"
            cmd = ["psql", "-h", host, "-p", str(p.port or 5432)]
            if user:
                cmd += ["-U", user]
            cmd += ["-d", admin_db, "-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-c", sql]
            env.setdefault("PGCONNECT_TIMEOUT", "10")
            if password:
                env["PGPASSWORD"] = password
        else:
            cmd = ["mysql", "-h", host, "-P", str(p.port or 3306), "--protocol=TCP",
                   "--connect-timeout=10", "--batch"]
            if user:
                cmd.append(f"-u{user}")
            cmd += ["-e", sql]
            if password:
                env["MYSQL_PWD"] = password
        return cmd, env

    def _run(self, sql: str) -> None:
        cmd, env = self._client_cmd(sql)
        if shutil.which(cmd[0]) is None:
            raise RuntimeError(
                f"{BACKEND_ENV[self.backend]} is set but the `{cmd[0]}` command-line "
                f"client is not installed (needed to create the test database)"
            )
        try:
            res = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL,
                                 capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"`{cmd[0]}` timed out running {sql!r} against "
                               f"{_redact(self.base_url)}") from exc
        if res.returncode != 0:
            raise RuntimeError(
                f"`{cmd[0]}` failed (exit {res.returncode}) running {sql!r} against "
                f"{_redact(self.base_url)} (from {BACKEND_ENV[self.backend]}):\n"
                f"{res.stdout}{res.stderr}"
            )

    def _quoted(self) -> str:
        return f'"{self.name}"' if self.backend == "postgres" else f"`{self.name}`"

    def create(self) -> None:
        self._run(f"CREATE DATABASE {self._quoted()}")
        self.created = True

    def drop(self) -> None:
        if self.created:
            # The server is stopped by now; FORCE (PostgreSQL 13+) still ends
            # any connection a killed server may have left behind.
            force = " WITH (FORCE)" if self.backend == "postgres" else ""
            self._run(f"DROP DATABASE IF EXISTS {self._quoted()}{force}")
            self.created = False


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------

class OpenStackCLIError(AssertionError):
    """An `openstack` command exited non-zero (or printed unparsable JSON)."""


@dataclass
class CLIResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class LintelServer:
    backend: str
    tmp: Path
    port: int
    db_url: str
    admin_password: str
    bin: Path
    extra_config: str = ""
    config: Path = field(init=False)
    log_path: Path = field(init=False)
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.config = self.tmp / "lintel.conf"
        self.log_path = self.tmp / "lintel-serve.log"

    # -- addresses ---------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/v3"

    @property
    def public_url(self) -> str:
        """The identity public endpoint URL given to `bootstrap`."""
        return f"{self.base_url}/v3"

    @property
    def data_dir(self) -> Path:
        return self.tmp / "data"

    @property
    def cacert(self) -> Path:
        return self.data_dir / "tls" / "cert.pem"

    # -- lifecycle ---------------------------------------------------------
    def write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            "[DEFAULT]\n"
            f"public_endpoint = {self.base_url}\n"
            f"data_dir = {self.data_dir}\n"
            "\n"
            "[database]\n"
            f"connection = {self.db_url}\n"
            "\n"
            "[server]\n"
            f"bind = 127.0.0.1:{self.port}\n"
            f"{self.extra_config}"
        )

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.setdefault("RUST_BACKTRACE", "1")
        return env

    def run_cli(self, *args: str, timeout: float = 120) -> None:
        """Run a one-shot lintel subcommand; fail the fixture on error."""
        cmd = [str(self.bin), "--config", str(self.config), *args]
        shown = " ".join(a if a != self.admin_password else "***" for a in cmd)
        try:
            res = subprocess.run(cmd, env=self._env(), stdin=subprocess.DEVNULL,
                                 capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"[{self.backend}] `{shown}` did not finish within {timeout}s\n"
                        f"stdout:\n{_text(exc.stdout)}\nstderr:\n{_text(exc.stderr)}",
                        pytrace=False)
        if res.returncode != 0:
            pytest.fail(f"[{self.backend}] `{shown}` exited {res.returncode}\n"
                        f"stdout:\n{res.stdout}\nstderr:\n{res.stderr}", pytrace=False)

    def start(self) -> None:
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [str(self.bin), "--config", str(self.config), "serve"],
                env=self._env(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()  # the child holds its own descriptor
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        assert self.proc is not None
        url = f"{self.base_url}/healthz"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last = "no attempt yet"
        with requests.Session() as http:
            http.trust_env = False
            while time.monotonic() < deadline:
                rc = self.proc.poll()
                if rc is not None:
                    self.fail_startup(f"`lintel serve` exited with status {rc} before "
                                      f"{url} answered")
                if not self.cacert.is_file():
                    last = f"TLS certificate {self.cacert} does not exist yet"
                else:
                    try:
                        resp = http.get(url, verify=str(self.cacert), timeout=2)
                        if resp.status_code == 200:
                            return
                        last = f"HTTP {resp.status_code}: {resp.text[:200]!r}"
                    except requests.RequestException as exc:
                        last = f"{type(exc).__name__}: {exc}"
                time.sleep(0.2)
        self.fail_startup(f"{url} did not answer 200 within {STARTUP_TIMEOUT:g}s "
                          f"(last: {last})")

    def fail_startup(self, why: str) -> None:
        self.stop(quiet=True)
        pytest.fail(f"[{self.backend}] Lintel server failed to start: {why}\n"
                    f"--- {self.log_path} (last {LOG_TAIL_LINES} lines) ---\n"
                    f"{self.log_tail()}", pytrace=False)

    def stop(self, quiet: bool = False) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is not None:
            if proc.returncode != 0 and not quiet:
                warnings.warn(f"[{self.backend}] lintel serve had already exited with "
                              f"status {proc.returncode}; log tail:\n{self.log_tail()}")
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            warnings.warn(f"[{self.backend}] lintel serve ignored SIGTERM for 15s; "
                          "killing it")
            proc.kill()
            proc.wait(timeout=15)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return _tail(self.log_path, lines)

    # -- openstack CLI -----------------------------------------------------
    def cli_env(self, **overrides: str | None) -> dict[str, str]:
        """Environment for the openstack CLI, authenticated as admin unless
        overridden (pass OS_FOO="..." to override, OS_FOO=None to unset)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("OS_") and k not in _DROPPED_ENV}
        _with_no_proxy(env)
        env.update({
            "OS_AUTH_URL": self.auth_url,
            "OS_USERNAME": "admin",
            "OS_PASSWORD": self.admin_password,
            "OS_PROJECT_NAME": "admin",
            "OS_USER_DOMAIN_NAME": "Default",
            "OS_PROJECT_DOMAIN_NAME": "Default",
            "OS_IDENTITY_API_VERSION": "3",
            "OS_CACERT": str(self.cacert),
            "OS_INTERFACE": "public",
        })
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def openstack_raw(self, *args: str, env: dict[str, str | None] | None = None,
                      process: bool = False) -> CLIResult:
        """Run `openstack ARGS...`; return the result whatever the exit code.

        By default the CLI runs in this interpreter (its entry point with argv, as the console script calls it):
        the same code, a tenth of the time of a new Python process. `process=True` runs the installed console
        script as a user would; a handful of tests do, so that the script itself stays covered."""
        if not process:
            return _openstack_in_process(list(args), self.cli_env(**(env or {})))
        exe = _openstack_bin()
        if not exe.exists():
            pytest.fail(f"openstack CLI not found at {exe}; run the suite through "
                        "tests/clients/run.sh (it installs requirements.txt into a venv)",
                        pytrace=False)
        cmd = [str(exe), *args]
        try:
            res = subprocess.run(cmd, env=self.cli_env(**(env or {})),
                                 stdin=subprocess.DEVNULL, capture_output=True,
                                 text=True, timeout=CLI_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise OpenStackCLIError(
                f"[{self.backend}] `openstack {' '.join(args)}` timed out after "
                f"{CLI_TIMEOUT:g}s\n--- stdout ---\n{_text(exc.stdout)}\n"
                f"--- stderr ---\n{_text(exc.stderr)}\n"
                f"--- server log tail ---\n{self.log_tail(30)}") from None
        return CLIResult(list(args), res.returncode, res.stdout, res.stderr)

    def _check(self, res: CLIResult) -> CLIResult:
        if res.returncode != 0:
            raise OpenStackCLIError(
                f"[{self.backend}] `openstack {' '.join(res.args)}` exited "
                f"{res.returncode}\n--- stdout ---\n{res.stdout}\n--- stderr ---\n"
                f"{res.stderr}\n--- server log tail ---\n{self.log_tail(30)}")
        return res

    def openstack(self, *args: str, env: dict[str, str | None] | None = None,
                  process: bool = False) -> str:
        """Run a command that has no -f option; return its stdout, raise on failure."""
        return self._check(self.openstack_raw(*args, env=env, process=process)).stdout

    def openstack_json(self, *args: str, env: dict[str, str | None] | None = None,
                       process: bool = False) -> Any:
        """Run a show/list/create command with `-f json`; return the parsed JSON."""
        res = self._check(self.openstack_raw(*args, "-f", "json", env=env, process=process))
        try:
            return json.loads(res.stdout)
        except json.JSONDecodeError as exc:
            raise OpenStackCLIError(
                f"[{self.backend}] `openstack {' '.join(res.args)}` printed invalid "
                f"JSON ({exc})\n--- stdout ---\n{res.stdout}\n--- stderr ---\n"
                f"{res.stderr}") from None


def _openstack_in_process(args: list[str], env: dict[str, str]) -> CLIResult:
    """`openstack ARGS` through the CLI's entry point in this interpreter (tests/lib/osc_in_process.py)."""
    rc, out, err = osc_in_process.openstack(args, env)
    return CLIResult(args, rc, out, err)


def _database_url(backend: str, tmp: Path) -> tuple[str, ExternalDatabase | None]:
    if backend == "sqlite":
        return f"sqlite://{tmp}/data/lintel.db?mode=rwc", None
    db = ExternalDatabase(backend, os.environ[BACKEND_ENV[backend]])
    error = None
    try:
        db.create()
    except RuntimeError as exc:
        error = str(exc)
    if error is not None:  # fail outside `except` to keep the report short
        pytest.fail(f"[{backend}] cannot create the test database: {error}", pytrace=False)
    return db.url, db


@contextlib.contextmanager
def _serving(backend: str, tmp_path_factory: pytest.TempPathFactory,
             extra_config: str = "") -> Iterator[LintelServer]:
    """A Lintel server (db-sync'ed and bootstrapped) on `backend`, stopped and its database dropped after."""
    binary = _lintel_bin()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(
            f"Lintel binary not found (or not executable): {binary}\n"
            "Build it with `cargo build --locked`, or set LINTEL_BIN.",
            pytrace=False)

    tmp = tmp_path_factory.mktemp(f"lintel-{backend}")
    db_url, db = _database_url(backend, tmp)
    server = LintelServer(
        backend=backend, tmp=tmp, port=_free_port(), db_url=db_url,
        admin_password="Adm1n-" + secrets.token_hex(12), bin=binary,
        extra_config=extra_config,
    )
    try:
        server.write_config()
        server.run_cli("db-sync")
        server.run_cli("bootstrap",
                       "--bootstrap-password", server.admin_password,
                       "--bootstrap-public-url", server.public_url)
        server.start()
        yield server
    finally:
        server.stop()
        if db is not None:
            try:
                db.drop()
            except RuntimeError as exc:
                warnings.warn(f"[{backend}] could not drop test database {db.name}: {exc}")


@pytest.fixture(scope="session", params=_backends())
def lintel(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A running Lintel server (db-sync'ed and bootstrapped) on one backend."""
    with _serving(request.param, tmp_path_factory) as server:
        yield server


@pytest.fixture(scope="session")
def lintel_jwt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A second server (SQLite) whose token endpoint issues JWT access tokens (RFC 9068)."""
    with _serving("sqlite", tmp_path_factory,
                  "\n[oauth2]\naccess_token_format = jwt\n") as server:
        yield server


@pytest.fixture(scope="session")
def lintel_jwt_eddsa(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server (SQLite) issuing EdDSA-signed JWT access tokens."""
    with _serving("sqlite", tmp_path_factory,
                  "\n[oauth2]\naccess_token_format = jwt\njwt_signing_algorithm = EdDSA\n") as server:
        yield server


@pytest.fixture
def make_name():
    """make_name("user") -> "user-<12 hex>": unique per call, so tests are
    independent of order and of each other on the shared server."""
    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"
    return make


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Attach the server log tail to every failing test that used a server."""
    report = yield
    if report.failed and call.when in ("call", "setup"):
        server = getattr(item, "funcargs", {}).get("lintel")
        if isinstance(server, LintelServer):
            report.sections.append(
                (f"lintel serve log [{server.backend}] (tail)", server.log_tail()))
    return report
