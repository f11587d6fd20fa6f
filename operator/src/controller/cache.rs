//! The controller's caches: reflectors over the children (selected by the managed-by label, with
//! managedFields stripped) and over Secrets. Reconcile reads only these, so a reconcile with
//! nothing changed issues no API request at all. Kinds whose status we read are cached in full;
//! the others as metadata only (enough for the applied-hash check), which keeps RSS small.

use std::fmt::Debug;

use futures::{Stream, StreamExt};
use k8s_openapi::api::{
    apps::v1::Deployment,
    autoscaling::v2::HorizontalPodAutoscaler,
    core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount},
    networking::v1::{Ingress, NetworkPolicy},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    core::PartialObjectMeta,
    runtime::{
        WatchStreamExt,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use serde::de::DeserializeOwned;

use crate::crd::MANAGED_BY;

/// Item type of a cache-feeding stream.
pub type Touched<K> = Result<K, watcher::Error>;

/// Read handles of every cache the reconciler uses.
#[derive(Clone)]
pub struct Caches {
    /// Secrets (all, not only ours: users create them).
    pub secrets: Store<Secret>,
    /// ServiceAccounts (metadata).
    pub service_accounts: Store<PartialObjectMeta<ServiceAccount>>,
    /// ConfigMaps (metadata).
    pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
    /// Uploads claims (metadata).
    pub pvcs: Store<PartialObjectMeta<PersistentVolumeClaim>>,
    /// Services (full: load-balancer status feeds the endpoints).
    pub services: Store<Service>,
    /// Deployments (full: status feeds the conditions).
    pub deployments: Store<Deployment>,
    /// HPAs (metadata).
    pub hpas: Store<PartialObjectMeta<HorizontalPodAutoscaler>>,
    /// PDBs (metadata).
    pub pdbs: Store<PartialObjectMeta<PodDisruptionBudget>>,
    /// NetworkPolicies (metadata).
    pub network_policies: Store<PartialObjectMeta<NetworkPolicy>>,
    /// Ingresses (full: status feeds the endpoints).
    pub ingresses: Store<Ingress>,
    /// Becomes true once every cache has finished its initial list.
    pub synced: tokio::sync::watch::Receiver<bool>,
}

impl Caches {
    /// Wait until every cache has finished its initial list (reconciling earlier would re-apply
    /// children that merely have not been listed yet). Any number of reconciles may wait.
    pub async fn ready(&self) {
        let mut synced = self.synced.clone();
        // Err only when the sender is gone, i.e. at shutdown.
        let _ = synced.wait_for(|synced| *synced).await;
    }

    /// Resolve once every store is populated. Must have a single caller: a store's readiness
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

/// Where to watch: one namespace or all of them.
pub fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn children_config() -> watcher::Config {
    watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGED_BY}"))
}

/// A full-object cache of our children of kind `K` and the stream that feeds it.
pub fn full<K>(api: Api<K>) -> (Store<K>, impl Stream<Item = Touched<K>> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    full_with(api, children_config())
}

/// Secrets cache (no label filter: Secrets are the user's).
pub fn secrets(
    api: Api<Secret>,
) -> (
    Store<Secret>,
    impl Stream<Item = Touched<Secret>> + Send + 'static,
) {
    full_with(api, watcher::Config::default())
}

fn full_with<K>(
    api: Api<K>,
    config: watcher::Config,
) -> (Store<K>, impl Stream<Item = Touched<K>> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, config)
        .default_backoff()
        .modify(|o| {
            o.managed_fields_mut().clear();
            o.annotations_mut()
                .remove("kubectl.kubernetes.io/last-applied-configuration");
        })
        .reflect(writer)
        .touched_objects()
        .boxed();
    (reader, stream)
}

/// A metadata-only cache of our children of kind `K` and the stream that feeds it.
pub fn meta<K>(
    api: Api<PartialObjectMeta<K>>,
) -> (
    Store<PartialObjectMeta<K>>,
    impl Stream<Item = Touched<PartialObjectMeta<K>>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    full_with(api, children_config())
}
