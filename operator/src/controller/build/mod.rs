//! `build`: `ValidatedBackend` (+ observed Secret digest) -> `Children`, one pure builder per
//! child kind returning typed k8s-openapi structs. Shared by `run` (apply) and `render`.

pub mod backup;
mod deployment;
mod network;
mod pod_inputs;
mod scaling;
mod service;
pub mod task;

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        autoscaling::v2::HorizontalPodAutoscaler,
        batch::v1::CronJob,
        core::v1::{ConfigMap, PersistentVolumeClaim, Service, ServiceAccount},
        networking::v1::{Ingress, NetworkPolicy},
        policy::v1::PodDisruptionBudget,
    },
    apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta},
};
use kube::Resource;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use deployment::deployment;

use super::{secrets::SecretsState, validate::ValidatedBackend};
use crate::crd::{APPLIED_HASH_ANNOTATION, INSTANCE_LABEL, MANAGED_BY};
use crate::error::{Error, Result};

/// What should happen to an optional child.
#[derive(Debug, Clone, PartialEq)]
pub enum Desired<K> {
    /// Apply this manifest.
    Present(K),
    /// The feature is off: delete the child if it exists.
    Absent,
    /// Leave whatever exists untouched (e.g. Deployment while a Secret is missing).
    Hold,
}

impl<K> Desired<K> {
    /// The manifest when present.
    pub fn present(&self) -> Option<&K> {
        match self {
            Self::Present(k) => Some(k),
            Self::Absent | Self::Hold => None,
        }
    }

    fn from_option(value: Option<K>) -> Self {
        value.map_or(Self::Absent, Self::Present)
    }
}

/// Every child of a MerchantBackend. `apply` destructures it without `..`, so adding a kind here
/// without applying it does not compile.
#[derive(Debug, Clone, PartialEq)]
pub struct Children {
    /// ServiceAccount `<name>` (no token mounted).
    pub service_account: ServiceAccount,
    /// ConfigMap `<name>-config`: non-secret environment.
    pub config_map: ConfigMap,
    /// PersistentVolumeClaim `<name>-uploads`.
    pub uploads: Desired<PersistentVolumeClaim>,
    /// ClusterIP Service `<name>-internal` on the API port.
    pub internal_service: Service,
    /// Public Service `<name>`.
    pub public_service: Service,
    /// Deployment `<name>`; held while a required Secret is missing.
    pub deployment: Desired<Deployment>,
    /// Deployment `<name>-canary`: the new revision during a Canary rollout.
    pub canary: Desired<Deployment>,
    /// Deployment `<name>-preview`: the new revision during a BlueGreen rollout.
    pub preview: Desired<Deployment>,
    /// Service `<name>-preview`: the new revision's pods during a BlueGreen rollout.
    pub preview_service: Desired<Service>,
    /// HorizontalPodAutoscaler `<name>`.
    pub hpa: Desired<HorizontalPodAutoscaler>,
    /// PodDisruptionBudget `<name>`.
    pub pdb: Desired<PodDisruptionBudget>,
    /// NetworkPolicy `<name>`.
    pub network_policy: Desired<NetworkPolicy>,
    /// Ingress `<name>`.
    pub ingress: Desired<Ingress>,
    /// CronJob `<name>-backup`.
    pub backup: Desired<CronJob>,
    /// CronJob `<name>-verify` (restore drills).
    pub verify: Desired<CronJob>,
    /// Deployment `<name>-capture` (continuous change capture).
    pub capture: Desired<Deployment>,
}

/// Build every child. Pure: same input, same bytes.
///
/// # Errors
/// `SerializeChild` if a manifest cannot be serialized for its hash annotation.
pub fn build(b: &ValidatedBackend, secrets: &SecretsState) -> Result<Children> {
    let config_map = pod_inputs::config_map(b);
    let deployment = match secrets {
        SecretsState::Ready { hash } => Desired::Present(stamp(deployment(b, hash))?),
        SecretsState::Missing(_) => Desired::Hold,
    };
    Ok(Children {
        service_account: stamp(pod_inputs::service_account(b))?,
        config_map: stamp(config_map)?,
        uploads: stamp_desired(pod_inputs::uploads(b))?,
        internal_service: stamp(service::internal(b))?,
        public_service: stamp(service::public(b))?,
        deployment,
        canary: Desired::Absent,
        preview: Desired::Absent,
        preview_service: Desired::Absent,
        hpa: stamp_desired(scaling::hpa(b))?,
        pdb: stamp_desired(scaling::pdb(b))?,
        network_policy: stamp_desired(network::network_policy(b))?,
        ingress: stamp_desired(network::ingress(b))?,
        backup: stamp_desired(backup::backup_cron_job(b))?,
        verify: stamp_desired(backup::verify_cron_job(b))?,
        capture: stamp_desired(backup::capture_deployment(b))?,
    })
}

impl Children {
    /// Every manifest that would be applied, in apply order, as JSON values (for `render`).
    ///
    /// # Errors
    /// `SerializeChild` if a manifest cannot be serialized.
    pub fn manifests(&self) -> Result<Vec<serde_json::Value>> {
        let Self {
            service_account,
            config_map,
            uploads,
            internal_service,
            public_service,
            deployment,
            canary,
            preview,
            preview_service,
            hpa,
            pdb,
            network_policy,
            ingress,
            backup,
            verify,
            capture,
        } = self;
        Ok(vec![
            to_value(service_account)?,
            to_value(config_map)?,
            opt_value(uploads.present())?,
            opt_value(deployment.present())?,
            opt_value(canary.present())?,
            opt_value(preview.present())?,
            opt_value(preview_service.present())?,
            to_value(internal_service)?,
            to_value(public_service)?,
            opt_value(hpa.present())?,
            opt_value(pdb.present())?,
            opt_value(network_policy.present())?,
            opt_value(ingress.present())?,
            opt_value(backup.present())?,
            opt_value(verify.present())?,
            opt_value(capture.present())?,
        ]
        .into_iter()
        .flatten()
        .collect())
    }
}

fn to_value<K: Serialize + Resource<DynamicType = ()>>(k: &K) -> Result<Option<serde_json::Value>> {
    let mut value = serde_json::to_value(k).map_err(|source| serialize_error::<K>(k, source))?;
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), K::api_version(&()).into());
        map.insert("kind".into(), K::kind(&()).into());
    }
    Ok(Some(value))
}

fn opt_value<K: Serialize + Resource<DynamicType = ()>>(
    k: Option<&K>,
) -> Result<Option<serde_json::Value>> {
    k.map_or(Ok(None), to_value)
}

fn serialize_error<K: Resource<DynamicType = ()>>(k: &K, source: serde_json::Error) -> Error {
    Error::SerializeChild {
        kind: kind_name::<K>(),
        name: k.meta().name.clone().unwrap_or_default(),
        source,
    }
}

/// Static kind name of a child type, for errors and metrics.
pub fn kind_name<K: Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()).as_ref() {
        "ServiceAccount" => "ServiceAccount",
        "ConfigMap" => "ConfigMap",
        "PersistentVolumeClaim" => "PersistentVolumeClaim",
        "Service" => "Service",
        "Deployment" => "Deployment",
        "HorizontalPodAutoscaler" => "HorizontalPodAutoscaler",
        "PodDisruptionBudget" => "PodDisruptionBudget",
        "NetworkPolicy" => "NetworkPolicy",
        "Ingress" => "Ingress",
        "CronJob" => "CronJob",
        "Job" => "Job",
        _ => "Other",
    }
}

/// SHA-256 of `bytes`, hex encoded.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Hash of the configuration (the ConfigMap data), stamped on the pod template and in the
/// ConfigMap's name, so a config change rolls the pods.
pub fn config_hash(b: &ValidatedBackend) -> String {
    let text: String = b.config.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    sha256_hex(text.as_bytes())
}

/// Revision id of a pod template: a hash of it (before the revision label is added).
pub fn revision_of(template: &k8s_openapi::api::core::v1::PodTemplateSpec) -> String {
    let bytes = serde_json::to_vec(template).unwrap_or_default();
    sha256_hex(&bytes)[..10].to_owned()
}

/// Stamp again after an edit (a template swapped by the rollout, a selector narrowed).
///
/// # Errors
/// `SerializeChild` if the manifest cannot be serialized.
pub fn restamp<K: Serialize + Resource<DynamicType = ()>>(mut k: K) -> Result<K> {
    if let Some(a) = k.meta_mut().annotations.as_mut() {
        a.remove(APPLIED_HASH_ANNOTATION);
    }
    stamp(k)
}

/// Stamp the applied-hash annotation: the SHA-256 of the manifest without it. An unchanged hash on
/// the live object means the apply would be a no-op, so it is skipped.
fn stamp<K: Serialize + Resource<DynamicType = ()>>(mut k: K) -> Result<K> {
    let bytes = serde_json::to_vec(&k).map_err(|source| serialize_error::<K>(&k, source))?;
    let hash = sha256_hex(&bytes);
    k.meta_mut()
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(APPLIED_HASH_ANNOTATION.to_owned(), hash);
    Ok(k)
}

fn stamp_desired<K: Serialize + Resource<DynamicType = ()>>(k: Option<K>) -> Result<Desired<K>> {
    Ok(Desired::from_option(k.map(stamp).transpose()?))
}

/// `app.kubernetes.io/*` labels of every child.
pub fn labels(b: &ValidatedBackend) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_owned(),
            "merchant-api".to_owned(),
        ),
        (INSTANCE_LABEL.to_owned(), b.name.clone()),
        ("app.kubernetes.io/component".to_owned(), "api".to_owned()),
        (
            "app.kubernetes.io/part-of".to_owned(),
            "merchant-stack".to_owned(),
        ),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            MANAGED_BY.to_owned(),
        ),
    ])
}

/// Labels selecting the API pods of one MerchantBackend (stable across upgrades).
pub fn selector_labels(b: &ValidatedBackend) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_owned(),
            "merchant-api".to_owned(),
        ),
        (INSTANCE_LABEL.to_owned(), b.name.clone()),
    ])
}

/// The pod selector as a LabelSelector.
pub fn selector(b: &ValidatedBackend) -> LabelSelector {
    LabelSelector {
        match_labels: Some(selector_labels(b)),
        ..Default::default()
    }
}

/// Metadata of a child: name, namespace, labels, controller ownerReference.
pub fn object_meta(b: &ValidatedBackend, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(b.namespace.clone()),
        labels: Some(labels(b)),
        owner_references: b.owner.clone().map(|o| vec![o]),
        ..Default::default()
    }
}

/// Child names, derived from the MerchantBackend name only.
pub mod names {
    /// ConfigMap name.
    pub fn config_map(name: &str) -> String {
        format!("{name}-config")
    }
    /// The immutable ConfigMap of one configuration: `<name>-config-<hash>`, so every revision
    /// keeps its own and a rollback takes its configuration back with its image.
    pub fn config_revision(name: &str, config_hash: &str) -> String {
        format!(
            "{}-{}",
            config_map(name),
            &config_hash[..config_hash.len().min(10)]
        )
    }
    /// The canary Deployment.
    pub fn canary(name: &str) -> String {
        format!("{name}-canary")
    }
    /// The BlueGreen preview Deployment and Service.
    pub fn preview(name: &str) -> String {
        format!("{name}-preview")
    }
    /// Internal Service name.
    pub fn internal_service(name: &str) -> String {
        format!("{name}-internal")
    }
    /// Uploads claim name.
    pub fn uploads(name: &str) -> String {
        format!("{name}-uploads")
    }
}

/// Name of the container port every Service targets.
pub const HTTP_PORT_NAME: &str = "http";

/// The API's admin port (`/metrics`, probes): the image's default `ADMIN_PORT`, named so a
/// PodMonitor can scrape it; no Service routes clients to it.
pub const METRICS_PORT_NAME: &str = "metrics";
/// Its number.
pub const METRICS_PORT: i32 = 9464;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{controller::validate::validate, fixtures::backend};

    fn ready() -> SecretsState {
        SecretsState::Ready { hash: "abc".into() }
    }

    #[test]
    fn building_twice_gives_identical_children() {
        let v = validate(&backend("image: a:1\nautoscaling: {}\nuploads: {}")).expect("valid");
        assert_eq!(
            build(&v, &ready()).expect("build"),
            build(&v, &ready()).expect("build")
        );
    }

    #[test]
    fn every_child_is_owned_labelled_and_hashed() {
        let v = validate(&backend("image: a:1\nautoscaling: {}\ningress: {host: x.example}\nnetworkPolicy: {enabled: true}")).expect("valid");
        let manifests = build(&v, &ready())
            .expect("build")
            .manifests()
            .expect("manifests");
        assert_eq!(manifests.len(), 9, "all but the uploads claim");
        for m in manifests {
            let meta = &m["metadata"];
            assert_eq!(meta["ownerReferences"][0]["kind"], "MerchantBackend", "{m}");
            assert_eq!(
                meta["labels"]["app.kubernetes.io/managed-by"],
                "merchant-operator"
            );
            assert!(meta["annotations"][APPLIED_HASH_ANNOTATION].is_string());
        }
    }

    #[test]
    fn a_missing_secret_holds_the_deployment() {
        let v = validate(&backend("image: a:1")).expect("valid");
        let children = build(&v, &SecretsState::Missing(vec![])).expect("build");
        assert_eq!(children.deployment, Desired::Hold);
    }

    #[test]
    fn disabled_features_are_absent() {
        let v = validate(&backend(
            "image: a:1\nautoscaling: {enabled: false}\nreplicas: 1",
        ))
        .expect("valid");
        let children = build(&v, &ready()).expect("build");
        assert_eq!(children.hpa, Desired::Absent);
        assert_eq!(children.pdb, Desired::Absent);
        assert_eq!(children.ingress, Desired::Absent);
        assert_eq!(children.network_policy, Desired::Absent);
        assert_eq!(children.uploads, Desired::Absent);
    }

    #[test]
    fn a_config_change_changes_the_pod_template_hash() {
        let a = validate(&backend("image: a:1")).expect("valid");
        let b = validate(&backend("image: a:1\nconfig: {logLevel: debug}")).expect("valid");
        let annotations = |v: &ValidatedBackend| {
            let c = build(v, &ready()).expect("build");
            let d = c.deployment.present().cloned().expect("deployment");
            d.spec
                .and_then(|s| s.template.metadata)
                .and_then(|m| m.annotations)
                .expect("annotations")
        };
        assert_ne!(
            annotations(&a)[crate::crd::CONFIG_HASH_ANNOTATION],
            annotations(&b)[crate::crd::CONFIG_HASH_ANNOTATION]
        );
    }
}
