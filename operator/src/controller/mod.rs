//! The MerchantBackend controller: wiring (caches, watches, Context) and a reconcile that reads
//! like a table of contents: validate -> build -> apply -> update_status.

pub mod analysis;
pub mod apply;
pub mod backups;
pub mod build;
pub mod cache;
pub mod diagnose;
pub mod drift;
pub mod events;
pub mod fieldsets;
pub mod ownership;
pub mod packed;
pub mod recorder;
pub mod reflect;
pub mod release;
pub mod report;
pub mod rollout;
pub mod secrets;
pub mod status;
pub mod validate;

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{Stream, StreamExt};
use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        batch::v1::Job,
        core::v1::{Pod, Secret},
    },
    jiff::Timestamp,
};
use kube::{
    Client, ResourceExt,
    runtime::{
        Controller,
        controller::{Action, Config as ControllerConfig, Error as ControllerError},
        events::Reporter,
        reflector::{ObjectRef, Store},
    },
};
use tracing::{debug, info, instrument, warn};

use self::{
    build::{Desired, build},
    cache::{Caches, ChildEvents, Touched, lookup},
    recorder::Recorder,
    status::{Observed, Verdict},
    validate::{ValidatedBackend, validate},
};
use crate::{
    crd::{APPLIED_HASH_ANNOTATION, MerchantBackend, MerchantRestore},
    data::hold,
    error::{Error, Result},
    metrics::Metrics,
};

/// Everything a reconcile needs, shared behind an `Arc`.
pub struct Context {
    /// Kubernetes client (counting requests into `metrics`).
    pub client: Client,
    /// Publishes Events on MerchantBackends.
    pub recorder: Recorder,
    /// Read-only caches of children and Secrets.
    pub caches: Caches,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Every MerchantBackend (the controller's own cache): names two of them would share.
    pub backends: Store<MerchantBackend>,
    /// MerchantRestores: an unfinished in-place restore holds its backend at zero replicas.
    pub restores: Store<MerchantRestore>,
    /// Consecutive failed reconciles per MerchantBackend (`namespace/name`), for the backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    /// `what/uid` of retained claims already announced by an Event (once per claim and process).
    pub announced: Mutex<HashSet<String>>,
    /// Per MerchantBackend: the crashing `pod/container`, its restartCount and the log lines
    /// fetched for it, so logs are read once per crash.
    pub crash_logs: Mutex<HashMap<String, diagnose::SeenCrash>>,
    /// Every revision's pod template read or stored (immutable, so kept for the process).
    pub revisions: rollout::revisions::Memo,
    /// Slots of the fleet cap.
    pub fleet: rollout::fleet::Fleet,
    /// HTTP client of the rollout analysis (Prometheus, the pods' /health/ready).
    pub http: reqwest::Client,
}

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Only these namespaces, one set of watches each (empty: all namespaces).
    pub namespaces: Vec<String>,
    /// Only watch Secrets matching this label selector (None: every Secret of the namespaces).
    pub secret_selector: Option<String>,
    /// Reconciles running at once.
    pub concurrency: u16,
    /// Event reporter instance (pod name).
    pub instance: Option<String>,
    /// Most MerchantBackends mid-rollout or mid-migration at once (None: no cap).
    pub max_concurrent_rollouts: Option<usize>,
}

/// Requeue of a settled object: a safety net only (it reads caches, so it costs no request).
const RESYNC: Duration = Duration::from_secs(600);
/// Requeue while a child is refused: a foreign object is outside our caches, so its removal
/// triggers nothing.
const REFUSED_RETRY: Duration = Duration::from_secs(30);
/// First retry after a failed reconcile; doubles per consecutive failure up to `BACKOFF_MAX`.
const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Longest wait between retries of a failing MerchantBackend.
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Run the controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let ns = settings.namespaces.as_slice();
    // One watch per kind for the whole operator; `events` carries a copy of each one's events.
    let (caches, events) = cache::start(&client, ns, settings.secret_selector.as_deref());
    let reporter = Reporter {
        controller: "merchant-operator".to_owned(),
        instance: settings.instance.clone(),
    };
    let (backend_store, backend_stream) =
        cache::backends(cache::api::<MerchantBackend>(&client, ns));
    let (restores, restore_stream) =
        cache::resources(cache::api::<MerchantRestore>(&client, ns), None);
    // The MerchantBackup and MerchantRestore controllers run alongside, over the same namespaces,
    // fed by this controller's watches (one watch per kind for the whole operator).
    let shutdown = futures::FutureExt::shared(shutdown);
    let (events, restore_stream, shared) =
        share_watches(events, restore_stream, &caches, &backend_store, &restores);
    let recorder = Recorder::new(client.clone(), reporter.clone());
    let data = crate::data::run(client.clone(), ns, recorder, shared, shutdown.clone());
    let context = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client: client.clone(),
        caches,
        metrics,
        backends: backend_store.clone(),
        restores,
        failures: Mutex::default(),
        announced: Mutex::default(),
        crash_logs: Mutex::default(),
        revisions: rollout::revisions::Memo::default(),
        fleet: rollout::fleet::Fleet::new(settings.max_concurrent_rollouts),
        http: reqwest::Client::new(),
    });
    let controller = Controller::for_stream(backend_stream, backend_store)
        .with_config(ControllerConfig::default().concurrency(settings.concurrency));
    let outcome_ctx = context.clone();
    let controller = watch_related(controller, events, restore_stream)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| report_outcome(outcome_ctx.clone(), result));
    tokio::join!(controller, data);
    info!("controller stopped");
}

/// What the data controllers get: this controller's caches and a copy of its Job, Pod and
/// MerchantRestore events.
type DataShared = crate::data::Shared<
    crate::data::Events<Job>,
    crate::data::Events<Pod>,
    crate::data::Events<MerchantRestore>,
>;

/// Split the Job, Pod and MerchantRestore watches between this controller and the data
/// controllers. Returns this controller's events (its halves in place of the originals), its
/// MerchantRestore events and what the data controllers get.
fn share_watches(
    events: ChildEvents,
    restore_stream: impl Stream<Item = Touched<MerchantRestore>> + Send + 'static,
    caches: &Caches,
    backends: &Store<MerchantBackend>,
    restores: &Store<MerchantRestore>,
) -> (
    ChildEvents,
    crate::data::Events<MerchantRestore>,
    DataShared,
) {
    let (jobs, data_jobs) = crate::data::split(events.jobs);
    let (pods, data_pods) = crate::data::split(events.pods);
    let (restore_stream, data_restores) = crate::data::split(restore_stream);
    let shared = crate::data::Shared {
        backends: backends.clone(),
        restores: restores.clone(),
        jobs: caches.jobs.clone(),
        pods: caches.pods.clone(),
        job_events: crate::data::split(data_jobs),
        pod_events: data_pods,
        restore_events: data_restores,
    };
    let events = ChildEvents {
        jobs: jobs.boxed(),
        pods: pods.boxed(),
        ..events
    };
    (events, restore_stream, shared)
}

/// Reconcile a MerchantBackend when one of its children changes, or what it depends on: its
/// uploads claim, its Secrets, its API pods, an in-place restore of it.
fn watch_related(
    controller: Controller<MerchantBackend>,
    events: ChildEvents,
    restore_stream: crate::data::Events<MerchantRestore>,
) -> Controller<MerchantBackend> {
    let backends = controller.store();
    controller
        .owns_stream(events.service_accounts)
        .owns_stream(events.config_maps)
        // By label, not ownerReference: a retained claim has none, and its phase feeds status.
        .watches_stream(events.pvcs, |pvc| owning_backend(&pvc))
        .owns_stream(events.services)
        .owns_stream(events.deployments)
        .owns_stream(events.hpas)
        .owns_stream(events.pdbs)
        .owns_stream(events.network_policies)
        .owns_stream(events.ingresses)
        .owns_stream(events.cron_jobs)
        // Migration Jobs are ours; a CronJob's runs map to their backend by the instance label.
        .watches_stream(events.jobs, |job| owning_backend(&job))
        .watches_stream(events.secrets, move |secret| {
            referencing(&backends, &secret)
        })
        .watches_stream(events.pods, |pod| owning_backend(&pod))
        // An in-place restore starting or finishing changes the backend's replicas.
        .watches_stream(restore_stream, |r| {
            Some(ObjectRef::new(&r.spec.backend_ref).within(&r.namespace()?))
        })
}

/// Log what a reconcile dispatch returned that `error_policy` did not see.
async fn report_outcome<T, E, Q>(ctx: Arc<Context>, result: Result<T, ControllerError<E, Q>>)
where
    E: std::error::Error + 'static,
    Q: std::error::Error + 'static,
{
    match result {
        Ok(_) => {}
        // Deleted (its children's deletions map here): only a retained claim is left.
        Err(ControllerError::ObjectNotFound(obj)) => {
            debug!(object = %obj, "deleted before reconcile");
            if let Some(namespace) = obj.namespace.as_deref() {
                ctx.revisions.forget_backend(namespace, &obj.name);
            }
            announce_retained_claim(&ctx, obj.namespace.as_deref(), &obj.name).await;
        }
        Err(error) => {
            warn!(error = %crate::telemetry::chain(&error), "reconcile dispatch failed")
        }
    }
}

/// MerchantBackends in the Secret's namespace that reference it.
fn referencing(
    backends: &Store<MerchantBackend>,
    secret: &Secret,
) -> Vec<ObjectRef<MerchantBackend>> {
    let namespace = secret.namespace();
    let name = secret.name_any();
    backends
        .state()
        .into_iter()
        .filter(|mb| mb.namespace() == namespace)
        .filter(|mb| validate(mb).is_ok_and(|v| v.secrets.iter().any(|s| s.source.name == name)))
        .map(|mb| ObjectRef::from_obj(mb.as_ref()))
        .collect()
}

/// The MerchantBackend an object (a pod, a claim) belongs to, from its instance label.
fn owning_backend<K: kube::Resource>(object: &K) -> Option<ObjectRef<MerchantBackend>> {
    let name = object.labels().get(crate::crd::INSTANCE_LABEL)?;
    Some(ObjectRef::new(name).within(&object.namespace()?))
}

/// After a MerchantBackend is gone, an Event on the claim it left (retainOnDelete) says it was
/// kept and how to delete it.
async fn announce_retained_claim(ctx: &Context, namespace: Option<&str>, backend: &str) {
    let Some(namespace) = namespace else { return };
    let name = build::names::uploads(backend);
    let Some(claim) = ctx.caches.pvcs.get(namespace, &name) else {
        return;
    };
    let retained = claim.owner_references().is_empty()
        && claim
            .labels()
            .get(crate::crd::INSTANCE_LABEL)
            .map(String::as_str)
            == Some(backend);
    if retained && claim.metadata.deletion_timestamp.is_none() {
        events::claim_outlived_backend(ctx, backend, &claim.metadata).await;
    }
}

#[instrument(skip(mb, ctx), fields(namespace = %mb.namespace().unwrap_or_default(), name = %mb.name_any()))]
async fn reconcile(mb: Arc<MerchantBackend>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer();
    // No request: waits for the caches' initial lists, then everything below reads them.
    ctx.caches.ready().await;
    let action = converge(&ctx, &mb).await?;
    ctx.failures
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&backend_key(&mb));
    Ok(action)
}

/// validate -> build -> apply -> update_status.
async fn converge(ctx: &Context, mb: &MerchantBackend) -> Result<Action> {
    // Pure: resolve defaults; an invalid spec stalls until the spec changes.
    let validated = match validate(mb) {
        // Cache read: an unfinished in-place MerchantRestore holds the API at zero replicas.
        Ok(v) if restore_hold(ctx, &v).is_some() => hold::apply(v),
        Ok(v) => v,
        Err(invalid) => return stall_invalid(ctx, mb, &Error::InvalidSpec(invalid)).await,
    };
    if validated.paused {
        let observed = observe(ctx, &validated, None);
        write_status(ctx, mb, Some(&validated), &Verdict::Paused, &observed).await?;
        return Ok(Action::await_change());
    }
    // Cache read: missing Secrets hold the Deployment.
    let secrets = secrets::resolve(&validated, |name| {
        lookup(&ctx.caches.secrets, &validated.namespace, name)
    });
    // Cache read: an older MerchantBackend deriving one of our names wins; we apply nothing.
    if let Some(conflict) = ownership::younger_conflict(&ctx.backends, mb) {
        let mut observed = observe(ctx, &validated, None);
        observed.refused = vec![conflict];
        let verdict = Verdict::Applied(secrets);
        write_status(ctx, mb, Some(&validated), &verdict, &observed).await?;
        return Ok(Action::requeue(REFUSED_RETRY));
    }
    // In memory: a change waits while the fleet cap's slots are taken (nothing starts, not
    // even its migrations).
    let admitted = fleet_slot(ctx, mb, &validated, &secrets)?;
    // Cache reads; a Job create or one pod list only when a release step starts or ends.
    let gate = match &secrets {
        secrets::SecretsState::Ready { .. } if admitted => {
            Some(release::gate(ctx, mb, &validated).await?)
        }
        secrets::SecretsState::Ready { .. } | secrets::SecretsState::Missing(_) => None,
    };
    let mut children = build_serving(&validated, &secrets, gate.as_ref())?; // pure
    // Cache reads; writes only when a revision is stored, a measurement taken or a rollout ends.
    let rollout = match &secrets {
        secrets::SecretsState::Ready { .. } => {
            let release = rollout::Release {
                release: gate.as_ref().and_then(|g| g.release.as_ref()),
                database: gate.as_ref().and_then(|g| g.database.as_ref()),
            };
            // Boxed: the futures of a reconcile nest deep, and a debug build's stack is small.
            Box::pin(rollout::roll(
                ctx,
                mb,
                &validated,
                &mut children,
                &release,
                admitted,
            ))
            .await?
        }
        secrets::SecretsState::Missing(_) => None,
    };
    // API writes only for children that differ (and a GET for a child missing from the cache).
    let applied = match Box::pin(apply::apply(ctx, &validated, &children)).await {
        Ok(applied) => applied,
        Err(error) => return Err(report_apply_failure(ctx, mb, &validated, &secrets, error).await),
    };
    let requeue = [
        gate.as_ref().and_then(|g| g.requeue),
        rollout.as_ref().and_then(|r| r.requeue),
    ]
    .into_iter()
    .flatten()
    .min();
    let mut observed = observe_applied(ctx, mb, &validated, &children, applied, gate).await;
    let consumed = rollout
        .as_ref()
        .map(|r| r.consumed.clone())
        .unwrap_or_default();
    observed.rollout = rollout.map(|r| (r.status, r.history));
    let refused = !observed.refused.is_empty();
    let verdict = Verdict::Applied(secrets);
    write_status(ctx, mb, Some(&validated), &verdict, &observed).await?;
    rollout::consume(ctx, mb, &consumed).await?;
    let resync = if refused { REFUSED_RETRY } else { RESYNC };
    Ok(Action::requeue(requeue.map_or(resync, |r| r.min(resync))))
}

/// Take (or keep, or give back) this backend's slot under the fleet cap. True: it may change.
fn fleet_slot(
    ctx: &Context,
    mb: &MerchantBackend,
    b: &ValidatedBackend,
    secrets: &secrets::SecretsState,
) -> Result<bool> {
    let key = backend_key(mb);
    let wants = match secrets {
        secrets::SecretsState::Ready { .. } => {
            rollout::candidate(&build(b, secrets)?).is_some_and(|c| rollout::wants_slot(mb, &c))
        }
        secrets::SecretsState::Missing(_) => false,
    };
    if !wants {
        ctx.fleet.give_back(&key);
        return Ok(true);
    }
    Ok(ctx.fleet.take(&ctx.backends, &key))
}

/// What the status reports after an apply: the children as applied and observed, why the API
/// is not ready yet, and the last backups.
async fn observe_applied(
    ctx: &Context,
    mb: &MerchantBackend,
    validated: &ValidatedBackend,
    children: &build::Children,
    applied: apply::Applied,
    gate: Option<release::Gate>,
) -> Observed {
    let mut observed = observe(ctx, validated, desired_hash(&children.deployment));
    if let Some(fresh) = applied.deployment {
        observed.deployment = Some(fresh);
    }
    observed.refused = applied.refused;
    observed.gate = gate;
    if !status::ready(&observed) {
        // Cache reads; a GET only for a pending claim's class or a new crash's logs.
        observed.cause = diagnose::diagnose(&diagnose::gather(ctx, validated).await);
    }
    // Cache reads; one pod list per backup run that finished since the last reconcile.
    observed.backup = backups::observe(ctx, mb, validated, now()).await;
    observed
}

/// The children with the image the release gate lets serve (none yet: no Deployment).
fn build_serving(
    b: &ValidatedBackend,
    secrets: &secrets::SecretsState,
    gate: Option<&release::Gate>,
) -> Result<build::Children> {
    let Some(gate) = gate else {
        return build(b, secrets);
    };
    match &gate.serve {
        Some(image) if *image == b.image => build(b, secrets),
        Some(image) => {
            let mut serving = b.clone();
            serving.image.clone_from(image);
            build(&serving, secrets)
        }
        None => {
            let mut children = build(b, secrets)?;
            children.deployment = Desired::Hold;
            Ok(children)
        }
    }
}

fn now() -> Timestamp {
    Timestamp::now()
}

fn desired_hash(deployment: &Desired<Deployment>) -> Option<String> {
    match deployment {
        Desired::Present(d) => d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(APPLIED_HASH_ANNOTATION))
            .cloned(),
        Desired::Hold | Desired::Absent => None,
    }
}

/// A child the API server refused shows in status (kind, name and the server's message) before
/// the error goes to `error_policy` for a retry with backoff.
async fn report_apply_failure(
    ctx: &Context,
    mb: &MerchantBackend,
    b: &ValidatedBackend,
    secrets: &secrets::SecretsState,
    error: Error,
) -> Error {
    let Error::ApplyChild {
        kind,
        name,
        source: kube::Error::Api(refused),
    } = &error
    else {
        return error;
    };
    let mut observed = observe(ctx, b, None);
    // Webhook messages can be long; the condition keeps the start, where the reason is.
    let message = events::truncate(&refused.message, 1024);
    observed.apply_failure = Some(format!("{kind}/{name}: {message}"));
    let verdict = Verdict::Applied(secrets.clone());
    if let Err(status_error) = write_status(ctx, mb, Some(b), &verdict, &observed).await {
        warn!(error = %crate::telemetry::chain(&status_error), "failed to report the apply failure");
    }
    error
}

async fn stall_invalid(ctx: &Context, mb: &MerchantBackend, error: &Error) -> Result<Action> {
    let message = match error {
        Error::InvalidSpec(invalid) => invalid.to_string(),
        other => other.to_string(),
    };
    warn!(error = %message, "invalid MerchantBackend spec");
    let verdict = Verdict::Invalid(message);
    write_status(ctx, mb, None, &verdict, &Observed::default()).await?;
    Ok(Action::await_change())
}

/// Status from what was observed, written only if it differs from what the object shows
/// (returns whether a write was issued).
async fn write_status(
    ctx: &Context,
    mb: &MerchantBackend,
    validated: Option<&ValidatedBackend>,
    verdict: &Verdict,
    observed: &Observed,
) -> Result<bool> {
    let status = status::compute(mb, validated, verdict, observed, now());
    status::update(ctx, mb, status).await
}

/// The children as the caches currently show them.
fn observe(
    ctx: &Context,
    b: &ValidatedBackend,
    desired_deployment_hash: Option<String>,
) -> Observed {
    let c = &ctx.caches;
    Observed {
        deployment: c
            .deployments
            .get(&b.namespace, &b.name)
            .map(|d| cache::unstash_deployment(&d)),
        desired_deployment_hash,
        public_service: c.services.get(&b.namespace, &b.name),
        ingress: c.ingresses.get(&b.namespace, &b.name),
        min_replicas: b.autoscaling.as_ref().map(|a| a.min_replicas),
        restore_hold: restore_hold(ctx, b),
        ..Observed::default()
    }
}

/// The unfinished in-place MerchantRestore holding this backend, if any (cache read).
fn restore_hold(ctx: &Context, b: &ValidatedBackend) -> Option<String> {
    hold::held(&ctx.restores.state(), &b.namespace, &b.name)
}

fn backend_key(mb: &MerchantBackend) -> String {
    format!("{}/{}", mb.namespace().unwrap_or_default(), mb.name_any())
}

/// Delay before retry `failures` (1 = first failure): `BACKOFF_BASE` doubling up to `BACKOFF_MAX`.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1 << doublings).min(BACKOFF_MAX)
}

/// Failures are retried with exponential backoff per MerchantBackend (reset by a successful
/// reconcile); the error is logged and counted by category.
fn error_policy(mb: Arc<MerchantBackend>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failure(error.category());
    let failures = {
        let mut failures = ctx
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = failures.entry(backend_key(&mb)).or_insert(0);
        *count = count.saturating_add(1);
        *count
    };
    let delay = backoff(failures);
    warn!(
        namespace = %mb.namespace().unwrap_or_default(),
        name = %mb.name_any(),
        category = error.category(),
        error = %crate::telemetry::chain(error),
        retry_in_s = delay.as_secs(),
        "reconcile failed"
    );
    Action::requeue(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_five_seconds_to_five_minutes() {
        let delays: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(delays, vec![5, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }
}
