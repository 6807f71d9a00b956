//! Application state shared by every request.

use std::sync::Arc;

use crate::config::Config;
use crate::hashing::Hasher;
use crate::store::Db;
use crate::token::{RevocationIndex, TokenCodec};
use crate::view::AuthzView;

/// Everything a handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The parts of [`AppState`].
pub struct Inner {
    /// The time every expiry and back-off decision reads.
    pub clock: crate::clock::Clock,
    /// Configuration, loaded once.
    pub config: Config,
    /// Database.
    pub db: Db,
    /// argon2 pool.
    pub hasher: Hasher,
    /// Token sealing and opening.
    pub tokens: TokenCodec,
    /// Revocation events, in memory.
    pub revocations: RevocationIndex,
    /// Names, flags and the catalog, cached for validation.
    pub view: AuthzView,
    /// Recently verified application credential secrets.
    pub secrets: crate::credential::SecretCache,
    /// Back-off for failed authentications.
    pub throttle: crate::throttle::Throttle,
    /// Recently validated tokens.
    pub validations: crate::auth::ValidationCache,
    /// `jti`s of accepted client assertions.
    pub assertions: crate::client_assertion::ReplayCache,
    /// Throttled refusals counted for the access log instead of logged one by one.
    pub throttled_log: crate::access_log::Throttled,
    /// The audit trail.
    pub audit: crate::audit::Audit,
    /// This node among the others: its id and how fresh what it holds is.
    pub node: crate::cluster::Node,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Assemble the state.
    pub fn new(config: Config, db: Db, tokens: TokenCodec, audit: crate::audit::Audit) -> Self {
        let hasher = Hasher::new(config.server.hash_workers);
        let clock = crate::clock::Clock::system();
        let throttle = crate::throttle::Throttle::new(config.oauth2.throttle, clock.clone());
        let view = AuthzView::new(clock.clone());
        let secrets = crate::credential::SecretCache::new(clock.clone());
        let node = crate::cluster::Node::new(&clock);
        AppState(Arc::new(Inner {
            clock,
            config,
            db,
            hasher,
            tokens,
            revocations: RevocationIndex::default(),
            view,
            secrets,
            throttle,
            validations: Default::default(),
            assertions: Default::default(),
            throttled_log: Default::default(),
            audit,
            node,
        }))
    }

    /// Record a change in the audit trail.
    pub fn audit_change(
        &self,
        who: &crate::audit::Initiator,
        operation: crate::audit::Operation,
        resource_type: &'static str,
        resource_id: &str,
        details: &[(&'static str, &str)],
    ) {
        self.audit.changed(
            self.clock.now(),
            who,
            operation,
            resource_type,
            resource_id,
            details,
        );
    }
}
