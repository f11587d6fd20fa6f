//! Health, readiness, metrics and the OpenAPI document: `/health`, `/health/live`,
//! `/health/ready`, `/metrics`, `/openapi.json`. No auth, no rate limits.

use std::time::{Duration, Instant};

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

/// How long one dependency check answers `/health` and `/health/ready`.
const PROBE_TTL: Duration = Duration::from_secs(1);

/// The last dependency check, shared by the health routes. These routes are public and not rate
/// limited: without this every call would cost a MongoDB and a Redis round trip, so a burst of
/// probes (or a flood) would load the database. Concurrent callers wait for the one check in
/// progress instead of starting their own.
#[derive(Debug, Default)]
pub struct Probe(tokio::sync::Mutex<Option<(Instant, (&'static str, &'static str))>>);

/// `connected`, `disconnected` or `not_configured` for each dependency, at most [`PROBE_TTL`] old.
async fn dependencies(state: &AppState) -> (&'static str, &'static str) {
    let mut last = state.probe.0.lock().await;
    if let Some((at, result)) = *last
        && at.elapsed() < PROBE_TTL
    {
        return result;
    }
    let result = check_dependencies(state).await;
    *last = Some((Instant::now(), result));
    result
}

/// Ping MongoDB and Redis now.
async fn check_dependencies(state: &AppState) -> (&'static str, &'static str) {
    let mongo = match tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => "connected",
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
    iso(mongodb::bson::DateTime::now())
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
