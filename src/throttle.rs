//! Throttling of failed authentications, per credential (or user) and per source address, so that guessing
//! costs the guesser time and the server no argon2.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::sync::Cache;

pub use crate::config::ThrottleLimits as Limits;

#[derive(Debug)]
struct ClientState {
    failures: u32,
    blocked_until: Option<Instant>,
}

#[derive(Debug)]
struct SourceState {
    window_start: Instant,
    failures: u32,
}

/// The throttle: bounded maps that forget idle entries.
pub struct Throttle {
    limits: Limits,
    clock: crate::clock::Clock,
    clients: Cache<String, Arc<Mutex<ClientState>>>,
    sources: Cache<IpAddr, Arc<Mutex<SourceState>>>,
}

/// A client's back-off is kept per source: wrong guesses from one address slow down that address's attempts on
/// the client, never the client's own attempts from elsewhere (each source's guesses are bounded by its own
/// back-off and its per-minute budget, so the argon2 work spent on one client stays bounded per source).
///
/// The caller's key comes from the request (a client id, a user name): one longer than [`MAX_KEY`] is kept as its
/// SHA-256, so that an entry's size is bounded whatever a client sends.
fn client_key(key: &str, source: Option<IpAddr>) -> String {
    use base64::Engine;
    use sha2::Digest;
    let hashed;
    let key = if key.len() > MAX_KEY {
        hashed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(key));
        hashed.as_str()
    } else {
        key
    };
    match source {
        Some(ip) => format!("{key}@{}", crate::transport::conn_limit::source_key(ip)),
        None => key.to_string(),
    }
}

/// The longest caller key kept as it is.
const MAX_KEY: usize = 128;

const WINDOW: Duration = Duration::from_secs(60);

impl Throttle {
    /// A throttle with these limits, timed by `clock`.
    pub fn new(limits: Limits, clock: crate::clock::Clock) -> Self {
        let idle = limits.max_backoff.max(WINDOW) * 2;
        Throttle {
            limits,
            clock,
            clients: Cache::builder()
                .max_capacity(200_000)
                .time_to_idle(idle)
                .build(),
            sources: Cache::builder()
                .max_capacity(200_000)
                .time_to_idle(WINDOW * 2)
                .build(),
        }
    }

    /// `Some(retry_after)` when this key or source must wait before another attempt.
    pub fn check(&self, key: &str, source: Option<IpAddr>) -> Option<Duration> {
        let wait = self.blocked(key, source);
        if wait.is_some() {
            crate::metrics::metrics().throttled.inc();
        }
        wait
    }

    fn blocked(&self, key: &str, source: Option<IpAddr>) -> Option<Duration> {
        let now = self.clock.instant();
        if let Some(c) = self.clients.get(&client_key(key, source)) {
            let c = c.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(until) = c.blocked_until.filter(|u| *u > now) {
                return Some(until - now);
            }
        }
        if let Some(s) = source.and_then(|ip| {
            self.sources
                .get(&crate::transport::conn_limit::source_key(ip))
        }) {
            let s = s.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let elapsed = now.duration_since(s.window_start);
            if elapsed < WINDOW && s.failures >= self.limits.source_failures_per_minute {
                return Some(WINDOW - elapsed);
            }
        }
        None
    }

    /// Record a failed attempt.
    pub fn failed(&self, key: &str, source: Option<IpAddr>) {
        let now = self.clock.instant();
        let c = self.clients.get_with(client_key(key, source), || {
            Arc::new(Mutex::new(ClientState {
                failures: 0,
                blocked_until: None,
            }))
        });
        {
            let mut c = c.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            c.failures = c.failures.saturating_add(1);
            if c.failures >= self.limits.failures_before_backoff {
                let doublings = (c.failures - self.limits.failures_before_backoff).min(20);
                let backoff = Duration::from_secs(1u64 << doublings).min(self.limits.max_backoff);
                c.blocked_until = Some(now + backoff);
            }
        }
        if let Some(ip) = source {
            let s = self
                .sources
                .get_with(crate::transport::conn_limit::source_key(ip), || {
                    Arc::new(Mutex::new(SourceState {
                        window_start: now,
                        failures: 0,
                    }))
                });
            let mut s = s.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if now.duration_since(s.window_start) >= WINDOW {
                s.window_start = now;
                s.failures = 0;
            }
            s.failures = s.failures.saturating_add(1);
        }
    }

    /// Record a success: the client starts afresh.
    pub fn succeeded(&self, key: &str, source: Option<IpAddr>) {
        self.clients.invalidate(&client_key(key, source));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            failures_before_backoff: 3,
            max_backoff: Duration::from_secs(4),
            source_failures_per_minute: 5,
        }
    }

    #[test]
    fn clients_back_off_after_repeated_failures_and_recover_on_success() {
        let t = Throttle::new(limits(), crate::clock::Clock::system());
        for _ in 0..2 {
            t.failed("c", None);
            assert!(t.check("c", None).is_none());
        }
        t.failed("c", None);
        let wait = t.check("c", None).expect("third failure blocks");
        assert!(wait <= Duration::from_secs(1));
        for _ in 0..10 {
            t.failed("c", None);
        }
        assert!(
            t.check("c", None).unwrap() <= Duration::from_secs(4),
            "capped"
        );
        assert!(
            t.check("other", None).is_none(),
            "other clients are not affected"
        );
        t.succeeded("c", None);
        assert!(t.check("c", None).is_none());
    }

    #[test]
    fn long_keys_are_kept_short_and_still_apart() {
        let (a, b) = ("a".repeat(100_000), format!("{}b", "a".repeat(99_999)));
        assert!(client_key(&a, None).len() <= MAX_KEY);
        assert_ne!(client_key(&a, None), client_key(&b, None));
        let t = Throttle::new(limits(), crate::clock::Clock::system());
        for _ in 0..3 {
            t.failed(&a, None);
        }
        assert!(t.check(&a, None).is_some());
        assert!(t.check(&b, None).is_none());
    }

    #[test]
    fn a_guessers_failures_never_slow_the_client_down_from_another_source() {
        let t = Throttle::new(limits(), crate::clock::Clock::system());
        let (guesser, client): (IpAddr, IpAddr) =
            ("10.0.0.66".parse().unwrap(), "10.0.0.1".parse().unwrap());
        for _ in 0..4 {
            t.failed("cred", Some(guesser));
        }
        assert!(
            t.check("cred", Some(guesser)).is_some(),
            "the guesser waits"
        );
        assert!(
            t.check("cred", Some(client)).is_none(),
            "the client does not"
        );
    }

    #[test]
    fn back_off_and_source_window_end_when_the_clock_passes_them() {
        let clock = crate::clock::Clock::system();
        let t = Throttle::new(limits(), clock.clone());
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        for i in 0..5 {
            t.failed("c", None);
            t.failed(&format!("k{i}"), Some(ip));
        }
        assert!(t.check("c", None).is_some());
        assert!(t.check("fresh", Some(ip)).is_some());
        clock.advance(Duration::from_secs(5));
        assert!(t.check("c", None).is_none(), "the 4 s back-off has passed");
        assert!(t.check("fresh", Some(ip)).is_some(), "the minute has not");
        clock.advance(WINDOW);
        assert!(t.check("fresh", Some(ip)).is_none(), "a new minute");
    }

    #[test]
    fn sources_are_limited_per_minute() {
        let t = Throttle::new(limits(), crate::clock::Clock::system());
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        for i in 0..5 {
            t.failed(&format!("k{i}"), Some(ip));
        }
        assert!(t.check("fresh", Some(ip)).is_some());
        assert!(t
            .check("fresh", Some("127.0.0.10".parse().unwrap()))
            .is_none());
    }
}
