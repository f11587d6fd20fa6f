//! The HTTP surface: one module per area, each with `router()`. [`app`] merges them under their
//! prefixes and adds the cross-cutting layers; [`Reply`] renders the success envelope.

pub mod analytics;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod bulk;
pub mod cached;
pub mod cashback;
pub mod cursor;
pub mod dashboard;
pub mod health;
pub mod inventory;
pub mod notifications;
pub mod onboarding;
pub mod orders;
pub mod params;
pub mod products;
pub mod reservations;
pub mod stock;
pub mod team;
pub mod uploads;
pub mod variants;

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    http::{HeaderValue, StatusCode},
    middleware::{from_fn, from_fn_with_state},
    response::{IntoResponse, Response},
};
use std::borrow::Cow;

use serde::Serialize;
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer, sensitive_headers::SetSensitiveRequestHeadersLayer,
    timeout::TimeoutLayer, trace::TraceLayer,
};

use crate::{middleware as mw, ratelimit::Limit, state::AppState};

/// JSON body limit (contract §1.1).
pub const BODY_LIMIT: usize = 50 * 1024;

/// The success envelope `{success: true, message?, data?}` with a status. `T` is the type of
/// `data`: a serde + utoipa type, so the OpenAPI document describes what a handler returns
/// (`body = Envelope<T>` in its `#[utoipa::path]`, or `body = Done` without data).
#[derive(Debug, Clone)]
pub struct Reply<T> {
    status: StatusCode,
    message: Option<Cow<'static, str>>,
    data: Option<T>,
    /// The peer's smoke-test route puts a top-level `timestamp` beside `message`.
    timestamp: Option<String>,
    /// A top-level `warning` (login of an unverified account).
    warning: Option<&'static str>,
    audit: Option<crate::audit::AuditChange>,
    /// The `ETag` of the document the reply shows.
    etag: Option<String>,
    /// Repeats an earlier outcome (`Idempotent-Replayed: true`).
    replayed: bool,
    /// An RFC 8288 `Link` header (cursor pagination).
    link: Option<String>,
    /// A top-level `nextCursor` (cursor mode of a list whose `data` is an array).
    next_cursor: Option<Option<String>>,
}

/// What a [`Reply`] serialises to.
#[derive(Serialize)]
struct Body<'a, T> {
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a T>,
    #[serde(rename = "nextCursor", skip_serializing_if = "Option::is_none")]
    next_cursor: Option<&'a Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<&'a str>,
}

impl<T> Reply<T> {
    /// 200 with `data`.
    pub fn data(data: T) -> Self {
        Self {
            data: Some(data),
            ..Self::empty()
        }
    }

    /// 200 with only `success`.
    pub fn empty() -> Self {
        Self {
            status: StatusCode::OK,
            message: None,
            data: None,
            timestamp: None,
            warning: None,
            audit: None,
            etag: None,
            replayed: false,
            link: None,
            next_cursor: None,
        }
    }

    /// Add a `message`.
    pub fn message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Add the top-level `timestamp` of the smoke-test route.
    pub fn timestamp(mut self, timestamp: String) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Add a top-level `warning`.
    pub fn warning(mut self, warning: &'static str) -> Self {
        self.warning = Some(warning);
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

    /// Send `ETag` (see [`crate::conditional`]).
    pub fn etag(mut self, etag: String) -> Self {
        self.etag = Some(etag);
        self
    }

    /// Mark a reply that repeats an earlier outcome instead of making a new one.
    pub fn replayed(mut self) -> Self {
        self.replayed = true;
        self
    }

    /// Add a `Link` header (none when `None`).
    pub fn link(mut self, link: Option<String>) -> Self {
        self.link = link;
        self
    }

    /// The cursor-mode additions of a list whose `data` is an array: `nextCursor` goes beside
    /// `data` (no object holds the items) and `Link` is sent. A page-mode reply is unchanged.
    pub fn continuation(mut self, more: cursor::Continuation) -> Self {
        self.next_cursor = more.next_cursor;
        self.link = more.link;
        self
    }
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        let body = Body {
            success: true,
            message: self.message.as_deref(),
            data: self.data.as_ref(),
            next_cursor: self.next_cursor.as_ref(),
            timestamp: self.timestamp.as_deref(),
            warning: self.warning,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(change) = self.audit {
            response.extensions_mut().insert(change);
        }
        if let Some(v) = self.etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
            response.headers_mut().insert(axum::http::header::ETAG, v);
        }
        if let Some(v) = self.link.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(axum::http::header::LINK, v);
        }
        if self.replayed {
            response.headers_mut().insert(
                crate::idempotency::REPLAYED,
                HeaderValue::from_static("true"),
            );
        }
        response
    }
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
                .merge(stock::router(state))
                .merge(inventory::router(state))
                .merge(reservations::router(state)),
        )
        .merge(stock::dashboard_router())
        .nest("/team", team::router())
        .nest("/api-keys", api_keys::router())
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
        .layer(from_fn(mw::error_contract))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(mw::request_span)
                .on_response(mw::record_response)
                .on_failure(mw::log_failure),
        )
        .layer(from_fn(mw::security_headers))
        .layer(mw::cors(&state.settings.cors_origins))
        .layer(CatchPanicLayer::custom(crate::error::panic_response))
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
        // After authentication (keys are the merchant's); a replay skips the two below, as it
        // has no new effect to invalidate or audit.
        .layer(from_fn_with_state(
            state.clone(),
            crate::idempotency::idempotency,
        ))
        .layer(from_fn_with_state(state.clone(), mw::invalidate_caches))
        .layer(from_fn_with_state(
            state.clone(),
            crate::audit::layer::record,
        ))
        // Inside the spawned request task (`run_to_completion`): its denial list is task-local.
        .layer(from_fn_with_state(
            state.clone(),
            crate::audit::shadow::collect,
        ));
    routes(&state).layer(layers).with_state(state)
}
