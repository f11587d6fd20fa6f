use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service},
};
use kube::core::PartialObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;
use crate::controller::{cache, diagnose};

/// Metadata as the API server sends it for one of our children.
fn metadata(name: &str) -> Value {
    json!({
        "name": name,
        "namespace": "prod",
        "uid": "child-uid",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": "2026-12-01T10:00:00Z",
        "labels": {
            "app.kubernetes.io/instance": "shop",
            "app.kubernetes.io/managed-by": "merchant-operator",
            "app.kubernetes.io/name": "merchant-api",
            "pod-template-hash": "abc"
        },
        "annotations": {
            "merchant.rezapp.com/applied-hash": "h1",
            "deployment.kubernetes.io/revision": "2"
        },
        "ownerReferences": [{
            "apiVersion": "merchant.rezapp.com/v1alpha1",
            "kind": "MerchantBackend",
            "name": "shop",
            "uid": "owner-uid",
            "controller": true,
            "blockOwnerDeletion": true
        }],
        "finalizers": ["example.com/keep"],
        "managedFields": [
            {
                "manager": "merchant-operator",
                "operation": "Apply",
                "apiVersion": "v1",
                "time": "2026-12-01T10:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:ownerReferences": {"k:{\"uid\":\"owner-uid\"}": {}}}}
            },
            {
                "manager": "kube-controller-manager",
                "operation": "Update",
                "subresource": "status",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": {}}
            }
        ]
    })
}

/// `object` pruned as `cache::children` prunes it, and the same after a trip through the store.
fn cached<K>(object: Value, prune: fn(&mut K)) -> (K, K)
where
    K: Pack + DeserializeOwned + Clone + Send + Sync + 'static,
{
    let mut pruned: K = serde_json::from_value(object).expect("valid object");
    cache::prune_child(&mut pruned, prune);
    let (store, mut sink) = PackedStore::<K>::new();
    sink.write(&Event::Apply(pruned.clone()));
    let stored = store.get("prod", "shop").expect("stored");
    (pruned, stored)
}

#[test]
fn a_packed_deployment_unpacks_to_the_pruned_deployment() {
    let object = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata("shop"),
        "spec": {
            "replicas": 2, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app.kubernetes.io/instance": "shop"}},
            "strategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"annotations": {
                    "merchant.rezapp.com/config-hash": "c1",
                    "merchant.rezapp.com/secrets-hash": "s1"
                }},
                "spec": {"containers": [{"name": "api", "image": "registry/api:1"}]}
            }
        },
        "status": {
            "observedGeneration": 3, "replicas": 2, "readyReplicas": 2, "availableReplicas": 2,
            "updatedReplicas": 2,
            "conditions": [{
                "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
                "lastTransitionTime": "2026-12-01T10:00:05Z", "lastUpdateTime": "2026-12-01T10:00:05Z"
            }]
        }
    });
    let (pruned, stored) = cached::<Deployment>(object, cache::prune_deployment);
    assert_eq!(stored, pruned);
    let template = &stored.spec.as_ref().expect("spec").template;
    assert_eq!(
        cache::deployment_image(template).as_deref(),
        Some("registry/api:1")
    );
    assert_eq!(stored.metadata.generation, Some(3));
    assert!(stored.metadata.finalizers.is_none());
}

#[test]
fn a_packed_pod_unpacks_to_what_diagnose_reads() {
    let mut meta = metadata("shop");
    meta["deletionTimestamp"] = json!("2026-12-01T11:00:00Z");
    let object = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"containers": [{"name": "api", "image": "registry/api:1"}]},
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-12-01T10:00:00Z"},
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "containers with unready status: [api]"}
            ],
            "containerStatuses": [{
                "name": "api", "image": "registry/api:1", "imageID": "sha256:x", "ready": false,
                "restartCount": 4, "started": false,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": "boom",
                    "startedAt": "2026-12-01T10:00:00Z", "finishedAt": "2026-12-01T10:00:01Z"}}
            }]
        }
    });
    let (pruned, stored) = cached::<Pod>(object, diagnose::prune_pod);
    assert_eq!(stored, pruned);
    assert!(stored.metadata.deletion_timestamp.is_some());
    let status = stored.status.expect("status");
    assert_eq!(
        status.container_statuses.expect("containers")[0].restart_count,
        4
    );
}

#[test]
fn a_packed_claim_service_and_metadata_only_child_unpack_to_the_pruned_objects() {
    let claim = json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata("shop"),
        "spec": {"storageClassName": "fast", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Pending"}
    });
    let (pruned, stored) = cached::<PersistentVolumeClaim>(claim, diagnose::prune_claim);
    assert_eq!(stored, pruned);
    assert_eq!(
        stored.metadata.uid.as_deref(),
        Some("child-uid"),
        "a claim keeps its uid"
    );
    let service = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": metadata("shop"),
        "spec": {"ports": [{"port": 80}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
    });
    let (pruned, stored) = cached::<Service>(service, cache::drop_service_spec);
    assert_eq!(stored, pruned);
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata("shop")});
    let (pruned, stored) = cached::<PartialObjectMeta<ConfigMap>>(config_map, cache::keep);
    assert_eq!(stored.metadata, pruned.metadata);
    let fields = stored.metadata.managed_fields.expect("our field set");
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].manager.as_deref(), Some("merchant-operator"));
}

#[tokio::test]
async fn the_store_forgets_deleted_objects_and_selects_by_instance() {
    let pod = |name: &str, instance: &str| {
        let mut pod = Pod::default();
        pod.metadata.name = Some(name.to_owned());
        pod.metadata.namespace = Some("prod".to_owned());
        pod.metadata.labels = Some(BTreeMap::from([(
            INSTANCE_LABEL.to_owned(),
            instance.to_owned(),
        )]));
        pod
    };
    let (store, mut sink) = PackedStore::<Pod>::new();
    sink.write(&Event::Apply(pod("shop-1", "shop")));
    sink.write(&Event::Apply(pod("shop-2", "shop")));
    sink.write(&Event::Apply(pod("cart-1", "cart")));
    sink.write(&Event::Delete(pod("shop-1", "shop")));
    let names: Vec<String> = store
        .with_instance("prod", "shop")
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(names, ["shop-2"]);
    assert_eq!(store.len(), 2);
    let listed = HashSet::from([ObjectRef::new("shop-2").within("prod")]);
    let stale: Vec<String> = sink
        .stale(Some("prod"), &listed)
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(stale, ["cart-1"], "only what the relist no longer lists");
    assert!(sink.stale(Some("other"), &HashSet::new()).is_empty());
    let early = tokio::time::timeout(
        std::time::Duration::from_millis(20),
        store.wait_until_ready(),
    )
    .await;
    assert!(early.is_err(), "ready before the first list");
    sink.mark_ready();
    store.wait_until_ready().await;
}
