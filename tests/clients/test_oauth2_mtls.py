"""Mutual TLS (RFC 8705) and private_key_jwt (RFC 7523) against a real Lintel
whose listener asks for client certificates (`[tls] client_ca_file`).

- curl authenticates with `client_id` and a CA-issued certificate
  (`tls_client_auth`) or a self-signed one (`self_signed_tls_client_auth`);
- keystonemiddleware's `oauth2_mtls_token` filter, served over a real TLS
  socket that asks for the client's certificate, accepts the certificate-bound
  token only from the certificate it was issued to (Keystone's
  `oauth2_credential` thumbprint), and `external_oauth2_token` with
  `thumbprint_verify` does the same with RFC 8705's `cnf`;
- authlib signs `private_key_jwt` assertions with an EC key whose public JWK
  the credential carries.

Certificates are made here with `cryptography`.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import _serving
from test_oauth2 import _EchoApp, _admin_token, _api, _authtoken_conf, _curl
from test_oauth2_resource_server import _ext_oauth2_conf

METHODS = ("client_secret_basic,client_secret_post,tls_client_auth,"
           "self_signed_tls_client_auth,private_key_jwt")


@dataclass
class Cert:
    cert: Path
    key: Path
    der: bytes


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lintel Test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _make(dir: Path, cn: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
          ca: bool = False) -> tuple[Cert, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    issuer_name, issuer_key = issuer if issuer else (_name(cn), key)
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=1)))
    if ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                          content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False,
                                          encipher_only=False, decipher_only=False), critical=True)
    else:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    cert = b.sign(issuer_key, hashes.SHA256())
    paths = Cert(dir / f"{cn}.pem", dir / f"{cn}.key", cert.public_bytes(serialization.Encoding.DER))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return paths, key


@dataclass
class Pki:
    dir: Path
    ca: Cert
    ca_key: ec.EllipticCurvePrivateKey

    def issue(self, cn: str) -> Cert:
        return _make(self.dir, cn, (_name("Test Client CA"), self.ca_key))[0]

    def self_signed(self, cn: str) -> Cert:
        return _make(self.dir, cn, None)[0]


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca, ca_key = _make(d, "Test Client CA", None, ca=True)
    return Pki(d, ca, ca_key)


@pytest.fixture(scope="module")
def lintel_mtls(pki, tmp_path_factory):
    """A Lintel (SQLite) whose listener asks for client certificates, with every method enabled."""
    extra = (f"\n[tls]\nclient_ca_file = {pki.ca.cert}\n"
             f"[oauth2]\noauth2_authn_methods = {METHODS}\n")
    with _serving("sqlite", tmp_path_factory, extra) as server:
        yield server


def _expired_bound_token(lintel, pki, make_name, cn: str) -> tuple[Cert, str]:
    """A certificate-bound token that has just expired. Its credential lives long enough for the token to be
    issued on a loaded machine (the test command runs suites side by side); then the test waits it out."""
    lifetime = 8
    issued_by = time.monotonic() + lifetime
    cert, token = _bound_token(lintel, pki, make_name, cn, lifetime=lifetime)
    time.sleep(max(0.0, issued_by - time.monotonic()) + 0.5)
    return cert, token


def _credential(lintel, make_name, **bindings) -> dict:
    admin = _admin_token(lintel)
    me = _api(lintel, admin, "GET", "/users?name=admin", 200)["users"][0]["id"]
    body = {"name": make_name("mtls"), "roles": [{"name": "member"}], **bindings}
    return _api(lintel, admin, "POST", f"/users/{me}/application_credentials", 201,
                json={"application_credential": body})["application_credential"]


def _curl_token(lintel, cert: Cert, client_id: str) -> tuple[int, dict]:
    res = subprocess.run(
        [_curl(), "-sS", "--noproxy", "*", "--cacert", str(lintel.cacert),
         "--cert", str(cert.cert), "--key", str(cert.key), "-w", "\n%{http_code}",
         "-d", "grant_type=client_credentials", "-d", f"client_id={client_id}",
         f"{lintel.auth_url}/OS-OAUTH2/token"],
        capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    body, _, status = res.stdout.rpartition("\n")
    return int(status), json.loads(body)


def _keystone_thumbprint(der: bytes) -> str:
    pem = ssl.DER_cert_to_PEM_cert(der)
    return base64.urlsafe_b64encode(hashlib.sha256(pem.encode("ascii")).digest()).decode()


def test_curl_tls_client_auth_gets_a_certificate_bound_token(lintel_mtls, pki, make_name):
    cert = pki.issue("svc-curl")
    cred = _credential(lintel_mtls, make_name,
                       tls_client_auth_subject_dn="CN=svc-curl,O=Lintel Test")
    status, body = _curl_token(lintel_mtls, cert, cred["id"])
    assert status == 200, body
    assert body["token_type"] == "Bearer"

    admin = _admin_token(lintel_mtls)
    with requests.Session() as http:
        http.trust_env = False
        v = http.get(f"{lintel_mtls.auth_url}/auth/tokens", verify=str(lintel_mtls.cacert),
                     headers={"X-Auth-Token": admin, "X-Subject-Token": body["access_token"]})
    assert v.status_code == 200, v.text
    assert v.json()["token"]["oauth2_credential"] == {"x5t#S256": _keystone_thumbprint(cert.der)}

    # Another CA-issued certificate is not this client.
    status, body = _curl_token(lintel_mtls, pki.issue("svc-other"), cred["id"])
    assert status == 401 and body["error"] == "invalid_client", body


def test_curl_self_signed_tls_client_auth(lintel_mtls, pki, make_name):
    cert = pki.self_signed("robot-curl")
    thumb = base64.urlsafe_b64encode(hashlib.sha256(cert.der).digest()).rstrip(b"=").decode()
    cred = _credential(lintel_mtls, make_name, tls_client_auth_x5t_s256=thumb)
    status, body = _curl_token(lintel_mtls, cert, cred["id"])
    assert status == 200, body
    status, body = _curl_token(lintel_mtls, pki.self_signed("robot-other"), cred["id"])
    assert status == 401, body


class _PeerSocketInput:
    """wsgi.input that also answers get_socket(), as eventlet's does: what the
    mTLS filters read the client certificate from."""

    def __init__(self, rfile, sock) -> None:
        self._rfile, self._sock = rfile, sock

    def get_socket(self):
        return self._sock

    def __getattr__(self, name):
        return getattr(self._rfile, name)


class _Handler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        self.rfile = _PeerSocketInput(self.rfile, self.connection)

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


class _TlsServer:
    """A WSGI app behind a real TLS listener on loopback that asks for a client certificate."""

    def __init__(self, app, lintel, pki: Pki) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(lintel.data_dir / "tls" / "cert.pem", lintel.data_dir / "tls" / "key.pem")
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(str(pki.ca.cert))
        self.httpd: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_port}/v1/things"
        self.cacert = str(lintel.cacert)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def get(self, cert: Cert, token: str) -> requests.Response:
        with requests.Session() as http:
            http.trust_env = False
            return http.get(self.url, verify=self.cacert, cert=(str(cert.cert), str(cert.key)),
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _bound_token(lintel, pki, make_name, cn: str, lifetime: float | None = None) -> tuple[Cert, str]:
    """A CA-issued certificate and a token bound to it; with `lifetime`, its credential (and so the token)
    expires that many seconds from now."""
    cert = pki.issue(cn)
    extra = {}
    if lifetime is not None:
        expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=lifetime)
        extra["expires_at"] = expiry.strftime("%Y-%m-%dT%H:%M:%S.%f")
    cred = _credential(lintel, make_name, tls_client_auth_subject_dn=f"CN={cn},O=Lintel Test", **extra)
    status, body = _curl_token(lintel, cert, cred["id"])
    assert status == 200, body
    return cert, body["access_token"]


def test_keystonemiddleware_oauth2_mtls_token(lintel_mtls, pki, make_name):
    from keystonemiddleware import oauth2_mtls_token

    app = _EchoApp()
    # Validate every time (token_cache_time -1), so a revocation shows at once.
    middleware = oauth2_mtls_token.filter_factory(
        {}, **_authtoken_conf(lintel_mtls, token_cache_time="-1"))(app)
    cert, token = _bound_token(lintel_mtls, pki, make_name, "svc-ksm")
    expired_cert, expired = _expired_bound_token(lintel_mtls, pki, make_name, "svc-ksm-old")
    server = _TlsServer(middleware, lintel_mtls, pki)
    try:
        resp = server.get(cert, token)
        assert resp.status_code == 200, resp.text
        (env,) = app.calls
        assert env["HTTP_X_ROLES"] and "member" in env["HTTP_X_ROLES"].split(",")

        # The same token from another certificate, a forged, an expired or a revoked token: refused.
        assert server.get(pki.issue("svc-thief"), token).status_code == 401
        assert server.get(expired_cert, expired).status_code == 401
        assert server.get(cert, "gAAAAABgarbage" + "x" * 120).status_code == 401
        with requests.Session() as http:
            http.trust_env = False
            r = http.delete(f"{lintel_mtls.auth_url}/auth/tokens", verify=str(lintel_mtls.cacert),
                            headers={"X-Auth-Token": _admin_token(lintel_mtls),
                                     "X-Subject-Token": token})
        assert r.status_code == 204, r.text
        assert server.get(cert, token).status_code == 401
        # A token that is not certificate-bound is not an mTLS token.
        cred = _credential(lintel_mtls, make_name)
        with requests.Session() as http:
            http.trust_env = False
            r = http.post(f"{lintel_mtls.auth_url}/OS-OAUTH2/token", verify=str(lintel_mtls.cacert),
                          auth=(cred["id"], cred["secret"]), data={"grant_type": "client_credentials"})
        assert r.status_code == 200, r.text
        assert server.get(cert, r.json()["access_token"]).status_code == 401
        assert len(app.calls) == 1, "the protected app was called for a refused request"
    finally:
        server.close()


def test_external_oauth2_token_verifies_the_thumbprint(lintel_mtls, pki, make_name):
    from keystonemiddleware import external_oauth2_token

    resource = _credential(lintel_mtls, make_name, roles=[{"name": "admin"}])
    app = _EchoApp()
    middleware = external_oauth2_token.filter_factory(
        {}, **_ext_oauth2_conf(lintel_mtls, resource, thumbprint_verify="True"))(app)
    cert, token = _bound_token(lintel_mtls, pki, make_name, "svc-ext")
    expired_cert, expired = _expired_bound_token(lintel_mtls, pki, make_name, "svc-ext-old")
    server = _TlsServer(middleware, lintel_mtls, pki)
    try:
        resp = server.get(cert, token)
        assert resp.status_code == 200, resp.text
        assert server.get(pki.issue("svc-ext-thief"), token).status_code == 401
        assert server.get(expired_cert, expired).status_code == 401
        assert server.get(cert, "gAAAAABgarbage" + "x" * 120).status_code == 401
        assert len(app.calls) == 1
    finally:
        server.close()


def test_authlib_private_key_jwt(lintel_mtls, make_name):
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.oauth2.rfc7523 import PrivateKeyJWT
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256")
    cred = _credential(lintel_mtls, make_name, jwks={"keys": [key.as_dict(private=False)]})
    token_url = f"{lintel_mtls.auth_url}/OS-OAUTH2/token"

    def fetch(lifetime: int):
        session = OAuth2Session(cred["id"], key, token_endpoint_auth_method="private_key_jwt")
        session.trust_env = False
        # authlib's default assertion lives an hour; Lintel accepts at most five minutes.
        session.register_client_auth_method(PrivateKeyJWT(
            token_url, alg="ES256", claims={"exp": int(time.time()) + lifetime}))
        return session.fetch_token(token_url, grant_type="client_credentials",
                                   verify=str(lintel_mtls.cacert))

    token = fetch(120)
    assert token["token_type"] == "Bearer"
    admin = _admin_token(lintel_mtls)
    introspected = requests.post(f"{lintel_mtls.auth_url}/OS-OAUTH2/introspect",
                                 verify=str(lintel_mtls.cacert), headers={"X-Auth-Token": admin},
                                 data={"token": token["access_token"]}).json()
    assert introspected["active"] is True and introspected["client_id"] == cred["id"]

    from authlib.integrations.base_client.errors import OAuthError
    with pytest.raises(OAuthError) as too_long:
        fetch(3600)
    assert too_long.value.error == "invalid_client"


def test_metadata_lists_every_enabled_method(lintel_mtls):
    with requests.Session() as http:
        http.trust_env = False
        meta = http.get(f"{lintel_mtls.base_url}/.well-known/oauth-authorization-server",
                        verify=str(lintel_mtls.cacert)).json()
    assert meta["token_endpoint_auth_methods_supported"] == METHODS.split(",")
    assert meta["tls_client_certificate_bound_access_tokens"] is True
    assert "ES256" in meta["token_endpoint_auth_signing_alg_values_supported"]
