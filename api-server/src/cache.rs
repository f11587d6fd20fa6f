//! The analytics cache: computed `data` payloads (their serialised JSON, answered verbatim) keyed by merchant + store + endpoint + query,
//! kept for a short TTL in Redis (one hash per merchant, shared by replicas) when configured,
//! in-process otherwise. [`AnalyticsCache::invalidate_merchant`] is the hook for code that
//! changes a merchant's orders or stock. A failing Redis never fails a request: the lookup is a
//! miss and the write is skipped.
//!
//! Bounded, since every distinct query is a key a client can mint: in-process by entry count and
//! total bytes (moka, least-recently-used first), in Redis by entries per merchant (a hash that
//! outgrows it is dropped whole); a result larger than [`CacheLimits::max_entry_bytes`] is
//! computed every time rather than cached.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use redis::{AsyncCommands, aio::ConnectionManager};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::store::ObjectId;

/// Redis calls slower than this count as failures (the request computes instead).
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// How much the cache may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Entries in this process (in-process backend), or per merchant (Redis).
    pub max_entries: u64,
    /// Bytes of cached JSON in this process (in-process backend).
    pub max_bytes: u64,
    /// A result larger than this is not cached.
    pub max_entry_bytes: u64,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_bytes: 64 * 1024 * 1024,
            max_entry_bytes: 1024 * 1024,
        }
    }
}

type MemoryEntries = moka::sync::Cache<(ObjectId, String), Arc<str>>;

/// Where entries live.
enum Backend {
    Redis(ConnectionManager),
    Memory(MemoryEntries),
}

/// A short-lived cache of analytics results.
pub struct AnalyticsCache {
    backend: Backend,
    ttl: Duration,
    limits: CacheLimits,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for AnalyticsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyticsCache")
            .field("redis", &matches!(self.backend, Backend::Redis(_)))
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// Redis hash holding one merchant's entries.
fn redis_key(merchant: ObjectId) -> String {
    format!("analytics:{}", merchant.to_hex())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl AnalyticsCache {
    /// A cache over Redis when given, in-process otherwise.
    pub fn new(redis: Option<ConnectionManager>, ttl: Duration, limits: CacheLimits) -> Self {
        let backend = match redis {
            Some(conn) => Backend::Redis(conn),
            None => Backend::Memory(memory_entries(ttl, limits)),
        };
        Self {
            backend,
            ttl,
            limits,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Entry lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A fresh entry (the JSON `put` stored, byte for byte), counting the hit or miss.
    pub async fn get(&self, merchant: ObjectId, key: &str) -> Option<Box<RawValue>> {
        let found = match &self.backend {
            Backend::Memory(entries) => entries
                .get(&(merchant, key.to_string()))
                .and_then(|v| RawValue::from_string(v.to_string()).ok()),
            Backend::Redis(conn) => self.redis_get(conn.clone(), merchant, key).await,
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Store an entry, unless it is larger than an entry may be.
    pub async fn put(&self, merchant: ObjectId, key: &str, value: &RawValue) {
        let entry = format!(r#"{{"at":{},"data":{}}}"#, now_ms(), value.get());
        if entry.len() as u64 > self.limits.max_entry_bytes {
            tracing::debug!(
                bytes = entry.len(),
                "analytics cache: result too large to cache"
            );
            return;
        }
        match &self.backend {
            Backend::Memory(entries) => {
                entries.insert((merchant, key.to_string()), Arc::from(value.get()))
            }
            Backend::Redis(conn) => self.redis_put(conn.clone(), merchant, key, entry).await,
        }
    }

    /// Forget every entry of a merchant (call after its orders or stock change).
    pub async fn invalidate_merchant(&self, merchant: ObjectId) {
        match &self.backend {
            Backend::Memory(entries) => {
                // Registered with `support_invalidation_closures`, so this cannot fail.
                let _ = entries.invalidate_entries_if(move |(m, _), _| *m == merchant);
            }
            Backend::Redis(conn) => {
                let mut conn = conn.clone();
                let del = conn.del::<_, ()>(redis_key(merchant));
                match tokio::time::timeout(REDIS_TIMEOUT, del).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "analytics cache: invalidate failed"),
                    Err(_) => tracing::warn!("analytics cache: invalidate timed out"),
                }
            }
        }
    }

    async fn redis_get(
        &self,
        mut conn: ConnectionManager,
        merchant: ObjectId,
        key: &str,
    ) -> Option<Box<RawValue>> {
        let get = conn.hget::<_, _, Option<String>>(redis_key(merchant), key);
        let raw = match tokio::time::timeout(REDIS_TIMEOUT, get).await {
            Ok(Ok(raw)) => raw?,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "analytics cache: read failed");
                return None;
            }
            Err(_) => {
                tracing::warn!("analytics cache: read timed out");
                return None;
            }
        };
        // The hash expires as a whole; each entry also carries its own write time.
        let entry: Entry = serde_json::from_str(&raw).ok()?;
        let age = now_ms() - entry.at;
        (age >= 0 && (age as u128) < self.ttl.as_millis()).then(|| entry.data.to_owned())
    }

    async fn redis_put(
        &self,
        mut conn: ConnectionManager,
        merchant: ObjectId,
        key: &str,
        entry: String,
    ) {
        let hash = redis_key(merchant);
        let mut pipe = redis::pipe();
        pipe.hset(&hash, key, entry)
            .ignore()
            .expire(&hash, self.ttl.as_secs().max(1) as i64)
            .ignore()
            .hlen(&hash);
        let fields = match tokio::time::timeout(
            REDIS_TIMEOUT,
            pipe.query_async::<(u64,)>(&mut conn),
        )
        .await
        {
            Ok(Ok((fields,))) => fields,
            Ok(Err(e)) => return tracing::warn!(error = %e, "analytics cache: write failed"),
            Err(_) => return tracing::warn!("analytics cache: write timed out"),
        };
        // Past the bound, start the merchant over: cheaper than tracking recency in Redis.
        if fields > self.limits.max_entries {
            tracing::debug!(
                fields,
                "analytics cache: merchant's entries over the bound, dropped"
            );
            self.invalidate_merchant(merchant).await;
        }
    }

    /// The contract's `GET /cache/stats` payload plus hit/miss counters of this process.
    pub async fn stats(&self) -> CacheStats {
        let backend = match &self.backend {
            Backend::Memory(entries) => {
                entries.run_pending_tasks();
                BackendStats {
                    enabled: false,
                    connected: false,
                    message: Some("Redis not available"),
                    backend: "memory",
                    entries: Some(entries.entry_count()),
                    bytes: Some(entries.weighted_size()),
                    ..BackendStats::default()
                }
            }
            Backend::Redis(conn) => redis_stats(conn.clone()).await,
        };
        CacheStats {
            backend,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            ttl_seconds: self.ttl.as_secs(),
        }
    }
}

/// A Redis entry: its write time and the cached JSON.
#[derive(Deserialize)]
struct Entry<'a> {
    at: i64,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// `GET /analytics/cache/stats`: the backend's state and this process's counters.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheStats {
    /// The backend and what it holds.
    #[serde(flatten)]
    pub backend: BackendStats,
    /// Lookups answered from the cache (this process).
    pub hits: u64,
    /// Lookups that computed the report (this process).
    pub misses: u64,
    /// Entry lifetime in seconds.
    pub ttl_seconds: u64,
}

/// What the cache backend reports.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackendStats {
    /// Whether Redis is configured.
    pub enabled: bool,
    /// Whether Redis answered.
    pub connected: bool,
    /// Why Redis is not used or not reachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
    /// `memory` or `redis`.
    pub backend: &'static str,
    /// Entries held (in-process backend).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    /// Bytes held (in-process backend).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Keys in the Redis database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_size: Option<i64>,
    /// Redis memory figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub info: Option<RedisInfo>,
}

/// Redis `INFO memory` figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisInfo {
    /// `used_memory_human`.
    pub used_memory: String,
}

async fn redis_stats(mut conn: ConnectionManager) -> BackendStats {
    let redis = |connected, message| BackendStats {
        enabled: true,
        connected,
        message,
        backend: "redis",
        ..BackendStats::default()
    };
    let mut pipe = redis::pipe();
    pipe.cmd("DBSIZE").cmd("INFO").arg("memory");
    match tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<(i64, String)>(&mut conn)).await {
        Ok(Ok((db_size, info))) => {
            let memory = info
                .lines()
                .find_map(|l| l.strip_prefix("used_memory_human:"))
                .unwrap_or_default()
                .trim()
                .to_string();
            BackendStats {
                db_size: Some(db_size),
                info: Some(RedisInfo {
                    used_memory: memory,
                }),
                ..redis(true, None)
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "analytics cache: stats failed");
            redis(false, Some("Redis not reachable"))
        }
        Err(_) => redis(false, Some("Redis timed out")),
    }
}

/// The in-process store: entries expire after `ttl`; the least recently used go first once
/// either bound is reached. Each entry weighs its JSON size but at least its share of the byte
/// budget by count, so one weight bound keeps both.
fn memory_entries(ttl: Duration, limits: CacheLimits) -> MemoryEntries {
    let floor = (limits.max_bytes / limits.max_entries.max(1)).max(1);
    moka::sync::Cache::builder()
        .max_capacity(limits.max_bytes)
        .time_to_live(ttl)
        .weigher(move |(_, key): &(ObjectId, String), value: &Arc<str>| {
            let bytes = key.len() as u64 + value.len() as u64;
            u32::try_from(bytes.max(floor)).unwrap_or(u32::MAX)
        })
        .support_invalidation_closures()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A value as a cache entry.
    pub(super) fn raw(v: serde_json::Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(&v).expect("raw")
    }

    /// A cached entry as text.
    pub(super) async fn text(cache: &AnalyticsCache, m: ObjectId, key: &str) -> Option<String> {
        cache.get(m, key).await.map(|r| r.get().to_string())
    }

    #[tokio::test]
    async fn memory_entries_expire_and_invalidate_per_merchant() {
        let cache = AnalyticsCache::new(None, Duration::from_millis(200), CacheLimits::default());
        let (a, b) = (ObjectId::new(), ObjectId::new());
        cache.put(a, "k", &raw(json!({ "b": 1.0, "a": 1 }))).await;
        cache.put(b, "k", &raw(json!(2))).await;
        // The stored text comes back byte for byte (key order and number kinds kept).
        assert_eq!(
            text(&cache, a, "k").await.as_deref(),
            Some(r#"{"b":1.0,"a":1}"#)
        );
        cache.invalidate_merchant(a).await;
        assert_eq!(text(&cache, a, "k").await, None);
        assert_eq!(text(&cache, b, "k").await.as_deref(), Some("2"));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(text(&cache, b, "k").await, None);
        let stats = cache.stats().await;
        assert_eq!((stats.hits, stats.misses), (2, 2));
    }
}

#[cfg(test)]
mod bounds {
    use super::{
        tests::{raw, text},
        *,
    };
    use serde_json::json;

    fn limits(max_entries: u64, max_bytes: u64) -> CacheLimits {
        CacheLimits {
            max_entries,
            max_bytes,
            max_entry_bytes: 4096,
        }
    }

    async fn count_and_bytes(cache: &AnalyticsCache) -> (u64, u64) {
        let stats = cache.stats().await;
        (
            stats.backend.entries.expect("entries"),
            stats.backend.bytes.expect("bytes"),
        )
    }

    #[tokio::test]
    async fn the_in_process_cache_keeps_at_most_its_entry_count() {
        let cache = AnalyticsCache::new(None, Duration::from_secs(60), limits(50, 1 << 30));
        let merchant = ObjectId::new();
        for i in 0..1_000 {
            cache
                .put(merchant, &format!("query-{i}"), &raw(json!(i)))
                .await;
        }
        let (entries, _) = count_and_bytes(&cache).await;
        assert!(entries <= 50, "{entries} entries kept");
        assert!(entries > 0);
    }

    #[tokio::test]
    async fn the_in_process_cache_keeps_at_most_its_bytes() {
        let cache =
            AnalyticsCache::new(None, Duration::from_secs(60), limits(1_000_000, 64 * 1024));
        let merchant = ObjectId::new();
        let big = raw(json!("x".repeat(3000)));
        for i in 0..500 {
            cache.put(merchant, &format!("query-{i}"), &big).await;
        }
        let (entries, bytes) = count_and_bytes(&cache).await;
        assert!(bytes <= 64 * 1024, "{bytes} bytes kept");
        assert!(
            entries <= 64 * 1024 / 3000 + 1,
            "{entries} entries of 3 KB kept"
        );
    }

    #[tokio::test]
    async fn a_result_over_the_entry_limit_is_not_cached() {
        let cache = AnalyticsCache::new(None, Duration::from_secs(60), limits(100, 1 << 20));
        let merchant = ObjectId::new();
        cache
            .put(merchant, "huge", &raw(json!("y".repeat(10_000))))
            .await;
        cache.put(merchant, "small", &raw(json!("y"))).await;
        assert_eq!(text(&cache, merchant, "huge").await, None);
        assert_eq!(
            text(&cache, merchant, "small").await.as_deref(),
            Some(r#""y""#)
        );
    }
}
