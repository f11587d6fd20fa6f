//! The one cache path of computed reports (dashboard and analytics): answer from the
//! per-merchant [`crate::cache::AnalyticsCache`] or compute, store and answer, and say which in
//! `X-Cache: HIT|MISS`. Invalidation stays with the code that changes the figures.

use std::{future::Future, time::Instant};

use axum::{
    http::HeaderValue,
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::Reply;
use crate::{error::ApiError, state::AppState, store::ObjectId};

/// Answer `key` of `merchant` from the cache, else await `compute` and cache its value.
/// `key: None` marks a report that is never cached (always `MISS`). `compute` is lazy: on a
/// hit it is dropped without running.
pub async fn cached<Fut>(
    state: &AppState,
    merchant: ObjectId,
    key: Option<String>,
    compute: Fut,
) -> Result<Response, ApiError>
where
    Fut: Future<Output = Result<Value, ApiError>>,
{
    let cache = &state.analytics_cache;
    if let Some(key) = &key
        && let Some(data) = cache.get(merchant, key).await
    {
        return Ok(with_cache_header(Reply::data(data), "HIT"));
    }
    let started = Instant::now();
    let data = compute.await?;
    tracing::debug!(
        key = key.as_deref().unwrap_or("(uncached)"),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "report computed"
    );
    if let Some(key) = &key {
        cache.put(merchant, key, &data).await;
    }
    Ok(with_cache_header(Reply::data(data), "MISS"))
}

fn with_cache_header(reply: Reply, state: &'static str) -> Response {
    let mut response = reply.into_response();
    response
        .headers_mut()
        .insert("x-cache", HeaderValue::from_static(state));
    response
}
