//! Mutual TLS (RFC 8705): the rustls verifier that lets client certificates in, the certificate a connection
//! presented, and the thumbprints that bind tokens to it.
//!
//! Client certificates are optional on the listener: a client without one is served as before. A certificate that
//! chains to `[tls] client_ca_file` is marked CA-verified (`tls_client_auth`); with `self_signed_tls_client_auth`
//! enabled any certificate is let in, proven only by the handshake signature, and can then authenticate solely by
//! its thumbprint.

use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwapOption;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use x509_cert::der::Decode;

use crate::config::Config;
use crate::token::CertBinding;

/// The certificate a TLS client presented, with what authentication and token binding need of it.
#[derive(Clone)]
pub struct ClientCert {
    /// Subject DN in RFC 4514 form, as [`normalize_dn`] prints it.
    pub subject: Option<String>,
    /// Issuer DN in the same form.
    pub issuer: Option<String>,
    /// Whether it chains to a CA of `[tls] client_ca_file`.
    pub ca_verified: bool,
    /// The thumbprints tokens issued over this connection carry.
    pub binding: CertBinding,
    /// The chain as presented, the end entity first (a SPIFFE X.509-SVID is verified against its provider's
    /// trust bundle when it signs in).
    pub chain: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCert")
            .field("subject", &self.subject)
            .field("ca_verified", &self.ca_verified)
            .finish()
    }
}

impl ClientCert {
    /// Read a DER certificate that the handshake already proved the client holds the key of.
    pub fn new(der: &[u8], ca_verified: bool) -> ClientCert {
        Self::of_chain(&[CertificateDer::from(der.to_vec())], ca_verified)
    }

    /// Read a presented chain (the end entity first; never empty).
    pub fn of_chain(chain: &[CertificateDer<'_>], ca_verified: bool) -> ClientCert {
        let der: &[u8] = chain.first().map_or(&[], |c| c.as_ref());
        let parsed = x509_cert::Certificate::from_der(der).ok();
        let name = |n: &x509_cert::name::Name| n.to_string();
        ClientCert {
            subject: parsed.as_ref().map(|c| name(&c.tbs_certificate.subject)),
            issuer: parsed.as_ref().map(|c| name(&c.tbs_certificate.issuer)),
            ca_verified,
            binding: CertBinding::of(der),
            // Bounded by the TLS handshake's own limits on a certificate message.
            chain: chain.iter().map(|c| c.clone().into_owned()).collect(),
        }
    }
}

impl CertBinding {
    /// The binding of a DER certificate: SHA-256 of the DER (RFC 8705) and of its PEM text (Keystone).
    pub fn of(der: &[u8]) -> CertBinding {
        CertBinding {
            x5t_s256: Sha256::digest(der).into(),
            pem_s256: Sha256::digest(pem_text(der).as_bytes()).into(),
        }
    }

    /// RFC 8705's `x5t#S256`: base64url of SHA-256 over the DER, without padding.
    pub fn rfc(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.x5t_s256)
    }

    /// Keystone's `oauth2_credential.x5t#S256`: base64url, padded, of SHA-256 over the certificate's PEM text.
    pub fn keystone(&self) -> String {
        keystone_thumbprint(&self.pem_s256)
    }
}

/// Keystone's thumbprint text for a SHA-256 of a certificate's PEM text: base64url with padding.
pub fn keystone_thumbprint(pem_s256: &[u8; 32]) -> String {
    URL_SAFE.encode(pem_s256)
}

/// Whether a token's certificate binding, if it has one (Lintel's, or Keystone's on a token Keystone issued),
/// matches the certificate a request came with.
pub fn binding_holds(token: &crate::token::TokenData, cert: Option<&ClientCert>) -> bool {
    let lintel = token
        .cert
        .is_none_or(|b| cert.is_some_and(|c| c.binding.x5t_s256 == b.x5t_s256));
    let keystone = token
        .keystone_cert
        .is_none_or(|pem| cert.is_some_and(|c| c.binding.pem_s256 == pem));
    lintel && keystone
}

/// A certificate's PEM text exactly as Python's `ssl.DER_cert_to_PEM_cert` (and Apache's `SSL_CLIENT_CERT`) write
/// it, which is what Keystone and keystonemiddleware hash.
pub fn pem_text(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Parse an RFC 4514 distinguished name and print it the way certificate names are printed, so a configured DN
/// and a certificate's compare as strings. `None` when it is not a DN.
pub fn normalize_dn(dn: &str) -> Option<String> {
    let parse = |s: &str| x509_cert::name::Name::from_str(s).ok();
    let parsed = parse(dn.trim()).or_else(|| parse(&without_space_after_commas(dn.trim())))?;
    (!parsed.is_empty()).then(|| parsed.to_string())
}

/// `CN=a, O=b` (as OpenSSL and many operators write DNs) to RFC 4514's `CN=a,O=b`; escaped commas stay.
fn without_space_after_commas(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    let (mut escaped, mut after_comma) = (false, false);
    for ch in dn.chars() {
        if after_comma && ch == ' ' {
            continue;
        }
        after_comma = ch == ',' && !escaped;
        escaped = ch == '\\' && !escaped;
        out.push(ch);
    }
    out
}

/// Whether a string is an RFC 8705 `x5t#S256` thumbprint (43 characters of base64url, 32 bytes).
pub fn is_thumbprint(s: &str) -> bool {
    s.len() == 43 && URL_SAFE_NO_PAD.decode(s).is_ok_and(|b| b.len() == 32)
}

/// The CA check, swappable on SIGHUP so the acceptor and the handshake agree on the trusted CAs.
#[derive(Clone, Default)]
pub struct Trust(Arc<ArcSwapOption<CaVerifier>>);

/// A verifier of client certificates against the configured CAs.
pub struct CaVerifier(Arc<dyn ClientCertVerifier>);

impl Trust {
    /// Whether a presented chain verifies against the configured CAs now.
    pub fn verifies(&self, chain: &[CertificateDer<'_>]) -> bool {
        let Some((end, intermediates)) = chain.split_first() else {
            return false;
        };
        self.0.load().as_ref().is_some_and(|ca| {
            ca.0.verify_client_cert(end, intermediates, UnixTime::now())
                .is_ok()
        })
    }
}

/// The rustls verifier: offers client authentication, never requires it, and accepts a certificate that chains to
/// a configured CA or, when self-signed certificates are enabled, any certificate.
#[derive(Debug)]
struct Verifier {
    ca: Option<Arc<dyn ClientCertVerifier>>,
    accept_any: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for Verifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.ca.as_ref().map_or(&[], |ca| ca.root_hint_subjects())
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let by_ca = match &self.ca {
            Some(ca) => ca.verify_client_cert(end_entity, intermediates, now),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        };
        match by_ca {
            Err(_) if self.accept_any => Ok(ClientCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The listener's rustls configuration: certificate and key from files, client certificates as configured,
/// session tickets from `tickets` when given. Also points `trust` at the CAs it loaded.
pub fn server_config(
    config: &Config,
    cert: &std::path::Path,
    key: &std::path::Path,
    trust: &Trust,
    tickets: Option<Arc<dyn rustls::server::ProducesTickets>>,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = read_certs(cert)?;
    let key_pem = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .with_context(|| format!("reading {}", key.display()))?
        .with_context(|| format!("{}: no private key found", key.display()))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)?;
    let mut server = if config.requests_client_certs() {
        let ca = ca_verifier(config, &provider)?;
        let verifier = Verifier {
            ca: ca.clone(),
            // SPIFFE X.509-SVIDs are verified against their provider's trust bundle after the handshake.
            accept_any: config.oauth2_method(crate::oauth2::AuthMethod::SelfSignedTlsClientAuth)
                || config.federation.x509_svids,
            provider,
        };
        let built = builder
            .with_client_cert_verifier(Arc::new(verifier))
            .with_single_cert(chain, key)?;
        trust.0.store(ca.map(|v| Arc::new(CaVerifier(v))));
        built
    } else {
        builder.with_no_client_auth().with_single_cert(chain, key)?
    };
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if let Some(t) = tickets {
        server.ticketer = t;
    }
    Ok(Arc::new(server))
}

/// The verifier of client certificates against `[tls] client_ca_file`, if it is set.
fn ca_verifier(
    config: &Config,
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<Option<Arc<dyn ClientCertVerifier>>> {
    let Some(path) = &config.server.client_ca_file else {
        return Ok(None);
    };
    let mut roots = RootCertStore::empty();
    for c in read_certs(path)? {
        roots
            .add(c)
            .with_context(|| format!("{}: not a usable CA certificate", path.display()))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .with_context(|| format!("{}: no usable CA", path.display()))?;
    Ok(Some(verifier))
}

/// Check the configured TLS files (`lintel check-config`): certificate and key when given, the client CAs.
pub fn check_files(config: &Config) -> anyhow::Result<()> {
    match &config.server.tls_files {
        Some((cert, key)) => server_config(config, cert, key, &Trust::default(), None).map(|_| ()),
        None => {
            ca_verifier(config, &Arc::new(rustls::crypto::ring::default_provider())).map(|_| ())
        }
    }
}

fn read_certs(path: &std::path::Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: not PEM certificates", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{}: no certificate found",
        path.display()
    );
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_text_matches_pythons_layout() {
        let der = vec![7u8; 100];
        let pem = pem_text(&der);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        assert!(pem.ends_with("-----\n"));
        let b = CertBinding::of(&der);
        assert_eq!(b.rfc().len(), 43);
        assert!(b.keystone().ends_with('='));
        assert!(is_thumbprint(&b.rfc()));
        assert!(!is_thumbprint(&b.keystone()));
    }

    #[test]
    fn bindings_hold_only_with_their_certificate() {
        let ours = ClientCert::new(&[7u8; 100], false);
        let other = ClientCert::new(&[8u8; 100], false);
        let mut token = crate::token::tests::sample();
        assert!(
            binding_holds(&token, None),
            "an unbound token needs no certificate"
        );
        token.cert = Some(ours.binding);
        assert!(binding_holds(&token, Some(&ours)));
        assert!(!binding_holds(&token, Some(&other)));
        assert!(!binding_holds(&token, None));
        // Keystone's binding names the PEM text's hash only.
        token.cert = None;
        token.keystone_cert = Some(ours.binding.pem_s256);
        assert!(binding_holds(&token, Some(&ours)));
        assert!(!binding_holds(&token, Some(&other)));
        assert!(!binding_holds(&token, None));
    }

    #[test]
    fn dns_normalize_and_compare_with_certificates() {
        let mut params = rcgen::CertificateParams::new(vec!["client".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "svc-1");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let c = ClientCert::new(cert.der(), false);
        assert_eq!(c.subject.as_deref(), Some("CN=svc-1,O=Example"));
        assert_eq!(
            normalize_dn(" CN=svc-1, O=Example").as_deref(),
            c.subject.as_deref()
        );
        assert_eq!(
            normalize_dn("CN=svc-1,O=Example").as_deref(),
            c.subject.as_deref()
        );
        assert_eq!(
            normalize_dn("CN=a\\, b, O=Example").as_deref(),
            Some("CN=a\\, b,O=Example")
        );
        assert_eq!(normalize_dn("not a dn"), None);
        assert_eq!(normalize_dn(""), None);
    }
}
