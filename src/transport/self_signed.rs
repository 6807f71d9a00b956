//! The self-signed certificate a fresh Lintel serves with: which names it must cover, and making it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;

use crate::config::Config;

/// The names a generated certificate covers: localhost, the loopback addresses, the public endpoint's host and,
/// when listening on every address, this machine's host name and addresses.
pub fn names(config: &Config) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if let Some(host) = endpoint_host(config) {
        names.push(host);
    }
    let ip = config.server.bind.ip();
    if ip.is_unspecified() {
        names.push(crate::config::host_name());
        if let Ok(ifaces) = if_addrs::get_if_addrs() {
            names.extend(ifaces.iter().map(|i| i.ip().to_string()));
        }
    } else {
        names.push(ip.to_string());
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| !n.is_empty() && seen.insert(n.clone()));
    names
}

/// The host part of `public_endpoint` (without an IPv6 literal's brackets).
fn endpoint_host(config: &Config) -> Option<String> {
    let url = url::Url::parse(&config.default.public_endpoint).ok()?;
    Some(match url.host()? {
        url::Host::Domain(d) => d.to_ascii_lowercase(),
        url::Host::Ipv4(a) => a.to_string(),
        url::Host::Ipv6(a) => a.to_string(),
    })
}

/// Certificate and key in `data_dir/tls`, made (or made again, when the public endpoint's host is not among the
/// names of the one there) for [`names`].
pub fn ensure(config: &Config) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = config.default.data_dir.join("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let wanted = names(config);
    if cert.exists() && key.exists() {
        let host = endpoint_host(config);
        match host {
            Some(h) if !covers(&cert, &h) => {
                tracing::warn!(cert = %cert.display(), host = %h, "the generated certificate does not name the public endpoint's host: generating a new one (clients need the new file as OS_CACERT)");
            }
            _ => return Ok((cert, key)),
        }
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let generated = rcgen::generate_simple_self_signed(wanted.clone())?;
    crate::config::write_private(&key, generated.key_pair.serialize_pem().as_bytes())?;
    // Written beside and renamed into place: a client (or a second node) reading OS_CACERT while this runs sees
    // the old file or the whole new one, never a half-written PEM.
    let partial = dir.join("cert.pem.partial");
    std::fs::write(&partial, generated.cert.pem())
        .and_then(|()| std::fs::rename(&partial, &cert))
        .with_context(|| format!("writing {}", cert.display()))?;
    tracing::warn!(cert = %cert.display(), names = %wanted.join(", "), "no [tls] configured: generated a self-signed certificate; clients need it as --os-cacert / OS_CACERT");
    Ok((cert, key))
}

/// Whether the PEM certificate at `path` names `host` (a DNS name or an IP address) among its alternative names.
pub fn covers(path: &Path, host: &str) -> bool {
    let Ok(pem) = std::fs::read(path) else {
        return false;
    };
    let Some(Ok(der)) = rustls_pemfile::certs(&mut pem.as_slice()).next() else {
        return false;
    };
    let Ok(cert) = x509_cert::Certificate::from_der(&der) else {
        return false;
    };
    let ip: Option<IpAddr> = host.parse().ok();
    let Ok(Some((_, san))) = cert.tbs_certificate.get::<SubjectAltName>() else {
        return false;
    };
    san.0.iter().any(|name| match (name, ip) {
        (GeneralName::DnsName(d), None) => d.as_str().eq_ignore_ascii_case(host),
        (GeneralName::IpAddress(bytes), Some(ip)) => match ip {
            IpAddr::V4(v4) => bytes.as_bytes() == v4.octets(),
            IpAddr::V6(v6) => bytes.as_bytes() == v6.octets(),
        },
        _ => false,
    })
}
