"""Faults under load on a running cluster (scripts/cluster.sh up): tokens are issued and validated and credentials
created through HAProxy while Lintel and database nodes are killed and restarted, and the token keys rotated.

Asserted: no acknowledged write is lost; no token that validated stops validating; only requests in flight on a
killed node fail, and a retried request succeeds; a credential deleted through one node is refused by every node
at once. Printed: each fault's failover gap (the longest time no request succeeded).

    python tests/cluster/faults.py   (with scripts/cluster.sh env's variables in the environment)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

URL = os.environ["LINTEL_CLUSTER_URL"]
CA = os.environ["LINTEL_CLUSTER_CACERT"]
PASSWORD = os.environ["LINTEL_CLUSTER_ADMIN_PASSWORD"]
BACKEND = os.environ["LINTEL_CLUSTER_BACKEND"]
DIR = Path(os.environ["LINTEL_CLUSTER_DIR"])
BIN = os.environ.get("LINTEL_BIN", str(Path(__file__).resolve().parents[2] / "target/debug/lintel"))
NODES = [f"https://127.0.0.1:544{n}" for n in (1, 2, 3)]
WORKERS = 4
TIMEOUT = 10


def session() -> requests.Session:
    s = requests.Session()
    s.verify = CA
    s.trust_env = False
    return s


def admin_token(base: str = URL) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    deadline = time.monotonic() + 60
    while True:
        try:
            r = session().post(f"{base}/v3/auth/tokens", json=body, timeout=TIMEOUT)
            if r.status_code == 201:
                return r.headers["X-Subject-Token"]
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"no admin token from {base}")
        time.sleep(0.5)


@dataclass
class Record:
    """What the load saw: every outcome with its time, the writes acknowledged, the tokens that validated."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    events: list[tuple[float, bool, str]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    valid: list[str] = field(default_factory=list)

    def note(self, ok: bool, what: str) -> None:
        with self.lock:
            self.events.append((time.monotonic(), ok, what))


class Load:
    """Workers issuing a token (client credentials), validating it, and now and then creating a credential."""

    def __init__(self, admin: str, user_id: str, cred: tuple[str, str]) -> None:
        self.admin, self.user_id, self.cred = admin, user_id, cred
        self.record = Record()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.work, args=(i,), daemon=True) for i in range(WORKERS)]

    def work(self, i: int) -> None:
        s = session()
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                r = s.post(f"{URL}/v3/OS-OAUTH2/token", auth=self.cred,
                           data={"grant_type": "client_credentials"}, timeout=TIMEOUT)
                if r.status_code != 200:
                    self.record.note(False, f"issue {r.status_code} {r.text[:120]}")
                    continue
                token = r.json()["access_token"]
                v = s.get(f"{URL}/v3/auth/tokens", headers={"X-Auth-Token": self.admin,
                                                           "X-Subject-Token": token}, timeout=TIMEOUT)
                if v.status_code != 200:
                    self.record.note(False, f"validate {v.status_code} {v.text[:120]}")
                    continue
                with self.record.lock:
                    if len(self.record.valid) < 2000:
                        self.record.valid.append(token)
                if n % 10 == 0:
                    c = s.post(f"{URL}/v3/users/{self.user_id}/application_credentials",
                               headers={"X-Auth-Token": self.admin},
                               json={"application_credential": {"name": f"load-{i}-{n}-{time.monotonic_ns()}"}},
                               timeout=TIMEOUT)
                    if c.status_code != 201:
                        self.record.note(False, f"create {c.status_code} {c.text[:120]}")
                        continue
                    with self.record.lock:
                        self.record.created.append(c.json()["application_credential"]["id"])
                self.record.note(True, "ok")
            except requests.RequestException as e:
                self.record.note(False, f"{type(e).__name__}")
                s = session()

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=TIMEOUT * 3)


def gap(events: list[tuple[float, bool, str]], start: float, end: float) -> float:
    """The longest time in [start, end] without a successful request, in seconds."""
    last = start
    longest = 0.0
    for t, ok, _ in events:
        if start <= t <= end and ok:
            longest = max(longest, t - last)
            last = t
    return max(longest, end - last)


def pid(path: Path) -> int:
    return int(path.read_text().strip())


def ready(base: str) -> bool:
    try:
        return session().get(f"{base}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def wait(cond, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.3)


def start_lintel(n: int) -> None:
    d = DIR / f"lintel{n}"
    with open(d / "serve.log", "ab") as out:
        p = subprocess.Popen([BIN, "--config", str(d / "lintel.conf"), "serve"], cwd=d,
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
    (d / "serve.pid").write_text(str(p.pid))
    wait(lambda: ready(NODES[n - 1]), 60, f"lintel{n} ready")


def galera_synced(n: int) -> bool:
    r = subprocess.run(["mariadb", "--no-defaults", "-uroot", "-h127.0.0.1", f"-P332{n}", "-N", "-B", "-e",
                        "SHOW STATUS LIKE 'wsrep_local_state_comment'"], capture_output=True, text=True)
    return r.returncode == 0 and r.stdout.split("\t")[-1].strip() == "Synced"


def start_galera(n: int) -> None:
    d = DIR / f"galera{n}"
    with open(d / "stdout.log", "ab") as out:
        p = subprocess.Popen(["mariadbd", f"--defaults-file={d / 'my.cnf'}"], stdin=subprocess.DEVNULL,
                             stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    (d / "launcher.pid").write_text(str(p.pid))
    wait(lambda: galera_synced(n), 180, f"galera{n} synced")


def galera_pid(n: int) -> int:
    return pid(DIR / f"galera{n}" / "mysqld.pid")


def revocation_holds_everywhere(admin: str, user_id: str) -> None:
    """A credential deleted through one node: its token is refused by every node at once."""
    s = session()
    c = s.post(f"{NODES[0]}/v3/users/{user_id}/application_credentials", headers={"X-Auth-Token": admin},
               json={"application_credential": {"name": f"doomed-{time.monotonic_ns()}"}}, timeout=TIMEOUT)
    assert c.status_code == 201, c.text
    cred = c.json()["application_credential"]
    r = s.post(f"{NODES[1]}/v3/OS-OAUTH2/token", auth=(cred["id"], cred["secret"]),
               data={"grant_type": "client_credentials"}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    for base in NODES:
        v = s.get(f"{base}/v3/auth/tokens", headers={"X-Auth-Token": admin, "X-Subject-Token": token},
                  timeout=TIMEOUT)
        assert v.status_code == 200, (base, v.text)
    d = s.delete(f"{NODES[2]}/v3/users/{user_id}/application_credentials/{cred['id']}",
                 headers={"X-Auth-Token": admin}, timeout=TIMEOUT)
    assert d.status_code == 204, d.text
    for base in NODES:
        v = s.get(f"{base}/v3/auth/tokens", headers={"X-Auth-Token": admin, "X-Subject-Token": token},
                  timeout=TIMEOUT)
        assert v.status_code == 404, f"{base} still accepts a deleted credential's token: {v.status_code}"


class RevocationProbe:
    """While the faults run: again and again, a credential is created, a token issued for it, and the credential
    deleted through the front; once the delete is acknowledged every node that answers must refuse the token.
    Rounds that a fault interrupts (a refused write, a node down) are skipped, not counted."""

    def __init__(self, admin: str, user_id: str) -> None:
        self.admin, self.user_id = admin, user_id
        self.stop = threading.Event()
        self.rounds = 0
        self.violations: list[str] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def round(self, s: requests.Session) -> None:
        h = {"X-Auth-Token": self.admin}
        c = s.post(f"{URL}/v3/users/{self.user_id}/application_credentials", headers=h,
                   json={"application_credential": {"name": f"probe-{time.monotonic_ns()}"}}, timeout=TIMEOUT)
        if c.status_code != 201:
            return
        cred = c.json()["application_credential"]
        r = s.post(f"{URL}/v3/OS-OAUTH2/token", auth=(cred["id"], cred["secret"]),
                   data={"grant_type": "client_credentials"}, timeout=TIMEOUT)
        token = r.json()["access_token"] if r.status_code == 200 else None
        for _ in range(20):  # the delete must land, or the credential would outlive the probe
            try:
                d = s.delete(f"{URL}/v3/users/{self.user_id}/application_credentials/{cred['id']}",
                             headers=h, timeout=TIMEOUT)
                if d.status_code in (204, 404):
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            return
        if token is None or d.status_code != 204:
            return
        for base in NODES:
            try:
                v = session().get(f"{base}/v3/auth/tokens", headers={**h, "X-Subject-Token": token},
                                  timeout=TIMEOUT)
            except requests.RequestException:
                continue  # that node is down: it answers nothing, so accepts nothing
            if v.status_code == 200:
                self.violations.append(f"{base} accepted a token of a credential deleted before")
        self.rounds += 1

    def run(self) -> None:
        s = session()
        while not self.stop.is_set():
            try:
                self.round(s)
            except requests.RequestException:
                s = session()
            time.sleep(0.5)

    def __enter__(self) -> RevocationProbe:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=TIMEOUT * 25)


def start_direct(n: int, galera: int, limit: int) -> str:
    """A Lintel node of its own (not behind HAProxy) on Galera node `galera` directly, with a user_limit: what two
    nodes writing through different database nodes do."""
    d = DIR / f"lintel{n}"
    d.mkdir(exist_ok=True)
    conf = (DIR / "lintel1" / "lintel.conf").read_text()
    conf = (conf.replace("127.0.0.1:3330/", f"127.0.0.1:332{galera}/")
            .replace("bind = 127.0.0.1:5441", f"bind = 127.0.0.1:544{n}")
            .replace(f"data_dir = {DIR / 'lintel1'}", f"data_dir = {d}"))
    (d / "lintel.conf").write_text(conf + f"[application_credential]\nuser_limit = {limit}\n")
    base = f"https://127.0.0.1:544{n}"
    with open(d / "serve.log", "ab") as out:
        p = subprocess.Popen([BIN, "--config", str(d / "lintel.conf"), "serve"], cwd=d,
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
    (d / "serve.pid").write_text(str(p.pid))
    wait(lambda: ready(base), 60, f"lintel{n} ready")
    return base


def cert_failures() -> int:
    total = 0
    for n in (1, 2, 3):
        r = subprocess.run(["mariadb", "--no-defaults", "-uroot", "-h127.0.0.1", f"-P332{n}", "-N", "-B", "-e",
                            "SHOW STATUS LIKE 'wsrep_local_cert_failures'"], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            total += int(r.stdout.split("\t")[-1])
    return total


def user_limit_across_writers(admin: str) -> list[str]:
    """Two nodes writing through two Galera nodes, creating credentials for one user at once: the limit holds (a
    locking read holds on one server only; the serial row makes the two write sets conflict), and a create that
    lost the race is retried, never answered 500 or 503."""
    limit, rounds, per_node = 3, 5, 4
    problems: list[str] = []
    try:
        bases = [start_direct(4, 1, limit), start_direct(5, 2, limit)]
        return limit_rounds(admin, bases, limit, rounds, per_node, problems)
    finally:
        for n in (4, 5):
            try:
                os.kill(pid(DIR / f"lintel{n}" / "serve.pid"), signal.SIGTERM)
            except (OSError, ValueError):
                pass


def eventually(read, ok, limit: float = 5.0):
    """`read()` until `ok(value)` (another Galera node may not have applied a write yet), at most `limit` s."""
    deadline = time.monotonic() + limit
    while True:
        value = read()
        if ok(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def limit_rounds(admin: str, bases: list[str], limit: int, rounds: int, per_node: int,
                 problems: list[str]) -> list[str]:
    s = session()
    h = {"X-Auth-Token": admin}
    project = s.get(f"{URL}/v3/auth/tokens", headers={**h, "X-Subject-Token": admin},
                    timeout=TIMEOUT).json()["token"]["project"]["id"]
    member = s.get(f"{URL}/v3/roles?name=member", headers=h, timeout=TIMEOUT).json()["roles"][0]["id"]
    before = cert_failures()
    for r in range(rounds):
        u = s.post(f"{URL}/v3/users", headers=h, json={"user": {
            "name": f"limited-{r}-{time.monotonic_ns()}", "domain_id": "default", "password": "pw-" + "x" * 20}},
            timeout=TIMEOUT)
        assert u.status_code == 201, u.text
        uid = u.json()["user"]["id"]
        g = s.put(f"{URL}/v3/projects/{project}/users/{uid}/roles/{member}", headers=h, timeout=TIMEOUT)
        assert g.status_code == 204, g.text
        tokens = {}
        for base in bases:
            # The node reads its own Galera node, which may not have applied the user and the grant yet.
            t = eventually(lambda: session().post(f"{base}/v3/auth/tokens", json={"auth": {"identity": {
                "methods": ["password"], "password": {"user": {"id": uid, "password": "pw-" + "x" * 20}}},
                "scope": {"project": {"id": project}}}}, timeout=TIMEOUT), lambda t: t.status_code == 201)
            assert t.status_code == 201, t.text
            tokens[base] = t.headers["X-Subject-Token"]
        go = threading.Barrier(len(bases) * per_node)
        statuses: list[int] = []

        def create(base: str, i: int) -> None:
            sess = session()
            go.wait()
            c = sess.post(f"{base}/v3/users/{uid}/application_credentials",
                          headers={"X-Auth-Token": tokens[base]},
                          json={"application_credential": {"name": f"c-{i}-{base[-4:]}"}}, timeout=TIMEOUT)
            statuses.append(c.status_code)

        threads = [threading.Thread(target=create, args=(b, i)) for b in bases for i in range(per_node)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        made = statuses.count(201)
        have = eventually(lambda: s.get(f"{URL}/v3/users/{uid}/application_credentials", headers=h,
                                        timeout=TIMEOUT).json()["application_credentials"],
                          lambda have: len(have) >= made)
        if len(have) > limit:
            problems.append(f"user_limit {limit} exceeded across writers: {len(have)} credentials")
        if sorted(statuses) != sorted([201] * len(have) + [403] * (len(statuses) - len(have))):
            problems.append(f"user_limit across writers: answers {sorted(statuses)}, {len(have)} stored")
    print(f"  user_limit across two writers: {rounds} rounds of {len(bases) * per_node} concurrent creates, "
          f"{cert_failures() - before} certification failures retried")
    return problems


def main() -> int:
    admin = admin_token()
    s = session()
    me = s.get(f"{URL}/v3/auth/tokens", headers={"X-Auth-Token": admin, "X-Subject-Token": admin},
               timeout=TIMEOUT).json()["token"]["user"]["id"]
    c = s.post(f"{URL}/v3/users/{me}/application_credentials", headers={"X-Auth-Token": admin},
               json={"application_credential": {"name": "load"}}, timeout=TIMEOUT)
    assert c.status_code == 201, c.text
    cred = (c.json()["application_credential"]["id"], c.json()["application_credential"]["secret"])
    revocation_holds_everywhere(admin, me)

    faults = []

    def kill_lintel() -> None:
        os.kill(pid(DIR / "lintel2" / "serve.pid"), signal.SIGKILL)
        time.sleep(3)
        start_lintel(2)

    def rolling_restart() -> None:
        for n in (1, 2, 3):
            os.kill(pid(DIR / f"lintel{n}" / "serve.pid"), signal.SIGTERM)
            time.sleep(1)
            start_lintel(n)

    def rotate_keys() -> None:
        subprocess.run([BIN, "--config", str(DIR / "lintel1" / "lintel.conf"), "keys", "rotate"], check=True,
                       capture_output=True, timeout=60)
        time.sleep(3)

    def kill_galera_node() -> None:
        os.kill(galera_pid(3), signal.SIGKILL)
        time.sleep(3)
        start_galera(3)

    def stop_galera_writer() -> None:
        os.kill(galera_pid(1), signal.SIGTERM)
        time.sleep(5)
        start_galera(1)

    faults.append(("kill -9 one Lintel node", kill_lintel))
    if BACKEND == "galera":
        faults.append(("kill -9 one Galera node, bring it back", kill_galera_node))
        faults.append(("stop the Galera writer (HAProxy fails over)", stop_galera_writer))
    faults.append(("restart every Lintel node one by one", rolling_restart))
    faults.append(("rotate the token keys on one node", rotate_keys))

    with Load(admin, me, cred) as load, RevocationProbe(admin, me) as probe:
        time.sleep(3)
        windows = []
        for name, fault in faults:
            start = time.monotonic()
            fault()
            time.sleep(3)
            windows.append((name, start, time.monotonic()))
    rec = load.record
    failures = [e for e in rec.events if not e[1]]
    oks = sum(1 for e in rec.events if e[1])
    print(f"cluster ({BACKEND}): {oks} load rounds succeeded, {len(failures)} failed; "
          f"{len(rec.created)} credentials created, {len(rec.valid)} tokens validated")
    problems = []
    for name, start, end in windows:
        g = gap(rec.events, start, end)
        failed = [e for e in failures if start <= e[0] <= end]
        print(f"  {name}: failover gap {g * 1000:.0f} ms, {len(failed)} failed requests")
        kinds = sorted({e[2] for e in failed})
        if kinds:
            print(f"    failures: {kinds[:6]}")
        if any(k.split(" ")[1:2] == ["500"] for k in kinds):
            problems.append(f"{name}: a request was answered 500")
        if name.startswith("kill -9 one Lintel") and len(failed) > 2 * WORKERS:
            problems.append(f"{name}: {len(failed)} requests failed, more than were in flight")
        if g > 30:
            problems.append(f"{name}: no request succeeded for {g:.1f} s")
    # Nothing acknowledged is lost; nothing that validated stops validating.
    admin = admin_token()
    lost = [i for i in rec.created
            if s.get(f"{URL}/v3/users/{me}/application_credentials/{i}", headers={"X-Auth-Token": admin},
                     timeout=TIMEOUT).status_code != 200]
    if lost:
        problems.append(f"{len(lost)} acknowledged credentials lost: {lost[:5]}")
    invalid = [t for t in rec.valid[::20]
               if s.get(f"{URL}/v3/auth/tokens", headers={"X-Auth-Token": admin, "X-Subject-Token": t},
                        timeout=TIMEOUT).status_code != 200]
    if invalid:
        problems.append(f"{len(invalid)} tokens that validated no longer do")
    if failures and not windows:
        problems.append("failures without a fault")
    outside = [e for e in failures if not any(s0 <= e[0] <= s1 + 1 for _, s0, s1 in windows)]
    if outside:
        problems.append(f"{len(outside)} requests failed outside any fault: {sorted({e[2] for e in outside})[:5]}")
    print(f"  revocation during the faults: {probe.rounds} deletes acknowledged, each token then refused by "
          f"every node that answered" if not probe.violations else "  revocation during the faults: FAILED")
    problems += probe.violations[:5]
    if probe.rounds < len(windows):
        problems.append(f"only {probe.rounds} revocation rounds completed during the faults")
    revocation_holds_everywhere(admin, me)
    if BACKEND == "galera":
        problems += user_limit_across_writers(admin)
    for p in problems:
        print(f"FAIL: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
