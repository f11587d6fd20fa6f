//! The `MerchantBackend` custom resource (group `merchant.rezapp.com`, version `v1alpha1`) and
//! the names shared by every step: field manager, labels, annotations.

pub mod backup;
pub mod restore;
pub mod rollout;
mod spec;
pub mod status;

pub use backup::{MerchantBackup, MerchantBackupSpec, MerchantBackupStatus, Phase};
pub use restore::{MerchantRestore, MerchantRestoreSpec, MerchantRestoreStatus};
pub use spec::*;
pub use status::MerchantBackendStatus;

use kube::CustomResourceExt;

/// API group of the resource.
pub const GROUP: &str = "merchant.rezapp.com";
/// API version of the resource.
pub const VERSION: &str = "v1alpha1";
/// Name of the CustomResourceDefinition.
pub const CRD_NAME: &str = "merchantbackends.merchant.rezapp.com";
/// The one server-side-apply field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "merchant-operator";
/// Value of `app.kubernetes.io/managed-by` on every child; the controller's caches select on it.
pub const MANAGED_BY: &str = "merchant-operator";
/// Annotation on every child: SHA-256 of the applied manifest. Equal hash means nothing to
/// apply, so a settled reconcile issues no write.
pub const APPLIED_HASH_ANNOTATION: &str = "merchant.rezapp.com/applied-hash";
/// Pod template annotation: hash of the ConfigMap data (changes roll the pods).
pub const CONFIG_HASH_ANNOTATION: &str = "merchant.rezapp.com/config-hash";
/// Pod template annotation: hash of the referenced Secret data, never the values.
pub const SECRETS_HASH_ANNOTATION: &str = "merchant.rezapp.com/secrets-hash";
/// Label naming the MerchantBackend a child belongs to (`app.kubernetes.io/instance`).
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// Pod label: the revision a pod runs (hash of its template), what Services and queries select.
pub const REVISION_LABEL: &str = "merchant.rezapp.com/revision";
/// Annotation on a MerchantBackend: finish the paused step (value `full`: every step).
pub const PROMOTE_ANNOTATION: &str = "merchant.rezapp.com/promote";
/// Annotation on a MerchantBackend: stop the rollout and go back to the stable revision.
pub const ABORT_ANNOTATION: &str = "merchant.rezapp.com/abort";
/// Annotation on a MerchantBackend: roll out again the revision that failed or was aborted.
pub const RETRY_ANNOTATION: &str = "merchant.rezapp.com/retry";
/// Annotation on a MerchantBackend: hold the rollout where it is while present.
pub const PAUSE_ANNOTATION: &str = "merchant.rezapp.com/pause";

/// The CustomResourceDefinition of the MerchantBackend as YAML.
///
/// # Errors
/// Fails only if serialization fails, which the typed CRD cannot trigger in practice.
pub fn crd_yaml() -> Result<String, serde_saphyr::SerializeError> {
    serde_saphyr::to_string(&MerchantBackend::crd())
}

/// Every CustomResourceDefinition of the operator: (name, YAML), MerchantBackend first.
///
/// # Errors
/// Fails only if serialization fails, which the typed CRDs cannot trigger in practice.
pub fn crds() -> Result<Vec<(String, String)>, serde_saphyr::SerializeError> {
    [
        MerchantBackend::crd(),
        MerchantBackup::crd(),
        MerchantRestore::crd(),
    ]
    .into_iter()
    .map(|crd| {
        let name = crd.metadata.name.clone().unwrap_or_default();
        serde_saphyr::to_string(&crd).map(|yaml| (name, yaml))
    })
    .collect()
}

/// Every CRD as one multi-document YAML stream (what `merchant-operator crd` prints), or the
/// one named `name`; None when no CRD has that name.
///
/// # Errors
/// Fails only if serialization fails.
pub fn crds_yaml(name: Option<&str>) -> Result<Option<String>, serde_saphyr::SerializeError> {
    let docs: Vec<String> = crds()?
        .into_iter()
        .filter(|(n, _)| name.is_none_or(|want| want == n))
        .map(|(_, yaml)| yaml)
        .collect();
    Ok((!docs.is_empty()).then(|| docs.join("---\n")))
}
