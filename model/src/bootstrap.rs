//! What `lintel bootstrap` makes: the first admin, its project, Keystone's default roles and the identity
//! endpoint.

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

impl Bootstrap {
    /// Keystone's defaults (`admin` in project `admin`, service `keystone` in `RegionOne`) with the identity
    /// endpoint at `v3_url` for the given interfaces.
    pub fn defaults(password_hash: String, v3_url: &str, interfaces: &[&str]) -> Bootstrap {
        Bootstrap {
            username: "admin".into(),
            password_hash,
            project_name: "admin".into(),
            role_name: "admin".into(),
            service_name: "keystone".into(),
            region_id: "RegionOne".into(),
            endpoints: interfaces
                .iter()
                .map(|i| ((*i).to_string(), v3_url.to_string()))
                .collect(),
        }
    }
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
