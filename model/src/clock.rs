//! Time as the service sees it: the system's, which tests move forward instead of sleeping to reach an expiry.
//!
//! Every expiry and back-off decision reads this clock (clippy.toml bans the system clocks elsewhere), so that a
//! token, a credential, a lockout and a throttle all agree on what "now" is, in production and in tests alike.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Timelike};

/// A clock shared by everything one server decides; cheap to clone (clones move together).
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// How far tests have moved this clock ahead of the system's, in microseconds.
    ahead_us: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// The current UTC time, truncated to microseconds: the resolution tokens, events and every database keep.
    pub fn now(&self) -> NaiveDateTime {
        #[allow(clippy::disallowed_methods)] // the one place that reads the wall clock
        let t = chrono::Utc::now().naive_utc()
            + chrono::Duration::microseconds(self.ahead_us.load(Ordering::Relaxed));
        t.with_nanosecond(t.nanosecond() / 1_000 * 1_000)
            .unwrap_or(t)
    }

    /// Seconds since the Unix epoch.
    pub fn unix(&self) -> i64 {
        self.now().and_utc().timestamp()
    }

    /// A monotonic instant, for intervals (back-off, windows), moved with the clock.
    pub fn instant(&self) -> Instant {
        #[allow(clippy::disallowed_methods)]
        // the one place that reads the monotonic clock for decisions
        let now = Instant::now();
        let ahead = u64::try_from(self.ahead_us.load(Ordering::Relaxed)).unwrap_or(0);
        now + Duration::from_micros(ahead)
    }

    /// Move this clock (and every clone of it) forward: for tests, which must not sleep to reach an expiry.
    pub fn advance(&self, by: Duration) {
        let us = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.ahead_us.fetch_add(us, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_move_together_and_never_back() {
        let a = Clock::system();
        let b = a.clone();
        let (t0, i0) = (a.now(), a.instant());
        b.advance(Duration::from_secs(3600));
        assert!(a.now() >= t0 + chrono::Duration::seconds(3600));
        assert!(a.instant() >= i0 + Duration::from_secs(3600));
        assert_eq!(a.now().nanosecond() % 1_000, 0, "microsecond resolution");
        assert!(
            Clock::system().now() < a.now(),
            "an unmoved clock is the system's"
        );
    }
}
