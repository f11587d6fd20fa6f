//! Health, readiness, metrics and the OpenAPI document. The public port serves `/health`,
//! `/health/live`, `/health/ready` and `/openapi.json`; the admin port serves `/metrics` and the
//! two probes. No auth, no rate limits.

use std::time::Duration;

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{probe::Dependencies, state::AppState, store::json::iso};

/// Health routes of the public port.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/openapi.json", get(openapi))
}

/// The admin port: metrics for the scraper and the kubelet's probes, nothing a client calls.
pub fn admin(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(state)
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The dependencies' state, at most `probe::PROBE_TTL` old while requests keep coming.
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

/// Body of `/health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// ok | degraded.
    pub status: &'static str,
    /// MongoDB: connected | disconnected.
    pub db: &'static str,
    /// Redis: connected | disconnected | not_configured.
    pub redis: &'static str,
    /// Seconds since the process started.
    pub uptime: u64,
    /// Server version.
    pub version: &'static str,
    /// Now (ISO 8601).
    #[schema(format = DateTime)]
    pub timestamp: String,
}

/// Body of `/health/live`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Live {
    /// Always ok.
    pub status: &'static str,
}

/// Body of `/health/ready`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// MongoDB answers.
    pub ready: bool,
    /// MongoDB: connected | disconnected.
    pub mongo: &'static str,
    /// Redis: connected | disconnected | not_configured.
    pub redis: &'static str,
    /// Now (ISO 8601).
    #[schema(format = DateTime)]
    pub timestamp: String,
}

/// Overall health: 200 when MongoDB (and Redis, if configured) answer, else 503.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "Healthy", body = Health), (status = 503, description = "Degraded", body = Health)))]
pub async fn health(State(state): State<AppState>) -> Response {
    let (db, redis) = dependencies(&state).await;
    let healthy = db == "connected" && redis != "disconnected";
    let body = Health {
        status: if healthy { "ok" } else { "degraded" },
        db,
        redis,
        uptime: state.started.elapsed().as_secs(),
        version: env!("CARGO_PKG_VERSION"),
        timestamp: now(),
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, description = "Alive", body = Live)))]
pub async fn live() -> Json<Live> {
    Json(Live { status: "ok" })
}

/// Readiness: MongoDB answers. Redis is reported but does not decide: without it the security
/// rate limits refuse (503) and the rest keeps serving, so taking every replica out of the
/// load balancer for a cache outage would only turn a partial outage into a full one.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, description = "Ready", body = Ready), (status = 503, description = "Not ready", body = Ready)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let (mongo, redis) = dependencies(&state).await;
    let ready = mongo == "connected";
    let body = Ready {
        ready,
        mongo,
        redis,
        timestamp: now(),
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus text exposition.
/// Served on the admin port (`ADMIN_PORT`), so it is not part of the public API document.
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
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::COMMITTED,
    )
        .into_response()
}
