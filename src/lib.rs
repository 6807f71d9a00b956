//! Lintel: a Keystone-compatible identity service built around application credentials and OAuth 2.0.

pub mod access_log;
pub mod api;
pub mod assignment;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod catalog;
pub mod client_assertion;
pub mod cluster;
pub mod config;
pub mod context;
pub mod credential;
pub mod crypto;
pub mod federation;
pub mod http;
pub mod identity;
pub mod log_sink;
pub mod metrics;
pub use lintel_model as model;
pub use lintel_model::{clock, error, rules};
pub use lintel_store as store;
pub mod oauth2;
pub mod policy;
pub mod resource;
pub mod server;
pub mod state;
#[cfg(test)]
pub mod testing;
pub mod throttle;
pub mod token;
pub mod transport;
pub mod view;
