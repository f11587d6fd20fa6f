//! `MerchantBackup` reconcile: resolve the backend and its spec.backup -> build the backup Job
//! (pure) -> create it once -> status from the Job, its pod and the tool's report.

use std::sync::Arc;

use k8s_openapi::{
    api::{batch::v1::Job, core::v1::EnvVar},
    jiff::Timestamp,
};
use kube::{Resource, ResourceExt, runtime::controller::Action};
use tracing::instrument;

use super::{
    Context, Error, drive, next,
    run::{self, Blocked, RunView},
};
use crate::{
    controller::{
        build::task::{REPORT_PATH, Task, job},
        validate::ValidatedBackend,
    },
    crd::{MerchantBackend, MerchantBackup, MerchantBackupStatus},
};

/// `app.kubernetes.io/component` of backup Jobs.
pub const COMPONENT: &str = "backup";

/// Reconcile one MerchantBackup.
///
/// # Errors
/// Creating the Job, reading it, or writing status failed (retried).
#[instrument(skip(mbk, ctx), fields(namespace = %mbk.namespace().unwrap_or_default(), name = %mbk.name_any()))]
pub async fn reconcile(mbk: Arc<MerchantBackup>, ctx: Arc<Context>) -> Result<Action, Error> {
    let before = mbk.status.as_ref().and_then(|s| s.phase);
    if before.is_some_and(crate::crd::Phase::is_terminal) {
        return Ok(Action::await_change()); // terminal: no reads, no writes
    }
    let namespace = mbk.namespace().unwrap_or_default();
    let job_name = run::job_name(&mbk.name_any(), &mbk.uid().unwrap_or_default());
    let recorded = mbk.status.as_ref().and_then(|s| s.job_name.as_deref());
    // Cache reads; one API write when the Job starts.
    let view = drive(&ctx, &namespace, &job_name, recorded, || {
        plan(&ctx, &mbk, &job_name)
    })
    .await?;
    let status = status(&mbk, &view, Timestamp::now());
    run::update_status(&ctx, mbk.as_ref(), mbk.status.as_ref(), status).await?; // API write only on change
    run::announce(&ctx, mbk.as_ref(), before, &view).await;
    Ok(next(&view))
}

/// The backup Job, or why none can run.
fn plan(ctx: &Context, mbk: &MerchantBackup, job_name: &str) -> Result<Job, Blocked> {
    let namespace = mbk.namespace().unwrap_or_default();
    let (mb, b) = super::backend(ctx, &namespace, &mbk.spec.backend_ref)?;
    backup_job(mbk, &mb, &b, job_name)
}

/// The Job taking the backup (pure). Refused when the backend has no spec.backup.
pub fn backup_job(
    mbk: &MerchantBackup,
    mb: &MerchantBackend,
    b: &ValidatedBackend,
    job_name: &str,
) -> Result<Job, Blocked> {
    let Some(backup) = &b.backup else {
        return Err(Blocked::Refuse(format!(
            "MerchantBackend {} has no spec.backup.destination: set spec.backup.destination on it to take backups",
            b.name
        )));
    };
    let spec = backend_spec(mb)
        .map_err(|e| Blocked::Refuse(format!("cannot describe MerchantBackend {}: {e}", b.name)))?;
    let task = Task {
        name: job_name.to_owned(),
        component: COMPONENT,
        image: b.image.clone(),
        args: ["backup", "--to", &backup.location, "--report", REPORT_PATH]
            .map(str::to_owned)
            .to_vec(),
        env: vec![EnvVar {
            name: "BACKUP_BACKEND_SPEC".to_owned(),
            value: Some(spec),
            ..Default::default()
        }],
        deadline_seconds: backup.deadline_seconds,
        retries: 0,
        ttl_seconds: None,
        backup: Some(backup.clone()),
        uploads: true,
    };
    Ok(owned_by(job(b, &task), mbk))
}

/// `{name, namespace, spec}` of the MerchantBackend for the backup manifest: references to
/// Secrets, never their values (the spec holds no values).
pub fn backend_spec(mb: &MerchantBackend) -> Result<String, serde_json::Error> {
    serde_json::to_string(&serde_json::json!({
        "name": mb.name_any(),
        "namespace": mb.namespace(),
        "spec": mb.spec,
    }))
}

/// The Job owned (and garbage-collected) by the run `owner` instead of the backend, labelled
/// with the run's name on the Job and its pod.
pub fn owned_by<K: Resource<DynamicType = ()>>(mut job: Job, owner: &K) -> Job {
    job.metadata.owner_references = owner.controller_owner_ref(&()).map(|o| vec![o]);
    let name = owner.meta().name.clone().unwrap_or_default();
    job.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(run::RUN_LABEL.to_owned(), name.clone());
    if let Some(template) = job.spec.as_mut().and_then(|s| s.template.metadata.as_mut()) {
        template
            .labels
            .get_or_insert_with(Default::default)
            .insert(run::RUN_LABEL.to_owned(), name);
    }
    job
}

/// The status the run shows (pure).
pub fn status(mbk: &MerchantBackup, view: &RunView, now: Timestamp) -> MerchantBackupStatus {
    let previous = mbk
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let generation = mbk.metadata.generation;
    let r = view.report.clone().unwrap_or_default();
    MerchantBackupStatus {
        observed_generation: generation,
        phase: Some(view.phase),
        conditions: view.conditions(previous, generation, now),
        job_name: view.job_name.clone(),
        location: r.location,
        size_bytes: r.size_bytes,
        documents: r.documents,
        collections: r.collections,
        duration_seconds: view.duration_seconds(),
        identity: r.identity,
        migration_version: r.migration_version,
        start_time: view.start_time.clone(),
        completion_time: view.completion_time.clone(),
        message: view.message.clone(),
        error: view.error.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        controller::validate::validate,
        crd::{MerchantBackupSpec, Phase},
        fixtures::backend,
    };

    fn backup() -> MerchantBackup {
        let mut mbk = MerchantBackup::new(
            "nightly",
            MerchantBackupSpec {
                backend_ref: "shop".into(),
            },
        );
        mbk.metadata.namespace = Some("prod".into());
        mbk.metadata.uid = Some("uid-b".into());
        mbk
    }

    #[test]
    fn the_backup_job_writes_to_the_destination_and_belongs_to_the_backup() {
        let mb = backend(
            "image: a:1\nbackup: {destination: {bucket: backups, credentialsSecret: s3}, deadlineSeconds: 600}",
        );
        let b = validate(&mb).expect("valid");
        let job = backup_job(&backup(), &mb, &b, "nightly-1").expect("job");
        let owner = &job.metadata.owner_references.clone().expect("owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("MerchantBackup", "nightly")
        );
        assert_eq!(
            job.metadata.labels.clone().expect("labels")[run::RUN_LABEL],
            "nightly"
        );
        let spec = job.spec.expect("spec");
        assert_eq!(spec.backoff_limit, Some(0));
        assert_eq!(spec.active_deadline_seconds, Some(600));
        let c = &spec.template.spec.expect("pod").containers[0];
        assert_eq!(
            c.args.clone().expect("args"),
            [
                "backup",
                "--to",
                "s3://backups/prod/shop",
                "--report",
                REPORT_PATH
            ]
        );
        let env = c.env.clone().expect("env");
        let described = env
            .iter()
            .find(|e| e.name == "BACKUP_BACKEND_SPEC")
            .and_then(|e| e.value.clone())
            .expect("backend spec");
        let parsed: serde_json::Value = serde_json::from_str(&described).expect("json");
        assert_eq!(parsed["name"], "shop");
        assert_eq!(
            parsed["spec"]["backup"]["destination"]["credentialsSecret"],
            "s3"
        );
    }

    #[test]
    fn a_backend_without_spec_backup_fails_naming_the_field() {
        let mb = backend("image: a:1");
        let b = validate(&mb).expect("valid");
        let Err(run::Blocked::Refuse(why)) = backup_job(&backup(), &mb, &b, "x") else {
            panic!("refused")
        };
        assert!(why.contains("spec.backup.destination"), "{why}");
    }

    #[test]
    fn status_carries_the_report_and_is_stable() {
        let report: crate::controller::report::ToolReport = serde_json::from_str(
            r#"{"command":"backup","result":"Succeeded","location":"s3://b/p/1","sizeBytes":9,"documents":4,"collections":2,"durationSeconds":1.5,"identity":"id","migrationVersion":3}"#,
        )
        .expect("report");
        let view = RunView {
            phase: Phase::Succeeded,
            job_name: Some("nightly-1".into()),
            report: Some(report),
            ..RunView::default()
        };
        let mut mbk = backup();
        let now = Timestamp::now();
        let first = status(&mbk, &view, now);
        assert_eq!(first.location.as_deref(), Some("s3://b/p/1"));
        assert_eq!(
            (first.documents, first.size_bytes, first.collections),
            (Some(4), Some(9), Some(2))
        );
        assert_eq!(first.duration_seconds, Some(1.5));
        mbk.status = Some(first.clone());
        let later = now + std::time::Duration::from_secs(60);
        assert_eq!(
            status(&mbk, &view, later),
            first,
            "a settled run writes nothing"
        );
    }
}
