//! `spec.rollout` and `status.rollout` / `status.history`: how a new revision of the API (image,
//! configuration, Secret checksums, pod settings) replaces the serving one, and what happened to
//! every revision.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How releases roll out. Default: RollingUpdate with a 30 s progress deadline.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(
    validation = Rule::new("!has(self.canary) || (has(self.strategy) && self.strategy == 'Canary')")
        .message("spec.rollout.canary needs spec.rollout.strategy: Canary"),
    validation = Rule::new("!has(self.blueGreen) || (has(self.strategy) && self.strategy == 'BlueGreen')")
        .message("spec.rollout.blueGreen needs spec.rollout.strategy: BlueGreen"),
    validation = Rule::new("!has(self.strategy) || self.strategy != 'Canary' || (has(self.canary) && size(self.canary.steps) > 0)")
        .message("spec.rollout.strategy Canary needs spec.rollout.canary.steps"),
    validation = Rule::new("!has(self.canary) || !self.canary.steps.exists(s, has(s.analysis)) || (has(self.analysis) && has(self.analysis.queries) && size(self.analysis.queries) > 0)")
        .message("an analysis step in spec.rollout.canary.steps needs spec.rollout.analysis.queries"),
)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// RollingUpdate (default): pods are replaced one at a time (maxSurge 1, maxUnavailable 0).
    /// BlueGreen: the new revision comes up beside the old one behind the preview Service, then
    /// the main Service switches to it. Canary: the new revision takes a growing share of the
    /// traffic in steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RolloutStrategy>,
    /// Seconds the new revision has to become ready (and pass its checks) before the operator
    /// rolls back to the last good revision. Default: 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 3600))]
    pub progress_deadline_seconds: Option<i32>,
    /// Container restarts of new-revision pods tolerated before the release counts as failed.
    /// Default: 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub max_restarts: Option<i32>,
    /// BlueGreen settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenSpec>,
    /// Canary settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanarySpec>,
    /// Prometheus queries judging a new revision (Canary `analysis` steps; BlueGreen before
    /// promotion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisSpec>,
}

/// Rollout strategy.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RolloutStrategy {
    /// Replace pods one at a time; roll back when the new ones are not ready in time.
    #[default]
    RollingUpdate,
    /// A second Deployment behind the preview Service; the main Service switches when ready.
    BlueGreen,
    /// A canary Deployment beside the stable one; traffic share by replica ratio.
    Canary,
}

/// BlueGreen settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenSpec {
    /// Switch the main Service as soon as the preview is ready and its checks pass. Default:
    /// true. False waits for the `merchant.rezapp.com/promote` annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promotion: Option<bool>,
    /// Seconds the old revision keeps running after the switch, so a rollback is one selector
    /// change. Default: 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub scale_down_delay_seconds: Option<i32>,
}

/// Canary settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CanarySpec {
    /// The steps, in order. After the last one the canary is promoted: the stable Deployment
    /// takes the new revision and the canary Deployment goes.
    #[schemars(length(min = 1, max = 20))]
    pub steps: Vec<CanaryStep>,
}

/// One canary step: exactly one of setWeight, pause, analysis.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(
    validation = Rule::new("(has(self.setWeight) ? 1 : 0) + (has(self.pause) ? 1 : 0) + (has(self.analysis) ? 1 : 0) == 1")
        .message("a canary step sets exactly one of setWeight, pause, analysis"),
)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStep {
    /// Share of the pods (so of the traffic through the Service) running the new revision, in
    /// percent. Canary pods are added beside the stable ones: the stable count never drops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub set_weight: Option<i32>,
    /// Wait: `durationSeconds`, or until promoted (`{}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<PauseStep>,
    /// Run the analysis queries; a failure aborts the canary and rolls back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisStep>,
}

/// A pause: for a time, or until the `merchant.rezapp.com/promote` annotation.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PauseStep {
    /// Seconds to wait. Absent: wait until promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 86400))]
    pub duration_seconds: Option<i32>,
}

/// An analysis step.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisStep {
    /// Names of spec.rollout.analysis.queries to run. Default: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries: Option<Vec<String>>,
}

/// Where and what to measure.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisSpec {
    /// Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090.
    #[serde(
        default,
        rename = "prometheusURL",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(min = 1, max = 512))]
    pub prometheus_url: Option<String>,
    /// The queries. `{{revision}}` in a query is replaced by the new revision's id, the value
    /// of the pods' `merchant.rezapp.com/revision` label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10))]
    pub queries: Option<Vec<AnalysisQuery>>,
}

/// One Prometheus query and its pass mark.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisQuery {
    /// Name (in status and events), e.g. error-ratio.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// PromQL returning one value (aggregate with sum/max), e.g. the 5xx ratio of the canary.
    #[schemars(length(min = 1, max = 4096))]
    pub query: String,
    /// A measurement fails when the value is above this.
    pub threshold: f64,
    /// Seconds between measurements. Default: 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub interval_seconds: Option<i32>,
    /// Measurements to take. Default: 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub count: Option<i32>,
    /// Failed measurements tolerated; one more fails the analysis. Default: 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub failure_limit: Option<i32>,
}

/// The rollout in progress, or the last one.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// Healthy, Progressing, Paused, Promoting, Queued, RolledBack, Aborted or RollbackBlocked.
    pub phase: String,
    /// Index of the current canary step (Canary only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<i32>,
    /// The revision known good: the one serving when nothing is in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_revision: Option<String>,
    /// The revision being rolled out (every strategy), or the one that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_revision: Option<String>,
    /// What is happening, or why it stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the current step started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_started: Option<String>,
    /// When the pause annotation stopped the step's clock (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<String>,
    /// When the new revision was promoted (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_at: Option<String>,
    /// Progress of the analysis of the current step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analysis: Vec<crate::controller::analysis::Measurements>,
}

/// One revision that was rolled out.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RevisionRecord {
    /// Revision id (the pods' `merchant.rezapp.com/revision` label).
    pub revision: String,
    /// API image.
    pub image: String,
    /// Hash of the configuration (the ConfigMap `<name>-config-<hash>`).
    pub config_hash: String,
    /// Schema version the database had when the rollout finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<i64>,
    /// Strategy used.
    pub strategy: String,
    /// Start (RFC 3339).
    pub started: String,
    /// End (RFC 3339); absent while in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// InProgress, Succeeded, RolledBack, Aborted, Superseded or RollbackBlocked.
    pub outcome: String,
    /// Why it ended that way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
