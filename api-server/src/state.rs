//! `AppState`: everything handlers share, built once by `startup` and cloned per request.

use std::sync::Arc;

use crate::{
    cache::AnalyticsCache, config::Settings, mail::Mailer, metrics::Metrics,
    ratelimit::RateLimiter, security::jwt::AuthKeys, store::Store,
};

/// Shared, immutable application state.
#[derive(Clone)]
pub struct AppState {
    /// Database access.
    pub store: Store,
    /// Token keys.
    pub auth: Arc<AuthKeys>,
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// Outgoing e-mail queue.
    pub mailer: Mailer,
    /// Rate limiter.
    pub limiter: Arc<RateLimiter>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Redis, when configured (health checks).
    pub redis: Option<redis::aio::ConnectionManager>,
    /// Cached analytics results; orders code calls `invalidate_merchant` after changes.
    pub analytics_cache: Arc<AnalyticsCache>,
    /// Process start (uptime).
    pub started: std::time::Instant,
}
