//! The on-demand data runs: `MerchantBackup` and `MerchantRestore` controllers. Each resource
//! runs exactly one Job of the API image's data tools (docs/backups.md) and reports what the
//! Job and its pod observed. Started by `controller::run` next to the MerchantBackend controller
//! (so only while leading, over the same namespaces) and fed by its watches: the MerchantBackend,
//! MerchantRestore, Job and Pod caches are the controller's own (`Shared`), only MerchantBackups
//! are watched here. The in-place restore hold the MerchantBackend controller applies lives in
//! `hold`.

pub mod backup;
pub mod hold;
pub mod restore;
pub mod run;

use std::{future::Future, sync::Arc, time::Duration};

use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::{batch::v1::Job, core::v1::Pod};
use kube::{
    Client, ResourceExt,
    runtime::{Controller, controller::Action, reflector::Store},
};
use tracing::{debug, warn};

use crate::{
    controller::{
        cache::{self, Touched},
        packed::PackedStore,
        recorder::Recorder,
        validate::{ValidatedBackend, validate},
    },
    crd::{MerchantBackend, MerchantBackup, MerchantRestore},
};

/// Anything a backup or restore reconcile can fail with (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Creating the run's Job failed.
    #[error("failed to create Job {name}")]
    CreateJob {
        /// Job name.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Reading a Job missing from the cache failed.
    #[error("failed to read Job {name}")]
    GetJob {
        /// Job name.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Writing the status subresource failed.
    #[error("failed to patch {kind} status")]
    PatchStatus {
        /// MerchantBackup or MerchantRestore.
        kind: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// The MerchantBackend spec could not be serialized for the backup's manifest.
    #[error("failed to serialize the MerchantBackend spec")]
    SerializeSpec(#[source] serde_json::Error),
}

impl Error {
    /// Bounded label: the variant name.
    pub fn category(&self) -> &'static str {
        match self {
            Self::CreateJob { .. } => "CreateJob",
            Self::GetJob { .. } => "GetJob",
            Self::PatchStatus { .. } => "PatchStatus",
            Self::SerializeSpec(_) => "SerializeSpec",
        }
    }
}

/// What the backup and restore reconciles read and write with.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Publishes Events on MerchantBackups and MerchantRestores.
    pub recorder: Recorder,
    /// MerchantBackends (cache).
    pub backends: Store<MerchantBackend>,
    /// MerchantBackups (cache): a restore reads a named backup's location.
    pub backups: Store<MerchantBackup>,
    /// Jobs of the operator (the MerchantBackend controller's cache: status only).
    pub jobs: PackedStore<Job>,
    /// Pods of the operator (the MerchantBackend controller's cache): an in-place restore waits
    /// until the API pods are gone.
    pub pods: PackedStore<Pod>,
}

/// What the MerchantBackend controller shares: its caches and a copy of each watch's events.
pub struct Shared<J, P, R> {
    /// MerchantBackends.
    pub backends: Store<MerchantBackend>,
    /// MerchantRestores.
    pub restores: Store<MerchantRestore>,
    /// Jobs (status only).
    pub jobs: PackedStore<Job>,
    /// Pods (pruned).
    pub pods: PackedStore<Pod>,
    /// Two copies of the Job events: the backup and the restore controller.
    pub job_events: (J, J),
    /// Pod events (the restore controller: an API pod going lets an in-place restore start).
    pub pod_events: P,
    /// MerchantRestore events.
    pub restore_events: R,
}

/// Requeue of a run waiting for something outside its watches (a backend created later).
const WAIT_RETRY: Duration = Duration::from_secs(15);
/// Retry after a failed reconcile.
const ERROR_RETRY: Duration = Duration::from_secs(10);

/// Run both controllers until `shutdown` resolves.
pub async fn run<J, P, R>(
    client: Client,
    namespaces: &[String],
    recorder: Recorder,
    shared: Shared<J, P, R>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) where
    J: Stream<Item = Touched<Job>> + Send + 'static,
    P: Stream<Item = Touched<Pod>> + Send + 'static,
    R: Stream<Item = Touched<MerchantRestore>> + Send + 'static,
{
    let (backups, backup_stream) =
        cache::resources(cache::api::<MerchantBackup>(&client, namespaces), None);
    let ctx = Arc::new(Context {
        client,
        recorder,
        backends: shared.backends,
        backups: backups.clone(),
        jobs: shared.jobs,
        pods: shared.pods,
    });
    let (backup_stream, backup_stream2) = split(backup_stream);
    let shutdown = shutdown.shared();
    let restores = shared.restores;
    let restore_store = restores.clone();
    let waiting = restores.clone();
    let (backup_jobs, restore_jobs) = shared.job_events;
    // A run follows its Job (ownerReference); the report is read when the Job finishes.
    let backup_controller = Controller::for_stream(backup_stream, backups)
        .owns_stream(backup_jobs)
        .graceful_shutdown_on(shutdown.clone())
        .run(backup::reconcile, error_policy, ctx.clone())
        .for_each(log_dispatch);
    let restore_controller = Controller::for_stream(shared.restore_events, restores)
        .owns_stream(restore_jobs)
        // An API pod going lets a waiting in-place restore start.
        .watches_stream(shared.pod_events, move |pod| {
            hold::restores_waiting_on(&restore_store, &pod)
        })
        // A named MerchantBackup that succeeds releases the restores waiting for it.
        .watches_stream(backup_stream2, move |b| {
            restore::waiting_on_backup(&waiting, &b)
        })
        .graceful_shutdown_on(shutdown)
        .run(restore::reconcile, error_policy, ctx.clone())
        .for_each(log_dispatch);
    tokio::join!(backup_controller, restore_controller);
}

/// One copy of a watch's events.
pub type Events<K> = futures::channel::mpsc::UnboundedReceiver<Touched<K>>;

/// Both halves see every object of `stream` (kube's shared streams are behind an unstable
/// flag). Watch errors stay behind: the reflector logs them and retries with backoff.
pub fn split<K: Clone + Send + 'static>(
    stream: impl futures::Stream<Item = Touched<K>> + Send + 'static,
) -> (Events<K>, Events<K>) {
    let (tx1, rx1) = futures::channel::mpsc::unbounded();
    let (tx2, rx2) = futures::channel::mpsc::unbounded();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            let Ok(object) = item else { continue };
            let first = tx1.unbounded_send(Ok(object.clone())).is_ok();
            let second = tx2.unbounded_send(Ok(object)).is_ok();
            if !first && !second {
                break; // both controllers stopped (shutdown): stop watching
            }
        }
    });
    (rx1, rx2)
}

async fn log_dispatch<T: std::fmt::Debug, E: std::error::Error>(result: Result<T, E>) {
    match result {
        Ok(obj) => debug!(object = ?obj, "run reconciled"),
        Err(error) => debug!(error = %crate::telemetry::chain(&error), "run dispatch"),
    }
}

fn error_policy<K: ResourceExt>(obj: Arc<K>, error: &Error, _ctx: Arc<Context>) -> Action {
    warn!(
        namespace = %obj.namespace().unwrap_or_default(),
        name = %obj.name_any(),
        category = error.category(),
        error = %crate::telemetry::chain(error),
        "run reconcile failed"
    );
    Action::requeue(ERROR_RETRY)
}

/// The referenced MerchantBackend, valid, or why the run waits (naming spec.backendRef).
fn backend(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<(Arc<MerchantBackend>, ValidatedBackend), run::Blocked> {
    let Some(mb) = cache::lookup(&ctx.backends, namespace, name) else {
        return Err(run::Blocked::Wait(format!(
            "spec.backendRef: MerchantBackend {name} does not exist in namespace {namespace}"
        )));
    };
    match validate(&mb) {
        Ok(v) => Ok((mb, v)),
        Err(invalid) => Err(run::Blocked::Wait(format!(
            "spec.backendRef: MerchantBackend {name} is invalid ({invalid})"
        ))),
    }
}

/// Observe the run's Job, or start it when `plan` says it may: the one place a Job is created,
/// so a resource never runs twice. `recorded` is the Job name in status (a Job created earlier).
async fn drive(
    ctx: &Context,
    namespace: &str,
    job_name: &str,
    recorded: Option<&str>,
    plan: impl FnOnce() -> Result<Job, run::Blocked>,
) -> Result<run::RunView, Error> {
    // The controller's caches may still be listing: a Job not yet listed is not a missing one.
    futures::join!(ctx.jobs.wait_until_ready(), ctx.pods.wait_until_ready());
    if let Some(job) = ctx.jobs.get(namespace, job_name) {
        return Ok(run::observe_job(ctx, namespace, &job).await); // cache read (+ report once)
    }
    if recorded.is_some() {
        // Created earlier and not in the cache (yet, or deleted): ask the API server once.
        return Ok(match run::job_exists(ctx, namespace, job_name).await? {
            Some(job) => run::observe_job(ctx, namespace, &job).await,
            None => run::RunView {
                job_name: Some(job_name.to_owned()),
                ..run::RunView::refused(format!("Job {job_name} was deleted before it finished"))
            },
        });
    }
    match plan() {
        Ok(job) => {
            run::create_job(ctx, &job).await?; // API write, once per resource
            Ok(run::RunView {
                phase: crate::crd::Phase::Running,
                job_name: Some(job_name.to_owned()),
                message: Some(format!("Job {job_name} created")),
                ..run::RunView::default()
            })
        }
        Err(blocked) => Ok(blocked.into()),
    }
}

/// Requeue after a reconcile that left the run in `phase`.
fn next(view: &run::RunView) -> Action {
    match view.phase {
        crate::crd::Phase::Pending => Action::requeue(WAIT_RETRY),
        crate::crd::Phase::Running => Action::requeue(Duration::from_secs(300)),
        crate::crd::Phase::Succeeded | crate::crd::Phase::Failed => Action::await_change(),
    }
}
