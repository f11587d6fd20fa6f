//! Leader election on a coordination.k8s.io/v1 Lease, so two operator replicas are safe: only
//! the holder runs the controller. Optimistic concurrency (resourceVersion on replace) decides
//! races; a holder that cannot renew within the lease duration gives up leadership.

use std::time::Duration;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::{SignedDuration, Timestamp},
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use tracing::{info, warn};

/// Failure of a lease operation.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Reading the Lease failed.
    #[error("failed to read Lease {0}")]
    ReadLease(String, #[source] kube::Error),
    /// Writing the Lease failed for another reason than a lost race.
    #[error("failed to write Lease {0}")]
    WriteLease(String, #[source] kube::Error),
    /// The lease could not be renewed before it expired.
    #[error("lost the leadership Lease {0}")]
    Lost(String),
}

impl LeaderError {
    /// Bounded label.
    pub fn category(&self) -> &'static str {
        match self {
            Self::ReadLease(..) => "ReadLease",
            Self::WriteLease(..) => "WriteLease",
            Self::Lost(_) => "LostLease",
        }
    }
}

/// One contender for a Lease.
#[derive(Clone)]
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

impl LeaseLock {
    /// A contender `identity` for Lease `namespace/name` held for `duration` per renewal.
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration,
        }
    }

    /// Block until this contender holds the Lease.
    ///
    /// # Errors
    /// `ReadLease`/`WriteLease` on API failures other than lost races.
    pub async fn acquire(&self) -> Result<(), LeaderError> {
        loop {
            if self.try_acquire_or_renew().await? {
                info!(lease = %self.name, identity = %self.identity, "leadership acquired");
                return Ok(());
            }
            tokio::time::sleep(self.duration / 3).await;
        }
    }

    /// Renew every third of the lease duration until renewing fails for a whole duration.
    /// Returns only when leadership is lost.
    pub async fn hold(&self) -> LeaderError {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.duration / 3).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                Ok(false) => return LeaderError::Lost(self.name.clone()),
                Err(error) => {
                    warn!(error = %crate::telemetry::chain(&error), "lease renewal failed")
                }
            }
            if last_renewed.elapsed() > self.duration {
                return LeaderError::Lost(self.name.clone());
            }
        }
    }

    /// Give the Lease up so a standby takes over at once (best effort).
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        if let Err(error) = self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            warn!(error = %error, "failed to release lease");
        }
    }

    fn expired(&self, spec: &LeaseSpec, now: Timestamp) -> bool {
        let seconds = spec
            .lease_duration_seconds
            .map_or(self.duration.as_secs() as i64, i64::from);
        spec.renew_time.as_ref().is_none_or(|t| {
            t.0.saturating_add(SignedDuration::from_secs(seconds))
                .is_ok_and(|end| end < now)
        })
    }

    /// One round: create, take over an expired Lease, or renew our own. Ok(false): someone else
    /// holds it (or won a race).
    async fn try_acquire_or_renew(&self) -> Result<bool, LeaderError> {
        let now = Timestamp::now();
        let current = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| LeaderError::ReadLease(self.name.clone(), e))?;
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..Default::default()
                },
                spec: Some(self.spec(None, now)),
            };
            return self.write(self.api.create(&PostParams::default(), &lease).await);
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let free =
            spec.holder_identity.as_deref().is_none_or(str::is_empty) || self.expired(&spec, now);
        if !ours && !free {
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
        self.write(
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await,
        )
    }

    fn spec(&self, previous: Option<&LeaseSpec>, now: Timestamp) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: i32::try_from(self.duration.as_secs()).ok(),
            acquire_time: previous
                .and_then(|p| p.acquire_time.clone())
                .or(Some(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: previous.and_then(|p| p.lease_transitions).or(Some(0)),
            ..Default::default()
        }
    }

    fn write(&self, result: Result<Lease, kube::Error>) -> Result<bool, LeaderError> {
        match result {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(LeaderError::WriteLease(self.name.clone(), e)),
        }
    }
}
