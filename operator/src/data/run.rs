//! What the backup and restore controllers share: the Job's name, what a Job and its pod say
//! about the run (pure), the conditions of a run, the status write and the Events. Does not
//! decide what a Job runs (`backup`, `restore`).

use k8s_openapi::{
    api::batch::v1::{Job, JobCondition},
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::events::{Event, EventType},
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::warn;

use super::{Context, Error};
use crate::{
    controller::{
        report::{self, Outcome, ToolReport},
        status::{Draft, conditions},
    },
    crd::{
        FIELD_MANAGER, Phase,
        status::{READY, RECONCILING, STALLED},
    },
};

/// Condition type of a run: the Job is starting or running.
pub const RUNNING: &str = "Running";
/// Label on a run's Job and pod naming the MerchantBackup or MerchantRestore it belongs to.
pub const RUN_LABEL: &str = "merchant.rezapp.com/run";

/// Reasons of run conditions and Events (PascalCase).
pub mod reason {
    /// Waiting before the Job can start.
    pub const WAITING: &str = "Waiting";
    /// The Job was created.
    pub const STARTED: &str = "Started";
    /// The Job runs.
    pub const RUNNING: &str = "Running";
    /// The tool reported success.
    pub const SUCCEEDED: &str = "Succeeded";
    /// The run failed.
    pub const FAILED: &str = "Failed";
}

/// Name of the one Job of a run: the resource name (cut to fit) and a hash of its uid, so a
/// resource recreated under the same name never finds its predecessor's Job. At most 63
/// characters (the pod's `job-name` label).
pub fn job_name(name: &str, uid: &str) -> String {
    let base: String = name.chars().take(54).collect();
    format!("{}-{}", base.trim_end_matches('-'), short_id(uid))
}

/// Eight hex digits of the SHA-256 of `uid`: a short id of one resource.
pub fn short_id(uid: &str) -> String {
    hex::encode(&Sha256::digest(uid.as_bytes())[..4])
}

/// Why a run's Job cannot be created now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// Not yet: stays Pending with this message.
    Wait(String),
    /// Never: Failed with this error (terminal).
    Refuse(String),
}

impl From<Blocked> for RunView {
    fn from(blocked: Blocked) -> Self {
        match blocked {
            Blocked::Wait(message) => Self::waiting(message),
            Blocked::Refuse(error) => Self::refused(error),
        }
    }
}

/// Where a run stands, as observed on its Job and pod.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunView {
    /// Phase.
    pub phase: Phase,
    /// The run's Job, once created.
    pub job_name: Option<String>,
    /// The Job's start time.
    pub start_time: Option<Time>,
    /// When the Job finished.
    pub completion_time: Option<Time>,
    /// The tool's report, when it wrote one.
    pub report: Option<ToolReport>,
    /// What is happening (Pending, Running).
    pub message: Option<String>,
    /// Why it failed (Failed).
    pub error: Option<String>,
}

impl RunView {
    /// A run that has not started: why it waits.
    pub fn waiting(message: impl Into<String>) -> Self {
        Self {
            message: Some(message.into()),
            ..Self::default()
        }
    }

    /// A run that cannot start, terminally.
    pub fn refused(error: impl Into<String>) -> Self {
        Self {
            phase: Phase::Failed,
            error: Some(error.into()),
            ..Self::default()
        }
    }

    /// Duration from the report, else from the Job's times.
    pub fn duration_seconds(&self) -> Option<f64> {
        self.report
            .as_ref()
            .and_then(|r| r.duration_seconds)
            .or_else(|| {
                let (start, end) = (self.start_time.as_ref()?, self.completion_time.as_ref()?);
                let ms = end.0.as_millisecond() - start.0.as_millisecond();
                #[allow(clippy::cast_precision_loss)]
                Some(ms as f64 / 1000.0)
            })
    }

    /// Conditions of the run (Ready: the result exists; Running: the Job runs or will).
    pub fn conditions(
        &self,
        previous: &[Condition],
        generation: Option<i64>,
        now: Timestamp,
    ) -> Vec<Condition> {
        let text = |o: &Option<String>| o.clone().unwrap_or_default();
        // Reconciling and Stalled are kstatus's names, so generic readers (Flux without health
        // expressions, cli-utils) see a running run as in progress and a failed one as failed.
        let (ready, running, stalled, why, message) = match self.phase {
            Phase::Pending => (false, true, false, reason::WAITING, text(&self.message)),
            Phase::Running => (false, true, false, reason::RUNNING, text(&self.message)),
            Phase::Succeeded => (true, false, false, reason::SUCCEEDED, String::new()),
            Phase::Failed => (false, false, true, reason::FAILED, text(&self.error)),
        };
        let drafts: Vec<Draft> = vec![
            (READY, ready, why, message.clone()),
            (RUNNING, running, why, message.clone()),
            (RECONCILING, running, why, message.clone()),
            (STALLED, stalled, why, message),
        ];
        conditions(drafts, previous, generation, now)
    }
}

/// The Job's Complete or Failed condition, once it has one.
fn finished(job: &Job) -> Option<JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .cloned()
}

/// The run as its Job shows it, with the tool's report read (once) when the Job has finished.
pub async fn observe_job(ctx: &Context, namespace: &str, job: &Job) -> RunView {
    let outcome = match finished(job) {
        Some(_) => report::read_outcome(&ctx.client, namespace, &job.name_any()).await,
        None => None,
    };
    observe(job, outcome)
}

/// The run as its Job and the tool's outcome (from the Job's pod) show it.
pub fn observe(job: &Job, outcome: Option<Outcome>) -> RunView {
    let status = job.status.clone().unwrap_or_default();
    let Some(finished) = finished(job) else {
        return RunView {
            phase: Phase::Running,
            job_name: Some(job.name_any()),
            start_time: status.start_time,
            message: Some(format!("Job {} runs", job.name_any())),
            ..RunView::default()
        };
    };
    let completion_time = status.completion_time.or(finished.last_transition_time);
    let (report, pod_error) = match outcome {
        Some(Outcome::Report(r)) => (Some(*r), None),
        Some(Outcome::NoReport(text)) => (None, Some(text)),
        None => (None, None),
    };
    // Success is what the tool reports: a pod that exited 0 without a report proves nothing.
    let succeeded =
        finished.type_ == "Complete" && report.as_ref().is_some_and(ToolReport::succeeded);
    // The Job's own message explains a failure (deadline, pod deleted); a completion message
    // ("Reached expected number of succeeded pods") explains nothing.
    let job_error = (finished.type_ == "Failed")
        .then(|| finished.message.clone())
        .flatten();
    let error = (!succeeded).then(|| {
        report
            .as_ref()
            .and_then(|r| r.error.clone())
            .or(pod_error)
            .or(job_error)
            .unwrap_or_else(|| {
                format!(
                    "Job {} ended ({}) and left no report",
                    job.name_any(),
                    finished
                        .reason
                        .clone()
                        .unwrap_or_else(|| finished.type_.clone())
                )
            })
    });
    RunView {
        phase: if succeeded {
            Phase::Succeeded
        } else {
            Phase::Failed
        },
        job_name: Some(job.name_any()),
        start_time: status.start_time,
        completion_time,
        report,
        message: None,
        error,
    }
}

/// Server-side apply `job` unless it exists (a Job's template is immutable and runs once).
pub async fn create_job(ctx: &Context, job: &Job) -> Result<(), Error> {
    let namespace = job.namespace().unwrap_or_default();
    let name = job.name_any();
    Api::<Job>::namespaced(ctx.client.clone(), &namespace)
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(job),
        )
        .await
        .map(drop)
        .map_err(|source| Error::CreateJob { name, source })
}

/// Whether the Job exists on the API server (for a Job the cache does not show yet).
pub async fn job_exists(ctx: &Context, namespace: &str, name: &str) -> Result<Option<Job>, Error> {
    Api::<Job>::namespaced(ctx.client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|source| Error::GetJob {
            name: name.to_owned(),
            source,
        })
}

/// Write `status` with SSA on /status unless the object already shows it. Returns whether a
/// write was issued.
pub async fn update_status<K, S>(
    ctx: &Context,
    obj: &K,
    current: Option<&S>,
    status: S,
) -> Result<bool, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    if current == Some(&status) {
        return Ok(false);
    }
    let namespace = obj.namespace().unwrap_or_default();
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    Api::<K>::namespaced(ctx.client.clone(), &namespace)
        .patch_status(
            &obj.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|source| Error::PatchStatus {
            kind: K::kind(&()).into_owned(),
            source,
        })?;
    Ok(true)
}

/// Events for a phase change: start, success, failure (nothing when the phase is unchanged).
pub async fn announce<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    before: Option<Phase>,
    view: &RunView,
) {
    if before == Some(view.phase) {
        return;
    }
    let kind = K::kind(&());
    let (type_, why, note) = match view.phase {
        Phase::Pending => return,
        Phase::Running => (
            EventType::Normal,
            reason::STARTED,
            format!(
                "{kind} started: {}",
                view.message.clone().unwrap_or_default()
            ),
        ),
        Phase::Succeeded => (
            EventType::Normal,
            reason::SUCCEEDED,
            format!("{kind} succeeded"),
        ),
        Phase::Failed => (
            EventType::Warning,
            reason::FAILED,
            view.error.clone().unwrap_or_default(),
        ),
    };
    let event = Event {
        type_,
        reason: why.to_owned(),
        note: Some(report::tail(&note, 1024)),
        action: "Run".to_owned(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        warn!(error = %error, reason = why, "failed to publish event");
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};

    use super::*;

    fn job(condition: Option<(&str, &str)>) -> Job {
        Job {
            metadata: kube::api::ObjectMeta {
                name: Some("b-1".into()),
                ..Default::default()
            },
            status: Some(JobStatus {
                conditions: condition.map(|(t, m)| {
                    vec![JobCondition {
                        type_: t.into(),
                        status: "True".into(),
                        message: Some(m.into()),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn job_names_fit_a_label_and_differ_per_uid() {
        let long = "a".repeat(80);
        let name = job_name(&long, "uid-1");
        assert!(name.len() <= 63, "{name}");
        assert_ne!(job_name("x", "uid-1"), job_name("x", "uid-2"));
        assert_eq!(job_name("x", "uid-1"), job_name("x", "uid-1"));
    }

    #[test]
    fn a_complete_job_without_a_report_is_no_success() {
        let view = observe(&job(Some(("Complete", "done"))), None);
        assert_eq!(view.phase, Phase::Failed);
        assert!(view.error.is_some_and(|e| e.contains("report")));
    }

    #[test]
    fn an_unfinished_job_is_running() {
        assert_eq!(observe(&job(None), None).phase, Phase::Running);
    }

    #[test]
    fn a_deadline_without_a_pod_report_fails_with_the_job_message() {
        let view = observe(
            &job(Some((
                "Failed",
                "Job was active longer than specified deadline",
            ))),
            None,
        );
        assert_eq!(view.phase, Phase::Failed);
        assert_eq!(
            view.error.as_deref(),
            Some("Job was active longer than specified deadline")
        );
    }

    #[test]
    fn conditions_follow_the_phase() {
        let now = Timestamp::now();
        let c = RunView::refused("spec.backendRef: no").conditions(&[], Some(1), now);
        assert_eq!(c[0].type_, READY);
        assert_eq!(c[0].status, "False");
        assert_eq!(c[1].status, "False");
        assert_eq!(c[0].message, "spec.backendRef: no");
        let kstatus: Vec<_> = c[2..]
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect();
        assert_eq!(kstatus, [(RECONCILING, "False"), (STALLED, "True")]);
        let c = RunView::waiting("waiting for the database").conditions(&[], Some(1), now);
        let kstatus: Vec<_> = c[2..]
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect();
        assert_eq!(kstatus, [(RECONCILING, "True"), (STALLED, "False")]);
    }
}
