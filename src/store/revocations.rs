//! Revocation events in the database: written inside the change that causes them, read back in pages by id.

use entity::revocation_event;
use sea_orm::{ActiveModelTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::{Db, WriteTxn};
use crate::error::DomainResult;
use crate::token::revocation::{Event, RevKey};

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

/// Up to `limit` events the cursor has yet to see (above its last id, or in its gaps), oldest first.
pub async fn newer(
    db: &Db,
    cursor: &super::follow::Cursor,
    limit: u64,
) -> DomainResult<Vec<revocation_event::Model>> {
    Ok(revocation_event::Entity::find()
        .filter(super::follow::unseen(revocation_event::Column::Id, cursor))
        .order_by_asc(revocation_event::Column::Id)
        .limit(limit)
        .all(&db.conn)
        .await?)
}
