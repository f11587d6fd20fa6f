//! What the API pods run as and mount: the ServiceAccount, the ConfigMap (non-secret
//! environment) and the uploads PersistentVolumeClaim, which carries no ownerReference when retainOnDelete is set (so the
//! garbage collector keeps it after the MerchantBackend is deleted; no finalizer needed).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, PersistentVolumeClaimSpec, ServiceAccount,
    VolumeResourceRequirements,
};

use super::{names, object_meta};
use crate::controller::validate::ValidatedBackend;

/// ServiceAccount of the API pods; the API needs no Kubernetes access, so no token is mounted.
pub fn service_account(b: &ValidatedBackend) -> ServiceAccount {
    ServiceAccount {
        metadata: object_meta(b, b.name.clone()),
        automount_service_account_token: Some(false),
        ..Default::default()
    }
}

/// ConfigMap with the non-secret environment (variable names: api-server/src/config.rs).
pub fn config_map(b: &ValidatedBackend) -> ConfigMap {
    ConfigMap {
        metadata: object_meta(b, names::config_revision(&b.name, &super::config_hash(b))),
        data: Some(b.config.clone()),
        immutable: Some(true),
        ..Default::default()
    }
}

/// Uploads claim, or None when uploads are off.
pub fn uploads(b: &ValidatedBackend) -> Option<PersistentVolumeClaim> {
    let u = b.uploads.as_ref()?;
    let mut metadata = object_meta(b, names::uploads(&b.name));
    if u.retain_on_delete {
        metadata.owner_references = None;
    }
    Some(PersistentVolumeClaim {
        metadata,
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(u.access_modes.clone()),
            storage_class_name: u.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), u.size.clone())])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{controller::validate::validate, fixtures::backend};

    #[test]
    fn a_retained_claim_has_no_owner_so_it_outlives_the_backend() {
        let v = validate(&backend("image: a:1\nuploads: {}")).expect("valid");
        assert_eq!(
            uploads(&v).expect("pvc").metadata.owner_references,
            None,
            "retained by default"
        );
        let v = validate(&backend("image: a:1\nuploads: {retainOnDelete: false}")).expect("valid");
        assert!(
            uploads(&v)
                .expect("pvc")
                .metadata
                .owner_references
                .is_some()
        );
    }

    #[test]
    fn the_config_map_carries_the_non_secret_environment() {
        let v = validate(&backend("image: a:1\nconfig: {corsOrigins: [https://a.example, https://b.example], logLevel: debug}")).expect("valid");
        let data = config_map(&v).data.expect("data");
        assert_eq!(data["CORS_ORIGIN"], "https://a.example,https://b.example");
        assert_eq!(data["LOG_LEVEL"], "debug");
        assert_eq!(data["PORT"], "5001");
    }
}
