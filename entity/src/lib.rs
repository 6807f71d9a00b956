//! SeaORM entities for the Lintel identity schema.

pub mod prelude;

mod model;

pub mod access_rule;
pub mod application_credential;
pub mod application_credential_access_rule;
pub mod application_credential_role;
pub mod application_credential_witness;
pub mod assignment;
pub mod client_assertion_jti;
pub mod domain;
pub mod endpoint;
pub mod federated_user;
pub mod federation_mapping;
pub mod federation_protocol;
pub mod group;
pub mod identity_provider;
pub mod idp_remote_id;
pub mod implied_role;
pub mod node;
pub mod password_history;
pub mod project;
pub mod project_tag;
pub mod region;
pub mod revocation_event;
pub mod role;
pub mod service;
pub mod token_key;
pub mod user;
pub mod user_credential_serial;
pub mod user_group_membership;
pub mod view_change;
