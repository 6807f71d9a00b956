"""The OAuth 2.0 client credentials grant (`POST /v3/OS-OAUTH2/token`) through
real clients, against a real Lintel.

curl (the exact command line of the mission), requests-oauthlib, authlib
(client_secret_basic and client_secret_post), keystoneauth1's
`v3oauth2clientcredential` plugin through the `openstack` CLI, and
keystonemiddleware's `oauth2_token` filter in front of a tiny WSGI app.

The client id / secret are an application credential's id and secret. Most
tests make a fresh user with two fresh (uuid-named) roles on a fresh project
and let that user create the credential over the REST API, so the roles a
token must carry are known exactly (no implied roles); a few use a credential
of admin made with `openstack application credential create` as the mission
does. Every name is uuid-suffixed, so tests do not depend on each other or on
their order; the server (one per backend) is shared.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import datetime

import pytest
import requests
import webob
import webob.dec
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session as OAuthlibSession

TOKEN_PATH = "/v3/OS-OAUTH2/token"

# Everything the admin CLI environment sets that would select password auth
# (or scope the OAuth2 plugin's token request); dropped when the CLI
# authenticates with the OAuth2 client credential on the command line.
_PASSWORD_ENV = ("OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_PROJECT_ID",
                 "OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_NAME", "OS_USER_ID",
                 "OS_IDENTITY_API_VERSION", "OS_INTERFACE", "OS_AUTH_TYPE")

# A secret with characters an RFC 6749 §2.3.1 encoder form-encodes in Basic.
AWKWARD_SECRET = "a+b c%/x"


# -- helpers ----------------------------------------------------------------

@dataclass
class Client:
    """An application credential used as an OAuth2 client."""
    id: str
    secret: str
    name: str
    user_id: str
    project_id: str
    project_name: str
    roles: frozenset[str]


def _token_url(lintel) -> str:
    return f"{lintel.base_url}{TOKEN_PATH}"


def _http(lintel) -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # no proxy, no ~/.netrc credentials
    s.verify = str(lintel.cacert)
    return s


def _password_token(lintel, *, name: str, password: str,
                    project_id: str | None = None,
                    project_name: str | None = None) -> str:
    scope: dict = {"project": {"id": project_id}} if project_id else {
        "project": {"name": project_name, "domain": {"id": "default"}}}
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": name, "domain": {"id": "default"}, "password": password}}},
        "scope": scope}}
    with _http(lintel) as http:
        resp = http.post(f"{lintel.auth_url}/auth/tokens", json=body)
    assert resp.status_code == 201, f"password auth of {name}: {resp.status_code} {resp.text}"
    return resp.headers["X-Subject-Token"]


def _admin_token(lintel) -> str:
    return _password_token(lintel, name="admin", password=lintel.admin_password,
                           project_name="admin")


def _api(lintel, token: str, method: str, path: str, expect: int, **kwargs) -> dict:
    with _http(lintel) as http:
        resp = http.request(method, f"{lintel.auth_url}{path}",
                            headers={"X-Auth-Token": token}, **kwargs)
    assert resp.status_code == expect, (
        f"{method} /v3{path}: expected {expect}, got {resp.status_code}: {resp.text}")
    return resp.json() if resp.content else {}


def _new_client(lintel, make_name, *, secret: str | None = None,
                role_count: int = 2) -> Client:
    """A new user holding `role_count` new roles on a new project, and an
    application credential that user made (over the REST API) with them all."""
    admin = _admin_token(lintel)
    project = _api(lintel, admin, "POST", "/projects", 201, json={"project": {
        "name": make_name("o2proj"), "domain_id": "default"}})["project"]
    password = make_name("Pw")
    user = _api(lintel, admin, "POST", "/users", 201, json={"user": {
        "name": make_name("o2user"), "domain_id": "default",
        "password": password}})["user"]
    roles = set()
    for _ in range(role_count):
        role = _api(lintel, admin, "POST", "/roles", 201,
                    json={"role": {"name": make_name("o2role")}})["role"]
        _api(lintel, admin, "PUT",
             f"/projects/{project['id']}/users/{user['id']}/roles/{role['id']}", 204)
        roles.add(role["name"])

    user_token = _password_token(lintel, name=user["name"], password=password,
                                 project_id=project["id"])
    name = make_name("o2cred")
    body: dict = {"name": name}
    if secret is not None:
        body["secret"] = secret
    cred = _api(lintel, user_token, "POST", f"/users/{user['id']}/application_credentials",
                201, json={"application_credential": body})["application_credential"]
    assert {r["name"] for r in cred["roles"]} == roles, cred
    assert cred["project_id"] == project["id"], cred
    return Client(id=cred["id"], secret=cred["secret"], name=name, user_id=user["id"],
                  project_id=project["id"], project_name=project["name"],
                  roles=frozenset(roles))


def _cli_credential(lintel, name: str, *args: str) -> dict:
    """`openstack application credential create NAME ... -f json` as admin."""
    cred = lintel.openstack_json("application", "credential", "create", *args, name)
    assert cred.get("ID") and cred.get("Secret"), cred
    return cred


def _cli_role_names(cred: dict) -> set[str]:
    return {r["name"] for r in cred["Roles"]}


def _validate(lintel, access_token: str) -> dict:
    """GET /v3/auth/tokens as admin with X-Subject-Token = the access token."""
    with _http(lintel) as http:
        resp = http.get(f"{lintel.auth_url}/auth/tokens", headers={
            "X-Auth-Token": _admin_token(lintel), "X-Subject-Token": access_token})
    assert resp.status_code == 200, (
        f"validating the OAuth2 access token: {resp.status_code} {resp.text}")
    assert resp.headers.get("X-Subject-Token") == access_token
    return resp.json()["token"]


def _assert_token_of(token: dict, *, cred_id: str, project_id: str,
                     roles: set[str] | frozenset[str], user_id: str | None = None) -> None:
    assert token["methods"] == ["application_credential"], token["methods"]
    assert token["project"]["id"] == project_id, token["project"]
    assert {r["name"] for r in token["roles"]} == set(roles), (
        f"token roles {token['roles']} != credential roles {sorted(roles)}")
    assert token["application_credential"]["id"] == cred_id, token.get("application_credential")
    if user_id is not None:
        assert token["user"]["id"] == user_id, token["user"]


def _assert_token_response(body: dict) -> str:
    """The RFC 6749 §5.1 success body; returns the access token."""
    assert isinstance(body.get("access_token"), str) and body["access_token"], body
    assert body.get("token_type") == "Bearer", body
    assert isinstance(body.get("expires_in"), int), body
    assert 0 < body["expires_in"] <= 7 * 24 * 3600, body
    return body["access_token"]


def _curl() -> str:
    exe = shutil.which("curl")
    if exe is None:
        pytest.fail("curl is not installed (or not on PATH); the mission's OAuth2 "
                    "example is a curl command line, so this test needs it", pytrace=False)
    return exe


def _run_curl(lintel, user: str, *extra: str) -> subprocess.CompletedProcess:
    # The mission's command line, verbatim, plus `extra` (only ever options that
    # do not change the request, such as where to dump the response headers).
    cmd = [_curl(), "-sS", "--cacert", str(lintel.cacert), "-u", user,
           "-d", "grant_type=client_credentials", _token_url(lintel), *extra]
    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, (
        f"curl exited {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}")
    return res


def _parse_dumped_headers(text: str) -> tuple[int, list[tuple[str, str]]]:
    lines = [ln.rstrip("\r") for ln in text.splitlines()]
    status = int(lines[0].split()[1])
    headers = []
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            headers.append((k.strip().lower(), v.strip()))
    return status, headers


def _assert_invalid_client(lintel, status: int, body: dict,
                           www_authenticate: list[str], what: str) -> None:
    assert status == 401, f"{what}: expected 401, got {status}: {body}"
    assert body.get("error") == "invalid_client", f"{what}: {body}"
    assert isinstance(body.get("error_description"), str), f"{what}: {body}"
    assert "access_token" not in body, f"{what}: {body}"
    assert 'Basic realm="lintel"' in www_authenticate, (
        f"{what}: WWW-Authenticate headers {www_authenticate}")
    assert f'Keystone uri="{lintel.auth_url}"' in www_authenticate, (
        f"{what}: WWW-Authenticate headers {www_authenticate}")


# -- 1. curl ------------------------------------------------------------------

def test_curl_client_credentials(lintel, make_name):
    cred = _cli_credential(lintel, make_name("o2curl"))

    res = _run_curl(lintel, f"{cred['ID']}:{cred['Secret']}")

    try:
        body = json.loads(res.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"curl printed no JSON:\n{res.stdout}\n{res.stderr}")
    access_token = _assert_token_response(body)
    assert "scope" not in body, body

    token = _validate(lintel, access_token)
    _assert_token_of(token, cred_id=cred["ID"], project_id=cred["Project ID"],
                     roles=_cli_role_names(cred))
    assert token["project"]["name"] == "admin", token["project"]
    assert token["user"]["name"] == "admin", token["user"]
    assert token["application_credential"]["name"] == cred["Name"]
    # expires_in is the token's lifetime (give or take the request's duration).
    lifetime = (datetime.fromisoformat(token["expires_at"].replace("Z", "+00:00"))
                - datetime.fromisoformat(token["issued_at"].replace("Z", "+00:00")))
    assert abs(lifetime.total_seconds() - body["expires_in"]) <= 5, (
        body["expires_in"], token["issued_at"], token["expires_at"])


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("case", [
    "no-client-auth", "post-wrong-secret", "basic-not-base64", "basic-no-colon",
    "basic-empty-secret", "bearer-scheme",
])
def test_every_client_authentication_failure_is_invalid_client(lintel, make_name, case):
    client = _new_client(lintel, make_name, role_count=1)
    form = {"grant_type": "client_credentials"}
    headers: dict[str, str] = {}
    if case == "post-wrong-secret":
        form |= {"client_id": client.id, "client_secret": "wrong-" + client.secret}
    elif case == "basic-not-base64":
        headers["Authorization"] = "Basic !!!not-base64!!!"
    elif case == "basic-no-colon":
        headers["Authorization"] = "Basic " + _b64(client.id + client.secret)
    elif case == "basic-empty-secret":
        headers["Authorization"] = "Basic " + _b64(client.id + ":")
    elif case == "bearer-scheme":
        headers["Authorization"] = "Bearer " + client.secret

    with _http(lintel) as http:
        resp = http.post(_token_url(lintel), data=form, headers=headers)

    try:
        body = resp.json()
    except ValueError:
        pytest.fail(f"{case}: not JSON: {resp.status_code} {resp.text!r}")
    _assert_invalid_client(lintel, resp.status_code, body,
                           resp.raw.headers.getlist("WWW-Authenticate"), case)


def test_two_client_authentication_methods_are_invalid_request(lintel, make_name):
    # RFC 6749 §2.3 / §5.2: a client MUST NOT use more than one authentication
    # method; doing so is `invalid_request` (400), even with a good secret.
    client = _new_client(lintel, make_name, role_count=1)
    with _http(lintel) as http:
        resp = http.post(_token_url(lintel), auth=(client.id, client.secret), data={
            "grant_type": "client_credentials",
            "client_id": client.id, "client_secret": client.secret})
    assert resp.status_code == 400, f"{resp.status_code} {resp.text}"
    assert resp.json().get("error") == "invalid_request", resp.text
    assert "access_token" not in resp.json()


def test_curl_success_headers(lintel, make_name, tmp_path):
    cred = _cli_credential(lintel, make_name("o2curl"))
    dump = tmp_path / "headers.txt"

    res = _run_curl(lintel, f"{cred['ID']}:{cred['Secret']}", "-D", str(dump))

    status, headers = _parse_dumped_headers(dump.read_text())
    assert status == 200, (status, res.stdout)
    values = dict(headers)
    assert values.get("cache-control") == "no-store", headers
    assert values.get("content-type", "").startswith("application/json"), headers
    _assert_token_response(json.loads(res.stdout))


def test_curl_wrong_secret_is_invalid_client(lintel, make_name, tmp_path):
    cred = _cli_credential(lintel, make_name("o2curl"))
    dump = tmp_path / "headers.txt"

    res = _run_curl(lintel, f"{cred['ID']}:wrong", "-D", str(dump))

    status, headers = _parse_dumped_headers(dump.read_text())
    body = json.loads(res.stdout)
    _assert_invalid_client(lintel, status, body,
                           [v for k, v in headers if k == "www-authenticate"],
                           f"curl -u {cred['ID']}:wrong")


def test_curl_unknown_client_is_invalid_client(lintel, tmp_path):
    # Keystone answers 404 `other_error` here; Lintel deliberately answers like
    # for a wrong secret (see the reference transcript's preface).
    dump = tmp_path / "headers.txt"

    res = _run_curl(lintel, f"{uuid.uuid4().hex}:{uuid.uuid4().hex}", "-D", str(dump))

    status, headers = _parse_dumped_headers(dump.read_text())
    _assert_invalid_client(lintel, status, json.loads(res.stdout),
                           [v for k, v in headers if k == "www-authenticate"],
                           "curl with an unknown client id")


# -- 2. requests-oauthlib ---------------------------------------------------

@pytest.mark.parametrize("how", ["default", "include_client_id", "auth_and_client_id"])
def test_requests_oauthlib_backend_application_client(lintel, make_name, how):
    client = _new_client(lintel, make_name)
    session = OAuthlibSession(client=BackendApplicationClient(client_id=client.id))
    session.trust_env = False
    kwargs: dict = {"client_id": client.id, "verify": str(lintel.cacert)}
    if how == "default":
        # client_id + client_secret: requests-oauthlib sends them as Basic.
        kwargs["client_secret"] = client.secret
    elif how == "include_client_id":
        # ... or in the form body (client_secret_post).
        kwargs |= {"client_secret": client.secret, "include_client_id": True}
    else:
        # Basic from `auth`, and the (public) client_id repeated in the body,
        # which RFC 6749 §3.2.1 allows.
        kwargs |= {"auth": (client.id, client.secret), "include_client_id": True}

    token = session.fetch_token(_token_url(lintel), **kwargs)

    access_token = _assert_token_response(dict(token))
    assert session.access_token == access_token
    _assert_token_of(_validate(lintel, access_token), cred_id=client.id,
                     project_id=client.project_id, roles=client.roles,
                     user_id=client.user_id)

    # The session sends `Authorization: Bearer <access token>` on API calls.
    resp = session.get(f"{lintel.auth_url}/auth/projects", verify=str(lintel.cacert))
    assert resp.status_code == 200, resp.text
    assert resp.request.headers["Authorization"] == f"Bearer {access_token}"
    assert "X-Auth-Token" not in resp.request.headers
    projects = resp.json()["projects"]
    assert [p["id"] for p in projects] == [client.project_id], projects

    resp = session.get(f"{lintel.auth_url}/users/{client.user_id}/application_credentials",
                       verify=str(lintel.cacert))
    assert resp.status_code == 200, resp.text
    assert client.id in {c["id"] for c in resp.json()["application_credentials"]}

    # Self-validation with the Bearer token as the caller's credential.
    resp = session.get(f"{lintel.auth_url}/auth/tokens", verify=str(lintel.cacert),
                       headers={"X-Subject-Token": access_token})
    assert resp.status_code == 200, resp.text
    assert resp.json()["token"]["application_credential"]["id"] == client.id


def test_requests_oauthlib_wrong_secret(lintel, make_name):
    client = _new_client(lintel, make_name, role_count=1)
    session = OAuthlibSession(client=BackendApplicationClient(client_id=client.id))
    session.trust_env = False

    with pytest.raises(Exception) as excinfo:
        session.fetch_token(_token_url(lintel), client_id=client.id,
                            client_secret="wrong-" + client.secret,
                            verify=str(lintel.cacert))
    # oauthlib maps the RFC 6749 error code to its exception class.
    assert getattr(excinfo.value, "error", None) == "invalid_client", repr(excinfo.value)
    assert getattr(excinfo.value, "status_code", None) == 401, repr(excinfo.value)


# -- 3. authlib -----------------------------------------------------------------

@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_client_credentials(lintel, make_name, method):
    client = _new_client(lintel, make_name)
    session = AuthlibSession(client.id, client.secret, token_endpoint_auth_method=method)
    session.trust_env = False

    token = session.fetch_token(_token_url(lintel), grant_type="client_credentials",
                                verify=str(lintel.cacert))

    access_token = _assert_token_response(dict(token))
    _assert_token_of(_validate(lintel, access_token), cred_id=client.id,
                     project_id=client.project_id, roles=client.roles,
                     user_id=client.user_id)
    resp = session.get(f"{lintel.auth_url}/auth/projects", verify=str(lintel.cacert))
    assert resp.status_code == 200, resp.text
    assert resp.request.headers["Authorization"] == f"Bearer {access_token}"
    assert [p["id"] for p in resp.json()["projects"]] == [client.project_id]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_secret_with_special_characters(lintel, make_name, method):
    # Made with the CLI as the mission does: --secret 'a+b c%/x'.
    cred = _cli_credential(lintel, make_name("o2odd"), "--secret", AWKWARD_SECRET)
    assert cred["Secret"] == AWKWARD_SECRET, cred
    session = AuthlibSession(cred["ID"], AWKWARD_SECRET, token_endpoint_auth_method=method)
    session.trust_env = False

    token = session.fetch_token(_token_url(lintel), grant_type="client_credentials",
                                verify=str(lintel.cacert))

    access_token = _assert_token_response(dict(token))
    _assert_token_of(_validate(lintel, access_token), cred_id=cred["ID"],
                     project_id=cred["Project ID"], roles=_cli_role_names(cred))


def test_basic_form_encoded_and_raw_special_secret(lintel, make_name):
    """RFC 6749 §2.3.1 says a client form-encodes id and secret before Basic;
    most clients (authlib 1.9.9, requests, curl) send them raw. Both work."""
    cred = _cli_credential(lintel, make_name("o2odd"), "--secret", AWKWARD_SECRET)
    url = _token_url(lintel)
    readings = {
        "raw": f"{cred['ID']}:{AWKWARD_SECRET}",
        "form-encoded": (f"{urllib.parse.quote_plus(cred['ID'])}:"
                         f"{urllib.parse.quote_plus(AWKWARD_SECRET)}"),
    }
    with _http(lintel) as http:
        for label, userpass in readings.items():
            basic = base64.b64encode(userpass.encode()).decode()
            resp = http.post(url, data={"grant_type": "client_credentials"},
                             headers={"Authorization": f"Basic {basic}"})
            assert resp.status_code == 200, f"{label} Basic: {resp.status_code} {resp.text}"
            _assert_token_response(resp.json())

        # A form-encoding of a *different* secret must not be accepted.
        wrong = f"{cred['ID']}:{urllib.parse.quote_plus('a+b c%/y')}"
        resp = http.post(url, data={"grant_type": "client_credentials"}, headers={
            "Authorization": "Basic " + base64.b64encode(wrong.encode()).decode()})
        _assert_invalid_client(lintel, resp.status_code, resp.json(),
                               resp.raw.headers.getlist("WWW-Authenticate"),
                               "form-encoded wrong secret")


def test_authlib_scope_narrows_the_token(lintel, make_name):
    client = _new_client(lintel, make_name)
    wanted = sorted(client.roles)[0]
    session = AuthlibSession(client.id, client.secret, scope=wanted)
    session.trust_env = False

    token = session.fetch_token(_token_url(lintel), grant_type="client_credentials",
                                verify=str(lintel.cacert))

    access_token = _assert_token_response(dict(token))
    assert token.get("scope") == wanted, dict(token)
    _assert_token_of(_validate(lintel, access_token), cred_id=client.id,
                     project_id=client.project_id, roles={wanted}, user_id=client.user_id)

    # A role the credential does not carry is an RFC 6749 invalid_scope.
    with _http(lintel) as http:
        resp = http.post(_token_url(lintel), auth=(client.id, client.secret), data={
            "grant_type": "client_credentials", "scope": f"{wanted} {make_name('nope')}"})
    assert resp.status_code == 400, f"{resp.status_code} {resp.text}"
    assert resp.json().get("error") == "invalid_scope", resp.text


# -- 4. keystoneauth1 v3oauth2clientcredential through the CLI --------------------

def _oauth2_cli_args(lintel, client_id: str, secret: str) -> list[str]:
    # Option names from keystoneauth1.loading._plugins.identity.v3
    # OAuth2ClientCredential: oauth2_endpoint, oauth2_client_id,
    # oauth2_client_secret (plus auth_url from the v3 base loader).
    return ["--os-auth-type", "v3oauth2clientcredential",
            "--os-auth-url", lintel.auth_url,
            "--os-oauth2-endpoint", _token_url(lintel),
            "--os-oauth2-client-id", client_id,
            # "=" form: a generated secret may start with "-", which argparse would take for an option.
            f"--os-oauth2-client-secret={secret}",
            "--os-cacert", str(lintel.cacert)]


_OAUTH2_CLI_ENV: dict[str, str | None] = {k: None for k in _PASSWORD_ENV}


def test_cli_v3oauth2clientcredential(lintel, make_name):
    client = _new_client(lintel, make_name)
    args = _oauth2_cli_args(lintel, client.id, client.secret)

    # The auth plugin found through its entry point by the installed console script, in a process of its own.
    token = lintel.openstack_json(*args, "token", "issue", env=_OAUTH2_CLI_ENV, process=True)

    assert token.get("id"), token
    assert token["project_id"] == client.project_id, token
    assert token["user_id"] == client.user_id, token
    _assert_token_of(_validate(lintel, token["id"]), cred_id=client.id,
                     project_id=client.project_id, roles=client.roles,
                     user_id=client.user_id)

    creds = lintel.openstack_json(*args, "application", "credential", "list",
                                  env=_OAUTH2_CLI_ENV)
    assert [c["ID"] for c in creds if c["Name"] == client.name] == [client.id], creds

    projects = lintel.openstack_json(*args, "project", "list", "--my-projects",
                                     env=_OAUTH2_CLI_ENV)
    assert [p["ID"] for p in projects] == [client.project_id], projects


def test_cli_v3oauth2clientcredential_wrong_secret(lintel, make_name):
    client = _new_client(lintel, make_name, role_count=1)
    args = _oauth2_cli_args(lintel, client.id, "wrong-" + client.secret)

    res = lintel.openstack_raw(*args, "token", "issue", "-f", "json", env=_OAUTH2_CLI_ENV)

    assert res.returncode != 0, f"token issue with a wrong secret exited 0:\n{res.output}"
    assert '"id"' not in res.stdout, f"a token was printed:\n{res.stdout}"


# -- 5. keystonemiddleware oauth2_token -----------------------------------------

class _EchoApp:
    """The protected WSGI app: records the environ it was called with."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    @webob.dec.wsgify
    def __call__(self, req: webob.Request) -> webob.Response:
        self.calls.append(dict(req.environ))
        return webob.Response(json_body={"ok": True})


def _authtoken_conf(lintel, **extra: str) -> dict:
    """keystonemiddleware's [keystone_authtoken] options as paste local conf: admin as the service user, a
    private oslo.config object (no global state)."""
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    conf([], project="lintel-client-tests", default_config_files=[])
    return {
        "oslo_config_config": conf,
        "www_authenticate_uri": lintel.auth_url,
        "auth_url": lintel.auth_url,
        "auth_type": "password",
        "username": "admin",
        "password": lintel.admin_password,
        "user_domain_name": "Default",
        "project_name": "admin",
        "project_domain_name": "Default",
        "cafile": str(lintel.cacert),
        # bootstrap registered only a public identity endpoint
        "interface": "public",
        "http_request_max_retries": "0",
        **extra,
    }


@pytest.fixture
def oauth2_middleware(lintel):
    """keystonemiddleware.oauth2_token.filter_factory around _EchoApp, with its
    [keystone_authtoken] options (admin as the service user) given as paste
    local conf and a private oslo.config object (no global state)."""
    from keystonemiddleware import oauth2_token

    app = _EchoApp()
    local_conf = _authtoken_conf(lintel)
    middleware = oauth2_token.filter_factory({}, **local_conf)(app)
    assert isinstance(middleware, oauth2_token.OAuth2Protocol)
    return middleware, app


def _call(middleware, headers: dict[str, str]) -> webob.Response:
    req = webob.Request.blank("/v1/things", headers=headers)
    return req.get_response(middleware)


def test_keystonemiddleware_oauth2_token_accepts_bearer(lintel, make_name,
                                                        oauth2_middleware):
    middleware, app = oauth2_middleware
    client = _new_client(lintel, make_name)
    with _http(lintel) as http:
        resp = http.post(_token_url(lintel), auth=(client.id, client.secret),
                         data={"grant_type": "client_credentials"})
    assert resp.status_code == 200, resp.text
    access_token = _assert_token_response(resp.json())

    resp = _call(middleware, {"Authorization": f"Bearer {access_token}"})

    assert resp.status_int == 200, f"{resp.status} {resp.text}"
    assert resp.json_body == {"ok": True}
    (env,) = app.calls
    roles = {r.strip() for r in env.get("HTTP_X_ROLES", "").split(",") if r.strip()}
    assert roles == set(client.roles), (env.get("HTTP_X_ROLES"), sorted(client.roles))
    assert env.get("HTTP_X_PROJECT_ID") == client.project_id
    assert env.get("HTTP_X_PROJECT_NAME") == client.project_name
    assert env.get("HTTP_X_USER_ID") == client.user_id
    # The validated token data is handed to the app too.
    token = env["keystone.token_info"]["token"]
    assert token["application_credential"]["id"] == client.id, token


@pytest.mark.parametrize("headers", [
    pytest.param({"Authorization": "Bearer gAAAAABgarbage" + "x" * 120}, id="garbage-bearer"),
    pytest.param({}, id="no-header"),
])
def test_keystonemiddleware_oauth2_token_rejects(lintel, oauth2_middleware, headers):
    middleware, app = oauth2_middleware

    resp = _call(middleware, headers)

    assert resp.status_int == 401, f"{resp.status} {resp.text}"
    assert resp.headers.get("WWW-Authenticate") == f'Keystone uri="{lintel.auth_url}"', (
        resp.headers)
    assert resp.json_body["error"]["code"] == 401, resp.text
    assert app.calls == [], "the protected app was called"
