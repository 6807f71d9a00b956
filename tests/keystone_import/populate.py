"""Fill a running Keystone through its API with one of everything keystone-import carries, as `openstack` makes it,
and write what the import must reproduce (ids, names, secrets, tokens) to $OUT, a shell file to source.

Needs: the OS_* variables of Keystone's admin (run.sh's openrc) and python-openstackclient, in the venv this runs
in. The commands are the ones a user types; they run through the CLI's entry point in this one interpreter
(tests/lib/osc_in_process.py) rather than a process each, which took most of the suite's time.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from osc_in_process import openstack  # noqa: E402  (found through the path above)

OUT = Path(os.environ["OUT"])
ADMIN = {k: v for k, v in os.environ.items() if k != "OUT"}


def run(*args: str, env: dict[str, str] | None = None, may_fail: bool = False) -> str:
    rc, out, err = openstack(list(args), env or ADMIN)
    # What ran, and what it complained of; not its output (tokens and ids go to $OUT only).
    print(f"$ openstack {shlex.join(args)}\n{err}", end="", flush=True)
    if rc != 0 and not may_fail:
        sys.exit(f"populate: `openstack {shlex.join(args)}` exited {rc}")
    return out


def new_id(*args: str, env: dict[str, str] | None = None) -> str:
    return run(*args, "-f", "value", "-c", "id", env=env).strip()


facts: dict[str, str] = {}
facts["D2"] = new_id("domain", "create", "--description", "second domain", "dom2")
facts["P1"] = new_id("project", "create", "--domain", "default", "--description", "top", "--tag", "alpha",
                     "--tag", "beta", "parent1")
facts["P2"] = new_id("project", "create", "--domain", "default", "--parent", "parent1", "--tag", "gamma", "child1")
facts["P3"] = new_id("project", "create", "--domain", "dom2", "proj2")
facts["U1"] = new_id("user", "create", "--domain", "default", "--password", "pw-one-Ä", "--email", "one@example.com",
                     "--project", "parent1", "user1")
facts["U2"] = new_id("user", "create", "--domain", "dom2", "--password", "pw-two", "user2")
facts["G1"] = new_id("group", "create", "--domain", "default", "devs")
run("group", "add", "user", "devs", "user1")
facts["R1"] = new_id("role", "create", "reader2")
facts["R2"] = new_id("role", "create", "--domain", "dom2", "domrole")
facts["R3"] = new_id("role", "create", "writer2")
run("implied", "role", "create", "writer2", "--implied-role", "reader2")
run("role", "add", "--user", "user1", "--project", "parent1", "writer2")
run("role", "add", "--user", "user1", "--project", "parent1", "member")
run("role", "add", "--group", "devs", "--project", "child1", "reader2")
run("role", "add", "--user", "user2", "--user-domain", "dom2", "--domain", "dom2", "--role-domain", "dom2", "domrole")
run("role", "add", "--user", "user1", "--system", "all", "reader")
run("role", "add", "--user", "user1", "--project", "parent1", "--inherited", "reader2", may_fail=True)

# user1's own credentials, made with user1's project-scoped token.
USER1 = {**ADMIN, "OS_USERNAME": "user1", "OS_PASSWORD": "pw-one-Ä", "OS_PROJECT_NAME": "parent1",
         "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default"}
facts["AC1"] = new_id("application", "credential", "create", "--secret", "ac1-secret", "--role", "writer2",
                      "--expiration", "2099-01-01T00:00:00", "--access-rules",
                      '[{"service": "identity", "method": "GET", "path": "/v3/auth/projects"}]', "ac1", env=USER1)
facts["AC2"] = new_id("application", "credential", "create", "--secret", "ac2-secret", "--unrestricted", "ac2",
                      env=USER1)
facts["U1_TOKEN"] = new_id("token", "issue", env=USER1)
# Tokens in flight at the switch: one still good, one revoked in Keystone, one from the application credential.
revoked = new_id("token", "issue", env=USER1)
run("token", "revoke", revoked, env=USER1)
facts["REVOKED_TOKEN"] = revoked
APP_CRED = {k: v for k, v in USER1.items()
            if k not in ("OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_USER_DOMAIN_NAME",
                         "OS_PROJECT_DOMAIN_NAME")}
facts["AC_TOKEN"] = new_id("--os-auth-type", "v3applicationcredential", "--os-application-credential-id",
                           facts["AC1"], "--os-application-credential-secret", "ac1-secret", "token", "issue",
                           env=APP_CRED)

# A credential whose user loses one of its roles after its token was issued: Keystone works the token's roles out
# at validation (the credential's roles the user still holds), and so must Lintel after the move.
facts["AC3"] = new_id("application", "credential", "create", "--secret", "ac3-secret", "--role", "writer2",
                      "--role", "member", "ac3", env=USER1)
facts["AC3_TOKEN"] = new_id("--os-auth-type", "v3applicationcredential", "--os-application-credential-id",
                            facts["AC3"], "--os-application-credential-secret", "ac3-secret", "token", "issue",
                            env=APP_CRED)
run("role", "remove", "--user", "user1", "--project", "parent1", "member")

missing = [k for k, v in facts.items() if not v]
if missing:
    sys.exit(f"populate: no id printed for {', '.join(missing)}")
OUT.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in facts.items()))
