//! Prometheus metrics of the operator: reconciles, errors by bounded category, reconcile
//! durations, applies per child kind and API requests per verb (the latter fed by the client's
//! counting layer, so tests and the benchmark can prove "no writes when settled").

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Label set with one bounded label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CategoryLabel {
    /// Error category (`Error::category`).
    pub category: &'static str,
}

/// Label set naming a child kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// Child kind.
    pub kind: &'static str,
}

/// Label set naming an API verb.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabel {
    /// get, list, watch, create, update, patch, delete.
    pub verb: &'static str,
}

/// Every metric the operator exports, plus its registry.
pub struct Metrics {
    registry: Registry,
    reconciles: Counter,
    failures: Family<CategoryLabel, Counter>,
    duration: Histogram,
    applies: Family<KindLabel, Counter>,
    drift: Family<KindLabel, Counter>,
    requests: Family<VerbLabel, Counter>,
    fenced: Counter,
    last_write: Gauge<f64, AtomicU64>,
    leader: Gauge,
    writes: AtomicU64,
    total_requests: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("merchant_operator");
        let reconciles = Counter::default();
        let failures = Family::<CategoryLabel, Counter>::default();
        let duration = Histogram::new([
            0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        let applies = Family::<KindLabel, Counter>::default();
        let drift = Family::<KindLabel, Counter>::default();
        let requests = Family::<VerbLabel, Counter>::default();
        let fenced = Counter::default();
        let last_write = Gauge::<f64, AtomicU64>::default();
        let leader = Gauge::default();
        registry.register(
            "fenced_writes",
            "Writes refused because leadership was not confirmed within the renew deadline",
            fenced.clone(),
        );
        registry.register(
            "last_write_timestamp_seconds",
            "Wall-clock time the last write request was sent (Unix seconds)",
            last_write.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leadership Lease (or runs without election)",
            leader.clone(),
        );
        registry.register("reconciles", "Reconciles run", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Failed reconciles by category",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            duration.clone(),
        );
        registry.register(
            "child_applies",
            "Server-side applies issued per child kind",
            applies.clone(),
        );
        registry.register(
            "drift_corrections",
            "Children edited by another writer and put back, per kind",
            drift.clone(),
        );
        registry.register(
            "api_requests",
            "Kubernetes API requests issued per verb",
            requests.clone(),
        );
        Self {
            registry,
            reconciles,
            failures,
            duration,
            applies,
            drift,
            requests,
            fenced,
            last_write,
            leader,
            writes: AtomicU64::new(0),
            total_requests: AtomicU64::new(0),
        }
    }
}

/// Records the reconcile duration when dropped.
pub struct ReconcileTimer<'a> {
    start: Instant,
    histogram: &'a Histogram,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

impl Metrics {
    /// Count a reconcile and time it until the guard drops.
    pub fn reconcile_timer(&self) -> ReconcileTimer<'_> {
        self.reconciles.inc();
        ReconcileTimer {
            start: Instant::now(),
            histogram: &self.duration,
        }
    }

    /// Count a failed reconcile.
    pub fn failure(&self, category: &'static str) {
        self.failures
            .get_or_create(&CategoryLabel { category })
            .inc();
    }

    /// Count a server-side apply of a child.
    pub fn child_applied(&self, kind: &'static str) {
        self.applies.get_or_create(&KindLabel { kind }).inc();
    }

    /// Count a child put back after a foreign edit.
    pub fn drift_corrected(&self, kind: &'static str) {
        self.drift.get_or_create(&KindLabel { kind }).inc();
    }

    /// Count an API request (called by the client's counting layer).
    pub fn request(&self, verb: &'static str) {
        self.requests.get_or_create(&VerbLabel { verb }).inc();
        self.total_requests.fetch_add(1, Ordering::Relaxed);
        if matches!(verb, "create" | "update" | "patch" | "delete") {
            self.writes.fetch_add(1, Ordering::Relaxed);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            self.last_write.set(now);
        }
    }

    /// Count a write refused by the leadership fence.
    pub fn write_fenced(&self) {
        self.fenced.inc();
    }

    /// Writes refused by the leadership fence so far.
    pub fn fenced_writes(&self) -> u64 {
        self.fenced.get()
    }

    /// Record whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Write requests (create, update, patch, delete) issued so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// All API requests issued so far.
    pub fn requests(&self) -> u64 {
        self.total_requests.load(Ordering::Relaxed)
    }

    /// Prometheus text exposition.
    ///
    /// # Errors
    /// Only if formatting into a String fails.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Bounded verb of an HTTP request to the API server.
pub fn verb(method: &http::Method, query: Option<&str>) -> &'static str {
    let watch = query.is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    match *method {
        http::Method::GET if watch => "watch",
        http::Method::GET => "get",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_counted_apart_from_reads() {
        let m = Metrics::default();
        m.request(verb(
            &http::Method::GET,
            Some("watch=true&resourceVersion=1"),
        ));
        m.request(verb(&http::Method::PATCH, None));
        assert_eq!((m.requests(), m.writes()), (2, 1));
        let text = m.encode().expect("encode");
        assert!(
            text.contains("merchant_operator_api_requests_total{verb=\"watch\"} 1"),
            "{text}"
        );
    }
}
