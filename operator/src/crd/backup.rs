//! `MerchantBackup`: one on-demand backup of a MerchantBackend's database to the backend's
//! spec.backup.destination, run once as a Job of the API image (`merchant-api backup`).
//! Owns the resource shape only; the controller lives in `crate::data`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Take one backup of a MerchantBackend now. The spec is immutable: create a new
/// MerchantBackup for another backup.
// kube's printcolumn(...) repeats `type_` per column, which clippy takes for a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "merchant.rezapp.com",
    version = "v1alpha1",
    kind = "MerchantBackup",
    plural = "merchantbackups",
    shortname = "mbk",
    namespaced,
    status = "MerchantBackupStatus",
    derive = "PartialEq",
    doc = "MerchantBackup takes one backup of a MerchantBackend's database (and uploads) to the backend's spec.backup.destination.",
    printcolumn(name = "Backend", type_ = "string", json_path = ".spec.backendRef"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Documents", type_ = "integer", json_path = ".status.documents"),
    printcolumn(name = "Size", type_ = "integer", json_path = ".status.sizeBytes"),
    printcolumn(name = "Location", type_ = "string", json_path = ".status.location"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("self == oldSelf").message("spec is immutable: create a new MerchantBackup"))]
#[serde(rename_all = "camelCase")]
pub struct MerchantBackupSpec {
    /// Name of the MerchantBackend (same namespace) to back up. It needs spec.backup.destination.
    #[schemars(length(min = 1, max = 63))]
    pub backend_ref: String,
}

/// Where a backup or restore run is.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    /// Accepted, the Job is not running yet (or waits for something, see message).
    #[default]
    Pending,
    /// The Job runs.
    Running,
    /// The tool reported success. Terminal.
    Succeeded,
    /// The run failed or could not start (see error). Terminal.
    Failed,
}

impl Phase {
    /// Succeeded or Failed: nothing runs again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// What the backup run reported.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MerchantBackupStatus {
    /// metadata.generation last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pending, Running, Succeeded or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Ready (the backup exists) and Progressing conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Name of the Job running the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// The backup folder written (`s3://BUCKET/PREFIX/ID`); restore from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Bytes written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "int64"))]
    pub size_bytes: Option<u64>,
    /// Documents dumped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "int64"))]
    pub documents: Option<u64>,
    /// Collections dumped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "int64"))]
    pub collections: Option<u64>,
    /// Wall time of the backup, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// Identity of the database backed up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Schema migration version of the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration_version: Option<i64>,
    /// When the Job started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// What is happening now (while Pending or Running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
