//! Every revision's pod template, kept as a ControllerRevision `<name>-<revision>` (owned by
//! the MerchantBackend, like a StatefulSet keeps its history): the stable revision's template is
//! what a rollback, a canary's stable side and a BlueGreen's old side run. Their content never
//! changes (the name is its hash), so each one read or written is remembered for the life of the
//! process: a rollout costs one create per new revision and at most one GET per process.

use std::{collections::HashMap, sync::Arc, sync::Mutex};

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

/// Templates already stored or read, by `namespace/name/revision`.
#[derive(Default)]
pub struct Memo(Mutex<HashMap<String, Arc<PodTemplateSpec>>>);

impl Memo {
    fn get(&self, key: &str) -> Option<Arc<PodTemplateSpec>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn put(&self, key: String, template: Arc<PodTemplateSpec>) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, template);
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
    if ctx.revisions.get(&key).is_some() {
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
    ctx.revisions.put(key, Arc::new(template.clone()));
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
    if let Some(t) = ctx.revisions.get(&key) {
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
    ctx.revisions.put(key, template.clone());
    Ok(Some(template))
}

/// Delete the stored revisions not in `keep` (after a rollout finished: one LIST).
///
/// # Errors
/// `DeleteChild` when a delete fails.
pub async fn prune(ctx: &Context, b: &ValidatedBackend, keep: &[String]) -> Result<()> {
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
