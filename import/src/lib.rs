//! Moving from Keystone: its domains, projects, users (with their password hashes), groups, roles,
//! assignments, catalog and application credentials (with their secret hashes) become Lintel's, every id kept.
//!
//! An import only adds rows: a row whose id Lintel already holds is counted as present and left as it is, so a
//! second run changes nothing and a merge never overwrites what Lintel holds. The source is read in one read-only
//! transaction; nothing is ever written there.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDateTime;
use entity::{
    access_rule, application_credential as app_cred, application_credential_access_rule as ac_rule,
    application_credential_role as ac_role, assignment, domain, endpoint, group, implied_role,
    project, project_tag, region, role, service, user, user_group_membership as membership,
};
use sea_orm::ActiveValue::Set;
use serde_json::Value;

use sea_orm::EntityTrait;

use crate::keystone::{Row, Source, SourceError, Tables};
use lintel_model::error::DomainError;
use lintel_store::bulk::{all_rows, insert_batches, keys_of};
use lintel_store::Db;

/// Keystone's sentinel rows: the root of all domains, and a global role's domain.
const ROOT_DOMAIN: &str = "<<keystone.domain.root>>";
const NULL_DOMAIN: &str = "<<null>>";
/// Why a source row lacking a field Lintel cannot do without (an id, a name, its domain) is passed over.
const INCOMPLETE: &str = "Keystone's row lacks a field Lintel requires (id, name, domain or link)";

/// Why a row whose name Lintel's API would refuse is skipped.
const UNUSABLE_NAME: &str =
    "its name is one Lintel's API refuses (empty, too long, or with a NUL character)";

/// Whether Lintel's API would take `name` (rules::check_name, at most `max` characters) and every database can
/// store it (no NUL: PostgreSQL refuses one in text). Keystone's database may hold what its API never would.
fn usable_name(name: &str, max: usize) -> bool {
    !name.contains('\0') && lintel_model::rules::check_name(name, max).is_ok()
}

/// The tables an import reads.
const READ: &[&str] = &[
    "project",
    "project_tag",
    "user",
    "local_user",
    "password",
    "nonlocal_user",
    "federated_user",
    "group",
    "user_group_membership",
    "role",
    "role_option",
    "implied_role",
    "assignment",
    "system_assignment",
    "region",
    "service",
    "endpoint",
    "application_credential",
    "application_credential_role",
    "access_rule",
    "application_credential_access_rule",
    "revocation_event",
];

/// Tables Lintel does not import, counted so the report can say what stays behind.
const NOT_IMPORTED: &[(&str, &str)] = &[
    ("trust", "trusts are not supported by Lintel"),
    (
        "credential",
        "EC2 and other stored credentials are not supported by Lintel",
    ),
    ("identity_provider", "federation is not supported by Lintel"),
    ("limit", "unified limits are not supported by Lintel"),
    (
        "registered_limit",
        "unified limits are not supported by Lintel",
    ),
    (
        "endpoint_group",
        "endpoint groups are not supported by Lintel",
    ),
    ("consumer", "OAuth 1.0a is not supported by Lintel"),
];

/// What went wrong with an import.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The source cannot be read or is not a Keystone database Lintel knows.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Lintel's database already holds data of its own and `--merge` was not given.
    #[error("{0}")]
    NotEmpty(String),
    /// Writing to Lintel's database failed.
    #[error(transparent)]
    Store(#[from] DomainError),
}

/// One kind's outcome.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    /// New rows (to be) written.
    pub imported: u64,
    /// Rows Lintel already held, left as they are.
    pub present: u64,
    /// Rows not imported, by reason.
    pub skipped: BTreeMap<String, u64>,
}

/// What an import did (or, dry, would do), kind by kind in the order it writes them.
#[derive(Debug, Default)]
pub struct Report {
    /// Kinds in write order.
    pub kinds: Vec<(&'static str, Counts)>,
}

impl Report {
    fn kind(&mut self, name: &'static str) -> &mut Counts {
        let i = match self.kinds.iter().position(|(k, _)| *k == name) {
            Some(i) => i,
            None => {
                self.kinds.push((name, Counts::default()));
                self.kinds.len() - 1
            }
        };
        &mut self.kinds[i].1
    }

    fn skip(&mut self, name: &'static str, reason: &str) {
        self.skip_n(name, reason, 1);
    }

    fn skip_n(&mut self, name: &'static str, reason: &str, n: u64) {
        *self
            .kind(name)
            .skipped
            .entry(reason.to_string())
            .or_insert(0) += n;
    }

    /// The report as a table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<34} {:>9} {:>9} {:>9}  skipped because\n",
            "kind", "imported", "present", "skipped"
        );
        for (kind, c) in &self.kinds {
            let skipped: u64 = c.skipped.values().sum();
            let why: Vec<String> = c.skipped.iter().map(|(r, n)| format!("{n}: {r}")).collect();
            out.push_str(&format!(
                "{kind:<34} {:>9} {:>9} {skipped:>9}  {}\n",
                c.imported,
                c.present,
                why.join("; ")
            ));
        }
        out
    }
}

/// How an import runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Add to a Lintel database that already holds data of its own.
    pub merge: bool,
    /// Read and report only; write nothing.
    pub dry_run: bool,
}

/// Progress: the kind being written, rows written, rows to write.
pub type Progress<'a> = &'a mut dyn FnMut(&str, u64, u64);

/// Import the Keystone database at `from` (Keystone's SQLAlchemy URL) into `db`.
pub async fn run(
    db: &Db,
    from: &str,
    opts: ImportOptions,
    now: NaiveDateTime,
    progress: Progress<'_>,
) -> Result<Report, ImportError> {
    let source = Source::open(from).await?;
    let counted: Vec<&'static str> = NOT_IMPORTED.iter().map(|(t, _)| *t).collect();
    let tables = source
        .read(READ, &counted)
        .await
        .map_err(SourceError::from)?;
    source.close().await;
    let mut report = Report::default();
    let plan = Plan::build(db, &tables, now, &mut report).await?;
    if !opts.merge && !plan.foreign.is_empty() {
        return Err(ImportError::NotEmpty(format!(
            "Lintel's database already holds data that did not come from this Keystone ({}); nothing was \
             imported. Import into an empty database (lintel db-sync, without bootstrap), or pass --merge to add \
             Keystone's data beside it (rows Lintel already holds are never overwritten)",
            plan.foreign.join(", ")
        )));
    }
    for (table, reason) in NOT_IMPORTED {
        let n = tables.count(table);
        if n > 0 {
            report.skip_n(table, reason, n as u64);
        }
    }
    if !opts.dry_run {
        plan.write(db, progress).await?;
    }
    Ok(report)
}

mod catalog;
mod events;
mod identity;
pub mod keystone;
mod roles;

/// The rows to write, by kind, in an order that satisfies every reference.
#[derive(Default)]
struct Plan {
    domains: Vec<domain::ActiveModel>,
    projects: Vec<project::ActiveModel>,
    tags: Vec<project_tag::ActiveModel>,
    users: Vec<user::ActiveModel>,
    groups: Vec<group::ActiveModel>,
    memberships: Vec<membership::ActiveModel>,
    roles: Vec<role::ActiveModel>,
    implied: Vec<implied_role::ActiveModel>,
    assignments: Vec<assignment::ActiveModel>,
    regions: Vec<region::ActiveModel>,
    services: Vec<service::ActiveModel>,
    endpoints: Vec<endpoint::ActiveModel>,
    rules: Vec<access_rule::ActiveModel>,
    creds: Vec<app_cred::ActiveModel>,
    cred_roles: Vec<ac_role::ActiveModel>,
    cred_rules: Vec<ac_rule::ActiveModel>,
    events: Vec<entity::revocation_event::ActiveModel>,
    /// Kinds of which Lintel holds rows that are not in the source ("users: 2").
    foreign: Vec<String>,
    /// The creation time of rows Keystone keeps none for.
    now: NaiveDateTime,
}

/// Which rows of one kind Lintel holds: by id, and by the name that must be unique.
struct Held {
    ids: HashSet<String>,
    names: HashSet<String>,
}

impl Held {
    /// Take `name` for a row about to be imported: false when Lintel holds it already or an earlier row of this
    /// import took it (Keystone's own rows may repeat a name Lintel must keep unique).
    fn claim(&mut self, name: String) -> bool {
        self.names.insert(name)
    }

    /// Both sets, from one read of `E`'s table.
    async fn of<E: EntityTrait>(
        db: &Db,
        id: impl Fn(&E::Model) -> String,
        name: impl Fn(&E::Model) -> String,
    ) -> Result<Held, DomainError> {
        let rows = all_rows::<E>(db).await?;
        Ok(Held {
            ids: rows.iter().map(id).collect(),
            names: rows.iter().map(name).collect(),
        })
    }
}

/// Sort `items` so that each comes after the one `parent` names (when that one is among them).
fn parents_first<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> String,
    parent: impl Fn(&T) -> Option<String>,
) -> Vec<T> {
    let ids: HashSet<String> = items.iter().map(&id).collect();
    let parent_of: HashMap<String, Option<String>> = items
        .iter()
        .map(|t| (id(t), parent(t).filter(|p| ids.contains(p))))
        .collect();
    let depth = |start: &str| {
        let (mut d, mut at, mut seen) = (0usize, start.to_string(), HashSet::new());
        while let Some(Some(p)) = parent_of.get(&at) {
            if !seen.insert(p.clone()) {
                break; // a cycle in the source: order as far as it goes
            }
            d += 1;
            at = p.clone();
        }
        d
    };
    let mut keyed: Vec<(usize, T)> = items.into_iter().map(|t| (depth(&id(&t)), t)).collect();
    keyed.sort_by_key(|(d, _)| *d);
    keyed.into_iter().map(|(_, t)| t).collect()
}

/// Keystone's `DateTimeInt` (microseconds since the epoch).
fn micros(v: Option<i64>) -> Option<NaiveDateTime> {
    v.and_then(chrono::DateTime::from_timestamp_micros)
        .map(|d| d.naive_utc())
}

/// A JSON `extra` column's field.
fn extra(row: &Row, field: &str) -> Option<String> {
    let v: Value = serde_json::from_str(&row.text("extra")?).ok()?;
    v.get(field)?.as_str().map(str::to_string)
}

impl Plan {
    async fn build(
        db: &Db,
        t: &Tables,
        now: NaiveDateTime,
        report: &mut Report,
    ) -> Result<Plan, ImportError> {
        let mut plan = Plan {
            now,
            ..Plan::default()
        };

        // Domains: Keystone keeps them as projects with is_domain.
        let mut held = Held::of::<domain::Entity>(db, |m| m.id.clone(), |m| m.name.clone()).await?;
        let mut source_domains = HashSet::new();
        let mut domains = HashSet::new();
        for r in t
            .rows("project")
            .iter()
            .filter(|r| r.flag("is_domain") == Some(true))
        {
            let (Some(id), Some(name)) = (r.text("id"), r.text("name")) else {
                report.skip("domains", INCOMPLETE);
                continue;
            };
            if id == ROOT_DOMAIN {
                continue;
            }
            source_domains.insert(id.clone());
            if held.ids.contains(&id) {
                report.kind("domains").present += 1;
                domains.insert(id);
            } else if !usable_name(&name, lintel_model::rules::PROJECT_NAME_MAX) {
                report.skip("domains", UNUSABLE_NAME);
            } else if !held.claim(name.clone()) {
                report.skip("domains", "another domain already has its name");
            } else {
                report.kind("domains").imported += 1;
                plan.domains.push(domain::ActiveModel {
                    id: Set(id.clone()),
                    name: Set(name),
                    description: Set(r.text("description")),
                    enabled: Set(r.flag("enabled").unwrap_or(true)),
                    created_at: Set(now),
                });
                domains.insert(id);
            }
        }
        plan.foreign_of("domains", &held.ids, &source_domains);

        // Projects, parents first; a top-level project's parent in Keystone is its domain.
        let mut held = Held::of::<project::Entity>(
            db,
            |m| m.id.clone(),
            |m| format!("{}/{}", m.domain_id, m.name),
        )
        .await?;
        let rows: Vec<&Row> = t
            .rows("project")
            .iter()
            .filter(|r| r.flag("is_domain") != Some(true))
            .collect();
        let rows = parents_first(
            rows,
            |r| r.text("id").unwrap_or_default(),
            |r| r.text("parent_id"),
        );
        let mut projects = HashSet::new();
        let mut source_projects = HashSet::new();
        for r in rows {
            let (Some(id), Some(name), Some(domain_id)) =
                (r.text("id"), r.text("name"), r.text("domain_id"))
            else {
                report.skip("projects", INCOMPLETE);
                continue;
            };
            source_projects.insert(id.clone());
            let parent = r.text("parent_id").filter(|p| *p != domain_id);
            if held.ids.contains(&id) {
                report.kind("projects").present += 1;
                projects.insert(id);
            } else if !domains.contains(&domain_id) {
                report.skip("projects", "its domain was not imported");
            } else if parent.as_ref().is_some_and(|p| !projects.contains(p)) {
                report.skip("projects", "its parent was not imported");
            } else if !usable_name(&name, lintel_model::rules::PROJECT_NAME_MAX) {
                report.skip("projects", UNUSABLE_NAME);
            } else if !held.claim(format!("{domain_id}/{name}")) {
                report.skip(
                    "projects",
                    "another project in its domain already has its name",
                );
            } else {
                report.kind("projects").imported += 1;
                plan.projects.push(project::ActiveModel {
                    id: Set(id.clone()),
                    name: Set(name),
                    domain_id: Set(domain_id),
                    parent_id: Set(parent),
                    description: Set(r.text("description")),
                    enabled: Set(r.flag("enabled").unwrap_or(true)),
                    created_at: Set(now),
                });
                projects.insert(id);
            }
        }
        plan.foreign_of("projects", &held.ids, &source_projects);
        let held_tags =
            keys_of::<project_tag::Entity>(db, |m| format!("{}/{}", m.project_id, m.name)).await?;
        for r in t.rows("project_tag") {
            let (Some(p), Some(name)) = (r.text("project_id"), r.text("name")) else {
                report.skip("project tags", INCOMPLETE);
                continue;
            };
            if held_tags.contains(&format!("{p}/{name}")) {
                report.kind("project tags").present += 1;
            } else if !projects.contains(&p) {
                report.skip("project tags", "its project was not imported");
            } else {
                report.kind("project tags").imported += 1;
                plan.tags.push(project_tag::ActiveModel {
                    project_id: Set(p),
                    name: Set(name),
                });
            }
        }

        let users = plan.users(db, t, &domains, &projects, report).await?;
        let groups = plan.groups(db, t, &domains, &users, report).await?;
        let roles = plan.roles(db, t, &domains, report).await?;
        plan.assignments(db, t, &users, &groups, &projects, &domains, &roles, report)
            .await?;
        plan.catalog(db, t, report).await?;
        plan.credentials(db, t, &users, &projects, &roles, report)
            .await?;
        plan.revocations(db, t, report).await?;
        Ok(plan)
    }

    /// Note the rows Lintel holds that the source does not have.
    fn foreign_of(&mut self, kind: &str, held: &HashSet<String>, source: &HashSet<String>) {
        let n = held.difference(source).count();
        if n > 0 {
            self.foreign.push(format!("{kind}: {n}"));
        }
    }

    /// Write every kind in order, in batches.
    async fn write(self, db: &Db, progress: Progress<'_>) -> Result<(), ImportError> {
        macro_rules! kind {
            ($name:expr, $rows:expr) => {{
                let total = $rows.len() as u64;
                if total > 0 {
                    progress($name, 0, total);
                    insert_batches(db, $rows, &mut |n| progress($name, n as u64, total)).await?;
                }
            }};
        }
        kind!("domains", self.domains);
        kind!("projects", self.projects);
        kind!("project tags", self.tags);
        kind!("users", self.users);
        kind!("groups", self.groups);
        kind!("group memberships", self.memberships);
        kind!("roles", self.roles);
        kind!("implied roles", self.implied);
        kind!("role assignments", self.assignments);
        kind!("regions", self.regions);
        kind!("services", self.services);
        kind!("endpoints", self.endpoints);
        kind!("access rules", self.rules);
        kind!("application credentials", self.creds);
        kind!("application credential roles", self.cred_roles);
        kind!("application credential access rules", self.cred_rules);
        kind!("revocation events", self.events);
        Ok(())
    }
}
