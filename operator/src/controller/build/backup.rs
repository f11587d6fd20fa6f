//! The backup CronJobs: `<name>-backup` (`merchant-api backup`, then retention) and
//! `<name>-verify` (`merchant-api verify --latest`: the restore drill). Both run the API image in
//! the hardened task pod (see `task`), one run at a time, in UTC. With spec.backup.pointInTime,
//! the Deployment `<name>-capture` runs `merchant-api capture` in the same pod, continuously.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy},
        batch::v1::{CronJob, CronJobSpec},
        core::v1::EnvVar,
    },
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};

use super::{
    object_meta,
    task::{REPORT_PATH, Task, job_template, pod_template, task_labels},
};
use crate::controller::validate::{Backup, ValidatedBackend};

/// `app.kubernetes.io/component` of backup runs.
pub const BACKUP_COMPONENT: &str = "backup";
/// `app.kubernetes.io/component` of restore drills.
pub const VERIFY_COMPONENT: &str = "verify";
/// `app.kubernetes.io/component` of the change capture.
pub const CAPTURE_COMPONENT: &str = "capture";
/// A run that could not start within this long after its time is skipped (and counted missed).
const STARTING_DEADLINE_SECONDS: i64 = 3600;
/// Finished runs kept per CronJob (their pods hold the reports until status has them).
const HISTORY: i32 = 3;

/// CronJob names.
pub mod names {
    /// The backup CronJob.
    pub fn backup(name: &str) -> String {
        format!("{name}-backup")
    }
    /// The restore-drill CronJob.
    pub fn verify(name: &str) -> String {
        format!("{name}-verify")
    }
    /// The change-capture Deployment.
    pub fn capture(name: &str) -> String {
        format!("{name}-capture")
    }
}

/// Where the change capture writes its segments, under the backups' location.
pub fn capture_location(backup: &Backup) -> String {
    format!("{}/changes", backup.location)
}

/// `<name>-capture`, when spec.backup.pointInTime is on: one capture process at a time
/// (Recreate: two writers would split the stream), resuming from its newest segment's token.
pub fn capture_deployment(b: &ValidatedBackend) -> Option<Deployment> {
    let backup = b.backup.as_ref()?;
    let segment_seconds = backup.capture_segment_seconds?;
    let args = vec![
        "capture".to_owned(),
        "--to".to_owned(),
        backup.location.clone(),
        "--segment-seconds".to_owned(),
        segment_seconds.to_string(),
    ];
    let task = task(b, backup, CAPTURE_COMPONENT, args, Vec::new());
    let mut template = pod_template(b, &task);
    if let Some(spec) = template.spec.as_mut() {
        spec.restart_policy = Some("Always".to_owned());
    }
    let selector: BTreeMap<String, String> = task_labels(b, CAPTURE_COMPONENT)
        .into_iter()
        .filter(|(k, _)| k != "app.kubernetes.io/part-of" && k != "app.kubernetes.io/managed-by")
        .collect();
    let mut metadata = object_meta(b, names::capture(&b.name));
    metadata.labels = Some(task_labels(b, CAPTURE_COMPONENT));
    Some(Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".to_owned()),
                ..Default::default()
            }),
            revision_history_limit: Some(3),
            template,
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// `<name>-backup`, when spec.backup is set.
pub fn backup_cron_job(b: &ValidatedBackend) -> Option<CronJob> {
    let backup = b.backup.as_ref()?;
    let args = vec![
        "backup".to_owned(),
        "--to".to_owned(),
        backup.location.clone(),
        "--retention-days".to_owned(),
        backup.retention_days.to_string(),
        "--min-backups".to_owned(),
        backup.min_backups.to_string(),
        "--report".to_owned(),
        REPORT_PATH.to_owned(),
    ];
    let env = vec![EnvVar {
        name: "BACKUP_BACKEND_SPEC".to_owned(),
        value: Some(b.backend_json.clone()),
        ..Default::default()
    }];
    Some(cron_job(
        b,
        names::backup(&b.name),
        &backup.schedule,
        task(b, backup, BACKUP_COMPONENT, args, env),
    ))
}

/// `<name>-verify`, when spec.backup is set.
pub fn verify_cron_job(b: &ValidatedBackend) -> Option<CronJob> {
    let backup = b.backup.as_ref()?;
    let args = vec![
        "verify".to_owned(),
        "--from".to_owned(),
        backup.location.clone(),
        "--latest".to_owned(),
        "--report".to_owned(),
        REPORT_PATH.to_owned(),
    ];
    Some(cron_job(
        b,
        names::verify(&b.name),
        &backup.verify_schedule,
        task(b, backup, VERIFY_COMPONENT, args, Vec::new()),
    ))
}

fn task(
    b: &ValidatedBackend,
    backup: &Backup,
    component: &'static str,
    args: Vec<String>,
    env: Vec<EnvVar>,
) -> Task {
    Task {
        name: String::new(),
        component,
        image: b.image.clone(),
        args,
        env,
        deadline_seconds: backup.deadline_seconds,
        retries: 0,
        ttl_seconds: None,
        backup: Some(backup.clone()),
        // The backup reads the uploads; the drill and the capture touch the database only.
        uploads: component == BACKUP_COMPONENT,
    }
}

fn cron_job(b: &ValidatedBackend, name: String, schedule: &str, task: Task) -> CronJob {
    let mut metadata = object_meta(b, name);
    metadata.labels = Some(task_labels(b, task.component));
    CronJob {
        metadata,
        spec: CronJobSpec {
            schedule: schedule.to_owned(),
            time_zone: Some("Etc/UTC".to_owned()),
            // Never two dumps of one database at once; a run still going skips the next.
            concurrency_policy: Some("Forbid".to_owned()),
            starting_deadline_seconds: Some(STARTING_DEADLINE_SECONDS),
            successful_jobs_history_limit: Some(HISTORY),
            failed_jobs_history_limit: Some(HISTORY),
            job_template: job_template(b, &task),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{controller::validate::validate, fixtures::backend};

    fn backed_up(extra: &str) -> ValidatedBackend {
        validate(&backend(&format!(
            "image: a:1\nbackup: {{destination: {{bucket: backups}}{extra}}}"
        )))
        .expect("valid")
    }

    fn args(c: &CronJob) -> Vec<String> {
        c.spec
            .clone()
            .job_template
            .spec
            .expect("present")
            .template
            .spec
            .expect("present")
            .containers[0]
            .args
            .clone()
            .expect("present")
    }

    #[test]
    fn defaults_are_daily_at_two_with_thirty_days_and_weekly_drills() {
        let b = backed_up("");
        let backup = backup_cron_job(&b).expect("backup");
        let spec = backup.spec.clone();
        assert_eq!(spec.schedule, "0 2 * * *");
        assert_eq!(spec.time_zone.as_deref(), Some("Etc/UTC"));
        assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
        assert!(spec.starting_deadline_seconds.is_some());
        let location = format!("s3://backups/{}/{}", b.namespace, b.name);
        assert_eq!(
            args(&backup),
            [
                "backup",
                "--to",
                &location,
                "--retention-days",
                "30",
                "--min-backups",
                "7",
                "--report",
                REPORT_PATH
            ]
        );
        let verify = verify_cron_job(&b).expect("verify");
        assert_eq!(verify.spec.clone().schedule, "0 4 * * 0");
        assert_eq!(
            args(&verify),
            [
                "verify",
                "--from",
                &location,
                "--latest",
                "--report",
                REPORT_PATH
            ]
        );
    }

    #[test]
    fn the_backup_records_the_backend_spec_without_secret_values() {
        let b = backed_up(", schedule: '30 1 * * *'");
        let c = backup_cron_job(&b).expect("backup");
        let env = c
            .spec
            .job_template
            .spec
            .expect("present")
            .template
            .spec
            .expect("present")
            .containers[0]
            .env
            .clone()
            .expect("present");
        let spec = env
            .iter()
            .find(|e| e.name == "BACKUP_BACKEND_SPEC")
            .and_then(|e| e.value.clone())
            .expect("spec");
        let value: serde_json::Value = serde_json::from_str(&spec).expect("json");
        assert_eq!(value["spec"]["backup"]["schedule"], "30 1 * * *");
        assert_eq!(value["name"], b.name);
    }

    #[test]
    fn no_backup_block_no_cron_jobs() {
        let b = validate(&backend("image: a:1")).expect("valid");
        assert!(backup_cron_job(&b).is_none());
        assert!(verify_cron_job(&b).is_none());
    }

    #[test]
    fn point_in_time_runs_one_capture_beside_the_api_never_as_one_of_its_pods() {
        assert!(
            capture_deployment(&backed_up("")).is_none(),
            "off by default"
        );
        let mut mb = backend(
            "image: a:1\nuploads: {}\nbackup: {destination: {bucket: backups, credentialsSecret: s3}, pointInTime: {segmentSeconds: 15}}",
        );
        mb.metadata.name = Some("shop".into());
        let b = validate(&mb).expect("valid");
        let d = capture_deployment(&b).expect("capture Deployment");
        assert_eq!(d.metadata.name.as_deref(), Some("shop-capture"));
        let spec = d.spec.expect("spec");
        assert_eq!(spec.replicas, Some(1));
        assert_eq!(
            spec.strategy.and_then(|s| s.type_).as_deref(),
            Some("Recreate"),
            "two captures would split the stream"
        );
        let selector = spec.selector.match_labels.expect("selector");
        assert_eq!(selector["app.kubernetes.io/name"], "merchant-api-task");
        assert_eq!(selector["app.kubernetes.io/component"], "capture");
        let pod = spec.template.spec.expect("pod");
        assert_eq!(pod.restart_policy.as_deref(), Some("Always"));
        let container = &pod.containers[0];
        assert_eq!(
            container.args.clone().expect("args"),
            [
                "capture",
                "--to",
                "s3://backups/prod/shop",
                "--segment-seconds",
                "15"
            ]
        );
        let volumes = pod.volumes.expect("volumes");
        assert!(volumes.iter().any(|v| v.name == "backup-credentials"));
        let uploads = volumes
            .iter()
            .find(|v| v.name == "uploads")
            .expect("uploads");
        assert!(
            uploads.persistent_volume_claim.is_none(),
            "the capture never holds the claim"
        );
        let disabled = validate(&backend(
            "image: a:1\nbackup: {destination: {bucket: b}, pointInTime: {enabled: false}}",
        ))
        .expect("valid");
        assert!(capture_deployment(&disabled).is_none());
    }
}
