//! SPIFFE X.509-SVIDs: a provider's trust bundle (the CA certificates that issue its workloads' certificates).

use rustls::pki_types::CertificateDer;

/// Most certificates a trust bundle may hold.
pub const BUNDLE_MAX: usize = 50;

/// The certificates of a PEM trust bundle: at least one, at most [`BUNDLE_MAX`], each a parseable certificate.
pub fn parse_bundle(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut certs = Vec::new();
    for item in rustls_pemfile::certs(&mut pem.as_bytes()) {
        let cert = item.map_err(|e| format!("not PEM certificates: {e}"))?;
        use x509_cert::der::Decode;
        x509_cert::Certificate::from_der(&cert).map_err(|e| format!("not a certificate: {e}"))?;
        certs.push(cert);
        if certs.len() > BUNDLE_MAX {
            return Err(format!("more than {BUNDLE_MAX} certificates"));
        }
    }
    if certs.is_empty() {
        return Err("no PEM certificate found".into());
    }
    Ok(certs)
}

/// A verified X.509-SVID's SPIFFE ID, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpiffeId {
    /// `spiffe://TRUST_DOMAIN/PATH`.
    pub id: String,
    /// `spiffe://TRUST_DOMAIN` (what a provider's remote ids name).
    pub trust_domain: String,
    /// `/PATH`.
    pub path: String,
}

impl SpiffeId {
    /// The claims a mapping reads: `sub` (the SPIFFE ID), `iss` (the trust domain), `trust_domain`, `path`.
    pub fn claims(&self) -> serde_json::Value {
        serde_json::json!({
            "sub": self.id,
            "iss": self.trust_domain,
            "spiffe_id": self.id,
            "trust_domain": self.trust_domain.trim_start_matches("spiffe://"),
            "path": self.path,
        })
    }
}

/// The SPIFFE ID of an X.509-SVID (the X.509-SVID standard: exactly one URI SAN, `spiffe://` with a trust domain
/// and a path, on a certificate that is not a CA).
pub fn spiffe_id(der: &[u8]) -> Result<SpiffeId, String> {
    use x509_cert::der::Decode;
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName};
    let cert =
        x509_cert::Certificate::from_der(der).map_err(|e| format!("not a certificate: {e}"))?;
    let mut uris = Vec::new();
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        let oid = ext.extn_id.to_string();
        if oid == "2.5.29.19" {
            let bc = BasicConstraints::from_der(ext.extn_value.as_bytes())
                .map_err(|e| format!("basic constraints: {e}"))?;
            if bc.ca {
                return Err("an X.509-SVID must not be a CA certificate".into());
            }
        }
        if oid == "2.5.29.17" {
            let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
                .map_err(|e| format!("subject alternative names: {e}"))?;
            for name in san.0 {
                if let GeneralName::UniformResourceIdentifier(u) = name {
                    uris.push(u.to_string());
                }
            }
        }
    }
    let [uri] = uris.as_slice() else {
        return Err("an X.509-SVID has exactly one URI subject alternative name".into());
    };
    let rest = uri
        .strip_prefix("spiffe://")
        .ok_or("the URI subject alternative name is not a SPIFFE ID")?;
    let (domain, path) = rest.split_once('/').ok_or("a SPIFFE ID needs a path")?;
    let domain_ok = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._".contains(c));
    if !domain_ok || path.is_empty() || uri.len() > 2048 {
        return Err("not a valid SPIFFE ID".into());
    }
    Ok(SpiffeId {
        id: uri.clone(),
        trust_domain: format!("spiffe://{domain}"),
        path: format!("/{path}"),
    })
}

/// Verify a presented chain against a provider's trust bundle (as a TLS client certificate, now), and read its
/// SPIFFE ID.
pub fn verify(chain: &[CertificateDer<'_>], bundle_pem: &str) -> Result<SpiffeId, String> {
    let (end, intermediates) = chain.split_first().ok_or("no certificate")?;
    let mut roots = rustls::RootCertStore::empty();
    for c in parse_bundle(bundle_pem)? {
        roots.add(c).map_err(|e| format!("trust bundle: {e}"))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        std::sync::Arc::new(roots),
        provider,
    )
    .build()
    .map_err(|e| format!("trust bundle: {e}"))?;
    verifier
        .verify_client_cert(end, intermediates, rustls::pki_types::UnixTime::now())
        .map_err(|e| format!("the certificate does not chain to the trust bundle: {e}"))?;
    spiffe_id(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(uris: &[&str], ca: bool) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.subject_alt_names = uris
            .iter()
            .map(|u| rcgen::SanType::URI((*u).try_into().unwrap()))
            .collect();
        if ca {
            p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn an_svid_has_one_spiffe_uri_and_is_no_ca() {
        let id = spiffe_id(&cert(&["spiffe://example.org/ns/ci/sa/x"], false)).unwrap();
        assert_eq!(id.trust_domain, "spiffe://example.org");
        assert_eq!(id.path, "/ns/ci/sa/x");
        assert_eq!(id.claims()["trust_domain"], "example.org");
        for (bad, why) in [
            (cert(&["spiffe://example.org/a"], true), "a CA"),
            (
                cert(&["spiffe://a.org/x", "spiffe://b.org/y"], false),
                "two URIs",
            ),
            (cert(&["https://example.org/x"], false), "not spiffe"),
            (cert(&["spiffe://example.org"], false), "no path"),
            (
                cert(&["spiffe://Example.ORG/x"], false),
                "upper case trust domain",
            ),
            (cert(&[], false), "no URI"),
        ] {
            assert!(spiffe_id(&bad).is_err(), "{why}");
        }
    }
}
