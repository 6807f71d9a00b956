//! Application credentials as the domain holds them.

use crate::{AccessRule, AppCred, Role};

/// An access rule in a create request: a new rule, or an existing one of the user's by id.
#[derive(Debug, Clone)]
pub enum RuleRef {
    /// Reuse a rule.
    Id(String),
    /// A new rule.
    New {
        /// Service type, e.g. `compute`.
        service: String,
        /// HTTP method.
        method: String,
        /// URL path template.
        path: String,
    },
}

/// A stored credential with its roles and rules.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The row.
    pub model: AppCred,
    /// Its roles (implied roles included), by name.
    pub roles: Vec<Role>,
    /// Its access rules.
    pub rules: Vec<AccessRule>,
}

impl Credential {
    /// Whether it is restricted (the default).
    pub fn restricted(&self) -> bool {
        self.model.unrestricted != Some(true)
    }
}
