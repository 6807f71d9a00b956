//! Prometheus metrics: one process-wide registry, served on its own listener (`[metrics] bind`), never on the API.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of a token issuance: which endpoint, and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Issue {
    /// `oauth2` or `auth_tokens`.
    pub endpoint: &'static str,
    /// `success` or the error (an RFC 6749 code, or an HTTP status class).
    pub outcome: &'static str,
}

/// Labels of a validation.
/// A federated sign-in: the provider (only registered ones are named) and `success` or why not.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignIn {
    /// The identity provider's id.
    pub provider: String,
    /// `success`, or the refusal's reason.
    pub outcome: &'static str,
}

/// An application credential refused by an issuance quota (only the top offenders are named).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Offender {
    /// The credential's id.
    pub credential: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Validation {
    /// `valid` or `invalid`.
    pub outcome: &'static str,
}

/// Labels of a request's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Route template (bounded: never the raw path): the one its route was registered with.
    pub route: &'static str,
    /// `2xx`, `4xx`, ...
    pub status: &'static str,
}

/// Every metric Lintel exports.
pub struct Metrics {
    /// Tokens issued or refused.
    pub tokens_issued: Family<Issue, Counter>,
    /// Tokens validated (`GET/HEAD /v3/auth/tokens`).
    pub validations: Family<Validation, Counter>,
    /// Request latency by route.
    pub requests: Family<Route, Histogram, fn() -> Histogram>,
    /// Requests waiting for an argon2 thread, read at scrape time.
    pub hash_queue: Gauge,
    /// Hashing jobs run (argon2 or a legacy hash); requests that shared another's verification add nothing.
    pub hash_runs: Counter,
    /// Authentication attempts refused by back-off before any secret was checked.
    pub throttled: Counter,
    /// Database errors met while serving requests.
    pub database_errors: Counter,
    /// Application credentials expiring within 7 days.
    pub credentials_expiring_7d: Gauge,
    /// Application credentials expiring within 30 days.
    pub credentials_expiring_30d: Gauge,
    /// Application credentials not used for 90 days.
    pub credentials_unused_90d: Gauge,
    /// Application credentials whose previous secret still works after a rotation.
    pub credential_rotations_pending: Gauge,
    /// Service-account credentials marked "rotation required" (a person who saw the secret lost access).
    pub rotations_required: Counter,
    /// Token requests refused by an issuance quota.
    pub quota_refusals: Counter,
    /// Refusals in the last minute of the top offenders.
    pub quota_offenders: Family<Offender, Gauge>,
    /// Federated sign-ins by provider and outcome.
    pub federated_sign_ins: Family<SignIn, Counter>,
    registry: Registry,
}

fn latency_histogram() -> Histogram {
    // 50 µs to about 1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("lintel");
    let m = Metrics {
        tokens_issued: Family::default(),
        validations: Family::default(),
        requests: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        hash_queue: Gauge::default(),
        hash_runs: Counter::default(),
        throttled: Counter::default(),
        database_errors: Counter::default(),
        credentials_expiring_7d: Gauge::default(),
        credentials_expiring_30d: Gauge::default(),
        credentials_unused_90d: Gauge::default(),
        credential_rotations_pending: Gauge::default(),
        rotations_required: Counter::default(),
        quota_refusals: Counter::default(),
        quota_offenders: Family::default(),
        federated_sign_ins: Family::default(),
        registry: Registry::default(),
    };
    registry.register(
        "tokens_issued",
        "Token requests by endpoint and outcome",
        m.tokens_issued.clone(),
    );
    registry.register(
        "token_validations",
        "Token validations by outcome",
        m.validations.clone(),
    );
    registry.register(
        "request_duration_seconds",
        "Request latency by route",
        m.requests.clone(),
    );
    registry.register(
        "argon2_queue_depth",
        "Requests waiting for an argon2 thread",
        m.hash_queue.clone(),
    );
    registry.register(
        "argon2_runs",
        "Hashing jobs run; concurrent requests verifying the same secret share one",
        m.hash_runs.clone(),
    );
    registry.register(
        "throttled_attempts",
        "Authentication attempts refused by back-off",
        m.throttled.clone(),
    );
    registry.register(
        "database_errors",
        "Database errors while serving requests",
        m.database_errors.clone(),
    );
    registry.register(
        "application_credentials_expiring_7d",
        "Application credentials expiring within 7 days",
        m.credentials_expiring_7d.clone(),
    );
    registry.register(
        "application_credentials_expiring_30d",
        "Application credentials expiring within 30 days",
        m.credentials_expiring_30d.clone(),
    );
    registry.register(
        "application_credentials_unused_90d",
        "Application credentials not used for 90 days",
        m.credentials_unused_90d.clone(),
    );
    registry.register(
        "application_credential_rotations_pending",
        "Application credentials whose previous secret still works after a rotation",
        m.credential_rotations_pending.clone(),
    );
    registry.register(
        "application_credential_rotations_required",
        "Service-account credentials marked rotation required because a person who saw the secret lost access",
        m.rotations_required.clone(),
    );
    registry.register(
        "issuance_quota_refusals",
        "Token requests refused by an issuance quota ([oauth2] credential_issue_rate, project_issue_rate)",
        m.quota_refusals.clone(),
    );
    registry.register(
        "issuance_quota_top_offenders",
        "Refusals in the last minute of the credentials refused most (at most 10)",
        m.quota_offenders.clone(),
    );
    registry.register(
        "federated_sign_ins",
        "Sign-ins through identity providers, by provider and outcome",
        m.federated_sign_ins.clone(),
    );
    Metrics { registry, ..m }
});

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// The method label: the standard methods by name, anything else as `OTHER` (labels must stay a bounded set,
/// whatever clients send).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// A route template as a `'static` label, so that labelling a request allocates nothing. The router's templates
/// are a fixed set (a raw path never comes here), so each is copied once and kept for the process's life.
pub fn route_label(template: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{PoisonError, RwLock};
    static KNOWN: LazyLock<RwLock<HashSet<&'static str>>> = LazyLock::new(RwLock::default);
    if let Some(known) = KNOWN
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(template)
    {
        return known;
    }
    let mut known = KNOWN.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = known.get(template) {
        return known;
    }
    let kept: &'static str = Box::leak(template.into());
    known.insert(kept);
    kept
}

/// The status class label of an HTTP status.
pub fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    /// The OpenMetrics text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
