//! `lintel bootstrap`: the first domain, project, roles, admin user, grants and catalog, as Keystone 30's
//! `keystone-manage bootstrap` makes them. Safe to run again: it only adds what is missing (and resets the
//! admin password to the one given, as Keystone does).

use crate::error::DomainResult;
use crate::store::Db;

/// What to bootstrap.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// Admin user name.
    pub username: String,
    /// Admin password as an argon2id PHC string (hashed by the caller, so no plaintext travels further).
    pub password_hash: String,
    /// Admin project name.
    pub project_name: String,
    /// Role granted to the admin.
    pub role_name: String,
    /// Identity service name.
    pub service_name: String,
    /// Region id.
    pub region_id: String,
    /// Endpoint URLs by interface.
    pub endpoints: Vec<(String, String)>,
}

/// Ids of what bootstrap made or found.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    /// The admin user.
    pub user_id: String,
    /// The admin project.
    pub project_id: String,
}

/// Keystone's default roles.
pub const ROLES: &[&str] = &["reader", "member", "manager", "admin", "service"];
/// Which default role implies which.
pub const IMPLIES: &[(&str, &str)] = &[
    ("admin", "manager"),
    ("manager", "member"),
    ("member", "reader"),
];

/// Run the bootstrap in one transaction.
pub async fn run(db: &Db, b: &Bootstrap) -> DomainResult<Bootstrapped> {
    crate::store::bootstrap::run(db, b).await
}

/// Whether the database has no users yet (a fresh install).
pub async fn is_empty(db: &Db) -> DomainResult<bool> {
    crate::store::bootstrap::no_users(db).await
}
