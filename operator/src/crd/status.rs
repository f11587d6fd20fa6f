//! `MerchantBackendStatus`: what the operator observed on the children, never a copy of the spec.
//! Condition types and reasons are constants so tests, events and docs agree on the spelling.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Observed state of a MerchantBackend.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MerchantBackendStatus {
    /// metadata.generation of the spec the operator last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// kstatus conditions: Ready, Progressing, Degraded, Stalled and Paused, each with its own
    /// observedGeneration; lastTransitionTime changes only when a status flips.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Pods of the API Deployment (all revisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Pods passing their readiness probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Pods running the current pod template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    /// Image of the API container in the Deployment as observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// URLs where the API is reachable: the internal Service, then load-balancer addresses and
    /// the Ingress host once the cluster has assigned them. Sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
}

/// Condition type: the API serves traffic with the current spec.
pub const READY: &str = "Ready";
/// Condition type: a change is being rolled out (kstatus "Reconciling").
pub const PROGRESSING: &str = "Progressing";
/// Condition type: the stack runs below what was asked for.
pub const DEGRADED: &str = "Degraded";
/// Condition type: the operator cannot progress without a user action.
pub const STALLED: &str = "Stalled";
/// Condition type: spec.paused is acknowledged.
pub const PAUSED: &str = "Paused";

/// Condition reasons (PascalCase, also used as Event reasons).
pub mod reason {
    /// All pods of the current template are ready.
    pub const AVAILABLE: &str = "Available";
    /// The Deployment is rolling out or scaling.
    pub const ROLLING_OUT: &str = "RollingOut";
    /// Nothing left to do.
    pub const UP_TO_DATE: &str = "UpToDate";
    /// A referenced Secret or key does not exist.
    pub const SECRET_MISSING: &str = "SecretMissing";
    /// The spec cannot be turned into children.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The Deployment reports a failed rollout (progress deadline or replica failure).
    pub const ROLLOUT_FAILED: &str = "RolloutFailed";
    /// No problem observed.
    pub const HEALTHY: &str = "Healthy";
    /// spec.paused is true.
    pub const PAUSED: &str = "Paused";
    /// spec.paused is false or unset.
    pub const RECONCILING: &str = "Reconciling";
    /// The Deployment has not been created yet.
    pub const DEPLOYMENT_MISSING: &str = "DeploymentMissing";
    /// An object with a child's name exists and is not owned by this MerchantBackend.
    pub const NOT_OWNED: &str = "NotOwned";
    /// Another MerchantBackend owns (or, being older, would own) an object of this one.
    pub const NAME_CONFLICT: &str = "NameConflict";
    /// The API server refused a child (admission webhook or policy, ResourceQuota, invalid
    /// field); retried with backoff.
    pub const APPLY_FAILED: &str = "ApplyFailed";
    /// The uploads claim is not Bound.
    pub const CLAIM_PENDING: &str = "ClaimPending";
    /// The scheduler cannot place a pod.
    pub const UNSCHEDULABLE: &str = "Unschedulable";
    /// A container image cannot be pulled.
    pub const IMAGE_PULL_FAILED: &str = "ImagePullFailed";
    /// A container keeps exiting and is restarted.
    pub const CRASH_LOOP: &str = "CrashLoop";
    /// Event: someone else's change to a child was reverted to the spec.
    pub const DRIFT_REVERTED: &str = "DriftReverted";
    /// An in-place MerchantRestore holds the API at zero replicas.
    pub const RESTORE_IN_PROGRESS: &str = "RestoreInProgress";
    /// Event: a retained uploads claim was kept.
    pub const UPLOADS_RETAINED: &str = "UploadsRetained";
}
