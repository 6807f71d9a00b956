//! Transport: TLS and what rides on it. The self-signed certificate of a fresh install, client certificates
//! (RFC 8705 mutual TLS, and the peer certificate as a request sees it), session tickets any node can open, and
//! the per-source connection limits.

pub mod conn_limit;
pub mod mtls;
pub mod peer_cert;
pub mod self_signed;
pub mod tickets;
