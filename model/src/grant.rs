//! Where a role is granted.

/// The target of a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A project id.
    Project(String),
    /// A domain id.
    Domain(String),
    /// The system.
    System,
}

/// Value of `assignment.target_id` for system grants.
pub const SYSTEM_TARGET: &str = "system";

impl Target {
    /// The `target_id` column value.
    pub fn id(&self) -> &str {
        match self {
            Target::Project(p) | Target::Domain(p) => p,
            Target::System => SYSTEM_TARGET,
        }
    }

    /// The `kind` column value for a user or group actor.
    pub fn kind(&self, group: bool) -> &'static str {
        match (self, group) {
            (Target::Project(_), false) => "UserProject",
            (Target::Project(_), true) => "GroupProject",
            (Target::Domain(_), false) => "UserDomain",
            (Target::Domain(_), true) => "GroupDomain",
            (Target::System, false) => "UserSystem",
            (Target::System, true) => "GroupSystem",
        }
    }
}
