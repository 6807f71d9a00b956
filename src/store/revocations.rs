//! Revocation events in the database: written inside the change that causes them, read back in pages by id.

use entity::revocation_event;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

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

/// Up to `limit` events with a row id above `after`, oldest first.
pub async fn newer_than(
    db: &Db,
    after: i64,
    limit: u64,
) -> DomainResult<Vec<revocation_event::Model>> {
    Ok(revocation_event::Entity::find()
        .filter(revocation_event::Column::Id.gt(after))
        .order_by_asc(revocation_event::Column::Id)
        .limit(limit)
        .all(&db.conn)
        .await?)
}
