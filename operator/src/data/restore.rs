//! `MerchantRestore` reconcile: resolve the backend and what to restore -> (in place: wait
//! until the held API pods are gone) -> build the restore Job (pure) -> create it once ->
//! status from the Job, its pod and the tool's report.

use std::sync::Arc;

use k8s_openapi::{api::batch::v1::Job, jiff::Timestamp};
use kube::{
    ResourceExt,
    runtime::{
        controller::Action,
        reflector::{ObjectRef, Store},
    },
};
use tracing::instrument;

use super::{
    Context, Error,
    backup::owned_by,
    drive, hold, next,
    run::{self, Blocked, RunView},
};
use crate::{
    controller::{
        build::task::{REPORT_PATH, Task, job},
        cache,
        validate::ValidatedBackend,
    },
    crd::{MerchantBackend, MerchantBackup, MerchantRestore, MerchantRestoreStatus, Phase},
};

/// `app.kubernetes.io/component` of restore Jobs.
pub const COMPONENT: &str = "restore";
/// Deadline of a restore when the backend has no spec.backup (6 hours, the backup default).
const DEFAULT_DEADLINE_SECONDS: i64 = 21_600;

/// Reconcile one MerchantRestore.
///
/// # Errors
/// Creating the Job, reading it, or writing status failed (retried).
#[instrument(skip(mrs, ctx), fields(namespace = %mrs.namespace().unwrap_or_default(), name = %mrs.name_any()))]
pub async fn reconcile(mrs: Arc<MerchantRestore>, ctx: Arc<Context>) -> Result<Action, Error> {
    let before = mrs.status.as_ref().and_then(|s| s.phase);
    if before.is_some_and(Phase::is_terminal) {
        return Ok(Action::await_change()); // terminal: no reads, no writes
    }
    let namespace = mrs.namespace().unwrap_or_default();
    let job_name = run::job_name(&mrs.name_any(), &mrs.uid().unwrap_or_default());
    let recorded = mrs.status.as_ref().and_then(|s| s.job_name.as_deref());
    // Cache reads; one API write when the Job starts.
    let view = drive(&ctx, &namespace, &job_name, recorded, || {
        plan(&ctx, &mrs, &job_name)
    })
    .await?;
    let status = status(&mrs, &view, Timestamp::now());
    run::update_status(&ctx, mrs.as_ref(), mrs.status.as_ref(), status).await?; // API write only on change
    run::announce(&ctx, mrs.as_ref(), before, &view).await;
    Ok(next(&view))
}

/// What to restore from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// One backup folder.
    Folder(String),
    /// The newest good backup under this parent (`--latest`).
    Latest(String),
    /// The newest backup before the time under this parent, plus the captured changes up to
    /// it (`--until`).
    Until(String, String),
}

/// Where to restore into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A new database with a new identity.
    NewDatabase(String),
    /// The serving database, replaced (`--drop`), refused unless it carries `expect` (if any).
    InPlace {
        /// `--expect-identity`.
        expect: Option<String>,
    },
}

/// The restore Job, or why none can run yet (or ever).
fn plan(ctx: &Context, mrs: &MerchantRestore, job_name: &str) -> Result<Job, Blocked> {
    let namespace = mrs.namespace().unwrap_or_default();
    let (mb, b) = super::backend(ctx, &namespace, &mrs.spec.backend_ref)?;
    let named = mrs
        .spec
        .backup
        .as_deref()
        .filter(|s| !s.starts_with("s3://"))
        .map(|name| cache::lookup(&ctx.backups, &namespace, name));
    let source = match mrs.spec.until.as_deref() {
        Some(until) => point_in_time(until, &b)?,
        None => source(
            mrs.spec.backup.as_deref(),
            named.as_ref().map(Option::as_deref),
            &b,
        )?,
    };
    let target = target(mrs, &mb, &b);
    if matches!(target, Target::InPlace { .. }) {
        let pods = hold::api_pods(&ctx.pods, &namespace, &b.name);
        if pods > 0 {
            return Err(Blocked::Wait(format!(
                "waiting for {pods} API pod(s) of MerchantBackend {} to stop (held at zero replicas during the restore)",
                b.name
            )));
        }
    }
    Ok(owned_by(restore_job(&b, job_name, &source, &target), mrs))
}

/// A point-in-time restore from the backend's destination (pure).
pub fn point_in_time(until: &str, b: &ValidatedBackend) -> Result<Source, Blocked> {
    let time: Timestamp = until.parse().map_err(|e| {
        Blocked::Refuse(format!(
            "spec.until: {until:?} is not an RFC 3339 time such as 2026-12-06T02:30:00Z ({e})"
        ))
    })?;
    let backup = b.backup.as_ref().ok_or_else(|| {
        Blocked::Refuse(format!(
            "spec.until: MerchantBackend {} has no spec.backup.destination holding backups and captured changes",
            b.name
        ))
    })?;
    Ok(Source::Until(backup.location.clone(), time.to_string()))
}

/// What spec.backup names (pure). `named`: the MerchantBackup cache entry when spec.backup is a
/// name.
pub fn source(
    spec_backup: Option<&str>,
    named: Option<Option<&MerchantBackup>>,
    b: &ValidatedBackend,
) -> Result<Source, Blocked> {
    match (spec_backup, named) {
        (Some(location), _) if location.starts_with("s3://") => Ok(Source::Folder(location.to_owned())),
        (Some(name), Some(found)) => {
            let Some(found) = found else {
                return Err(Blocked::Wait(format!("spec.backup: MerchantBackup {name} does not exist")));
            };
            let status = found.status.clone().unwrap_or_default();
            match (status.phase, status.location) {
                (Some(Phase::Succeeded), Some(location)) => Ok(Source::Folder(location)),
                (Some(Phase::Failed), _) => Err(Blocked::Refuse(format!("spec.backup: MerchantBackup {name} failed"))),
                _ => Err(Blocked::Wait(format!("spec.backup: waiting for MerchantBackup {name} to succeed"))),
            }
        }
        (Some(_), None) | (None, _) => b.backup.as_ref().map(|d| Source::Latest(d.location.clone())).ok_or_else(|| {
            Blocked::Refuse(format!(
                "spec.backup is omitted and MerchantBackend {} has no spec.backup.destination to take the newest backup from",
                b.name
            ))
        }),
    }
}

/// Where to restore (pure): the serving database in place, else spec.targetDatabase or
/// `<backend>_restore_<id>`.
pub fn target(mrs: &MerchantRestore, mb: &MerchantBackend, b: &ValidatedBackend) -> Target {
    if mrs.spec.in_place == Some(true) {
        let expect = if mrs.spec.accept_identity_change == Some(true) {
            None
        } else {
            b.migrations
                .accept_identity
                .clone()
                .or_else(|| recorded_identity(mb))
        };
        return Target::InPlace { expect };
    }
    Target::NewDatabase(mrs.spec.target_database.clone().unwrap_or_else(|| {
        format!(
            "{}_restore_{}",
            b.name.replace('-', "_"),
            run::short_id(&mrs.uid().unwrap_or_default())
        )
    }))
}

/// The database identity the MerchantBackend recorded (its migration Jobs report it).
pub fn recorded_identity(mb: &MerchantBackend) -> Option<String> {
    mb.status.as_ref()?.database.as_ref()?.identity.clone()
}

/// `merchant-api restore` arguments (pure; contract: docs/backups.md).
pub fn restore_args(source: &Source, target: &Target, uploads: bool) -> Vec<String> {
    let mut args = vec!["restore".to_owned(), "--from".to_owned()];
    match source {
        Source::Folder(location) => args.push(location.clone()),
        Source::Latest(parent) => args.extend([parent.clone(), "--latest".to_owned()]),
        Source::Until(parent, time) => {
            args.extend([parent.clone(), "--until".to_owned(), time.clone()]);
        }
    }
    match target {
        Target::NewDatabase(db) => {
            args.extend(["--db".to_owned(), db.clone(), "--new-identity".to_owned()])
        }
        Target::InPlace { expect } => {
            args.push("--drop".to_owned());
            if let Some(id) = expect {
                args.extend(["--expect-identity".to_owned(), id.clone()]);
            }
        }
    }
    if uploads {
        args.push("--restore-uploads".to_owned());
    }
    args.extend(["--report".to_owned(), REPORT_PATH.to_owned()]);
    args
}

/// The restore Job (pure): the backend's environment (its database), the backup destination's
/// credentials when the backend has spec.backup.
pub fn restore_job(b: &ValidatedBackend, job_name: &str, source: &Source, target: &Target) -> Job {
    let task = Task {
        name: job_name.to_owned(),
        component: COMPONENT,
        image: b.image.clone(),
        args: restore_args(source, target, restores_uploads(b, target)),
        env: Vec::new(),
        deadline_seconds: b
            .backup
            .as_ref()
            .map_or(DEFAULT_DEADLINE_SECONDS, |d| d.deadline_seconds),
        retries: 0,
        ttl_seconds: None,
        backup: b.backup.clone(),
        uploads: restores_uploads(b, target),
    };
    job(b, &task)
}

/// An in-place restore puts the uploads back on the backend's claim (free: the API is at zero
/// replicas); a restore into a new database leaves the serving files alone.
fn restores_uploads(b: &ValidatedBackend, target: &Target) -> bool {
    matches!(target, Target::InPlace { .. }) && b.uploads.is_some()
}

/// Unfinished restores naming MerchantBackup `backup` (its success lets them start).
pub fn waiting_on_backup(
    restores: &Store<MerchantRestore>,
    backup: &MerchantBackup,
) -> Vec<ObjectRef<MerchantRestore>> {
    let name = backup.name_any();
    restores
        .state()
        .iter()
        .filter(|r| {
            r.namespace() == backup.namespace() && r.spec.backup.as_deref() == Some(name.as_str())
        })
        .filter(|r| {
            !r.status
                .as_ref()
                .and_then(|s| s.phase)
                .is_some_and(Phase::is_terminal)
        })
        .map(|r| ObjectRef::from_obj(r.as_ref()))
        .collect()
}

/// The status the run shows (pure).
pub fn status(mrs: &MerchantRestore, view: &RunView, now: Timestamp) -> MerchantRestoreStatus {
    let previous = mrs
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let generation = mrs.metadata.generation;
    let r = view.report.clone().unwrap_or_default();
    MerchantRestoreStatus {
        observed_generation: generation,
        phase: Some(view.phase),
        conditions: view.conditions(previous, generation, now),
        job_name: view.job_name.clone(),
        location: r.location,
        database: r.database,
        documents: r.documents,
        duration_seconds: view.duration_seconds(),
        start_time: view.start_time.clone(),
        completion_time: view.completion_time.clone(),
        message: view.message.clone(),
        error: view.error.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{controller::validate::validate, crd::MerchantRestoreSpec, fixtures::backend};

    fn backed_up() -> (MerchantBackend, ValidatedBackend) {
        let mb = backend("image: a:1\nbackup: {destination: {bucket: backups, prefix: shop}}");
        let b = validate(&mb).expect("valid");
        (mb, b)
    }

    fn restore(spec: MerchantRestoreSpec) -> MerchantRestore {
        let mut r = MerchantRestore::new("r", spec);
        r.metadata.uid = Some("uid-r".into());
        r
    }

    #[test]
    fn an_omitted_backup_restores_the_newest_into_a_new_database() {
        let (mb, b) = backed_up();
        let r = restore(MerchantRestoreSpec {
            backend_ref: "shop".into(),
            ..Default::default()
        });
        let source = source(None, None, &b).expect("newest");
        assert_eq!(source, Source::Latest("s3://backups/shop".into()));
        let target = target(&r, &mb, &b);
        let args = restore_args(&source, &target, restores_uploads(&b, &target));
        let db = format!("shop_restore_{}", run::short_id("uid-r"));
        assert_eq!(
            args,
            [
                "restore",
                "--from",
                "s3://backups/shop",
                "--latest",
                "--db",
                &db,
                "--new-identity",
                "--report",
                REPORT_PATH
            ]
        );
    }

    #[test]
    fn in_place_drops_and_expects_the_accepted_identity() {
        let mut mb = backend(
            "image: a:1\nuploads: {}\nbackup: {destination: {bucket: backups}}\nmigrations: {acceptDatabaseIdentity: id-1}",
        );
        mb.metadata.name = Some("shop".into());
        let b = validate(&mb).expect("valid");
        let mut spec = MerchantRestoreSpec {
            backend_ref: "shop".into(),
            in_place: Some(true),
            ..Default::default()
        };
        let t = target(&restore(spec.clone()), &mb, &b);
        assert_eq!(
            t,
            Target::InPlace {
                expect: Some("id-1".into())
            }
        );
        let args = restore_args(
            &Source::Folder("s3://b/p/1".into()),
            &t,
            restores_uploads(&b, &t),
        );
        assert!(args.windows(2).any(|w| w == ["--expect-identity", "id-1"]));
        assert!(args.contains(&"--drop".to_owned()));
        // The uploads come back with the data, onto the claim the held API pods released.
        assert!(args.contains(&"--restore-uploads".to_owned()), "{args:?}");
        let job = restore_job(&b, "j", &Source::Folder("s3://b/p/1".into()), &t);
        let volumes = job
            .spec
            .and_then(|s| s.template.spec?.volumes)
            .unwrap_or_default();
        let uploads = volumes
            .iter()
            .find(|v| v.name == "uploads")
            .expect("uploads volume");
        assert!(uploads.persistent_volume_claim.is_some(), "{uploads:?}");
        spec.accept_identity_change = Some(true);
        assert_eq!(
            target(&restore(spec), &mb, &b),
            Target::InPlace { expect: None }
        );
    }

    #[test]
    fn a_named_backup_is_used_only_once_it_succeeded() {
        let (_, b) = backed_up();
        let mut mbk = MerchantBackup::new("nightly", crate::crd::MerchantBackupSpec::default());
        assert!(matches!(
            source(Some("nightly"), Some(Some(&mbk)), &b),
            Err(Blocked::Wait(_))
        ));
        assert!(matches!(
            source(Some("nightly"), Some(None), &b),
            Err(Blocked::Wait(_))
        ));
        mbk.status = Some(crate::crd::MerchantBackupStatus {
            phase: Some(Phase::Failed),
            ..Default::default()
        });
        assert!(matches!(
            source(Some("nightly"), Some(Some(&mbk)), &b),
            Err(Blocked::Refuse(_))
        ));
        mbk.status = Some(crate::crd::MerchantBackupStatus {
            phase: Some(Phase::Succeeded),
            location: Some("s3://backups/shop/1".into()),
            ..Default::default()
        });
        assert_eq!(
            source(Some("nightly"), Some(Some(&mbk)), &b),
            Ok(Source::Folder("s3://backups/shop/1".into()))
        );
    }

    #[test]
    fn without_spec_backup_only_an_explicit_location_can_be_restored() {
        let b = validate(&backend("image: a:1")).expect("valid");
        let Err(Blocked::Refuse(why)) = source(None, None, &b) else {
            panic!("refused")
        };
        assert!(why.contains("spec.backup"), "{why}");
        assert_eq!(
            source(Some("s3://x/y/z"), None, &b),
            Ok(Source::Folder("s3://x/y/z".into()))
        );
    }

    #[test]
    fn a_point_in_time_restore_replays_up_to_an_rfc3339_time() {
        let (_, b) = backed_up();
        let source = point_in_time("2026-12-06T02:30:00Z", &b).expect("valid");
        let args = restore_args(&source, &Target::NewDatabase("copy".into()), false);
        assert_eq!(
            args[..5],
            [
                "restore",
                "--from",
                "s3://backups/shop",
                "--until",
                "2026-12-06T02:30:00Z"
            ]
        );
        let Err(Blocked::Refuse(why)) = point_in_time("yesterday", &b) else {
            panic!("refused");
        };
        assert!(why.starts_with("spec.until:"), "{why}");
        let bare = validate(&backend("image: a:1")).expect("valid");
        let Err(Blocked::Refuse(why)) = point_in_time("2026-12-06T02:30:00Z", &bare) else {
            panic!("refused");
        };
        assert!(why.contains("spec.backup.destination"), "{why}");
    }
}
