//! `Idempotency-Key` (IETF httpapi idempotency-key draft) on every mutating route: a client that
//! retries a POST, PUT, PATCH or DELETE with the same key gets the first response again (with
//! `Idempotent-Replayed: true`) instead of a second effect. The same key with another request is
//! 422, and a key whose first request still runs is 409. Keys belong to the caller's merchant and
//! are remembered for 24 hours (`store::idempotency`).
//!
//! Opt-in: a request without the header is untouched. Not on `/api/merchant/auth/*` and
//! `/api/merchant/api-keys*`: their responses carry tokens or keys, and credentials are never
//! stored. Only outcomes that depend on the
//! request are kept: success and client errors other than authentication, permission, conflict,
//! lock and rate-limit answers, which depend on the moment; a server error releases the key so a
//! retry runs again.

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use http_body::{Frame, SizeHint};
use serde_json::{Map, json};
use sha2::{Digest, Sha256};

use crate::{
    body_limit::DRAIN_MAX_BYTES,
    error::ApiError,
    security::identity::TokenCheck,
    state::AppState,
    store::{
        ObjectId,
        idempotency::{Claim, StoredResponse},
    },
};

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The response header of a replay.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The response headers a replay repeats, in [`StoredResponse::new`]'s order.
const REPLAYED_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;
/// Largest response kept for replay (mutations answer far smaller envelopes).
const MAX_STORED_BODY: u64 = 1024 * 1024;
/// Added to the request timeout: how long a claim whose request never finished (its process
/// died) blocks its key.
const LOCK_MARGIN: Duration = Duration::from_secs(60);

/// Middleware: honour `Idempotency-Key` on the caller's mutating requests.
pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(raw) = req.headers().get(IDEMPOTENCY_KEY).cloned() else {
        return next.run(req).await;
    };
    let mutating = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let merchant = req
        .extensions()
        .get::<TokenCheck>()
        .and_then(TokenCheck::identity)
        .and_then(|identity| identity.merchant);
    let (Some(merchant), true) = (merchant, mutating && !carries_credentials(req.uri().path()))
    else {
        // Reads are idempotent already; without a merchant the handler answers 401.
        return next.run(req).await;
    };
    let key = match parse_key(&raw) {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    match run_once(&state, merchant, &key, req, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn run_once(
    state: &AppState,
    merchant: ObjectId,
    key: &str,
    req: Request,
    next: Next,
) -> Result<Response, Response> {
    let lock = state.settings.request_timeout + LOCK_MARGIN;
    let claim = state
        .store
        .claim_idempotency_key(merchant, key, lock)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "idempotency key store unavailable");
            ApiError::Unavailable("Idempotency keys are unavailable; try again shortly".into())
                .into_response()
        })?;
    match claim {
        Claim::InFlight => Err(in_flight().into_response()),
        Claim::Finished {
            fingerprint,
            response,
        } => {
            let (parts, body) = req.into_parts();
            let mut hasher = start_fingerprint(&parts.method, &parts.uri);
            if !hash_all(body, &mut hasher).await || hex::encode(hasher.finalize()) != fingerprint {
                return Err(key_reused().into_response());
            }
            Ok(replay(response))
        }
        Claim::Claimed(id) => Ok(run_and_keep(state, id, req, next).await),
    }
}

/// Run the request that holds claim `id`, then keep its response or give the key up.
async fn run_and_keep(state: &AppState, id: ObjectId, req: Request, next: Next) -> Response {
    let seen = Arc::new(Mutex::new(Some(start_fingerprint(req.method(), req.uri()))));
    let fingerprint = Arc::new(Mutex::new(None));
    let req = req.map(|body| {
        Body::new(Fingerprinted {
            inner: body,
            hasher: seen.clone(),
            done: fingerprint.clone(),
        })
    });
    let response = next.run(req).await;
    let finished = fingerprint.lock().ok().and_then(|mut f| f.take());
    let small = response
        .body()
        .size_hint()
        .exact()
        .is_some_and(|n| n <= MAX_STORED_BODY);
    let (Some(fingerprint), true, true) = (finished, small, replayable(response.status())) else {
        release(state, id).await;
        return response;
    };
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_STORED_BODY as usize).await else {
        release(state, id).await;
        return ApiError::Unavailable("The response could not be read".into()).into_response();
    };
    let stored = StoredResponse::new(
        parts.status.as_u16(),
        REPLAYED_HEADERS.map(|name| text(&parts.headers, &name)),
        bytes.to_vec(),
    );
    if let Err(e) = state
        .store
        .finish_idempotency_key(id, &fingerprint, &stored)
        .await
    {
        // The effect happened; only the replay is lost. The claim stays locked until its
        // lock passes, so a retry meanwhile is 409 rather than a second effect.
        tracing::warn!(error = %e, "idempotency key: response not stored");
    }
    Response::from_parts(parts, Body::from(bytes))
}

async fn release(state: &AppState, id: ObjectId) {
    if let Err(e) = state.store.release_idempotency_key(id).await {
        tracing::warn!(error = %e, "idempotency key not released; it frees itself after its lock");
    }
}

/// Routes whose responses carry tokens or API keys (never stored).
fn carries_credentials(path: &str) -> bool {
    path.starts_with("/api/merchant/auth/") || path.starts_with("/api/merchant/api-keys")
}

/// Outcomes worth replaying: they follow from the request, not from the moment or the caller's
/// credentials.
fn replayable(status: StatusCode) -> bool {
    status.is_success()
        || (status.is_client_error()
            && !matches!(status.as_u16(), 401 | 403 | 408 | 409 | 423 | 425 | 429))
}

/// The key: 1 to 255 visible ASCII characters, bare or as a structured-field string (`"…"`).
pub fn parse_key(raw: &HeaderValue) -> Result<String, ApiError> {
    let text = raw.to_str().unwrap_or_default().trim();
    let key = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::field(
            "Validation failed",
            "Idempotency-Key",
            format!(
                "\"Idempotency-Key\" must be 1 to {MAX_KEY_LEN} visible ASCII characters (a UUID is a good key)"
            ),
        ));
    }
    Ok(key.to_owned())
}

fn in_flight() -> ApiError {
    ApiError::Protocol {
        status: StatusCode::CONFLICT,
        code: "IDEMPOTENCY_KEY_IN_USE",
        message: "A request with this Idempotency-Key is still being processed; retry it shortly"
            .into(),
        extra: None,
    }
}

/// 400 for a route that requires the header (stock adjustments) and did not get it.
pub fn key_required() -> ApiError {
    let mut extra = Map::new();
    extra.insert(
        "errors".into(),
        json!([{
            "field": "Idempotency-Key",
            "message": "\"Idempotency-Key\" is required: it makes a retried request apply once",
            "code": "required",
        }]),
    );
    ApiError::Protocol {
        status: StatusCode::BAD_REQUEST,
        code: "IDEMPOTENCY_KEY_REQUIRED",
        message: "This request needs an Idempotency-Key header".into(),
        extra: Some(extra),
    }
}

/// 422 for a key already used with another request.
pub fn key_reused() -> ApiError {
    let mut extra = Map::new();
    extra.insert("errors".into(), json!([{
        "field": "Idempotency-Key",
        "message": "\"Idempotency-Key\" was already used with another request (method, path or body)",
        "code": "reused",
    }]));
    ApiError::Protocol {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "IDEMPOTENCY_KEY_REUSED",
        message: "This Idempotency-Key was already used with a different request".into(),
        extra: Some(extra),
    }
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body.bytes).into_response();
    let headers = response.headers_mut();
    let [content_type, location, etag] = REPLAYED_HEADERS;
    for (name, value) in [
        (content_type, stored.content_type),
        (location, stored.location),
        (etag, stored.etag),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(name, value);
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

fn text(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The fingerprint covers the method and the path with its query, then the body.
fn start_fingerprint(method: &Method, uri: &axum::http::Uri) -> Sha256 {
    let mut hasher = Sha256::new();
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    hasher.update(method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(target.as_bytes());
    hasher.update(b"\n");
    hasher
}

/// Hash `body` to its end; `false` when it is broken or larger than any route accepts.
async fn hash_all(body: Body, hasher: &mut Sha256) -> bool {
    let mut stream = body.into_data_stream();
    let mut seen = 0u64;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { return false };
        seen += chunk.len() as u64;
        if seen > DRAIN_MAX_BYTES {
            return false;
        }
        hasher.update(&chunk);
    }
    true
}

/// The request body as the handler reads it, hashed on the way; the fingerprint exists only
/// once the handler has read it to its end.
struct Fingerprinted {
    inner: Body,
    hasher: Arc<Mutex<Option<Sha256>>>,
    done: Arc<Mutex<Option<String>>>,
}

impl HttpBody for Fingerprinted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let frame = Pin::new(&mut this.inner).poll_frame(cx);
        match &frame {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Ok(mut hasher)) = (frame.data_ref(), this.hasher.lock())
                    && let Some(hasher) = hasher.as_mut()
                {
                    hasher.update(data);
                }
            }
            Poll::Ready(None) => this.finish(),
            _ => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Fingerprinted {
    fn finish(&self) {
        let hasher = self.hasher.lock().ok().and_then(|mut h| h.take());
        if let (Some(hasher), Ok(mut done)) = (hasher, self.done.lock()) {
            *done = Some(hex::encode(hasher.finalize()));
        }
    }
}

impl Drop for Fingerprinted {
    fn drop(&mut self) {
        // A body with nothing left (an empty DELETE, or read up to its declared end without
        // the final poll) is complete too.
        if self.inner.is_end_stream() {
            self.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bare_or_quoted_visible_ascii() {
        let parse = |v: &str| parse_key(&HeaderValue::from_str(v).expect("header"));
        assert_eq!(parse("abc-123").ok().as_deref(), Some("abc-123"));
        assert_eq!(parse("\"8e03978e\"").ok().as_deref(), Some("8e03978e"));
        assert!(parse("").is_err());
        assert!(parse("\"\"").is_err());
        assert!(parse("two words").is_err());
        assert!(parse(&"k".repeat(MAX_KEY_LEN + 1)).is_err());
    }

    #[test]
    fn only_outcomes_of_the_request_itself_are_replayed() {
        for ok in [200, 201, 204, 400, 404, 410, 422] {
            assert!(
                replayable(StatusCode::from_u16(ok).expect("status")),
                "{ok}"
            );
        }
        for again in [401, 403, 409, 429, 500, 502, 503] {
            assert!(
                !replayable(StatusCode::from_u16(again).expect("status")),
                "{again}"
            );
        }
    }

    #[test]
    fn the_fingerprint_tells_method_path_and_query_apart() {
        let digest = |m: Method, u: &str| {
            hex::encode(start_fingerprint(&m, &u.parse().expect("uri")).finalize())
        };
        let a = digest(Method::POST, "/api/merchant/products");
        assert_eq!(a, digest(Method::POST, "/api/merchant/products"));
        assert_ne!(a, digest(Method::PUT, "/api/merchant/products"));
        assert_ne!(a, digest(Method::POST, "/api/merchant/products?x=1"));
    }
}
