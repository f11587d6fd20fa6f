//! Request-body limits as clients see them.
//!
//! A server that answers (413, 401, 400…) before it has read the request body and then closes
//! the connection makes the kernel reset it while the client is still sending: clients that
//! write the whole body before reading (Python's `http.client`, often Node's `fetch`) get a
//! broken pipe instead of the answer. So:
//!
//! * [`limit`] puts a route's limit on it: a declared `Content-Length` over the limit is refused
//!   with 413 before anything is read, and a body without one (chunked) is cut at the limit by
//!   axum's `DefaultBodyLimit`, which the extractors turn into the same 413.
//! * [`finish_unread`] (one layer around every route) reads and discards what the handler left
//!   unread, up to [`DRAIN_MAX_BYTES`] within [`DRAIN_TIME`], before the answer goes out; the
//!   client reads the answer and the connection stays usable. A body declared larger than that,
//!   or one that does not arrive in time, is not waited for: the answer carries
//!   `Connection: close`.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderMap, HeaderValue, header},
    middleware::{Next, from_fn_with_state},
    response::{IntoResponse, Response},
    routing::MethodRouter,
};
use futures::StreamExt;
use http_body::{Frame, SizeHint};

use crate::{error::ApiError, state::AppState};

/// Most bytes of an unread body read and discarded so that the client sees the answer.
pub const DRAIN_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Longest time spent discarding an unread body.
pub const DRAIN_TIME: Duration = Duration::from_secs(15);

/// `50kb`, `10mb`: a limit the way the contract's messages name it.
pub fn human(bytes: usize) -> String {
    const MB: usize = 1024 * 1024;
    if bytes >= MB && bytes.is_multiple_of(MB) {
        format!("{}mb", bytes / MB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{}kb", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// The contract's 413 for a body over `max` bytes.
pub fn too_large(max: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "Request body too large. Maximum size is {}.",
        human(max)
    ))
}

/// The declared `Content-Length`, if any.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Give `route` a body limit of `max` bytes (instead of the default JSON limit).
pub fn limit(route: MethodRouter<AppState>, max: usize) -> MethodRouter<AppState> {
    route
        .layer::<_, Infallible>(from_fn_with_state(max, refuse_declared))
        .layer::<_, Infallible>(DefaultBodyLimit::max(max))
}

async fn refuse_declared(State(max): State<usize>, req: Request, next: Next) -> Response {
    match declared_length(req.headers()) {
        Some(n) if n > max as u64 => too_large(max).into_response(),
        _ => next.run(req).await,
    }
}

/// What a handler left of the request body.
#[derive(Debug, Default)]
struct Leftover {
    body: Mutex<Option<Body>>,
    polled: AtomicBool,
}

/// The request body as handlers get it: when dropped before its end, the rest goes back to
/// [`finish_unread`] instead of being dropped with the connection.
struct Tracked {
    inner: Option<Body>,
    ended: bool,
    leftover: Arc<Leftover>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        this.leftover.polled.store(true, Ordering::Relaxed);
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = Pin::new(inner).poll_frame(cx);
        if let Poll::Ready(None) = frame {
            this.ended = true;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if let Some(body) = self.inner.take().filter(|b| !b.is_end_stream())
            && let Ok(mut slot) = self.leftover.body.lock()
        {
            *slot = Some(body);
        }
    }
}

/// Middleware: discard (within bounds) what the handler did not read before answering.
pub async fn finish_unread(req: Request, next: Next) -> Response {
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let declared = declared_length(req.headers());
    let expects_continue = req
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let leftover = Arc::new(Leftover::default());
    let req = req.map(|body| {
        Body::new(Tracked {
            inner: Some(body),
            ended: false,
            leftover: leftover.clone(),
        })
    });
    let mut response = next.run(req).await;
    let Some(body) = leftover.body.lock().ok().and_then(|mut slot| slot.take()) else {
        return response;
    };
    // A client waiting for `100 Continue` has sent nothing yet: answer, and it sends nothing.
    let never_asked = expects_continue && !leftover.polled.load(Ordering::Relaxed);
    let drained =
        !never_asked && declared.is_none_or(|n| n <= DRAIN_MAX_BYTES) && drain(body).await;
    if !drained {
        tracing::debug!(
            status = response.status().as_u16(),
            declared,
            "request body left unread; closing the connection"
        );
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Read `body` to its end, discarding it; `false` when it is larger than [`DRAIN_MAX_BYTES`],
/// broken, or slower than [`DRAIN_TIME`].
async fn drain(body: Body) -> bool {
    let mut stream = body.into_data_stream();
    let reading = async {
        let mut seen = 0u64;
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else { return false };
            seen += chunk.len() as u64;
            if seen > DRAIN_MAX_BYTES {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIME, reading)
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_named_like_the_contract() {
        assert_eq!(human(50 * 1024), "50kb");
        assert_eq!(human(11 * 1024 * 1024), "11mb");
        assert_eq!(human(1000), "1000 bytes");
        assert_eq!(
            too_large(50 * 1024).to_string(),
            "Request body too large. Maximum size is 50kb."
        );
    }
}
