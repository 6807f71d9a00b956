//! Resources: domains (and, next, projects). Each function checks its input, enforces policy for the caller,
//! writes through the store, writes the revocation events its change calls for and tells the caches.

pub mod domains;
pub mod projects;
