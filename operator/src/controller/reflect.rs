//! One cache fed by several watchers: one per watched namespace, so the operator needs read
//! access only in the namespaces it serves (a Role per namespace, no ClusterRole). kube's
//! `Writer` assumes a single watcher (a relist replaces the whole store), so the events of each
//! watcher are translated into plain applies and deletes here: a relist deletes only the objects
//! of its own namespace that it no longer lists. The cache reports ready once every watcher has
//! finished its first list. The cache itself is a `Sink`: a kube `Store` (`KubeSink`) or a
//! packed store (`packed`). Does not own what is watched or how objects are pruned.

use std::{collections::HashSet, fmt::Debug};

use futures::{Stream, StreamExt, stream};
use kube::{
    Api, Resource, ResourceExt,
    runtime::{
        WatchStreamExt,
        reflector::{ObjectRef, Store, store::Writer},
        watcher::{self, Event, watcher},
    },
};
use serde::de::DeserializeOwned;

/// Item of a merged watch stream: an applied or deleted object, or a watcher error.
pub type Merged<K> = Result<Event<K>, watcher::Error>;

/// Where a merged watch keeps its objects.
pub trait Sink<K: Resource<DynamicType = ()>>: Send + 'static {
    /// Keep an applied object (`Event::Apply`) or forget a deleted one (`Event::Delete`).
    fn write(&mut self, event: &Event<K>);
    /// The objects held (only those of `namespace` when given) that `seen` does not name: what
    /// a relist no longer lists.
    fn stale(&self, namespace: Option<&str>, seen: &HashSet<ObjectRef<K>>) -> Vec<K>;
    /// Every watcher has listed once: readers may start.
    fn mark_ready(&mut self);
}

/// Watch every `Api` (one per namespace) with `config`, pass each object through `modify`, and
/// keep the results in `sink`. The stream yields only `Apply` and `Delete` events.
pub fn reflect<K, S>(
    apis: Vec<Api<K>>,
    config: &watcher::Config,
    modify: impl FnMut(&mut K) + Clone + Send + 'static,
    sink: S,
) -> impl Stream<Item = Merged<K>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    S: Sink<K>,
{
    let scopes = apis
        .iter()
        .map(|api| api.namespace().map(str::to_owned))
        .collect();
    let mut merge = Merge::new(scopes, sink);
    let watchers = apis.into_iter().enumerate().map(|(i, api)| {
        watcher(api, config.clone())
            .default_backoff()
            .modify(modify.clone())
            .map(move |event| (i, event))
            .boxed()
    });
    stream::select_all(watchers).flat_map(move |(i, event)| {
        let out: Vec<Merged<K>> = match event {
            Ok(event) => merge.apply(i, event).into_iter().map(Ok).collect(),
            Err(error) => vec![Err(error)],
        };
        stream::iter(out)
    })
}

/// The translation state: which watcher is relisting and what it has listed so far.
pub struct Merge<K: Resource<DynamicType = ()> + Clone + 'static, S> {
    sink: S,
    /// Namespace of each watcher (None: all namespaces).
    scopes: Vec<Option<String>>,
    /// Objects seen by each watcher's current relist (None: not relisting).
    relisting: Vec<Option<HashSet<ObjectRef<K>>>>,
    /// Watchers that have finished a first list.
    listed: Vec<bool>,
    ready: bool,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static, S: Sink<K>> Merge<K, S> {
    /// State for watchers over `scopes`, writing to `sink`.
    pub fn new(scopes: Vec<Option<String>>, sink: S) -> Self {
        let n = scopes.len();
        Self {
            sink,
            scopes,
            relisting: vec![None; n],
            listed: vec![false; n],
            ready: false,
        }
    }

    /// Apply watcher `i`'s event; returns the resulting applies and deletes, in order.
    pub fn apply(&mut self, i: usize, event: Event<K>) -> Vec<Event<K>> {
        match event {
            Event::Init => {
                self.relisting[i] = Some(HashSet::new());
                Vec::new()
            }
            Event::InitApply(obj) => {
                if let Some(seen) = self.relisting[i].as_mut() {
                    seen.insert(ObjectRef::from_obj(&obj));
                }
                self.forward(Event::Apply(obj))
            }
            Event::InitDone => {
                let seen = self.relisting[i].take().unwrap_or_default();
                let stale = self.sink.stale(self.scopes[i].as_deref(), &seen);
                let out = stale
                    .into_iter()
                    .flat_map(|o| self.forward(Event::Delete(o)))
                    .collect();
                self.listed[i] = true;
                if !self.ready && self.listed.iter().all(|l| *l) {
                    self.ready = true;
                    self.sink.mark_ready();
                }
                out
            }
            event @ (Event::Apply(_) | Event::Delete(_)) => self.forward(event),
        }
    }

    fn forward(&mut self, event: Event<K>) -> Vec<Event<K>> {
        self.sink.write(&event);
        vec![event]
    }
}

/// A kube reflector `Store` as a sink (what the Controller and the Secrets cache read).
pub struct KubeSink<K: Resource<DynamicType = ()> + Clone + 'static> {
    writer: Writer<K>,
    reader: Store<K>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> KubeSink<K> {
    /// An empty store and the sink that fills it.
    pub fn new() -> (Store<K>, Self) {
        let writer = Writer::default();
        let reader = writer.as_reader();
        (reader.clone(), Self { writer, reader })
    }
}

impl<K> Sink<K> for KubeSink<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    fn write(&mut self, event: &Event<K>) {
        self.writer.apply_watcher_event(event);
    }

    fn stale(&self, namespace: Option<&str>, seen: &HashSet<ObjectRef<K>>) -> Vec<K> {
        self.reader
            .state()
            .into_iter()
            .filter(|o| namespace.is_none_or(|ns| o.namespace().as_deref() == Some(ns)))
            .filter(|o| !seen.contains(&ObjectRef::from_obj(o.as_ref())))
            .map(|o| (*o).clone())
            .collect()
    }

    /// `Writer` marks its store ready only on an `InitDone`, which also replaces the store with
    /// the relist buffer: so replay the current content as one relist, once.
    fn mark_ready(&mut self) {
        let current = self.reader.state();
        self.writer.apply_watcher_event(&Event::Init);
        for obj in current {
            self.writer
                .apply_watcher_event(&Event::InitApply((*obj).clone()));
        }
        self.writer.apply_watcher_event(&Event::InitDone);
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    use super::*;

    fn cm(ns: &str, name: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(ns.to_owned()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn names(store: &Store<ConfigMap>) -> Vec<String> {
        let mut names: Vec<String> = store
            .state()
            .iter()
            .map(|o| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()))
            .collect();
        names.sort();
        names
    }

    type TestMerge = Merge<ConfigMap, KubeSink<ConfigMap>>;

    fn merge(scopes: Vec<Option<String>>) -> (TestMerge, Store<ConfigMap>) {
        let (store, sink) = KubeSink::new();
        (Merge::new(scopes, sink), store)
    }

    fn list(merge: &mut TestMerge, i: usize, objects: &[ConfigMap]) {
        merge.apply(i, Event::Init);
        for o in objects {
            merge.apply(i, Event::InitApply(o.clone()));
        }
        merge.apply(i, Event::InitDone);
    }

    #[tokio::test]
    async fn the_store_is_ready_only_after_every_namespace_listed() {
        let (mut merge, store) = merge(vec![Some("a".into()), Some("b".into())]);
        list(&mut merge, 0, &[cm("a", "one")]);
        let early = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            store.wait_until_ready(),
        )
        .await;
        assert!(early.is_err(), "ready before namespace b listed");
        merge.apply(0, Event::Apply(cm("a", "two")));
        list(&mut merge, 1, &[cm("b", "one")]);
        store.wait_until_ready().await.expect("ready");
        assert_eq!(names(&store), ["a/one", "a/two", "b/one"]);
    }

    #[test]
    fn a_relist_deletes_only_its_own_namespace_objects_that_are_gone() {
        let (mut merge, store) = merge(vec![Some("a".into()), Some("b".into())]);
        list(&mut merge, 0, &[cm("a", "one"), cm("a", "two")]);
        list(&mut merge, 1, &[cm("b", "one")]);
        // Namespace a's watch desynced and relisted without "two"; b is untouched.
        merge.apply(0, Event::Init);
        merge.apply(0, Event::InitApply(cm("a", "one")));
        let out = merge.apply(0, Event::InitDone);
        assert_eq!(names(&store), ["a/one", "b/one"]);
        assert!(
            matches!(out.as_slice(), [Event::Delete(o)] if o.name_any() == "two"),
            "the stale object is reported as deleted: {out:?}"
        );
    }

    #[test]
    fn one_cluster_wide_watcher_behaves_like_a_plain_reflector() {
        let (mut merge, store) = merge(vec![None]);
        list(&mut merge, 0, &[cm("a", "one"), cm("b", "one")]);
        merge.apply(0, Event::Delete(cm("a", "one")));
        list(&mut merge, 0, &[cm("c", "one")]);
        assert_eq!(names(&store), ["c/one"]);
    }
}
