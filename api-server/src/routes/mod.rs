//! The HTTP surface: one module per area, each with `router()`. [`app`] merges them under their
//! prefixes and adds the cross-cutting layers; [`Reply`] renders the success envelope.

pub mod analytics;
pub mod audit;
pub mod auth;
pub mod bulk;
pub mod cached;
pub mod cashback;
pub mod dashboard;
pub mod health;
pub mod notifications;
pub mod onboarding;
pub mod orders;
pub mod params;
pub mod products;
pub mod stock;
pub mod team;
pub mod uploads;
pub mod variants;

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    http::StatusCode,
    middleware::{from_fn, from_fn_with_state},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer, sensitive_headers::SetSensitiveRequestHeadersLayer,
    timeout::TimeoutLayer, trace::TraceLayer,
};

use crate::{middleware as mw, ratelimit::Limit, state::AppState};

/// JSON body limit (contract §1.1).
pub const BODY_LIMIT: usize = 50 * 1024;

/// The success envelope `{success:true, message?, data?, …extra}` with a status.
#[derive(Debug, Clone)]
pub struct Reply {
    status: StatusCode,
    body: Map<String, Value>,
    audit: Option<crate::audit::AuditChange>,
}

impl Reply {
    /// 200 with `data`.
    pub fn data(data: Value) -> Self {
        Self::empty().with("data", data)
    }

    /// 200 with only `success`.
    pub fn empty() -> Self {
        let mut body = Map::new();
        body.insert("success".into(), Value::Bool(true));
        Self {
            status: StatusCode::OK,
            body,
            audit: None,
        }
    }

    /// Add a `message`.
    pub fn message(self, message: impl Into<String>) -> Self {
        self.with("message", Value::String(message.into()))
    }

    /// Add any top-level key.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.body.insert(key.into(), value);
        self
    }

    /// Enrich the automatic audit record of this request.
    pub fn audit(mut self, change: crate::audit::AuditChange) -> Self {
        self.audit = Some(change);
        self
    }

    /// Change the status (e.g. 201).
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(Value::Object(self.body))).into_response();
        if let Some(change) = self.audit {
            response.extensions_mut().insert(change);
        }
        response
    }
}

/// A panicking handler answers 500 in the error envelope (the panic itself is logged).
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %detail, "handler panicked");
    let body = serde_json::json!({ "success": false, "message": "Internal server error" });
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

/// The routes below `/api/merchant`, behind the general limiter.
fn merchant_api(state: &AppState) -> Router<AppState> {
    Router::new()
        .nest("/auth", auth::router(state))
        .nest("/onboarding", onboarding::router())
        .nest(
            "/products",
            products::router(state)
                .merge(variants::router(state))
                .merge(stock::router(state)),
        )
        .merge(stock::dashboard_router())
        .nest("/team", team::router())
        .nest("/team-public", team::public_router())
        .nest("/cashback", cashback::router())
        .nest("/audit", audit::router())
        .nest("/dashboard", dashboard::router())
        .nest("/orders", orders::router())
        .nest("/notifications", notifications::router())
        .nest("/uploads", uploads::router())
        .nest("/bulk", bulk::router())
        .nest("/analytics", analytics::router())
        .layer(from_fn_with_state(
            (state.clone(), Limit::General),
            crate::ratelimit::enforce,
        ))
}

/// Every route of the application, without the cross-cutting layers.
fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(uploads::public_router())
        .nest("/api/merchant", merchant_api(state))
        .fallback(mw::not_found)
        .method_not_allowed_fallback(mw::method_not_allowed)
}

/// The whole application with its layers, outermost first. They form one stack applied in one
/// `Router::layer` call: axum boxes and clones each `Router::layer` level on every request, and
/// a level per layer cost a measurable share of a request's CPU.
pub fn app(state: AppState) -> Router {
    let layers = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            axum::http::header::AUTHORIZATION,
        ]))
        .layer(from_fn(mw::request_id))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(mw::request_span)
                .on_response(mw::record_response)
                .on_failure(mw::log_failure),
        )
        .layer(from_fn(mw::security_headers))
        .layer(mw::cors(&state.settings.cors_origins))
        .layer(CatchPanicLayer::custom(panic_response))
        // Outside the timeout: what a timed-out handler left unread is discarded too.
        .layer(from_fn(crate::body_limit::finish_unread))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.settings.request_timeout,
        ))
        .layer(from_fn(mw::run_to_completion))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(from_fn_with_state(state.clone(), mw::track_metrics))
        // Before the two below, which read its outcome.
        .layer(from_fn_with_state(state.clone(), mw::authenticate))
        .layer(from_fn_with_state(state.clone(), mw::invalidate_analytics))
        .layer(from_fn_with_state(
            state.clone(),
            crate::audit::layer::record,
        ));
    routes(&state).layer(layers).with_state(state)
}
