"""The real `openstack` CLI (python-openstackclient) against a real Lintel.

Every test makes its own uniquely named resources, so tests do not depend on
each other or on their order; the server (one per backend) is shared.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

DEFAULT_DOMAIN_ID = "default"


# -- helpers ----------------------------------------------------------------

def _find(rows: list[dict], **match: object) -> list[dict]:
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def _create_user(lintel, name: str, password: str | None = None) -> dict:
    args = ["user", "create", "--domain", "default"]
    if password is not None:
        args += ["--password", password]
    return lintel.openstack_json(*args, name)


def _create_project(lintel, name: str) -> dict:
    return lintel.openstack_json("project", "create", "--domain", "default",
                                 "--description", f"project {name}", name)


@pytest.fixture
def member_role(lintel) -> str:
    """Make sure the global role `member` exists (Keystone's bootstrap creates
    it alongside `admin` and `reader`; create it only if Lintel's did not)."""
    roles = lintel.openstack_json("role", "list")
    if not _find(roles, Name="member"):
        lintel.openstack_json("role", "create", "member")
    return "member"


def _assert_not_found(res, what: str, name: str) -> None:
    assert res.returncode != 0, (
        f"`openstack {' '.join(res.args)}` should fail for a deleted {what}, "
        f"but exited 0:\n{res.output}")
    assert re.search(rf"no {what}|not found|could not find|404", res.output, re.I), (
        f"unexpected error for a missing {what} {name!r}:\n{res.output}")


# -- tokens -----------------------------------------------------------------

def test_token_issue(lintel):
    # The installed console script in a process of its own, as a user runs it (most tests call its entry point).
    token = lintel.openstack_json("token", "issue", process=True)

    assert isinstance(token.get("id"), str) and token["id"], token
    for key in ("expires", "project_id", "user_id"):
        assert token.get(key), f"`token issue` lacks {key!r}: {token}"

    expires = datetime.strptime(token["expires"], "%Y-%m-%dT%H:%M:%S%z")
    now = datetime.now(timezone.utc)
    assert now < expires <= now + timedelta(days=7), token["expires"]

    admin_project = lintel.openstack_json("project", "show", "admin")
    admin_user = lintel.openstack_json("user", "show", "admin")
    assert token["project_id"] == admin_project["id"]
    assert token["user_id"] == admin_user["id"]


def test_new_user_can_issue_own_token(lintel, make_name, member_role):
    user, project = make_name("user"), make_name("proj")
    password = make_name("Pw")
    created_user = _create_user(lintel, user, password=password)
    created_project = _create_project(lintel, project)
    lintel.openstack("role", "add", "--user", user, "--project", project, member_role)

    token = lintel.openstack_json("token", "issue", env={
        "OS_USERNAME": user,
        "OS_PASSWORD": password,
        "OS_PROJECT_NAME": project,
    })

    assert token.get("id"), token
    assert token["user_id"] == created_user["id"]
    assert token["project_id"] == created_project["id"]
    admin_token = lintel.openstack_json("token", "issue")
    assert token["id"] != admin_token["id"]


def test_wrong_password_is_rejected(lintel):
    res = lintel.openstack_raw("token", "issue", "-f", "json",
                               env={"OS_PASSWORD": "definitely-not-the-password"}, process=True)

    assert res.returncode != 0, f"token issue with a wrong password exited 0:\n{res.output}"
    assert re.search(r"401|authenticat", res.output, re.I), (
        f"the error should mention 401 / authentication:\n{res.output}")
    assert '"id"' not in res.stdout, f"a token was printed:\n{res.stdout}"


def test_wrong_password_of_new_user_is_rejected(lintel, make_name, member_role):
    user, project = make_name("user"), make_name("proj")
    _create_user(lintel, user, password=make_name("Pw"))
    _create_project(lintel, project)
    lintel.openstack("role", "add", "--user", user, "--project", project, member_role)

    res = lintel.openstack_raw("token", "issue", env={
        "OS_USERNAME": user,
        "OS_PASSWORD": "wrong-" + make_name("pw"),
        "OS_PROJECT_NAME": project,
    })

    assert res.returncode != 0, f"token issue with a wrong password exited 0:\n{res.output}"
    assert re.search(r"401|authenticat", res.output, re.I), res.output


# -- users ------------------------------------------------------------------

def test_user_lifecycle(lintel, make_name):
    name = make_name("user")
    created = lintel.openstack_json(
        "user", "create", "--domain", "default", "--password", make_name("Pw"),
        "--email", "e@x", "--description", "d", name)

    assert created["name"] == name
    assert created["email"] == "e@x"
    assert created["description"] == "d"
    assert created["domain_id"] == DEFAULT_DOMAIN_ID
    assert created["enabled"] is True
    assert created["id"]
    user_id = created["id"]

    listed = lintel.openstack_json("user", "list")
    assert _find(listed, ID=user_id, Name=name), f"{name} missing from user list: {listed}"
    assert _find(listed, Name="admin"), listed

    for ref in (name, user_id):
        shown = lintel.openstack_json("user", "show", ref)
        assert shown["id"] == user_id
        assert shown["name"] == name
        assert shown["email"] == "e@x"
        assert shown["description"] == "d"
        assert shown["domain_id"] == DEFAULT_DOMAIN_ID
        assert shown["enabled"] is True

    out = lintel.openstack("user", "set", "--email", "new@x", "--disable", name)
    assert out.strip() == ""

    shown = lintel.openstack_json("user", "show", name)
    assert shown["id"] == user_id
    assert shown["email"] == "new@x"
    assert shown["enabled"] is False
    assert shown["description"] == "d"

    lintel.openstack("user", "delete", name)

    _assert_not_found(lintel.openstack_raw("user", "show", name), "user", name)
    _assert_not_found(lintel.openstack_raw("user", "show", user_id), "user", user_id)
    listed = lintel.openstack_json("user", "list")
    assert not _find(listed, ID=user_id), f"deleted user still listed: {listed}"


# -- projects ---------------------------------------------------------------

def test_project_lifecycle(lintel, make_name):
    name = make_name("proj")
    created = lintel.openstack_json("project", "create", "--domain", "default",
                                    "--description", "d", name)

    assert created["name"] == name
    assert created["description"] == "d"
    assert created["domain_id"] == DEFAULT_DOMAIN_ID
    assert created["enabled"] is True
    assert created["id"]
    project_id = created["id"]

    listed = lintel.openstack_json("project", "list")
    assert _find(listed, ID=project_id, Name=name), f"{name} missing: {listed}"
    assert _find(listed, Name="admin"), listed

    for ref in (name, project_id):
        shown = lintel.openstack_json("project", "show", ref)
        assert shown["id"] == project_id
        assert shown["name"] == name
        assert shown["description"] == "d"
        assert shown["domain_id"] == DEFAULT_DOMAIN_ID
        assert shown["enabled"] is True

    lintel.openstack("project", "delete", name)

    _assert_not_found(lintel.openstack_raw("project", "show", name), "project", name)
    listed = lintel.openstack_json("project", "list")
    assert not _find(listed, ID=project_id), f"deleted project still listed: {listed}"


# -- groups -----------------------------------------------------------------

def test_group_membership(lintel, make_name):
    group, user = make_name("group"), make_name("user")
    _create_user(lintel, user, password=make_name("Pw"))

    created = lintel.openstack_json("group", "create", "--domain", "default",
                                    "--description", "d", group)
    assert created["name"] == group
    assert created["domain_id"] == DEFAULT_DOMAIN_ID
    assert created["description"] == "d"
    assert created["id"]

    before = lintel.openstack_raw("group", "contains", "user", group, user)
    assert before.returncode == 0, before.output
    assert f"{user} not in group {group}" in before.stderr, before.output
    assert f"{user} in group {group}" not in before.stdout, before.output

    lintel.openstack("group", "add", "user", group, user)

    after = lintel.openstack_raw("group", "contains", "user", group, user)
    assert after.returncode == 0, after.output
    assert after.stdout.strip() == f"{user} in group {group}", after.output
    assert "not in group" not in after.output, after.output

    members = lintel.openstack_json("user", "list", "--group", group)
    assert [m["Name"] for m in members] == [user], members


# -- roles ------------------------------------------------------------------

def test_role_add_and_assignment_list(lintel, make_name, member_role):
    user, project = make_name("user"), make_name("proj")
    created_user = _create_user(lintel, user, password=make_name("Pw"))
    created_project = _create_project(lintel, project)

    out = lintel.openstack("role", "add", "--user", user, "--project", project, member_role)
    assert out.strip() == ""

    rows = lintel.openstack_json("role", "assignment", "list", "--user", user,
                                 "--project", project, "--names")
    assert rows == [{
        "Role": "member",
        "User": f"{user}@Default",
        "Group": "",
        "Project": f"{project}@Default",
        "Domain": "",
        "System": "",
        "Inherited": False,
    }], rows

    # Without --names the same assignment is shown by IDs.
    rows = lintel.openstack_json("role", "assignment", "list", "--user", user,
                                 "--project", project)
    member = lintel.openstack_json("role", "show", member_role)
    assert len(rows) == 1, rows
    assert rows[0]["Role"] == member["id"]
    assert rows[0]["User"] == created_user["id"]
    assert rows[0]["Project"] == created_project["id"]


def test_role_assignment_list_includes_bootstrap_admin(lintel):
    rows = lintel.openstack_json("role", "assignment", "list", "--names")

    assert _find(rows, Role="admin", User="admin@Default", Project="admin@Default"), (
        f"admin's admin role on project admin is missing: {rows}")


# -- catalog ----------------------------------------------------------------

def _identity_services(lintel) -> list[dict]:
    catalog = lintel.openstack_json("catalog", "list")
    identity = _find(catalog, Type="identity")
    assert len(identity) == 1, f"expected one identity service in: {catalog}"
    return identity


def test_catalog_lists_identity_public_endpoint(lintel):
    (service,) = _identity_services(lintel)

    assert service["Name"] == "keystone", service
    public = [ep for ep in service["Endpoints"] if ep.get("interface") == "public"]
    assert len(public) == 1, service["Endpoints"]
    assert public[0]["url"] == lintel.public_url, public[0]


def test_catalog_identity_endpoint_is_in_region_one(lintel):
    (service,) = _identity_services(lintel)

    public = [ep for ep in service["Endpoints"] if ep.get("interface") == "public"]
    assert public and all(
        (ep.get("region_id") or ep.get("region")) == "RegionOne" for ep in public
    ), public
