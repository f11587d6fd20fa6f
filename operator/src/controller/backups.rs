//! Scheduled backups observed: every finished run of the `<name>-backup` and `<name>-verify`
//! CronJobs is read once (its pod's report) into `status.backup`, announced by an Event, and
//! `BackupHealthy` says whether the newest good backup is as recent as the schedule promises.
//! Runs already recorded (finished no later than the recorded one) cost nothing. The change
//! capture (`<name>-capture`) is reported from its Deployment in the cache.

use chrono::{DateTime, Utc};
use k8s_openapi::{
    api::{apps::v1::Deployment, batch::v1::Job},
    jiff::Timestamp,
};
use kube::runtime::events::{Event, EventType};
use tracing::warn;

use super::{
    Context,
    build::backup::{capture_location, names},
    report::{self, Outcome, ToolReport},
    validate::{Backup, ValidatedBackend},
};
use crate::crd::{
    MerchantBackend,
    status::{BACKUP_HEALTHY, BackupRun, BackupStatus, CaptureStatus, reason},
};

/// Which CronJob a run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `<name>-backup`.
    Backup,
    /// `<name>-verify`.
    Verify,
}

/// A finished Job of one of the backup CronJobs.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// Backup or drill.
    pub kind: Kind,
    /// Job name.
    pub job: String,
    /// When it finished.
    pub time: Timestamp,
    /// Whether the Job succeeded.
    pub succeeded: bool,
    /// The Job's own failure reason (deadline exceeded, backoff limit).
    pub job_message: Option<String>,
}

/// `status.backup` after recording every run not yet recorded; None when spec.backup is unset.
pub async fn observe(
    ctx: &Context,
    mb: &MerchantBackend,
    b: &ValidatedBackend,
    now: Timestamp,
) -> Option<BackupStatus> {
    b.backup.as_ref()?;
    let mut status = mb
        .status
        .as_ref()
        .and_then(|s| s.backup.clone())
        .unwrap_or_default();
    status.since.get_or_insert_with(|| now.to_string());
    let jobs = ctx.caches.jobs.with_instance(&b.namespace, &b.name);
    for run in unrecorded(&status, finished_runs(b, &jobs)) {
        let outcome = pod_outcome(ctx, &b.namespace, &run.job).await;
        let record = record(&run, outcome);
        announce(ctx, mb, run.kind, &record).await;
        note(&mut status, run.kind, record);
    }
    let capture = names::capture(&b.name);
    status.capture = capture_status(
        b,
        ctx.caches.deployments.get(&b.namespace, &capture).as_ref(),
    );
    Some(status)
}

/// The change capture as its Deployment shows it (pure); None when it is off.
pub fn capture_status(b: &ValidatedBackend, live: Option<&Deployment>) -> Option<CaptureStatus> {
    let backup = b.backup.as_ref()?;
    backup.capture_segment_seconds?;
    let name = names::capture(&b.name);
    let location = capture_location(backup);
    let Some(live) = live else {
        return Some(CaptureStatus {
            running: false,
            location,
            message: Some(format!("Deployment {name} is not created yet")),
        });
    };
    let status = live.status.clone().unwrap_or_default();
    let running = status.available_replicas.unwrap_or(0) >= 1;
    let why = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.status == "False")
        .and_then(|c| c.message);
    Some(CaptureStatus {
        running,
        location,
        message: (!running).then(|| {
            why.unwrap_or_else(|| {
                format!(
                    "no capture pod of Deployment {name} is available (kubectl logs deploy/{name})"
                )
            })
        }),
    })
}

/// Finished runs of the backend's CronJobs, oldest first.
pub fn finished_runs(b: &ValidatedBackend, jobs: &[Job]) -> Vec<Finished> {
    let backup = names::backup(&b.name);
    let verify = names::verify(&b.name);
    let mut runs: Vec<Finished> = jobs
        .iter()
        .filter_map(|job| {
            let owner = job
                .metadata
                .owner_references
                .as_ref()?
                .iter()
                .find(|o| o.kind == "CronJob")?;
            let kind = if owner.name == backup {
                Kind::Backup
            } else if owner.name == verify {
                Kind::Verify
            } else {
                return None;
            };
            let (succeeded, time, job_message) = finish(job)?;
            Some(Finished {
                kind,
                job: job.metadata.name.clone()?,
                time,
                succeeded,
                job_message,
            })
        })
        .collect();
    runs.sort_by_key(|r| r.time);
    runs
}

/// (succeeded, when, failure message) of a finished Job; None while it runs.
pub fn finish(job: &Job) -> Option<(bool, Timestamp, Option<String>)> {
    let status = job.status.as_ref()?;
    let conditions = status.conditions.as_deref().unwrap_or_default();
    let done = conditions
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")?;
    let succeeded = done.type_ == "Complete";
    let time = status
        .completion_time
        .as_ref()
        .filter(|_| succeeded)
        .or(done.last_transition_time.as_ref())
        .map(|t| t.0)?;
    let message = (!succeeded).then(|| {
        format!(
            "{}: {}",
            done.reason.as_deref().unwrap_or("Failed"),
            done.message.as_deref().unwrap_or_default()
        )
    });
    Some((succeeded, time, message))
}

/// Runs finished after the newest one recorded of their kind.
fn unrecorded(status: &BackupStatus, runs: Vec<Finished>) -> Vec<Finished> {
    let recorded = |kind| {
        let run = match kind {
            Kind::Backup => status.last_backup.as_ref(),
            Kind::Verify => status.last_verification.as_ref(),
        };
        run.and_then(|r| r.time.parse::<Timestamp>().ok())
    };
    runs.into_iter()
        .filter(|run| recorded(run.kind).is_none_or(|t| run.time > t))
        .collect()
}

/// The tool's outcome from the Job's pod: one list request per newly finished run.
pub async fn pod_outcome(ctx: &Context, namespace: &str, job: &str) -> Option<Outcome> {
    report::read_outcome(&ctx.client, namespace, job).await
}

/// A run as status records it. Pure.
pub fn record(run: &Finished, outcome: Option<Outcome>) -> BackupRun {
    let mut record = BackupRun {
        time: run.time.to_string(),
        result: if run.succeeded { "Succeeded" } else { "Failed" }.to_owned(),
        job: run.job.clone(),
        ..BackupRun::default()
    };
    match outcome {
        Some(Outcome::Report(r)) => fill(&mut record, &r, run.succeeded),
        Some(Outcome::NoReport(tail)) => record.error = (!run.succeeded).then_some(tail),
        None => {}
    }
    if !run.succeeded && record.error.is_none() {
        record.error = run.job_message.clone();
    }
    record
}

fn fill(record: &mut BackupRun, r: &ToolReport, job_succeeded: bool) {
    let count = |n: Option<u64>| n.and_then(|n| i64::try_from(n).ok());
    record.location = r.location.clone();
    record.size_bytes = count(r.size_bytes);
    record.documents = count(r.documents);
    record.duration_seconds = r.duration_seconds;
    record.restore_seconds = r.restore_seconds;
    if !(job_succeeded && r.succeeded()) {
        record.result = "Failed".to_owned();
        let mut error = r.error.clone().unwrap_or_default();
        if !r.mismatches.is_empty() {
            error = format!("{error} ({})", r.mismatches.join("; "));
        }
        record.error = Some(report::tail(error.trim(), 1024));
    }
}

/// Put a recorded run in its places.
pub fn note(status: &mut BackupStatus, kind: Kind, record: BackupRun) {
    let good = record.result == "Succeeded";
    match kind {
        Kind::Backup => {
            if good {
                status.last_successful_backup = Some(record.clone());
            }
            status.last_backup = Some(record);
        }
        Kind::Verify => {
            if good {
                status.last_verified_backup = Some(record.clone());
            }
            status.last_verification = Some(record);
        }
    }
}

async fn announce(ctx: &Context, mb: &MerchantBackend, kind: Kind, record: &BackupRun) {
    let good = record.result == "Succeeded";
    let (type_, reason) = match (kind, good) {
        (Kind::Backup, true) => (EventType::Normal, reason::BACKUP_SUCCEEDED),
        (Kind::Backup, false) => (EventType::Warning, reason::BACKUP_FAILED),
        (Kind::Verify, true) => (EventType::Normal, reason::BACKUP_VERIFIED),
        (Kind::Verify, false) => (EventType::Warning, reason::VERIFICATION_FAILED),
    };
    let note = match &record.error {
        Some(error) => format!("{}: {error}", record.job),
        None => format!(
            "{}: {}",
            record.job,
            record.location.as_deref().unwrap_or("no location reported")
        ),
    };
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(super::events::truncate(&note, 1024)),
        action: "Backup".to_owned(),
        secondary: None,
    };
    if let Err(error) = ctx
        .recorder
        .publish(&event, &kube::Resource::object_ref(mb, &()))
        .await
    {
        warn!(error = %error, "failed to publish the backup event");
    }
}

/// The BackupHealthy condition (status, reason, message). The message names only recorded
/// times, never `now`, so it does not change between reconciles.
pub fn health(
    backup: &Backup,
    status: &BackupStatus,
    now: Timestamp,
) -> (&'static str, bool, &'static str, String) {
    let good = status.last_successful_backup.as_ref();
    let base = good
        .map(|r| r.time.as_str())
        .or(status.since.as_deref())
        .and_then(|t| t.parse::<Timestamp>().ok())
        .unwrap_or(now);
    let Some(due) = next_run(&backup.schedule, base) else {
        let message = format!("spec.backup.schedule {:?} never fires", backup.schedule);
        return (BACKUP_HEALTHY, false, reason::BACKUP_OVERDUE, message);
    };
    // A run may start late (starting deadline) and take up to its deadline.
    let grace = backup.deadline_seconds + 3600;
    let overdue = now.as_second() > due.as_second() + grace;
    match (good, overdue) {
        (_, true) => {
            let last = status
                .last_backup
                .as_ref()
                .filter(|r| r.result != "Succeeded")
                .map(|r| {
                    format!(
                        "; last run {} failed: {}",
                        r.job,
                        r.error.as_deref().unwrap_or("no reason recorded")
                    )
                })
                .unwrap_or_default();
            let since = good.map_or_else(
                || "no good backup yet".to_owned(),
                |r| format!("newest good backup finished {}", r.time),
            );
            let message = format!("{since}; the backup due at {due} has not succeeded{last}");
            (BACKUP_HEALTHY, false, reason::BACKUP_OVERDUE, message)
        }
        (Some(r), false) => {
            let message = format!(
                "newest good backup finished {} ({}); next due at {due}",
                r.time,
                r.location.as_deref().unwrap_or("location not reported")
            );
            (BACKUP_HEALTHY, true, reason::BACKUP_CURRENT, message)
        }
        (None, false) => {
            let message = format!("no backup was due yet; the first is due at {due}");
            (BACKUP_HEALTHY, true, reason::AWAITING_FIRST_BACKUP, message)
        }
    }
}

/// The schedule's first time after `after` (UTC).
pub fn next_run(schedule: &str, after: Timestamp) -> Option<Timestamp> {
    let cron = parse_schedule(schedule)?;
    let start = DateTime::<Utc>::from_timestamp(after.as_second(), 0)?;
    let next = cron.find_next_occurrence(&start, false).ok()?;
    Timestamp::from_second(next.timestamp()).ok()
}

/// A five-field schedule or a `@daily`-style macro.
pub fn parse_schedule(schedule: &str) -> Option<croner::Cron> {
    let expanded = match schedule.trim() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    };
    if expanded.split_whitespace().count() != 5 {
        return None;
    }
    croner::Cron::new(expanded).parse().ok()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::{
        api::batch::v1::{JobCondition, JobStatus},
        apimachinery::pkg::apis::meta::v1::{OwnerReference, Time},
    };

    use super::*;
    use crate::{controller::validate::validate, fixtures::backend};

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn backed_up() -> ValidatedBackend {
        validate(&backend("image: a:1\nbackup: {destination: {bucket: b}}")).expect("valid")
    }

    fn job(owner: &str, name: &str, type_: &str, time: &str) -> Job {
        let mut j = Job::default();
        j.metadata.name = Some(name.into());
        j.metadata.owner_references = Some(vec![OwnerReference {
            kind: "CronJob".into(),
            name: owner.into(),
            ..Default::default()
        }]);
        j.status = Some(JobStatus {
            conditions: Some(vec![JobCondition {
                type_: type_.into(),
                status: "True".into(),
                reason: Some("DeadlineExceeded".into()),
                message: Some("Job was active longer than specified deadline".into()),
                last_transition_time: Some(Time(at(time))),
                ..Default::default()
            }]),
            completion_time: (type_ == "Complete").then(|| Time(at(time))),
            ..Default::default()
        });
        j
    }

    #[test]
    fn runs_map_to_their_cron_job_oldest_first_and_running_ones_wait() {
        let b = backed_up();
        let mut running = job(
            &names::backup(&b.name),
            "r",
            "Complete",
            "2026-12-06T02:00:00Z",
        );
        running.status = Some(JobStatus::default());
        let jobs = vec![
            job(
                &names::backup(&b.name),
                "b2",
                "Complete",
                "2026-12-06T02:05:00Z",
            ),
            job(
                &names::verify(&b.name),
                "v1",
                "Failed",
                "2026-12-06T04:05:00Z",
            ),
            job(
                &names::backup(&b.name),
                "b1",
                "Failed",
                "2026-12-05T02:05:00Z",
            ),
            job("someone-else", "x", "Complete", "2026-12-06T02:05:00Z"),
            running,
        ];
        let runs = finished_runs(&b, &jobs);
        let names: Vec<&str> = runs.iter().map(|r| r.job.as_str()).collect();
        assert_eq!(names, ["b1", "b2", "v1"]);
        assert!(!runs[0].succeeded && runs[1].succeeded);
        assert_eq!(runs[2].kind, Kind::Verify);
        assert!(
            runs[0]
                .job_message
                .as_deref()
                .expect("present")
                .starts_with("DeadlineExceeded")
        );
    }

    #[test]
    fn recorded_runs_are_not_read_again() {
        let b = backed_up();
        let runs = finished_runs(
            &b,
            &[
                job(
                    &names::backup(&b.name),
                    "b1",
                    "Complete",
                    "2026-12-05T02:05:00Z",
                ),
                job(
                    &names::backup(&b.name),
                    "b2",
                    "Complete",
                    "2026-12-06T02:05:00Z",
                ),
            ],
        );
        let mut status = BackupStatus::default();
        note(&mut status, Kind::Backup, record(&runs[0], None));
        let left: Vec<String> = unrecorded(&status, runs)
            .into_iter()
            .map(|r| r.job)
            .collect();
        assert_eq!(left, ["b2"]);
    }

    #[test]
    fn a_report_fills_the_record_and_a_failed_drill_names_the_mismatch() {
        let run = Finished {
            kind: Kind::Backup,
            job: "b".into(),
            time: at("2026-12-06T02:05:00Z"),
            succeeded: true,
            job_message: None,
        };
        let ok = report::parse(
            r#"{"command":"backup","result":"Succeeded","location":"s3://b/p/1","sizeBytes":10,"documents":3,"durationSeconds":1.5}"#,
            None,
            0,
        );
        let r = record(&run, Some(ok));
        assert_eq!(r.result, "Succeeded");
        assert_eq!((r.size_bytes, r.documents), (Some(10), Some(3)));
        let failed_run = Finished {
            succeeded: false,
            kind: Kind::Verify,
            ..run
        };
        let bad = report::parse(
            r#"{"command":"verify","result":"Failed","error":"mismatch","mismatches":["products: count 41, manifest says 42"]}"#,
            Some("Error"),
            1,
        );
        let r = record(&failed_run, Some(bad));
        assert_eq!(r.result, "Failed");
        assert!(r.error.expect("present").contains("products: count 41"));
        let mut status = BackupStatus::default();
        note(&mut status, Kind::Verify, record(&failed_run, None));
        assert!(status.last_verified_backup.is_none());
        assert!(status.last_verification.is_some());
    }

    #[test]
    fn health_follows_the_schedule() {
        let b = backed_up();
        let backup = b.backup.as_ref().expect("backup");
        let mut status = BackupStatus {
            since: Some("2026-12-05T10:00:00Z".into()),
            ..Default::default()
        };
        // Before the first 02:00 and its grace: awaiting.
        let (_, ok, why, _) = health(backup, &status, at("2026-12-06T01:00:00Z"));
        assert!(ok);
        assert_eq!(why, reason::AWAITING_FIRST_BACKUP);
        // Long after it without a good backup: overdue.
        let (_, ok, why, message) = health(backup, &status, at("2026-12-06T12:00:00Z"));
        assert!(!ok, "{message}");
        assert_eq!(why, reason::BACKUP_OVERDUE);
        assert!(message.contains("2026-12-06T02:00:00Z"), "{message}");
        // A good backup at 02:05 is current until the next day's run plus grace.
        status.last_successful_backup = Some(BackupRun {
            time: "2026-12-06T02:05:00Z".into(),
            result: "Succeeded".into(),
            ..Default::default()
        });
        let (_, ok, why, _) = health(backup, &status, at("2026-12-07T01:00:00Z"));
        assert!(ok);
        assert_eq!(why, reason::BACKUP_CURRENT);
        let (_, ok, _, _) = health(backup, &status, at("2026-12-07T12:00:00Z"));
        assert!(!ok);
        // The message does not move with time.
        assert_eq!(
            health(backup, &status, at("2026-12-06T03:00:00Z")).3,
            health(backup, &status, at("2026-12-06T04:00:00Z")).3
        );
    }

    #[test]
    fn schedules_and_macros_parse() {
        assert!(parse_schedule("0 2 * * *").is_some());
        assert!(parse_schedule("@weekly").is_some());
        assert!(parse_schedule("*/15 1-5 * * MON-FRI").is_some());
        assert!(parse_schedule("0 2 * *").is_none());
        assert!(parse_schedule("61 2 * * *").is_none());
    }

    #[test]
    fn the_capture_is_reported_from_its_deployment() {
        use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentStatus};
        let off =
            validate(&backend("image: a:1\nbackup: {destination: {bucket: b}}")).expect("valid");
        assert_eq!(capture_status(&off, None), None);
        let b = validate(&backend(
            "image: a:1\nbackup: {destination: {bucket: b}, pointInTime: {}}",
        ))
        .expect("valid");
        let missing = capture_status(&b, None).expect("on");
        assert!(
            !missing.running && missing.location.ends_with("/changes"),
            "{missing:?}"
        );
        let with = |available: i32, message: Option<&str>| Deployment {
            status: Some(DeploymentStatus {
                available_replicas: Some(available),
                conditions: message.map(|m| {
                    vec![DeploymentCondition {
                        type_: "Available".into(),
                        status: "False".into(),
                        message: Some(m.into()),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let running = capture_status(&b, Some(&with(1, None))).expect("on");
        assert!(running.running && running.message.is_none());
        let down = capture_status(
            &b,
            Some(&with(
                0,
                Some("Deployment does not have minimum availability."),
            )),
        )
        .expect("on");
        assert!(!down.running);
        assert_eq!(
            down.message.as_deref(),
            Some("Deployment does not have minimum availability.")
        );
    }
}
