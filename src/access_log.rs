//! Keeping the access log readable under a flood: every request gets its line, except that throttled refusals
//! (429) repeated by one source on one route are counted, and summarised in one line per interval. A guesser
//! sending millions of requests then writes a few lines a minute instead of gigabytes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one source's throttled refusals on one route are counted before they are summarised.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// Sources tracked at once; beyond that, refusals from sources not yet tracked count under one shared entry.
const MAX_SOURCES: usize = 10_000;

/// Throttled refusals being counted instead of logged, per source and route.
#[derive(Default)]
pub struct Throttled {
    windows: Mutex<HashMap<(Option<IpAddr>, String), Window>>,
}

struct Window {
    started: Instant,
    suppressed: u64,
}

impl Window {
    fn new(started: Instant) -> Window {
        Window {
            started,
            suppressed: 0,
        }
    }
}

/// One summary line's content: how many throttled refusals a source had on a route that were not logged one by one.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    /// The source (an IPv6 /64 counts as one), or none for the shared entry.
    pub source: Option<IpAddr>,
    /// The route template.
    pub route: String,
    /// Refusals counted but not logged.
    pub suppressed: u64,
}

impl Throttled {
    /// Whether this throttled refusal gets a line of its own: the first of its source and route in an interval
    /// does, the rest are counted.
    pub fn admit(&self, source: Option<IpAddr>, route: &str, now: Instant) -> bool {
        let source = source.map(crate::transport::conn_limit::source_key);
        let Ok(mut windows) = self.windows.lock() else {
            return true;
        };
        let mut key = (source, route.to_string());
        if !windows.contains_key(&key) && windows.len() >= MAX_SOURCES {
            key.0 = None;
        }
        match windows.get_mut(&key) {
            Some(w) if now.saturating_duration_since(w.started) < INTERVAL => {
                w.suppressed += 1;
                false
            }
            Some(w) => {
                // The interval ended before the sweep came by: report it and start a fresh one with this line.
                let suppressed = std::mem::replace(w, Window::new(now)).suppressed;
                if suppressed > 0 {
                    log(&Summary {
                        source: key.0,
                        route: key.1,
                        suppressed,
                    });
                }
                true
            }
            None => {
                windows.insert(key, Window::new(now));
                true
            }
        }
    }

    /// Take the windows whose interval has ended, returning what they counted (windows that counted nothing end
    /// silently).
    pub fn sweep(&self, now: Instant) -> Vec<Summary> {
        let Ok(mut windows) = self.windows.lock() else {
            return Vec::new();
        };
        let mut due = Vec::new();
        windows.retain(|(source, route), w| {
            if now.saturating_duration_since(w.started) < INTERVAL {
                return true;
            }
            if w.suppressed > 0 {
                due.push(Summary {
                    source: *source,
                    route: route.clone(),
                    suppressed: w.suppressed,
                });
            }
            false
        });
        due
    }

    /// Log the summaries of the windows that ended.
    pub fn report(&self, now: Instant) {
        for s in self.sweep(now) {
            log(&s);
        }
    }
}

/// The summary line. The text format writes an access line's message alone, so the message carries the fields
/// too; the JSON format has them as fields as well.
fn log(s: &Summary) {
    let source = s.source.map(tracing::field::display);
    tracing::info!(
        target: crate::log_sink::ACCESS_TARGET,
        source,
        route = %s.route,
        status = 429,
        suppressed = s.suppressed,
        interval_s = INTERVAL.as_secs(),
        "{}",
        SummaryText(s)
    );
}

/// A summary's text: the access line's `key=value` fields, then what it is.
struct SummaryText<'a>(&'a Summary);

impl std::fmt::Display for SummaryText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.0;
        match s.source {
            Some(ip) => write!(f, "source={ip} ")?,
            None => write!(f, "source=(other sources) ")?,
        }
        write!(
            f,
            "route={} status=429 suppressed={} interval_s={} throttled requests not logged one by one",
            s.route,
            s.suppressed,
            INTERVAL.as_secs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_says_its_source_route_and_count_in_text() {
        let s = Summary {
            source: Some("192.0.2.7".parse().unwrap()),
            route: "/v3/auth/tokens".into(),
            suppressed: 41,
        };
        assert_eq!(
            SummaryText(&s).to_string(),
            "source=192.0.2.7 route=/v3/auth/tokens status=429 suppressed=41 interval_s=10 \
             throttled requests not logged one by one"
        );
    }

    #[test]
    fn a_flood_of_refusals_is_one_line_and_one_summary_per_interval() {
        let t = Throttled::default();
        let start = crate::clock::Clock::system().instant();
        let guesser: Option<IpAddr> = Some("192.0.2.7".parse().unwrap());
        let other: Option<IpAddr> = Some("2001:db8::1".parse().unwrap());
        assert!(t.admit(guesser, "/v3/OS-OAUTH2/token", start));
        let logged = (1..1000)
            .filter(|i| {
                t.admit(
                    guesser,
                    "/v3/OS-OAUTH2/token",
                    start + Duration::from_millis(*i),
                )
            })
            .count();
        assert_eq!(logged, 0);
        // Another source, and the same source on another route, are logged on their own.
        assert!(t.admit(other, "/v3/OS-OAUTH2/token", start));
        assert!(!t.admit(
            Some("2001:db8::2".parse().unwrap()),
            "/v3/OS-OAUTH2/token",
            start
        ));
        assert!(t.admit(guesser, "/v3/auth/tokens", start));
        assert!(t.sweep(start + Duration::from_secs(5)).is_empty());
        let mut due = t.sweep(start + INTERVAL);
        due.sort_by_key(|s| s.suppressed);
        assert_eq!(
            due,
            vec![
                Summary {
                    source: Some("2001:db8::".parse().unwrap()),
                    route: "/v3/OS-OAUTH2/token".into(),
                    suppressed: 1
                },
                Summary {
                    source: guesser,
                    route: "/v3/OS-OAUTH2/token".into(),
                    suppressed: 999
                },
            ]
        );
        // The next interval starts with a line of its own again.
        assert!(t.admit(guesser, "/v3/OS-OAUTH2/token", start + INTERVAL));
    }

    #[test]
    fn the_tracked_sources_are_bounded() {
        let t = Throttled::default();
        let now = crate::clock::Clock::system().instant();
        for i in 0..MAX_SOURCES as u32 + 50 {
            t.admit(Some(IpAddr::from(i.to_be_bytes())), "/r", now);
        }
        assert!(t.windows.lock().unwrap().len() <= MAX_SOURCES + 1);
        assert!(!t.admit(Some("203.0.113.9".parse().unwrap()), "/r", now));
    }
}
