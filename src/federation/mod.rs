//! Federation (Keystone's OS-FEDERATION API): identity providers, mappings and protocols, and sign-ins with the
//! identity a workload's platform already gives it — an OpenID Connect token or a Kubernetes or CI JWT, validated
//! here without Apache, or a SPIFFE X.509-SVID — mapped by Keystone's rules to a federated user. See
//! docs/federation.md.

pub mod jwt;
pub mod manage;
pub mod mapping;
pub mod signin;
pub mod svid;

pub use manage::{ProtocolFields, Provider, ProviderFields};
