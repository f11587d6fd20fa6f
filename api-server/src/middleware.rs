//! Cross-cutting HTTP layers: correlation ids, the one Bearer-token check, metrics, security
//! headers, CORS, the contract's 404/405 bodies and analytics cache invalidation after writes. `routes::app` stacks
//! them; handlers never see them.

use std::time::Instant;

use axum::{
    Json,
    body::Body,
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{
    error::{ErrorCode, status_code_name},
    metrics::{RequestLabels, RouteLabels},
    security::identity::TokenCheck,
    state::AppState,
    store::ObjectId,
};

/// The response header carrying the request id.
pub const CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");
/// The same id under the name most HTTP clients and proxies send and log.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request id of the current request (request extension).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Matched-route prefixes whose successful writes change figures the dashboard and analytics
/// show: products, variants and stock (inventory, low stock, top products), bulk import and
/// update, orders (revenue, status counts) and cashback (pending and paid totals).
const FIGURE_WRITES: &[&str] = &[
    "/api/merchant/products",
    "/api/merchant/bulk/products/import",
    "/api/merchant/bulk/products/bulk-update",
    "/api/merchant/orders",
    "/api/merchant/cashback",
];

/// The one place that keeps this replica's caches honest after a successful write
/// (POST/PUT/PATCH/DELETE) by a merchant, before the response leaves, so the caller's next read
/// sees it: the merchant's cached token checks and documents are dropped after any write, and
/// its dashboard/analytics answers after a write on a [`FIGURE_WRITES`] route.
pub async fn invalidate_caches(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // Read before the handler runs: the handler accepted the same token if it succeeded.
    let merchant = writes.then(|| token_merchant(&req)).flatten();
    // Reads (most requests) skip the route comparison.
    let writes_figures = merchant.is_some()
        && req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|m| FIGURE_WRITES.iter().any(|p| m.as_str().starts_with(p)));
    let response = next.run(req).await;
    if let Some(merchant) = merchant.filter(|_| response.status().is_success()) {
        state.access_cache.invalidate_merchant(merchant);
        if writes_figures {
            state.analytics_cache.invalidate_merchant(merchant).await;
        }
    }
    response
}

/// The merchant the token [`authenticate`] verified acts for.
fn token_merchant(req: &Request) -> Option<ObjectId> {
    req.extensions().get::<TokenCheck>()?.identity()?.merchant
}

/// The one token check of a request: verify its Bearer token (if any) and store the outcome as a
/// [`TokenCheck`] extension, which the auth extractors, the audit record and
/// [`invalidate_caches`] read instead of verifying again. Refusing is the extractors' job:
/// public routes ignore the outcome.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let check = match crate::security::identity::bearer(req.headers()) {
        Some(key) if crate::security::api_key::is_api_key(key) => {
            TokenCheck::of_api_key(&state.api_keys, &state.store, key).await
        }
        _ => TokenCheck::of(&state.auth, req.headers()),
    };
    req.extensions_mut().insert(check);
    next.run(req).await
}

/// Each request runs in its own task, so one the client abandons, or the timeout layer cuts off,
/// still runs to completion. The MongoDB driver needs every operation polled to the end: a
/// future dropped mid-operation leaves its connection pool inconsistent (RUST-937), and after a
/// burst of abandoned requests later ones waited forever for a connection.
pub async fn run_to_completion(req: Request, next: Next) -> Response {
    match tokio::spawn(next.run(req)).await {
        Ok(response) => response,
        // Re-raised here so the panic layer outside answers it like any other handler panic.
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(), // runtime shutting down
    }
}

/// 5xx responses are logged as failures, except 503: the health routes answer it on purpose
/// while a dependency is down (the probe logs the change once), and a flood of probes must not
/// become a flood of error lines.
pub fn log_failure(
    failure: tower_http::classify::ServerErrorsFailureClass,
    latency: std::time::Duration,
    _span: &tracing::Span,
) {
    use tower_http::classify::ServerErrorsFailureClass as Class;
    if matches!(failure, Class::StatusCode(code) if code == StatusCode::SERVICE_UNAVAILABLE) {
        return;
    }
    tracing::error!(classification = %failure, latency_ms = latency.as_millis() as u64, "response failed");
}

/// Reuse `X-Correlation-ID`, `X-Request-ID` or `X-Trace-ID` (if sane) or generate a UUID; put it
/// on the request (for logs) and echo it on the response.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let incoming = ["x-correlation-id", "x-request-id", "x-trace-id"]
        .iter()
        .find_map(|h| req.headers().get(*h))
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_string);
    let id = incoming.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    req.headers_mut().insert(CORRELATION_ID, value.clone());
    req.extensions_mut().insert(RequestId(id));
    let mut response = next.run(req).await;
    response.headers_mut().insert(REQUEST_ID, value.clone());
    response.headers_mut().insert(CORRELATION_ID, value);
    response
}

/// Error bodies larger than this pass through unchanged (every envelope is far smaller).
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// One error contract: every JSON error body (`success: false`) keeps its keys and gains a stable
/// `code` (the handler's [`ErrorCode`], else one for the status) and the `requestId` the response
/// headers carry. Success responses pass untouched; an error body is small and read once.
pub async fn error_contract(req: Request, next: Next) -> Response {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let response = next.run(req).await;
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let small = axum::body::HttpBody::size_hint(response.body())
        .exact()
        .is_some_and(|n| n <= MAX_ERROR_BODY);
    if !(status.is_client_error() || status.is_server_error()) || !json || !small {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY as usize).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if fields.get("success") != Some(&Value::Bool(false)) {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let code = parts
        .extensions
        .get::<ErrorCode>()
        .map_or_else(|| status_code_name(status), |c| c.0);
    fields.entry("code").or_insert_with(|| code.into());
    if let Some(id) = request_id {
        fields.entry("requestId").or_insert_with(|| id.into());
    }
    let Ok(body) = serde_json::to_vec(&fields) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// One request in the in-flight gauge; leaves it on drop, also when the client goes away and
/// the request future is dropped before it finishes.
struct InFlight<'a>(&'a crate::metrics::Metrics);

impl<'a> InFlight<'a> {
    fn start(metrics: &'a crate::metrics::Metrics) -> Self {
        metrics.in_flight.inc();
        Self(metrics)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

/// Count requests and latency by matched route and status; track in-flight requests.
pub async fn track_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = method_label(req.method()).to_string();
    let metrics = &state.metrics;
    let in_flight = InFlight::start(metrics);
    let start = Instant::now();
    let response = next.run(req).await;
    drop(in_flight);
    let status = response.status().as_u16();
    metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
            status,
        })
        .observe(start.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status,
        })
        .inc();
    response
}

/// The method as a metric label: the standard ones by name, anything a client made up folded
/// into `OTHER`, so a client cannot grow the label set (and the scrape) without bound.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("OTHER")
}

/// Helmet-equivalent headers plus `x-api-version`.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    let pairs: [(HeaderName, &'static str); 8] = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains; preload",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
        (HeaderName::from_static("x-dns-prefetch-control"), "off"),
        (HeaderName::from_static("x-api-version"), "1.0.0"),
    ];
    for (name, value) in pairs {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}

/// CORS for the configured allow-list. A disallowed origin simply gets no CORS headers (the
/// browser blocks it) instead of the peer's 500.
pub fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let headers = [
        "content-type",
        "authorization",
        "x-requested-with",
        "x-csrf-token",
        "x-rez-region",
        "x-device-os",
        "x-device-fingerprint",
        "x-rez-signature",
        "x-provider-name",
        "x-correlation-id",
        "x-request-id",
        "idempotency-key",
    ]
    .map(HeaderName::from_static);
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ])
        .allow_headers(headers)
        .expose_headers([
            HeaderName::from_static("x-csrf-token"),
            CORRELATION_ID,
            REQUEST_ID,
            crate::idempotency::REPLAYED,
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
        ])
        .allow_credentials(true)
}

/// Unknown route: the contract's global 404 body.
pub async fn not_found(req: Request) -> Response {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let body = json!({
        "success": false,
        "code": "NOT_FOUND",
        "message": format!("Route {} not found", req.uri()),
        "requestId": request_id,
    });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// Known path, wrong method.
pub async fn method_not_allowed() -> Response {
    let body =
        json!({ "success": false, "code": "METHOD_NOT_ALLOWED", "message": "Method not allowed" });
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

/// The span of one request. Field names follow the OpenTelemetry HTTP semantic conventions so the
/// span exports as a proper server span (`otel.*` fields steer the exporter); JSON logs carry the
/// same fields. An incoming W3C `traceparent` makes it a child of the caller's span.
pub fn request_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get(CORRELATION_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let method = req.method().as_str();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let name = match route {
        Some(r) => format!("{method} {r}"),
        None => method.to_string(),
    };
    let span = tracing::info_span!(
        "request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = route,
        url.path = %loggable_path(route, req.uri().path()),
        http.response.status_code = tracing::field::Empty,
        request_id = %id,
    );
    if req.headers().contains_key("traceparent") {
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&opentelemetry_http::HeaderExtractor(req.headers()))
        });
        // Err only when no OpenTelemetry layer is installed: nothing to continue then.
        let _ = span.set_parent(parent);
    }
    span
}

/// The request path as logs, traces and audit records may keep it: path parameters that are
/// secrets (`{token}` of password-reset, e-mail verification and invitation links) replaced,
/// since anyone reading the logs could otherwise use the link.
pub fn loggable_path<'a>(matched: Option<&str>, path: &'a str) -> std::borrow::Cow<'a, str> {
    let Some(template) = matched.filter(|m| m.contains("token}")) else {
        return path.into();
    };
    let segments = template.split('/').zip(path.split('/'));
    segments
        .map(|(t, p)| {
            if t.starts_with('{') && t.ends_with("token}") {
                "[REDACTED]"
            } else {
                p
            }
        })
        .collect::<Vec<_>>()
        .join("/")
        .into()
}

/// Record the status on the request span (and mark server errors for the trace backend).
pub fn record_response<B>(res: &Response<B>, latency: std::time::Duration, span: &tracing::Span) {
    let status = res.status();
    // i64: the OTLP integer type (an unsigned value would export as a string).
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    tracing::debug!(
        status = status.as_u16(),
        latency_ms = latency.as_millis() as u64,
        "finished"
    );
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn secret_path_parameters_are_replaced_and_others_kept() {
        assert_eq!(
            loggable_path(
                Some("/api/merchant/team-public/accept-invitation/{token}"),
                "/api/merchant/team-public/accept-invitation/abc123"
            ),
            "/api/merchant/team-public/accept-invitation/[REDACTED]"
        );
        assert_eq!(
            loggable_path(
                Some("/api/merchant/products/{id}"),
                "/api/merchant/products/64b7"
            ),
            "/api/merchant/products/64b7"
        );
        assert_eq!(loggable_path(None, "/nowhere/abc"), "/nowhere/abc");
    }
}
