//! Integration tests: one crate (one link) for all of them, each module a subsystem.

// Tests time real waits (start-up, drain); expiries are reached by moving the server's clock, never by sleeping.
#![allow(clippy::disallowed_methods)]
// A failed assumption in a test (or its helpers) is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_identity;
mod api_scopes;
mod api_tokens;
mod app_creds;
mod audit;
mod cli;
mod common;
mod federated_signin;
mod federation;
mod first_hour;
mod fixture;
mod generated;
mod hostile;
mod http_conn;
mod layering;
mod legacy_hashes;
mod mtls;
mod nodes;
mod oauth2;
mod openapi;
mod ops;
mod outage;
mod parity;
mod password_rules;
mod proxy;
mod resumption;
mod revocation_race;
mod rotation;
mod sample_config;
