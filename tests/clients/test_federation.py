"""Federation through a real OpenID Connect provider (node-oidc-provider on loopback, over HTTPS): the stock
`v3oidcclientcredentials` plugin of keystoneauth1 and the `openstack` CLI get a project-scoped Lintel token with
no change to either, and `curl` exchanges the provider's token for an OAuth 2.0 access token (RFC 7523)."""

from __future__ import annotations

import datetime
import json
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import _serving

IDP_DIR = Path(__file__).parent / "idp"
CLIENT_ID = "ci-robot"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _cert(subject: str, issuer_key, issuer_name, key, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        import ipaddress
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                            critical=False)
    return b.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def idp_pki(tmp_path_factory) -> dict[str, Path]:
    """A CA and the provider's server certificate for 127.0.0.1."""
    d = tmp_path_factory.mktemp("idp-pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Test IdP CA", ca_key, None, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert("127.0.0.1", ca_key, ca.subject, key, ca=False)
    paths = {"ca": d / "ca.pem", "cert": d / "cert.pem", "key": d / "key.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


@pytest.fixture(scope="module")
def lintel_fed(idp_pki, tmp_path_factory):
    """A Lintel (SQLite) that trusts the provider's CA."""
    with _serving("sqlite", tmp_path_factory, f"\n[federation]\nca_file = {idp_pki['ca']}\n") as server:
        yield server


@pytest.fixture(scope="module")
def idp(idp_pki, lintel_fed, tmp_path_factory):
    """node-oidc-provider issuing JWT access tokens for Lintel (its audience) to one client."""
    node = shutil.which("node")
    assert node, "Node.js is needed (tests/clients/run.sh installs node-oidc-provider with npm)"
    assert (IDP_DIR / "node_modules" / "oidc-provider").is_dir(), "run tests/clients/run.sh (npm ci in tests/clients/idp)"
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    secret = secrets.token_urlsafe(24)
    log = tmp_path_factory.mktemp("idp") / "idp.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([node, str(IDP_DIR / "idp.mjs"), str(port), str(idp_pki["cert"]),
                                 str(idp_pki["key"]), CLIENT_ID, secret, lintel_fed.base_url],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    issuer = f"https://127.0.0.1:{port}"
    bundle = tmp_path_factory.mktemp("bundle") / "ca-bundle.pem"
    bundle.write_bytes(idp_pki["ca"].read_bytes() + lintel_fed.cacert.read_bytes())
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{issuer}/.well-known/openid-configuration", verify=str(idp_pki["ca"]),
                             timeout=2).raise_for_status()
                break
            except requests.RequestException:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"node-oidc-provider did not start:\n{log.read_text()}")
                time.sleep(0.2)
        yield {"issuer": issuer, "secret": secret, "bundle": bundle,
               "discovery": f"{issuer}/.well-known/openid-configuration"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def federated(lintel_fed, idp, tmp_path_factory) -> str:
    """The provider, its mapping and protocol, made with the stock `openstack` CLI; the mapped group's project."""
    cli = lintel_fed.openstack_json
    project = cli("project", "create", "--domain", "default", "fed-project")
    cli("group", "create", "--domain", "default", "fed-robots")
    lintel_fed.openstack("role", "add", "--group", "fed-robots", "--group-domain", "default",
                         "--project", "fed-project", "--project-domain", "default", "member")
    cli("identity", "provider", "create", "--remote-id", idp["issuer"], "--enable", "node-idp")
    rules = [{"local": [{"user": {"name": "{0}"}},
                        {"group": {"name": "fed-robots", "domain": {"id": "default"}}}],
              "remote": [{"type": "sub"}, {"type": "client_id", "any_one_of": [CLIENT_ID]}]}]
    rules_file = tmp_path_factory.mktemp("rules") / "rules.json"
    rules_file.write_text(json.dumps(rules))
    cli("mapping", "create", "--rules", str(rules_file), "node-idp-map")
    cli("federation", "protocol", "create", "--identity-provider", "node-idp", "--mapping", "node-idp-map",
        "openid")
    shown = cli("identity", "provider", "show", "node-idp")
    assert idp["issuer"] in shown["remote_ids"], shown
    return project["id"]


def test_keystoneauth_oidc_client_credentials_gets_a_project_token(lintel_fed, idp, federated):
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = v3.OidcClientCredentials(
        auth_url=lintel_fed.auth_url, identity_provider="node-idp", protocol="openid",
        client_id=CLIENT_ID, client_secret=idp["secret"], discovery_endpoint=idp["discovery"],
        scope="lintel", project_name="fed-project", project_domain_name="Default")
    sess = session.Session(auth=auth, verify=str(idp["bundle"]))
    assert sess.get_project_id() == federated
    access = auth.get_access(sess)
    assert "member" in access.role_names, access.role_names
    assert access.user_domain_id != "default", "a federated user lives in its provider's domain"


def test_keystoneauth_oidc_access_token_gets_a_project_token(lintel_fed, idp, federated):
    """`v3oidcaccesstoken`: the workload already holds the provider's token and hands it over as it is."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    provider_token = requests.post(
        f"{idp['issuer']}/token", data={"grant_type": "client_credentials", "scope": "lintel"},
        auth=(CLIENT_ID, idp["secret"]), verify=str(idp["bundle"]), timeout=10)
    provider_token.raise_for_status()
    auth = v3.OidcAccessToken(
        auth_url=lintel_fed.auth_url, identity_provider="node-idp", protocol="openid",
        access_token=provider_token.json()["access_token"], project_name="fed-project",
        project_domain_name="Default")
    sess = session.Session(auth=auth, verify=str(lintel_fed.cacert))
    assert sess.get_project_id() == federated
    # A token that is not the provider's is refused with Keystone's 401.
    forged = v3.OidcAccessToken(auth_url=lintel_fed.auth_url, identity_provider="node-idp", protocol="openid",
                                access_token="eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", project_name="fed-project",
                                project_domain_name="Default")
    from keystoneauth1 import exceptions
    with pytest.raises(exceptions.Unauthorized):
        session.Session(auth=forged, verify=str(lintel_fed.cacert)).get_token()


def test_openstack_cli_issues_a_token_through_the_provider(lintel_fed, idp, federated):
    env = {key: None for key in ("OS_USERNAME", "OS_PASSWORD", "OS_USER_DOMAIN_NAME", "OS_PROJECT_NAME",
                                 "OS_PROJECT_DOMAIN_NAME")}
    env.update({"OS_AUTH_TYPE": "v3oidcclientcredentials", "OS_IDENTITY_PROVIDER": "node-idp",
                "OS_PROTOCOL": "openid", "OS_CLIENT_ID": CLIENT_ID, "OS_CLIENT_SECRET": idp["secret"],
                "OS_DISCOVERY_ENDPOINT": idp["discovery"], "OS_OPENID_SCOPE": "lintel",
                "OS_PROJECT_NAME": "fed-project", "OS_PROJECT_DOMAIN_NAME": "Default",
                "OS_CACERT": str(idp["bundle"])})
    token = lintel_fed.openstack_json("token", "issue", env=env)
    assert token["project_id"] == federated, token
    # The federated user is listed like any other.
    users = lintel_fed.openstack_json("user", "list", "--long")
    assert any(u["Name"] == CLIENT_ID for u in users), users


def test_curl_exchanges_the_providers_token_for_an_access_token(lintel_fed, idp, federated):
    provider_token = requests.post(
        f"{idp['issuer']}/token", data={"grant_type": "client_credentials", "scope": "lintel"},
        auth=(CLIENT_ID, idp["secret"]), verify=str(idp["bundle"]), timeout=10)
    provider_token.raise_for_status()
    jwt = provider_token.json()["access_token"]
    curl = shutil.which("curl")
    assert curl, "curl is needed"
    out = subprocess.run(
        [curl, "-sS", "--cacert", str(lintel_fed.cacert), "--noproxy", "*",
         "-d", f"grant_type={JWT_BEARER}", "--data-urlencode", f"assertion={jwt}",
         f"{lintel_fed.base_url}/v3/OS-OAUTH2/token"],
        capture_output=True, text=True, timeout=30, check=True)
    body = json.loads(out.stdout)
    assert body["token_type"] == "Bearer" and body["access_token"], body
    # The access token is a Lintel token for the mapped user's project.
    check = requests.get(f"{lintel_fed.auth_url}/auth/tokens",
                         headers={"X-Auth-Token": body["access_token"], "X-Subject-Token": body["access_token"]},
                         verify=str(lintel_fed.cacert), timeout=10)
    assert check.status_code == 200, check.text
    assert check.json()["token"]["project"]["id"] == federated
