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
