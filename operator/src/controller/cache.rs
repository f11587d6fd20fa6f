//! The controller's caches: reflectors over the children (selected by the managed-by label, with
//! managedFields reduced to our own manager's field set, which drift detection reads) and over
//! Secrets, each fed by one watcher per watched namespace (`reflect`). Reconcile reads only
//! these, so a reconcile with nothing changed issues no API request at all. Kinds whose status
//! we read are watched in full, the others as metadata only (enough for the applied-hash check);
//! children are pruned to the fields actually read and held packed (`packed`), which keeps RSS
//! small.

use std::fmt::Debug;

use futures::{Stream, StreamExt};
use k8s_openapi::api::{
    apps::v1::Deployment,
    autoscaling::v2::HorizontalPodAutoscaler,
    batch::v1::{CronJob, Job},
    core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount},
    networking::v1::{Ingress, NetworkPolicy},
    policy::v1::PodDisruptionBudget,
};
use k8s_openapi::{
    ByteString,
    api::core::v1::{Container, PodSpec, PodTemplateSpec},
    apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    core::PartialObjectMeta,
    runtime::{
        WatchStreamExt,
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::{
    packed::{Pack, PackedStore},
    reflect::{KubeSink, reflect},
};
use crate::crd::{
    APPLIED_HASH_ANNOTATION, INSTANCE_LABEL, MANAGED_BY, MerchantBackend, REVISION_LABEL,
};

/// The label naming the operator that manages a child.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The label naming the application of a child (`merchant-api` for API pods,
/// `merchant-api-task` for data-tool pods).
pub const APP_LABEL: &str = "app.kubernetes.io/name";

/// Item type of a cache-feeding stream.
pub type Touched<K> = Result<K, watcher::Error>;

/// Read handles of every cache the reconciler uses.
#[derive(Clone)]
pub struct Caches {
    /// Secrets of the watched namespaces (users create them; optionally label-selected).
    pub secrets: Store<Secret>,
    /// ServiceAccounts (metadata).
    pub service_accounts: PackedStore<PartialObjectMeta<ServiceAccount>>,
    /// ConfigMaps (metadata).
    pub config_maps: PackedStore<PartialObjectMeta<ConfigMap>>,
    /// Uploads claims (pruned to storageClassName and phase: the status reports a pending claim).
    pub pvcs: PackedStore<PersistentVolumeClaim>,
    /// Services (status: load-balancer addresses feed the endpoints).
    pub services: PackedStore<Service>,
    /// Deployments (status feeds the conditions; replicas, image and checksums feed drift).
    pub deployments: PackedStore<Deployment>,
    /// HPAs (metadata).
    pub hpas: PackedStore<PartialObjectMeta<HorizontalPodAutoscaler>>,
    /// PDBs (metadata).
    pub pdbs: PackedStore<PartialObjectMeta<PodDisruptionBudget>>,
    /// NetworkPolicies (metadata).
    pub network_policies: PackedStore<PartialObjectMeta<NetworkPolicy>>,
    /// Ingresses (status feeds the endpoints).
    pub ingresses: PackedStore<Ingress>,
    /// The backends' Pods (pruned to what `diagnose` reads: why pods cannot run).
    pub pods: PackedStore<Pod>,
    /// Backup and drill CronJobs (metadata).
    pub cron_jobs: PackedStore<PartialObjectMeta<CronJob>>,
    /// Data-tool Jobs: migrations, and the runs of the backup CronJobs (status only: whether
    /// and when they finished; the report is read once from the pod).
    pub jobs: PackedStore<Job>,
    /// Becomes true once every cache has finished its initial list.
    pub synced: tokio::sync::watch::Receiver<bool>,
}

/// A copy of every child watch's events (pruned objects), for the controller's triggers.
pub struct ChildEvents {
    /// Secrets.
    pub secrets: Events<Secret>,
    /// ServiceAccounts.
    pub service_accounts: Events<PartialObjectMeta<ServiceAccount>>,
    /// ConfigMaps.
    pub config_maps: Events<PartialObjectMeta<ConfigMap>>,
    /// Uploads claims.
    pub pvcs: Events<PersistentVolumeClaim>,
    /// Services.
    pub services: Events<Service>,
    /// Deployments.
    pub deployments: Events<Deployment>,
    /// HPAs.
    pub hpas: Events<PartialObjectMeta<HorizontalPodAutoscaler>>,
    /// PDBs.
    pub pdbs: Events<PartialObjectMeta<PodDisruptionBudget>>,
    /// NetworkPolicies.
    pub network_policies: Events<PartialObjectMeta<NetworkPolicy>>,
    /// Ingresses.
    pub ingresses: Events<Ingress>,
    /// Pods.
    pub pods: Events<Pod>,
    /// CronJobs.
    pub cron_jobs: Events<PartialObjectMeta<CronJob>>,
    /// Jobs.
    pub jobs: Events<Job>,
}

/// A watch's events, boxed.
pub type Events<K> = futures::stream::BoxStream<'static, Touched<K>>;

/// Every child cache of `namespaces` (all when empty) and its events. The watches run while
/// their events are polled; `Caches::synced` turns true once every cache has listed.
pub fn start(
    client: &Client,
    namespaces: &[String],
    secret_selector: Option<&str>,
) -> (Caches, ChildEvents) {
    use super::diagnose::{prune_claim, prune_pod};
    let ns = namespaces;
    let (secrets, secrets_events) = secrets(api::<Secret>(client, ns), secret_selector);
    let (service_accounts, sa) = children(api(client, ns), keep);
    let (config_maps, cm) = children(api(client, ns), keep);
    let (pvcs, pvc) = children(api::<PersistentVolumeClaim>(client, ns), prune_claim);
    let (pods, pod) = children(api::<Pod>(client, ns), prune_pod);
    let (services, svc) = children(api::<Service>(client, ns), drop_service_spec);
    let (deployments, deploy) = children(api::<Deployment>(client, ns), prune_deployment);
    let (hpas, hpa) = children(api(client, ns), keep);
    let (pdbs, pdb) = children(api(client, ns), keep);
    let (network_policies, np) = children(api(client, ns), keep);
    let (ingresses, ing) = children(api::<Ingress>(client, ns), drop_ingress_spec);
    let (cron_jobs, cron) = children(api(client, ns), keep);
    let (jobs, job) = children(api::<Job>(client, ns), prune_job);
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
        pods,
        cron_jobs,
        jobs,
    };
    let lists = caches.clone();
    tokio::spawn(async move {
        lists.wait_for_initial_lists().await;
        let _ = synced_tx.send(true);
    });
    let events = ChildEvents {
        secrets: secrets_events.boxed(),
        service_accounts: sa.boxed(),
        config_maps: cm.boxed(),
        pvcs: pvc.boxed(),
        services: svc.boxed(),
        deployments: deploy.boxed(),
        hpas: hpa.boxed(),
        pdbs: pdb.boxed(),
        network_policies: np.boxed(),
        ingresses: ing.boxed(),
        pods: pod.boxed(),
        cron_jobs: cron.boxed(),
        jobs: job.boxed(),
    };
    (caches, events)
}

impl Caches {
    /// Wait until every cache has finished its initial list (reconciling earlier would re-apply
    /// children that merely have not been listed yet). Any number of reconciles may wait.
    pub async fn ready(&self) {
        let mut synced = self.synced.clone();
        // Err only when the sender is gone, i.e. at shutdown.
        let _ = synced.wait_for(|synced| *synced).await;
    }

    /// Resolve once every store is populated. Must have a single caller: a kube store's readiness
    /// future wakes only its most recent waiter, so concurrent reconciles waiting on the stores
    /// directly could sleep forever. `run` awaits this once and publishes `synced`.
    pub async fn wait_for_initial_lists(&self) {
        // wait_until_ready only fails when the writer is dropped, i.e. at shutdown.
        let _ = futures::join!(
            self.secrets.wait_until_ready(),
            self.service_accounts.wait_until_ready(),
            self.config_maps.wait_until_ready(),
            self.pvcs.wait_until_ready(),
            self.services.wait_until_ready(),
            self.deployments.wait_until_ready(),
            self.hpas.wait_until_ready(),
            self.pdbs.wait_until_ready(),
            self.network_policies.wait_until_ready(),
            self.ingresses.wait_until_ready(),
            self.pods.wait_until_ready(),
            self.cron_jobs.wait_until_ready(),
            self.jobs.wait_until_ready(),
        );
    }
}

/// Look an object up by namespace and name.
pub fn lookup<K>(store: &Store<K>, namespace: &str, name: &str) -> Option<std::sync::Arc<K>>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    store.get(&ObjectRef::new(name).within(namespace))
}

/// Where to watch: one `Api` per namespace in `namespaces`, or one over all namespaces when it
/// is empty (cluster-wide mode).
pub fn api<K>(client: &Client, namespaces: &[String]) -> Vec<Api<K>>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    if namespaces.is_empty() {
        return vec![Api::all(client.clone())];
    }
    namespaces
        .iter()
        .map(|ns| Api::namespaced(client.clone(), ns))
        .collect()
}

/// Objects per list page (kube's default is 500). A page is held whole while it is decoded, and
/// glibc keeps the heap a large transient buffer once grew: 500 Pods are about 2 MB of JSON plus
/// 2.5 MB decoded, at every relist (a watch whose resourceVersion expired lists again).
const LIST_PAGE: u32 = 100;

/// How every cache watches: paged lists of `LIST_PAGE`.
fn config() -> watcher::Config {
    watcher::Config::default().page_size(LIST_PAGE)
}

fn children_config() -> watcher::Config {
    config().labels(&format!("app.kubernetes.io/managed-by={MANAGED_BY}"))
}

/// A cache of our children of kind `K`, pruned by `prune` and packed, and the stream that feeds
/// it (pruned objects).
pub fn children<K>(
    api: Vec<Api<K>>,
    prune: fn(&mut K),
) -> (
    PackedStore<K>,
    impl Stream<Item = Touched<K>> + Send + 'static,
)
where
    K: Pack + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, sink) = PackedStore::new();
    let stream = reflect(
        api,
        &children_config(),
        move |o| prune_child(o, prune),
        sink,
    );
    (reader, stream.touched_objects().boxed())
}

/// What a child cache keeps of `o`: our field set, the metadata reconcile reads, and what `prune`
/// keeps of the rest.
pub fn prune_child<K: Resource<DynamicType = ()>>(o: &mut K, prune: fn(&mut K)) {
    super::drift::keep_own_fields(o);
    strip_child_metadata(o);
    prune(o);
}

/// Secrets cache: the user's Secrets in the watched namespaces, or only those matching
/// `selector` when one is given (opt-in: referenced Secrets must then carry the label). Values are
/// replaced by their SHA-256 on arrival, so the operator never holds Secret values in memory; the
/// checksum on the pod template is computed from those digests.
pub fn secrets(
    api: Vec<Api<Secret>>,
    selector: Option<&str>,
) -> (
    Store<Secret>,
    impl Stream<Item = Touched<Secret>> + Send + 'static,
) {
    cached(
        api,
        secrets_config(selector),
        digest_secret,
        strip_managed_fields,
    )
}

fn secrets_config(selector: Option<&str>) -> watcher::Config {
    let config = config();
    match selector {
        Some(selector) => config.labels(selector),
        None => config,
    }
}

/// The MerchantBackend cache and trigger stream of the controller (managedFields stripped).
pub fn backends(
    api: Vec<Api<MerchantBackend>>,
) -> (
    Store<MerchantBackend>,
    impl Stream<Item = Touched<MerchantBackend>> + Send + 'static,
) {
    let (reader, sink) = KubeSink::new();
    let stream = reflect(
        api,
        &config(),
        |o| {
            strip_managed_fields(o);
            strip_metadata(o);
        },
        sink,
    );
    (reader, stream.applied_objects().boxed())
}

/// A whole-object cache of `K` (managedFields stripped), optionally by label selector, and the
/// stream that feeds it: the backup and restore controllers' caches (Jobs, pods, runs).
pub fn resources<K>(
    api: Vec<Api<K>>,
    selector: Option<&str>,
) -> (Store<K>, impl Stream<Item = Touched<K>> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let config = match selector {
        Some(selector) => config().labels(selector),
        None => config(),
    };
    cached(api, config, keep, strip_managed_fields)
}

fn cached<K>(
    api: Vec<Api<K>>,
    config: watcher::Config,
    prune: fn(&mut K),
    managed_fields: fn(&mut K),
) -> (Store<K>, impl Stream<Item = Touched<K>> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, sink) = KubeSink::new();
    let stream = reflect(
        api,
        &config,
        move |o| {
            managed_fields(o);
            strip_metadata(o);
            prune(o);
        },
        sink,
    );
    (reader, stream.touched_objects().boxed())
}

fn strip_managed_fields<K: Resource>(o: &mut K) {
    o.managed_fields_mut().clear();
}

fn strip_metadata<K: Resource>(o: &mut K) {
    o.annotations_mut()
        .remove("kubectl.kubernetes.io/last-applied-configuration");
}

/// Child metadata: keep what reconcile reads (name, namespace, generation, the applied-hash
/// annotation, ownerReferences, our field set, the deletion time, the instance and managed-by
/// labels that map pods and retained claims to their backend, and a claim's uid, which its
/// retention Event names) and drop the rest (other labels, uid, resourceVersion, timestamps,
/// finalizers, other annotations). Thousands of children each carried these strings for
/// nothing; the watcher has already taken the resourceVersion it resumes from. What is left is
/// exactly what `packed` keeps.
pub fn strip_child_metadata<K: Resource<DynamicType = ()>>(o: &mut K) {
    let keep_uid = K::kind(&()) == "PersistentVolumeClaim";
    let meta = o.meta_mut();
    if let Some(labels) = meta.labels.as_mut() {
        labels.retain(|key, _| {
            [INSTANCE_LABEL, MANAGED_BY_LABEL, APP_LABEL, REVISION_LABEL].contains(&key.as_str())
        });
    }
    if !keep_uid {
        meta.uid = None;
    }
    meta.resource_version = None;
    meta.creation_timestamp = None;
    meta.generate_name = None;
    meta.self_link = None;
    meta.finalizers = None;
    meta.deletion_grace_period_seconds = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|key, _| key == APPLIED_HASH_ANNOTATION);
    }
    // Empty is the same as absent to every reader.
    meta.labels = meta.labels.take().filter(|l| !l.is_empty());
    meta.annotations = meta.annotations.take().filter(|a| !a.is_empty());
    meta.managed_fields = meta.managed_fields.take().filter(|m| !m.is_empty());
}

/// Job: keep the status conditions and times; drop the spec (a pod template per Job).
pub fn prune_job(j: &mut Job) {
    j.spec = None;
    if let Some(status) = j.status.as_mut() {
        status.uncounted_terminated_pods = None;
        status.ready = None;
        status.terminating = None;
        if let Some(conditions) = status.conditions.as_mut() {
            for c in conditions {
                c.last_probe_time = None;
            }
        }
    }
}

/// Keep the whole object (metadata-only caches are already small).
pub fn keep<K>(_: &mut K) {}

/// Where a cached Deployment keeps its API image: the pod template's container list (a
/// `Container` alone takes over 2 KB) is dropped from the cache. Cache-only, never sent to the API.
const CACHED_IMAGE: &str = "merchant.rezapp.com/cached-image";

/// Deployment: keep metadata, status, replicas, the template annotations and the API image
/// (what status and drift detection read); drop the rest of the spec.
pub fn prune_deployment(d: &mut Deployment) {
    let Some(spec) = d.spec.as_mut() else { return };
    let image = deployment_image(&spec.template);
    let mut annotations = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    if let Some(image) = image {
        annotations.insert(CACHED_IMAGE.to_owned(), image);
    }
    spec.template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            annotations: Some(annotations).filter(|a| !a.is_empty()),
            ..Default::default()
        }),
        spec: None,
    };
    spec.selector = LabelSelector::default();
    spec.strategy = None;
    spec.min_ready_seconds = None;
    spec.paused = None;
    spec.progress_deadline_seconds = None;
    spec.revision_history_limit = None;
}

/// The API image of a pod template, whether full or as cached by `prune_deployment`.
pub fn deployment_image(template: &PodTemplateSpec) -> Option<String> {
    let container = template
        .spec
        .as_ref()
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.clone());
    container.or_else(|| {
        template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(CACHED_IMAGE).cloned())
    })
}

/// A cached Deployment as readers expect it: the image back in the pod template's container.
pub fn unstash_deployment(cached: &Deployment) -> Deployment {
    let mut d = cached.clone();
    if let Some(spec) = d.spec.as_mut() {
        let image = spec
            .template
            .metadata
            .as_mut()
            .and_then(|m| m.annotations.as_mut())
            .and_then(|a| a.remove(CACHED_IMAGE));
        if spec.template.spec.is_none() && image.is_some() {
            spec.template.spec = Some(PodSpec {
                containers: vec![Container {
                    image,
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
    }
    d
}

/// Service and Ingress: only metadata and status (load-balancer addresses) are read.
pub fn drop_service_spec(s: &mut Service) {
    s.spec = None;
}

/// Ingress: only metadata and status are read.
pub fn drop_ingress_spec(i: &mut Ingress) {
    i.spec = None;
}

/// Secret: values replaced by their SHA-256, annotations dropped (they may embed values).
pub fn digest_secret(s: &mut Secret) {
    s.metadata.annotations = None;
    s.metadata.labels = None;
    let mut data = s.data.take().unwrap_or_default();
    for (key, value) in s.string_data.take().unwrap_or_default() {
        data.insert(key, ByteString(value.into_bytes()));
    }
    for value in data.values_mut() {
        *value = ByteString(Sha256::digest(&value.0).to_vec());
    }
    s.data = Some(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DeploymentSpec;

    #[test]
    fn a_cached_deployment_keeps_its_image_without_the_pod_template() {
        let mut d = Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(2),
                template: PodTemplateSpec {
                    metadata: None,
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "api".into(),
                            image: Some("registry/api:1".into()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            ..Default::default()
        };
        prune_deployment(&mut d);
        let template = &d.spec.as_ref().expect("spec").template;
        assert!(template.spec.is_none(), "no container kept in the cache");
        assert_eq!(
            deployment_image(template).as_deref(),
            Some("registry/api:1")
        );
        let restored = unstash_deployment(&d);
        let spec = restored.spec.expect("spec");
        assert_eq!(spec.replicas, Some(2));
        assert_eq!(
            spec.template.spec.expect("pod").containers[0]
                .image
                .as_deref(),
            Some("registry/api:1")
        );
        assert!(
            spec.template
                .metadata
                .and_then(|m| m.annotations)
                .is_none_or(|a| !a.contains_key(CACHED_IMAGE))
        );
    }
}
