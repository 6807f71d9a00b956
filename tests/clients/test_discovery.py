"""keystoneauth1 and openstacksdk, used as libraries, against a real Lintel."""

from __future__ import annotations

from datetime import datetime, timezone

import openstack
import pytest
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import generic, v3


def _admin_kwargs(lintel) -> dict:
    return {
        "auth_url": lintel.auth_url,
        "username": "admin",
        "password": lintel.admin_password,
        "project_name": "admin",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }


def _session(lintel, auth) -> ks_session.Session:
    return ks_session.Session(auth=auth, verify=str(lintel.cacert))


def test_keystoneauth_v3_password_session(lintel):
    sess = _session(lintel, v3.Password(**_admin_kwargs(lintel)))

    token = sess.get_token()
    assert isinstance(token, str) and token

    endpoint = sess.get_endpoint(service_type="identity", interface="public")
    assert endpoint is not None
    assert endpoint.rstrip("/") == lintel.public_url.rstrip("/"), endpoint

    access = sess.auth.get_access(sess)
    assert access.auth_token == token
    assert access.username == "admin"
    assert access.project_name == "admin"
    assert access.user_domain_name == "Default"
    assert access.project_domain_name == "Default"
    assert "admin" in access.role_names
    assert access.expires > datetime.now(timezone.utc)
    assert sess.get_user_id() == access.user_id
    assert sess.get_project_id() == access.project_id

    # The token works for an API call routed through the catalog.
    resp = sess.get("/users", endpoint_filter={"service_type": "identity",
                                               "interface": "public"})
    assert resp.status_code == 200
    names = {u["name"] for u in resp.json()["users"]}
    assert "admin" in names


def test_keystoneauth_generic_password_discovers_v3(lintel):
    # The generic plugin (what the openstack CLI uses) runs version discovery
    # on the auth URL before authenticating.
    sess = _session(lintel, generic.Password(**_admin_kwargs(lintel)))

    assert sess.get_token()
    assert sess.get_endpoint(service_type="identity",
                             interface="public").rstrip("/") == lintel.public_url.rstrip("/")


def test_keystoneauth_wrong_password_is_unauthorized(lintel):
    kwargs = _admin_kwargs(lintel) | {"password": "definitely-not-the-password"}
    sess = _session(lintel, v3.Password(**kwargs))

    with pytest.raises(ks_exc.Unauthorized):
        sess.get_token()


@pytest.fixture
def sdk(lintel):
    conn = openstack.connect(
        **_admin_kwargs(lintel),
        cacert=str(lintel.cacert),
        interface="public",
        identity_api_version="3",
        load_yaml_config=False,
        load_envvars=False,
    )
    try:
        yield conn
    finally:
        conn.close()


def test_openstacksdk_lists_users_and_projects(sdk):
    users = list(sdk.identity.users())
    assert "admin" in {u.name for u in users}, users

    projects = list(sdk.identity.projects())
    assert "admin" in {p.name for p in projects}, projects
    admin = next(p for p in projects if p.name == "admin")
    assert admin.domain_id == "default"
    assert sdk.current_project_id == admin.id


@pytest.mark.parametrize("size", [120 * 1024, 1024 * 1024, 2 * 1024 * 1024])
def test_an_oversized_body_gets_413_not_a_broken_connection(lintel, size):
    """python-requests uploading a JSON body over the limit reads Keystone's 413, not a reset TLS connection (the
    server reads and drops the rest of the body before it answers and closes)."""
    sess = _session(lintel, v3.Password(**_admin_kwargs(lintel)))
    body = b'{"user": {"name": "' + b"x" * size + b'"}}'
    resp = sess.post(f"{lintel.auth_url}/users", data=body, headers={"Content-Type": "application/json"},
                     raise_exc=False)
    assert resp.status_code == 413, resp.text[:300]
    assert resp.json()["error"]["code"] == 413
    assert resp.json()["error"]["title"] == "Request Entity Too Large"
