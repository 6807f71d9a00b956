//! Lintel: a Keystone-compatible identity service built around application credentials and OAuth 2.0.

pub mod api;
pub mod assignment;
pub mod auth;
pub mod bootstrap;
pub mod catalog;
pub mod client_assertion;
pub mod clock;
pub mod config;
pub mod conn_limit;
pub mod credential;
pub mod db;
pub mod error;
pub mod hashing;
pub mod http;
pub mod metrics;
pub mod mtls;
pub mod oauth2;
pub mod peer_cert;
pub mod policy;
pub mod self_signed;
pub mod server;
pub mod state;
pub mod store;
pub mod throttle;
pub mod token;
pub mod view;
