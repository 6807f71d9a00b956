//! What a domain operation may use: the clock, the store, the caches it keeps coherent, the hasher, the token
//! codec, the audit trail and the configuration. HTTP-only parts (the access log's counters) live in
//! [`crate::state::AppState`], which wraps this and dereferences to it, so a handler passes `&state` where an
//! operation asks for `&Context`.

use crate::config::Config;
use crate::crypto::hashing::Hasher;
use crate::store::Db;
use crate::token::{RevocationIndex, TokenCodec};
use crate::view::AuthzView;

/// The domain's context: one per process, shared by every operation.
pub struct Context {
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
    pub validations: crate::token::ValidationCache,
    /// `jti`s of accepted client assertions.
    pub assertions: crate::client_assertion::ReplayCache,
    /// The audit trail.
    pub audit: crate::audit::Audit,
    /// This node among the others: its id and how fresh what it holds is.
    pub node: crate::cluster::Node,
    /// Token issuance quotas per credential and per project.
    pub quotas: crate::credential::quota::Quotas,
    /// Identity providers' keys.
    pub federation_keys: crate::federation::jwt::Keys,
}

impl Context {
    /// Assemble the context on an open database, with a token codec and an audit sink.
    pub fn new(config: Config, db: Db, tokens: TokenCodec, audit: crate::audit::Audit) -> Self {
        Self::with_clock(config, db, tokens, audit, crate::clock::Clock::system())
    }

    /// The same with a given clock (tests move time by hand).
    pub fn with_clock(
        config: Config,
        db: Db,
        tokens: TokenCodec,
        audit: crate::audit::Audit,
        clock: crate::clock::Clock,
    ) -> Self {
        // The store's errors are counted where they are converted (lintel-model): into this process's metrics.
        let _ = crate::store::ON_DATABASE_ERROR.set(|| {
            crate::metrics::metrics().database_errors.inc();
        });
        let hasher = Hasher::new(config.server.hash_workers);
        let throttle = crate::throttle::Throttle::new(config.oauth2.throttle, clock.clone());
        let view = AuthzView::new(clock.clone());
        let secrets = crate::credential::SecretCache::new(clock.clone());
        let node = crate::cluster::Node::new(&clock);
        let quotas = crate::credential::quota::Quotas::new(&config.oauth2);
        let federation_keys = crate::federation::jwt::Keys::new(&config.federation);
        Context {
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
            audit,
            node,
            quotas,
            federation_keys,
        }
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
