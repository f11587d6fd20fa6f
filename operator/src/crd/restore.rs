//! `MerchantRestore`: one restore of a backup into a MerchantBackend's database server, run once
//! as a Job of the API image (`merchant-api restore`). By default into a new database; with
//! `inPlace` into the serving database while the API is held at zero replicas.
//! Owns the resource shape only; the controller lives in `crate::data`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::backup::Phase;

/// Restore a backup of a MerchantBackend. The spec is immutable: create a new MerchantRestore
/// for another restore.
// kube's printcolumn(...) repeats `type_` per column, which clippy takes for a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "merchant.rezapp.com",
    version = "v1alpha1",
    kind = "MerchantRestore",
    plural = "merchantrestores",
    shortname = "mrs",
    namespaced,
    status = "MerchantRestoreStatus",
    derive = "PartialEq",
    doc = "MerchantRestore restores a backup of a MerchantBackend into a new database (default) or in place into the serving database.",
    printcolumn(name = "Backend", type_ = "string", json_path = ".spec.backendRef"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Database", type_ = "string", json_path = ".status.database"),
    printcolumn(name = "Documents", type_ = "integer", json_path = ".status.documents"),
    printcolumn(name = "Location", type_ = "string", json_path = ".status.location"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(
    validation = Rule::new("self == oldSelf").message("spec is immutable: create a new MerchantRestore"),
    validation = Rule::new("!(has(self.inPlace) && self.inPlace && has(self.targetDatabase))")
        .message("spec.inPlace and spec.targetDatabase are exclusive: in place restores into the serving database"),
    validation = Rule::new("!(has(self.until) && has(self.backup))")
        .message("spec.until and spec.backup are exclusive: a point-in-time restore starts from the newest backup before spec.until under the backend's destination"),
)]
#[serde(rename_all = "camelCase")]
pub struct MerchantRestoreSpec {
    /// Name of the MerchantBackend (same namespace) whose database server receives the restore.
    #[schemars(length(min = 1, max = 63))]
    pub backend_ref: String,
    /// What to restore: the name of a Succeeded MerchantBackup in this namespace, or a backup
    /// folder `s3://BUCKET/PREFIX/ID`. Omitted: the newest good backup under the backend's
    /// spec.backup.destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub backup: Option<String>,
    /// Database to restore into (created; an existing one is refused by the tool). Default:
    /// `<serving database>_restore_<id>`, a new database with a new identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub target_database: Option<String>,
    /// Restore into the serving database: the API is scaled to zero, the database is dropped
    /// and restored, then the API comes back. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_place: Option<bool>,
    /// Point-in-time restore (RFC 3339, e.g. `2026-12-06T02:30:00Z`): the newest backup before
    /// this time under the backend's destination, then the captured changes up to it
    /// (spec.backup.pointInTime on the backend). Exclusive with spec.backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 20, max = 40))]
    pub until: Option<String>,
    /// In place only: restore even when the serving database's identity differs from the one the
    /// backend recorded (normally refused). Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_identity_change: Option<bool>,
}

/// What the restore run reported.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MerchantRestoreStatus {
    /// metadata.generation last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pending, Running, Succeeded or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Ready (restored) and Progressing conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Name of the Job running the restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// Backup folder (or parent, for the newest backup) restored from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Database restored into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Documents restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "int64"))]
    pub documents: Option<u64>,
    /// Wall time of the restore, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// When the Job started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// What is happening now (while Pending or Running), e.g. waiting for the API pods to stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
