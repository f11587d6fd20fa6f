//! Prometheus metrics (prometheus-client): HTTP requests by matched route and status, latency
//! histogram, in-flight requests and MongoDB pool connections. Served at `/metrics`.

use std::sync::atomic::AtomicU64;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Labels of request counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// Matched route template (`/api/merchant/products/{id}`) or `unmatched`.
    pub route: String,
    /// Response status code.
    pub status: u16,
}

/// Labels of the latency histogram.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// HTTP method.
    pub method: String,
    /// Matched route template.
    pub route: String,
    /// Response status code.
    pub status: u16,
}

/// The registry and its metrics.
pub struct Metrics {
    registry: Registry,
    /// Requests served.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency in seconds.
    pub latency: Family<RouteLabels, Histogram>,
    /// Requests being served.
    pub in_flight: Gauge,
    /// Open MongoDB pool connections.
    pub db_connections: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// MongoDB connections checked out.
    pub db_checked_out: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Requests waiting for a pool connection (pool too small, or the database slow).
    pub db_checkout_waiting: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// E-mails sent, by outcome.
    pub emails: Family<Vec<(String, String)>, Counter<u64, AtomicU64>>,
    /// Password verifications run (login, change-password), real or against the dummy hash.
    pub password_verifications: Counter,
    /// Rate-limit checks that could not reach Redis, by limiter and what was done.
    pub rate_limit_redis_failures: Family<Vec<(String, String)>, Counter<u64, AtomicU64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Register every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("merchant_api");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        let in_flight = Gauge::default();
        let db_connections = Gauge::default();
        let db_checked_out = Gauge::default();
        let db_checkout_waiting = Gauge::default();
        let emails = Family::default();
        let password_verifications = Counter::default();
        let rate_limit_redis_failures = Family::default();
        registry.register("http_requests", "HTTP requests served", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being served",
            in_flight.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Open MongoDB pool connections",
            db_connections.clone(),
        );
        registry.register(
            "db_pool_checked_out",
            "MongoDB connections in use",
            db_checked_out.clone(),
        );
        registry.register(
            "db_pool_checkout_waiting",
            "Operations waiting for a MongoDB pool connection",
            db_checkout_waiting.clone(),
        );
        registry.register("emails", "E-mails by outcome", emails.clone());
        registry.register(
            "password_verifications",
            "Password verifications run",
            password_verifications.clone(),
        );
        registry.register(
            "rate_limit_redis_failures",
            "Rate-limit checks Redis did not answer, by limiter and outcome (refused or local)",
            rate_limit_redis_failures.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            in_flight,
            db_connections,
            db_checked_out,
            db_checkout_waiting,
            emails,
            password_verifications,
            rate_limit_redis_failures,
        }
    }

    /// Text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Count a sent or failed e-mail.
    pub fn email(&self, outcome: &str) {
        self.emails
            .get_or_create(&vec![("outcome".into(), outcome.into())])
            .inc();
    }

    /// Track MongoDB pool events.
    pub fn on_cmap_event(&self, event: &mongodb::event::cmap::CmapEvent) {
        use mongodb::event::cmap::CmapEvent as E;
        match event {
            E::ConnectionCreated(_) => {
                self.db_connections.inc();
            }
            E::ConnectionClosed(_) => {
                self.db_connections.dec();
            }
            E::ConnectionCheckoutStarted(_) => {
                self.db_checkout_waiting.inc();
            }
            E::ConnectionCheckoutFailed(_) => {
                self.db_checkout_waiting.dec();
            }
            E::ConnectionCheckedOut(_) => {
                self.db_checkout_waiting.dec();
                self.db_checked_out.inc();
            }
            E::ConnectionCheckedIn(_) => {
                self.db_checked_out.dec();
            }
            _ => {}
        }
    }
}
