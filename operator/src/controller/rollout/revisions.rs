//! Every revision's pod template, kept as a ControllerRevision `<name>-<revision>` (owned by
//! the MerchantBackend, like a StatefulSet keeps its history): the stable revision's template is
//! what a rollback, a canary's stable side and a BlueGreen's old side run. Their content never
//! changes (the name is its hash), so each one read or written is remembered for the life of the
//! process: a rollout costs one create per new revision and at most one GET per process.

use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, Mutex},
};

use k8s_openapi::{
    api::{apps::v1::ControllerRevision, core::v1::PodTemplateSpec},
    apimachinery::pkg::runtime::RawExtension,
};
use kube::{
    Api,
    api::{DeleteParams, ListParams, PostParams},
};
use tracing::{debug, info};

use crate::{
    controller::{
        Context,
        build::{labels, object_meta},
        validate::ValidatedBackend,
    },
    crd::{INSTANCE_LABEL, REVISION_LABEL},
    error::{Error, Result},
};

/// What this process knows of the stored revisions. Every backend's revisions are known by key
/// only (`namespace/name/revision`), so `keep` creates each one once. Templates are remembered
/// only as read back, for a rollout's stable side, and only the last `TEMPLATES_KEPT`: a backend
/// that is not rolling out needs none, and rollouts are few at a time (a template held for each
/// of 1,000 backends was most of the operator's heap).
#[derive(Default)]
pub struct Memo {
    stored: Mutex<HashSet<String>>,
    templates: Mutex<VecDeque<(String, Arc<PodTemplateSpec>)>>,
}

/// How many read-back templates `Memo` holds (oldest dropped first; a dropped one costs a GET).
const TEMPLATES_KEPT: usize = 64;

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Memo {
    fn is_stored(&self, key: &str) -> bool {
        locked(&self.stored).contains(key)
    }

    fn stored(&self, key: String) {
        locked(&self.stored).insert(key);
    }

    fn template(&self, key: &str) -> Option<Arc<PodTemplateSpec>> {
        let templates = locked(&self.templates);
        templates
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, t)| t.clone())
    }

    fn read(&self, key: String, template: Arc<PodTemplateSpec>) {
        let mut templates = locked(&self.templates);
        templates.retain(|(k, _)| *k != key);
        if templates.len() >= TEMPLATES_KEPT {
            templates.pop_front();
        }
        templates.push_back((key.clone(), template));
        drop(templates);
        self.stored(key);
    }

    /// Drop what is known of the keys `gone` selects (deleted revisions, a deleted backend).
    fn forget(&self, gone: impl Fn(&str) -> bool) {
        locked(&self.stored).retain(|k| !gone(k));
        locked(&self.templates).retain(|(k, _)| !gone(k));
    }

    /// Forget every revision of the backend `namespace/name` (it was deleted; its
    /// ControllerRevisions go with it through their owner reference).
    pub fn forget_backend(&self, namespace: &str, name: &str) {
        let prefix = format!("{namespace}/{name}/");
        self.forget(|k| k.starts_with(&prefix));
    }
}

fn name(b: &ValidatedBackend, revision: &str) -> String {
    format!("{}-{revision}", b.name)
}

fn key(b: &ValidatedBackend, revision: &str) -> String {
    format!("{}/{}/{revision}", b.namespace, b.name)
}

fn api(ctx: &Context, b: &ValidatedBackend) -> Api<ControllerRevision> {
    Api::namespaced(ctx.client.clone(), &b.namespace)
}

/// Store `template` as revision `revision` unless it is known to be stored.
///
/// # Errors
/// `ApplyChild` when the create fails for another reason than "already exists".
pub async fn keep(
    ctx: &Context,
    b: &ValidatedBackend,
    revision: &str,
    template: &PodTemplateSpec,
    number: i64,
) -> Result<()> {
    let key = key(b, revision);
    if ctx.revisions.is_stored(&key) {
        return Ok(());
    }
    let mut metadata = object_meta(b, name(b, revision));
    let mut l = labels(b);
    l.insert(REVISION_LABEL.to_owned(), revision.to_owned());
    metadata.labels = Some(l);
    let object = ControllerRevision {
        metadata,
        data: Some(RawExtension(serde_json::to_value(template).map_err(
            |source| Error::SerializeChild {
                kind: "ControllerRevision",
                name: name(b, revision),
                source,
            },
        )?)),
        revision: number,
    };
    match api(ctx, b).create(&PostParams::default(), &object).await {
        Ok(_) => info!(revision, "revision stored"),
        Err(kube::Error::Api(e)) if e.code == 409 => debug!(revision, "revision already stored"),
        Err(source) => {
            return Err(Error::ApplyChild {
                kind: "ControllerRevision",
                name: name(b, revision),
                source,
            });
        }
    }
    ctx.revisions.stored(key);
    Ok(())
}

/// The template of `revision` (None: it was never stored, or someone deleted it).
///
/// # Errors
/// `ApplyChild` when the read fails.
pub async fn template(
    ctx: &Context,
    b: &ValidatedBackend,
    revision: &str,
) -> Result<Option<Arc<PodTemplateSpec>>> {
    let key = key(b, revision);
    if let Some(t) = ctx.revisions.template(&key) {
        return Ok(Some(t));
    }
    let found = api(ctx, b)
        .get_opt(&name(b, revision))
        .await
        .map_err(|source| Error::ApplyChild {
            kind: "ControllerRevision",
            name: name(b, revision),
            source,
        })?;
    let Some(template) = found
        .and_then(|r| r.data)
        .and_then(|d| serde_json::from_value::<PodTemplateSpec>(d.0).ok())
    else {
        return Ok(None);
    };
    let template = Arc::new(template);
    ctx.revisions.read(key, template.clone());
    Ok(Some(template))
}

/// Delete the stored revisions not in `keep` (after a rollout finished: one LIST).
///
/// # Errors
/// `DeleteChild` when a delete fails.
pub async fn prune(ctx: &Context, b: &ValidatedBackend, keep: &[String]) -> Result<()> {
    // Forgotten first: a revision forgotten but not deleted only costs a create answered 409.
    let prefix = key(b, "");
    ctx.revisions.forget(|k| {
        k.strip_prefix(&prefix)
            .is_some_and(|revision| !keep.iter().any(|kept| kept == revision))
    });
    let api = api(ctx, b);
    let selector = format!("{INSTANCE_LABEL}={}", b.name);
    let listed = api
        .list_metadata(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| Error::ApplyChild {
            kind: "ControllerRevision",
            name: b.name.clone(),
            source,
        })?;
    for r in listed.items {
        let revision = r
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(REVISION_LABEL));
        if revision.is_some_and(|rev| keep.contains(rev)) {
            continue;
        }
        let Some(name) = r.metadata.name else {
            continue;
        };
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => debug!(k8s.name = %name, "old revision deleted"),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(source) => {
                return Err(Error::DeleteChild {
                    kind: "ControllerRevision",
                    name,
                    source,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Arc<PodTemplateSpec> {
        Arc::new(PodTemplateSpec::default())
    }

    #[test]
    fn stored_keys_are_kept_for_every_backend_but_templates_only_for_the_last_few() {
        let memo = Memo::default();
        for i in 0..TEMPLATES_KEPT + 10 {
            memo.read(format!("ns/b{i}/r1"), template());
        }
        assert!(memo.is_stored("ns/b0/r1"), "a key outlives its template");
        assert!(
            memo.template("ns/b0/r1").is_none(),
            "the oldest template was dropped"
        );
        let last = format!("ns/b{}/r1", TEMPLATES_KEPT + 9);
        assert!(memo.template(&last).is_some());
        assert_eq!(locked(&memo.templates).len(), TEMPLATES_KEPT);
    }

    #[test]
    fn reading_a_template_again_does_not_hold_it_twice() {
        let memo = Memo::default();
        memo.read("ns/b/r1".into(), template());
        memo.read("ns/b/r1".into(), template());
        assert_eq!(locked(&memo.templates).len(), 1);
    }

    #[test]
    fn a_deleted_backend_is_forgotten_and_only_it() {
        let memo = Memo::default();
        memo.read("ns/shop/r1".into(), template());
        memo.stored("ns/shop/r2".into());
        memo.stored("ns/shop-internal/r1".into());
        memo.stored("other/shop/r1".into());
        memo.forget_backend("ns", "shop");
        assert!(!memo.is_stored("ns/shop/r1"));
        assert!(!memo.is_stored("ns/shop/r2"));
        assert!(memo.template("ns/shop/r1").is_none());
        assert!(
            memo.is_stored("ns/shop-internal/r1"),
            "a longer name is another backend"
        );
        assert!(
            memo.is_stored("other/shop/r1"),
            "another namespace is another backend"
        );
    }
}
