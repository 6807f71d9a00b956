//! Reading a table of notices (revocation events, `view_change`) as rows arrive, without missing one.
//!
//! Row ids come from a sequence (PostgreSQL) or auto-increment (MariaDB) when a row is inserted, not when its
//! transaction commits: a transaction that took id 10 may commit after one that took id 11. A reader that asked
//! only for "ids above the last one seen" would step over 10 for good. So the cursor remembers the ids it stepped
//! over (gaps) and asks for them again, until they turn up or [`GAP_POLLS`] polls have passed (a rolled-back
//! transaction leaves a gap that never fills; no write transaction stays open that long).

use std::collections::BTreeMap;

/// How many polls a missing id is asked for again (a minute at four polls a second).
pub const GAP_POLLS: u32 = 240;
/// Only ids this close below the newest are taken for gaps: further down, a missing id is a pruned or
/// rolled-back row, not one still being committed.
const GAP_SPAN: i64 = 1000;
/// At most this many gaps are kept (and asked for in one query); past it the oldest are given up.
const MAX_GAPS: usize = 500;

/// The rows of a table of notices a cursor has yet to see: above its last id, or in its gaps.
pub fn unseen<C: sea_orm::ColumnTrait>(id: C, cursor: &Cursor) -> sea_orm::Condition {
    let above = sea_orm::Condition::any().add(id.gt(cursor.last()));
    match cursor.gaps() {
        gaps if gaps.is_empty() => above,
        gaps => above.add(id.is_in(gaps)),
    }
}

/// Where a reader stands in a table of notices.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    after: i64,
    /// Missing ids below `after`, with the polls each has left.
    gaps: BTreeMap<i64, u32>,
}

impl Cursor {
    /// A cursor that reads the rows after `after`.
    pub fn after(after: i64) -> Cursor {
        Cursor {
            after,
            gaps: BTreeMap::new(),
        }
    }

    /// The newest id seen.
    pub fn last(&self) -> i64 {
        self.after
    }

    /// The ids to ask for again besides those above [`Self::last`].
    pub fn gaps(&self) -> Vec<i64> {
        self.gaps.keys().copied().collect()
    }

    /// Take a page of rows (ids in ascending order): gaps they fill are closed, ids they step over are gaps.
    pub fn saw(&mut self, ids: &[i64]) {
        for &id in ids {
            if self.gaps.remove(&id).is_some() || id <= self.after {
                continue;
            }
            for missing in (self.after + 1).max(id - GAP_SPAN)..id {
                self.gaps.insert(missing, GAP_POLLS);
            }
            self.after = id;
        }
        while self.gaps.len() > MAX_GAPS {
            self.gaps.pop_first();
        }
    }

    /// One poll has passed: gaps asked for long enough are given up.
    pub fn tick(&mut self) {
        self.gaps.retain(|_, left| {
            *left -= 1;
            *left > 0
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_committed_late_is_read_on_a_later_poll_and_given_up_after_a_minute() {
        let mut c = Cursor::after(9);
        // 10 took its id first but has not committed; 11 and 13 have.
        c.saw(&[11, 13]);
        assert_eq!(c.last(), 13);
        assert_eq!(c.gaps(), [10, 12]);
        // 10 commits: the next poll asks for it and finds it.
        c.tick();
        c.saw(&[10]);
        assert_eq!(c.gaps(), [12]);
        assert_eq!(c.last(), 13, "a late row does not move the cursor back");
        // 12 was rolled back: asked for a minute, then given up.
        for _ in 0..GAP_POLLS - 2 {
            c.tick();
        }
        assert_eq!(c.gaps(), [12]);
        c.tick();
        assert!(c.gaps().is_empty());
    }

    #[test]
    fn gaps_are_bounded_in_span_and_number() {
        let mut c = Cursor::after(0);
        // A node starting over a long history with pruned rows: only ids near the newest are gaps.
        c.saw(&[5, 100_000]);
        assert_eq!(c.gaps().len(), MAX_GAPS);
        assert!(c.gaps().iter().all(|&g| g > 100_000 - GAP_SPAN));
        // A row seen twice (asked for as a gap and above the cursor in one page) counts once.
        let mut c = Cursor::after(0);
        c.saw(&[1, 1, 2]);
        assert_eq!((c.last(), c.gaps().len()), (2, 0));
    }
}
