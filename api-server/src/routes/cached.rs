//! The one cache path of computed reports (dashboard and analytics): answer from the
//! per-merchant [`crate::cache::AnalyticsCache`] or compute, store and answer, and say which in
//! `X-Cache: HIT|MISS`. Invalidation stays with the code that changes the figures.
//!
//! A report is serialised once: the cache keeps that JSON text and both a miss and a later hit
//! answer it verbatim, so a hit's body is byte for byte the miss's. The text stays tagged with
//! its report type ([`CachedReport`]), which is what the operation documents.

use std::{future::Future, marker::PhantomData, time::Instant};

use axum::{
    http::HeaderValue,
    response::{IntoResponse, Response},
};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::Reply;
use crate::{error::ApiError, state::AppState, store::ObjectId};

/// The serialised JSON of a report of type `T`, as computed or as cached.
#[derive(Debug)]
pub struct CachedReport<T> {
    json: Box<RawValue>,
    report: PhantomData<fn() -> T>,
}

impl<T: Serialize> CachedReport<T> {
    /// Serialise a freshly computed report.
    pub fn new(report: &T) -> Result<Self, ApiError> {
        let json = serde_json::value::to_raw_value(report).map_err(|e| ApiError::Internal {
            message: "Failed to serialise report",
            source: Box::new(e),
        })?;
        Ok(Self::stored(json))
    }
}

impl<T> CachedReport<T> {
    /// A report read back from the cache.
    fn stored(json: Box<RawValue>) -> Self {
        Self {
            json,
            report: PhantomData,
        }
    }

    /// The JSON text.
    pub fn json(&self) -> &RawValue {
        &self.json
    }

    /// The same JSON, no longer tagged with its report type (to handle reports of several
    /// types alike).
    pub fn untyped(self) -> CachedReport<()> {
        CachedReport::stored(self.json)
    }
}

impl<T> Serialize for CachedReport<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

/// Answer `key` of `merchant` from the cache, else await `compute` and cache its value.
/// `key: None` marks a report that is never cached (always `MISS`). `compute` is lazy: on a
/// hit it is dropped without running.
pub async fn cached<T, Fut>(
    state: &AppState,
    merchant: ObjectId,
    key: Option<String>,
    compute: Fut,
) -> Result<Response, ApiError>
where
    T: Serialize,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let cache = &state.analytics_cache;
    if let Some(key) = &key
        && let Some(json) = cache.get(merchant, key).await
    {
        return Ok(with_cache_header(CachedReport::<T>::stored(json), "HIT"));
    }
    let started = Instant::now();
    let report = CachedReport::new(&compute.await?)?;
    tracing::debug!(
        key = key.as_deref().unwrap_or("(uncached)"),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "report computed"
    );
    if let Some(key) = &key {
        cache.put(merchant, key, report.json()).await;
    }
    Ok(with_cache_header(report, "MISS"))
}

fn with_cache_header<T>(report: CachedReport<T>, state: &'static str) -> Response {
    let mut response = Reply::data(report).into_response();
    response
        .headers_mut()
        .insert("x-cache", HeaderValue::from_static(state));
    response
}
