//! Health, readiness, metrics and the OpenAPI document: `/health`, `/health/live`,
//! `/health/ready`, `/metrics`, `/openapi.json`. No auth, no rate limits.

use std::{
    future::Future,
    sync::{Arc, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use crate::{state::AppState, store::json::iso};

/// Health routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one dependency check answers `/health` and `/health/ready` outright.
const PROBE_TTL: Duration = Duration::from_secs(1);

/// An older result is still served at once while it is refreshed in the background; past this
/// age (an idle server) the caller waits for a fresh check.
const STALE_LIMIT: Duration = Duration::from_secs(10);

/// `connected`, `disconnected` or `not_configured` for MongoDB and Redis.
type Dependencies = (&'static str, &'static str);

/// The last dependency check, shared by the health routes. These routes are public and not rate
/// limited: without this every call would cost a MongoDB and a Redis round trip, so a burst of
/// probes (or a flood) would load the database. One check runs at a time, and while it runs
/// callers get the previous result instead of queueing behind the database's latency.
#[derive(Debug, Default)]
pub struct Probe {
    last: std::sync::Mutex<Option<(Instant, Dependencies)>>,
    checking: Arc<tokio::sync::Mutex<()>>,
}

impl Probe {
    /// The dependencies' state, checking them with `check` when the last result is too old.
    async fn get<F>(self: &Arc<Self>, check: impl FnOnce() -> F) -> Dependencies
    where
        F: Future<Output = Dependencies> + Send + 'static,
    {
        match self.last() {
            Some((at, deps)) if at.elapsed() < PROBE_TTL => deps,
            Some((at, deps)) if at.elapsed() < STALE_LIMIT => {
                // Someone else holding the lock is already refreshing it.
                if let Ok(guard) = Arc::clone(&self.checking).try_lock_owned() {
                    let (probe, fresh) = (Arc::clone(self), check());
                    tokio::spawn(async move {
                        probe.remember(fresh.await);
                        drop(guard);
                    });
                }
                deps
            }
            _ => {
                let _guard = self.checking.lock().await;
                // The caller ahead in the queue may just have checked.
                if let Some((at, deps)) = self.last()
                    && at.elapsed() < PROBE_TTL
                {
                    return deps;
                }
                let deps = check().await;
                self.remember(deps);
                deps
            }
        }
    }

    fn last(&self) -> Option<(Instant, Dependencies)> {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remember(&self, deps: Dependencies) {
        let previous = self
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace((Instant::now(), deps))
            .map(|(_, previous)| previous);
        // Logged once per change, not once per probe answered.
        if previous.is_some_and(|p| p != deps) {
            tracing::warn!(mongo = deps.0, redis = deps.1, "dependency state changed");
        }
    }
}

/// The dependencies' state, at most [`PROBE_TTL`] old while requests keep coming.
async fn dependencies(state: &AppState) -> Dependencies {
    let owned = state.clone();
    state
        .probe
        .get(move || async move { check_dependencies(&owned).await })
        .await
}

/// Ping MongoDB and Redis now.
async fn check_dependencies(state: &AppState) -> Dependencies {
    // Spawned: a ping that outlives the timeout still completes (see mw::run_to_completion).
    let store = state.store.clone();
    let ping = tokio::spawn(async move { store.ping().await });
    let mongo = match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
        Ok(Ok(Ok(()))) => "connected",
        _ => "disconnected",
    };
    let redis = match &state.redis {
        None => "not_configured",
        Some(conn) => {
            let mut conn = conn.clone();
            let cmd = redis::cmd("PING");
            match tokio::time::timeout(CHECK_TIMEOUT, cmd.query_async::<String>(&mut conn)).await {
                Ok(Ok(_)) => "connected",
                _ => "disconnected",
            }
        }
    };
    (mongo, redis)
}

fn now() -> String {
    iso(crate::store::DateTime::now())
}

/// Overall health: 200 when MongoDB (and Redis, if configured) answer, else 503.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "Healthy", body = Object), (status = 503, description = "Degraded", body = Object)))]
pub async fn health(State(state): State<AppState>) -> Response {
    let (db, redis) = dependencies(&state).await;
    let healthy = db == "connected" && redis != "disconnected";
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "db": db,
        "redis": redis,
        "uptime": state.started.elapsed().as_secs(),
        "version": env!("CARGO_PKG_VERSION"),
        "timestamp": now(),
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, description = "Alive", body = Object)))]
pub async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: MongoDB and (if configured) Redis answer.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, description = "Ready", body = Object), (status = 503, description = "Not ready", body = Object)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let (mongo, redis) = dependencies(&state).await;
    let ready = mongo == "connected" && redis != "disconnected";
    let body = json!({ "ready": ready, "mongo": mongo, "redis": redis, "timestamp": now() });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus metrics (OpenMetrics text)", body = String,
    content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    (
        [(header::CONTENT_TYPE, content_type)],
        state.metrics.encode(),
    )
        .into_response()
}

/// This API's OpenAPI 3 document.
#[utoipa::path(get, path = "/openapi.json", tag = "health", responses((status = 200, description = "OpenAPI document", body = Object)))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn counting(
        calls: &Arc<AtomicUsize>,
        deps: Dependencies,
        delay: Duration,
    ) -> impl Future<Output = Dependencies> + Send + 'static {
        let calls = Arc::clone(calls);
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            deps
        }
    }

    #[tokio::test]
    async fn concurrent_first_callers_share_one_check() {
        let (probe, calls) = (Arc::new(Probe::default()), Arc::new(AtomicUsize::new(0)));
        let ok = ("connected", "connected");
        let answers = futures::future::join_all(
            (0..20).map(|_| probe.get(|| counting(&calls, ok, Duration::from_millis(50)))),
        )
        .await;
        assert!(answers.iter().all(|a| *a == ok));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_stale_result_is_served_at_once_while_one_refresh_runs() {
        let (probe, calls) = (Arc::new(Probe::default()), Arc::new(AtomicUsize::new(0)));
        let (ok, down) = (("connected", "connected"), ("disconnected", "connected"));
        *probe.last.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now() - PROBE_TTL, ok));
        let started = Instant::now();
        for _ in 0..10 {
            // The slow check must not hold these callers up.
            let deps = probe
                .get(|| counting(&calls, down, Duration::from_millis(300)))
                .await;
            assert_eq!(deps, ok);
        }
        assert!(
            started.elapsed() < Duration::from_millis(250),
            "{:?}",
            started.elapsed()
        );
        // Let the spawned refresh start (the test runtime has a single thread).
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one background refresh");
        tokio::time::sleep(Duration::from_millis(400)).await;
        let deps = probe.get(|| counting(&calls, ok, Duration::ZERO)).await;
        assert_eq!(deps, down, "the refreshed result is served next");
    }

    #[tokio::test]
    async fn a_result_past_the_stale_limit_is_checked_before_answering() {
        let (probe, calls) = (Arc::new(Probe::default()), Arc::new(AtomicUsize::new(0)));
        let (ok, down) = (
            ("connected", "connected"),
            ("disconnected", "not_configured"),
        );
        *probe.last.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now() - STALE_LIMIT, ok));
        let deps = probe.get(|| counting(&calls, down, Duration::ZERO)).await;
        assert_eq!(deps, down);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
