//! Jobs that run the API image's data tools (`merchant-api backup | verify | restore | migrate`,
//! contract: docs/backups.md): the API pod's hardening, environment and volumes, one container,
//! no restarts in place, a deadline, and the tool's JSON report as the termination message, which
//! the operator reads from the pod status (no log access needed).

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        batch::v1::{Job, JobSpec, JobTemplateSpec},
        core::v1::{Container, EnvVar, PodTemplateSpec, SecretVolumeSource, Volume, VolumeMount},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};

use super::{
    deployment::{
        container_security_context, env, env_from, hardened_pod_spec, resources, volume_mounts,
    },
    labels, object_meta,
};
use crate::controller::validate::{Backup, ValidatedBackend};

/// Where the tools write their report (`--report`): the container's termination message.
pub const REPORT_PATH: &str = "/dev/termination-log";
/// `app.kubernetes.io/name` of data-tool pods. Not the API's name, so no Service, PDB or
/// NetworkPolicy selecting API pods ever selects them.
pub const TASK_APP_NAME: &str = "merchant-api-task";
/// Where spec.backup's credentials Secret is mounted (BACKUP_S3_CREDENTIALS_DIR).
pub const BACKUP_CREDENTIALS_DIR: &str = "/var/run/secrets/merchant-backup";

/// One run of a data tool.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Name of the Job (CronJobs ignore it).
    pub name: String,
    /// `app.kubernetes.io/component` of the Job and its pod: backup, verify, restore, migrate.
    pub component: &'static str,
    /// Image to run: the backend's, or a release's new image for its migrations.
    pub image: String,
    /// Arguments of `merchant-api`.
    pub args: Vec<String>,
    /// Variables added after the API's environment.
    pub env: Vec<EnvVar>,
    /// activeDeadlineSeconds of the Job.
    pub deadline_seconds: i64,
    /// Pods retried by the Job controller after a failure (0: the operator decides).
    pub retries: i32,
    /// Seconds a finished Job is kept (None: until its owner goes).
    pub ttl_seconds: Option<i32>,
    /// Mount the uploads claim (a backup reads it, an in-place restore writes it). Otherwise an
    /// empty directory stands in, so the Job never competes with the API pods for a
    /// ReadWriteOnce claim (a pod on another node would wait for the volume until its deadline).
    pub uploads: bool,
    /// Mount the backup destination's credentials and set `BACKUP_S3_*`.
    pub backup: Option<Backup>,
}

/// Labels of a data-tool Job and its pod: the stack's labels under the task app name, so pods
/// still map to their MerchantBackend by the instance label.
pub fn task_labels(b: &ValidatedBackend, component: &str) -> BTreeMap<String, String> {
    let mut l = labels(b);
    l.insert(
        "app.kubernetes.io/name".to_owned(),
        TASK_APP_NAME.to_owned(),
    );
    l.insert(
        "app.kubernetes.io/component".to_owned(),
        component.to_owned(),
    );
    l
}

/// A Job owned by the MerchantBackend.
pub fn job(b: &ValidatedBackend, task: &Task) -> Job {
    let mut metadata = object_meta(b, task.name.clone());
    metadata.labels = Some(task_labels(b, task.component));
    Job {
        metadata,
        spec: Some(job_spec(b, task)),
        ..Default::default()
    }
}

/// The Job template of a CronJob.
pub fn job_template(b: &ValidatedBackend, task: &Task) -> JobTemplateSpec {
    JobTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(task_labels(b, task.component)),
            ..Default::default()
        }),
        spec: Some(job_spec(b, task)),
    }
}

fn job_spec(b: &ValidatedBackend, task: &Task) -> JobSpec {
    JobSpec {
        backoff_limit: Some(task.retries),
        active_deadline_seconds: Some(task.deadline_seconds),
        ttl_seconds_after_finished: task.ttl_seconds,
        template: pod_template(b, task),
        ..Default::default()
    }
}

pub(super) fn pod_template(b: &ValidatedBackend, task: &Task) -> PodTemplateSpec {
    let mut spec = hardened_pod_spec(b);
    spec.restart_policy = Some("Never".to_owned());
    if !task.uploads {
        for volume in spec.volumes.iter_mut().flatten() {
            if volume.name == "uploads" {
                *volume = Volume {
                    name: volume.name.clone(),
                    empty_dir: Some(Default::default()),
                    ..Default::default()
                };
            }
        }
    }
    let mut mounts = volume_mounts();
    let mut environment = env(b);
    if let Some(backup) = &task.backup {
        environment.extend(backup_env(backup));
        if let Some(secret) = &backup.credentials_secret {
            spec.volumes
                .get_or_insert_with(Vec::new)
                .push(credentials_volume(secret));
            mounts.push(VolumeMount {
                name: "backup-credentials".to_owned(),
                mount_path: BACKUP_CREDENTIALS_DIR.to_owned(),
                read_only: Some(true),
                ..Default::default()
            });
        }
    }
    environment.extend(task.env.iter().cloned());
    spec.containers = vec![Container {
        name: task.component.to_owned(),
        image: Some(task.image.clone()),
        image_pull_policy: Some(b.image_pull_policy.to_owned()),
        args: Some(task.args.clone()),
        env_from: Some(env_from(b)),
        env: Some(environment),
        resources: Some(resources(b)),
        security_context: Some(container_security_context()),
        volume_mounts: Some(mounts),
        termination_message_path: Some(REPORT_PATH.to_owned()),
        // The report when there is one; the log tail when the tool died before writing it.
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        ..Default::default()
    }];
    let mut pod_labels = b.pod_template.labels.clone().unwrap_or_default();
    pod_labels.extend(task_labels(b, task.component));
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: b.pod_template.annotations.clone(),
            ..Default::default()
        }),
        spec: Some(spec),
    }
}

fn backup_env(backup: &Backup) -> Vec<EnvVar> {
    let var = |name: &str, value: &str| EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        ..Default::default()
    };
    let mut vars = vec![var("BACKUP_S3_REGION", &backup.region)];
    if let Some(endpoint) = &backup.endpoint {
        vars.push(var("BACKUP_S3_ENDPOINT", endpoint));
    }
    if backup.credentials_secret.is_some() {
        vars.push(var("BACKUP_S3_CREDENTIALS_DIR", BACKUP_CREDENTIALS_DIR));
    }
    vars
}

fn credentials_volume(secret: &str) -> Volume {
    Volume {
        name: "backup-credentials".to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_owned()),
            // Group-readable: the pod's fsGroup owns the files, the user is non-root.
            default_mode: Some(0o440),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{controller::validate::validate, fixtures::backend};

    fn backed_up() -> ValidatedBackend {
        validate(&backend(
            "image: a:1\nbackup: {destination: {bucket: backups, endpoint: 'http://s3:8333', credentialsSecret: s3}}",
        ))
        .expect("valid")
    }

    fn task(b: &ValidatedBackend) -> Task {
        Task {
            name: "shop-backup-x".into(),
            component: "backup",
            image: b.image.clone(),
            args: vec!["backup".into(), "--to".into(), "s3://backups/p".into()],
            env: vec![],
            deadline_seconds: 60,
            retries: 0,
            ttl_seconds: None,
            backup: b.backup.clone(),
            uploads: true,
        }
    }

    #[test]
    fn task_pods_are_never_selected_as_api_pods() {
        let b = backed_up();
        let job = job(&b, &task(&b));
        let pod_labels = job
            .spec
            .expect("set by the builder")
            .template
            .metadata
            .expect("set by the builder")
            .labels
            .expect("set by the builder");
        let api = super::super::selector_labels(&b);
        assert!(
            api.iter().any(|(k, v)| pod_labels.get(k) != Some(v)),
            "a Service selecting API pods would send traffic to {pod_labels:?}"
        );
        assert_eq!(pod_labels[crate::crd::INSTANCE_LABEL], b.name);
    }

    #[test]
    fn the_pod_is_hardened_and_reports_through_its_termination_message() {
        let b = backed_up();
        let spec = job(&b, &task(&b)).spec.expect("set by the builder");
        assert_eq!(spec.active_deadline_seconds, Some(60));
        let pod = spec.template.spec.expect("set by the builder");
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.automount_service_account_token, Some(false));
        let c = &pod.containers[0];
        let sc = c.security_context.clone().expect("set by the builder");
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(c.termination_message_path.as_deref(), Some(REPORT_PATH));
    }

    #[test]
    fn only_jobs_that_need_the_uploads_mount_the_claim() {
        let b = validate(&backend("image: a:1\nuploads: {}")).expect("valid");
        let volume = |task: &Task| {
            let pod = job(&b, task)
                .spec
                .and_then(|s| s.template.spec)
                .expect("pod");
            pod.volumes
                .unwrap_or_default()
                .into_iter()
                .find(|v| v.name == "uploads")
                .expect("uploads volume")
        };
        assert!(volume(&task(&b)).persistent_volume_claim.is_some());
        let migration = Task {
            uploads: false,
            ..task(&b)
        };
        let stand_in = volume(&migration);
        assert!(stand_in.persistent_volume_claim.is_none() && stand_in.empty_dir.is_some());
    }

    #[test]
    fn backup_credentials_are_mounted_never_inlined() {
        let b = backed_up();
        let pod = job(&b, &task(&b))
            .spec
            .expect("set by the builder")
            .template
            .spec
            .expect("set by the builder");
        let c = &pod.containers[0];
        let env: BTreeMap<_, _> = c
            .env
            .clone()
            .expect("set by the builder")
            .into_iter()
            .map(|e| (e.name, e.value))
            .collect();
        assert_eq!(
            env["BACKUP_S3_CREDENTIALS_DIR"].as_deref(),
            Some(BACKUP_CREDENTIALS_DIR)
        );
        assert_eq!(env["BACKUP_S3_ENDPOINT"].as_deref(), Some("http://s3:8333"));
        assert!(!env.contains_key("BACKUP_S3_SECRET_ACCESS_KEY"));
        let volume = pod
            .volumes
            .expect("set by the builder")
            .into_iter()
            .find(|v| v.name == "backup-credentials")
            .expect("credentials volume");
        assert_eq!(
            volume
                .secret
                .expect("set by the builder")
                .secret_name
                .as_deref(),
            Some("s3")
        );
    }
}
