//! Mutual TLS (RFC 8705) and private_key_jwt (RFC 7523) client authentication at the token endpoint, and
//! certificate-bound tokens, over a real HTTPS listener that asks for client certificates.

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use p256::pkcs8::EncodePrivateKey;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::TestServer;

/// A test PKI: one CA and the PEM bundles (certificate + key) of client certificates.
pub(crate) struct Pki {
    _dir: tempfile::TempDir,
    pub(crate) ca_file: String,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

/// A client certificate: PEM of certificate and key together (for reqwest), and the DER.
pub(crate) struct ClientCertificate {
    identity_pem: String,
    der: Vec<u8>,
}

fn dn(cn: &str) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::OrganizationName, "Lintel Test");
    dn.push(rcgen::DnType::CommonName, cn);
    dn
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name = dn("Test Client CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        let ca_file = dir.path().join("client-ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        Pki {
            ca_file: ca_file.display().to_string(),
            _dir: dir,
            ca,
            ca_key,
        }
    }

    /// A server certificate for `host` (an IP address or name): PEM certificate and key.
    pub(crate) fn server_cert(&self, host: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec![host.to_string()]).unwrap();
        p.distinguished_name = dn(host);
        let cert = p.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn client_params(cn: &str) -> rcgen::CertificateParams {
        let mut p = rcgen::CertificateParams::new(vec![format!("{cn}.example")]).unwrap();
        p.distinguished_name = dn(cn);
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        p
    }

    fn issue(&self, cn: &str) -> ClientCertificate {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = Self::client_params(cn)
            .signed_by(&key, &self.ca, &self.ca_key)
            .unwrap();
        ClientCertificate {
            identity_pem: format!("{}{}", cert.pem(), key.serialize_pem()),
            der: cert.der().to_vec(),
        }
    }

    /// A SPIFFE X.509-SVID for `spiffe_id` (its one URI SAN), issued by this CA.
    pub(crate) fn svid(&self, spiffe_id: &str) -> ClientCertificate {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.subject_alt_names = vec![rcgen::SanType::URI(spiffe_id.try_into().unwrap())];
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        ClientCertificate {
            identity_pem: format!("{}{}", cert.pem(), key.serialize_pem()),
            der: cert.der().to_vec(),
        }
    }

    /// The CA certificate (PEM).
    pub(crate) fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    fn self_signed(cn: &str) -> ClientCertificate {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = Self::client_params(cn).self_signed(&key).unwrap();
        ClientCertificate {
            identity_pem: format!("{}{}", cert.pem(), key.serialize_pem()),
            der: cert.der().to_vec(),
        }
    }
}

/// A reqwest client trusting the server and presenting `cert`.
pub(crate) fn client_with(s: &TestServer, cert: Option<&ClientCertificate>) -> reqwest::Client {
    let ca = std::fs::read(format!("{}/tls/cert.pem", s.data_dir())).unwrap();
    let mut b = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap());
    if let Some(c) = cert {
        b = b.identity(reqwest::Identity::from_pem(c.identity_pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

async fn token_request(
    s: &TestServer,
    client: &reqwest::Client,
    auth: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut req = client
        .post(format!("{}/v3/OS-OAUTH2/token", s.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn create(s: &TestServer, admin: &str, body: Value) -> (StatusCode, Value) {
    s.create_admin_credential(admin, body).await
}

/// A token request authenticated by the connection's certificate alone.
async fn cert_token(s: &TestServer, client: &reqwest::Client, id: &str) -> (StatusCode, Value) {
    let body = format!("grant_type=client_credentials&client_id={id}");
    token_request(s, client, None, &body).await
}

async fn projects_with(s: &TestServer, client: &reqwest::Client, token: &str) -> StatusCode {
    client
        .get(format!("{}/v3/auth/projects", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

const METHODS: &str =
    "[oauth2]\noauth2_authn_methods = client_secret_basic,client_secret_post,tls_client_auth,\
                       self_signed_tls_client_auth,private_key_jwt\n";

#[tokio::test]
async fn certificate_clients_get_certificate_bound_tokens() {
    crate::common::each_backend(certificate_clients_on).await;
}

async fn certificate_clients_on(backend: &'static str) {
    let pki = Pki::new();
    let s = TestServer::start_with(
        backend,
        &format!("[tls]\nclient_ca_file = {}\n{METHODS}", pki.ca_file),
    )
    .await;
    let admin = s.admin_token().await;

    // Bindings are validated and shown only when set.
    let (status, body) = create(
        &s,
        &admin,
        json!({"name": "bad-dn", "tls_client_auth_subject_dn": "not a dn"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, plain) = create(&s, &admin, json!({"name": "plain"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(plain.get("tls_client_auth_subject_dn").is_none(), "{plain}");

    let (status, bound) = create(
        &s,
        &admin,
        json!({"name": "svc", "tls_client_auth_subject_dn": "CN=svc-1, O=Lintel Test",
               "tls_client_auth_issuer_dn": "CN=Test Client CA,O=Lintel Test"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{bound}");
    assert_eq!(
        bound["tls_client_auth_subject_dn"],
        "CN=svc-1,O=Lintel Test"
    );
    let id = bound["id"].as_str().unwrap().to_string();

    // tls_client_auth: client_id and the certificate, no secret.
    let good = pki.issue("svc-1");
    let with_cert = client_with(&s, Some(&good));
    let (status, tok) = cert_token(&s, &with_cert, &id).await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    let access = tok["access_token"].as_str().unwrap().to_string();

    // The validation body carries Keystone's thumbprint (SHA-256 of the PEM text, padded base64url).
    let (status, v) = s.validate(&admin, &access).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD
            .encode(&good.der)
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        v["token"]["oauth2_credential"]["x5t#S256"],
        URL_SAFE.encode(Sha256::digest(pem.as_bytes()))
    );
    assert_eq!(v["token"]["application_credential"]["id"], id.as_str());

    // Introspection gives RFC 8705's cnf.
    let resp = s
        .client
        .post(format!("{}/v3/OS-OAUTH2/introspect", s.base))
        .header("X-Auth-Token", &admin)
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    let intro: Value = resp.json().await.unwrap();
    assert_eq!(intro["active"], true, "{intro}");
    assert_eq!(
        intro["cnf"]["x5t#S256"],
        URL_SAFE_NO_PAD.encode(Sha256::digest(&good.der))
    );

    // The bound token works on Lintel's API only with its certificate.
    assert_eq!(projects_with(&s, &with_cert, &access).await, StatusCode::OK);
    assert_eq!(
        projects_with(&s, &s.client, &access).await,
        StatusCode::UNAUTHORIZED
    );
    let other = client_with(&s, Some(&pki.issue("svc-2")));
    assert_eq!(
        projects_with(&s, &other, &access).await,
        StatusCode::UNAUTHORIZED
    );

    // As X-Service-Token too, a bound token counts only with its certificate.
    let (status, _, _) = s
        .call(
            Method::POST,
            "/v3/users",
            Some(&admin),
            Some(json!({"user": {"name": "nobody", "password": "nobody-pw-1", "domain_id": "default"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, nobody, _) = s.password_token("nobody", "nobody-pw-1", None).await;
    let validate_as = |client: reqwest::Client| {
        let (url, nobody, admin, access) = (
            format!("{}/v3/auth/tokens", s.base),
            nobody.clone(),
            admin.clone(),
            access.clone(),
        );
        async move {
            client
                .get(url)
                .header("X-Auth-Token", nobody)
                .header("X-Service-Token", access)
                .header("X-Subject-Token", admin)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(validate_as(with_cert.clone()).await, StatusCode::OK);
    assert_eq!(validate_as(s.client.clone()).await, StatusCode::FORBIDDEN);

    // A CA certificate with another subject, no certificate at all, or a credential without a binding: refused.
    for (client, who) in [(&other, "other subject"), (&s.client, "no certificate")] {
        let (status, body) = cert_token(&s, client, &id).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{who}: {body}");
        assert_eq!(body["error"], "invalid_client", "{who}");
    }
    let plain_id = plain["id"].as_str().unwrap();
    let (status, _) = cert_token(&s, &with_cert, plain_id).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A secret over mutual TLS still works, and its token is bound too.
    let secret = plain["secret"].as_str().unwrap();
    let basic = format!("Basic {}", STANDARD.encode(format!("{plain_id}:{secret}")));
    let (status, tok) = token_request(
        &s,
        &with_cert,
        Some(&basic),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    let (_, v) = s
        .validate(&admin, tok["access_token"].as_str().unwrap())
        .await;
    assert!(v["token"]["oauth2_credential"].is_object(), "{v}");
    // Without a certificate the token is unbound, as before.
    let (status, tok) =
        token_request(&s, &s.client, Some(&basic), "grant_type=client_credentials").await;
    assert_eq!(status, StatusCode::OK);
    let (_, v) = s
        .validate(&admin, tok["access_token"].as_str().unwrap())
        .await;
    assert!(v["token"].get("oauth2_credential").is_none(), "{v}");

    // self_signed_tls_client_auth: a certificate no CA issued, bound by thumbprint.
    let mine = Pki::self_signed("robot");
    let thumb = URL_SAFE_NO_PAD.encode(Sha256::digest(&mine.der));
    let (status, ss) = create(
        &s,
        &admin,
        json!({"name": "self-signed", "tls_client_auth_x5t_s256": thumb}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ss}");
    let ss_id = ss["id"].as_str().unwrap();
    let own = client_with(&s, Some(&mine));
    let (status, tok) = cert_token(&s, &own, ss_id).await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    // ... and not by subject: a self-signed certificate is never CA-verified.
    let (status, _) = cert_token(&s, &own, &id).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (_, _, meta) = s
        .call(
            Method::GET,
            "/.well-known/oauth-authorization-server",
            None,
            None,
        )
        .await;
    assert_eq!(meta["tls_client_certificate_bound_access_tokens"], true);
    assert!(meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("tls_client_auth")));
    s.stop().await;
}

/// An ES256 key pair: the signing key and its public JWK.
pub(crate) fn es256_key(kid: &str) -> (jsonwebtoken::EncodingKey, Value) {
    let sk = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let point = sk.verifying_key().to_encoded_point(false);
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()), "y": URL_SAFE_NO_PAD.encode(point.y().unwrap())});
    let der = sk.to_pkcs8_der().unwrap();
    (jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes()), jwk)
}

pub(crate) fn assertion(key: &jsonwebtoken::EncodingKey, kid: &str, claims: &Value) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, claims, key).unwrap()
}

#[tokio::test]
async fn private_key_jwt_clients_sign_assertions() {
    crate::common::each_backend(private_key_jwt_on).await;
}

async fn private_key_jwt_on(backend: &'static str) {
    let s = TestServer::start_with(
        backend,
        "[oauth2]\noauth2_authn_methods = client_secret_basic,private_key_jwt\n\
         [application_credential]\nusage_flush_interval = 1\n",
    )
    .await;
    let admin = s.admin_token().await;
    let (key, jwk) = es256_key("k1");
    let mut private = jwk.clone();
    private["d"] = json!("AAAA");
    let (status, body) = create(&s, &admin, json!({"name": "leaky", "jwks": private})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, cred) = create(
        &s,
        &admin,
        json!({"name": "signer", "jwks": {"keys": [jwk]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{cred}");
    assert_eq!(cred["jwks"]["keys"][0]["kid"], "k1");
    let id = cred["id"].as_str().unwrap().to_string();
    let aud = format!("{}/v3/OS-OAUTH2/token", s.base);
    let now = s.clock.unix();
    let claims = |jti: &str, exp: i64, aud: &str| json!({"iss": id, "sub": id, "aud": aud, "exp": exp, "iat": now, "jti": jti});
    let form = |a: &str| {
        format!(
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={a}"
        )
    };
    let good = assertion(&key, "k1", &claims("j-1", now + 120, &aud));
    let (status, tok) = token_request(&s, &s.client, None, &form(&good)).await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    // The jti is recorded where every node sees it.
    use sea_orm::EntityTrait;
    let recorded = entity::client_assertion_jti::Entity::find_by_id(
        lintel::client_assertion::jti_key(&id, "j-1"),
    )
    .one(&s.db)
    .await
    .unwrap();
    assert!(recorded.is_some(), "no client_assertion_jti row");
    let (status, v) = s
        .validate(&admin, tok["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["token"]["application_credential"]["id"], id.as_str());

    // The assertion's use shows as the credential's last use, as a secret's would.
    let path = format!(
        "/v3/users/{}/application_credentials/{id}",
        cred["user_id"].as_str().unwrap()
    );
    let mut used = Value::Null;
    for _ in 0..200 {
        used = s.call(Method::GET, &path, Some(&admin), None).await.2["application_credential"]
            ["last_used_at"]
            .clone();
        if used.is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        used.is_string(),
        "{backend}: last_used_at after an assertion"
    );
    // Each refusal is invalid_client, and says which rule the assertion broke.
    let (forger, _) = es256_key("k1");
    for (a, what, message) in [
        (good.clone(), "replayed", "already used"),
        (
            assertion(&key, "k1", &claims("j-2", now + 3600, &aud)),
            "an hour long",
            "at most 300 seconds",
        ),
        (
            assertion(&key, "k1", &claims("j-3", now - 600, &aud)),
            "expired",
            "in the future",
        ),
        (
            assertion(
                &key,
                "k1",
                &claims("j-4", now + 60, "https://elsewhere/token"),
            ),
            "wrong aud",
            "token endpoint",
        ),
        (
            assertion(&forger, "k1", &claims("j-5", now + 60, &aud)),
            "forged",
            "Client authentication failed.",
        ),
    ] {
        let (status, body) = token_request(&s, &s.client, None, &form(&a)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["error"], "invalid_client", "{what}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains(message),
            "{what}: {body}"
        );
    }
    // A rotation rolls the keys over with the secret: both key sets sign during the grace, only the new one after.
    let (key2, jwk2) = es256_key("k2");
    let uid = cred["user_id"].as_str().unwrap();
    let rotate = format!("/v3/users/{uid}/application_credentials/{id}/rotate");
    let body = json!({"application_credential": {"grace_period": 600, "jwks": {"keys": [jwk2]}}});
    let (status, _, rotated) = s
        .call(Method::POST, &rotate, Some(&admin), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{backend}: {rotated}");
    let rotated = &rotated["application_credential"];
    assert_eq!(rotated["jwks"]["keys"][0]["kid"], "k2", "{backend}");
    assert_eq!(
        rotated["previous_jwks"]["keys"][0]["kid"], "k1",
        "{backend}"
    );
    for (k, kid, jti) in [(&key, "k1", "r-1"), (&key2, "k2", "r-2")] {
        let a = assertion(k, kid, &claims(jti, now + 120, &aud));
        let (status, body) = token_request(&s, &s.client, None, &form(&a)).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{backend}: {kid} in the grace: {body}"
        );
    }
    s.clock.advance(std::time::Duration::from_secs(601));
    let later = s.clock.unix();
    let mut outcome = (StatusCode::OK, Value::Null);
    for n in 0..50 {
        // The node serves again at its next beat after its clock moved.
        let a = assertion(
            &key,
            "k1",
            &json!({"iss": id, "sub": id, "aud": aud, "exp": later + 120, "iat": later, "jti": format!("old-{n}")}),
        );
        outcome = token_request(&s, &s.client, None, &form(&a)).await;
        if outcome.0 == StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        outcome.0,
        StatusCode::UNAUTHORIZED,
        "{backend}: k1 retired: {}",
        outcome.1
    );
    let a = assertion(
        &key2,
        "k2",
        &json!({"iss": id, "sub": id, "aud": aud, "exp": later + 120, "iat": later, "jti": "new-1"}),
    );
    let (status, body) = token_request(&s, &s.client, None, &form(&a)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{backend}: k2 after the grace: {body}"
    );

    // An assertion beside a secret is a malformed request.
    let (status, body) = token_request(
        &s,
        &s.client,
        Some("Basic YTpi"),
        &form(&assertion(&key2, "k2", &claims("j-6", later + 60, &aud))),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_request");

    let (_, _, meta) = s
        .call(
            Method::GET,
            "/.well-known/oauth-authorization-server",
            None,
            None,
        )
        .await;
    assert!(meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("private_key_jwt")));
    assert!(meta["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("ES256")));
    // Without mutual TLS configured, tokens are not certificate-bound.
    assert_eq!(meta["tls_client_certificate_bound_access_tokens"], false);
    s.stop().await;
}

#[tokio::test]
async fn jwt_access_tokens_carry_the_confirmation_claim() {
    let pki = Pki::new();
    let s = TestServer::start_with(
        "sqlite",
        &format!(
            "[tls]\nclient_ca_file = {}\n[oauth2]\naccess_token_format = jwt\n\
             oauth2_authn_methods = client_secret_basic,tls_client_auth\n",
            pki.ca_file
        ),
    )
    .await;
    let admin = s.admin_token().await;
    let (_, cred) = create(
        &s,
        &admin,
        json!({"name": "jwt-svc", "tls_client_auth_subject_dn": "CN=jwt-svc,O=Lintel Test"}),
    )
    .await;
    let cert = pki.issue("jwt-svc");
    let client = client_with(&s, Some(&cert));
    let (status, tok) = cert_token(&s, &client, cred["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    let jwt = tok["access_token"].as_str().unwrap();
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        payload["cnf"]["x5t#S256"],
        URL_SAFE_NO_PAD.encode(Sha256::digest(&cert.der))
    );
    let (status, v) = s.validate(&admin, jwt).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["token"]["oauth2_credential"]["x5t#S256"].is_string());
    assert_eq!(projects_with(&s, &client, jwt).await, StatusCode::OK);
    assert_eq!(
        projects_with(&s, &s.client, jwt).await,
        StatusCode::UNAUTHORIZED
    );
    s.stop().await;
}
