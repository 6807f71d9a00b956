//! Keystone's revocation events: a token revoked in Keystone before the move stays revoked in Lintel.

use std::collections::HashSet;

use entity::revocation_event;
use sea_orm::ActiveValue::{NotSet, Set};

use super::{ImportError, Plan, Report};
use crate::keystone::Tables;
use lintel_store::bulk::keys_of;
use lintel_store::Db;

/// An event's meaning, for telling whether Lintel holds it already.
fn meaning(
    user: &Option<String>,
    project: &Option<String>,
    domain: &Option<String>,
    audit: &Option<String>,
    role: &Option<String>,
    before: &chrono::NaiveDateTime,
) -> String {
    format!("{user:?}/{project:?}/{domain:?}/{audit:?}/{role:?}/{before}")
}

impl Plan {
    pub(super) async fn revocations(
        &mut self,
        db: &Db,
        t: &Tables,
        report: &mut Report,
    ) -> Result<(), ImportError> {
        let held: HashSet<String> = keys_of::<revocation_event::Entity>(db, |m| {
            meaning(
                &m.user_id,
                &m.project_id,
                &m.domain_id,
                &m.audit_id,
                &m.role_id,
                &m.issued_before,
            )
        })
        .await?;
        for r in t.rows("revocation_event") {
            let Some(before) = r.time("issued_before") else {
                report.skip("revocation events", super::INCOMPLETE);
                continue;
            };
            if ["trust_id", "consumer_id", "access_token_id"]
                .iter()
                .any(|c| r.text(c).is_some())
            {
                report.skip(
                    "revocation events",
                    "trust and OAuth 1.0a tokens are not taken by Lintel",
                );
                continue;
            }
            // A chain's events revoke every token that carries the chain's audit id, as Lintel's audit events do.
            let audit = r.text("audit_id").or_else(|| r.text("audit_chain_id"));
            let (user, project, domain, role) = (
                r.text("user_id"),
                r.text("project_id"),
                r.text("domain_id"),
                r.text("role_id"),
            );
            if held.contains(&meaning(&user, &project, &domain, &audit, &role, &before)) {
                report.kind("revocation events").present += 1;
                continue;
            }
            report.kind("revocation events").imported += 1;
            self.events.push(revocation_event::ActiveModel {
                id: NotSet,
                user_id: Set(user),
                project_id: Set(project),
                domain_id: Set(domain),
                audit_id: Set(audit),
                app_cred_id: Set(None),
                role_id: Set(role),
                issued_before: Set(before),
                revoked_at: Set(r.time("revoked_at").unwrap_or(before)),
            });
        }
        Ok(())
    }
}
