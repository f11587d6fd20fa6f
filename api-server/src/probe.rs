//! The last MongoDB/Redis check of the health routes (`routes::health`), shared through
//! `AppState` so every request sees the same cached answer. It runs the check it is given and
//! knows nothing about HTTP or the servers checked.

use std::{
    future::Future,
    sync::{Arc, PoisonError},
    time::{Duration, Instant},
};

/// How long one dependency check answers `/health` and `/health/ready` outright.
pub const PROBE_TTL: Duration = Duration::from_secs(1);

/// An older result is still served at once while it is refreshed in the background; past this
/// age (an idle server) the caller waits for a fresh check.
pub const STALE_LIMIT: Duration = Duration::from_secs(10);

/// `connected`, `disconnected` or `not_configured` for MongoDB and Redis.
pub type Dependencies = (&'static str, &'static str);

/// The last dependency check, shared by the health routes. These routes are public and not rate
/// limited: without this every call would cost a MongoDB and a Redis round trip, so a burst of
/// probes (or a flood) would load the database. One check runs at a time, and while it runs
/// callers get the previous result instead of queueing behind the database's latency.
#[derive(Debug, Default)]
pub struct Probe {
    last: std::sync::Mutex<Option<(Instant, Dependencies)>>,
    checking: Arc<tokio::sync::Mutex<()>>,
}

impl Probe {
    /// The dependencies' state, checking them with `check` when the last result is too old.
    pub async fn get<F>(self: &Arc<Self>, check: impl FnOnce() -> F) -> Dependencies
    where
        F: Future<Output = Dependencies> + Send + 'static,
    {
        match self.last() {
            Some((at, deps)) if at.elapsed() < PROBE_TTL => deps,
            Some((at, deps)) if at.elapsed() < STALE_LIMIT => {
                // Someone else holding the lock is already refreshing it.
                if let Ok(guard) = Arc::clone(&self.checking).try_lock_owned() {
                    let (probe, fresh) = (Arc::clone(self), check());
                    tokio::spawn(async move {
                        probe.remember(fresh.await);
                        drop(guard);
                    });
                }
                deps
            }
            _ => {
                let _guard = self.checking.lock().await;
                // The caller ahead in the queue may just have checked.
                if let Some((at, deps)) = self.last()
                    && at.elapsed() < PROBE_TTL
                {
                    return deps;
                }
                let deps = check().await;
                self.remember(deps);
                deps
            }
        }
    }

    fn last(&self) -> Option<(Instant, Dependencies)> {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remember(&self, deps: Dependencies) {
        let previous = self
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace((Instant::now(), deps))
            .map(|(_, previous)| previous);
        // Logged once per change, not once per probe answered.
        if previous.is_some_and(|p| p != deps) {
            tracing::warn!(mongo = deps.0, redis = deps.1, "dependency state changed");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn counting(
        calls: &Arc<AtomicUsize>,
        deps: Dependencies,
        delay: Duration,
    ) -> impl Future<Output = Dependencies> + Send + 'static {
        let calls = Arc::clone(calls);
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            deps
        }
    }

    #[tokio::test]
    async fn concurrent_first_callers_share_one_check() {
        let (probe, calls) = (Arc::new(Probe::default()), Arc::new(AtomicUsize::new(0)));
        let ok = ("connected", "connected");
        let answers = futures::future::join_all(
            (0..20).map(|_| probe.get(|| counting(&calls, ok, Duration::from_millis(50)))),
        )
        .await;
        assert!(answers.iter().all(|a| *a == ok));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_stale_result_is_served_at_once_while_one_refresh_runs() {
        let (probe, calls) = (Arc::new(Probe::default()), Arc::new(AtomicUsize::new(0)));
        let (ok, down) = (("connected", "connected"), ("disconnected", "connected"));
        *probe.last.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now() - PROBE_TTL, ok));
        let started = Instant::now();
        for _ in 0..10 {
            // The slow check must not hold these callers up.
            let deps = probe
                .get(|| counting(&calls, down, Duration::from_millis(300)))
                .await;
            assert_eq!(deps, ok);
        }
        assert!(
            started.elapsed() < Duration::from_millis(250),
            "{:?}",
            started.elapsed()
        );
        // Let the spawned refresh start (the test runtime has a single thread).
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one background refresh");
        tokio::time::sleep(Duration::from_millis(400)).await;
        let deps = probe.get(|| counting(&calls, ok, Duration::ZERO)).await;
        assert_eq!(deps, down, "the refreshed result is served next");
    }

    #[tokio::test]
    async fn a_result_past_the_stale_limit_is_checked_before_answering() {
        let (probe, calls) = (Arc::new(Probe::default()), Arc::new(AtomicUsize::new(0)));
        let (ok, down) = (
            ("connected", "connected"),
            ("disconnected", "not_configured"),
        );
        *probe.last.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now() - STALE_LIMIT, ok));
        let deps = probe.get(|| counting(&calls, down, Duration::ZERO)).await;
        assert_eq!(deps, down);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
