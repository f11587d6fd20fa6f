//! Compact caches of the children. A k8s-openapi object keeps every field of its kind inline (an
//! empty `Pod` or `Deployment` takes 2.4 KB) and every label or annotation map allocates a
//! B-tree node of about 0.5 KB, although reconcile reads a handful of fields of each child. A
//! `PackedStore` keeps of each child only what the cache pruning leaves (see `cache` and
//! `diagnose`), in plain structs, with low-cardinality strings (namespaces, kinds, condition
//! types and reasons, images) shared; `get` unpacks a child into the pruned k8s-openapi object
//! its readers expect. Does not decide what is pruned (`cache`, `diagnose`) nor how the store is
//! fed (`reflect`).

mod kinds;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, LazyLock, Mutex, PoisonError, RwLock},
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    FieldsV1, ManagedFieldsEntry, ObjectMeta, OwnerReference, Time,
};
use kube::{
    Resource,
    runtime::{reflector::ObjectRef, watcher::Event},
};
use serde_json::Value;
use tokio::sync::watch;

use super::{
    cache::{APP_LABEL, MANAGED_BY_LABEL},
    reflect::Sink,
};
use crate::crd::{APPLIED_HASH_ANNOTATION, FIELD_MANAGER, INSTANCE_LABEL, REVISION_LABEL};

/// A string many cached objects hold the same value of.
pub type Shared = Arc<str>;

/// Distinct shared strings kept at most; past it strings are still correct, only not shared.
const SHARED_CAPACITY: usize = 4096;

static SHARED: LazyLock<Mutex<HashSet<Shared>>> = LazyLock::new(Mutex::default);

/// `s` as a shared string. Only for values of low cardinality (never names or uids): the table
/// keeps every distinct value for the life of the process.
pub fn shared(s: &str) -> Shared {
    let mut table = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(hit) = table.get(s) {
        return hit.clone();
    }
    let new: Shared = Arc::from(s);
    if table.len() < SHARED_CAPACITY {
        table.insert(new.clone());
    }
    new
}

fn boxed(s: &str) -> Box<str> {
    Box::from(s)
}

/// A kind whose pruned objects a `PackedStore` can hold.
pub trait Pack: Resource<DynamicType = ()> + Sized {
    /// What is kept besides the metadata.
    type Body: Send + Sync + 'static;
    /// The kept fields of a pruned object, besides its metadata.
    fn pack(&self) -> Self::Body;
    /// The pruned object back.
    fn unpack(metadata: ObjectMeta, body: &Self::Body) -> Self;
}

/// One ownerReference.
struct Owner {
    api_version: Shared,
    kind: Shared,
    name: Box<str>,
    uid: Box<str>,
    controller: Option<bool>,
    block_owner_deletion: Option<bool>,
}

/// The metadata `cache::strip_child_metadata` and `drift::keep_own_fields` leave: name,
/// namespace, uid (claims), generation, the instance, name, managed-by and revision labels, the applied-hash
/// annotation, ownerReferences, our manager's field set and the deletion time.
struct Meta {
    name: Box<str>,
    namespace: Option<Shared>,
    uid: Option<Box<str>>,
    generation: Option<i64>,
    instance: Option<Box<str>>,
    /// `app.kubernetes.io/name`: tells API pods from data-tool pods.
    app: Option<Shared>,
    managed_by: Option<Shared>,
    /// `merchant.rezapp.com/revision`: which revision a pod runs (the rollout's pod checks).
    revision: Option<Box<str>>,
    applied_hash: Option<Box<str>>,
    owners: Option<Box<[Owner]>>,
    /// The text of our manager's field set (as `keep_own_fields` keeps it: interned key).
    field_set: Option<Box<str>>,
    deletion: Option<Time>,
}

impl Meta {
    fn pack(m: &ObjectMeta) -> Self {
        let label = |key: &str| m.labels.as_ref().and_then(|l| l.get(key));
        let field_set =
            m.managed_fields
                .iter()
                .flatten()
                .find_map(|e| match e.fields_v1.as_ref() {
                    Some(FieldsV1(Value::String(text))) => Some(boxed(text)),
                    _ => None,
                });
        Self {
            name: boxed(m.name.as_deref().unwrap_or_default()),
            namespace: m.namespace.as_deref().map(shared),
            uid: m.uid.as_deref().map(boxed),
            generation: m.generation,
            instance: label(INSTANCE_LABEL).map(|v| boxed(v)),
            app: label(APP_LABEL).map(|v| shared(v)),
            managed_by: label(MANAGED_BY_LABEL).map(|v| shared(v)),
            revision: label(REVISION_LABEL).map(|v| boxed(v)),
            applied_hash: m
                .annotations
                .as_ref()
                .and_then(|a| a.get(APPLIED_HASH_ANNOTATION))
                .map(|v| boxed(v)),
            owners: m.owner_references.as_ref().map(|refs| {
                refs.iter()
                    .map(|o| Owner {
                        api_version: shared(&o.api_version),
                        kind: shared(&o.kind),
                        name: boxed(&o.name),
                        uid: boxed(&o.uid),
                        controller: o.controller,
                        block_owner_deletion: o.block_owner_deletion,
                    })
                    .collect()
            }),
            field_set,
            deletion: m.deletion_timestamp.clone(),
        }
    }

    fn unpack(&self) -> ObjectMeta {
        let mut labels = BTreeMap::new();
        if let Some(v) = &self.instance {
            labels.insert(INSTANCE_LABEL.to_owned(), v.to_string());
        }
        if let Some(v) = &self.app {
            labels.insert(APP_LABEL.to_owned(), v.to_string());
        }
        if let Some(v) = &self.managed_by {
            labels.insert(MANAGED_BY_LABEL.to_owned(), v.to_string());
        }
        if let Some(v) = &self.revision {
            labels.insert(REVISION_LABEL.to_owned(), v.to_string());
        }
        let annotations = self
            .applied_hash
            .as_ref()
            .map(|h| BTreeMap::from([(APPLIED_HASH_ANNOTATION.to_owned(), h.to_string())]));
        let owner_references = self.owners.as_ref().map(|owners| {
            owners
                .iter()
                .map(|o| OwnerReference {
                    api_version: o.api_version.to_string(),
                    kind: o.kind.to_string(),
                    name: o.name.to_string(),
                    uid: o.uid.to_string(),
                    controller: o.controller,
                    block_owner_deletion: o.block_owner_deletion,
                })
                .collect()
        });
        let managed_fields = self.field_set.as_ref().map(|text| {
            vec![ManagedFieldsEntry {
                manager: Some(FIELD_MANAGER.to_owned()),
                operation: Some("Apply".to_owned()),
                fields_v1: Some(FieldsV1(Value::String(text.to_string()))),
                ..Default::default()
            }]
        });
        ObjectMeta {
            name: Some(self.name.to_string()),
            namespace: self.namespace.as_deref().map(str::to_owned),
            uid: self.uid.as_deref().map(str::to_owned),
            generation: self.generation,
            labels: Some(labels).filter(|l| !l.is_empty()),
            annotations,
            owner_references,
            managed_fields,
            deletion_timestamp: self.deletion.clone(),
            ..Default::default()
        }
    }
}

/// A packed child.
struct Packed<K: Pack> {
    meta: Meta,
    body: K::Body,
}

impl<K: Pack> Packed<K> {
    fn new(o: &K) -> Self {
        Self {
            meta: Meta::pack(o.meta()),
            body: o.pack(),
        }
    }

    fn unpack(&self) -> K {
        K::unpack(self.meta.unpack(), &self.body)
    }
}

/// Objects by namespace ("" for none), then name.
type Objects<K> = HashMap<Shared, HashMap<Box<str>, Box<Packed<K>>>>;

struct Inner<K: Pack> {
    objects: RwLock<Objects<K>>,
    ready: watch::Sender<bool>,
}

/// A read handle on a cache of packed children of kind `K`.
pub struct PackedStore<K: Pack> {
    inner: Arc<Inner<K>>,
}

impl<K: Pack> Clone for PackedStore<K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K: Pack> PackedStore<K> {
    /// An empty store and the sink that fills it.
    pub fn new() -> (Self, PackedSink<K>) {
        let inner = Arc::new(Inner {
            objects: RwLock::default(),
            ready: watch::Sender::new(false),
        });
        (
            Self {
                inner: inner.clone(),
            },
            PackedSink { inner },
        )
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Objects<K>> {
        self.inner
            .objects
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The object `namespace/name`, as pruned.
    pub fn get(&self, namespace: &str, name: &str) -> Option<K> {
        self.read().get(namespace)?.get(name).map(|p| p.unpack())
    }

    /// The objects of `namespace` whose instance label is `instance`.
    pub fn with_instance(&self, namespace: &str, instance: &str) -> Vec<K> {
        self.read()
            .get(namespace)
            .into_iter()
            .flat_map(HashMap::values)
            .filter(|p| p.meta.instance.as_deref() == Some(instance))
            .map(|p| p.unpack())
            .collect()
    }

    /// Objects held.
    pub fn len(&self) -> usize {
        self.read().values().map(HashMap::len).sum()
    }

    /// Whether no object is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves once every watcher feeding the store has listed once. Any number of waiters.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.inner.ready.subscribe();
        // Err only when the sink is gone, i.e. at shutdown.
        let _ = ready.wait_for(|ready| *ready).await;
    }
}

/// The writing side of a `PackedStore`.
pub struct PackedSink<K: Pack> {
    inner: Arc<Inner<K>>,
}

impl<K: Pack> PackedSink<K> {
    fn objects(&self) -> std::sync::RwLockWriteGuard<'_, Objects<K>> {
        self.inner
            .objects
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Pack + Send + Sync + 'static> Sink<K> for PackedSink<K> {
    fn write(&mut self, event: &Event<K>) {
        match event {
            Event::Apply(o) | Event::InitApply(o) => {
                let packed = Box::new(Packed::new(o));
                let namespace = packed.meta.namespace.clone().unwrap_or_else(|| shared(""));
                let name = packed.meta.name.clone();
                self.objects()
                    .entry(namespace)
                    .or_default()
                    .insert(name, packed);
            }
            Event::Delete(o) => {
                let namespace = o.meta().namespace.as_deref().unwrap_or_default();
                let mut objects = self.objects();
                if let Some(names) = objects.get_mut(namespace) {
                    names.remove(o.meta().name.as_deref().unwrap_or_default());
                    if names.is_empty() {
                        objects.remove(namespace);
                    }
                }
            }
            Event::Init | Event::InitDone => {}
        }
    }

    fn stale(&self, namespace: Option<&str>, seen: &HashSet<ObjectRef<K>>) -> Vec<K> {
        let objects = self
            .inner
            .objects
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        objects
            .iter()
            .filter(|(ns, _)| namespace.is_none_or(|want| ns.as_ref() == want))
            .flat_map(|(ns, names)| {
                names
                    .iter()
                    .filter(|(name, _)| {
                        let key = ObjectRef::new(name);
                        let key = if ns.is_empty() { key } else { key.within(ns) };
                        !seen.contains(&key)
                    })
                    .map(|(_, p)| p.unpack())
            })
            .collect()
    }

    fn mark_ready(&mut self) {
        self.inner.ready.send_replace(true);
    }
}

#[cfg(test)]
mod tests;
