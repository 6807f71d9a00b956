//! This node among the others over one database: its heartbeat, how long it may serve from memory, and how a
//! change that takes authority away is made to hold on every node before it is acknowledged.
//!
//! Lintel's tokens carry their roles, and nodes answer from memory, so "taken away" has to reach every token any
//! node issued from what it held before it learnt of the change (docs/consistency.md has the argument):
//!
//! - A token's `issued_at` is taken before anything it carries is read, so a token that carries what a node held
//!   before dropping it has an `issued_at` before that drop.
//! - Each node beats (`node` row: `seq + 1`, `beat` = when the beat began) and then reads the changes committed
//!   since; only when both succeeded does it count itself fresh from the beat's start. While other nodes are live
//!   it serves tokens (issues and validates) only within [`STALE_BOUND`] of that: so whatever it serves from before
//!   a change committed, it serves before `beat + STALE_BOUND` of a beat every node can read.
//! - A node that learns of a revocation event (its own, after the commit; another's, by reading it) first drops
//!   what it derived, then applies the event as revoking tokens issued up to the latest of: the event's own time,
//!   now, and every other node's `beat + STALE_BOUND`. The node that made the change records that time as an event
//!   of its own (so nodes that start later know it too), and answers only when every live node has beaten twice
//!   since (the count goes up only after a read that succeeded) or can no longer be serving from before it.
//!
//! A node alone (no other node beat within the last minute at its last look) keeps serving from memory through a
//! database outage, as before: nobody can take anything away meanwhile.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use crate::clock::Clock;
use crate::context::Context;
use crate::error::DomainResult;
use crate::token::revocation::Event;

/// How often a node beats and reads the changes of the others.
pub const BEAT: Duration = Duration::from_millis(250);
/// How long after the start of its last good beat a node that is not alone serves tokens from memory.
pub const STALE_BOUND: Duration = Duration::from_secs(2);
/// How recently another node must have beaten to count as live: generous, so that clocks a long way apart never
/// make a live node look gone (every time compared with a token's `issued_at` comes from the clock of the node that
/// issued it; this is the only comparison across clocks). A node that stopped without saying so is waited for
/// (at most [`STALE_BOUND`] per change) for this long.
const LIVE: Duration = Duration::from_secs(60);
/// How often a node waiting for the others to read its change looks at their beats.
const WAIT_STEP: Duration = Duration::from_millis(50);

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or_else(|_| chrono::Duration::seconds(1))
}

pub use crate::model::Peer;

/// The time an event learnt of at `applied` (after dropping what it touches) revokes tokens up to: the latest
/// `issued_at` any node can have given a token from what it held before the change.
pub fn revokes_up_to(applied: NaiveDateTime, me: &str, peers: &[Peer]) -> NaiveDateTime {
    let bound = chrono(STALE_BOUND);
    peers
        .iter()
        .filter(|p| p.id != me)
        .map(|p| p.beat + bound)
        .fold(applied, NaiveDateTime::max)
}

/// Whether another node beat recently enough to be serving.
fn is_live(now: NaiveDateTime, me: &str, p: &Peer) -> bool {
    p.id != me && p.beat + chrono(LIVE) > now
}

/// The latest `issued_at` any node may have given a token from before a change learnt of at `applied`, when the
/// other nodes' beats cannot be read.
pub fn latest_possible(applied: NaiveDateTime) -> NaiveDateTime {
    applied + chrono(STALE_BOUND)
}

/// This node: its id and how fresh what it holds is.
pub struct Node {
    /// A new id each time the node starts.
    pub id: String,
    base: Instant,
    /// When (microseconds after `base`) the last beat whose read succeeded began.
    fresh_from: AtomicU64,
    /// Whether another node was live at the last look.
    not_alone: AtomicBool,
    /// The node has stopped serving: it no longer beats.
    stopped: AtomicBool,
}

impl Node {
    /// A node just started: it reads everything it serves afresh, so it is fresh from now; it counts itself
    /// among others until it has looked.
    pub fn new(clock: &Clock) -> Node {
        Node {
            id: uuid::Uuid::new_v4().simple().to_string(),
            base: clock.instant(),
            fresh_from: AtomicU64::new(0),
            not_alone: AtomicBool::new(true),
            stopped: AtomicBool::new(false),
        }
    }

    /// The node has stopped serving.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    /// Whether it has.
    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_micros()).unwrap_or(u64::MAX)
    }

    /// A beat that began at `began` was written and the changes read after it applied.
    pub fn fresh(&self, began: Instant) {
        self.fresh_from
            .fetch_max(self.micros(began), Ordering::AcqRel);
    }

    /// What the last look at the `node` table showed.
    pub fn looked(&self, now: NaiveDateTime, peers: &[Peer]) {
        let others = peers.iter().any(|p| is_live(now, &self.id, p));
        self.not_alone.store(others, Ordering::Release);
    }

    /// Whether this node may issue and validate tokens from what it holds: alone, always; else within
    /// [`STALE_BOUND`] of its last good beat.
    pub fn may_serve(&self, clock: &Clock) -> bool {
        if !self.not_alone.load(Ordering::Acquire) {
            return true;
        }
        let fresh = Duration::from_micros(self.fresh_from.load(Ordering::Acquire));
        clock.instant().saturating_duration_since(self.base) < fresh + STALE_BOUND
    }

    /// [`Node::may_serve`] as the answer to a token request: the database is what it waits for.
    pub fn serving(&self, clock: &Clock) -> DomainResult<()> {
        if self.may_serve(clock) {
            Ok(())
        } else {
            Err(crate::error::DomainError::StoreUnavailable(
                "this node has not read the other nodes' changes for too long".into(),
            ))
        }
    }
}

/// Take events in on this node (its own just committed, or another node's just read): drop what it derived, then
/// apply each up to [`revokes_up_to`] as of now. The events as applied, and the nodes' beats as read (an error
/// when the table did not answer: then as late as any node could be).
pub async fn take_in(cx: &Context, events: &[Event]) -> (Vec<Event>, DomainResult<Vec<Peer>>) {
    cx.view.forget_revoked();
    let applied = cx.clock.now();
    let peers = crate::store::nodes::all(&cx.db).await;
    let up_to = match &peers {
        Ok(peers) => revokes_up_to(applied, &cx.node.id, peers),
        Err(_) => latest_possible(applied),
    };
    let settled: Vec<Event> = events
        .iter()
        .map(|e| Event {
            key: e.key.clone(),
            issued_before: e.issued_before.max(up_to),
        })
        .collect();
    for e in &settled {
        cx.revocations.apply(e);
    }
    // Validations that began before are stale now too.
    cx.view.forget_revoked();
    (settled, peers)
}

/// Make events this node just committed hold everywhere before the change is acknowledged: drop what this node
/// derived, apply them here up to [`revokes_up_to`], record that as events of their own for the other nodes (and
/// nodes yet to start), and wait until every live node has read them or can no longer serve from before them.
pub async fn settle(cx: &Context, events: &[Event]) -> DomainResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let committed = cx.clock.instant();
    let (settled, _) = take_in(cx, events).await;
    cx.revocations.wrote(events);
    cx.revocations.wrote(&settled);
    crate::store::revocations::record(&cx.db, &settled).await?;
    wait_for_peers(cx, committed).await;
    Ok(())
}

/// Wait until every other live node has beaten twice since now (the second beat comes after it read what was
/// committed before the first), or until it can no longer be serving from before `committed`: a node serves only
/// within [`STALE_BOUND`] of a beat, and a beat begun after `committed` reads it.
async fn wait_for_peers(cx: &Context, committed: Instant) {
    let deadline = committed + STALE_BOUND + WAIT_STEP;
    let Ok(peers) = crate::store::nodes::all(&cx.db).await else {
        return wait_until(&cx.clock, deadline).await;
    };
    let now = cx.clock.now();
    let mut waiting: Vec<(String, i64)> = peers
        .iter()
        .filter(|p| is_live(now, &cx.node.id, p))
        .map(|p| (p.id.clone(), p.seq + 2))
        .collect();
    while !waiting.is_empty() && cx.clock.instant() < deadline {
        tokio::time::sleep(WAIT_STEP).await;
        let Ok(peers) = crate::store::nodes::all(&cx.db).await else {
            continue;
        };
        waiting.retain(|(id, target)| {
            peers
                .iter()
                .find(|p| p.id == *id)
                .is_some_and(|p| p.seq < *target)
        });
    }
}

async fn wait_until(clock: &Clock, deadline: Instant) {
    let left = deadline.saturating_duration_since(clock.instant());
    tokio::time::sleep(left).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0)
            .unwrap()
            .naive_utc()
    }

    fn peer(id: &str, beat: i64) -> Peer {
        Peer {
            id: id.into(),
            seq: 1,
            beat: at(beat),
        }
    }

    #[test]
    fn an_event_reaches_as_far_as_any_other_node_may_serve_from_before_it() {
        // Alone: exactly when this node dropped what it held.
        assert_eq!(revokes_up_to(at(10), "me", &[peer("me", 9)]), at(10));
        // Another node that beat at 9 may serve what it read then until 9 + the bound.
        let bound = STALE_BOUND.as_secs() as i64;
        assert_eq!(
            revokes_up_to(at(10), "me", &[peer("me", 9), peer("b", 9), peer("c", 3)]),
            at(9 + bound)
        );
        // A node long gone changes nothing.
        assert_eq!(revokes_up_to(at(10), "me", &[peer("c", -100)]), at(10));
    }

    #[test]
    fn a_node_alone_serves_through_an_outage_and_one_among_others_only_within_the_bound() {
        let clock = Clock::system();
        let node = Node::new(&clock);
        assert!(node.may_serve(&clock), "fresh at start");
        let now = clock.now();
        node.looked(now, &[peer(&node.id, 0)]);
        clock.advance(STALE_BOUND * 10);
        assert!(node.may_serve(&clock), "alone");
        // Another node beat a moment ago: this node's last good beat is long past.
        let other = Peer {
            id: "b".into(),
            seq: 1,
            beat: clock.now(),
        };
        node.looked(clock.now(), std::slice::from_ref(&other));
        assert!(!node.may_serve(&clock));
        node.fresh(clock.instant());
        assert!(node.may_serve(&clock));
        clock.advance(STALE_BOUND);
        assert!(!node.may_serve(&clock), "the bound is exclusive");
        // The other node stopped beating: after a minute, this node is alone again.
        clock.advance(LIVE);
        node.looked(clock.now(), &[other]);
        assert!(node.may_serve(&clock));
    }
}
