//! The authorization view: the names and flags a token validation needs, cached in memory.
//!
//! Filled from the database on a miss and invalidated by this node's writes before they return. A stale entry on
//! another node can only show an old name: anything that takes access away also writes a revocation event.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use entity::{domain, project, role, user};
use moka::sync::Cache;

use crate::error::DomainResult;
use crate::store::{self, Db};

/// Cached facts about a user.
#[derive(Debug, Clone)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Domain id.
    pub domain_id: String,
    /// Enabled flag.
    pub enabled: bool,
    /// Password expiry, in Keystone's format.
    pub password_expires_at: Option<chrono::NaiveDateTime>,
}

/// Cached facts about a project or domain.
#[derive(Debug, Clone)]
pub struct ScopeView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Owning domain id (for a domain: itself).
    pub domain_id: String,
    /// Enabled flag.
    pub enabled: bool,
}

/// Cached role names.
#[derive(Debug, Clone)]
pub struct RoleView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// Cached facts about an application credential, as tokens show them.
#[derive(Debug, Clone)]
pub struct AppCredView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Whether it is restricted.
    pub restricted: bool,
    /// Its access rules, rendered.
    pub access_rules: Vec<serde_json::Value>,
}

const CAPACITY: u64 = 100_000;
/// How long another node's new grant may take to show in credential tokens (revocations are immediate).
const EFFECTIVE_TTL: Duration = Duration::from_secs(30);
const TTL: Duration = Duration::from_secs(300);

fn cache<V: Clone + Send + Sync + 'static>() -> Cache<String, V> {
    Cache::builder()
        .max_capacity(CAPACITY)
        .time_to_live(TTL)
        .build()
}

/// The cache itself.
pub struct AuthzView {
    users: Cache<String, Arc<UserView>>,
    projects: Cache<String, Arc<ScopeView>>,
    domains: Cache<String, Arc<ScopeView>>,
    roles: Cache<String, Arc<RoleView>>,
    app_creds: Cache<String, Arc<AppCredView>>,
    credentials: Cache<String, Arc<crate::credential::Credential>>,
    effective: Cache<String, Arc<Vec<String>>>,
    catalog: RwLock<Option<Arc<serde_json::Value>>>,
    generation: AtomicU64,
}

impl Default for AuthzView {
    fn default() -> Self {
        Self::new()
    }
}

impl AuthzView {
    /// An empty view.
    pub fn new() -> Self {
        AuthzView {
            users: cache(),
            projects: cache(),
            domains: cache(),
            roles: cache(),
            app_creds: cache(),
            credentials: cache(),
            effective: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(EFFECTIVE_TTL)
                .build(),
            catalog: RwLock::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// A user, from cache or database.
    pub async fn user(&self, db: &Db, id: &str) -> DomainResult<Option<Arc<UserView>>> {
        if let Some(v) = self.users.get(id) {
            return Ok(Some(v));
        }
        let Some(u) = store::find::<user::Entity>(db, id).await? else {
            return Ok(None);
        };
        let v = Arc::new(UserView {
            id: u.id,
            name: u.name,
            domain_id: u.domain_id,
            enabled: u.enabled,
            password_expires_at: u.password_expires_at,
        });
        self.users.insert(id.to_string(), v.clone());
        Ok(Some(v))
    }

    /// A project, from cache or database.
    pub async fn project(&self, db: &Db, id: &str) -> DomainResult<Option<Arc<ScopeView>>> {
        if let Some(v) = self.projects.get(id) {
            return Ok(Some(v));
        }
        let Some(p) = store::find::<project::Entity>(db, id).await? else {
            return Ok(None);
        };
        let v = Arc::new(ScopeView {
            id: p.id,
            name: p.name,
            domain_id: p.domain_id,
            enabled: p.enabled,
        });
        self.projects.insert(id.to_string(), v.clone());
        Ok(Some(v))
    }

    /// A domain, from cache or database.
    pub async fn domain(&self, db: &Db, id: &str) -> DomainResult<Option<Arc<ScopeView>>> {
        if let Some(v) = self.domains.get(id) {
            return Ok(Some(v));
        }
        let Some(d) = store::find::<domain::Entity>(db, id).await? else {
            return Ok(None);
        };
        let v = Arc::new(ScopeView {
            id: d.id.clone(),
            name: d.name,
            domain_id: d.id,
            enabled: d.enabled,
        });
        self.domains.insert(id.to_string(), v.clone());
        Ok(Some(v))
    }

    /// The names of the roles with these ids that exist, in order.
    pub async fn role_names(&self, db: &Db, ids: &[String]) -> DomainResult<Vec<String>> {
        let mut names = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(r) = self.role(db, id).await? {
                names.push(r.name.clone());
            }
        }
        Ok(names)
    }

    /// A role, from cache or database.
    pub async fn role(&self, db: &Db, id: &str) -> DomainResult<Option<Arc<RoleView>>> {
        if let Some(v) = self.roles.get(id) {
            return Ok(Some(v));
        }
        let Some(r) = store::find::<role::Entity>(db, id).await? else {
            return Ok(None);
        };
        let v = Arc::new(RoleView {
            id: r.id,
            name: r.name,
        });
        self.roles.insert(id.to_string(), v.clone());
        Ok(Some(v))
    }

    /// An application credential, from cache or database.
    pub async fn app_cred(&self, db: &Db, id: &str) -> DomainResult<Option<Arc<AppCredView>>> {
        if let Some(v) = self.app_creds.get(id) {
            return Ok(Some(v));
        }
        let Some(c) = store::find::<entity::application_credential::Entity>(db, id).await? else {
            return Ok(None);
        };
        let rules = store::credentials::rules_of_credential(db, id).await?;
        let v = Arc::new(AppCredView {
            id: c.id,
            name: c.name,
            restricted: c.unrestricted != Some(true),
            access_rules: rules
                .iter()
                .map(|r| serde_json::json!({"id": r.id, "service": r.service, "path": r.path, "method": r.method}))
                .collect(),
        });
        self.app_creds.insert(id.to_string(), v.clone());
        Ok(Some(v))
    }

    /// A stored application credential with its roles and rules, if cached.
    pub fn credential(&self, id: &str) -> Option<Arc<crate::credential::Credential>> {
        self.credentials.get(id)
    }

    /// Cache a credential.
    pub fn put_credential(&self, cred: Arc<crate::credential::Credential>) {
        self.credentials.insert(cred.model.id.clone(), cred);
    }

    /// A user's effective role ids on a project, if cached.
    pub fn effective_roles(&self, user_id: &str, project_id: &str) -> Option<Arc<Vec<String>>> {
        self.effective.get(&format!("{user_id}/{project_id}"))
    }

    /// Cache a user's effective role ids on a project.
    pub fn put_effective_roles(&self, user_id: &str, project_id: &str, roles: Arc<Vec<String>>) {
        self.effective
            .insert(format!("{user_id}/{project_id}"), roles);
    }

    /// A number that changes whenever anything cached here is forgotten: what was derived from the view under an
    /// older generation (a validated token, its rendered body) is stale.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Called after an invalidation, never before: a reader that sees the new generation cannot have read an
    /// entry it removed.
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Forget everything derived from grants, memberships, roles and credentials: called on every revocation
    /// event (this node's or another's) and on every grant, so the token path never serves what was taken away.
    pub fn forget_authorizations(&self) {
        self.effective.invalidate_all();
        self.credentials.invalidate_all();
        self.app_creds.invalidate_all();
        self.users.invalidate_all();
        self.projects.invalidate_all();
        self.domains.invalidate_all();
        self.changed();
    }

    /// The cached catalog document, if built.
    pub fn catalog(&self) -> Option<Arc<serde_json::Value>> {
        self.catalog.read().ok().and_then(|c| c.clone())
    }

    /// Store the catalog document.
    pub fn set_catalog(&self, doc: Arc<serde_json::Value>) {
        if let Ok(mut c) = self.catalog.write() {
            *c = Some(doc);
        }
    }

    /// Forget a user.
    pub fn forget_user(&self, id: &str) {
        self.users.invalidate(id);
        self.changed();
    }

    /// Forget a project.
    pub fn forget_project(&self, id: &str) {
        self.projects.invalidate(id);
        self.changed();
    }

    /// Forget a domain (and, since projects carry domain facts, every project).
    pub fn forget_domain(&self, id: &str) {
        self.domains.invalidate(id);
        self.projects.invalidate_all();
        self.users.invalidate_all();
        self.changed();
    }

    /// Forget a role.
    pub fn forget_role(&self, id: &str) {
        self.roles.invalidate(id);
        self.changed();
    }

    /// Forget the catalog.
    pub fn forget_catalog(&self) {
        if let Ok(mut c) = self.catalog.write() {
            *c = None;
        }
        self.changed();
    }
}
