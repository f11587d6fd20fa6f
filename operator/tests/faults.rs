//! Fault handling against the real control plane (issue #11): objects that are not ours, names
//! two MerchantBackends would share, applies the API server refuses, hand rollouts, the uploads
//! claim's retention, and pods that cannot run. Each test gets its own namespace and its own
//! in-process controller.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::{
    api::{
        admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding},
        apps::v1::Deployment,
        core::v1::{Event, PersistentVolumeClaim, ResourceQuota, Service},
    },
    apimachinery::pkg::apis::meta::v1::Condition,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use merchant_operator::crd::MerchantBackend;

fn mbs(client: &Client, ns: &str) -> Api<MerchantBackend> {
    Api::namespaced(client.clone(), ns)
}

fn api<K>(client: &Client, ns: &str) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    Api::namespaced(client.clone(), ns)
}

/// Wait until `name` is Degraded for `reason`; the MerchantBackend as it was then.
async fn degraded_by(
    client: &Client,
    ns: &str,
    name: &str,
    reason: &'static str,
) -> MerchantBackend {
    wait_for(
        mbs(client, ns),
        name,
        &format!("Degraded {reason}"),
        has_condition("Degraded", "True", Some(reason)),
    )
    .await
}

fn condition(mb: &MerchantBackend, type_: &str) -> Condition {
    mb.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
        .cloned()
        .unwrap_or_else(|| panic!("condition {type_} present"))
}

/// Events in `ns` with `reason`, as `(type, regarding kind/name, message)`.
async fn events(client: &Client, ns: &str, reason: &str) -> Vec<(String, String, String)> {
    api::<Event>(client, ns)
        .list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| {
            let regarding = format!(
                "{}/{}",
                e.involved_object.kind.unwrap_or_default(),
                e.involved_object.name.unwrap_or_default()
            );
            (
                e.type_.unwrap_or_default(),
                regarding,
                e.message.unwrap_or_default(),
            )
        })
        .collect()
}

fn managers<K: kube::Resource>(k: &K) -> Vec<String> {
    k.meta()
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect()
}

#[tokio::test]
async fn an_object_that_is_not_ours_is_left_alone_and_reported() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-notowned").await;
    create_default_secrets(&client, &ns).await;
    // Arrange: a user's Service with the name of the backend's internal Service.
    let foreign: Service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "shop-internal"},
        "spec": {"ports": [{"name": "db", "port": 9999}]}
    }))
    .expect("service");
    let services = api::<Service>(&client, &ns);
    services
        .create(&PostParams::default(), &foreign)
        .await
        .expect("create foreign service");
    let operator = Operator::start(&ns).await;

    // Act
    create_backend(&client, &ns, "shop", "image: a:1\nreplicas: 1").await;

    // Assert: reported, and the Service is exactly as the user left it.
    let mb = degraded_by(&client, &ns, "shop", "NotOwned").await;
    let degraded = condition(&mb, "Degraded");
    assert!(
        degraded
            .message
            .contains(&format!("Service/{ns}/shop-internal")),
        "{}",
        degraded.message
    );
    let ready = condition(&mb, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "NotOwned")
    );
    let live = services.get("shop-internal").await.expect("service");
    assert!(live.owner_references().is_empty());
    assert!(live.labels().is_empty());
    assert!(!managers(&live).contains(&"merchant-operator".to_owned()));
    assert!(
        api::<Deployment>(&client, &ns)
            .get_opt("shop")
            .await
            .expect("get")
            .is_some(),
        "the other children are still applied"
    );

    // Once the user removes it, the operator creates its own.
    services
        .delete("shop-internal", &DeleteParams::default())
        .await
        .expect("delete foreign service");
    eventually("our own internal Service", || async {
        services
            .get_opt("shop-internal")
            .await
            .ok()
            .flatten()
            .is_some_and(|s| s.owner_references().iter().any(|o| o.name == "shop"))
    })
    .await;
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn two_backends_whose_names_collide_never_fight_and_the_younger_is_stalled() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-conflict").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(&client, &ns, "x", "image: a:1\nreplicas: 1").await;
    let services = api::<Service>(&client, &ns);
    eventually("x's internal Service", || async {
        services
            .get_opt("x-internal")
            .await
            .ok()
            .flatten()
            .is_some()
    })
    .await;

    // Act: its public Service would be `x-internal`, x's internal Service.
    create_backend(&client, &ns, "x-internal", "image: a:1\nreplicas: 1").await;

    let younger = wait_for(
        mbs(&client, &ns),
        "x-internal",
        "Stalled NameConflict",
        has_condition("Stalled", "True", Some("NameConflict")),
    )
    .await;
    let stalled = condition(&younger, "Stalled");
    assert!(
        stalled.message.contains("MerchantBackend x")
            && stalled
                .message
                .contains(&format!("Service/{ns}/x-internal")),
        "{}",
        stalled.message
    );
    assert_eq!(condition(&younger, "Ready").status, "False");
    let before = services.get("x-internal").await.expect("service");
    // No fight: the Service stays x's and unchanged while both are reconciled.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = services.get("x-internal").await.expect("service");
    assert_eq!(before.resource_version(), after.resource_version());
    assert_eq!(after.owner_references()[0].name, "x");
    assert!(
        api::<Deployment>(&client, &ns)
            .get_opt("x-internal")
            .await
            .expect("get")
            .is_none(),
        "the refused backend applies nothing"
    );
    let older = mbs(&client, &ns).get("x").await.expect("x");
    assert_eq!(condition(&older, "Stalled").status, "False");
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn a_child_already_owned_by_another_backend_is_a_name_conflict_and_left_alone() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-owned").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    let a = create_backend(&client, &ns, "a", "image: a:1\nreplicas: 1").await;
    // Arrange: a Service named like b's public Service, controlled by MerchantBackend a.
    let taken: Service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "b", "ownerReferences": [{
            "apiVersion": "merchant.rezapp.com/v1alpha1", "kind": "MerchantBackend",
            "name": "a", "uid": a.uid().expect("uid"), "controller": true
        }]},
        "spec": {"ports": [{"name": "http", "port": 80}]}
    }))
    .expect("service");
    let services = api::<Service>(&client, &ns);
    services
        .create(&PostParams::default(), &taken)
        .await
        .expect("create service");
    let before = services.get("b").await.expect("service");

    create_backend(&client, &ns, "b", "image: a:1\nreplicas: 1").await;

    let mb = wait_for(
        mbs(&client, &ns),
        "b",
        "Stalled NameConflict",
        has_condition("Stalled", "True", Some("NameConflict")),
    )
    .await;
    let stalled = condition(&mb, "Stalled");
    assert_eq!(
        stalled.message,
        format!(
            "Service/{ns}/b belongs to MerchantBackend a; this MerchantBackend leaves it alone; \
             rename one of the two MerchantBackends"
        )
    );
    let after = services.get("b").await.expect("service");
    assert_eq!(before.resource_version(), after.resource_version());
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn an_apply_refused_by_a_resource_quota_shows_in_status_and_recovers() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-quota").await;
    create_default_secrets(&client, &ns).await;
    let quota: ResourceQuota = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "no-services"},
        "spec": {"hard": {"services": "0"}}
    }))
    .expect("quota");
    let quotas = api::<ResourceQuota>(&client, &ns);
    quotas
        .create(&PostParams::default(), &quota)
        .await
        .expect("create quota");
    // The quota admits nothing until the quota controller has computed its usage.
    eventually("quota usage computed", || async {
        quotas
            .get("no-services")
            .await
            .is_ok_and(|q| q.status.and_then(|s| s.used).is_some())
    })
    .await;
    let operator = Operator::start(&ns).await;

    create_backend(&client, &ns, "shop", "image: a:1\nreplicas: 1").await;

    let mb = degraded_by(&client, &ns, "shop", "ApplyFailed").await;
    let degraded = condition(&mb, "Degraded");
    assert!(
        degraded.message.starts_with("Service/shop-internal: ")
            && degraded.message.contains("exceeded quota"),
        "{}",
        degraded.message
    );
    assert_eq!(condition(&mb, "Ready").reason, "ApplyFailed");

    quotas
        .delete("no-services", &DeleteParams::default())
        .await
        .expect("delete quota");
    wait_for(
        mbs(&client, &ns),
        "shop",
        "Ready after the quota is gone",
        has_condition("Ready", "True", Some("Available")),
    )
    .await;
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn a_deployment_refused_by_an_admission_policy_shows_in_status_until_the_spec_is_fixed() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-policy").await;
    create_default_secrets(&client, &ns).await;
    // Arrange: a ValidatingAdmissionPolicy, bound to this namespace only, that refuses
    // Deployments pulling from `blocked.example/`.
    let policies = Api::<ValidatingAdmissionPolicy>::all(client.clone());
    let bindings = Api::<ValidatingAdmissionPolicyBinding>::all(client.clone());
    let policy: ValidatingAdmissionPolicy = serde_json::from_value(serde_json::json!({
        "metadata": {"name": ns},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["apps"], "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]
            }]},
            "validations": [{
                "expression": "object.spec.template.spec.containers.all(c, !c.image.startsWith('blocked.example/'))",
                "message": "images from blocked.example are not allowed"
            }]
        }
    }))
    .expect("policy");
    let binding: ValidatingAdmissionPolicyBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": ns},
        "spec": {
            "policyName": ns,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": ns
            }}}
        }
    }))
    .expect("binding");
    policies
        .create(&PostParams::default(), &policy)
        .await
        .expect("create policy");
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .expect("create binding");
    // The policy is enforced once the API server has loaded it: probe with a dry run.
    let probe: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "probe"},
        "spec": {
            "selector": {"matchLabels": {"app": "probe"}},
            "template": {"metadata": {"labels": {"app": "probe"}},
                         "spec": {"containers": [{"name": "c", "image": "blocked.example/x"}]}}
        }
    }))
    .expect("probe");
    let deployments = api::<Deployment>(&client, &ns);
    eventually("policy enforced", || async {
        deployments
            .create(
                &PostParams {
                    dry_run: true,
                    ..Default::default()
                },
                &probe,
            )
            .await
            .is_err()
    })
    .await;
    let operator = Operator::start(&ns).await;

    create_backend(
        &client,
        &ns,
        "shop",
        "image: blocked.example/api:1\nreplicas: 1",
    )
    .await;

    let mb = degraded_by(&client, &ns, "shop", "ApplyFailed").await;
    let ready = condition(&mb, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "ApplyFailed")
    );
    assert!(
        ready.message.starts_with("Deployment/shop: ")
            && ready
                .message
                .contains("images from blocked.example are not allowed"),
        "{}",
        ready.message
    );

    patch_spec(&client, &ns, "shop", serde_json::json!({"image": "a:1"})).await;
    wait_for(
        mbs(&client, &ns),
        "shop",
        "Ready once the spec is fixed",
        has_condition("Ready", "True", Some("Available")),
    )
    .await;
    operator.stop().await;
    let _ = bindings.delete(&ns, &DeleteParams::default()).await;
    let _ = policies.delete(&ns, &DeleteParams::default()).await;
    delete_namespace(&client, &ns).await;
}

/// Run the test environment's kubectl (`$MERCHANT_TESTENV/bin/kubectl`) against `ns`; false
/// when there is none, so the caller emulates what it does.
fn kubectl(ns: &str, args: &[&str]) -> bool {
    let Some(root) = std::env::var_os("MERCHANT_TESTENV") else {
        return false;
    };
    let bin = std::path::Path::new(&root).join("bin/kubectl");
    if !bin.exists() {
        return false;
    }
    let out = std::process::Command::new(bin)
        .args(["-n", ns])
        .args(args)
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

/// `kubectl rollout undo`, or what it does: the pod template replaced by the previous
/// revision's under the `kubectl-rollout` field manager.
async fn rollout_undo(client: &Client, ns: &str, name: &str, previous_image: &str) {
    if kubectl(ns, &["rollout", "undo", &format!("deployment/{name}")]) {
        return;
    }
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [
        {"name": "api", "image": previous_image}
    ]}}}});
    api::<Deployment>(client, ns)
        .patch(
            name,
            &PatchParams {
                field_manager: Some("kubectl-rollout".into()),
                ..Default::default()
            },
            &Patch::Strategic(patch),
        )
        .await
        .expect("rollout undo");
}

/// `kubectl rollout restart`, or what it does: a restartedAt annotation on the pod template.
async fn rollout_restart(client: &Client, ns: &str, name: &str) {
    if kubectl(ns, &["rollout", "restart", &format!("deployment/{name}")]) {
        return;
    }
    let patch = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"
    }}}}});
    api::<Deployment>(client, ns)
        .patch(
            name,
            &PatchParams {
                field_manager: Some("kubectl-rollout".into()),
                ..Default::default()
            },
            &Patch::Strategic(patch),
        )
        .await
        .expect("rollout restart");
}

fn image(d: &Deployment) -> Option<String> {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.clone())
}

#[tokio::test]
async fn a_rollout_undo_is_reverted_with_a_warning_and_a_restart_is_left_alone() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-undo").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    // Two revisions, so there is one to undo to.
    create_backend(&client, &ns, "shop", "image: a:1\nreplicas: 1").await;
    wait_for(
        mbs(&client, &ns),
        "shop",
        "Ready",
        has_condition("Ready", "True", None),
    )
    .await;
    patch_spec(&client, &ns, "shop", serde_json::json!({"image": "a:2"})).await;
    let deployments = api::<Deployment>(&client, &ns);
    eventually("revision 2 rolled out", || async {
        mbs(&client, &ns).get("shop").await.is_ok_and(|mb| {
            mb.status.as_ref().is_some_and(|s| {
                s.image.as_deref() == Some("a:2")
                    && s.observed_generation == mb.metadata.generation
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
            })
        })
    })
    .await;

    // Act 1: a person rolls back outside the spec.
    rollout_undo(&client, &ns, "shop", "a:1").await;

    eventually("DriftReverted warning", || async {
        events(&client, &ns, "DriftReverted")
            .await
            .iter()
            .any(|(type_, regarding, message)| {
                type_ == "Warning"
                    && regarding == "MerchantBackend/shop"
                    && message.contains("pod template was changed by another field manager")
                    && message.contains("containers[api].image")
                    && message.contains("MerchantBackend spec")
            })
    })
    .await;
    eventually("image reverted to the spec", || async {
        deployments
            .get("shop")
            .await
            .is_ok_and(|d| image(&d).as_deref() == Some("a:2"))
    })
    .await;
    let reverted = events(&client, &ns, "DriftReverted").await.len();

    // Act 2: a person restarts the pods.
    rollout_restart(&client, &ns, "shop").await;
    wait_for(
        mbs(&client, &ns),
        "shop",
        "Ready after the restart",
        has_condition("Ready", "True", None),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Assert: the restart stands and nothing more was reverted.
    let live = deployments.get("shop").await.expect("deployment");
    let annotations = live
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    assert!(annotations.contains_key("kubectl.kubernetes.io/restartedAt"));
    assert_eq!(image(&live).as_deref(), Some("a:2"));
    assert_eq!(events(&client, &ns, "DriftReverted").await.len(), reverted);
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

async fn claim_owners(client: &Client, ns: &str, name: &str) -> Option<Vec<String>> {
    let claim = api::<PersistentVolumeClaim>(client, ns)
        .get_opt(name)
        .await
        .expect("get claim")?;
    (claim.metadata.deletion_timestamp.is_none()).then(|| {
        claim
            .owner_references()
            .iter()
            .map(|o| o.name.clone())
            .collect()
    })
}

#[tokio::test]
async fn the_uploads_claim_is_kept_by_default_and_an_event_says_how_to_delete_it() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-retain").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(&client, &ns, "shop", "image: a:1\nuploads: {size: 1Gi}").await;
    eventually("claim without an owner", || async {
        claim_owners(&client, &ns, "shop-uploads").await == Some(vec![])
    })
    .await;

    // Disabling uploads keeps the claim and says so.
    patch_spec(&client, &ns, "shop", serde_json::json!({"uploads": null})).await;
    eventually("UploadsRetained event on the backend", || async {
        events(&client, &ns, "UploadsRetained")
            .await
            .iter()
            .any(|(_, regarding, m)| {
                regarding == "MerchantBackend/shop"
                    && m.contains(&format!("kubectl delete pvc shop-uploads -n {ns}"))
            })
    })
    .await;
    assert_eq!(
        claim_owners(&client, &ns, "shop-uploads").await,
        Some(vec![])
    );

    // Deleting the backend keeps it too, and the claim itself says so.
    mbs(&client, &ns)
        .delete("shop", &DeleteParams::background())
        .await
        .expect("delete backend");
    eventually("UploadsRetained event on the claim", || async {
        events(&client, &ns, "UploadsRetained")
            .await
            .iter()
            .any(|(_, regarding, m)| {
                regarding == "PersistentVolumeClaim/shop-uploads"
                    && m.contains("kubectl delete pvc shop-uploads")
            })
    })
    .await;
    assert_eq!(
        claim_owners(&client, &ns, "shop-uploads").await,
        Some(vec![])
    );

    // A MerchantBackend of the same name adopts the kept claim (ours by its labels, not
    // NotOwned). No provisioner serves a claim without a class here, so it stays Pending.
    tokio::time::sleep(Duration::from_secs(2)).await; // let the old object go
    create_backend(&client, &ns, "shop", "image: a:1\nuploads: {size: 1Gi}").await;
    let mb = degraded_by(&client, &ns, "shop", "ClaimPending").await;
    let ready = condition(&mb, "Ready").message;
    assert!(
        ready.starts_with("uploads claim shop-uploads is Pending: "),
        "{ready}"
    );
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn switching_retain_on_delete_moves_the_owner_reference_and_an_owned_claim_is_deleted() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-retainflip").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(
        &client,
        &ns,
        "shop",
        "image: a:1\nuploads: {size: 1Gi, retainOnDelete: false}",
    )
    .await;
    let owned = Some(vec!["shop".to_owned()]);
    eventually("owned claim", || async {
        claim_owners(&client, &ns, "shop-uploads").await == owned
    })
    .await;

    patch_spec(
        &client,
        &ns,
        "shop",
        serde_json::json!({"uploads": {"retainOnDelete": true}}),
    )
    .await;
    eventually("ownerReference removed", || async {
        claim_owners(&client, &ns, "shop-uploads").await == Some(vec![])
    })
    .await;
    patch_spec(
        &client,
        &ns,
        "shop",
        serde_json::json!({"uploads": {"retainOnDelete": false}}),
    )
    .await;
    eventually("ownerReference back", || async {
        claim_owners(&client, &ns, "shop-uploads").await == owned
    })
    .await;

    patch_spec(
        &client,
        &ns,
        "shop",
        serde_json::json!({"uploads": {"enabled": false}}),
    )
    .await;
    eventually("owned claim deleted with the feature", || async {
        claim_owners(&client, &ns, "shop-uploads").await.is_none()
    })
    .await;
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn pods_no_node_can_fit_are_reported_unschedulable_with_the_scheduler_message() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-unsched").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;

    create_backend(
        &client,
        &ns,
        "shop",
        "image: a:1\nreplicas: 1\nresources: {requests: {cpu: '100000'}, limits: {cpu: '100000'}}",
    )
    .await;

    let mb = degraded_by(&client, &ns, "shop", "Unschedulable").await;
    let ready = condition(&mb, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "Unschedulable")
    );
    assert!(
        ready.message.contains("cannot be scheduled") && ready.message.contains("Insufficient cpu"),
        "{}",
        ready.message
    );
    // Settled (once the Deployment's own status has caught up): the same situation writes no
    // new status, though the pod's status keeps triggering reconciles.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let settled = mbs(&client, &ns).get("shop").await.expect("backend");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let again = mbs(&client, &ns).get("shop").await.expect("backend");
    assert_eq!(again.status, settled.status);
    assert_eq!(again.resource_version(), settled.resource_version());
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn an_uploads_claim_with_a_missing_storage_class_is_reported_pending() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-claim").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;

    create_backend(
        &client,
        &ns,
        "shop",
        "image: a:1\nuploads: {size: 1Gi, storageClassName: does-not-exist}",
    )
    .await;

    let mb = degraded_by(&client, &ns, "shop", "ClaimPending").await;
    let ready = condition(&mb, "Ready");
    assert_eq!(ready.reason, "ClaimPending");
    assert_eq!(
        ready.message,
        "uploads claim shop-uploads is Pending: storage class does-not-exist does not exist"
    );
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}
