//! Identity: users, groups and their memberships. Each function checks its input, enforces policy for the
//! caller, writes through the store, writes the revocation events its change calls for and tells the caches.

pub mod groups;
pub mod passwords;
pub mod service_accounts;
pub mod users;
