//! Integration tests: one crate (one link) for all of them, each module a subsystem.

mod api_identity;
mod api_scopes;
mod api_tokens;
mod app_creds;
mod cli;
mod common;
mod first_hour;
mod mtls;
mod oauth2;
mod ops;
mod parity;
mod sample_config;
