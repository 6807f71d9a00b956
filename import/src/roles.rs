//! Roles, implied roles and role assignments.

use std::collections::HashSet;

use sea_orm::ActiveValue::Set;

use super::{extra, Held, ImportError, Plan, Report, NULL_DOMAIN};
use crate::keystone::Tables;
use entity::{assignment, implied_role, role};
use lintel_store::bulk::keys_of;
use lintel_store::Db;

impl Plan {
    pub(super) async fn roles(
        &mut self,
        db: &Db,
        t: &Tables,
        domains: &HashSet<String>,
        report: &mut Report,
    ) -> Result<HashSet<String>, ImportError> {
        let mut held = Held::of::<role::Entity>(
            db,
            |m| m.id.clone(),
            |m| {
                format!(
                    "{}/{}",
                    m.domain_id.as_deref().unwrap_or(NULL_DOMAIN),
                    m.name
                )
            },
        )
        .await?;
        // Keystone's role option 1 is `immutable`.
        let immutable: HashSet<String> = t
            .rows("role_option")
            .iter()
            .filter(|r| {
                r.text("option_id").as_deref() == Some("1")
                    && r.text("option_value").as_deref() == Some("true")
            })
            .filter_map(|r| r.text("role_id"))
            .collect();
        let mut imported = HashSet::new();
        let mut source = HashSet::new();
        for r in t.rows("role") {
            let (Some(id), Some(name)) = (r.text("id"), r.text("name")) else {
                report.skip("roles", super::INCOMPLETE);
                continue;
            };
            source.insert(id.clone());
            let domain_id = r.text("domain_id").filter(|d| d != NULL_DOMAIN);
            let key = format!("{}/{name}", domain_id.as_deref().unwrap_or(NULL_DOMAIN));
            if held.ids.contains(&id) {
                report.kind("roles").present += 1;
                imported.insert(id);
            } else if domain_id.as_ref().is_some_and(|d| !domains.contains(d)) {
                report.skip("roles", "its domain was not imported");
            } else if !super::usable_name(&name, lintel_model::rules::NAME_MAX) {
                report.skip("roles", super::UNUSABLE_NAME);
            } else if !held.claim(key) {
                report.skip("roles", "another role already has its name");
            } else {
                report.kind("roles").imported += 1;
                let options = if immutable.contains(&id) {
                    r#"{"immutable":true}"#
                } else {
                    "{}"
                };
                self.roles.push(role::ActiveModel {
                    id: Set(id.clone()),
                    name: Set(name),
                    domain_id: Set(domain_id),
                    description: Set(r.text("description").or_else(|| extra(r, "description"))),
                    options: Set(options.to_string()),
                    created_at: Set(self.now),
                });
                imported.insert(id);
            }
        }
        self.foreign_of("roles", &held.ids, &source);
        let held = keys_of::<implied_role::Entity>(db, |m| {
            format!("{}/{}", m.prior_role_id, m.implied_role_id)
        })
        .await?;
        for r in t.rows("implied_role") {
            let (Some(p), Some(i)) = (r.text("prior_role_id"), r.text("implied_role_id")) else {
                report.skip("implied roles", super::INCOMPLETE);
                continue;
            };
            if held.contains(&format!("{p}/{i}")) {
                report.kind("implied roles").present += 1;
            } else if !imported.contains(&p) || !imported.contains(&i) {
                report.skip("implied roles", "one of its roles was not imported");
            } else {
                report.kind("implied roles").imported += 1;
                self.implied.push(implied_role::ActiveModel {
                    prior_role_id: Set(p),
                    implied_role_id: Set(i),
                });
            }
        }
        Ok(imported)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn assignments(
        &mut self,
        db: &Db,
        t: &Tables,
        users: &HashSet<String>,
        groups: &HashSet<String>,
        projects: &HashSet<String>,
        domains: &HashSet<String>,
        roles: &HashSet<String>,
        report: &mut Report,
    ) -> Result<(), ImportError> {
        let held = keys_of::<assignment::Entity>(db, |m| {
            format!("{}/{}/{}/{}", m.kind, m.actor_id, m.target_id, m.role_id)
        })
        .await?;
        let rows = t
            .rows("assignment")
            .iter()
            .chain(t.rows("system_assignment"));
        for r in rows {
            let (Some(kind), Some(actor), Some(target), Some(role_id)) = (
                r.text("type"),
                r.text("actor_id"),
                r.text("target_id"),
                r.text("role_id"),
            ) else {
                report.skip("role assignments", super::INCOMPLETE);
                continue;
            };
            if r.flag("inherited") == Some(true) {
                report.skip(
                    "role assignments",
                    "inherited assignments (OS-INHERIT) are not supported by Lintel",
                );
                continue;
            }
            let actor_ok = if kind.starts_with("User") {
                users.contains(&actor)
            } else {
                groups.contains(&actor)
            };
            let target_ok = match kind.as_str() {
                "UserProject" | "GroupProject" => projects.contains(&target),
                "UserDomain" | "GroupDomain" => domains.contains(&target),
                "UserSystem" | "GroupSystem" => target == assignment::SYSTEM_TARGET,
                _ => {
                    report.skip(
                        "role assignments",
                        "an assignment type Lintel does not know",
                    );
                    continue;
                }
            };
            if held.contains(&format!("{kind}/{actor}/{target}/{role_id}")) {
                report.kind("role assignments").present += 1;
            } else if !actor_ok || !target_ok || !roles.contains(&role_id) {
                report.skip(
                    "role assignments",
                    "its actor, target or role was not imported",
                );
            } else {
                report.kind("role assignments").imported += 1;
                self.assignments.push(assignment::ActiveModel {
                    kind: Set(kind),
                    actor_id: Set(actor),
                    target_id: Set(target),
                    role_id: Set(role_id),
                    inherited: Set(false),
                });
            }
        }
        Ok(())
    }
}
