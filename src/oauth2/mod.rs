//! OAuth 2.0 client credentials (RFC 6749 §4.4): client authentication parsing and RFC-shaped errors.
//!
//! The request's parts are read by pure functions here, so the rules are testable without a server; `client`
//! checks the client's proof and `grant` issues its token. The handlers in `api/oauth2*.rs` only speak HTTP.

pub mod client;
pub mod grant;
pub mod jwt_bearer;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::crypto::hashing::Secret;
use crate::error::DomainError;

/// An error of the token endpoint, answered as `{"error", "error_description"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// 400 `invalid_request`.
    #[error("{0}")]
    InvalidRequest(String),
    /// 401 `invalid_client`: the same answer whatever went wrong.
    #[error("Client authentication failed.")]
    InvalidClient,
    /// 401 `invalid_client` naming the rule a client assertion broke (it reveals nothing a forger could use).
    #[error("{0}")]
    InvalidClientAssertion(String),
    /// 400 `unsupported_grant_type`.
    #[error("The parameter grant_type {0} is not supported.")]
    UnsupportedGrantType(String),
    /// 400 `invalid_scope`.
    #[error("{0}")]
    InvalidScope(String),
    /// 400 `invalid_grant`: the assertion of a JWT bearer grant was refused (RFC 7523 §3.1).
    #[error("{0}")]
    InvalidGrant(String),
    /// 503 `temporarily_unavailable` with `Retry-After`.
    #[error("The server is busy verifying other clients; retry shortly.")]
    TemporarilyUnavailable,
    /// 429 `slow_down` with `Retry-After`: too many recent failures.
    #[error("Too many failed attempts; retry after {}.", crate::error::seconds(*.0))]
    SlowDown(u64),
    /// 403 `access_denied`: authenticated, but not allowed to use this endpoint.
    #[error("{0}")]
    AccessDenied(String),
    /// 500 `server_error` (logged; a bug).
    #[error("An unexpected error prevented the server from issuing a token.")]
    ServerError,
}

impl OAuthError {
    /// A request body over `[oslo_middleware] max_request_body_size`.
    pub fn body_too_large() -> Self {
        OAuthError::InvalidRequest("The request body is too large.".into())
    }

    /// The RFC 6749 error code.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient | OAuthError::InvalidClientAssertion(_) => "invalid_client",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::TemporarilyUnavailable => "temporarily_unavailable",
            OAuthError::SlowDown(_) => "slow_down",
            OAuthError::AccessDenied(_) => "access_denied",
            OAuthError::ServerError => "server_error",
        }
    }
}

/// The one translation from domain errors to RFC 6749's vocabulary. A failed authentication of any kind is
/// `invalid_client` (nothing that tells a guesser which part was wrong); an outage asks the client to retry.
impl From<DomainError> for OAuthError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Unauthenticated(_) | DomainError::NotFound(_) => OAuthError::InvalidClient,
            DomainError::Invalid(m) => OAuthError::InvalidRequest(m),
            DomainError::Forbidden(m) => OAuthError::AccessDenied(m),
            DomainError::Throttled(secs) => OAuthError::SlowDown(secs),
            DomainError::Busy => OAuthError::TemporarilyUnavailable,
            DomainError::StoreUnavailable(detail) | DomainError::Contention(detail) => {
                tracing::warn!(error = %detail, "database unavailable or contended");
                OAuthError::TemporarilyUnavailable
            }
            other @ (DomainError::Conflict(_) | DomainError::Internal(_)) => {
                tracing::error!(error = %other, "token endpoint failure");
                OAuthError::ServerError
            }
        }
    }
}

/// Client credentials as presented, before any check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    /// The credential id.
    pub id: String,
    /// The secret.
    pub secret: SecretText,
    /// A second reading of a Basic header, form-decoded as RFC 6749 §2.3.1 says (authlib encodes so), when it
    /// differs from the first.
    pub decoded: Option<(String, SecretText)>,
    /// Which method the client used.
    pub method: AuthMethod,
}

/// A secret that compares and prints safely inside [`ClientAuth`].
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(pub String);

/// A secret is a string on the wire.
impl utoipa::PartialSchema for SecretText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <String as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for SecretText {}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl SecretText {
    /// As a [`Secret`].
    pub fn secret(&self) -> Secret {
        Secret::new(self.0.clone())
    }
}

/// The client authentication methods, by their RFC 7591 names (`[oauth2] oauth2_authn_methods`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum AuthMethod {
    /// The secret in HTTP Basic.
    ClientSecretBasic,
    /// The secret in form fields.
    ClientSecretPost,
    /// A certificate from a trusted CA naming the client's subject DN (RFC 8705 §2.1).
    TlsClientAuth,
    /// A self-signed certificate whose thumbprint the client registered (RFC 8705 §2.2).
    SelfSignedTlsClientAuth,
    /// A JWT signed with the client's registered key (RFC 7523).
    PrivateKeyJwt,
}

/// The parsed form: each parameter at most once (RFC 6749 §3.2).
#[derive(Debug, Default, utoipa::ToSchema)]
#[schema(as = OAuth2Form)]
pub struct Form {
    /// `grant_type`.
    pub grant_type: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `client_secret`.
    pub client_secret: Option<SecretText>,
    /// `scope`.
    pub scope: Option<String>,
    /// `token` (introspection and revocation).
    pub token: Option<SecretText>,
    /// `token_type_hint` (introspection and revocation; advisory).
    pub token_type_hint: Option<String>,
    /// `client_assertion_type` (RFC 7521 §4.2).
    pub client_assertion_type: Option<String>,
    /// `client_assertion`.
    pub client_assertion: Option<SecretText>,
    /// `assertion` (the JWT bearer grant, RFC 7523 §2.1).
    pub assertion: Option<SecretText>,
}

/// Decode an `application/x-www-form-urlencoded` body; other content types carry no parameters (as Keystone).
pub fn parse_form(content_type: Option<&str>, body: &[u8]) -> Result<Form, OAuthError> {
    let is_form = content_type
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    if !is_form {
        if body.is_empty() {
            return Ok(Form::default());
        }
        // Keystone reads nothing from such a body and then asks for grant_type; name the real mistake.
        let shown: String = content_type
            .unwrap_or("none")
            .chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .take(64)
            .collect();
        return Err(OAuthError::InvalidRequest(format!(
            "The request body must be application/x-www-form-urlencoded (RFC 6749), not {shown}."
        )));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
        OAuthError::InvalidRequest("The request body is not valid form encoding.".into())
    })?;
    if pairs
        .iter()
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(OAuthError::InvalidRequest(
            "A form parameter contains a NUL character.".into(),
        ));
    }
    let mut form = Form::default();
    for (k, v) in pairs {
        let slot_taken = match k.as_str() {
            "grant_type" => form.grant_type.replace(v).is_some(),
            "client_id" => form.client_id.replace(v).is_some(),
            "client_secret" => form.client_secret.replace(SecretText(v)).is_some(),
            "scope" => form.scope.replace(v).is_some(),
            "token" => form.token.replace(SecretText(v)).is_some(),
            "token_type_hint" => form.token_type_hint.replace(v).is_some(),
            "client_assertion_type" => form.client_assertion_type.replace(v).is_some(),
            "client_assertion" => form.client_assertion.replace(SecretText(v)).is_some(),
            "assertion" => form.assertion.replace(SecretText(v)).is_some(),
            _ => false,
        };
        if slot_taken {
            return Err(OAuthError::InvalidRequest(format!(
                "The parameter {k} must not be repeated."
            )));
        }
    }
    Ok(form)
}

/// Check `grant_type`, first of all, as Keystone does.
pub fn check_grant(form: &Form) -> Result<(), OAuthError> {
    match form.grant_type.as_deref() {
        None | Some("") => Err(OAuthError::InvalidRequest(
            "The parameter grant_type is required.".into(),
        )),
        Some("client_credentials" | jwt_bearer::GRANT_TYPE) => Ok(()),
        Some(other) => Err(OAuthError::UnsupportedGrantType(
            other.chars().take(64).collect(),
        )),
    }
}

/// How a client proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// A secret: `client_secret_basic` or `client_secret_post`.
    Secret(ClientAuth),
    /// The connection's client certificate (`tls_client_auth`, `self_signed_tls_client_auth`), for this client id.
    Certificate(String),
    /// A signed JWT (`private_key_jwt`) by the client it names.
    Assertion {
        /// The client the assertion claims to be (checked when it is verified).
        id: String,
        /// The assertion.
        assertion: SecretText,
    },
}

/// Work out which enabled method the client used: an assertion if it sent one, its certificate if it sent only a
/// `client_id` over mutual TLS, else a secret.
pub fn client_proof(
    authorization: Option<&[u8]>,
    form: &Form,
    has_cert: bool,
    enabled: impl Fn(AuthMethod) -> bool,
) -> Result<Proof, OAuthError> {
    let basic = authorization.is_some();
    if form.client_assertion_type.is_some() || form.client_assertion.is_some() {
        if basic || form.client_secret.is_some() {
            return Err(OAuthError::InvalidRequest(
                "Use one client authentication method: not both a client assertion and a secret."
                    .into(),
            ));
        }
        if form.client_assertion_type.as_deref() != Some(crate::client_assertion::ASSERTION_TYPE) {
            return Err(OAuthError::InvalidRequest(format!(
                "The parameter client_assertion_type must be {}.",
                crate::client_assertion::ASSERTION_TYPE
            )));
        }
        let Some(assertion) = form.client_assertion.clone().filter(|a| !a.0.is_empty()) else {
            return Err(OAuthError::InvalidRequest(
                "The parameter client_assertion is required.".into(),
            ));
        };
        if !enabled(AuthMethod::PrivateKeyJwt) {
            return Err(OAuthError::InvalidClient);
        }
        let id = crate::client_assertion::claimed_client(&assertion.0)
            .ok_or(OAuthError::InvalidClient)?;
        if form.client_id.as_ref().is_some_and(|c| *c != id) {
            return Err(OAuthError::InvalidRequest(
                "The client_id parameter does not match the client assertion's subject.".into(),
            ));
        }
        return Ok(Proof::Assertion { id, assertion });
    }
    let cert_methods =
        enabled(AuthMethod::TlsClientAuth) || enabled(AuthMethod::SelfSignedTlsClientAuth);
    if has_cert && cert_methods && !basic && form.client_secret.is_none() {
        if let Some(id) = form.client_id.as_ref().filter(|i| !i.is_empty()) {
            return Ok(Proof::Certificate(id.clone()));
        }
    }
    client_auth(
        authorization,
        form,
        enabled(AuthMethod::ClientSecretBasic),
        enabled(AuthMethod::ClientSecretPost),
    )
    .map(Proof::Secret)
}

/// Work out how the client authenticated with a secret, allowing only the enabled methods.
pub fn client_auth(
    authorization: Option<&[u8]>,
    form: &Form,
    basic_on: bool,
    post_on: bool,
) -> Result<ClientAuth, OAuthError> {
    if let Some(value) = authorization {
        if form.client_secret.is_some() {
            return Err(OAuthError::InvalidRequest(
                "Use one client authentication method: not both a Basic header and client_secret."
                    .into(),
            ));
        }
        if !basic_on {
            return Err(OAuthError::InvalidClient);
        }
        let (id, secret) = parse_basic(value).ok_or(OAuthError::InvalidClient)?;
        if form.client_id.as_ref().is_some_and(|c| *c != id) {
            return Err(OAuthError::InvalidRequest(
                "The client_id parameter does not match the Basic credentials.".into(),
            ));
        }
        // Only `+` and `%XX` read differently form-decoded: without them there is no second reading.
        let encoded = |s: &str| s.contains(['+', '%']);
        let decoded = if encoded(&id) || encoded(&secret) {
            match (form_decode(&id), form_decode(&secret)) {
                (Some(i), Some(s)) if i != id || s != secret => Some((i, SecretText(s))),
                _ => None,
            }
        } else {
            None
        };
        return Ok(ClientAuth {
            id,
            secret: SecretText(secret),
            decoded,
            method: AuthMethod::ClientSecretBasic,
        });
    }
    match (&form.client_id, &form.client_secret) {
        (Some(id), Some(secret)) if post_on && !id.is_empty() && !secret.0.is_empty() => {
            Ok(ClientAuth {
                id: id.clone(),
                secret: secret.clone(),
                decoded: None,
                method: AuthMethod::ClientSecretPost,
            })
        }
        _ => Err(OAuthError::InvalidClient),
    }
}

/// The client id a request claims (form `client_id`, else the Basic user), for the access log: printable
/// characters only, at most 64 of them; never the secret.
pub fn claimed_client(authorization: Option<&[u8]>, form: &Form) -> Option<String> {
    let id = form
        .client_id
        .clone()
        .or_else(|| parse_basic(authorization?).map(|(id, _)| id))?;
    Some(id.chars().filter(char::is_ascii_graphic).take(64).collect())
}

/// `Basic base64(id:secret)`, strictly: valid base64, UTF-8, a colon, neither part empty.
fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, rest) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = STANDARD.decode(rest.trim()).ok()?;
    let pair = String::from_utf8(raw).ok()?;
    let (id, secret) = pair.split_once(':')?;
    let usable = |s: &str| !s.is_empty() && !s.contains('\0');
    (usable(id) && usable(secret)).then(|| (id.to_string(), secret.to_string()))
}

/// RFC 6749 §2.3.1 form-decoding of a Basic component (`+` is a space, `%XX` an octet).
fn form_decode(s: &str) -> Option<String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&format!("v={}", s.replace('&', "%26").replace('=', "%3D")))
            .ok()?;
    pairs.into_iter().next().map(|(_, v)| v)
}

/// Requested scope: space-separated role names (a name containing a space cannot be requested this way).
pub fn requested_roles(scope: Option<&str>) -> Option<Vec<String>> {
    let s = scope?.trim();
    if s.is_empty() {
        return None;
    }
    Some(
        s.split(' ')
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;
    fn headers(auth: &str) -> Option<&[u8]> {
        Some(auth.as_bytes())
    }

    fn form(body: &str) -> Form {
        parse_form(Some("application/x-www-form-urlencoded"), body.as_bytes()).unwrap()
    }

    #[test]
    fn grant_type_comes_first() {
        assert_eq!(
            check_grant(&form("")),
            Err(OAuthError::InvalidRequest(
                "The parameter grant_type is required.".into()
            ))
        );
        assert_eq!(
            check_grant(&form("grant_type=password")),
            Err(OAuthError::UnsupportedGrantType("password".into()))
        );
        assert!(check_grant(&form("grant_type=client_credentials")).is_ok());
        // A JSON body is named for what it is, not reported as a missing grant_type.
        match parse_form(
            Some("application/json"),
            br#"{"grant_type":"client_credentials"}"#,
        ) {
            Err(OAuthError::InvalidRequest(why)) => {
                assert!(why.contains("application/x-www-form-urlencoded"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        assert!(check_grant(&parse_form(None, b"").unwrap()).is_err());
        assert!(parse_form(
            Some("application/x-www-form-urlencoded"),
            b"grant_type=a&grant_type=b"
        )
        .is_err());
    }

    #[test]
    fn basic_parsing_is_strict() {
        let f = form("grant_type=client_credentials");
        let ok = format!("Basic {}", STANDARD.encode("id:sec:ret"));
        let auth = client_auth(headers(&ok), &f, true, true).unwrap();
        assert_eq!(
            (auth.id.as_str(), auth.secret.0.as_str()),
            ("id", "sec:ret")
        );
        for bad in [
            "Basic !!!",
            "Basic",
            "Bearer abc",
            &format!("Basic {}", STANDARD.encode("nocolon")),
            &format!("Basic {}", STANDARD.encode("id:")),
            &format!("Basic {}", STANDARD.encode(":")),
            &format!("Basic {}", STANDARD.encode([0xff, b':', 0xfe])),
        ] {
            assert_eq!(
                client_auth(headers(bad), &f, true, true),
                Err(OAuthError::InvalidClient),
                "{bad}"
            );
        }
        assert_eq!(
            client_auth(None, &f, true, true),
            Err(OAuthError::InvalidClient)
        );
    }

    #[test]
    fn basic_and_post_combinations() {
        let basic = format!("Basic {}", STANDARD.encode("id:secret"));
        let h = headers(&basic);
        assert!(matches!(
            client_auth(
                h,
                &form("grant_type=client_credentials&client_secret=x"),
                true,
                true
            ),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert!(client_auth(
            h,
            &form("grant_type=client_credentials&client_id=id"),
            true,
            true
        )
        .is_ok());
        assert!(matches!(
            client_auth(
                h,
                &form("grant_type=client_credentials&client_id=other"),
                true,
                true
            ),
            Err(OAuthError::InvalidRequest(_))
        ));
        let post = client_auth(
            None,
            &form("grant_type=client_credentials&client_id=id&client_secret=s"),
            true,
            true,
        )
        .unwrap();
        assert_eq!(post.method, AuthMethod::ClientSecretPost);
        assert_eq!(
            client_auth(None, &form("client_id=id&client_secret=s"), true, false),
            Err(OAuthError::InvalidClient),
            "post disabled"
        );
    }

    #[test]
    fn form_encoded_basic_gets_a_second_reading() {
        let basic = format!("Basic {}", STANDARD.encode("id:a%2Bb+c"));
        let h = headers(&basic);
        let auth = client_auth(h, &form("grant_type=client_credentials"), true, true).unwrap();
        assert_eq!(auth.secret.0, "a%2Bb+c");
        assert_eq!(auth.decoded.map(|(_, s)| s.0), Some("a+b c".to_string()));
        assert_eq!(format!("{:?}", SecretText("x".into())), "***");
    }

    #[test]
    fn the_method_follows_what_the_client_sent() {
        let all = |_: AuthMethod| true;
        let f = form("grant_type=client_credentials&client_id=abc");
        assert_eq!(
            client_proof(None, &f, true, all),
            Ok(Proof::Certificate("abc".into()))
        );
        assert_eq!(
            client_proof(None, &f, false, all),
            Err(OAuthError::InvalidClient),
            "no certificate, no secret"
        );
        let no_mtls = |m: AuthMethod| {
            !matches!(
                m,
                AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth
            )
        };
        assert_eq!(
            client_proof(None, &f, true, no_mtls),
            Err(OAuthError::InvalidClient)
        );
        let bad_type = form("client_assertion_type=x&client_assertion=a.b.c");
        assert!(matches!(
            client_proof(None, &bad_type, false, all),
            Err(OAuthError::InvalidRequest(_))
        ));
        let t = crate::client_assertion::ASSERTION_TYPE;
        let not_jwt = form(&format!("client_assertion_type={t}&client_assertion=abc"));
        assert_eq!(
            client_proof(None, &not_jwt, false, all),
            Err(OAuthError::InvalidClient)
        );
        let basic = format!("Basic {}", STANDARD.encode("id:secret"));
        let h = headers(&basic);
        assert!(matches!(
            client_proof(h, &not_jwt, false, all),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            client_proof(h, &form("grant_type=client_credentials"), true, all),
            Ok(Proof::Secret(_))
        ));
    }

    #[test]
    fn scope_is_space_separated_role_names() {
        assert_eq!(
            requested_roles(Some("reader  member")),
            Some(vec!["reader".to_string(), "member".to_string()])
        );
        assert_eq!(requested_roles(Some("  ")), None);
        assert_eq!(requested_roles(None), None);
    }
}
