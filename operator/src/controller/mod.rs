//! The MerchantBackend controller: wiring (caches, watches, Context) and a reconcile that reads
//! like a table of contents: validate -> build -> apply -> update_status.

pub mod apply;
pub mod build;
pub mod cache;
pub mod drift;
pub mod fieldsets;
pub mod reflect;
pub mod secrets;
pub mod status;
pub mod validate;

use std::{future::Future, sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        autoscaling::v2::HorizontalPodAutoscaler,
        core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount},
        networking::v1::{Ingress, NetworkPolicy},
        policy::v1::PodDisruptionBudget,
    },
    jiff::Timestamp,
};
use kube::{
    Client, ResourceExt,
    core::PartialObjectMeta,
    runtime::{
        Controller,
        controller::{Action, Config as ControllerConfig},
        events::{Recorder, Reporter},
        reflector::{ObjectRef, Store},
    },
};
use tracing::{debug, info, instrument, warn};

use self::{
    build::{Desired, build},
    cache::{Caches, lookup},
    status::{Observed, Verdict},
    validate::{ValidatedBackend, validate},
};
use crate::{
    crd::{APPLIED_HASH_ANNOTATION, MerchantBackend},
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
}

/// Requeue of a settled object: a safety net only (it reads caches, so it costs no request).
const RESYNC: Duration = Duration::from_secs(600);

/// Run the controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let ns = settings.namespaces.as_slice();
    let (secrets, secret_stream) = cache::secrets(
        cache::api::<Secret>(&client, ns),
        settings.secret_selector.as_deref(),
    );
    let (service_accounts, sa_stream) = cache::children(
        cache::api::<PartialObjectMeta<ServiceAccount>>(&client, ns),
        cache::keep,
    );
    let (config_maps, cm_stream) = cache::children(
        cache::api::<PartialObjectMeta<ConfigMap>>(&client, ns),
        cache::keep,
    );
    let (pvcs, pvc_stream) = cache::children(
        cache::api::<PartialObjectMeta<PersistentVolumeClaim>>(&client, ns),
        cache::keep,
    );
    let (services, svc_stream) =
        cache::children(cache::api::<Service>(&client, ns), cache::drop_service_spec);
    let (deployments, deploy_stream) = cache::children(
        cache::api::<Deployment>(&client, ns),
        cache::prune_deployment,
    );
    let (hpas, hpa_stream) = cache::children(
        cache::api::<PartialObjectMeta<HorizontalPodAutoscaler>>(&client, ns),
        cache::keep,
    );
    let (pdbs, pdb_stream) = cache::children(
        cache::api::<PartialObjectMeta<PodDisruptionBudget>>(&client, ns),
        cache::keep,
    );
    let (network_policies, np_stream) = cache::children(
        cache::api::<PartialObjectMeta<NetworkPolicy>>(&client, ns),
        cache::keep,
    );
    let (ingresses, ing_stream) =
        cache::children(cache::api::<Ingress>(&client, ns), cache::drop_ingress_spec);
    let (synced_tx, synced) = tokio::sync::watch::channel(false);
    let caches = Caches {
        synced,
        secrets,
        service_accounts,
        config_maps,
        pvcs,
        services,
        deployments,
        hpas,
        pdbs,
        network_policies,
        ingresses,
    };
    let gate = caches.clone();
    tokio::spawn(async move {
        gate.wait_for_initial_lists().await;
        let _ = synced_tx.send(true);
    });
    let reporter = Reporter {
        controller: "merchant-operator".to_owned(),
        instance: settings.instance.clone(),
    };
    let context = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client: client.clone(),
        caches,
        metrics,
    });
    let (backend_store, backend_stream) =
        cache::backends(cache::api::<MerchantBackend>(&client, ns));
    let controller = Controller::for_stream(backend_stream, backend_store)
        .with_config(ControllerConfig::default().concurrency(settings.concurrency));
    let backends = controller.store();
    controller
        .owns_stream(sa_stream)
        .owns_stream(cm_stream)
        .owns_stream(pvc_stream)
        .owns_stream(svc_stream)
        .owns_stream(deploy_stream)
        .owns_stream(hpa_stream)
        .owns_stream(pdb_stream)
        .owns_stream(np_stream)
        .owns_stream(ing_stream)
        .watches_stream(secret_stream, move |secret| referencing(&backends, &secret))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            match result {
                Ok(_) => {}
                // The object was deleted while queued: nothing to do.
                Err(kube::runtime::controller::Error::ObjectNotFound(obj)) => {
                    debug!(object = %obj, "deleted before reconcile")
                }
                Err(error) => {
                    warn!(error = %crate::telemetry::chain(&error), "reconcile dispatch failed")
                }
            }
        })
        .await;
    info!("controller stopped");
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

#[instrument(skip(mb, ctx), fields(namespace = %mb.namespace().unwrap_or_default(), name = %mb.name_any()))]
async fn reconcile(mb: Arc<MerchantBackend>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer();
    // No request: waits for the caches' initial lists, then everything below reads them.
    ctx.caches.ready().await;
    // Pure: resolve defaults; an invalid spec stalls until the spec changes.
    let validated = match validate(&mb) {
        Ok(v) => v,
        Err(invalid) => return stall_invalid(&ctx, &mb, &Error::InvalidSpec(invalid)).await,
    };
    if validated.paused {
        let status = status::compute(
            &mb,
            Some(&validated),
            &Verdict::Paused,
            &observe(&ctx, &validated, None),
            Timestamp::now(),
        );
        status::update(&ctx, &mb, status).await?; // API write only if the status differs
        return Ok(Action::await_change());
    }
    // Cache read: missing Secrets hold the Deployment.
    let secrets = secrets::resolve(&validated, |name| {
        lookup(&ctx.caches.secrets, &validated.namespace, name)
    });
    let children = build(&validated, &secrets)?; // pure
    let applied = apply::apply(&ctx, &validated, &children).await?; // API writes only for children that differ
    let desired_hash = match &children.deployment {
        Desired::Present(d) => d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(APPLIED_HASH_ANNOTATION))
            .cloned(),
        Desired::Hold | Desired::Absent => None,
    };
    let mut observed = observe(&ctx, &validated, desired_hash);
    if let Some(fresh) = applied.deployment {
        observed.deployment = Some(fresh);
    }
    let status = status::compute(
        &mb,
        Some(&validated),
        &Verdict::Applied(secrets),
        &observed,
        Timestamp::now(),
    );
    status::update(&ctx, &mb, status).await?; // API write only if the status differs
    Ok(Action::requeue(RESYNC))
}

async fn stall_invalid(ctx: &Context, mb: &MerchantBackend, error: &Error) -> Result<Action> {
    let message = match error {
        Error::InvalidSpec(invalid) => invalid.to_string(),
        other => other.to_string(),
    };
    warn!(error = %message, "invalid MerchantBackend spec");
    let status = status::compute(
        mb,
        None,
        &Verdict::Invalid(message),
        &Observed::default(),
        Timestamp::now(),
    );
    status::update(ctx, mb, status).await?;
    Ok(Action::await_change())
}

/// The children as the caches currently show them.
fn observe(
    ctx: &Context,
    b: &ValidatedBackend,
    desired_deployment_hash: Option<String>,
) -> Observed {
    let c = &ctx.caches;
    Observed {
        deployment: lookup(&c.deployments, &b.namespace, &b.name)
            .map(|d| cache::unstash_deployment(&d)),
        desired_deployment_hash,
        public_service: lookup(&c.services, &b.namespace, &b.name).map(|s| (*s).clone()),
        ingress: lookup(&c.ingresses, &b.namespace, &b.name).map(|i| (*i).clone()),
        min_replicas: b.autoscaling.as_ref().map(|a| a.min_replicas),
    }
}

/// Transient failures are retried with a delay; the error is logged and counted by category.
fn error_policy(mb: Arc<MerchantBackend>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failure(error.category());
    warn!(
        namespace = %mb.namespace().unwrap_or_default(),
        name = %mb.name_any(),
        category = error.category(),
        error = %crate::telemetry::chain(error),
        "reconcile failed"
    );
    Action::requeue(Duration::from_secs(10))
}
