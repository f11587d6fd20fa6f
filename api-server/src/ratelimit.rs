//! Fixed-window rate limiting per client IP (the window starts at its first request) (contract §5), counted in Redis when configured so
//! replicas share budgets, in-process otherwise or while Redis fails. Responses carry the IETF
//! draft `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` headers.

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

    /// Add `by` (0 = just read) to the client's counter for `limit`. A client's window starts at
    /// its first request and lasts the limiter's window (as express-rate-limit counts), so a
    /// burst is never split across a clock-aligned boundary into two half-counted windows.
    pub async fn count(&self, limit: Limit, client: &str, by: u64) -> Usage {
        let key = self.key(limit, client);
        let window = limit.window().as_secs();
        if let Some(conn) = &self.redis {
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
            match tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<(u64, i64)>(&mut conn))
                .await
            {
                Ok(Ok((count, ttl))) => {
                    let reset = u64::try_from(ttl).unwrap_or(window);
                    return Usage { count, reset };
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "rate limiter: redis failed, counting in-process")
                }
                Err(_) => tracing::warn!("rate limiter: redis timed out, counting in-process"),
            }
        }
        self.count_locally(key, window, by)
    }

    /// In-process counterpart: one `(window start, count)` per client and limiter; expired
    /// entries are dropped when the map grows.
    fn count_locally(&self, key: String, window: u64, by: u64) -> Usage {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut map = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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
    let limiter = &state.limiter;
    let before = limiter
        .count(limit, &client, if limit.failures_only() { 0 } else { 1 })
        .await;
    let over = if limit.failures_only() {
        before.count >= max
    } else {
        before.count > max
    };
    if over {
        let mut response = limit.rejection(before.reset).into_response();
        set_headers(response.headers_mut(), max, before);
        return response;
    }
    let mut response = next.run(req).await;
    let usage = if limit.failures_only()
        && (response.status().is_client_error() || response.status().is_server_error())
    {
        limiter.count(limit, &client, 1).await
    } else {
        before
    };
    set_headers(response.headers_mut(), max, usage);
    response
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

    #[tokio::test]
    async fn without_redis_counts_are_kept_per_client_and_limiter_in_process() {
        let limiter = RateLimiter::new(settings(), None);
        assert_eq!(limiter.count(Limit::Register, "a", 1).await.count, 1);
        assert_eq!(limiter.count(Limit::Register, "a", 1).await.count, 2);
        assert_eq!(
            limiter.count(Limit::Register, "a", 0).await.count,
            2,
            "a read does not count"
        );
        assert_eq!(limiter.count(Limit::Register, "b", 1).await.count, 1);
        assert_eq!(limiter.count(Limit::Auth, "a", 1).await.count, 1);
        let usage = limiter.count(Limit::General, "a", 1).await;
        assert!(usage.reset <= 900);
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
