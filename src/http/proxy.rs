//! Who a request came from behind reverse proxies, and which `X-Forwarded-*` headers may be believed.
//!
//! Proxies such as HAProxy (`option forwardfor`) and nginx (`$proxy_add_x_forwarded_for`) append the address they
//! saw to whatever `X-Forwarded-For` the client sent, so only the hops on the right were written by proxies; the
//! rest is the client's own text. The source is therefore the rightmost hop that is not itself a trusted proxy
//! (`[server] trusted_proxies`). A request whose peer is not a trusted proxy has its forwarding headers removed
//! before anything reads them, so a client talking to Lintel directly can claim neither an address nor HTTPS.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, HeaderName};
use ipnet::IpNet;

use crate::config::ServerSection;

/// The headers a trusted proxy sets, and nobody else may.
const FORWARDING: [HeaderName; 4] = [
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("forwarded"),
];

/// The connection's peer address, as the listener recorded it.
pub fn peer(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Whether `ip` is one of the trusted proxies.
fn trusted(ip: &IpAddr, proxies: &[IpNet]) -> bool {
    // An IPv4 proxy seen on a dual-stack socket arrives as ::ffff:a.b.c.d.
    let ip = ip.to_canonical();
    proxies.iter().any(|n| n.contains(&ip))
}

/// Whether this request's forwarding headers come from a proxy Lintel trusts.
pub fn believed(server: &ServerSection, peer: Option<IpAddr>) -> bool {
    server.trust_proxy_headers && peer.is_some_and(|p| trusted(&p, &server.trusted_proxies))
}

/// Remove forwarding headers that no trusted proxy set (cheap when there are none, as on most requests).
pub fn strip_unbelieved(server: &ServerSection, headers: &mut HeaderMap, peer: Option<IpAddr>) {
    if FORWARDING.iter().any(|h| headers.contains_key(h)) && !believed(server, peer) {
        for h in &FORWARDING {
            headers.remove(h);
        }
    }
}

/// The client behind `peer` (a trusted proxy): the rightmost `X-Forwarded-For` hop that is not a trusted proxy,
/// over every such header in order. A hop that is not an address (the client's own text) ends the walk at the
/// last proxy-written one.
pub fn client_of<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    proxies: &[IpNet],
) -> IpAddr {
    let mut last = peer;
    for hop in forwarded_for.rev().flat_map(|h| h.rsplit(',')) {
        let Some(ip) = parse_hop(hop.trim()) else {
            return last;
        };
        if !trusted(&ip, proxies) {
            return ip;
        }
        last = ip;
    }
    last
}

/// An address as proxies write it: bare, or with a port (`1.2.3.4:5678`, `[::1]:5678`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The source of a request: the client behind a trusted proxy, else the peer.
pub fn source(
    server: &ServerSection,
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
) -> Option<IpAddr> {
    let peer = peer(extensions)?;
    if !believed(server, Some(peer)) {
        return Some(peer);
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    Some(client_of(peer, hops, &server.trusted_proxies))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_source_is_the_rightmost_hop_no_trusted_proxy_wrote() {
        let proxies = nets(&["10.0.0.0/24", "127.0.0.1/32"]);
        let from = |peer: &str, headers: &[&'static str]| {
            client_of(ip(peer), headers.iter().copied(), &proxies)
        };
        // One proxy: what it appended, whatever the client wrote before it.
        assert_eq!(
            from("127.0.0.1", &["6.6.6.6, 203.0.113.9"]),
            ip("203.0.113.9")
        );
        // Two proxies: the one nearer the client is skipped too.
        assert_eq!(
            from("127.0.0.1", &["6.6.6.6, 203.0.113.9, 10.0.0.5"]),
            ip("203.0.113.9")
        );
        // Several header lines are one list, in order.
        assert_eq!(
            from("127.0.0.1", &["6.6.6.6", "203.0.113.9"]),
            ip("203.0.113.9")
        );
        // Ports and IPv6 as some proxies write them; IPv4 mapped into IPv6 is the IPv4 address.
        assert_eq!(from("127.0.0.1", &["203.0.113.9:4711"]), ip("203.0.113.9"));
        assert_eq!(
            from("127.0.0.1", &["[2001:db8::1]:4711"]),
            ip("2001:db8::1")
        );
        assert_eq!(
            from("127.0.0.1", &["::ffff:203.0.113.9"]),
            ip("203.0.113.9")
        );
        // Text that is no address ends the walk at the last hop a proxy wrote.
        assert_eq!(from("127.0.0.1", &["victim, 10.0.0.5"]), ip("10.0.0.5"));
        // Nothing forwarded: the peer itself.
        assert_eq!(from("127.0.0.1", &[]), ip("127.0.0.1"));
    }

    #[test]
    fn only_a_trusted_peer_is_believed() {
        let mut server = crate::config::Config::defaults().unwrap().server;
        server.trusted_proxies = nets(&["127.0.0.1/32"]);
        assert!(
            !believed(&server, Some(ip("127.0.0.1"))),
            "parsing is off by default"
        );
        server.trust_proxy_headers = true;
        assert!(believed(&server, Some(ip("127.0.0.1"))));
        assert!(believed(&server, Some(ip("::ffff:127.0.0.1"))));
        assert!(!believed(&server, Some(ip("192.0.2.7"))));
        assert!(!believed(&server, None));

        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        strip_unbelieved(&server, &mut headers, Some(ip("127.0.0.1")));
        assert_eq!(headers.len(), 2, "a trusted proxy's headers stay");
        strip_unbelieved(&server, &mut headers, Some(ip("192.0.2.7")));
        assert!(headers.is_empty(), "a direct client's claims go");
    }
}
