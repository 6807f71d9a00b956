//! Usage you can see: when each credential (and each of its secrets, during a rotation) was last used, from where
//! and on which node. The token path only notes a use in memory (the verified-secret cache, at most once a second
//! per credential); this writer puts the notes in the database behind it, at most once a minute per credential,
//! so issuing a token never waits for a write.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};

use crate::context::Context;
use crate::error::DomainResult;
use crate::model::Which;
use crate::store::credentials::Use;

/// The most often one credential's last use is written.
pub const WRITE_EVERY: Duration = Duration::seconds(60);

/// How long this node remembers what it wrote (a use older than that is due at once anyway).
const REMEMBERED: Duration = Duration::hours(1);

/// Most uses written in one pass (the rest wait for the next).
const BATCH: usize = 500;

/// What this node has written, per credential and secret (a previous secret's use never holds back the current
/// one's): the use it wrote and when it wrote it.
#[derive(Default)]
pub struct Writer {
    written: HashMap<(String, Which), (NaiveDateTime, NaiveDateTime)>,
}

impl Writer {
    /// Write the uses noted since each credential's last write, where that write is a minute old; how many.
    pub async fn flush(&mut self, cx: &Context) -> DomainResult<usize> {
        let now = cx.clock.now();
        let since = cx.clock.unix() - REMEMBERED.num_seconds();
        let mut batch = Vec::new();
        for (id, u) in cx.secrets.uses_since(since) {
            let due = match self.written.get(&(id.clone(), u.which)) {
                Some((used, wrote)) => u.at > *used && now - *wrote >= WRITE_EVERY,
                None => true,
            };
            if due && batch.len() < BATCH {
                batch.push(Use {
                    id,
                    at: u.at,
                    from: u.from.map(|a| a.to_string()),
                    node: cx.node.id.clone(),
                    prior: u.which == Which::Prior,
                });
            }
        }
        crate::store::credentials::record_uses(&cx.db, &batch).await?;
        for u in &batch {
            let which = if u.prior {
                Which::Prior
            } else {
                Which::Current
            };
            self.written.insert((u.id.clone(), which), (u.at, now));
        }
        self.written
            .retain(|_, (_, wrote)| now - *wrote < REMEMBERED);
        Ok(batch.len())
    }
}

/// Refresh the credential gauges (expiring within 7 and 30 days, unused for 90, rotations pending).
pub async fn measure(cx: &Context) -> DomainResult<()> {
    let s = crate::store::credentials::stats(&cx.db, cx.clock.now()).await?;
    let m = crate::metrics::metrics();
    let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    m.credentials_expiring_7d.set(gauge(s.expiring_7d));
    m.credentials_expiring_30d.set(gauge(s.expiring_30d));
    m.credentials_unused_90d.set(gauge(s.unused_90d));
    m.credential_rotations_pending
        .set(gauge(s.rotations_pending));
    Ok(())
}
