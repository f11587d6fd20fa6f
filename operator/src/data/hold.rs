//! The in-place restore hold: while a MerchantRestore with `inPlace` for a MerchantBackend has
//! not finished, the MerchantBackend controller runs its Deployment at zero replicas and without
//! HPA, and the restore Job starts only once the API pods are gone. Pure functions over caches;
//! the MerchantBackend controller calls `held` and `apply`, the restore controller `api_pods`.

use k8s_openapi::api::core::v1::Pod;
use kube::{
    ResourceExt,
    runtime::reflector::{ObjectRef, Store},
};

use crate::{
    controller::{packed::PackedStore, validate::ValidatedBackend},
    crd::{INSTANCE_LABEL, MerchantRestore},
};

/// Whether `restore` holds the API of backend `name` in `namespace` at zero replicas: in place,
/// for that backend, not finished.
pub fn holds(restore: &MerchantRestore, namespace: &str, name: &str) -> bool {
    restore.namespace().as_deref() == Some(namespace)
        && restore.spec.backend_ref == name
        && restore.spec.in_place == Some(true)
        && restore.metadata.deletion_timestamp.is_none()
        && !restore
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .is_some_and(crate::crd::Phase::is_terminal)
}

/// The in-place restore holding backend `name` (the oldest when several), if any.
pub fn held(
    restores: &[std::sync::Arc<MerchantRestore>],
    namespace: &str,
    name: &str,
) -> Option<String> {
    restores
        .iter()
        .filter(|r| holds(r, namespace, name))
        .min_by_key(|r| (r.creation_timestamp(), r.name_any()))
        .map(|r| r.name_any())
}

/// The backend as built during a hold: zero replicas, no HPA (deleted while held).
pub fn apply(mut b: ValidatedBackend) -> ValidatedBackend {
    b.replicas = 0;
    b.autoscaling = None;
    b
}

/// Whether `pod` is an API pod (not a data-tool pod) of backend `name`.
pub fn is_api_pod(pod: &Pod, name: &str) -> bool {
    let labels = pod.labels();
    labels.get(INSTANCE_LABEL).map(String::as_str) == Some(name)
        && labels.get("app.kubernetes.io/name").map(String::as_str) == Some("merchant-api")
}

/// API pods of backend `name` still present (terminating ones included: they may still write).
pub fn api_pods(pods: &PackedStore<Pod>, namespace: &str, name: &str) -> usize {
    pods.with_instance(namespace, name)
        .iter()
        .filter(|p| is_api_pod(p, name))
        .count()
}

/// In-place restores waiting for this API pod to go (its deletion lets them start).
pub fn restores_waiting_on(
    restores: &Store<MerchantRestore>,
    pod: &Pod,
) -> Vec<ObjectRef<MerchantRestore>> {
    let (Some(namespace), Some(name)) = (pod.namespace(), pod.labels().get(INSTANCE_LABEL)) else {
        return Vec::new();
    };
    if !is_api_pod(pod, name) {
        return Vec::new();
    }
    restores
        .state()
        .iter()
        .filter(|r| holds(r, &namespace, name))
        .map(|r| ObjectRef::from_obj(r.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::crd::{MerchantRestoreSpec, MerchantRestoreStatus, Phase};

    fn restore(name: &str, in_place: bool, phase: Option<Phase>) -> Arc<MerchantRestore> {
        let mut r = MerchantRestore::new(
            name,
            MerchantRestoreSpec {
                backend_ref: "shop".into(),
                in_place: Some(in_place),
                ..Default::default()
            },
        );
        r.metadata.namespace = Some("ns".into());
        r.status = Some(MerchantRestoreStatus {
            phase,
            ..Default::default()
        });
        Arc::new(r)
    }

    #[test]
    fn an_unfinished_in_place_restore_holds_its_backend() {
        let rs = [restore("r1", true, Some(Phase::Running))];
        assert_eq!(held(&rs, "ns", "shop").as_deref(), Some("r1"));
        assert_eq!(held(&rs, "ns", "other"), None);
        assert_eq!(held(&rs, "other-ns", "shop"), None);
    }

    #[test]
    fn finished_or_new_database_restores_hold_nothing() {
        let rs = [
            restore("r1", true, Some(Phase::Succeeded)),
            restore("r2", true, Some(Phase::Failed)),
            restore("r3", false, Some(Phase::Running)),
        ];
        assert_eq!(held(&rs, "ns", "shop"), None);
    }

    #[test]
    fn a_held_backend_runs_no_pods_and_no_hpa() {
        let b = crate::controller::validate::validate(&crate::fixtures::backend(
            "image: a:1\nautoscaling: {minReplicas: 2, maxReplicas: 4}",
        ))
        .expect("valid");
        let held = apply(b);
        assert_eq!(held.replicas, 0);
        assert!(held.autoscaling.is_none());
    }
}
