//! The catalog (regions, services, endpoints) and application credentials with their access rules.

use std::collections::{HashMap, HashSet};

use sea_orm::ActiveValue::Set;

use super::{extra, micros, parents_first, Held, ImportError, Plan, Report};
use crate::keystone::Tables;
use entity::{
    access_rule, application_credential as app_cred, application_credential_access_rule as ac_rule,
    application_credential_role as ac_role, endpoint, region, service,
};
use lintel_store::bulk::keys_of;
use lintel_store::Db;

impl Plan {
    pub(super) async fn catalog(
        &mut self,
        db: &Db,
        t: &Tables,
        report: &mut Report,
    ) -> Result<(), ImportError> {
        let held = keys_of::<region::Entity>(db, |m| m.id.clone()).await?;
        let rows = parents_first(
            t.rows("region").iter().collect(),
            |r| r.text("id").unwrap_or_default(),
            |r| r.text("parent_region_id"),
        );
        let mut regions = held.clone();
        let mut source = HashSet::new();
        for r in rows {
            let Some(id) = r.text("id") else {
                report.skip("regions", super::INCOMPLETE);
                continue;
            };
            source.insert(id.clone());
            let parent = r.text("parent_region_id");
            if held.contains(&id) {
                report.kind("regions").present += 1;
            } else if parent.as_ref().is_some_and(|p| !regions.contains(p)) {
                report.skip("regions", "its parent region was not imported");
            } else {
                report.kind("regions").imported += 1;
                self.regions.push(region::ActiveModel {
                    id: Set(id.clone()),
                    description: Set(r.text("description")),
                    parent_region_id: Set(parent),
                });
                regions.insert(id);
            }
        }
        self.foreign_of("regions", &held, &source);
        let held = keys_of::<service::Entity>(db, |m| m.id.clone()).await?;
        let mut services = held.clone();
        let mut source = HashSet::new();
        for r in t.rows("service") {
            let (Some(id), Some(kind)) = (r.text("id"), r.text("type")) else {
                report.skip("services", super::INCOMPLETE);
                continue;
            };
            source.insert(id.clone());
            if held.contains(&id) {
                report.kind("services").present += 1;
                continue;
            }
            report.kind("services").imported += 1;
            self.services.push(service::ActiveModel {
                id: Set(id.clone()),
                r#type: Set(kind),
                name: Set(extra(r, "name")),
                description: Set(extra(r, "description")),
                enabled: Set(r.flag("enabled").unwrap_or(true)),
            });
            services.insert(id);
        }
        self.foreign_of("services", &held, &source);
        let held = keys_of::<endpoint::Entity>(db, |m| m.id.clone()).await?;
        let mut source = HashSet::new();
        for r in t.rows("endpoint") {
            let (Some(id), Some(service_id), Some(interface), Some(url)) = (
                r.text("id"),
                r.text("service_id"),
                r.text("interface"),
                r.text("url"),
            ) else {
                report.skip("endpoints", super::INCOMPLETE);
                continue;
            };
            source.insert(id.clone());
            let region_id = r.text("region_id");
            if held.contains(&id) {
                report.kind("endpoints").present += 1;
            } else if !services.contains(&service_id)
                || region_id.as_ref().is_some_and(|g| !regions.contains(g))
            {
                report.skip("endpoints", "its service or region was not imported");
            } else {
                report.kind("endpoints").imported += 1;
                self.endpoints.push(endpoint::ActiveModel {
                    id: Set(id),
                    service_id: Set(service_id),
                    interface: Set(interface),
                    url: Set(url),
                    region_id: Set(region_id),
                    enabled: Set(r.flag("enabled").unwrap_or(true)),
                });
            }
        }
        self.foreign_of("endpoints", &held, &source);
        Ok(())
    }

    pub(super) async fn credentials(
        &mut self,
        db: &Db,
        t: &Tables,
        users: &HashSet<String>,
        projects: &HashSet<String>,
        roles: &HashSet<String>,
        report: &mut Report,
    ) -> Result<(), ImportError> {
        // Access rules: Keystone's API id is external_id; its integer id joins them to credentials.
        let held = keys_of::<access_rule::Entity>(db, |m| m.id.clone()).await?;
        let mut rule_ids: HashMap<i64, String> = HashMap::new();
        for r in t.rows("access_rule") {
            let (Some(internal), Some(id), Some(user_id)) =
                (r.int("id"), r.text("external_id"), r.text("user_id"))
            else {
                report.skip("access rules", super::INCOMPLETE);
                continue;
            };
            if held.contains(&id) {
                report.kind("access rules").present += 1;
                rule_ids.insert(internal, id);
            } else if !users.contains(&user_id) {
                report.skip("access rules", "its user was not imported");
            } else {
                report.kind("access rules").imported += 1;
                self.rules.push(access_rule::ActiveModel {
                    id: Set(id.clone()),
                    user_id: Set(user_id),
                    service: Set(r.text("service").unwrap_or_default()),
                    method: Set(r.text("method").unwrap_or_default()),
                    path: Set(r.text("path").unwrap_or_default()),
                    created_at: Set(self.now),
                });
                rule_ids.insert(internal, id);
            }
        }
        let mut held = Held::of::<app_cred::Entity>(
            db,
            |m| m.id.clone(),
            |m| format!("{}/{}", m.user_id, m.name),
        )
        .await?;
        let mut creds: HashMap<i64, String> = HashMap::new();
        let mut source = HashSet::new();
        for r in t.rows("application_credential") {
            let (Some(internal), Some(id), Some(name), Some(user_id), Some(secret_hash)) = (
                r.int("internal_id"),
                r.text("id"),
                r.text("name"),
                r.text("user_id"),
                r.text("secret_hash"),
            ) else {
                report.skip("application credentials", super::INCOMPLETE);
                continue;
            };
            source.insert(id.clone());
            let project_id = r.text("project_id");
            if held.ids.contains(&id) {
                report.kind("application credentials").present += 1;
                continue;
            }
            let Some(project_id) = project_id else {
                report.skip(
                    "application credentials",
                    "system-scoped credentials are not supported by Lintel",
                );
                continue;
            };
            if !users.contains(&user_id) || !projects.contains(&project_id) {
                report.skip(
                    "application credentials",
                    "its user or project was not imported",
                );
            } else if !super::usable_name(&name, lintel_model::rules::NAME_MAX) {
                report.skip("application credentials", super::UNUSABLE_NAME);
            } else if !held.claim(format!("{user_id}/{name}")) {
                report.skip(
                    "application credentials",
                    "another credential of its user already has its name",
                );
            } else {
                report.kind("application credentials").imported += 1;
                self.creds.push(app_cred::ActiveModel {
                    id: Set(id.clone()),
                    name: Set(name),
                    user_id: Set(user_id),
                    project_id: Set(project_id),
                    description: Set(r.text("description")),
                    secret_hash: Set(secret_hash),
                    unrestricted: Set(r.flag("unrestricted")),
                    expires_at: Set(micros(r.int("expires_at"))),
                    created_at: Set(self.now),
                    tls_client_auth_subject_dn: Set(None),
                    tls_client_auth_issuer_dn: Set(None),
                    tls_client_auth_x5t_s256: Set(None),
                    jwks: Set(None),
                    // Keystone rotates by a new credential and keeps no use: an imported one starts fresh.
                    prior_secret_hash: Set(None),
                    prior_secret_retires_at: Set(None),
                    rotated_at: Set(None),
                    last_used_at: Set(None),
                    last_used_from: Set(None),
                    last_used_node: Set(None),
                    prior_last_used_at: Set(None),
                    rotation_required_at: Set(None),
                    prior_jwks: Set(None),
                    issue_rate: Set(None),
                });
                creds.insert(internal, id);
            }
        }
        self.foreign_of("application credentials", &held.ids, &source);
        for r in t.rows("application_credential_role") {
            let (Some(c), Some(role_id)) = (r.int("application_credential_id"), r.text("role_id"))
            else {
                report.skip("application credential roles", super::INCOMPLETE);
                continue;
            };
            match creds.get(&c) {
                Some(id) if roles.contains(&role_id) => {
                    self.cred_roles.push(ac_role::ActiveModel {
                        application_credential_id: Set(id.clone()),
                        role_id: Set(role_id),
                    });
                }
                Some(_) => report.skip("application credential roles", "its role was not imported"),
                None => {} // its credential was present already or skipped, and counted there
            }
        }
        for r in t.rows("application_credential_access_rule") {
            let (Some(c), Some(rule)) =
                (r.int("application_credential_id"), r.int("access_rule_id"))
            else {
                report.skip("application credential access rules", super::INCOMPLETE);
                continue;
            };
            if let (Some(id), Some(rule_id)) = (creds.get(&c), rule_ids.get(&rule)) {
                self.cred_rules.push(ac_rule::ActiveModel {
                    application_credential_id: Set(id.clone()),
                    access_rule_id: Set(rule_id.clone()),
                });
            }
        }
        Ok(())
    }
}
