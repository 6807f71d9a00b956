//! Revocation events in the database: written inside the change that causes them, read back in pages by id.

use entity::revocation_event;
use sea_orm::{ActiveModelTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::{Db, WriteTxn};
use crate::error::DomainResult;
use crate::model::revocation::{Event, RevKey};

/// Write an event inside the caller's transaction.
pub async fn save(txn: &WriteTxn, event: &Event) -> DomainResult<()> {
    let mut row = revocation_event::ActiveModel {
        issued_before: Set(event.issued_before),
        revoked_at: Set(event.issued_before),
        ..Default::default()
    };
    match &event.key {
        RevKey::Audit(a) => row.audit_id = Set(Some(a.clone())),
        RevKey::User(u) => row.user_id = Set(Some(u.clone())),
        RevKey::Project(p) => row.project_id = Set(Some(p.clone())),
        RevKey::UserProject(u, p) => {
            row.user_id = Set(Some(u.clone()));
            row.project_id = Set(Some(p.clone()));
        }
        RevKey::Domain(d) => row.domain_id = Set(Some(d.clone())),
        RevKey::Role(r) => row.role_id = Set(Some(r.clone())),
        RevKey::AppCred(c) => row.app_cred_id = Set(Some(c.clone())),
    }
    row.insert(&txn.txn).await?;
    Ok(())
}

/// Write events in a transaction of their own.
pub async fn record(db: &Db, events: &[Event]) -> DomainResult<()> {
    let txn = db.write().await?;
    for e in events {
        save(&txn, e).await?;
    }
    Ok(txn.commit().await?)
}

/// Up to `limit` events the cursor has yet to see (above its last id, or in its gaps), oldest first, by row id
/// (a row that names no key, written by a newer release, reads as `None`: seen, and skipped).
pub async fn newer(
    db: &Db,
    cursor: &super::follow::Cursor,
    limit: u64,
) -> DomainResult<Vec<(i64, Option<Event>)>> {
    let rows = revocation_event::Entity::find()
        .filter(super::follow::unseen(revocation_event::Column::Id, cursor))
        .order_by_asc(revocation_event::Column::Id)
        .limit(limit)
        .all(&db.conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let (id, issued_before) = (row.id, row.issued_before);
            (id, key_of(row).map(|key| Event { key, issued_before }))
        })
        .collect())
}

fn key_of(r: revocation_event::Model) -> Option<RevKey> {
    Some(
        match (
            r.audit_id,
            r.user_id,
            r.project_id,
            r.domain_id,
            r.role_id,
            r.app_cred_id,
        ) {
            (Some(a), ..) => RevKey::Audit(a),
            (None, Some(u), Some(p), ..) => RevKey::UserProject(u, p),
            (None, Some(u), None, ..) => RevKey::User(u),
            (None, None, Some(p), ..) => RevKey::Project(p),
            (None, None, None, Some(d), ..) => RevKey::Domain(d),
            (None, None, None, None, Some(r), _) => RevKey::Role(r),
            (None, None, None, None, None, Some(c)) => RevKey::AppCred(c),
            _ => return None,
        },
    )
}
