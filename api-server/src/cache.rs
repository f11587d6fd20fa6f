//! The analytics cache: computed `data` payloads keyed by merchant + store + endpoint + query,
//! kept for a short TTL in Redis (one hash per merchant, shared by replicas) when configured,
//! in-process otherwise. [`AnalyticsCache::invalidate_merchant`] is the hook for code that
//! changes a merchant's orders or stock. A failing Redis never fails a request: the lookup is a
//! miss and the write is skipped.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use redis::{AsyncCommands, aio::ConnectionManager};
use serde_json::{Value, json};

use crate::store::ObjectId;

/// In-process entries beyond this are dropped (expired first, then everything).
const MEMORY_CAP: usize = 10_000;
/// Redis calls slower than this count as failures (the request computes instead).
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

type MemoryEntries = HashMap<ObjectId, HashMap<String, (Instant, Value)>>;

/// Where entries live.
enum Backend {
    Redis(ConnectionManager),
    Memory(Mutex<MemoryEntries>),
}

/// A short-lived cache of analytics results.
pub struct AnalyticsCache {
    backend: Backend,
    ttl: Duration,
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
    pub fn new(redis: Option<ConnectionManager>, ttl: Duration) -> Self {
        let backend = match redis {
            Some(conn) => Backend::Redis(conn),
            None => Backend::Memory(Mutex::new(HashMap::new())),
        };
        Self {
            backend,
            ttl,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Entry lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A fresh entry, counting the hit or miss.
    pub async fn get(&self, merchant: ObjectId, key: &str) -> Option<Value> {
        let found = match &self.backend {
            Backend::Memory(entries) => memory_get(entries, merchant, key, self.ttl),
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

    /// Store an entry.
    pub async fn put(&self, merchant: ObjectId, key: &str, value: &Value) {
        match &self.backend {
            Backend::Memory(entries) => memory_put(entries, merchant, key, value, self.ttl),
            Backend::Redis(conn) => self.redis_put(conn.clone(), merchant, key, value).await,
        }
    }

    /// Forget every entry of a merchant (call after its orders or stock change).
    pub async fn invalidate_merchant(&self, merchant: ObjectId) {
        match &self.backend {
            Backend::Memory(entries) => {
                if let Ok(mut map) = entries.lock() {
                    map.remove(&merchant);
                }
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
    ) -> Option<Value> {
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
        let entry: Value = serde_json::from_str(&raw).ok()?;
        let age = now_ms() - entry["at"].as_i64()?;
        (age >= 0 && (age as u128) < self.ttl.as_millis()).then(|| entry["data"].clone())
    }

    async fn redis_put(
        &self,
        mut conn: ConnectionManager,
        merchant: ObjectId,
        key: &str,
        value: &Value,
    ) {
        let entry = json!({ "at": now_ms(), "data": value }).to_string();
        let hash = redis_key(merchant);
        let mut pipe = redis::pipe();
        pipe.hset(&hash, key, entry)
            .ignore()
            .expire(&hash, self.ttl.as_secs().max(1) as i64)
            .ignore();
        match tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "analytics cache: write failed"),
            Err(_) => tracing::warn!("analytics cache: write timed out"),
        }
    }

    /// The contract's `GET /cache/stats` payload plus hit/miss counters of this process.
    pub async fn stats(&self) -> Value {
        let counters = json!({
            "hits": self.hits.load(Ordering::Relaxed),
            "misses": self.misses.load(Ordering::Relaxed),
            "ttlSeconds": self.ttl.as_secs(),
        });
        let mut stats = match &self.backend {
            Backend::Memory(entries) => {
                let count: usize = entries
                    .lock()
                    .map(|m| m.values().map(HashMap::len).sum())
                    .unwrap_or(0);
                json!({
                    "enabled": false, "connected": false, "message": "Redis not available",
                    "backend": "memory", "entries": count,
                })
            }
            Backend::Redis(conn) => redis_stats(conn.clone()).await,
        };
        if let (Some(s), Some(c)) = (stats.as_object_mut(), counters.as_object()) {
            s.extend(c.clone());
        }
        stats
    }
}

async fn redis_stats(mut conn: ConnectionManager) -> Value {
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
            json!({
                "enabled": true, "connected": true, "backend": "redis", "dbSize": db_size,
                "info": { "usedMemory": memory },
            })
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "analytics cache: stats failed");
            json!({ "enabled": true, "connected": false, "backend": "redis", "message": "Redis not reachable" })
        }
        Err(_) => {
            json!({ "enabled": true, "connected": false, "backend": "redis", "message": "Redis timed out" })
        }
    }
}

fn memory_get(
    entries: &Mutex<MemoryEntries>,
    merchant: ObjectId,
    key: &str,
    ttl: Duration,
) -> Option<Value> {
    let map = entries.lock().ok()?;
    let (at, value) = map.get(&merchant)?.get(key)?;
    (at.elapsed() < ttl).then(|| value.clone())
}

fn memory_put(
    entries: &Mutex<MemoryEntries>,
    merchant: ObjectId,
    key: &str,
    value: &Value,
    ttl: Duration,
) {
    let Ok(mut map) = entries.lock() else { return };
    let size: usize = map.values().map(HashMap::len).sum();
    if size >= MEMORY_CAP {
        for m in map.values_mut() {
            m.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        map.retain(|_, m| !m.is_empty());
        if map.values().map(HashMap::len).sum::<usize>() >= MEMORY_CAP {
            map.clear();
        }
    }
    map.entry(merchant)
        .or_default()
        .insert(key.to_string(), (Instant::now(), value.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_entries_expire_and_invalidate_per_merchant() {
        let cache = AnalyticsCache::new(None, Duration::from_millis(200));
        let (a, b) = (ObjectId::new(), ObjectId::new());
        cache.put(a, "k", &json!(1)).await;
        cache.put(b, "k", &json!(2)).await;
        assert_eq!(cache.get(a, "k").await, Some(json!(1)));
        cache.invalidate_merchant(a).await;
        assert_eq!(cache.get(a, "k").await, None);
        assert_eq!(cache.get(b, "k").await, Some(json!(2)));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(cache.get(b, "k").await, None);
        let stats = cache.stats().await;
        assert_eq!(
            (stats["hits"].as_u64(), stats["misses"].as_u64()),
            (Some(2), Some(2))
        );
    }
}
