//! `AppState`: everything handlers share, built once by `startup` and cloned per request.

use std::{ops::Deref, sync::Arc};

use crate::{
    audit::Auditor,
    cache::AnalyticsCache,
    config::Settings,
    mail::Mailer,
    metrics::Metrics,
    ratelimit::RateLimiter,
    security::{access::AccessCache, jwt::AuthKeys},
    store::Store,
};

/// Shared, immutable application state. axum clones it for every layer and extractor of every
/// request (dozens of times), so it is one reference-counted pointer to [`Shared`]; fields are
/// reached through `Deref` (`state.store`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Wrap the shared parts.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] points to.
pub struct Shared {
    /// Database access.
    pub store: Store,
    /// Token keys.
    pub auth: Arc<AuthKeys>,
    /// The bounded way into the password-hashing pool.
    pub hasher: crate::security::password::Hasher,
    /// Recent successful authorization checks (`extract::AuthTenant`).
    pub access_cache: Arc<AccessCache>,
    /// Recently accepted API keys (`security::api_key`).
    pub api_keys: Arc<crate::security::api_key::KeyCache>,
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
    /// Audit record writer.
    pub audit: Auditor,
    /// Short-lived per-merchant cashback pending counts.
    pub cashback_counts: Arc<crate::store::cashback::PendingCounts>,
    /// Last MongoDB/Redis check of the health routes.
    pub probe: Arc<crate::probe::Probe>,
    /// Cached analytics and dashboard results; `middleware::invalidate_caches` drops a
    /// merchant's entries after its writes.
    pub analytics_cache: Arc<AnalyticsCache>,
    /// Process start (uptime).
    pub started: std::time::Instant,
    /// Uploaded-file storage (uploads volume or S3).
    pub files: crate::uploads::FileStore,
    /// Stock adjustments of one product take turns in this replica (`routes::inventory`).
    pub stock_lanes: Arc<crate::lanes::Lanes>,
}
