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
    /// Scheduled backups and restore drills as observed from their runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupStatus>,
    /// The database this MerchantBackend serves, as its migration Jobs reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseStatus>,
    /// The migration-gated release of spec.image (absent once the image serves and nothing is
    /// pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseStatus>,
    /// The rollout of the current revision, or the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<super::rollout::RolloutStatus>,
    /// The last 10 revisions rolled out, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<super::rollout::RevisionRecord>,
}

/// Scheduled backups as observed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    /// When the operator first saw spec.backup: the first backup is due at the schedule's next
    /// time after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The newest backup run, whatever its result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<BackupRun>,
    /// The newest backup that succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_backup: Option<BackupRun>,
    /// The newest backup a restore drill (checksums + trial restore) verified; restoreSeconds is
    /// the measured restore time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_backup: Option<BackupRun>,
    /// The newest restore drill, whatever its result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verification: Option<BackupRun>,
    /// Continuous change capture (spec.backup.pointInTime), from its Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureStatus>,
}

/// The change capture as its Deployment shows it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CaptureStatus {
    /// The capture pod runs (the Deployment has an available replica).
    pub running: bool,
    /// Where the segments go (`<destination>/changes`).
    pub location: String,
    /// Why it is not running, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One backup or drill run.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupRun {
    /// When the run finished (RFC 3339).
    pub time: String,
    /// `Succeeded` or `Failed`.
    pub result: String,
    /// The Job that ran it.
    pub job: String,
    /// The backup folder written or verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Bytes written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// Documents dumped or verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<i64>,
    /// Wall time of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// Measured restore time of the trial restore (drills).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_seconds: Option<f64>,
    /// Why it failed (the tool's error or the end of its log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The served database.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseStatus {
    /// Identity marker of the database (its `database_identity` document): migrations and
    /// in-place restores are refused against a database with another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Highest schema migration applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration_version: Option<i64>,
}

/// A release of a new image, gated on its migrations.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseStatus {
    /// The image being released.
    pub image: String,
    /// `Planning`, `Migrating`, `Released`, `Contracting`, `Failed` or `Blocked`.
    pub phase: String,
    /// metadata.generation the release started at: a held release starts again once the spec
    /// changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// Schema version before the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
    /// Schema version the new image brings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_version: Option<i64>,
    /// Pending steps from the new image's `migrate plan --json`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PlannedMigration>,
    /// Migration Jobs started for this release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i32>,
    /// The newest Job of the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// When the newest Job failed (RFC 3339): the next attempt waits for its backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_time: Option<String>,
    /// What happened last (the failure's reason and log tail when failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The MerchantBackup taken before this release's irreversible expand steps: the restore
    /// point if the release has to be undone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// Contract (destructive) steps of the plan, run once the new version has been healthy for
    /// spec.migrations.rollbackWindowSeconds; emptied when they ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contract: Vec<PlannedMigration>,
    /// When the new version was first seen rolled out and available (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_since: Option<String>,
    /// When the contract steps may run (RFC 3339): healthySince + the rollback window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_after: Option<String>,
    /// The MerchantBackup taken before irreversible contract steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_backup: Option<String>,
}

/// One pending migration of a release plan.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlannedMigration {
    /// Version.
    pub version: i64,
    /// Name.
    pub name: String,
    /// `expand` (before the new version serves) or `contract` (after it is healthy).
    pub phase: String,
    /// Whether `migrate down` undoes it.
    pub reversible: bool,
}

/// Condition type: the API serves traffic with the current spec.
pub const READY: &str = "Ready";
/// Condition type: a change is being rolled out.
pub const PROGRESSING: &str = "Progressing";
/// Condition type: kstatus's name for Progressing, same status, reason and message. Generic
/// readers (kstatus, Flux without health expressions, `kubectl wait`) know this one.
pub const RECONCILING: &str = "Reconciling";
/// Condition type: the stack runs below what was asked for.
pub const DEGRADED: &str = "Degraded";
/// Condition type: the operator cannot progress without a user action.
pub const STALLED: &str = "Stalled";
/// Condition type: spec.paused is acknowledged.
pub const PAUSED: &str = "Paused";
/// Condition type: the newest good backup is as recent as spec.backup.schedule promises.
pub const BACKUP_HEALTHY: &str = "BackupHealthy";
/// Condition type: the last rollout finished on a good revision (False while one fails or is
/// rolled back).
pub const ROLLOUT_HEALTHY: &str = "RolloutHealthy";

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
    /// BackupHealthy: the newest good backup is recent enough.
    pub const BACKUP_CURRENT: &str = "BackupCurrent";
    /// BackupHealthy: no backup was due yet.
    pub const AWAITING_FIRST_BACKUP: &str = "AwaitingFirstBackup";
    /// BackupHealthy: a scheduled backup did not produce a good backup in time.
    pub const BACKUP_OVERDUE: &str = "BackupOverdue";
    /// BackupHealthy: spec.backup is not set.
    pub const BACKUPS_DISABLED: &str = "BackupsDisabled";
    /// The new image's migration plan runs.
    pub const PLANNING_RELEASE: &str = "PlanningRelease";
    /// The new image's migrations run.
    pub const MIGRATING: &str = "Migrating";
    /// The new image's migrations failed; the old version keeps serving.
    pub const MIGRATION_FAILED: &str = "MigrationFailed";
    /// The new image's migration plan could not be obtained; the old version keeps serving.
    pub const UPGRADE_BLOCKED: &str = "UpgradeBlocked";
    /// The database is not the one this MerchantBackend served.
    pub const DATABASE_IDENTITY_CHANGED: &str = "DatabaseIdentityChanged";
    /// A MerchantBackup runs before an irreversible migration.
    pub const BACKING_UP: &str = "BackingUp";
    /// The backup before an irreversible migration failed; nothing was migrated.
    pub const PRE_MIGRATION_BACKUP_FAILED: &str = "PreMigrationBackupFailed";
    /// Event: the contract migrations of a release ran.
    pub const CONTRACTED: &str = "Contracted";
    /// RolloutHealthy: the last rollout finished on the revision the spec asks for.
    pub const ROLLOUT_SUCCEEDED: &str = "RolloutSucceeded";
    /// RolloutHealthy / event: a new revision is rolling out.
    pub const ROLLOUT_STARTED: &str = "RolloutStarted";
    /// Event: a canary step finished.
    pub const ROLLOUT_STEP: &str = "RolloutStep";
    /// Event: the new revision was promoted (BlueGreen switch, Canary's last step).
    pub const PROMOTED: &str = "Promoted";
    /// RolloutHealthy / event: the rollout was aborted (annotation); the stable revision serves.
    pub const ROLLOUT_ABORTED: &str = "RolloutAborted";
    /// RolloutHealthy / event: the new revision failed and the stable one was put back.
    pub const ROLLED_BACK: &str = "RolledBack";
    /// RolloutHealthy: the new revision failed but an irreversible migration forbids going back.
    pub const ROLLBACK_BLOCKED: &str = "RollbackBlocked";
    /// RolloutHealthy: waiting for a slot under the operator's fleet cap.
    pub const ROLLOUT_QUEUED: &str = "RolloutQueued";
    /// RolloutHealthy: held by the pause annotation or a pause step.
    pub const ROLLOUT_PAUSED: &str = "RolloutPaused";
    /// Event: a backup run succeeded.
    pub const BACKUP_SUCCEEDED: &str = "BackupSucceeded";
    /// Event: a backup run failed.
    pub const BACKUP_FAILED: &str = "BackupFailed";
    /// Event: a restore drill verified a backup.
    pub const BACKUP_VERIFIED: &str = "BackupVerified";
    /// Event: a restore drill failed.
    pub const VERIFICATION_FAILED: &str = "VerificationFailed";
}
