//! Users (with their current password hash), groups and memberships.

use std::collections::{HashMap, HashSet};

use sea_orm::ActiveValue::Set;
use serde_json::Value;

use super::{micros, Held, ImportError, Plan, Report};
use crate::keystone::{Row, Tables};
use entity::{group, user, user_group_membership as membership};
use lintel_store::bulk::keys_of;
use lintel_store::Db;

impl Plan {
    pub(super) async fn users(
        &mut self,
        db: &Db,
        t: &Tables,
        domains: &HashSet<String>,
        projects: &HashSet<String>,
        report: &mut Report,
    ) -> Result<HashSet<String>, ImportError> {
        let mut held = Held::of::<user::Entity>(
            db,
            |m| m.id.clone(),
            |m| format!("{}/{}", m.domain_id, m.name),
        )
        .await?;
        let local: HashMap<String, &Row> = t
            .rows("local_user")
            .iter()
            .filter_map(|r| Some((r.text("user_id")?, r)))
            .collect();
        // The current password of a local user is its newest row.
        let mut password: HashMap<i64, &Row> = HashMap::new();
        for r in t.rows("password") {
            let Some(lid) = r.int("local_user_id") else {
                continue;
            };
            let newer = password.get(&lid).is_none_or(|p| {
                r.int("created_at_int").unwrap_or(0) >= p.int("created_at_int").unwrap_or(0)
            });
            if newer {
                password.insert(lid, r);
            }
        }
        let federated: HashSet<String> = t
            .rows("federated_user")
            .iter()
            .filter_map(|r| r.text("user_id"))
            .collect();
        let mut imported = HashSet::new();
        let mut source = HashSet::new();
        for r in t.rows("user") {
            let Some(id) = r.text("id") else {
                report.skip("users", super::INCOMPLETE);
                continue;
            };
            source.insert(id.clone());
            let Some(lu) = local.get(&id) else {
                let why = if federated.contains(&id) {
                    "federated users are not supported by Lintel"
                } else {
                    "users of LDAP-backed or other non-SQL domains are not supported by Lintel"
                };
                report.skip("users", why);
                continue;
            };
            let (Some(name), Some(domain_id)) = (lu.text("name"), r.text("domain_id")) else {
                report.skip("users", super::INCOMPLETE);
                continue;
            };
            if held.ids.contains(&id) {
                report.kind("users").present += 1;
                imported.insert(id);
                continue;
            }
            if !domains.contains(&domain_id) {
                report.skip("users", "its domain was not imported");
                continue;
            }
            if !super::usable_name(&name, lintel_model::rules::NAME_MAX) {
                report.skip("users", super::UNUSABLE_NAME);
                continue;
            }
            if !held.claim(format!("{domain_id}/{name}")) {
                report.skip("users", "another user in its domain already has its name");
                continue;
            }
            let pw = lu.int("id").and_then(|lid| password.get(&lid));
            let extra_fields = r
                .text("extra")
                .and_then(|e| serde_json::from_str::<Value>(&e).ok())
                .filter(Value::is_object)
                .unwrap_or_else(|| serde_json::json!({}));
            report.kind("users").imported += 1;
            self.users.push(user::ActiveModel {
                id: Set(id.clone()),
                name: Set(name),
                domain_id: Set(domain_id),
                enabled: Set(r.flag("enabled").unwrap_or(true)),
                password_hash: Set(pw.and_then(|p| p.text("password_hash"))),
                default_project_id: Set(r
                    .text("default_project_id")
                    .filter(|p| projects.contains(p))),
                extra: Set(extra_fields.to_string()),
                password_expires_at: Set(pw.and_then(|p| {
                    micros(p.int("expires_at_int")).or_else(|| p.time("expires_at"))
                })),
                failed_auth_count: Set(lu
                    .int("failed_auth_count")
                    .unwrap_or(0)
                    .clamp(0, i64::from(i32::MAX)) as i32),
                last_failed_auth_at: Set(lu.time("failed_auth_at")),
                created_at: Set(r.time("created_at").unwrap_or(self.now)),
                // Keystone's user options live in a table of their own, not imported: the user starts with none.
                options: Set(None),
                last_active_at: Set(r.time("last_active_at")),
                password_created_at: Set(pw.and_then(|p| {
                    micros(p.int("created_at_int")).or_else(|| p.time("created_at"))
                })),
                password_self_service: Set(pw
                    .and_then(|p| p.flag("self_service"))
                    .unwrap_or(false)),
                // Keystone has no service accounts: every imported user is a person.
                service_project_id: Set(None),
            });
            imported.insert(id);
        }
        self.foreign_of("users", &held.ids, &source);
        Ok(imported)
    }

    pub(super) async fn groups(
        &mut self,
        db: &Db,
        t: &Tables,
        domains: &HashSet<String>,
        users: &HashSet<String>,
        report: &mut Report,
    ) -> Result<HashSet<String>, ImportError> {
        let mut held = Held::of::<group::Entity>(
            db,
            |m| m.id.clone(),
            |m| format!("{}/{}", m.domain_id, m.name),
        )
        .await?;
        let mut imported = HashSet::new();
        let mut source = HashSet::new();
        for r in t.rows("group") {
            let (Some(id), Some(name), Some(domain_id)) =
                (r.text("id"), r.text("name"), r.text("domain_id"))
            else {
                report.skip("groups", super::INCOMPLETE);
                continue;
            };
            source.insert(id.clone());
            if held.ids.contains(&id) {
                report.kind("groups").present += 1;
                imported.insert(id);
            } else if !domains.contains(&domain_id) {
                report.skip("groups", "its domain was not imported");
            } else if !super::usable_name(&name, lintel_model::rules::GROUP_NAME_MAX) {
                report.skip("groups", super::UNUSABLE_NAME);
            } else if !held.claim(format!("{domain_id}/{name}")) {
                report.skip("groups", "another group in its domain already has its name");
            } else {
                report.kind("groups").imported += 1;
                self.groups.push(group::ActiveModel {
                    id: Set(id.clone()),
                    name: Set(name),
                    domain_id: Set(domain_id),
                    description: Set(r.text("description")),
                    created_at: Set(self.now),
                });
                imported.insert(id);
            }
        }
        self.foreign_of("groups", &held.ids, &source);
        let held =
            keys_of::<membership::Entity>(db, |m| format!("{}/{}", m.user_id, m.group_id)).await?;
        for r in t.rows("user_group_membership") {
            let (Some(u), Some(g)) = (r.text("user_id"), r.text("group_id")) else {
                report.skip("group memberships", super::INCOMPLETE);
                continue;
            };
            if held.contains(&format!("{u}/{g}")) {
                report.kind("group memberships").present += 1;
            } else if !users.contains(&u) || !imported.contains(&g) {
                report.skip("group memberships", "its user or group was not imported");
            } else {
                report.kind("group memberships").imported += 1;
                self.memberships.push(membership::ActiveModel {
                    user_id: Set(u),
                    group_id: Set(g),
                });
            }
        }
        Ok(imported)
    }
}
