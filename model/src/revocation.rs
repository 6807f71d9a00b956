//! Revocation events: what a change that takes authority away records, and every node applies to the tokens it
//! validates.

use chrono::NaiveDateTime;

/// What an event matches; each variant is one combination of fields Lintel emits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RevKey {
    /// One token (and tokens rescoped from it) by audit id.
    Audit(String),
    /// Every token of a user.
    User(String),
    /// Every token scoped to a project.
    Project(String),
    /// A user's tokens on one project.
    UserProject(String, String),
    /// Every token whose user or project is in a domain, or scoped to it.
    Domain(String),
    /// Every token carrying a role.
    Role(String),
    /// Every token from an application credential.
    AppCred(String),
}

/// A revocation event to record.
#[derive(Debug, Clone)]
pub struct Event {
    /// What it matches.
    pub key: RevKey,
    /// Tokens issued at or before this instant are revoked.
    pub issued_before: NaiveDateTime,
}

impl Event {
    /// An event revoking matching tokens issued up to `clock`'s now.
    pub fn now(clock: &crate::clock::Clock, key: RevKey) -> Event {
        Event {
            key,
            issued_before: clock.now(),
        }
    }
}
