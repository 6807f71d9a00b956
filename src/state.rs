//! Application state shared by every request: the domain's [`Context`] and what only HTTP needs.

use std::sync::Arc;

use crate::context::Context;

/// Everything a handler needs, cheap to clone. Dereferences to the domain's [`Context`].
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The parts of [`AppState`].
pub struct Inner {
    /// What domain operations use.
    pub cx: Context,
    /// Throttled refusals counted for the access log instead of logged one by one.
    pub throttled_log: crate::access_log::Throttled,
}

impl std::ops::Deref for AppState {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.0.cx
    }
}

impl AppState {
    /// Serve a domain context.
    pub fn wrap(cx: Context) -> Self {
        AppState(Arc::new(Inner {
            cx,
            throttled_log: Default::default(),
        }))
    }

    /// The access log's count of throttled refusals.
    pub fn throttled_log(&self) -> &crate::access_log::Throttled {
        &self.0.throttled_log
    }
}
