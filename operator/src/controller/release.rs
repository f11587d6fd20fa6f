//! Migration-gated releases. A new image serves only after its migrations ran: its own
//! `migrate plan --json` runs as a Job (the plan goes to `status.release`), then
//! `migrate up --phase expand` (`all` for a new backend, which has no old version to keep
//! compatible with) as a Job with the new image, and only then does the Deployment's pod template
//! change. Until then the old version keeps serving (a new backend gets no API pod at all).
//!
//! Before a batch that holds an irreversible step runs against a database with data, a
//! MerchantBackup is taken and linked to the release (`status.release.backup`): the restore
//! point if the release must be undone. `contract` steps (destructive) wait until the new version
//! has run healthy for the rollback window, then run as their own Job while it keeps serving.
//!
//! Jobs are named by backend, step, a hash of the release and the attempt, so a Job never runs
//! twice; failed ones are kept for inspection. Attempts are capped (spec.migrations.maxAttempts)
//! and spaced by a backoff; a release that ran out of attempts, or whose database identity
//! changed, is held until the spec changes (a new generation starts it again).

use std::time::Duration;

use k8s_openapi::{api::batch::v1::Job, jiff::Timestamp};
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams, PostParams},
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
        FIELD_MANAGER, MerchantBackend, MerchantBackup, MerchantBackupSpec, Phase,
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
    /// The new image serves (contract steps, if any, wait for the rollback window).
    pub const RELEASED: &str = "Released";
    /// The contract migrations run; the new image serves.
    pub const CONTRACTING: &str = "Contracting";
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
/// How often a running pre-migration backup is looked at.
const BACKUP_POLL: Duration = Duration::from_secs(10);

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
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Plan,
    Migrate,
    Contract,
}

impl Kind {
    fn step(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Migrate => "migrate",
            Self::Contract => "contract",
        }
    }
}

impl Step<'_> {
    async fn advance(&mut self, ctx: &Context) -> Result<Gate> {
        match self.release.phase.as_str() {
            phase::RELEASED => self.after_release(ctx).await,
            phase::FAILED => Ok(self.hold(reason::MIGRATION_FAILED, true)),
            phase::BLOCKED => Ok(self.hold(reason::UPGRADE_BLOCKED, true)),
            phase::MIGRATING => self.run(ctx, Kind::Migrate).await,
            phase::CONTRACTING => self.run(ctx, Kind::Contract).await,
            _ => self.run(ctx, Kind::Plan).await,
        }
    }

    /// The new image serves; its contract steps run once it has been healthy for the window.
    async fn after_release(&mut self, ctx: &Context) -> Result<Gate> {
        if self.release.contract.is_empty() {
            return Ok(self.serve_new());
        }
        let healthy =
            self.served.as_deref() == Some(self.release.image.as_str()) && rolled_out(ctx, self.b);
        let since = self
            .release
            .healthy_since
            .as_deref()
            .and_then(|t| t.parse().ok());
        let window = self.b.migrations.rollback_window_seconds;
        let (since, timing) = contract_timing(since, healthy, window, self.now);
        self.release.healthy_since = since.map(|t| t.to_string());
        self.release.contract_after = since.map(|t| add_seconds(t, window).to_string());
        match timing {
            ContractTiming::Due => {
                self.release.phase = phase::CONTRACTING.to_owned();
                self.release.attempts = None;
                self.run(ctx, Kind::Contract).await
            }
            ContractTiming::Wait(left) => {
                let mut gate = self.serve_new();
                gate.requeue = left;
                Ok(gate)
            }
        }
    }

    /// Start, wait for or conclude the current Job of `kind` (after the backup it needs).
    async fn run(&mut self, ctx: &Context, kind: Kind) -> Result<Gate> {
        let attempt = self.release.attempts.unwrap_or(0).max(1);
        let name = job_name(self.b, &self.release, kind, attempt);
        let Some(live) = ctx.caches.jobs.get(&self.b.namespace, &name) else {
            // The backup is read only until the Job exists: one GET per reconcile meanwhile.
            if let Some(waiting) = self.backup_first(ctx, kind).await? {
                return Ok(waiting);
            }
            self.release.job = Some(name.clone());
            self.release.attempts = Some(attempt);
            create(ctx, &job(self.b, &self.task(kind, name.clone()))).await?;
            info!(job = %name, "release job started");
            return Ok(self.progress(kind));
        };
        self.release.job = Some(name.clone());
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
            Kind::Plan => self.plan_read(ctx, report).await,
            Kind::Migrate | Kind::Contract => Ok(self.migrated(kind, report)),
        }
    }

    /// The plan is known: record it, then migrate (or serve when nothing runs before serving).
    async fn plan_read(&mut self, ctx: &Context, report: &ToolReport) -> Result<Gate> {
        if let Some(refusal) = self.identity_refusal(report.identity.as_deref()) {
            self.release.phase = phase::BLOCKED.to_owned();
            self.release.message = Some(refusal);
            return Ok(self.hold(reason::DATABASE_IDENTITY_CHANGED, true));
        }
        self.release.current_version = report.current;
        self.release.target_version = report.target;
        self.release.pending = planned(report, self.phase_to_run());
        self.release.contract = match self.phase_to_run() {
            "expand" => planned(report, "contract"),
            _ => Vec::new(),
        };
        self.database = Some(DatabaseStatus {
            identity: report.identity.clone(),
            migration_version: report.current,
        });
        if self.release.pending.is_empty() {
            return Ok(self.released("nothing to migrate before serving"));
        }
        self.release.phase = phase::MIGRATING.to_owned();
        self.release.attempts = None;
        Box::pin(self.run(ctx, Kind::Migrate)).await
    }

    fn migrated(&mut self, kind: Kind, report: &ToolReport) -> Gate {
        self.database = Some(DatabaseStatus {
            identity: report
                .identity
                .clone()
                .or_else(|| self.database.as_ref().and_then(|d| d.identity.clone())),
            migration_version: report.current,
        });
        let applied: Vec<String> = report.applied.iter().map(i64::to_string).collect();
        let what = format!("applied migrations [{}]", applied.join(", "));
        if kind == Kind::Contract {
            self.release.contract.clear();
            self.release.phase = phase::RELEASED.to_owned();
            self.release.message = Some(format!("{what} (contract)"));
            return self.serve_new();
        }
        self.released(&what)
    }

    fn released(&mut self, what: &str) -> Gate {
        self.release.phase = phase::RELEASED.to_owned();
        let waiting = match self.release.contract.len() {
            0 => String::new(),
            n => format!(
                "; {n} contract step(s) run after {} s of healthy service",
                self.b.migrations.rollback_window_seconds
            ),
        };
        self.release.message = Some(format!("{what}; {} serves{waiting}", self.release.image));
        self.serve_new()
    }

    /// Before a batch with an irreversible step runs against data: the linked MerchantBackup
    /// is created, then waited for. `Some` holds the release here.
    async fn backup_first(&mut self, ctx: &Context, kind: Kind) -> Result<Option<Gate>> {
        let (name, step) = match self.backup_requirement(kind) {
            Requirement::None => return Ok(None),
            Requirement::Blocked(gate) => return Ok(Some(*gate)),
            Requirement::Backup { name, step } => (name, step),
        };
        let api = Api::<MerchantBackup>::namespaced(ctx.client.clone(), &self.b.namespace);
        let refused = |source| Error::ApplyChild {
            kind: "MerchantBackup",
            name: name.clone(),
            source,
        };
        let found = api.get_opt(&name).await.map_err(refused)?;
        match backup_state(found.as_ref()) {
            BackupState::Succeeded => Ok(None),
            BackupState::Missing => {
                let backup = pre_migration_backup(self.b, &name);
                api.create(&PostParams::default(), &backup)
                    .await
                    .map_err(refused)?;
                info!(backup = %name, "pre-migration backup started");
                Ok(Some(self.backing_up(kind, &name, &step, "started")))
            }
            BackupState::Running(what) => Ok(Some(self.backing_up(kind, &name, &step, &what))),
            BackupState::Failed(why) => Ok(Some(self.block(format!(
                "the backup before irreversible {step} failed (MerchantBackup {name}): {why}; \
                 nothing was migrated"
            )))),
        }
    }

    /// Whether the batch of `kind` needs a backup first, and which (named, linked in status).
    fn backup_requirement(&mut self, kind: Kind) -> Requirement {
        let steps = match kind {
            Kind::Plan => return Requirement::None,
            Kind::Migrate => &self.release.pending,
            Kind::Contract => &self.release.contract,
        };
        let Some(step) = steps.iter().find(|s| !s.reversible) else {
            return Requirement::None;
        };
        if !self.b.migrations.backup_before_irreversible || !self.has_data() {
            return Requirement::None;
        }
        let step = format!("migration {} ({})", step.version, step.name);
        if self.b.backup.is_none() {
            let message = format!(
                "{step} is irreversible and a backup must be taken first, but \
                 spec.backup.destination is not set: set it, or set \
                 spec.migrations.backupBeforeIrreversible: false to migrate without a backup"
            );
            return Requirement::Blocked(Box::new(self.block(message)));
        }
        let (image, generation) = (self.release.image.clone(), self.release.generation);
        let linked = match kind {
            Kind::Contract => &mut self.release.contract_backup,
            _ => &mut self.release.backup,
        };
        let name = linked
            .get_or_insert_with(|| backup_name(self.b, &image, generation, kind))
            .clone();
        Requirement::Backup { name, step }
    }

    /// The database holds data to lose: it has migrations recorded, or a version serves.
    fn has_data(&self) -> bool {
        self.release.current_version.unwrap_or(0) > 0 || self.served.is_some()
    }

    fn backing_up(&mut self, kind: Kind, backup: &str, step: &str, what: &str) -> Gate {
        let message = format!(
            "backing up before irreversible {step} (MerchantBackup {backup}: {what}); the \
             current version keeps serving"
        );
        self.release.message = Some(message.clone());
        let mut gate = match kind {
            Kind::Contract => self.serve_new(),
            _ => self.holding(reason::BACKING_UP, message, false),
        };
        gate.requeue = Some(BACKUP_POLL);
        gate
    }

    /// Hold the release until the spec changes (UpgradeBlocked), saying why.
    fn block(&mut self, message: String) -> Gate {
        self.release.phase = phase::BLOCKED.to_owned();
        self.release.message = Some(message);
        self.hold(reason::UPGRADE_BLOCKED, true)
    }

    /// A failed Job: another attempt after the backoff, or the release is held.
    fn failed(&mut self, kind: Kind, finished: Timestamp, why: String) -> Gate {
        let attempt = self.release.attempts.unwrap_or(1);
        let what = match kind {
            Kind::Plan => "the new image's migration plan could not be obtained",
            Kind::Migrate => "the migrations failed",
            Kind::Contract => "the contract migrations failed",
        };
        self.release.last_failure_time = Some(finished.to_string());
        let message = format!(
            "{what} (Job {}, attempt {attempt}/{}): {why}",
            self.release.job.as_deref().unwrap_or_default(),
            self.b.migrations.max_attempts
        );
        let (held_phase, why_held) = match kind {
            Kind::Plan => (phase::BLOCKED, reason::UPGRADE_BLOCKED),
            Kind::Migrate | Kind::Contract => (phase::FAILED, reason::MIGRATION_FAILED),
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
            Kind::Migrate | Kind::Contract => vec![
                "migrate".into(),
                "up".into(),
                "--phase".into(),
                match kind {
                    Kind::Contract => "contract",
                    _ => self.phase_to_run(),
                }
                .into(),
            ],
        };
        let expected = self.database.as_ref().and_then(|d| d.identity.clone());
        if let (Kind::Migrate | Kind::Contract, Some(identity)) = (kind, expected) {
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
            uploads: false,
        }
    }

    fn progress(&self, kind: Kind) -> Gate {
        let (why, what) = match kind {
            Kind::Plan => (reason::PLANNING_RELEASE, "reading the migration plan of"),
            Kind::Migrate => (reason::MIGRATING, "running the migrations of"),
            // The new version serves and stays Ready while its contract steps run.
            Kind::Contract => return self.serve_new(),
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
    let step = kind.step();
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

/// Whether the live Deployment has rolled out its current template and every pod is available.
fn rolled_out(ctx: &Context, b: &ValidatedBackend) -> bool {
    let Some(live) = ctx.caches.deployments.get(&b.namespace, &b.name) else {
        return false;
    };
    let current = live.metadata.generation.unwrap_or(0);
    let Some(status) = &live.status else {
        return false;
    };
    let wanted = live.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    status.observed_generation.unwrap_or(0) >= current
        && status.updated_replicas.unwrap_or(0) >= wanted
        && status.available_replicas.unwrap_or(0) >= wanted.max(1)
        && status.unavailable_replicas.unwrap_or(0) == 0
}

/// Whether the contract steps may run now.
#[derive(Debug, PartialEq, Eq)]
enum ContractTiming {
    /// Not yet: look again after this long (None: when something changes).
    Wait(Option<Duration>),
    Due,
}

/// The window opens when the new version is first seen healthy; the steps are due once it has
/// passed and the version is (still) healthy. Returns the window's start and the verdict.
fn contract_timing(
    since: Option<Timestamp>,
    healthy: bool,
    window_seconds: i64,
    now: Timestamp,
) -> (Option<Timestamp>, ContractTiming) {
    let since = match since {
        Some(t) => t,
        None if healthy => now,
        None => return (None, ContractTiming::Wait(None)),
    };
    let left = add_seconds(since, window_seconds).as_second() - now.as_second();
    let timing = match (left > 0, healthy) {
        (true, _) => ContractTiming::Wait(Some(Duration::from_secs(left.unsigned_abs()))),
        (false, true) => ContractTiming::Due,
        (false, false) => ContractTiming::Wait(None),
    };
    (Some(since), timing)
}

fn add_seconds(t: Timestamp, seconds: i64) -> Timestamp {
    Timestamp::from_second(t.as_second().saturating_add(seconds)).unwrap_or(t)
}

/// `<name>-pre-<migrate|contract>-<hash>`: one backup per release and batch, whatever the
/// number of reconciles or attempts.
fn backup_name(b: &ValidatedBackend, image: &str, generation: Option<i64>, kind: Kind) -> String {
    let key = format!(
        "{}/{}\n{image}\n{}",
        b.namespace,
        b.name,
        generation.unwrap_or(0)
    );
    let hash = sha256_hex(key.as_bytes());
    let base: String = b.name.chars().take(40).collect();
    format!(
        "{}-pre-{}-{}",
        base.trim_end_matches('-'),
        kind.step(),
        &hash[..8]
    )
}

/// The MerchantBackup taken before an irreversible migration (pure), owned by the backend.
fn pre_migration_backup(b: &ValidatedBackend, name: &str) -> MerchantBackup {
    let mut backup = MerchantBackup::new(
        name,
        MerchantBackupSpec {
            backend_ref: b.name.clone(),
        },
    );
    backup.metadata.namespace = Some(b.namespace.clone());
    backup.metadata.owner_references = b.owner.clone().map(|o| vec![o]);
    backup.metadata.labels = Some(
        [(
            "app.kubernetes.io/managed-by".to_owned(),
            "merchant-operator".to_owned(),
        )]
        .into(),
    );
    backup
}

/// What a batch of migrations needs before it runs.
enum Requirement {
    None,
    /// The release is held (the gate says why).
    Blocked(Box<Gate>),
    /// This MerchantBackup must have succeeded; `step` names the irreversible step.
    Backup {
        name: String,
        step: String,
    },
}

/// Where a pre-migration backup is.
#[derive(Debug, PartialEq, Eq)]
enum BackupState {
    Missing,
    Running(String),
    Succeeded,
    Failed(String),
}

fn backup_state(found: Option<&MerchantBackup>) -> BackupState {
    let Some(backup) = found else {
        return BackupState::Missing;
    };
    let status = backup.status.clone().unwrap_or_default();
    match status.phase {
        Some(Phase::Succeeded) => BackupState::Succeeded,
        Some(Phase::Failed) => {
            BackupState::Failed(status.error.unwrap_or_else(|| "no reason given".to_owned()))
        }
        Some(Phase::Running) => {
            BackupState::Running(status.message.unwrap_or_else(|| "running".to_owned()))
        }
        _ => BackupState::Running(status.message.unwrap_or_else(|| "pending".to_owned())),
    }
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

    fn irreversible(phase: &str) -> PlannedMigration {
        PlannedMigration {
            version: 6,
            name: "drop-legacy-stock".into(),
            phase: phase.into(),
            reversible: false,
        }
    }

    const BACKED_UP: &str = "image: a:2\nbackup: {destination: {bucket: backups}}";

    #[test]
    fn an_irreversible_step_on_data_needs_the_linked_backup_first() {
        let b = validate(&backend(BACKED_UP)).expect("valid");
        let mut s = step(&b, Some("id-1"), Some("a:1"));
        s.release.pending = vec![irreversible("expand")];
        let Requirement::Backup { name, step } = s.backup_requirement(Kind::Migrate) else {
            panic!("a backup is required");
        };
        assert!(name.starts_with("shop-pre-migrate-"), "{name}");
        assert!(step.contains("migration 6 (drop-legacy-stock)"), "{step}");
        assert_eq!(s.release.backup.as_deref(), Some(name.as_str()), "linked");
        // The same name on every reconcile, another for the contract batch.
        let Requirement::Backup { name: again, .. } = s.backup_requirement(Kind::Migrate) else {
            panic!("still required");
        };
        assert_eq!(again, name);
        s.release.contract = vec![irreversible("contract")];
        let Requirement::Backup { name: contract, .. } = s.backup_requirement(Kind::Contract)
        else {
            panic!("required before the contract batch too");
        };
        assert!(contract.starts_with("shop-pre-contract-"), "{contract}");
        assert_eq!(
            s.release.contract_backup.as_deref(),
            Some(contract.as_str())
        );
    }

    #[test]
    fn reversible_steps_new_databases_and_opt_outs_need_no_backup() {
        let b = validate(&backend(BACKED_UP)).expect("valid");
        let mut reversible = step(&b, None, Some("a:1"));
        reversible.release.pending = vec![PlannedMigration {
            reversible: true,
            ..irreversible("expand")
        }];
        assert!(matches!(
            reversible.backup_requirement(Kind::Migrate),
            Requirement::None
        ));
        // A new backend on an empty database: nothing to lose.
        let mut fresh = step(&b, None, None);
        fresh.release.current_version = Some(0);
        fresh.release.pending = vec![irreversible("expand")];
        assert!(matches!(
            fresh.backup_requirement(Kind::Migrate),
            Requirement::None
        ));
        let opted_out = validate(&backend(
            "image: a:2\nmigrations: {backupBeforeIrreversible: false}",
        ))
        .expect("valid");
        let mut s = step(&opted_out, None, Some("a:1"));
        s.release.pending = vec![irreversible("expand")];
        assert!(matches!(
            s.backup_requirement(Kind::Migrate),
            Requirement::None
        ));
    }

    #[test]
    fn without_a_backup_destination_an_irreversible_release_is_blocked() {
        let b = validate(&backend("image: a:2")).expect("valid");
        let mut s = step(&b, None, Some("a:1"));
        s.release.pending = vec![irreversible("expand")];
        let Requirement::Blocked(gate) = s.backup_requirement(Kind::Migrate) else {
            panic!("blocked");
        };
        assert_eq!(s.release.phase, phase::BLOCKED);
        assert_eq!(gate.serve.as_deref(), Some("a:1"), "the old version serves");
        let (why, message, failed) = gate.holding.expect("holding");
        assert_eq!(why, reason::UPGRADE_BLOCKED);
        assert!(
            failed && message.contains("spec.backup.destination"),
            "{message}"
        );
    }

    #[test]
    fn a_pre_migration_backup_is_owned_by_the_backend_and_read_by_phase() {
        let mut mb = backend(BACKED_UP);
        mb.metadata.uid = Some("uid-1".into());
        let b = validate(&mb).expect("valid");
        let backup = pre_migration_backup(&b, "shop-pre-migrate-1");
        assert_eq!(backup.spec.backend_ref, "shop");
        assert_eq!(backup.metadata.namespace.as_deref(), Some("prod"));
        let owner = &backup.metadata.owner_references.clone().expect("owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("MerchantBackend", "uid-1")
        );
        assert_eq!(backup_state(None), BackupState::Missing);
        let with = |phase, error: Option<&str>| {
            let mut b = backup.clone();
            b.status = Some(crate::crd::MerchantBackupStatus {
                phase,
                error: error.map(str::to_owned),
                ..Default::default()
            });
            backup_state(Some(&b))
        };
        assert_eq!(with(Some(Phase::Succeeded), None), BackupState::Succeeded);
        assert_eq!(
            with(Some(Phase::Failed), Some("AccessDenied")),
            BackupState::Failed("AccessDenied".into())
        );
        assert!(matches!(with(None, None), BackupState::Running(_)));
    }

    #[test]
    fn contract_steps_wait_for_a_healthy_window() {
        let t = |s: &str| -> Timestamp { s.parse().expect("time") };
        let now = t("2026-12-06T12:00:00Z");
        // Not healthy yet: the window has not opened.
        assert_eq!(
            contract_timing(None, false, 3600, now),
            (None, ContractTiming::Wait(None))
        );
        // First seen healthy: the window opens now.
        assert_eq!(
            contract_timing(None, true, 3600, now),
            (
                Some(now),
                ContractTiming::Wait(Some(Duration::from_secs(3600)))
            )
        );
        let later = t("2026-12-06T13:00:00Z");
        assert_eq!(
            contract_timing(Some(now), true, 3600, later),
            (Some(now), ContractTiming::Due)
        );
        // Window over but unhealthy now: wait for health.
        assert_eq!(
            contract_timing(Some(now), false, 3600, later),
            (Some(now), ContractTiming::Wait(None))
        );
        assert_eq!(
            contract_timing(None, true, 0, now),
            (Some(now), ContractTiming::Due)
        );
    }

    #[test]
    fn an_upgrade_keeps_contract_steps_for_later_and_runs_them_serving_the_new_image() {
        let b = validate(&backend("image: a:2")).expect("valid");
        let mut s = step(&b, Some("id-1"), Some("a:1"));
        let r = report("id-1", &[("expand", true), ("contract", false)]);
        s.release.pending = planned(&r, "expand");
        s.release.contract = planned(&r, "contract");
        let gate = s.released("applied migrations [6]");
        assert_eq!(gate.serve.as_deref(), Some("a:2"));
        let message = s.release.message.clone().expect("message");
        assert!(
            message.contains("1 contract step(s) run after 86400 s"),
            "{message}"
        );
        // While the contract Job runs, the new version serves and stays Ready.
        s.served = Some("a:2".into());
        s.release.phase = phase::CONTRACTING.into();
        let running = s.progress(Kind::Contract);
        assert!(running.holding.is_none(), "{running:?}");
        assert_eq!(running.serve.as_deref(), Some("a:2"));
        let done = ToolReport {
            applied: vec![7],
            current: Some(7),
            ..r
        };
        let gate = s.migrated(Kind::Contract, &done);
        assert!(s.release.contract.is_empty());
        assert_eq!(s.release.phase, phase::RELEASED);
        assert_eq!(gate.database.and_then(|d| d.migration_version), Some(7));
        assert_eq!(
            s.task(Kind::Contract, "j".into()).args[..4],
            ["migrate", "up", "--phase", "contract"]
        );
    }
}
