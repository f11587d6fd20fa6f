//! `apply`: server-side apply of every child under the one field manager, in three ordered waves
//! (identity, config and storage; then the Deployment; then the Services and the rest that point
//! at its pods),
//! skipping children whose live applied-hash already matches, and deleting the children of
//! disabled features. Talks to the API server only when something differs.

use std::fmt::Debug;

use k8s_openapi::{
    NamespaceResourceScope,
    api::{apps::v1::Deployment, core::v1::PersistentVolumeClaim},
    apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta},
};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, GetParams, Patch, PatchParams},
};
use serde::{Serialize, de::DeserializeOwned};
use tracing::{debug, info, warn};

use super::{
    Context,
    build::{Children, Desired, backup::names, kind_name},
    events,
    ownership::{self, Refusal},
    packed::{Pack, PackedStore},
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
    /// The Deployment as the API server returned it, when it was applied: fresher than the
    /// cache, so the status written right after does not report it missing.
    pub deployment: Option<Deployment>,
    /// Children left alone because an object of that name is not ours (apply order).
    pub refused: Vec<Refusal>,
}

/// The outcome of one child.
enum Written<K> {
    /// Up to date: no request.
    Skipped,
    /// Applied; the object as returned.
    Applied(K),
    /// Not ours: left alone.
    Refused(Refusal),
}

impl Applied {
    /// Count one child's outcome; the applied object when there is one.
    fn note<K>(&mut self, written: Written<K>) -> Option<K> {
        match written {
            Written::Skipped => None,
            Written::Applied(k) => Some(k),
            Written::Refused(refusal) => {
                self.refused.push(refusal);
                None
            }
        }
    }
}

/// Apply `children`, skipping what is up to date and what is not ours.
///
/// # Errors
/// `ApplyChild` / `DeleteChild` naming the child that failed; when several fail at once, the
/// first in apply order (so the status names the same one every time).
pub async fn apply(ctx: &Context, b: &ValidatedBackend, children: &Children) -> Result<Applied> {
    // Every kind is named here, so a new one cannot be forgotten; those marked `_` point at
    // the pods and are applied after the Deployment, by `apply_dependents`.
    let Children {
        service_account,
        config_map,
        uploads,
        deployment,
        canary,
        preview,
        preview_service: _,
        internal_service: _,
        public_service: _,
        hpa: _,
        pdb: _,
        network_policy: _,
        ingress: _,
        backup: _,
        verify: _,
        capture: _,
    } = children;
    let c = &ctx.caches;
    let mut out = Applied::default();
    // Three waves; the requests inside a wave are independent and run concurrently, so a
    // reconcile costs three round trips instead of ten. What the pods reference exists before
    // the Deployment; what points at the pods comes after it. Services go last on purpose:
    // kube-apiserver allocates ClusterIPs one at a time, so under load a Service create is the
    // slowest request, and it must not hold the pods back.
    let (sa, cm, up) = tokio::join!(
        apply_child(ctx, b, &c.service_accounts, service_account, no_drift),
        apply_child(ctx, b, &c.config_maps, config_map, no_drift),
        apply_uploads(ctx, b, uploads),
    );
    out.note(sa?);
    out.note(cm?);
    out.note(up?);
    hand_over_replicas(ctx, b, deployment).await?;
    let applied = apply_desired(
        ctx,
        b,
        &c.deployments,
        deployment,
        deployment_drift,
        &b.name,
    )
    .await?;
    out.deployment = out.note(applied);
    let (canary_name, preview_name) = (
        super::build::names::canary(&b.name),
        super::build::names::preview(&b.name),
    );
    let (canary, preview) = tokio::join!(
        apply_desired(
            ctx,
            b,
            &c.deployments,
            canary,
            deployment_drift,
            &canary_name
        ),
        apply_desired(
            ctx,
            b,
            &c.deployments,
            preview,
            deployment_drift,
            &preview_name
        ),
    );
    out.note(canary?);
    out.note(preview?);
    apply_dependents(ctx, b, children, &mut out).await?;
    Ok(out)
}

/// The last wave: Services, HPA, PDB, NetworkPolicy, Ingress and the data workloads, at once.
async fn apply_dependents(
    ctx: &Context,
    b: &ValidatedBackend,
    children: &Children,
    out: &mut Applied,
) -> Result<()> {
    let Children {
        internal_service,
        public_service,
        hpa,
        pdb,
        network_policy: policy,
        ingress,
        backup,
        verify,
        capture,
        preview_service,
        ..
    } = children;
    let c = &ctx.caches;
    let (backup_name, verify_name, capture_name) = (
        names::backup(&b.name),
        names::verify(&b.name),
        names::capture(&b.name),
    );
    let preview_name = super::build::names::preview(&b.name);
    let (internal, public, preview, hpa, pdb, np, ing, backup, verify, capture) = tokio::join!(
        apply_child(ctx, b, &c.services, internal_service, no_drift),
        apply_child(ctx, b, &c.services, public_service, no_drift),
        apply_desired(
            ctx,
            b,
            &c.services,
            preview_service,
            no_drift,
            &preview_name
        ),
        apply_desired(ctx, b, &c.hpas, hpa, no_drift, &b.name),
        apply_desired(ctx, b, &c.pdbs, pdb, no_drift, &b.name),
        apply_desired(ctx, b, &c.network_policies, policy, no_drift, &b.name),
        apply_desired(ctx, b, &c.ingresses, ingress, no_drift, &b.name),
        apply_desired(ctx, b, &c.cron_jobs, backup, no_drift, &backup_name),
        apply_desired(ctx, b, &c.cron_jobs, verify, no_drift, &verify_name),
        apply_desired(ctx, b, &c.deployments, capture, no_drift, &capture_name),
    );
    out.note(internal?);
    out.note(public?);
    out.note(preview?);
    out.note(hpa?);
    out.note(pdb?);
    out.note(np?);
    out.note(ing?);
    out.note(backup?);
    out.note(verify?);
    out.note(capture?);
    Ok(())
}

/// The fields of a live child whose applied-hash matches that someone else nevertheless
/// changed in a way worth undoing (empty: none). Only kinds cached in full can be checked.
type Drift<C, K> = fn(&C, &K) -> Vec<&'static str>;

fn no_drift<C, K>(_: &C, _: &K) -> Vec<&'static str> {
    Vec::new()
}

/// The Deployment fields that matter and that others commonly edit (`kubectl scale`,
/// `kubectl set image`, `kubectl rollout undo`; a rollout restart leaves these alone): replicas
/// we own, the image, the config/secret checksums.
fn deployment_drift(live: &Deployment, desired: &Deployment) -> Vec<&'static str> {
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
    let mut changed = Vec::new();
    if replicas(desired).is_some() && replicas(live) != replicas(desired) {
        changed.push("spec.replicas");
    }
    if image(live) != image(desired) {
        changed.push("spec.template.spec.containers[api].image");
    }
    if checksums(live) != checksums(desired) {
        changed.push("spec.template.metadata.annotations (config/Secret checksums)");
    }
    changed
}

/// Field manager that holds `spec.replicas` while the HPA takes it over.
const REPLICAS_HANDOVER_MANAGER: &str = "merchant-operator-replicas-handover";

/// Keeps the live replica count when autoscaling takes over the Deployment. Server-side apply
/// removes a field its only manager stops applying, so applying without `replicas` would reset
/// the Deployment to 1 pod until the HPA scales it back up. A second manager first takes
/// co-ownership of the current value; our apply then drops only our share and the count stays.
/// Runs only right before a Deployment apply (its applied-hash differs), never when settled,
/// and never on a Deployment that is not ours.
async fn hand_over_replicas(
    ctx: &Context,
    b: &ValidatedBackend,
    desired: &Desired<Deployment>,
) -> Result<()> {
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
    let Some(live) = ctx.caches.deployments.get(&namespace, &name) else {
        return Ok(());
    };
    if ownership::owner_of(b, live.meta()) != ownership::Owner::Us {
        return Ok(());
    }
    let Some(replicas) = live.spec.as_ref().and_then(|s| s.replicas) else {
        return Ok(());
    };
    if applied_hash(&live) == applied_hash(child) {
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
        Err(source) => return Err(apply_error::<K>(&name, source)),
    }
    ctx.metrics.drift_corrected(kind);
    info!(k8s.kind = kind, k8s.name = %name, "foreign edit of a child undone");
    Ok(())
}

/// The merge patch of `undo_foreign_edit` leaves an `Update` entry of our field manager in
/// managedFields, co-owning every field it wrote. While that entry exists a field our apply
/// stops sending is never removed: an env entry of a rolled-back revision stayed in the
/// Deployment, and its pods crash-looped beside the stable ones. Once the apply owns the fields,
/// the entry is dropped: a merge patch of managedFields without it, guarded by the
/// resourceVersion, read again on a conflict (the Deployment controller writes the status right
/// after our apply). Costs a write only after a drift was undone.
async fn drop_merge_patch_ownership<K>(api: &Api<K>, applied: &K) -> Result<()>
where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Debug,
{
    const ATTEMPTS: usize = 5;
    let name = applied.name_any();
    // The apply's answer is read first: almost always there is nothing to drop and no clone.
    let mut patch = without_merge_patch_entry(applied.meta());
    for _ in 0..ATTEMPTS {
        let Some(body) = patch.take() else {
            return Ok(());
        };
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&body))
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(source) => return Err(apply_error::<K>(&name, source)),
        }
        match api.get_opt(&name).await {
            Ok(Some(live)) => patch = without_merge_patch_entry(live.meta()),
            Ok(None) => return Ok(()),
            Err(source) => return Err(apply_error::<K>(&name, source)),
        }
    }
    warn!(k8s.kind = kind_name::<K>(), k8s.name = %name, "managedFields kept changing: the stale entry is left to the next apply");
    Ok(())
}

/// The merge patch that removes our `Update` entry from `meta`'s managedFields, if it has one.
fn without_merge_patch_entry(meta: &ObjectMeta) -> Option<serde_json::Value> {
    let entries = meta.managed_fields.as_deref().unwrap_or_default();
    let stale = |m: &ManagedFieldsEntry| {
        m.manager.as_deref() == Some(FIELD_MANAGER)
            && m.operation.as_deref() == Some("Update")
            && m.subresource.is_none()
    };
    if !entries.iter().any(stale) {
        return None;
    }
    let kept: Vec<&ManagedFieldsEntry> = entries.iter().filter(|m| !stale(m)).collect();
    Some(serde_json::json!({
        "metadata": {"resourceVersion": meta.resource_version, "managedFields": kept},
    }))
}

fn apply_error<K: Resource<DynamicType = ()>>(name: &str, source: kube::Error) -> Error {
    Error::ApplyChild {
        kind: kind_name::<K>(),
        name: name.to_owned(),
        source,
    }
}

/// The fields of `child` another writer changed or removed (see `drift`).
fn foreign_edits<C: Resource, K: Serialize>(live: &C, child: &K) -> Vec<String> {
    // A manifest that does not serialize cannot be compared: apply it (the apply reports why).
    serde_json::to_value(child).map_or_else(
        |_| vec!["*".to_owned()],
        |desired| super::drift::uncovered(live, &desired),
    )
}

/// The fields someone else changed that this apply reverted, or None when the apply only
/// brought a spec change. A new spec also differs from the live object (and its new fields are
/// not ours yet), so drift counts only under an unchanged applied-hash, or when another manager
/// took the applied-hash annotation itself: `kubectl rollout undo` copies the old revision's
/// annotations back, and only a foreign write moves that field away from us.
fn reverted_fields(
    unchanged: bool,
    edited: Vec<String>,
    drifted: &[&'static str],
) -> Option<Vec<String>> {
    // A path stops at the first level we no longer own: `metadata.annotations` when the hash
    // was our only annotation.
    let hash = format!("metadata.annotations.{APPLIED_HASH_ANNOTATION}");
    let covers_hash = |f: &String| *f == hash || hash.starts_with(&format!("{f}."));
    let hash_taken = edited.iter().any(covers_hash);
    if !unchanged && !hash_taken {
        return None;
    }
    let mut fields: Vec<String> = edited
        .into_iter()
        .filter(|f| !covers_hash(f))
        .chain(drifted.iter().map(|f| (*f).to_owned()))
        .collect();
    fields.sort();
    fields.dedup();
    (!fields.is_empty()).then_some(fields)
}

/// Whether a child absent from our cache may be created: our caches select on our label, so an
/// object someone else made with the same name is invisible there and server-side apply would
/// take it over. One GET, only when the child is missing from the cache (never when settled),
/// served from the API server's watch cache (`resourceVersion=0`): no etcd read per new child,
/// at the price of missing an object created in the last moments before (a quorum read has the
/// same gap between its answer and our apply).
async fn uncached_refusal<K>(
    b: &ValidatedBackend,
    api: &Api<K>,
    name: &str,
) -> Result<Option<Refusal>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let kind = kind_name::<K>();
    let live = api
        .get_metadata_opt_with(name, &GetParams::any())
        .await
        .map_err(|source| Error::ApplyChild {
            kind,
            name: name.to_owned(),
            source,
        })?;
    Ok(live.and_then(|l| ownership::refusal(b, kind, &l.metadata)))
}

/// SSA one child unless the cached object already carries the same applied-hash and our field
/// manager still owns every field of it; never one that is not ours.
async fn apply_child<K, C>(
    ctx: &Context,
    b: &ValidatedBackend,
    cache: &PackedStore<C>,
    child: &K,
    drift: Drift<C, K>,
) -> Result<Written<K>>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Serialize
        + DeserializeOwned
        + Clone
        + Debug,
    C: Pack,
{
    let kind = kind_name::<K>();
    let name = child.name_any();
    let namespace = child
        .namespace()
        .ok_or(Error::MissingObjectKey("namespace"))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let live = cache.get(&namespace, &name);
    let refusal = match live.as_ref() {
        Some(l) => ownership::refusal(b, kind, l.meta()),
        None => uncached_refusal(b, &api, &name).await?,
    };
    if let Some(refusal) = refusal {
        debug!(k8s.kind = kind, k8s.name = %name, "not ours, left alone");
        return Ok(Written::Refused(refusal));
    }
    let unchanged = live.as_ref().and_then(applied_hash) == applied_hash(child);
    let edited = live
        .as_ref()
        .map(|l| foreign_edits(l, child))
        .unwrap_or_default();
    let drifted = live.as_ref().map(|l| drift(l, child)).unwrap_or_default();
    if unchanged && edited.is_empty() && drifted.is_empty() {
        debug!(k8s.kind = kind, k8s.name = %name, "child up to date, apply skipped");
        return Ok(Written::Skipped);
    }
    if !edited.is_empty() {
        undo_foreign_edit(ctx, &api, child).await?;
    }
    let applied = server_side_apply(ctx, &api, child, &name).await?;
    drop_merge_patch_ownership(&api, &applied).await?;
    if let Some(fields) = reverted_fields(unchanged, edited, &drifted) {
        events::drift_reverted(ctx, b, kind, &name, fields).await;
    }
    Ok(Written::Applied(applied))
}

/// SSA `child` under our field manager, forcing ownership of its fields.
async fn server_side_apply<K>(ctx: &Context, api: &Api<K>, child: &K, name: &str) -> Result<K>
where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Debug,
{
    let kind = kind_name::<K>();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let applied = api
        .patch(name, &params, &Patch::Apply(child))
        .await
        .map_err(|source| apply_error::<K>(name, source))?;
    ctx.metrics.child_applied(kind);
    info!(k8s.kind = kind, k8s.name = %name, "child applied");
    Ok(applied)
}

async fn apply_desired<K, C>(
    ctx: &Context,
    b: &ValidatedBackend,
    cache: &PackedStore<C>,
    desired: &Desired<K>,
    drift: Drift<C, K>,
    // The child's name: what an Absent child deletes.
    name: &str,
) -> Result<Written<K>>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Serialize
        + DeserializeOwned
        + Clone
        + Debug,
    C: Pack,
{
    match desired {
        Desired::Present(child) => apply_child(ctx, b, cache, child, drift).await,
        Desired::Hold => Ok(Written::Skipped),
        Desired::Absent => {
            delete_child::<K, C>(ctx, cache, &b.namespace, name, |live| {
                ownership::owner_of(b, live.meta()) == ownership::Owner::Us
            })
            .await?;
            Ok(Written::Skipped)
        }
    }
}

/// The uploads claim. On disable it is deleted only while it carries this MerchantBackend's
/// ownerReference (`retainOnDelete: false`); a retained claim is never deleted by the operator,
/// and an Event says once that it was kept and how to delete it.
async fn apply_uploads(
    ctx: &Context,
    b: &ValidatedBackend,
    desired: &Desired<PersistentVolumeClaim>,
) -> Result<Written<PersistentVolumeClaim>> {
    let cache = &ctx.caches.pvcs;
    match desired {
        Desired::Present(child) => apply_child(ctx, b, cache, child, no_drift).await,
        Desired::Hold => Ok(Written::Skipped),
        Desired::Absent => {
            let uid = b.owner.as_ref().map(|o| o.uid.clone());
            let name = super::build::names::uploads(&b.name);
            let owned = |live: &PersistentVolumeClaim| {
                live.owner_references()
                    .iter()
                    .any(|o| Some(&o.uid) == uid.as_ref())
            };
            let deleted =
                delete_child::<PersistentVolumeClaim, _>(ctx, cache, &b.namespace, &name, owned)
                    .await?;
            if deleted == 0
                && let Some(live) = cache.get(&b.namespace, &name)
                && ownership::owner_of(b, live.meta()) == ownership::Owner::Us
                && live.meta().deletion_timestamp.is_none()
            {
                events::claim_retained(ctx, b, live.meta()).await;
            }
            Ok(Written::Skipped)
        }
    }
}

async fn delete_child<K, C>(
    ctx: &Context,
    cache: &PackedStore<C>,
    namespace: &str,
    name: &str,
    may_delete: impl Fn(&C) -> bool,
) -> Result<usize>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + DeserializeOwned
        + Clone
        + Debug,
    C: Pack,
{
    let Some(live) = cache.get(namespace, name) else {
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
        crate::controller::build::deployment(&v, "secrets")
    }

    fn entry(manager: &str, operation: &str, subresource: Option<&str>) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.to_owned()),
            operation: Some(operation.to_owned()),
            subresource: subresource.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn only_our_merge_patch_entry_is_dropped_under_the_read_version() {
        let mut meta = ObjectMeta {
            resource_version: Some("42".into()),
            managed_fields: Some(vec![
                entry(FIELD_MANAGER, "Apply", None),
                entry(FIELD_MANAGER, "Update", None),
                entry("kube-controller-manager", "Update", Some("status")),
                entry("kubectl-edit", "Update", None),
            ]),
            ..Default::default()
        };
        let patch = without_merge_patch_entry(&meta).expect("our Update entry is stale");
        assert_eq!(patch["metadata"]["resourceVersion"], "42");
        let kept: Vec<(&str, &str)> = patch["metadata"]["managedFields"]
            .as_array()
            .expect("the list")
            .iter()
            .map(|m| {
                (
                    m["manager"].as_str().unwrap_or(""),
                    m["operation"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            kept,
            [
                (FIELD_MANAGER, "Apply"),
                ("kube-controller-manager", "Update"),
                ("kubectl-edit", "Update")
            ]
        );
        meta.managed_fields = Some(vec![entry(FIELD_MANAGER, "Apply", None)]);
        assert_eq!(
            without_merge_patch_entry(&meta),
            None,
            "nothing to drop: no write"
        );
    }

    #[test]
    fn a_spec_change_is_not_reported_as_a_reverted_edit() {
        let new_field = vec!["spec.template.spec.volumes[uploads]".to_owned()];
        assert_eq!(reverted_fields(false, new_field, &["spec.replicas"]), None);
    }

    #[test]
    fn a_rollout_undo_is_reported_by_the_fields_it_took() {
        let taken = vec![
            "metadata.annotations".to_owned(),
            "spec.template.spec.containers[api].image".to_owned(),
        ];
        assert_eq!(
            reverted_fields(false, taken, &[]),
            Some(vec!["spec.template.spec.containers[api].image".to_owned()])
        );
        assert_eq!(
            reverted_fields(true, vec![], &["spec.replicas"]),
            Some(vec!["spec.replicas".to_owned()])
        );
    }

    #[test]
    fn a_hand_scaled_deployment_counts_as_drift() {
        let want = desired("image: a:1\nreplicas: 2");
        let mut live = want.clone();
        assert!(deployment_drift(&live, &want).is_empty());
        if let Some(spec) = live.spec.as_mut() {
            spec.replicas = Some(5);
        }
        assert_eq!(deployment_drift(&live, &want), vec!["spec.replicas"]);
    }

    #[test]
    fn hpa_owned_replicas_are_not_drift() {
        let want = desired("image: a:1\nautoscaling: {}");
        let mut live = want.clone();
        if let Some(spec) = live.spec.as_mut() {
            spec.replicas = Some(7);
        }
        assert!(deployment_drift(&live, &want).is_empty());
    }

    #[test]
    fn a_hand_set_image_counts_as_drift() {
        let want = desired("image: a:1");
        let live = desired("image: a:2");
        assert_eq!(
            deployment_drift(&live, &want),
            vec!["spec.template.spec.containers[api].image"]
        );
    }
}
