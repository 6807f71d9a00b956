//! Issuance quotas (off by default): how many tokens one application credential, and the credentials of one
//! project together, may be issued per minute on this node, so that one client fetching a token on every call
//! cannot starve the others. Past the rate the answer is 429 (`slow_down` on the OAuth 2.0 endpoint) with
//! `Retry-After`; other credentials are never touched. Refusals are counted per credential for the metrics, which
//! show only the top offenders (a bounded number of labels).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};

use crate::config::OAuth2Section;
use crate::error::{DomainError, DomainResult};
use crate::model::AppCred;

/// How many offenders the metrics name.
pub const TOP: usize = 10;

/// The quotas of one node.
pub struct Quotas {
    credential: Option<DefaultKeyedRateLimiter<String>>,
    /// Credentials with a rate of their own (`issue_rate`), each its own limiter, keyed by id and rate; idle ones
    /// are dropped (a minute idle refills a limiter anyway).
    overrides: moka::sync::Cache<(String, u32), std::sync::Arc<DefaultDirectRateLimiter>>,
    project: Option<DefaultKeyedRateLimiter<String>>,
    refused: Mutex<HashMap<String, u64>>,
}

fn limiter(per_minute: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    NonZeroU32::new(per_minute).map(|n| governor::RateLimiter::keyed(Quota::per_minute(n)))
}

impl Quotas {
    /// The quotas `[oauth2]` sets.
    pub fn new(c: &OAuth2Section) -> Quotas {
        Quotas {
            credential: limiter(c.credential_issue_rate),
            overrides: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(std::time::Duration::from_secs(300))
                .build(),
            project: limiter(c.project_issue_rate),
            refused: Mutex::default(),
        }
    }

    /// One more token for `cred`, or how many seconds to wait.
    pub fn admit(&self, cred: &AppCred) -> DomainResult<()> {
        let own = cred
            .issue_rate
            .and_then(|r| u32::try_from(r).ok())
            .and_then(NonZeroU32::new);
        let verdict = match own {
            Some(rate) => self
                .overrides
                .get_with((cred.id.clone(), rate.get()), || {
                    std::sync::Arc::new(governor::RateLimiter::direct(Quota::per_minute(rate)))
                })
                .check(),
            None => self
                .credential
                .as_ref()
                .map_or(Ok(()), |l| l.check_key(&cred.id)),
        };
        let verdict = verdict.and_then(|()| {
            self.project
                .as_ref()
                .map_or(Ok(()), |l| l.check_key(&cred.project_id))
        });
        let Err(not_until) = verdict else {
            return Ok(());
        };
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let mut refused = self
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Bounded: a flood of distinct credentials keeps at most 10,000 counters between two reports.
        if refused.len() < 10_000 || refused.contains_key(&cred.id) {
            *refused.entry(cred.id.clone()).or_default() += 1;
        }
        crate::metrics::metrics().quota_refusals.inc();
        Err(DomainError::Throttled(wait.as_secs().max(1)))
    }

    /// Publish the top offenders since the last report to the metrics (replacing the last ones), and forget
    /// limiter state nobody used recently.
    pub fn report(&self) {
        let mut refused = std::mem::take(
            &mut *self
                .refused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_iter()
        .collect::<Vec<_>>();
        refused.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let family = &crate::metrics::metrics().quota_offenders;
        family.clear();
        for (id, n) in refused.into_iter().take(TOP) {
            family
                .get_or_create(&crate::metrics::Offender { credential: id })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        for l in [&self.credential, &self.project].into_iter().flatten() {
            l.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::context_with;

    fn cred(id: &str, project: &str) -> AppCred {
        AppCred {
            id: id.into(),
            name: id.into(),
            user_id: "u".into(),
            project_id: project.into(),
            description: None,
            secret_hash: String::new(),
            unrestricted: None,
            expires_at: None,
            created_at: chrono::NaiveDateTime::default(),
            tls_client_auth_subject_dn: None,
            tls_client_auth_issuer_dn: None,
            tls_client_auth_x5t_s256: None,
            jwks: None,
            prior_secret_hash: None,
            prior_secret_retires_at: None,
            rotated_at: None,
            last_used_at: None,
            last_used_from: None,
            last_used_node: None,
            prior_last_used_at: None,
            rotation_required_at: None,
            prior_jwks: None,
            issue_rate: None,
        }
    }

    #[tokio::test]
    async fn one_credential_past_its_rate_never_touches_another_but_its_project_does() {
        let t = context_with("[oauth2]\ncredential_issue_rate = 2\nproject_issue_rate = 3\n").await;
        let q = &t.quotas;
        let (a, b, c) = (cred("a", "p1"), cred("b", "p1"), cred("c", "p2"));
        q.admit(&a).unwrap();
        q.admit(&a).unwrap();
        let err = q.admit(&a).unwrap_err();
        assert!(
            matches!(err, DomainError::Throttled(s) if (1..=60).contains(&s)),
            "{err:?}"
        );
        // b has a quota of its own, but p1 has had its three (a's third was refused by a's own quota first).
        q.admit(&b).unwrap();
        assert!(q.admit(&b).is_err(), "the project's rate");
        q.admit(&c).unwrap();
        q.admit(&c).unwrap();
        // A credential with a rate of its own is held to it, whatever the default.
        let mut d = cred("d", "p3");
        d.issue_rate = Some(1);
        q.admit(&d).unwrap();
        assert!(q.admit(&d).is_err(), "its own rate");
        q.report();
        let offenders = crate::metrics::metrics().quota_offenders.clone();
        let a_label = crate::metrics::Offender {
            credential: "a".into(),
        };
        assert_eq!(offenders.get_or_create(&a_label).get(), 1);
    }

    #[tokio::test]
    async fn off_by_default() {
        let t = context_with("").await;
        for _ in 0..1000 {
            t.quotas.admit(&cred("a", "p")).unwrap();
        }
        // ... except for a credential given a rate of its own.
        let mut e = cred("e", "p");
        e.issue_rate = Some(3);
        for _ in 0..3 {
            t.quotas.admit(&e).unwrap();
        }
        assert!(t.quotas.admit(&e).is_err());
    }
}
