//! The authorization view: the names and flags a token validation needs, cached in memory.
//!
//! Filled from the database on a miss and invalidated by this node's writes before they return. A stale entry on
//! another node can only show an old name: anything that takes access away also writes a revocation event.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::model::{AccessRule, AppCred, Domain, Project, Role, User};
use moka::sync::Cache;
use std::time::Instant;

use crate::clock::Clock;
use crate::error::{DomainError, DomainResult};
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
    /// Since when the user counts as active (`disable_user_account_days_inactive`).
    pub active_since: chrono::NaiveDateTime,
    /// Whether the user has the option `ignore_user_inactivity`.
    pub ignores_inactivity: bool,
}

impl UserView {
    /// Whether the user is enabled now: the flag, and not inactive for too long.
    pub fn enabled_now(
        &self,
        rules: &crate::config::PasswordRules,
        now: chrono::NaiveDateTime,
    ) -> bool {
        self.enabled
            && !crate::identity::passwords::is_inactive(
                rules,
                self.active_since,
                self.ignores_inactivity,
                now,
            )
    }
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

impl AppCredView {
    /// The token's view of a stored credential and its rules.
    pub fn of(c: &AppCred, rules: &[AccessRule]) -> AppCredView {
        AppCredView {
            id: c.id.clone(),
            name: c.name.clone(),
            restricted: c.unrestricted != Some(true),
            access_rules: rules
                .iter()
                .map(|r| serde_json::json!({"id": r.id, "service": r.service, "path": r.path, "method": r.method}))
                .collect(),
        }
    }
}

const CAPACITY: u64 = 100_000;
/// How long another node's new grant may take to show in credential tokens (revocations are immediate).
const EFFECTIVE_TTL: Duration = Duration::from_secs(30);
/// How long another node's rename may take to show.
const TTL: Duration = Duration::from_secs(300);
/// How long an entry nobody uses is kept: while the database does not answer, an entry past its freshness is
/// still served (nothing can be revoked while writes fail, so the last known state is safe to serve), and an entry
/// in use never lapses.
const KEEP: Duration = Duration::from_secs(24 * 3600);

/// A cached value and when it was read from the database.
#[derive(Clone)]
struct Kept<V> {
    value: V,
    read_at: Instant,
}

/// What one load gave its waiters: the row (or its absence), or whether it failed for an outage.
type Loaded<V> = Result<Option<V>, bool>;

/// One kind of entry: the cache, and the loads in progress, so that concurrent misses of one entry (a client's
/// connections all starting at once, every node restarting) share one database read.
struct KeptCache<V> {
    cache: Cache<String, Kept<V>>,
    loading: std::sync::Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Loaded<V>>>>>,
}

impl<V: Clone + Send + Sync + 'static> KeptCache<V> {
    fn get(&self, id: &str) -> Option<Kept<V>> {
        self.cache.get(id)
    }

    fn insert(&self, id: String, kept: Kept<V>) {
        self.cache.insert(id, kept);
    }

    /// Forget an entry, and any load of it in progress: a request after this reads the database afresh rather
    /// than join a read that may predate the change.
    fn invalidate(&self, id: &str) {
        self.cache.invalidate(id);
        self.loads().remove(id);
    }

    fn invalidate_all(&self) {
        self.cache.invalidate_all();
        self.loads().clear();
    }

    fn loads(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::OnceCell<Loaded<V>>>>> {
        self.loading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The load in progress for `id`, or a new one.
    fn join(&self, id: &str) -> Arc<tokio::sync::OnceCell<Loaded<V>>> {
        self.loads().entry(id.to_string()).or_default().clone()
    }

    /// Forget a finished load (unless a newer one has taken its place).
    fn land(&self, id: &str, flight: &Arc<tokio::sync::OnceCell<Loaded<V>>>) {
        let mut loading = self.loads();
        if loading.get(id).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            loading.remove(id);
        }
    }
}

fn cache<V: Clone + Send + Sync + 'static>() -> KeptCache<V> {
    KeptCache {
        cache: Cache::builder()
            .max_capacity(CAPACITY)
            .time_to_idle(KEEP)
            .build(),
        loading: std::sync::Mutex::new(HashMap::new()),
    }
}

/// The cache itself.
pub struct AuthzView {
    clock: Clock,
    users: KeptCache<Arc<UserView>>,
    projects: KeptCache<Arc<ScopeView>>,
    domains: KeptCache<Arc<ScopeView>>,
    roles: KeptCache<Arc<RoleView>>,
    app_creds: KeptCache<Arc<AppCredView>>,
    credentials: KeptCache<Arc<crate::credential::Credential>>,
    effective: KeptCache<Arc<Vec<String>>>,
    /// `GET /v3/auth/projects` per user, with the generation it was read under.
    my_projects: KeptCache<(u64, Arc<Vec<Project>>)>,
    catalog: RwLock<Option<Arc<serde_json::Value>>>,
    generation: AtomicU64,
    /// What this node changed and has yet to tell the other nodes (server.rs writes it to `view_change`).
    announced: std::sync::Mutex<Vec<Change>>,
    /// Wakes the task that writes the announcements.
    pub announcing: tokio::sync::Notify,
}

/// A change to something nodes hold in memory, as announced to the other nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A user (name, flags, password).
    User(String),
    /// A project.
    Project(String),
    /// A domain (and what its projects and users carry of it).
    Domain(String),
    /// A role (name, options).
    Role(String),
    /// An application credential.
    Credential(String),
    /// The service catalog.
    Catalog,
    /// Grants, memberships, implications: everything authorizations are derived from.
    Grants,
    /// Anything: more changes were waiting than are kept one by one.
    All,
}

impl Change {
    /// The kind and id a change is stored as.
    pub fn parts(&self) -> (&'static str, Option<&str>) {
        match self {
            Change::User(id) => ("user", Some(id)),
            Change::Project(id) => ("project", Some(id)),
            Change::Domain(id) => ("domain", Some(id)),
            Change::Role(id) => ("role", Some(id)),
            Change::Credential(id) => ("credential", Some(id)),
            Change::Catalog => ("catalog", None),
            Change::Grants => ("grants", None),
            Change::All => ("all", None),
        }
    }

    /// The change a stored kind and id stand for; an unknown kind (a newer node's) is taken as anything.
    pub fn of(kind: &str, id: Option<String>) -> Change {
        match (kind, id) {
            ("user", Some(id)) => Change::User(id),
            ("project", Some(id)) => Change::Project(id),
            ("domain", Some(id)) => Change::Domain(id),
            ("role", Some(id)) => Change::Role(id),
            ("credential", Some(id)) => Change::Credential(id),
            ("catalog", _) => Change::Catalog,
            ("grants", _) => Change::Grants,
            _ => Change::All,
        }
    }
}

/// Announcements kept one by one while the database cannot take them; past this they collapse into one `All`.
const MAX_ANNOUNCED: usize = 10_000;

impl AuthzView {
    /// An empty view, whose freshness runs on `clock`.
    pub fn new(clock: Clock) -> Self {
        AuthzView {
            clock,
            users: cache(),
            projects: cache(),
            domains: cache(),
            roles: cache(),
            app_creds: cache(),
            credentials: cache(),
            effective: cache(),
            my_projects: cache(),
            catalog: RwLock::new(None),
            generation: AtomicU64::new(0),
            announced: std::sync::Mutex::new(Vec::new()),
            announcing: tokio::sync::Notify::new(),
        }
    }

    /// Queue a change for the other nodes.
    fn announce(&self, change: Change) {
        let mut queue = self
            .announced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if queue.len() >= MAX_ANNOUNCED {
            queue.clear();
            queue.push(Change::All);
        } else if !queue.contains(&Change::All) {
            queue.push(change);
        }
        drop(queue);
        self.announcing.notify_one();
    }

    /// The changes waiting to be announced, taken.
    pub fn take_announcements(&self) -> Vec<Change> {
        std::mem::take(
            &mut *self
                .announced
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Put back changes that could not be announced (the database did not take them), to try again.
    pub fn requeue(&self, changes: Vec<Change>) {
        for c in changes {
            self.announce(c);
        }
    }

    /// Drop what a change (another node's) makes stale, without announcing it again.
    pub fn apply(&self, change: &Change) {
        self.changed();
        match change {
            Change::User(id) => self.users.invalidate(id),
            Change::Project(id) => self.projects.invalidate(id),
            Change::Domain(id) => self.drop_domain(id),
            Change::Role(id) => self.roles.invalidate(id),
            Change::Credential(id) => self.credentials.invalidate(id),
            Change::Catalog => self.drop_catalog(),
            Change::Grants => self.drop_authorizations(),
            Change::All => {
                self.drop_authorizations();
                self.roles.invalidate_all();
                self.drop_catalog();
            }
        }
        self.changed();
    }

    /// A fresh entry (read within `fresh_for`).
    fn fresh<V: Clone + Send + Sync + 'static>(
        &self,
        cache: &KeptCache<V>,
        id: &str,
        fresh_for: Duration,
    ) -> Option<V> {
        cache
            .get(id)
            .filter(|k| self.clock.instant() < k.read_at + fresh_for)
            .map(|k| k.value)
    }

    /// Keep what a load read under `generation`, unless a change has moved the generation on since: that read may
    /// predate the change. Checked again after the insert, since a change may drop entries between the check and
    /// the insert (it moves the generation on before dropping, so the second check sees it).
    fn keep_unless_overtaken<V: Clone + Send + Sync + 'static>(
        &self,
        cache: &KeptCache<V>,
        id: &str,
        value: V,
        generation: u64,
    ) {
        if self.generation() != generation {
            return;
        }
        self.keep(cache, id, value);
        if self.generation() != generation {
            cache.cache.invalidate(id);
        }
    }

    fn keep<V: Clone + Send + Sync + 'static>(&self, cache: &KeptCache<V>, id: &str, value: V) {
        let read_at = self.clock.instant();
        cache.insert(id.to_string(), Kept { value, read_at });
    }

    /// An entry from cache if fresh, else from `load`; the last known entry, however old, when the database does
    /// not answer.
    ///
    /// `load` makes the loading future only on a miss, and that future runs boxed: a database query's state
    /// machine is kilobytes, and inline it would make every future awaiting a cache hit as large, copied on every
    /// move and allocated for every request (docs/BENCHMARKS.md, "future sizes").
    async fn through<V, L, F>(
        &self,
        cache: &KeptCache<V>,
        id: &str,
        fresh_for: Duration,
        load: L,
    ) -> DomainResult<Option<V>>
    where
        V: Clone + Send + Sync + 'static,
        L: FnOnce() -> F,
        F: std::future::Future<Output = DomainResult<Option<V>>>,
    {
        if let Some(v) = self.fresh(cache, id, fresh_for) {
            return Ok(Some(v));
        }
        Box::pin(self.load_shared(cache, id, load())).await
    }

    /// The miss of [`Self::through`]: concurrent misses share one load; the waiter that runs it keeps its own
    /// error to return.
    async fn load_shared<V, F>(
        &self,
        cache: &KeptCache<V>,
        id: &str,
        load: F,
    ) -> DomainResult<Option<V>>
    where
        V: Clone + Send + Sync + 'static,
        F: std::future::Future<Output = DomainResult<Option<V>>>,
    {
        let generation = self.generation();
        let flight = cache.join(id);
        let mut own_error = None;
        let shared = flight
            .get_or_init(|| async {
                match load.await {
                    Ok(found) => Ok(found),
                    Err(e) => {
                        let outage = e.is_outage();
                        own_error = Some(e);
                        Err(outage)
                    }
                }
            })
            .await
            .clone();
        cache.land(id, &flight);
        match shared {
            Ok(Some(v)) => {
                // A read that a change overtook is answered but not kept: it may predate the change.
                self.keep_unless_overtaken(cache, id, v.clone(), generation);
                Ok(Some(v))
            }
            Ok(None) => {
                cache.invalidate(id);
                Ok(None)
            }
            // During an outage, the last known entry; otherwise (or without one) the error.
            Err(outage) => match cache.get(id) {
                Some(k) if outage => Ok(Some(k.value)),
                _ => Err(own_error.unwrap_or_else(|| {
                    if outage {
                        DomainError::StoreUnavailable("the database did not answer".into())
                    } else {
                        DomainError::internal("loading from the database failed")
                    }
                })),
            },
        }
    }

    /// A user, from cache or database.
    pub async fn user(&self, db: &Db, id: &str) -> DomainResult<Option<Arc<UserView>>> {
        let load = || async {
            let Some(u) = store::find::<User>(db, id).await? else {
                return Ok(None);
            };
            let ignores_inactivity = crate::identity::passwords::UserOptions::of(&u)
                .flag(crate::identity::passwords::IGNORE_INACTIVITY);
            let v = Arc::new(UserView {
                active_since: crate::identity::passwords::active_since(&u),
                ignores_inactivity,
                id: u.id,
                name: u.name,
                domain_id: u.domain_id,
                enabled: u.enabled,
                password_expires_at: u.password_expires_at,
            });
            Ok(Some(v))
        };
        self.through(&self.users, id, TTL, load).await
    }

    /// A project, from cache or database.
    pub async fn project(&self, db: &Db, id: &str) -> DomainResult<Option<Arc<ScopeView>>> {
        let load = || async {
            let Some(p) = store::find::<Project>(db, id).await? else {
                return Ok(None);
            };
            let v = Arc::new(ScopeView {
                id: p.id,
                name: p.name,
                domain_id: p.domain_id,
                enabled: p.enabled,
            });
            Ok(Some(v))
        };
        self.through(&self.projects, id, TTL, load).await
    }

    /// A domain, from cache or database.
    pub async fn domain(&self, db: &Db, id: &str) -> DomainResult<Option<Arc<ScopeView>>> {
        let load = || async {
            let Some(d) = store::find::<Domain>(db, id).await? else {
                return Ok(None);
            };
            let v = Arc::new(ScopeView {
                id: d.id.clone(),
                name: d.name,
                domain_id: d.id,
                enabled: d.enabled,
            });
            Ok(Some(v))
        };
        self.through(&self.domains, id, TTL, load).await
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
        let load = || async {
            let Some(r) = store::find::<Role>(db, id).await? else {
                return Ok(None);
            };
            let v = Arc::new(RoleView {
                id: r.id,
                name: r.name,
            });
            Ok(Some(v))
        };
        self.through(&self.roles, id, TTL, load).await
    }

    /// An application credential, from cache or database.
    pub async fn app_cred(&self, db: &Db, id: &str) -> DomainResult<Option<Arc<AppCredView>>> {
        let load = || async {
            let Some(c) = store::find::<AppCred>(db, id).await? else {
                return Ok(None);
            };
            let rules = store::credentials::rules_of_credential(db, id).await?;
            Ok(Some(Arc::new(AppCredView::of(&c, &rules))))
        };
        self.through(&self.app_creds, id, TTL, load).await
    }

    /// A stored application credential with its roles and rules: from cache if fresh, else from `load` (which
    /// also fills the token's view of it, what validating its tokens needs); the last known one while the database
    /// does not answer.
    pub async fn credential<L, F>(
        &self,
        id: &str,
        load: L,
    ) -> DomainResult<Option<Arc<crate::credential::Credential>>>
    where
        L: FnOnce() -> F,
        F: std::future::Future<Output = DomainResult<Option<crate::credential::Credential>>>,
    {
        let generation = self.generation();
        let load = || async {
            let found = load().await?.map(Arc::new);
            if let Some(c) = &found {
                let view = Arc::new(AppCredView::of(&c.model, &c.rules));
                self.keep_unless_overtaken(&self.app_creds, id, view, generation);
            }
            Ok(found)
        };
        self.through(&self.credentials, id, TTL, load).await
    }

    /// A user's effective role ids on a project: from cache if fresh, else from `load`; the last known ones while
    /// the database does not answer.
    pub async fn effective_roles<L, F>(
        &self,
        user_id: &str,
        project_id: &str,
        load: L,
    ) -> DomainResult<Arc<Vec<String>>>
    where
        L: FnOnce() -> F,
        F: std::future::Future<Output = DomainResult<Vec<String>>>,
    {
        let key = format!("{user_id}/{project_id}");
        let load = || async { Ok(Some(Arc::new(load().await?))) };
        let found = self
            .through(&self.effective, &key, EFFECTIVE_TTL, load)
            .await?;
        Ok(found.unwrap_or_default())
    }

    /// The enabled projects a user has a role on (`GET /v3/auth/projects`): from cache while nothing here has been
    /// forgotten since (no grant, revocation, project or domain change on this node, or revocation event from
    /// another) and for at most as long as effective roles, else from `load`; the last known list while the
    /// database does not answer.
    pub async fn projects_of<L, F>(&self, user_id: &str, load: L) -> DomainResult<Arc<Vec<Project>>>
    where
        L: FnOnce() -> F,
        F: std::future::Future<Output = DomainResult<Vec<Project>>>,
    {
        // Read before loading: a change while loading leaves the entry under the older generation, so stale.
        let generation = self.generation();
        if let Some((g, v)) = self.fresh(&self.my_projects, user_id, EFFECTIVE_TTL) {
            if g == generation {
                return Ok(v);
            }
        }
        match Box::pin(load()).await {
            Ok(v) => {
                let v = Arc::new(v);
                self.keep(&self.my_projects, user_id, (generation, v.clone()));
                Ok(v)
            }
            Err(e) => match self.my_projects.get(user_id) {
                Some(k) if e.is_outage() => Ok(k.value.1),
                _ => Err(e),
            },
        }
    }

    /// A number that changes whenever anything cached here is forgotten: what was derived from the view under an
    /// older generation (a validated token, its rendered body) is stale.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Called before an invalidation and after it: a reader that sees the new generation cannot have read an entry
    /// it removed, and a load that began before it cannot keep what it read ([`Self::keep_unless_overtaken`]).
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Forget everything derived from grants, memberships, roles and credentials, here and (announced) on the
    /// other nodes: called on every grant and implication change, so no node serves what changed.
    pub fn forget_authorizations(&self) {
        self.changed();
        self.drop_authorizations();
        self.changed();
        self.announce(Change::Grants);
    }

    /// [`Self::forget_authorizations`] on this node only: revocation events reach the other nodes themselves.
    pub fn forget_revoked(&self) {
        self.changed();
        self.drop_authorizations();
        self.changed();
    }

    fn drop_authorizations(&self) {
        self.effective.invalidate_all();
        self.my_projects.invalidate_all();
        self.credentials.invalidate_all();
        self.app_creds.invalidate_all();
        self.users.invalidate_all();
        self.projects.invalidate_all();
        self.domains.invalidate_all();
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

    /// Forget a user, here and on the other nodes.
    pub fn forget_user(&self, id: &str) {
        self.changed();
        self.users.invalidate(id);
        self.changed();
        self.announce(Change::User(id.to_string()));
    }

    /// Forget a credential (its stored hash changed), here and on the other nodes.
    pub fn forget_credential(&self, id: &str) {
        self.changed();
        self.credentials.invalidate(id);
        self.changed();
        self.announce(Change::Credential(id.to_string()));
    }

    /// Forget a project, here and on the other nodes.
    pub fn forget_project(&self, id: &str) {
        self.changed();
        self.projects.invalidate(id);
        self.changed();
        self.announce(Change::Project(id.to_string()));
    }

    /// Forget a domain (and, since projects and users carry domain facts, every project and user), here and on
    /// the other nodes.
    pub fn forget_domain(&self, id: &str) {
        self.changed();
        self.drop_domain(id);
        self.changed();
        self.announce(Change::Domain(id.to_string()));
    }

    fn drop_domain(&self, id: &str) {
        self.domains.invalidate(id);
        self.projects.invalidate_all();
        self.users.invalidate_all();
    }

    /// Forget a role, here and on the other nodes.
    pub fn forget_role(&self, id: &str) {
        self.changed();
        self.roles.invalidate(id);
        self.changed();
        self.announce(Change::Role(id.to_string()));
    }

    /// Forget the catalog, here and on the other nodes.
    pub fn forget_catalog(&self) {
        self.changed();
        self.drop_catalog();
        self.changed();
        self.announce(Change::Catalog);
    }

    fn drop_catalog(&self) {
        if let Ok(mut c) = self.catalog.write() {
            *c = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn changes_are_announced_once_each_and_read_back_as_they_were_written() {
        let view = AuthzView::new(Clock::system());
        view.forget_user("u1");
        view.forget_catalog();
        view.forget_revoked(); // revocation events reach the other nodes themselves
        let taken = view.take_announcements();
        assert_eq!(taken, [Change::User("u1".into()), Change::Catalog]);
        assert!(view.take_announcements().is_empty());
        for c in taken {
            let (kind, id) = c.parts();
            assert_eq!(Change::of(kind, id.map(str::to_string)), c);
        }
        assert_eq!(Change::of("from-a-newer-node", None), Change::All);
        // A database that takes no notices for long: the queue stays bounded, and still says "something changed".
        for i in 0..MAX_ANNOUNCED + 5 {
            view.forget_project(&i.to_string());
        }
        assert_eq!(view.take_announcements(), [Change::All]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_share_one_load_and_an_invalidation_starts_afresh() {
        let view = Arc::new(AuthzView::new(Clock::system()));
        let loads = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::watch::channel(false);
        let ask = |roles: &'static str| {
            let (view, loads, mut released) = (view.clone(), loads.clone(), released.clone());
            tokio::spawn(async move {
                view.effective_roles("u", "p", || async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    let _ = released.wait_for(|r| *r).await;
                    Ok(vec![roles.to_string()])
                })
                .await
                .unwrap()
            })
        };
        let waiting: Vec<_> = (0..16).map(|_| ask("before")).collect();
        while view
            .effective
            .loads()
            .get("u/p")
            .map_or(0, Arc::strong_count)
            < 17
        {
            tokio::task::yield_now().await;
        }
        // A change while the load is running: whoever asks now reads afresh.
        view.forget_authorizations();
        let after = ask("after");
        while loads.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        release.send(true).unwrap();
        for w in waiting {
            assert_eq!(*w.await.unwrap(), ["before"]);
        }
        assert_eq!(*after.await.unwrap(), ["after"]);
        assert_eq!(
            loads.load(Ordering::SeqCst),
            2,
            "one load for the 16, one after the change"
        );
        assert!(
            view.effective.loads().is_empty(),
            "finished loads are forgotten"
        );
        // What the overtaken read found was not kept: the cache holds what was read after the change.
        let next = view
            .effective_roles("u", "p", || async { Ok(vec!["not read".to_string()]) })
            .await
            .unwrap();
        assert_eq!(*next, ["after"]);
    }
}
