"""Resource-server side of OAuth 2.0 against a real Lintel: keystonemiddleware's
`external_oauth2_token` filter validating tokens through Lintel's RFC 7662
introspection endpoint, RFC 7009 revocation seen through it, and the RFC 8414
metadata read with authlib's client.

The filter authenticates to the introspection endpoint as a resource server:
an application credential of admin holding the `admin` role
(client_secret_basic), mapping Lintel's introspection members to the request
headers it sets (`X-User-Id`, `X-Roles`, `X-Project-Id`, ...).
"""
from __future__ import annotations

import pytest

from test_oauth2 import (_EchoApp, _admin_token, _api, _assert_token_response, _call,
                         _http, _new_client, _token_url)


def _introspect_url(lintel) -> str:
    return f"{lintel.auth_url}/OS-OAUTH2/introspect"


def _ext_oauth2_conf(lintel, resource: dict, **extra: str) -> dict:
    """[ext_oauth2_auth] as paste local conf: `resource` (an application credential holding admin) authenticates
    to the introspection endpoint, Lintel's members mapped to the request headers."""
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    conf([], project="lintel-client-tests", default_config_files=[])
    return {
        "oslo_config_config": conf,
        "introspect_endpoint": _introspect_url(lintel),
        "audience": lintel.base_url,
        "auth_method": "client_secret_basic",
        "client_id": resource["id"],
        "client_secret": resource["secret"],
        "cafile": str(lintel.cacert),
        "mapping_user_id": "sub",
        "mapping_user_name": "username",
        "mapping_user_domain_id": "user.domain.id",
        "mapping_user_domain_name": "user.domain.name",
        "mapping_project_id": "project.id",
        "mapping_project_name": "project.name",
        "mapping_project_domain_id": "project.domain.id",
        "mapping_project_domain_name": "project.domain.name",
        "mapping_roles": "roles",
        "mapping_expires_at": "exp",
        **extra,
    }


@pytest.fixture
def ext_oauth2_middleware(lintel, make_name):
    from keystonemiddleware import external_oauth2_token

    admin = _admin_token(lintel)
    me = _api(lintel, admin, "GET", "/users?name=admin", 200)["users"][0]["id"]
    resource = _api(lintel, admin, "POST", f"/users/{me}/application_credentials", 201,
                    json={"application_credential": {
                        "name": make_name("resource-server"),
                        "roles": [{"name": "admin"}]}})["application_credential"]
    app = _EchoApp()
    local_conf = _ext_oauth2_conf(lintel, resource)
    middleware = external_oauth2_token.filter_factory({}, **local_conf)(app)
    return middleware, app


def _access_token(lintel, client) -> str:
    with _http(lintel) as http:
        resp = http.post(_token_url(lintel), auth=(client.id, client.secret),
                         data={"grant_type": "client_credentials"})
    assert resp.status_code == 200, resp.text
    return _assert_token_response(resp.json())


def test_external_oauth2_token_accepts_a_lintel_token(lintel, make_name,
                                                       ext_oauth2_middleware):
    middleware, app = ext_oauth2_middleware
    client = _new_client(lintel, make_name)
    access_token = _access_token(lintel, client)

    resp = _call(middleware, {"Authorization": f"Bearer {access_token}"})

    assert resp.status_int == 200, f"{resp.status} {resp.text}"
    (env,) = app.calls
    roles = {r for r in env.get("HTTP_X_ROLES", "").split(",") if r}
    assert roles == set(client.roles), env.get("HTTP_X_ROLES")
    assert env.get("HTTP_X_PROJECT_ID") == client.project_id
    assert env.get("HTTP_X_PROJECT_NAME") == client.project_name
    assert env.get("HTTP_X_USER_ID") == client.user_id
    assert env.get("HTTP_X_PROJECT_DOMAIN_ID") == "default"


@pytest.mark.parametrize("token", [
    pytest.param("gAAAAABgarbage" + "x" * 120, id="forged"),
    pytest.param("", id="empty"),
])
def test_external_oauth2_token_rejects_forged(lintel, ext_oauth2_middleware, token):
    middleware, app = ext_oauth2_middleware

    resp = _call(middleware, {"Authorization": f"Bearer {token}"})

    assert resp.status_int == 401, f"{resp.status} {resp.text}"
    assert app.calls == [], "the protected app was called"


def test_external_oauth2_token_rejects_a_revoked_token(lintel, make_name,
                                                        ext_oauth2_middleware):
    middleware, app = ext_oauth2_middleware
    client = _new_client(lintel, make_name)
    access_token = _access_token(lintel, client)
    with _http(lintel) as http:
        resp = http.post(f"{lintel.auth_url}/OS-OAUTH2/revoke",
                         auth=(client.id, client.secret), data={"token": access_token})
    assert resp.status_code == 200, resp.text

    resp = _call(middleware, {"Authorization": f"Bearer {access_token}"})

    assert resp.status_int == 401, f"{resp.status} {resp.text}"
    assert app.calls == []


def test_metadata_through_authlib(lintel, make_name):
    """authlib reads the RFC 8414 document and uses its token endpoint."""
    from authlib.integrations.requests_client import OAuth2Session

    with _http(lintel) as http:
        meta = http.get(f"{lintel.base_url}/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == lintel.base_url
    assert meta["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post"]
    client = _new_client(lintel, make_name)
    session = OAuth2Session(client.id, client.secret,
                            token_endpoint_auth_method="client_secret_basic")
    session.trust_env = False
    token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials",
                                verify=str(lintel.cacert))
    assert token["token_type"] == "Bearer"
    with _http(lintel) as http:
        introspected = http.post(meta["introspection_endpoint"],
                                 headers={"X-Auth-Token": _admin_token(lintel)},
                                 data={"token": token["access_token"]}).json()
    assert introspected["active"] is True
    assert introspected["client_id"] == client.id


def test_pyjwt_verifies_jwt_access_tokens_offline_across_a_rotation(lintel_jwt, make_name,
                                                                    monkeypatch):
    """RFC 9068 tokens from a server with `access_token_format = jwt`, verified
    with PyJWT against the published JWKS, before and after `lintel keys rotate`."""
    import ssl
    import time

    import jwt

    # PyJWKClient fetches with urllib, which honours proxy variables: keep loopback direct.
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = lintel_jwt
    ctx = ssl.create_default_context(cafile=str(server.cacert))
    jwks_url = f"{server.auth_url}/OS-OAUTH2/jwks"

    def verify(token: str) -> dict:
        keys = jwt.PyJWKClient(jwks_url, cache_keys=False, cache_jwk_set=False, ssl_context=ctx)
        key = keys.get_signing_key_from_jwt(token)
        return jwt.decode(token, key.key, algorithms=["ES256"],
                          audience=server.base_url, issuer=server.base_url)

    client = _new_client(server, make_name)
    first = _access_token(server, client)
    assert jwt.get_unverified_header(first)["typ"] == "at+jwt"
    claims = verify(first)
    assert claims["client_id"] == client.id
    assert claims["sub"] == client.user_id
    assert claims["project_id"] == client.project_id
    assert set(claims["roles"]) == set(client.roles)
    assert claims["exp"] - claims["iat"] == 3600

    server.run_cli("keys", "rotate")
    deadline = time.monotonic() + 10
    while True:
        second = _access_token(server, client)
        if jwt.get_unverified_header(second)["kid"] != jwt.get_unverified_header(first)["kid"]:
            break
        assert time.monotonic() < deadline, "the server did not pick up the rotation"
        time.sleep(0.2)
    assert verify(first)["jti"] == claims["jti"], "a token from before the rotation still verifies"
    assert verify(second)["client_id"] == client.id

    head, body, sig = first.split(".")
    forged_claims = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(body).replace(b'"member"', b'"admin"') + b" ").decode()
    with pytest.raises(jwt.InvalidSignatureError):
        verify(f"{head}.{forged_claims}.{sig}")


def test_pyjwt_verifies_eddsa_access_tokens(lintel_jwt_eddsa, make_name, monkeypatch):
    """`jwt_signing_algorithm = EdDSA`: Ed25519 keys in the JWKS, tokens PyJWT verifies offline."""
    import ssl

    import jwt

    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = lintel_jwt_eddsa
    ctx = ssl.create_default_context(cafile=str(server.cacert))
    keys = jwt.PyJWKClient(f"{server.auth_url}/OS-OAUTH2/jwks", cache_keys=False,
                           cache_jwk_set=False, ssl_context=ctx)
    client = _new_client(server, make_name)
    token = _access_token(server, client)
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    claims = jwt.decode(token, keys.get_signing_key_from_jwt(token).key, algorithms=["EdDSA"],
                        audience=server.base_url, issuer=server.base_url)
    assert claims["client_id"] == client.id
    assert set(claims["roles"]) == set(client.roles)
