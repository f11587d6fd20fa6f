//! Migration-gated releases. A new image serves only after its migrations ran: its own
//! `migrate plan --json` runs as a Job (the plan goes to `status.release`), then
//! `migrate up --phase expand` (`all` for a new backend, which has no old version to keep
//! compatible with) as a Job with the new image, and only then does the Deployment's pod template
//! change. Until then the old version keeps serving (a new backend gets no API pod at all).
//!
//! Jobs are named by backend, step, a hash of the release and the attempt, so a Job never runs
//! twice; failed ones are kept for inspection. Attempts are capped (spec.migrations.maxAttempts)
//! and spaced by a backoff; a release that ran out of attempts, or whose database identity
//! changed, is held until the spec changes (a new generation starts it again).

use std::time::Duration;

use k8s_openapi::{api::batch::v1::Job, jiff::Timestamp};
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use tracing::info;

use super::{
    Context,
    backups::{finish, pod_outcome},
    build::{
        sha256_hex,
        task::{REPORT_PATH, Task, job},
    },
    report::{Outcome, ToolReport},
    validate::ValidatedBackend,
};
use crate::{
    crd::{
        FIELD_MANAGER, MerchantBackend,
        status::{DatabaseStatus, PlannedMigration, ReleaseStatus, reason},
    },
    error::{Error, Result},
};

/// Release phases as status spells them.
pub mod phase {
    /// The new image's plan Job runs.
    pub const PLANNING: &str = "Planning";
    /// The expand migrations run.
    pub const MIGRATING: &str = "Migrating";
    /// The new image serves.
    pub const RELEASED: &str = "Released";
    /// Migrations failed on every attempt: the old version keeps serving.
    pub const FAILED: &str = "Failed";
    /// No plan could be obtained, or the database is not the one recorded.
    pub const BLOCKED: &str = "Blocked";
}

/// What the gate decided for this reconcile.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// The image the Deployment runs; None: no Deployment yet (a new backend awaiting its
    /// migrations).
    pub serve: Option<String>,
    /// status.release (None: migrations are off).
    pub release: Option<ReleaseStatus>,
    /// status.database.
    pub database: Option<DatabaseStatus>,
    /// While the release is not done: (reason, message, failed).
    pub holding: Option<(&'static str, String, bool)>,
    /// When to look again (a Job's backoff), if sooner than the resync.
    pub requeue: Option<Duration>,
}

/// First wait before another attempt; doubles per failed attempt.
const RETRY_BASE: Duration = Duration::from_secs(10);

/// The release step of a reconcile: decide what serves, start the Job the release needs next.
///
/// # Errors
/// `ApplyChild` when a Job cannot be created.
pub async fn gate(ctx: &Context, mb: &MerchantBackend, b: &ValidatedBackend) -> Result<Gate> {
    let old = mb.status.clone().unwrap_or_default();
    let served = served_image(ctx, b);
    if !b.migrations.enabled {
        return Ok(Gate::open(&b.image, None, old.database));
    }
    let generation = mb.metadata.generation.unwrap_or(0);
    let release = old
        .release
        .filter(|r| r.image == b.image)
        .filter(|r| !(held(r) && r.generation.unwrap_or(0) < generation));
    let release = match (release, &served) {
        (Some(r), _) => r,
        // Serving this image with no release on record (migrations were just turned on, or the
        // status was lost): the image already serves, so nothing gates it.
        (None, Some(image)) if *image == b.image => {
            return Ok(Gate::open(&b.image, None, old.database));
        }
        (None, _) => ReleaseStatus {
            image: b.image.clone(),
            phase: phase::PLANNING.to_owned(),
            generation: Some(generation),
            ..ReleaseStatus::default()
        },
    };
    let mut state = Step {
        b,
        release,
        database: old.database,
        served,
        now: Timestamp::now(),
    };
    state.advance(ctx).await
}

fn held(r: &ReleaseStatus) -> bool {
    r.phase == phase::FAILED || r.phase == phase::BLOCKED
}

impl Gate {
    fn open(image: &str, release: Option<ReleaseStatus>, database: Option<DatabaseStatus>) -> Self {
        Self {
            serve: Some(image.to_owned()),
            release,
            database,
            holding: None,
            requeue: None,
        }
    }
}

/// The API image the live Deployment runs, from the cache.
fn served_image(ctx: &Context, b: &ValidatedBackend) -> Option<String> {
    let live = ctx.caches.deployments.get(&b.namespace, &b.name)?;
    let live = super::cache::unstash_deployment(&live);
    live.spec?
        .template
        .spec?
        .containers
        .first()
        .and_then(|c| c.image.clone())
}

struct Step<'a> {
    b: &'a ValidatedBackend,
    release: ReleaseStatus,
    database: Option<DatabaseStatus>,
    served: Option<String>,
    now: Timestamp,
}

/// Which Job of a release.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plan,
    Migrate,
}

impl Step<'_> {
    async fn advance(&mut self, ctx: &Context) -> Result<Gate> {
        match self.release.phase.as_str() {
            phase::RELEASED => Ok(self.serve_new()),
            phase::FAILED => Ok(self.hold(reason::MIGRATION_FAILED, true)),
            phase::BLOCKED => Ok(self.hold(reason::UPGRADE_BLOCKED, true)),
            phase::MIGRATING => self.run(ctx, Kind::Migrate).await,
            _ => self.run(ctx, Kind::Plan).await,
        }
    }

    /// Start, wait for or conclude the current Job of `kind`.
    async fn run(&mut self, ctx: &Context, kind: Kind) -> Result<Gate> {
        let attempt = self.release.attempts.unwrap_or(0).max(1);
        let name = job_name(self.b, &self.release, kind, attempt);
        self.release.job = Some(name.clone());
        let Some(live) = ctx.caches.jobs.get(&self.b.namespace, &name) else {
            self.release.attempts = Some(attempt);
            create(ctx, &job(self.b, &self.task(kind, name.clone()))).await?;
            info!(job = %name, "release job started");
            return Ok(self.progress(kind));
        };
        let Some((succeeded, finished, job_message)) = finish(&live) else {
            return Ok(self.progress(kind));
        };
        let outcome = pod_outcome(ctx, &self.b.namespace, &name).await;
        let report = match &outcome {
            Some(Outcome::Report(r)) if succeeded && r.succeeded() => Some(r.as_ref().clone()),
            _ => None,
        };
        match report {
            Some(report) => self.concluded(ctx, kind, &report).await,
            None => Ok(self.failed(kind, finished, describe(outcome, job_message))),
        }
    }

    async fn concluded(&mut self, ctx: &Context, kind: Kind, report: &ToolReport) -> Result<Gate> {
        self.release.last_failure_time = None;
        match kind {
            Kind::Plan => {
                if let Some(refusal) = self.identity_refusal(report.identity.as_deref()) {
                    self.release.phase = phase::BLOCKED.to_owned();
                    self.release.message = Some(refusal);
                    return Ok(self.hold(reason::DATABASE_IDENTITY_CHANGED, true));
                }
                self.release.current_version = report.current;
                self.release.target_version = report.target;
                self.release.pending = planned(report, self.phase_to_run());
                self.database = Some(DatabaseStatus {
                    identity: report.identity.clone(),
                    migration_version: report.current,
                });
                if self.release.pending.is_empty() {
                    return Ok(self.released("nothing to migrate"));
                }
                self.release.phase = phase::MIGRATING.to_owned();
                self.release.attempts = None;
                Box::pin(self.run(ctx, Kind::Migrate)).await
            }
            Kind::Migrate => {
                self.database = Some(DatabaseStatus {
                    identity: report
                        .identity
                        .clone()
                        .or_else(|| self.database.as_ref().and_then(|d| d.identity.clone())),
                    migration_version: report.current,
                });
                let applied: Vec<String> = report.applied.iter().map(i64::to_string).collect();
                Ok(self.released(&format!("applied migrations [{}]", applied.join(", "))))
            }
        }
    }

    fn released(&mut self, what: &str) -> Gate {
        self.release.phase = phase::RELEASED.to_owned();
        self.release.message = Some(format!("{what}; {} serves", self.release.image));
        self.serve_new()
    }

    /// A failed Job: another attempt after the backoff, or the release is held.
    fn failed(&mut self, kind: Kind, finished: Timestamp, why: String) -> Gate {
        let attempt = self.release.attempts.unwrap_or(1);
        let what = match kind {
            Kind::Plan => "the new image's migration plan could not be obtained",
            Kind::Migrate => "the migrations failed",
        };
        self.release.last_failure_time = Some(finished.to_string());
        let message = format!(
            "{what} (Job {}, attempt {attempt}/{}): {why}",
            self.release.job.as_deref().unwrap_or_default(),
            self.b.migrations.max_attempts
        );
        let (held_phase, why_held) = match kind {
            Kind::Plan => (phase::BLOCKED, reason::UPGRADE_BLOCKED),
            Kind::Migrate => (phase::FAILED, reason::MIGRATION_FAILED),
        };
        if attempt >= self.b.migrations.max_attempts {
            self.release.phase = held_phase.to_owned();
            self.release.message = Some(message);
            return self.hold(why_held, true);
        }
        let wait = RETRY_BASE.saturating_mul(1 << (attempt - 1).min(10));
        let due = finished.as_second() + i64::try_from(wait.as_secs()).unwrap_or(i64::MAX);
        let left = due - self.now.as_second();
        self.release.message = Some(message);
        if left > 0 {
            let mut gate = self.hold(why_held, true);
            gate.requeue = Some(Duration::from_secs(left.unsigned_abs()));
            return gate;
        }
        // Backoff over: the next attempt's Job is created by the next reconcile.
        self.release.attempts = Some(attempt + 1);
        let mut gate = self.hold(why_held, true);
        gate.requeue = Some(Duration::from_secs(1));
        gate
    }

    /// Refuse a database whose identity is not the one recorded, unless the user accepts it.
    fn identity_refusal(&self, found: Option<&str>) -> Option<String> {
        let recorded = self.database.as_ref()?.identity.as_deref()?;
        let found = found?;
        if found == recorded || self.b.migrations.accept_identity.as_deref() == Some(found) {
            return None;
        }
        Some(format!(
            "the database's identity is {found}, status.database.identity records {recorded}: \
             it is not the database this MerchantBackend served; set \
             spec.migrations.acceptDatabaseIdentity: {found} if the switch is intended"
        ))
    }

    /// `all` for a new backend (no old version serves), `expand` otherwise.
    fn phase_to_run(&self) -> &'static str {
        if self.served.is_none() {
            "all"
        } else {
            "expand"
        }
    }

    fn task(&self, kind: Kind, name: String) -> Task {
        let mut args = match kind {
            Kind::Plan => vec!["migrate".into(), "plan".into(), "--json".into()],
            Kind::Migrate => vec![
                "migrate".into(),
                "up".into(),
                "--phase".into(),
                self.phase_to_run().into(),
            ],
        };
        let expected = self.database.as_ref().and_then(|d| d.identity.clone());
        if let (Kind::Migrate, Some(identity)) = (kind, expected) {
            args.extend(["--expect-identity".into(), identity]);
        }
        args.extend(["--report".into(), REPORT_PATH.into()]);
        Task {
            name,
            component: "migrate",
            image: self.release.image.clone(),
            args,
            env: Vec::new(),
            deadline_seconds: self.b.migrations.deadline_seconds,
            retries: 0,
            ttl_seconds: None,
            backup: None,
        }
    }

    fn progress(&self, kind: Kind) -> Gate {
        let (why, what) = match kind {
            Kind::Plan => (reason::PLANNING_RELEASE, "reading the migration plan of"),
            Kind::Migrate => (reason::MIGRATING, "running the migrations of"),
        };
        let message = format!(
            "{what} {} (Job {}); the current version keeps serving",
            self.release.image,
            self.release.job.as_deref().unwrap_or_default()
        );
        self.holding(why, message, false)
    }

    /// Hold the old version, saying why with the release's own message.
    fn hold(&self, why: &'static str, failed: bool) -> Gate {
        let message = self.release.message.clone().unwrap_or_default();
        self.holding(why, message, failed)
    }

    fn holding(&self, why: &'static str, message: String, failed: bool) -> Gate {
        Gate {
            serve: self.served.clone(),
            release: Some(self.release.clone()),
            database: self.database.clone(),
            holding: Some((why, message, failed)),
            requeue: None,
        }
    }

    fn serve_new(&self) -> Gate {
        Gate::open(
            &self.release.image,
            Some(self.release.clone()),
            self.database.clone(),
        )
    }
}

/// The steps of the plan that run now, as status records them.
fn planned(report: &ToolReport, phase_to_run: &str) -> Vec<PlannedMigration> {
    report
        .pending
        .iter()
        .filter(|s| phase_to_run == "all" || s.phase == phase_to_run)
        .map(|s| PlannedMigration {
            version: s.version,
            name: s.name.clone(),
            phase: s.phase.clone(),
            reversible: s.reversible,
        })
        .collect()
}

/// What a failed Job left: the tool's error, its log tail, or the Job's own reason.
fn describe(outcome: Option<Outcome>, job_message: Option<String>) -> String {
    match outcome {
        Some(Outcome::Report(r)) => r
            .error
            .clone()
            .unwrap_or_else(|| "the tool reported a failure without a reason".to_owned()),
        Some(Outcome::NoReport(tail)) => tail,
        None => job_message.unwrap_or_else(|| "the Job's pod is gone".to_owned()),
    }
}

/// `<name>-<plan|migrate>-<hash>-<attempt>`: the hash covers the backend, the image and the
/// generation the release started at (a held release started again gets new Jobs), so a release
/// never reuses another's Job; the name stays within the 63 characters a Job name may have.
fn job_name(b: &ValidatedBackend, release: &ReleaseStatus, kind: Kind, attempt: i32) -> String {
    let step = match kind {
        Kind::Plan => "plan",
        Kind::Migrate => "migrate",
    };
    let key = format!(
        "{}/{}\n{}\n{}",
        b.namespace,
        b.name,
        release.image,
        release.generation.unwrap_or(0)
    );
    let hash = sha256_hex(key.as_bytes());
    let base: String = b.name.chars().take(40).collect();
    format!(
        "{}-{step}-{}-{attempt}",
        base.trim_end_matches('-'),
        &hash[..8]
    )
}

async fn create(ctx: &Context, job: &Job) -> Result<()> {
    let name = job.name_any();
    let namespace = job.namespace().unwrap_or_default();
    let mut manifest = serde_json::to_value(job).map_err(|source| Error::SerializeChild {
        kind: "Job",
        name: name.clone(),
        source,
    })?;
    manifest["apiVersion"] = "batch/v1".into();
    manifest["kind"] = "Job".into();
    Api::<Job>::namespaced(ctx.client.clone(), &namespace)
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&manifest),
        )
        .await
        .map_err(|source| Error::ApplyChild {
            kind: "Job",
            name,
            source,
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{controller::validate::validate, fixtures::backend};

    #[test]
    fn job_names_fit_and_differ_per_image_and_attempt() {
        let long = "a".repeat(54);
        let b = validate(&backend("image: a:1")).expect("valid");
        let mut b_long = b.clone();
        b_long.name = long;
        let release = |image: &str, generation: i64| ReleaseStatus {
            image: image.into(),
            generation: Some(generation),
            ..Default::default()
        };
        let long_image = release("registry.example/merchant-api:1.2.3", 7);
        let n = job_name(&b_long, &long_image, Kind::Migrate, 10);
        assert!(n.len() <= 63, "{n} ({})", n.len());
        let names = [
            job_name(&b, &release("a:1", 1), Kind::Plan, 1),
            job_name(&b, &release("a:2", 1), Kind::Plan, 1),
            job_name(&b, &release("a:1", 2), Kind::Plan, 1),
            job_name(&b, &release("a:1", 1), Kind::Migrate, 1),
            job_name(&b, &release("a:1", 1), Kind::Migrate, 2),
        ];
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }

    fn report(identity: &str, pending: &[(&str, bool)]) -> ToolReport {
        ToolReport {
            command: "migrate-plan".into(),
            result: Some("Succeeded".into()),
            identity: Some(identity.into()),
            current: Some(5),
            target: Some(5 + pending.len() as i64),
            pending: pending
                .iter()
                .enumerate()
                .map(
                    |(i, (phase, reversible))| crate::controller::report::PlannedStep {
                        version: 6 + i as i64,
                        name: format!("step-{i}"),
                        phase: (*phase).into(),
                        reversible: *reversible,
                    },
                )
                .collect(),
            ..ToolReport::default()
        }
    }

    fn step<'a>(b: &'a ValidatedBackend, recorded: Option<&str>, served: Option<&str>) -> Step<'a> {
        Step {
            b,
            release: ReleaseStatus {
                image: "a:2".into(),
                phase: phase::PLANNING.into(),
                attempts: Some(1),
                ..Default::default()
            },
            database: recorded.map(|id| DatabaseStatus {
                identity: Some(id.into()),
                migration_version: Some(5),
            }),
            served: served.map(str::to_owned),
            now: "2026-12-06T12:00:00Z".parse().expect("time"),
        }
    }

    #[test]
    fn an_upgrade_runs_only_expand_steps_and_a_new_backend_all() {
        let r = report("id-1", &[("expand", true), ("contract", false)]);
        assert_eq!(planned(&r, "expand").len(), 1);
        assert_eq!(planned(&r, "all").len(), 2);
        let b = validate(&backend("image: a:2")).expect("valid");
        assert_eq!(step(&b, None, Some("a:1")).phase_to_run(), "expand");
        assert_eq!(step(&b, None, None).phase_to_run(), "all");
    }

    #[test]
    fn a_changed_database_identity_is_refused_unless_accepted() {
        let b = validate(&backend("image: a:2")).expect("valid");
        let s = step(&b, Some("id-1"), Some("a:1"));
        assert!(s.identity_refusal(Some("id-1")).is_none());
        let refusal = s.identity_refusal(Some("id-2")).expect("refused");
        assert!(
            refusal.contains("acceptDatabaseIdentity: id-2"),
            "{refusal}"
        );
        let accepting = validate(&backend(
            "image: a:2\nmigrations: {acceptDatabaseIdentity: id-2}",
        ))
        .expect("valid");
        assert!(
            step(&accepting, Some("id-1"), Some("a:1"))
                .identity_refusal(Some("id-2"))
                .is_none()
        );
        // Nothing recorded yet (a new backend): nothing to compare.
        assert!(
            step(&b, None, None)
                .identity_refusal(Some("id-2"))
                .is_none()
        );
    }

    #[test]
    fn failures_back_off_then_hold_the_old_version() {
        let b = validate(&backend("image: a:2\nmigrations: {maxAttempts: 2}")).expect("valid");
        let mut s = step(&b, None, Some("a:1"));
        let finished: Timestamp = "2026-12-06T11:59:55Z".parse().expect("time");
        let gate = s.failed(Kind::Migrate, finished, "E11000 duplicate key".into());
        assert_eq!(gate.serve.as_deref(), Some("a:1"), "the old version serves");
        assert_eq!(gate.requeue, Some(Duration::from_secs(5)), "10 s backoff");
        assert_eq!(s.release.attempts, Some(1));
        s.now = "2026-12-06T12:00:10Z".parse().expect("time");
        let gate = s.failed(Kind::Migrate, finished, "E11000 duplicate key".into());
        assert_eq!(s.release.attempts, Some(2), "next attempt due");
        assert!(gate.holding.as_ref().is_some_and(|h| h.2));
        let gate = s.failed(Kind::Migrate, finished, "E11000 duplicate key".into());
        assert_eq!(s.release.phase, phase::FAILED);
        let (why, message, failed) = gate.holding.expect("holding");
        assert_eq!(why, reason::MIGRATION_FAILED);
        assert!(failed && message.contains("E11000") && message.contains("attempt 2/2"));
        assert_eq!(gate.serve.as_deref(), Some("a:1"));
    }
}
