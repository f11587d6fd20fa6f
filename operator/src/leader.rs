//! Leader election on a coordination.k8s.io/v1 Lease, so two operator replicas are safe: only
//! the holder runs the controller. Optimistic concurrency (resourceVersion on replace) decides
//! races. Like client-go, expiry is judged on the local monotonic clock (a standby takes over
//! only after the Lease record has stayed unchanged for the lease duration since it saw it),
//! never by comparing another host's renewTime with our wall clock. The holder stops leading
//! when it has not renewed within the renew deadline, which is shorter than the lease duration:
//! its `Fence` closes at that deadline, so its writes stop before any standby may take over.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use tracing::{info, warn};

use crate::client::Fence;

/// How long a Lease lasts and how its holder keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// A standby takes over once the Lease record has not changed for this long.
    pub lease_duration: Duration,
    /// The holder stops leading (and writing) when it has not renewed for this long.
    pub renew_deadline: Duration,
    /// Pause between renewals and between acquisition attempts.
    pub retry_period: Duration,
}

impl Timing {
    /// client-go's proportions (15/10/2 s) scaled to `lease_duration`.
    pub fn for_lease(lease_duration: Duration) -> Self {
        Self {
            lease_duration,
            renew_deadline: lease_duration * 2 / 3,
            retry_period: lease_duration * 2 / 15,
        }
    }

    /// Each Lease request gives up after this long, so one hung request cannot use up the
    /// renew deadline: at least two attempts fit in it.
    pub fn request_timeout(&self) -> Duration {
        self.renew_deadline / 2
    }

    /// The deadline must fall before a standby may take over, or two leaders could write.
    ///
    /// # Errors
    /// `LeaderError::Timing` when the renew deadline is not shorter than the lease duration or
    /// the retry period not shorter than the renew deadline.
    pub fn check(&self) -> Result<(), LeaderError> {
        if self.renew_deadline >= self.lease_duration
            || self.retry_period >= self.renew_deadline
            || self.retry_period.is_zero()
        {
            return Err(LeaderError::Timing(*self));
        }
        Ok(())
    }
}

/// Failure of a lease operation.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Reading the Lease failed.
    #[error("failed to read Lease {0}")]
    ReadLease(String, #[source] kube::Error),
    /// A Lease request did not answer within the request timeout.
    #[error("Lease {0} request timed out")]
    Timeout(String),
    /// Writing the Lease failed for another reason than a lost race.
    #[error("failed to write Lease {0}")]
    WriteLease(String, #[source] kube::Error),
    /// The lease could not be renewed before it expired.
    #[error("lost the leadership Lease {0}")]
    Lost(String),
    /// The timing would let two leaders overlap.
    #[error(
        "invalid leader election timing {0:?}: need retry period < renew deadline < lease duration"
    )]
    Timing(Timing),
}

impl LeaderError {
    /// Bounded label.
    pub fn category(&self) -> &'static str {
        match self {
            Self::ReadLease(..) => "ReadLease",
            Self::WriteLease(..) => "WriteLease",
            Self::Timeout(_) => "LeaseTimeout",
            Self::Lost(_) => "LostLease",
            Self::Timing(_) => "LeaseTiming",
        }
    }
}

/// One contender for a Lease.
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: Timing,
    fence: Fence,
    /// The Lease record last seen (holder, renewTime, resourceVersion) and when we first saw it.
    observed: Mutex<Option<(String, Instant)>>,
}

impl LeaseLock {
    /// A contender `identity` for Lease `namespace/name` held for `duration` per renewal,
    /// with client-go's proportions for the renew deadline and retry period.
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        Self::with_timing(
            client,
            namespace,
            name,
            identity,
            Timing::for_lease(duration),
        )
    }

    /// A contender with explicit timing (see `Timing::check`).
    pub fn with_timing(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timing: Timing,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            timing,
            fence: Fence::closed(),
            observed: Mutex::new(None),
        }
    }

    /// How this lock times its Lease.
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// The fence this lock keeps open while it leads: give it to the controller's client.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    /// Block until this contender holds the Lease (API failures are logged and retried).
    ///
    /// # Errors
    /// None today; kept fallible for callers that select on it.
    pub async fn acquire(&self) -> Result<(), LeaderError> {
        loop {
            match self.attempt().await {
                Ok(true) => {
                    info!(lease = %self.name, identity = %self.identity, "leadership acquired");
                    return Ok(());
                }
                Ok(false) => {}
                Err(error) => {
                    warn!(error = %crate::telemetry::chain(&error), "lease acquisition failed")
                }
            }
            tokio::time::sleep(self.timing.retry_period).await;
        }
    }

    /// Renew every retry period; returns (and closes the fence) when another replica holds the
    /// Lease or no renewal succeeded within the renew deadline. Returns only when leadership is
    /// lost.
    pub async fn hold(&self) -> LeaderError {
        loop {
            tokio::time::sleep(self.timing.retry_period).await;
            // Checked before any request: a replica that was stopped (SIGSTOP, a long GC-like
            // pause, a frozen VM) learns it from its own clock, not from a round trip.
            if !self.fence.is_open() {
                break;
            }
            match self.attempt().await {
                Ok(true) => {}
                Ok(false) => break,
                Err(error) => {
                    warn!(error = %crate::telemetry::chain(&error), "lease renewal failed")
                }
            }
            if !self.fence.is_open() {
                break;
            }
        }
        self.fence.close();
        warn!(lease = %self.name, identity = %self.identity, "leadership lost: writes fenced, standing by");
        LeaderError::Lost(self.name.clone())
    }

    /// Give the Lease up so a standby takes over at once (best effort, bounded).
    pub async fn release(&self) {
        self.fence.close();
        let timeout = self.timing.request_timeout();
        let Ok(Ok(Some(mut lease))) =
            tokio::time::timeout(timeout, self.api.get_opt(&self.name)).await
        else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        let params = PostParams::default();
        let replaced =
            tokio::time::timeout(timeout, self.api.replace(&self.name, &params, &lease)).await;
        if !matches!(replaced, Ok(Ok(_))) {
            warn!("failed to release lease");
        }
    }

    /// One round, which opens the fence until `start + renew deadline` when it wins: the
    /// Lease was written after `start`, so standbys see the record no earlier and wait a whole
    /// lease duration from then.
    async fn attempt(&self) -> Result<bool, LeaderError> {
        let start = Instant::now();
        let won = self.try_acquire_or_renew(start).await?;
        if won {
            self.fence.open_until(start + self.timing.renew_deadline);
        }
        Ok(won)
    }

    /// Whether the Lease is free for us: unheld, or its record has not changed for a whole lease
    /// duration since we first saw it (our monotonic clock, immune to clock skew).
    fn expired(&self, lease: &Lease, now: Instant) -> bool {
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref().is_none_or(str::is_empty) {
            return true;
        }
        let record = format!(
            "{:?}/{:?}/{:?}",
            spec.holder_identity,
            spec.renew_time.map(|t| t.0),
            lease.metadata.resource_version
        );
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.timing.lease_duration, Duration::from_secs);
        let Ok(mut observed) = self.observed.lock() else {
            return false;
        };
        match observed.as_ref() {
            Some((seen, since)) if *seen == record => now.duration_since(*since) > duration,
            _ => {
                *observed = Some((record, now));
                false
            }
        }
    }

    /// One round: create, take over an expired Lease, or renew our own. Ok(false): someone else
    /// holds it (or won a race). Every request is bounded by the request timeout.
    async fn try_acquire_or_renew(&self, start: Instant) -> Result<bool, LeaderError> {
        let now = Timestamp::now();
        let timeout = self.timing.request_timeout();
        let current = tokio::time::timeout(timeout, self.api.get_opt(&self.name))
            .await
            .map_err(|_| LeaderError::Timeout(self.name.clone()))?
            .map_err(|e| LeaderError::ReadLease(self.name.clone(), e))?;
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..Default::default()
                },
                spec: Some(self.spec(None, now)),
            };
            let params = PostParams::default();
            let created = tokio::time::timeout(timeout, self.api.create(&params, &lease)).await;
            return self.write(created);
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        if !ours && !self.expired(&lease, start) {
            return Ok(false);
        }
        lease.spec = Some(self.spec(Some(&spec).filter(|_| ours), now));
        if !ours {
            let transitions = spec.lease_transitions.unwrap_or(0) + 1;
            lease
                .spec
                .get_or_insert_with(LeaseSpec::default)
                .lease_transitions = Some(transitions);
        }
        let params = PostParams::default();
        let replaced =
            tokio::time::timeout(timeout, self.api.replace(&self.name, &params, &lease)).await;
        self.write(replaced)
    }

    fn spec(&self, previous: Option<&LeaseSpec>, now: Timestamp) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: i32::try_from(self.timing.lease_duration.as_secs()).ok(),
            acquire_time: previous
                .and_then(|p| p.acquire_time.clone())
                .or(Some(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: previous.and_then(|p| p.lease_transitions).or(Some(0)),
            ..Default::default()
        }
    }

    fn write(
        &self,
        result: Result<Result<Lease, kube::Error>, tokio::time::error::Elapsed>,
    ) -> Result<bool, LeaderError> {
        match result {
            Err(_) => Err(LeaderError::Timeout(self.name.clone())),
            Ok(Ok(_)) => Ok(true),
            Ok(Err(kube::Error::Api(status))) if status.code == 409 => Ok(false),
            Ok(Err(e)) => Err(LeaderError::WriteLease(self.name.clone(), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_timing_stops_the_leader_before_a_standby_may_take_over() {
        let timing = Timing::for_lease(Duration::from_secs(15));
        assert_eq!(timing.renew_deadline, Duration::from_secs(10));
        assert_eq!(timing.retry_period, Duration::from_secs(2));
        assert!(timing.check().is_ok());
        assert!(timing.request_timeout() < timing.renew_deadline);
    }

    #[test]
    fn a_renew_deadline_as_long_as_the_lease_is_rejected() {
        let timing = Timing {
            lease_duration: Duration::from_secs(10),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        };
        assert!(matches!(timing.check(), Err(LeaderError::Timing(_))));
    }
}
