//! `apply`: server-side apply of every child under the one field manager, in three ordered waves
//! (identity, config and storage; then the Deployment; then the Services and the rest that point
//! at its pods),
//! skipping children whose live applied-hash already matches, and deleting the children of
//! disabled features. Talks to the API server only when something differs.

use std::fmt::Debug;

use k8s_openapi::{
    NamespaceResourceScope,
    api::{apps::v1::Deployment, core::v1::PersistentVolumeClaim},
};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
    runtime::reflector::Store,
};
use serde::{Serialize, de::DeserializeOwned};
use tracing::{debug, info};

use super::{
    Context,
    build::{Children, Desired, kind_name},
    cache::lookup,
    validate::ValidatedBackend,
};
use crate::{
    crd::{
        APPLIED_HASH_ANNOTATION, CONFIG_HASH_ANNOTATION, FIELD_MANAGER, SECRETS_HASH_ANNOTATION,
    },
    error::{Error, Result},
};

/// What `apply` did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Apply requests issued.
    pub applies: usize,
    /// The Deployment as the API server returned it, when it was applied: fresher than the
    /// cache, so the status written right after does not report it missing.
    pub deployment: Option<Deployment>,
}

/// Apply `children`, skipping what is up to date.
///
/// # Errors
/// `ApplyChild` / `DeleteChild` naming the child that failed.
pub async fn apply(ctx: &Context, b: &ValidatedBackend, children: &Children) -> Result<Applied> {
    let Children {
        service_account,
        config_map,
        uploads,
        internal_service,
        public_service,
        deployment,
        hpa,
        pdb,
        network_policy,
        ingress,
    } = children;
    let c = &ctx.caches;
    // Three waves; the requests inside a wave are independent and run concurrently, so a
    // reconcile costs three round trips instead of ten. What the pods reference exists before
    // the Deployment; what points at the pods comes after it. Services go last on purpose:
    // kube-apiserver allocates ClusterIPs one at a time, so under load a Service create is the
    // slowest request, and it must not hold the pods back.
    let first = tokio::try_join!(
        apply_child(ctx, &c.service_accounts, service_account, no_drift),
        apply_child(ctx, &c.config_maps, config_map, no_drift),
        apply_uploads(ctx, b, uploads),
    )?;
    hand_over_replicas(ctx, deployment).await?;
    let deployment = apply_desired(ctx, b, &c.deployments, deployment, deployment_drift).await?;
    let last = tokio::try_join!(
        apply_child(ctx, &c.services, internal_service, no_drift),
        apply_child(ctx, &c.services, public_service, no_drift),
        apply_desired(ctx, b, &c.hpas, hpa, no_drift),
        apply_desired(ctx, b, &c.pdbs, pdb, no_drift),
        apply_desired(ctx, b, &c.network_policies, network_policy, no_drift),
        apply_desired(ctx, b, &c.ingresses, ingress, no_drift),
    )?;
    let applies = [
        first.0.is_some(),
        first.1.is_some(),
        first.2.is_some(),
        deployment.is_some(),
        last.0.is_some(),
        last.1.is_some(),
        last.2.is_some(),
        last.3.is_some(),
        last.4.is_some(),
        last.5.is_some(),
    ]
    .into_iter()
    .filter(|applied| *applied)
    .count();
    Ok(Applied {
        applies,
        deployment,
    })
}

/// Whether a live child whose applied-hash matches was nevertheless changed by someone else in
/// a way worth undoing. Only kinds cached in full can be checked.
type Drift<C, K> = fn(&C, &K) -> bool;

fn no_drift<C, K>(_: &C, _: &K) -> bool {
    false
}

/// The Deployment fields that matter and that others commonly edit (`kubectl scale`,
/// `kubectl set image`; a rollout restart leaves these alone): replicas we own, the image, the
/// config/secret checksums.
fn deployment_drift(live: &Deployment, desired: &Deployment) -> bool {
    let replicas = |d: &Deployment| d.spec.as_ref().and_then(|s| s.replicas);
    let template = |d: &Deployment| {
        d.spec
            .as_ref()
            .map(|s| s.template.clone())
            .unwrap_or_default()
    };
    let image = |d: &Deployment| super::cache::deployment_image(&template(d));
    let checksums = |d: &Deployment| {
        let annotations = template(d)
            .metadata
            .and_then(|m| m.annotations)
            .unwrap_or_default();
        [CONFIG_HASH_ANNOTATION, SECRETS_HASH_ANNOTATION].map(|k| annotations.get(k).cloned())
    };
    (replicas(desired).is_some() && replicas(live) != replicas(desired))
        || image(live) != image(desired)
        || checksums(live) != checksums(desired)
}

/// Field manager that holds `spec.replicas` while the HPA takes it over.
const REPLICAS_HANDOVER_MANAGER: &str = "merchant-operator-replicas-handover";

/// Keeps the live replica count when autoscaling takes over the Deployment. Server-side apply
/// removes a field its only manager stops applying, so applying without `replicas` would reset
/// the Deployment to 1 pod until the HPA scales it back up. A second manager first takes
/// co-ownership of the current value; our apply then drops only our share and the count stays.
/// Runs only right before a Deployment apply (its applied-hash differs), never when settled.
async fn hand_over_replicas(ctx: &Context, desired: &Desired<Deployment>) -> Result<()> {
    let Desired::Present(child) = desired else {
        return Ok(());
    };
    if child.spec.as_ref().and_then(|s| s.replicas).is_some() {
        return Ok(());
    }
    let name = child.name_any();
    let namespace = child
        .namespace()
        .ok_or(Error::MissingObjectKey("namespace"))?;
    let Some(live) = lookup(&ctx.caches.deployments, &namespace, &name) else {
        return Ok(());
    };
    let Some(replicas) = live.spec.as_ref().and_then(|s| s.replicas) else {
        return Ok(());
    };
    if applied_hash(live.as_ref()) == applied_hash(child) {
        return Ok(());
    }
    let patch = serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas},
    });
    Api::<Deployment>::namespaced(ctx.client.clone(), &namespace)
        .patch(
            &name,
            &PatchParams::apply(REPLICAS_HANDOVER_MANAGER),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(|source| Error::ApplyChild {
            kind: "Deployment",
            name: name.clone(),
            source,
        })?;
    debug!(k8s.name = %name, replicas, "replica count handed over before enabling autoscaling");
    Ok(())
}

fn applied_hash<M: Resource>(m: &M) -> Option<&String> {
    m.meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(APPLIED_HASH_ANNOTATION))
}

/// Server-side apply never removes what another manager owns, so a list member someone added
/// (a second Service port, an env entry) would survive our apply. A JSON merge patch of the
/// desired manifest replaces our lists and values wholesale first; the apply that follows takes
/// the ownership of every field back. Only on drift, so it costs nothing when settled.
async fn undo_foreign_edit<K>(ctx: &Context, api: &Api<K>, child: &K) -> Result<()>
where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Debug,
{
    let name = child.name_any();
    let kind = kind_name::<K>();
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    match api.patch(&name, &params, &Patch::Merge(child)).await {
        Ok(_) => {}
        // Deleted meanwhile: the apply recreates it.
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(source) => return Err(Error::ApplyChild { kind, name, source }),
    }
    ctx.metrics.drift_corrected(kind);
    info!(k8s.kind = kind, k8s.name = %name, "foreign edit of a child undone");
    Ok(())
}

/// Whether a field of `child` was changed or removed by another writer (see `drift`).
fn foreign_edit<C: Resource, K: Serialize>(live: &C, child: &K) -> bool {
    // A manifest that does not serialize cannot be compared: apply it (the apply reports why).
    serde_json::to_value(child).map_or(true, |desired| super::drift::drifted(live, &desired))
}

/// SSA one child unless the cached object already carries the same applied-hash and our field
/// manager still owns every field of it.
async fn apply_child<K, C>(
    ctx: &Context,
    cache: &Store<C>,
    child: &K,
    drift: Drift<C, K>,
) -> Result<Option<K>>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Serialize
        + DeserializeOwned
        + Clone
        + Debug,
    C: Resource<DynamicType = ()> + Clone + 'static,
{
    let kind = kind_name::<K>();
    let name = child.name_any();
    let namespace = child
        .namespace()
        .ok_or(Error::MissingObjectKey("namespace"))?;
    let live = lookup(cache, &namespace, &name);
    let unchanged = live.as_deref().and_then(applied_hash) == applied_hash(child);
    let edited = live.as_deref().is_some_and(|l| foreign_edit(l, child));
    if unchanged && !edited && !live.as_deref().is_some_and(|l| drift(l, child)) {
        debug!(k8s.kind = kind, k8s.name = %name, "child up to date, apply skipped");
        return Ok(None);
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    if edited {
        undo_foreign_edit(ctx, &api, child).await?;
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let applied = api
        .patch(&name, &params, &Patch::Apply(child))
        .await
        .map_err(|source| Error::ApplyChild {
            kind,
            name: name.clone(),
            source,
        })?;
    ctx.metrics.child_applied(kind);
    info!(k8s.kind = kind, k8s.name = %name, "child applied");
    Ok(Some(applied))
}

async fn apply_desired<K, C>(
    ctx: &Context,
    b: &ValidatedBackend,
    cache: &Store<C>,
    desired: &Desired<K>,
    drift: Drift<C, K>,
) -> Result<Option<K>>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Serialize
        + DeserializeOwned
        + Clone
        + Debug,
    C: Resource<DynamicType = ()> + Clone + 'static,
{
    match desired {
        Desired::Present(child) => apply_child(ctx, cache, child, drift).await,
        Desired::Hold => Ok(None),
        Desired::Absent => {
            delete_child::<K, C>(ctx, cache, &b.namespace, &b.name, |_| true).await?;
            Ok(None)
        }
    }
}

/// The uploads claim: deleted on disable only when it is still owned by this MerchantBackend
/// (a claim kept by retainOnDelete is never deleted by the operator).
async fn apply_uploads(
    ctx: &Context,
    b: &ValidatedBackend,
    desired: &Desired<PersistentVolumeClaim>,
) -> Result<Option<PersistentVolumeClaim>> {
    let cache = &ctx.caches.pvcs;
    match desired {
        Desired::Present(child) => apply_child(ctx, cache, child, no_drift).await,
        Desired::Hold => Ok(None),
        Desired::Absent => {
            let uid = b.owner.as_ref().map(|o| o.uid.clone());
            let name = super::build::names::uploads(&b.name);
            delete_child::<PersistentVolumeClaim, _>(ctx, cache, &b.namespace, &name, |live| {
                live.owner_references()
                    .iter()
                    .any(|o| Some(&o.uid) == uid.as_ref())
            })
            .await?;
            Ok(None)
        }
    }
}

async fn delete_child<K, C>(
    ctx: &Context,
    cache: &Store<C>,
    namespace: &str,
    name: &str,
    may_delete: impl Fn(&C) -> bool,
) -> Result<usize>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + DeserializeOwned
        + Clone
        + Debug,
    C: Resource<DynamicType = ()> + Clone + 'static,
{
    let Some(live) = lookup(cache, namespace, name) else {
        return Ok(0);
    };
    if live.meta().deletion_timestamp.is_some() || !may_delete(&live) {
        return Ok(0);
    }
    let kind = kind_name::<K>();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => {
            info!(k8s.kind = kind, k8s.name = %name, "child of a disabled feature deleted");
            Ok(1)
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(0),
        Err(source) => Err(Error::DeleteChild {
            kind,
            name: name.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{controller::validate::validate, fixtures::backend};

    fn desired(spec: &str) -> Deployment {
        let v = validate(&backend(spec)).expect("valid");
        crate::controller::build::deployment(&v, "config", "secrets")
    }

    #[test]
    fn a_hand_scaled_deployment_counts_as_drift() {
        let want = desired("image: a:1\nreplicas: 2");
        let mut live = want.clone();
        assert!(!deployment_drift(&live, &want));
        if let Some(spec) = live.spec.as_mut() {
            spec.replicas = Some(5);
        }
        assert!(deployment_drift(&live, &want));
    }

    #[test]
    fn hpa_owned_replicas_are_not_drift() {
        let want = desired("image: a:1\nautoscaling: {}");
        let mut live = want.clone();
        if let Some(spec) = live.spec.as_mut() {
            spec.replicas = Some(7);
        }
        assert!(!deployment_drift(&live, &want));
    }

    #[test]
    fn a_hand_set_image_counts_as_drift() {
        let want = desired("image: a:1");
        let live = desired("image: a:2");
        assert!(deployment_drift(&live, &want));
    }
}
