"""Application credentials through the real clients, against a real Lintel.

The `openstack application credential ...` / `access rule ...` commands, the
keystoneauth1 `v3.ApplicationCredential` plugin, the CLI's
`v3applicationcredential` auth type and openstacksdk's `openstack.connect`
with that auth type. Every test makes its own uniquely named credentials (and
users / projects / roles), so tests do not depend on each other or on their
order; the server (one per backend) is shared.

Note: python-openstackclient prints the credential with its column headers as
keys (`ID`, `Name`, `Project ID`, `Roles`, `Secret`, ...) and never shows its
`user_id`; that field is checked on the API response (`_api_credential`).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import openstack
import pytest
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

# What `openstack application credential create -f json` prints (OSC 10.x).
CREATE_KEYS = {"ID", "Name", "Description", "Project ID", "Roles", "Unrestricted",
               "Access Rules", "Expires At", "Secret"}
SHOW_KEYS = CREATE_KEYS - {"Secret"}
# The API's application credential object (besides `links`, on create only
# `secret`, and `access_rules`, which Keystone leaves out of GET responses for
# a credential that has none).
API_KEYS = {"id", "name", "description", "user_id", "project_id", "system",
            "expires_at", "unrestricted", "roles"}

# Everything the admin CLI environment sets that would select password auth;
# dropped when the CLI authenticates with an application credential.
_PASSWORD_ENV = ("OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_PROJECT_ID",
                 "OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_NAME", "OS_USER_ID",
                 "OS_IDENTITY_API_VERSION", "OS_INTERFACE")

ACCESS_RULE = {"service": "identity", "method": "GET", "path": "/v3/users"}


# -- helpers ----------------------------------------------------------------

def _find(rows: list[dict], **match: object) -> list[dict]:
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def _role_names(cred: dict) -> list[str]:
    """Sorted role names of a credential as printed by the CLI (`Roles`) or
    returned by the API (`roles`)."""
    roles = cred["Roles"] if "Roles" in cred else cred["roles"]
    return sorted(r["name"] for r in roles)


def _create(lintel, name: str, *args: str, env: dict | None = None) -> dict:
    return lintel.openstack_json("application", "credential", "create", *args, name,
                                 env=env)


def _app_cred_env(*, cred_id: str | None = None, name: str | None = None,
                  secret: str, username: str | None = None,
                  user_domain: str | None = None) -> dict[str, str | None]:
    """CLI environment overrides: only OS_AUTH_URL and OS_CACERT survive from
    the admin environment; authentication is by application credential."""
    env: dict[str, str | None] = {k: None for k in _PASSWORD_ENV}
    env |= {"OS_AUTH_TYPE": "v3applicationcredential",
            "OS_APPLICATION_CREDENTIAL_SECRET": secret}
    if cred_id is not None:
        env["OS_APPLICATION_CREDENTIAL_ID"] = cred_id
    if name is not None:
        env["OS_APPLICATION_CREDENTIAL_NAME"] = name
    if username is not None:
        env["OS_USERNAME"] = username
    if user_domain is not None:
        env["OS_USER_DOMAIN_NAME"] = user_domain
    return env


def _session(lintel, auth) -> ks_session.Session:
    return ks_session.Session(auth=auth, verify=str(lintel.cacert))


def _admin_session(lintel) -> ks_session.Session:
    return _session(lintel, v3.Password(
        auth_url=lintel.auth_url, username="admin", password=lintel.admin_password,
        project_name="admin", user_domain_name="Default",
        project_domain_name="Default"))


def _app_cred_session(lintel, **kwargs) -> ks_session.Session:
    return _session(lintel, v3.ApplicationCredential(lintel.auth_url, **kwargs))


def _api_credential(lintel, user_id: str, cred_id: str) -> dict:
    """GET /v3/users/{user_id}/application_credentials/{id} as admin."""
    resp = _admin_session(lintel).get(
        f"{lintel.auth_url}/users/{user_id}/application_credentials/{cred_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()["application_credential"]


def _admin_ids(lintel) -> tuple[str, str]:
    token = lintel.openstack_json("token", "issue")
    return token["user_id"], token["project_id"]


def _member_user(lintel, make_name) -> tuple[dict, dict, dict[str, str]]:
    """A new user with role `member` on a new project; returns the user, the
    project and CLI overrides to act as that user on that project."""
    user, project, password = make_name("acuser"), make_name("acproj"), make_name("Pw")
    created_user = lintel.openstack_json("user", "create", "--domain", "default",
                                         "--password", password, user)
    created_project = lintel.openstack_json("project", "create", "--domain", "default",
                                            project)
    if not _find(lintel.openstack_json("role", "list"), Name="member"):
        lintel.openstack_json("role", "create", "member")
    lintel.openstack("role", "add", "--user", user, "--project", project, "member")
    env = {"OS_USERNAME": user, "OS_PASSWORD": password, "OS_PROJECT_NAME": project}
    return created_user, created_project, env


def _assert_fails(res, pattern: str, why: str) -> None:
    assert res.returncode != 0, (
        f"`openstack {' '.join(res.args)}` should fail ({why}) but exited 0:\n"
        f"{res.output}")
    assert re.search(pattern, res.output, re.I), (
        f"`openstack {' '.join(res.args)}` ({why}): the error should match "
        f"{pattern!r}:\n{res.output}")


# -- create -----------------------------------------------------------------

def test_app_cred_create_defaults(lintel, make_name):
    name = make_name("ac")
    admin_id, admin_project_id = _admin_ids(lintel)

    cred = _create(lintel, name)

    assert set(cred) == CREATE_KEYS, cred
    assert cred["ID"], cred
    assert cred["Name"] == name
    assert cred["Project ID"] == admin_project_id
    assert isinstance(cred["Secret"], str) and cred["Secret"], cred
    assert cred["Description"] is None
    assert cred["Expires At"] is None
    assert cred["Unrestricted"] is False
    assert cred["Access Rules"] == []
    # All of the creating token's roles (admin's, with the implied ones).
    admin = _admin_session(lintel)
    access = admin.auth.get_access(admin)
    names = _role_names(cred)
    assert {"admin", "member", "reader"} <= set(names), cred["Roles"]
    assert names == sorted(access.role_names), (names, access.role_names)
    for role in cred["Roles"]:
        assert role["id"] and role["name"], role

    api = _api_credential(lintel, admin_id, cred["ID"])
    assert API_KEYS <= set(api), api
    assert "secret" not in api, api
    assert api["id"] == cred["ID"]
    assert api["name"] == name
    assert api["user_id"] == admin_id
    assert api["project_id"] == admin_project_id
    assert api["unrestricted"] is False
    assert api["expires_at"] is None
    assert _role_names(api) == names


def test_app_cred_create_with_options(lintel, make_name):
    name, secret = make_name("ac"), make_name("S3cret")
    admin_id, admin_project_id = _admin_ids(lintel)

    cred = _create(lintel, name, "--secret", secret,
                   "--role", "reader", "--role", "member",
                   "--expiration", "2099-01-01T00:00:00",
                   "--unrestricted", "--description", "D",
                   "--access-rules", json.dumps([ACCESS_RULE]))

    assert set(cred) == CREATE_KEYS, cred
    assert cred["Name"] == name
    assert cred["Secret"] == secret
    assert cred["Project ID"] == admin_project_id
    assert _role_names(cred) == ["member", "reader"], cred["Roles"]
    assert cred["Expires At"].startswith("2099-01-01"), cred["Expires At"]
    assert cred["Unrestricted"] is True
    assert cred["Description"] == "D"
    (rule,) = cred["Access Rules"]
    assert rule["id"], rule
    assert {k: rule[k] for k in ACCESS_RULE} == ACCESS_RULE, rule

    api = _api_credential(lintel, admin_id, cred["ID"])
    assert api["user_id"] == admin_id
    assert api["description"] == "D"
    assert api["unrestricted"] is True
    assert api["expires_at"].startswith("2099-01-01T00:00:00"), api
    assert _role_names(api) == ["member", "reader"]
    assert [r["id"] for r in api["access_rules"]] == [rule["id"]]

    # The access rule is listed among the user's access rules.
    rules = lintel.openstack_json("access", "rule", "list")
    assert _find(rules, ID=rule["id"], Service="identity", Method="GET",
                 Path="/v3/users"), rules
    shown = lintel.openstack_json("access", "rule", "show", rule["id"])
    assert shown == {"ID": rule["id"], "Service": "identity", "Method": "GET",
                     "Path": "/v3/users"}, shown


@pytest.mark.parametrize("requested, expected", [
    (["member"], ["member", "reader"]),
    (["reader"], ["reader"]),
    (["admin"], ["admin", "manager", "member", "reader"]),
])
def test_app_cred_roles_are_expanded_with_implied_roles(lintel, make_name,
                                                        requested, expected):
    args = [a for role in requested for a in ("--role", role)]

    cred = _create(lintel, make_name("ac"), *args)

    assert _role_names(cred) == expected, cred["Roles"]
    shown = lintel.openstack_json("application", "credential", "show", cred["ID"])
    assert _role_names(shown) == expected, shown["Roles"]


def test_app_cred_role_given_by_id(lintel, make_name):
    member = lintel.openstack_json("role", "show", "member")

    cred = _create(lintel, make_name("ac"), "--role", member["id"])

    assert _role_names(cred) == ["member", "reader"], cred["Roles"]
    assert member["id"] in {r["id"] for r in cred["Roles"]}


def test_app_cred_list_show_delete(lintel, make_name):
    name = make_name("ac")
    cred = _create(lintel, name, "--description", "D", "--role", "member")
    cred_id = cred["ID"]

    listed = lintel.openstack_json("application", "credential", "list")
    (row,) = _find(listed, ID=cred_id)
    assert row["Name"] == name
    assert row["Project ID"] == cred["Project ID"]
    assert row["Description"] == "D"
    assert _role_names(row) == ["member", "reader"]
    assert "Secret" not in row and "secret" not in row, row

    for ref in (name, cred_id):
        shown = lintel.openstack_json("application", "credential", "show", ref)
        assert set(shown) == SHOW_KEYS, shown
        assert shown["ID"] == cred_id
        assert shown["Name"] == name
        assert shown["Project ID"] == cred["Project ID"]
        assert shown["Description"] == "D"
        assert shown["Unrestricted"] is False
        assert shown["Expires At"] is None
        assert _role_names(shown) == ["member", "reader"]

    out = lintel.openstack("application", "credential", "delete", name)
    assert out.strip() == ""

    for ref in (name, cred_id):
        res = lintel.openstack_raw("application", "credential", "show", ref)
        _assert_fails(res, r"no application ?credential|not found|could not find|404",
                      f"deleted credential {ref}")
    listed = lintel.openstack_json("application", "credential", "list")
    assert not _find(listed, ID=cred_id), f"deleted credential still listed: {listed}"


def test_app_cred_without_access_rules_has_none_listed(lintel, make_name):
    # Keystone returns `access_rules: []` only in the create response (OSC
    # sends an empty list); GET and list leave the key out for a credential
    # that has no rules, so `show` and `list` print null for it.
    admin_id, _ = _admin_ids(lintel)
    cred = _create(lintel, make_name("ac"))
    assert cred["Access Rules"] == []

    api = _api_credential(lintel, admin_id, cred["ID"])
    assert "access_rules" not in api, (
        f"GET of a credential without access rules should have no access_rules: {api}")
    shown = lintel.openstack_json("application", "credential", "show", cred["ID"])
    assert shown["Access Rules"] is None, shown
    (row,) = _find(lintel.openstack_json("application", "credential", "list"),
                   ID=cred["ID"])
    assert row["Access Rules"] is None, row


def test_app_cred_with_role_not_held_is_rejected(lintel, make_name):
    role = lintel.openstack_json("role", "create", make_name("acrole"))
    name = make_name("ac")

    res = lintel.openstack_raw("application", "credential", "create",
                               "--role", role["name"], name)

    _assert_fails(res, r"\b400\b", "admin does not hold the role")
    listed = lintel.openstack_json("application", "credential", "list")
    assert not _find(listed, Name=name), listed


def test_app_cred_with_unknown_role_is_rejected(lintel, make_name):
    name = make_name("ac")

    res = lintel.openstack_raw("application", "credential", "create",
                               "--role", make_name("nosuchrole"), name)

    _assert_fails(res, r"\b404\b", "the role does not exist")
    listed = lintel.openstack_json("application", "credential", "list")
    assert not _find(listed, Name=name), listed


def test_app_cred_of_member_user(lintel, make_name):
    user, project, env = _member_user(lintel, make_name)

    cred = _create(lintel, make_name("ac"), env=env)
    assert cred["Project ID"] == project["id"]
    assert _role_names(cred) == ["member", "reader"], cred["Roles"]
    assert _api_credential(lintel, user["id"], cred["ID"])["user_id"] == user["id"]

    # An implied role the user holds through `member` is allowed on its own.
    reader_only = _create(lintel, make_name("ac"), "--role", "reader", env=env)
    assert _role_names(reader_only) == ["reader"], reader_only["Roles"]

    # A role the user does not hold on the project is refused.
    res = lintel.openstack_raw("application", "credential", "create", "--role", "admin",
                               make_name("ac"), env=env)
    _assert_fails(res, r"\b400\b", "the user does not hold admin")

    # The user sees only its own credentials; admin's list does not show them.
    mine = lintel.openstack_json("application", "credential", "list", env=env)
    assert sorted(r["ID"] for r in mine) == sorted([cred["ID"], reader_only["ID"]]), mine
    admins = lintel.openstack_json("application", "credential", "list")
    assert not _find(admins, ID=cred["ID"]), admins

    # The credential authenticates as the user, on the project, with its roles.
    sess = _app_cred_session(lintel, application_credential_id=cred["ID"],
                             application_credential_secret=cred["Secret"])
    assert sess.get_token()
    assert sess.get_user_id() == user["id"]
    assert sess.get_project_id() == project["id"]
    assert sorted(sess.auth.get_access(sess).role_names) == ["member", "reader"]

    sess = _app_cred_session(lintel, application_credential_id=reader_only["ID"],
                             application_credential_secret=reader_only["Secret"])
    assert sess.get_project_id() == project["id"]
    assert sess.auth.get_access(sess).role_names == ["reader"]


# -- keystoneauth1 ----------------------------------------------------------

def test_keystoneauth_app_cred_by_id(lintel, make_name):
    name = make_name("ac")
    admin_id, _ = _admin_ids(lintel)
    cred = _create(lintel, name, "--role", "member")

    sess = _app_cred_session(lintel, application_credential_id=cred["ID"],
                             application_credential_secret=cred["Secret"])

    token = sess.get_token()
    assert isinstance(token, str) and token
    assert sess.get_project_id() == cred["Project ID"]
    assert sess.get_user_id() == admin_id
    access = sess.auth.get_access(sess)
    assert access.auth_token == token
    assert access._data["token"]["methods"] == ["application_credential"]
    assert sorted(access.role_names) == ["member", "reader"]
    assert access.project_name == "admin"
    assert access.username == "admin"
    assert access.expires > datetime.now(timezone.utc)
    body = access._data["token"].get("application_credential")
    assert body == {"id": cred["ID"], "name": name, "restricted": True}, body

    # The token works for an API call routed through the catalog.
    resp = sess.get("/auth/projects", endpoint_filter={"service_type": "identity",
                                                       "interface": "public"})
    assert resp.status_code == 200, resp.text
    assert cred["Project ID"] in {p["id"] for p in resp.json()["projects"]}


@pytest.mark.parametrize("user_ref", ["user_id", "username"])
def test_keystoneauth_app_cred_by_name(lintel, make_name, user_ref):
    name = make_name("ac")
    admin_id, _ = _admin_ids(lintel)
    cred = _create(lintel, name)
    if user_ref == "user_id":
        user = {"user_id": admin_id}
    else:
        user = {"username": "admin", "user_domain_name": "Default"}

    sess = _app_cred_session(lintel, application_credential_name=name,
                             application_credential_secret=cred["Secret"], **user)

    assert sess.get_token()
    assert sess.get_project_id() == cred["Project ID"]
    assert sess.get_user_id() == admin_id
    access = sess.auth.get_access(sess)
    assert access._data["token"]["methods"] == ["application_credential"]


@pytest.mark.parametrize("how", ["id", "name"])
def test_keystoneauth_app_cred_wrong_secret_is_unauthorized(lintel, make_name, how):
    name = make_name("ac")
    cred = _create(lintel, name, "--secret", make_name("right"))
    if how == "id":
        ref = {"application_credential_id": cred["ID"]}
    else:
        ref = {"application_credential_name": name, "username": "admin",
               "user_domain_name": "Default"}

    sess = _app_cred_session(lintel, application_credential_secret=make_name("wrong"),
                             **ref)

    with pytest.raises(ks_exc.Unauthorized):
        sess.get_token()


# What Keystone answers for a credential or user it cannot find: an unknown
# credential ID is 404, an unknown credential name (of a known user) 401, an
# unknown user (by name) 404.
@pytest.mark.parametrize("how, error", [
    ("unknown id", ks_exc.NotFound),
    ("unknown name", ks_exc.Unauthorized),
    ("unknown user", ks_exc.NotFound),
])
def test_keystoneauth_unknown_app_cred_is_refused(lintel, make_name, how, error):
    admin_id, _ = _admin_ids(lintel)
    name = make_name("ac")
    cred = _create(lintel, name)
    ref = {
        "unknown id": {"application_credential_id": "0" * 32},
        "unknown name": {"application_credential_name": make_name("nosuchac"),
                         "user_id": admin_id},
        "unknown user": {"application_credential_name": name,
                         "username": make_name("nosuchuser"),
                         "user_domain_name": "Default"},
    }[how]

    sess = _app_cred_session(lintel, application_credential_secret=cred["Secret"],
                             **ref)

    with pytest.raises(error):
        sess.get_token()


def test_deleted_app_cred_is_refused_and_its_tokens_revoked(lintel, make_name):
    cred = _create(lintel, make_name("ac"))
    sess = _app_cred_session(lintel, application_credential_id=cred["ID"],
                             application_credential_secret=cred["Secret"])
    token = sess.get_token()
    admin = _admin_session(lintel)
    check = f"{lintel.auth_url}/auth/tokens"
    resp = admin.get(check, headers={"X-Subject-Token": token}, raise_exc=False)
    assert resp.status_code == 200, resp.text

    lintel.openstack("application", "credential", "delete", cred["ID"])

    resp = admin.get(check, headers={"X-Subject-Token": token}, raise_exc=False)
    assert resp.status_code == 404, (
        f"a token of a deleted application credential still validates: "
        f"{resp.status_code} {resp.text}")
    # Like any unknown credential ID (Keystone answers 404).
    fresh = _app_cred_session(lintel, application_credential_id=cred["ID"],
                              application_credential_secret=cred["Secret"])
    with pytest.raises(ks_exc.NotFound):
        fresh.get_token()


def test_app_cred_token_expires_no_later_than_the_credential(lintel, make_name):
    expires = (datetime.now(timezone.utc) + timedelta(minutes=10)).replace(microsecond=0)
    cred = _create(lintel, make_name("ac"),
                   "--expiration", expires.strftime("%Y-%m-%dT%H:%M:%S"))
    assert cred["Expires At"].startswith(expires.strftime("%Y-%m-%dT%H:%M:%S")), cred

    sess = _app_cred_session(lintel, application_credential_id=cred["ID"],
                             application_credential_secret=cred["Secret"])
    access = sess.auth.get_access(sess)

    assert datetime.now(timezone.utc) < access.expires <= expires, (
        access.expires, expires)


# -- the openstack CLI authenticating with an application credential -------

def test_cli_token_issue_with_app_cred_id(lintel, make_name):
    admin_id, _ = _admin_ids(lintel)
    cred = _create(lintel, make_name("ac"), "--role", "reader")

    token = lintel.openstack_json("token", "issue", env=_app_cred_env(
        cred_id=cred["ID"], secret=cred["Secret"]), process=True)

    assert token.get("id"), token
    assert token["project_id"] == cred["Project ID"]
    assert token["user_id"] == admin_id
    admin_token = lintel.openstack_json("token", "issue")
    assert token["id"] != admin_token["id"]


def test_cli_token_issue_with_app_cred_name(lintel, make_name):
    name = make_name("ac")
    admin_id, _ = _admin_ids(lintel)
    cred = _create(lintel, name)

    token = lintel.openstack_json("token", "issue", env=_app_cred_env(
        name=name, secret=cred["Secret"], username="admin", user_domain="Default"))

    assert token["project_id"] == cred["Project ID"]
    assert token["user_id"] == admin_id


def test_cli_app_cred_wrong_secret_is_rejected(lintel, make_name):
    cred = _create(lintel, make_name("ac"))

    res = lintel.openstack_raw("token", "issue", "-f", "json", env=_app_cred_env(
        cred_id=cred["ID"], secret="wrong-" + make_name("secret")))

    _assert_fails(res, r"401|authenticat", "wrong application credential secret")
    assert '"id"' not in res.stdout, f"a token was printed:\n{res.stdout}"


def test_restricted_app_cred_cannot_manage_app_creds(lintel, make_name):
    cred = _create(lintel, make_name("ac"))
    assert cred["Unrestricted"] is False
    env = _app_cred_env(cred_id=cred["ID"], secret=cred["Secret"])
    name = make_name("ac")

    # It can read the user's credentials ...
    shown = lintel.openstack_json("application", "credential", "show", cred["ID"],
                                  env=env)
    assert shown["ID"] == cred["ID"]

    # ... but not create one ...
    res = lintel.openstack_raw("application", "credential", "create", name, env=env)
    _assert_fails(res, r"\b403\b", "a restricted credential cannot create credentials")
    listed = lintel.openstack_json("application", "credential", "list")
    assert not _find(listed, Name=name), listed

    # ... nor delete one (not even itself).
    res = lintel.openstack_raw("application", "credential", "delete", cred["ID"],
                               env=env)
    _assert_fails(res, r"\b403\b", "a restricted credential cannot delete credentials")
    shown = lintel.openstack_json("application", "credential", "show", cred["ID"])
    assert shown["ID"] == cred["ID"]


def test_unrestricted_app_cred_can_create_app_creds(lintel, make_name):
    admin_id, _ = _admin_ids(lintel)
    cred = _create(lintel, make_name("ac"), "--unrestricted", "--role", "member")
    env = _app_cred_env(cred_id=cred["ID"], secret=cred["Secret"])
    name = make_name("ac")

    child = _create(lintel, name, env=env)

    assert child["Name"] == name
    assert child["Project ID"] == cred["Project ID"]
    assert child["Unrestricted"] is False
    # A credential can only delegate the roles of the token that creates it.
    assert _role_names(child) == ["member", "reader"], child["Roles"]
    assert _api_credential(lintel, admin_id, child["ID"])["user_id"] == admin_id

    out = lintel.openstack("application", "credential", "delete", child["ID"], env=env)
    assert out.strip() == ""
    listed = lintel.openstack_json("application", "credential", "list")
    assert not _find(listed, ID=child["ID"]), listed


# -- openstacksdk -------------------------------------------------------------

def test_openstacksdk_app_cred(lintel, make_name):
    admin_id, _ = _admin_ids(lintel)
    cred = _create(lintel, make_name("ac"))

    conn = openstack.connect(
        auth_url=lintel.auth_url,
        auth_type="v3applicationcredential",
        application_credential_id=cred["ID"],
        application_credential_secret=cred["Secret"],
        cacert=str(lintel.cacert),
        load_yaml_config=False,
        load_envvars=False,
    )
    try:
        token = conn.session.get_token()
        assert isinstance(token, str) and token
        assert conn.current_project_id == cred["Project ID"]
        assert conn.current_user_id == admin_id
        users = {u.name for u in conn.identity.users()}
        assert "admin" in users, users
        mine = conn.identity.get_application_credential(admin_id, cred["ID"])
        assert mine.id == cred["ID"]
        assert mine.project_id == cred["Project ID"]
    finally:
        conn.close()
