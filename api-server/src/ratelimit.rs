//! Fixed-window rate limiting per client IP (the window starts at its first request) (contract §5),
//! counted in Redis when configured so replicas share budgets, in-process without Redis.
//! Responses carry the IETF draft `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
//! headers.
//!
//! Every request is counted *before* it runs, so parallel requests cannot all pass a budget
//! none of them has used yet; the auth limiter, which counts failures only, gives a success's
//! count back afterwards.
//!
//! When a configured Redis fails, the security budgets (auth, register, password reset) fail
//! closed: 503 `Rate limiter unavailable` with `Retry-After`, as the contract's server did,
//! because per-process counts would multiply the budget by the replica count. The throughput
//! limiters (general, products) keep serving, counted in-process until Redis is back. Both
//! are logged and counted in `merchant_api_rate_limit_redis_failures_total`.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};
use redis::aio::ConnectionManager;
use serde_json::json;

use crate::{config::RateLimitSettings, error::ApiError, extract::ClientIp, state::AppState};

/// The contract's limiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Every `/api/merchant` request: 500 / 15 min.
    General,
    /// Failed login, refresh, resend-verification: 5 / 15 min.
    Auth,
    /// Registration: 5 / h.
    Register,
    /// Forgot and reset password, one shared budget: 3 / h.
    PasswordReset,
    /// Product reads: 100 / min.
    ProductRead,
    /// Product writes: 30 / min.
    ProductWrite,
    /// Product deletes: 10 / min.
    ProductDelete,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Self::General => "general",
            Self::Auth => "auth",
            Self::Register => "register",
            Self::PasswordReset => "password-reset",
            Self::ProductRead => "product-get",
            Self::ProductWrite => "product-write",
            Self::ProductDelete => "product-delete",
        }
    }

    fn window(self) -> Duration {
        match self {
            Self::General | Self::Auth => Duration::from_secs(900),
            Self::Register | Self::PasswordReset => Duration::from_secs(3600),
            Self::ProductRead | Self::ProductWrite | Self::ProductDelete => Duration::from_secs(60),
        }
    }

    fn max(self, s: &RateLimitSettings) -> u64 {
        match self {
            Self::General => s.general,
            Self::Auth => s.auth,
            Self::Register => s.register,
            Self::PasswordReset => s.password_reset,
            Self::ProductRead => s.product_read,
            Self::ProductWrite => s.product_write,
            Self::ProductDelete => s.product_delete,
        }
    }

    fn failures_only(self) -> bool {
        self == Self::Auth
    }

    /// Budgets against guessing and abuse: refused while their shared counter is unreachable.
    fn fails_closed(self) -> bool {
        matches!(self, Self::Auth | Self::Register | Self::PasswordReset)
    }

    fn rejection(self, retry_after: u64) -> ApiError {
        let body = match self {
            Self::Auth => json!({
                "success": false,
                "error": "Too many login attempts. Please try again after 15 minutes.",
                "retryAfter": retry_after,
            }),
            _ => {
                json!({ "success": false, "message": "Too many requests, please try again later." })
            }
        };
        ApiError::TooManyRequests { body, retry_after }
    }
}

/// Redis did not answer a rate-limit check.
#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    /// Redis answered with an error.
    #[error("redis failed: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("redis timed out")]
    Timeout,
}

/// Counter state of one key after a check.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// Requests counted in the window.
    pub count: u64,
    /// Seconds until the window resets.
    pub reset: u64,
}

/// Shared counters.
pub struct RateLimiter {
    settings: RateLimitSettings,
    redis: Option<ConnectionManager>,
    local: Mutex<HashMap<String, (u64, u64)>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("redis", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

impl RateLimiter {
    /// A limiter over Redis (when given) with an in-process fallback.
    pub fn new(settings: RateLimitSettings, redis: Option<ConnectionManager>) -> Self {
        Self {
            settings,
            redis,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// Key of the client's counter for `limit`.
    fn key(&self, limit: Limit, client: &str) -> String {
        format!("{}:{}:{client}", self.settings.prefix, limit.name())
    }

    /// Add `by` (1: count a request, 0: just read) to the client's counter for `limit`, in
    /// Redis when configured. A client's window starts at its first request and lasts the
    /// limiter's window (as express-rate-limit counts), so a burst is never split across a
    /// clock-aligned boundary into two half-counted windows.
    pub async fn count(&self, limit: Limit, client: &str, by: u64) -> Result<Usage, LimiterError> {
        let key = self.key(limit, client);
        let window = limit.window().as_secs();
        let Some(conn) = &self.redis else {
            return Ok(self.count_locally(limit, client, by));
        };
        let mut conn = conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(&key)
            .arg(0)
            .arg("EX")
            .arg(window)
            .arg("NX")
            .ignore()
            .incr(&key, by)
            .ttl(&key);
        let (count, ttl) =
            tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<(u64, i64)>(&mut conn))
                .await
                .map_err(|_| LimiterError::Timeout)??;
        let reset = u64::try_from(ttl).unwrap_or(window);
        Ok(Usage { count, reset })
    }

    /// Give back one count of the client's current window (a request counted up front that
    /// turned out not to count). A window that expired meanwhile is left alone.
    pub async fn give_back(&self, limit: Limit, client: &str) {
        let key = self.key(limit, client);
        if let Some(conn) = &self.redis {
            let mut conn = conn.clone();
            let mut eval = redis::cmd("EVAL");
            eval.arg("local v = tonumber(redis.call('GET', KEYS[1]) or '0') if v > 0 then return redis.call('DECR', KEYS[1]) end return 0")
                .arg(1)
                .arg(&key);
            match tokio::time::timeout(REDIS_TIMEOUT, eval.query_async::<i64>(&mut conn)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, limiter = limit.name(), "rate limiter: giving a count back failed")
                }
                Err(_) => tracing::warn!(
                    limiter = limit.name(),
                    "rate limiter: giving a count back timed out"
                ),
            }
            return;
        }
        let mut map = self.local();
        if let Some(entry) = map.get_mut(&key) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, u64)>> {
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// In-process counterpart: one `(window start, count)` per client and limiter; expired
    /// entries are dropped when the map grows.
    pub fn count_locally(&self, limit: Limit, client: &str, by: u64) -> Usage {
        let key = self.key(limit, client);
        let window = limit.window().as_secs();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut map = self.local();
        if map.len() > 50_000 {
            let longest = Limit::Register.window().as_secs();
            map.retain(|_, (start, _)| start.saturating_add(longest) > now);
        }
        let entry = map.entry(key).or_insert((now, 0));
        if entry.0.saturating_add(window) <= now {
            *entry = (now, 0);
        }
        entry.1 += by;
        Usage {
            count: entry.1,
            reset: entry.0 + window - now,
        }
    }
}

/// Set the `RateLimit-*` headers unless an inner (more specific) limiter already did.
fn set_headers(headers: &mut HeaderMap, max: u64, usage: Usage) {
    if headers.contains_key("ratelimit-limit") {
        return;
    }
    headers.insert("ratelimit-limit", HeaderValue::from(max));
    headers.insert(
        "ratelimit-remaining",
        HeaderValue::from(max.saturating_sub(usage.count)),
    );
    headers.insert("ratelimit-reset", HeaderValue::from(usage.reset));
}

/// The 503 of a security limiter whose shared counter is unreachable (the contract's).
fn limiter_unavailable() -> Response {
    ApiError::Busy {
        message: "Rate limiter unavailable. Please try again later.",
        retry_after: 5,
    }
    .into_response()
}

/// Middleware enforcing one limiter; use with `from_fn_with_state((state, limit), enforce)`.
pub async fn enforce(
    State((state, limit)): State<(AppState, Limit)>,
    req: Request,
    next: Next,
) -> Response {
    let settings = &state.settings.rate_limits;
    if settings.disabled {
        return next.run(req).await;
    }
    let max = limit.max(settings);
    let (parts, body) = req.into_parts();
    let client = ClientIp::from_parts(&parts, &state.settings.trust_proxy).0;
    let req = Request::from_parts(parts, body);
    // Counted before the request runs: concurrency must not buy requests.
    let usage = match count(&state, limit, &client).await {
        Ok(usage) => usage,
        Err(unavailable) => return unavailable,
    };
    if usage.count > max {
        let mut response = limit.rejection(usage.reset).into_response();
        set_headers(response.headers_mut(), max, usage);
        return response;
    }
    let mut response = next.run(req).await;
    let failed = response.status().is_client_error() || response.status().is_server_error();
    let usage = if limit.failures_only() && !failed {
        state.limiter.give_back(limit, &client).await;
        Usage {
            count: usage.count.saturating_sub(1),
            ..usage
        }
    } else {
        usage
    };
    set_headers(response.headers_mut(), max, usage);
    response
}

/// Count one request of `client`. When Redis does not answer, a limiter that fails closed
/// refuses (the 503 response); the others count in this process alone.
async fn count(state: &AppState, limit: Limit, client: &str) -> Result<Usage, Response> {
    let e = match state.limiter.count(limit, client, 1).await {
        Ok(usage) => return Ok(usage),
        Err(e) => e,
    };
    let outcome = if limit.fails_closed() {
        "refused"
    } else {
        "local"
    };
    tracing::warn!(error = %e, limiter = limit.name(), outcome, "rate limiter: redis unavailable");
    state
        .metrics
        .rate_limit_redis_failures
        .get_or_create(&vec![
            ("limiter".into(), limit.name().into()),
            ("outcome".into(), outcome.into()),
        ])
        .inc();
    if limit.fails_closed() {
        return Err(limiter_unavailable());
    }
    Ok(state.limiter.count_locally(limit, client, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RateLimitSettings {
        RateLimitSettings {
            disabled: false,
            prefix: "t".into(),
            general: 500,
            auth: 5,
            register: 5,
            password_reset: 3,
            product_read: 100,
            product_write: 30,
            product_delete: 10,
        }
    }

    async fn count(limiter: &RateLimiter, limit: Limit, client: &str, by: u64) -> u64 {
        limiter.count(limit, client, by).await.expect("local").count
    }

    #[tokio::test]
    async fn without_redis_counts_are_kept_per_client_and_limiter_in_process() {
        let limiter = RateLimiter::new(settings(), None);
        assert_eq!(count(&limiter, Limit::Register, "a", 1).await, 1);
        assert_eq!(count(&limiter, Limit::Register, "a", 1).await, 2);
        assert_eq!(
            count(&limiter, Limit::Register, "a", 0).await,
            2,
            "a read does not count"
        );
        limiter.give_back(Limit::Register, "a").await;
        assert_eq!(count(&limiter, Limit::Register, "a", 0).await, 1);
        assert_eq!(count(&limiter, Limit::Register, "b", 1).await, 1);
        assert_eq!(count(&limiter, Limit::Auth, "a", 1).await, 1);
        let usage = limiter.count(Limit::General, "a", 1).await.expect("local");
        assert!(usage.reset <= 900);
    }

    #[test]
    fn security_budgets_fail_closed_and_throughput_limits_do_not() {
        for l in [Limit::Auth, Limit::Register, Limit::PasswordReset] {
            assert!(l.fails_closed());
        }
        for l in [
            Limit::General,
            Limit::ProductRead,
            Limit::ProductWrite,
            Limit::ProductDelete,
        ] {
            assert!(!l.fails_closed());
        }
    }

    #[test]
    fn only_the_auth_limiter_counts_failures_only_and_uses_the_error_key() {
        assert!(Limit::Auth.failures_only());
        assert!(!Limit::Register.failures_only());
        let ApiError::TooManyRequests { body, .. } = Limit::Auth.rejection(60) else {
            panic!("429")
        };
        assert_eq!(body["retryAfter"], 60);
        assert!(body.get("error").is_some());
    }
}
