//! Revocation events and the in-memory index that checks a token against all of them in O(1).
//!
//! An event revokes every token issued at or before its time that matches all of its fields. Events are written
//! to the database in the same transaction as the change that causes them; when that transaction commits, the
//! node settles them (src/cluster.rs: applied here up to the time any node may have served from before the change,
//! and recorded again with that time), and other nodes read them as they follow the table.

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::NaiveDateTime;

use super::TokenData;
use crate::error::DomainResult;
use crate::store::Db;

pub use crate::model::revocation::{Event, RevKey};

/// Record events of their own (not part of another change), make them hold on every node
/// ([`crate::cluster::settle`]), and put each revoked token (by its audit id) in the audit trail.
pub async fn revoke(
    cx: &crate::context::Context,
    who: &crate::audit::Initiator,
    events: &[Event],
) -> DomainResult<()> {
    crate::cluster::settle(cx, events).await?;
    for e in events {
        if let RevKey::Audit(id) = &e.key {
            cx.audit_change(who, crate::audit::Operation::Deleted, "token", id, &[]);
        }
    }
    Ok(())
}

/// Facts about a token that are not in the token itself: the domains of its user and project.
#[derive(Debug, Clone, Default)]
pub struct TokenContext<'a> {
    /// The user's domain id.
    pub user_domain: Option<&'a str>,
    /// The scoped project's domain id.
    pub project_domain: Option<&'a str>,
}

/// The in-memory index: the latest event time for each key.
#[derive(Default)]
pub struct RevocationIndex {
    latest: RwLock<HashMap<RevKey, NaiveDateTime>>,
    cursor: std::sync::Mutex<crate::store::follow::Cursor>,
    /// Events this node wrote and settled itself, until it reads them back: what it held was dropped when it
    /// settled them, so reading them is no news (taking them as another node's would revoke the tokens it issued
    /// since).
    own: std::sync::Mutex<std::collections::HashSet<(RevKey, NaiveDateTime)>>,
}

/// At most this many of this node's own events are remembered; past it they are forgotten, and read back as any
/// other node's (which revokes a little more, never less).
const MAX_OWN: usize = 10_000;

impl RevocationIndex {
    /// Apply an event to the index.
    pub fn apply(&self, event: &Event) {
        let mut map = self
            .latest
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = map.entry(event.key.clone()).or_insert(event.issued_before);
        if *slot < event.issued_before {
            *slot = event.issued_before;
        }
    }

    /// Remember events this node wrote and has settled.
    pub fn wrote(&self, events: &[Event]) {
        let mut own = self
            .own
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if own.len() + events.len() > MAX_OWN {
            own.clear();
        }
        own.extend(events.iter().map(|e| (e.key.clone(), e.issued_before)));
    }

    /// Whether an event read back is one this node wrote and settled (it is then forgotten).
    pub fn is_own(&self, event: &Event) -> bool {
        self.own
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&(event.key.clone(), event.issued_before))
    }

    /// How many distinct keys are indexed.
    pub fn len(&self) -> usize {
        self.latest.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether any event revokes this token: a fixed number of lookups per token, whatever the number of events.
    pub fn is_revoked(&self, t: &TokenData, ctx: &TokenContext<'_>) -> bool {
        let map = self
            .latest
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.is_empty() {
            return false;
        }
        let hit = |k: RevKey| map.get(&k).is_some_and(|at| t.issued_at <= *at);
        if t.audit_ids.iter().any(|a| hit(RevKey::Audit(a.clone())))
            || hit(RevKey::User(t.user_id.clone()))
        {
            return true;
        }
        if let super::Scope::Project(p) = &t.scope {
            if hit(RevKey::Project(p.clone()))
                || hit(RevKey::UserProject(t.user_id.clone(), p.clone()))
            {
                return true;
            }
        }
        if let super::Scope::Domain(d) = &t.scope {
            if hit(RevKey::Domain(d.clone())) {
                return true;
            }
        }
        let domains = [ctx.user_domain, ctx.project_domain];
        if domains
            .into_iter()
            .flatten()
            .any(|d| hit(RevKey::Domain(d.to_string())))
        {
            return true;
        }
        if t.app_cred_id
            .as_ref()
            .is_some_and(|c| hit(RevKey::AppCred(c.clone())))
        {
            return true;
        }
        t.role_ids.iter().any(|r| hit(RevKey::Role(r.clone())))
    }

    /// The events the cursor has not seen yet (all of them the first time), page by page, with the cursor past
    /// them (store/src/follow.rs). Neither is applied: the caller decides up to when each event revokes, and moves
    /// the cursor on ([`Self::read_up_to`]) only once it has applied them, so that a failure in between reads them
    /// again rather than loses them.
    pub async fn unseen(
        &self,
        db: &Db,
    ) -> DomainResult<(Vec<Event>, crate::store::follow::Cursor)> {
        // In pages, so a node starting over 100,000 events never holds them all as rows at once.
        const PAGE: u64 = 1000;
        let mut cursor = self
            .cursor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut events = Vec::new();
        loop {
            let rows = crate::store::revocations::newer(db, &cursor, PAGE).await?;
            let page = rows.len() as u64;
            let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
            cursor.saw(&ids);
            events.extend(rows.into_iter().filter_map(|(_, event)| event));
            if page < PAGE {
                break;
            }
        }
        cursor.tick();
        Ok((events, cursor))
    }

    /// The events [`Self::unseen`] returned with `cursor` are applied: read on from there.
    pub fn read_up_to(&self, cursor: crate::store::follow::Cursor) {
        *self
            .cursor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = cursor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Scope;
    use chrono::Duration;

    fn token(issued: NaiveDateTime) -> TokenData {
        TokenData {
            methods: vec!["password".into()],
            user_id: "u1".into(),
            scope: Scope::Project("p1".into()),
            role_ids: vec!["r1".into()],
            issued_at: issued,
            expires_at: issued + Duration::hours(1),
            audit_ids: vec!["aud".into()],
            app_cred_id: None,
            cert: None,
            keystone_cert: None,
        }
    }

    #[test]
    fn events_revoke_tokens_issued_at_or_before_them_only() {
        let idx = RevocationIndex::default();
        let t0 = crate::clock::Clock::system().now();
        let ctx = TokenContext {
            user_domain: Some("d1"),
            project_domain: Some("d2"),
        };
        assert!(!idx.is_revoked(&token(t0), &ctx));
        for key in [
            RevKey::User("u1".into()),
            RevKey::Project("p1".into()),
            RevKey::UserProject("u1".into(), "p1".into()),
            RevKey::Domain("d2".into()),
            RevKey::Role("r1".into()),
            RevKey::Audit("aud".into()),
        ] {
            let idx = RevocationIndex::default();
            idx.apply(&Event {
                key: key.clone(),
                issued_before: t0,
            });
            assert!(
                idx.is_revoked(&token(t0), &ctx),
                "{key:?} at the same microsecond revokes"
            );
            assert!(
                !idx.is_revoked(&token(t0 + Duration::microseconds(1)), &ctx),
                "{key:?} spares later tokens"
            );
        }
        idx.apply(&Event {
            key: RevKey::User("someone-else".into()),
            issued_before: t0,
        });
        assert!(!idx.is_revoked(&token(t0), &ctx));
    }
}
