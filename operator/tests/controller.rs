//! Controller behaviour against the real control plane (kube-apiserver + etcd +
//! controller-manager + scheduler + KWOK): each test gets its own namespace and its own
//! in-process controller scoped to it.

mod common;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use common::*;
use k8s_openapi::api::{
    apps::v1::Deployment,
    autoscaling::v2::HorizontalPodAutoscaler,
    core::v1::{ConfigMap, Event, PersistentVolumeClaim, Secret, Service, ServiceAccount},
    networking::v1::{Ingress, NetworkPolicy},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, PostParams},
    runtime::wait::Condition,
};
use merchant_operator::{
    crd::{APPLIED_HASH_ANNOTATION, MerchantBackend},
    render,
};

fn mbs(client: &Client, ns: &str) -> Api<MerchantBackend> {
    Api::namespaced(client.clone(), ns)
}

fn api<K>(client: &Client, ns: &str) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    Api::namespaced(client.clone(), ns)
}

async fn hash_of<K>(client: &Client, ns: &str, name: &str) -> Option<String>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let live = api::<K>(client, ns)
        .get_opt(name)
        .await
        .expect("get child")?;
    live.annotations().get(APPLIED_HASH_ANNOTATION).cloned()
}

#[tokio::test]
async fn a_backend_gets_every_child_and_becomes_ready() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-create").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;

    create_backend(
        &client,
        &ns,
        "shop",
        "image: registry.invalid/merchant-api:1.0.0
autoscaling: {}
service: {type: LoadBalancer}
ingress: {host: api.shop.example, tlsSecretName: shop-tls}
networkPolicy: {enabled: true, allowedNamespaces: [ingress-nginx]}",
    )
    .await;
    let ready = wait_for(
        mbs(&client, &ns),
        "shop",
        "Ready",
        has_condition("Ready", "True", Some("Available")),
    )
    .await;

    let status = ready.status.clone().expect("status");
    assert_eq!(
        status.image.as_deref(),
        Some("registry.invalid/merchant-api:1.0.0")
    );
    assert_eq!(
        status.ready_replicas,
        Some(3),
        "the HPA scaled to its minimum of 3"
    );
    assert!(
        status
            .endpoints
            .contains(&format!("http://shop-internal.{ns}.svc:5001"))
    );
    assert!(
        status
            .endpoints
            .contains(&"https://api.shop.example".to_owned())
    );
    let deployment = api::<Deployment>(&client, &ns)
        .get("shop")
        .await
        .expect("deployment");
    let pod = deployment
        .spec
        .clone()
        .and_then(|s| s.template.spec)
        .expect("pod spec");
    assert_eq!(
        pod.security_context.and_then(|s| s.run_as_non_root),
        Some(true)
    );
    assert_eq!(deployment.owner_references()[0].name, "shop");
    let public = api::<Service>(&client, &ns)
        .get("shop")
        .await
        .expect("public service");
    assert_eq!(
        public.spec.and_then(|s| s.type_).as_deref(),
        Some("LoadBalancer")
    );
    api::<Service>(&client, &ns)
        .get("shop-internal")
        .await
        .expect("internal service");
    api::<ServiceAccount>(&client, &ns)
        .get("shop")
        .await
        .expect("service account");
    let config = config_map_name(&client, &ns).await;
    assert!(config.starts_with("shop-config-"), "{config}");
    let cm = api::<ConfigMap>(&client, &ns)
        .get(&config)
        .await
        .expect("config map");
    assert_eq!(
        cm.immutable,
        Some(true),
        "one immutable ConfigMap per configuration"
    );
    api::<HorizontalPodAutoscaler>(&client, &ns)
        .get("shop")
        .await
        .expect("hpa");
    api::<PodDisruptionBudget>(&client, &ns)
        .get("shop")
        .await
        .expect("pdb");
    api::<NetworkPolicy>(&client, &ns)
        .get("shop")
        .await
        .expect("network policy");
    api::<Ingress>(&client, &ns)
        .get("shop")
        .await
        .expect("ingress");

    // `render` of the live object (with the live Secrets) equals what was applied.
    let secrets: Vec<Arc<Secret>> = api::<Secret>(&client, &ns)
        .list(&ListParams::default())
        .await
        .expect("secrets")
        .items
        .into_iter()
        .map(Arc::new)
        .collect();
    let rendered = render::manifests(&render::Input {
        backends: vec![ready],
        secrets,
    })
    .expect("render");
    assert_eq!(rendered.len(), 9);
    for manifest in rendered {
        let name = manifest["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_owned();
        let kind = manifest["kind"].as_str().expect("kind");
        let expected = manifest["metadata"]["annotations"][APPLIED_HASH_ANNOTATION]
            .as_str()
            .map(str::to_owned);
        let live = match kind {
            "ServiceAccount" => hash_of::<ServiceAccount>(&client, &ns, &name).await,
            "ConfigMap" => hash_of::<ConfigMap>(&client, &ns, &name).await,
            "Service" => hash_of::<Service>(&client, &ns, &name).await,
            "Deployment" => hash_of::<Deployment>(&client, &ns, &name).await,
            "HorizontalPodAutoscaler" => {
                hash_of::<HorizontalPodAutoscaler>(&client, &ns, &name).await
            }
            "PodDisruptionBudget" => hash_of::<PodDisruptionBudget>(&client, &ns, &name).await,
            "NetworkPolicy" => hash_of::<NetworkPolicy>(&client, &ns, &name).await,
            "Ingress" => hash_of::<Ingress>(&client, &ns, &name).await,
            other => panic!("unexpected kind {other}"),
        };
        assert_eq!(
            live, expected,
            "{kind} {name}: cluster object differs from `render`"
        );
    }
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn a_spec_change_updates_children_and_status() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-change").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(
        &client,
        &ns,
        "shop",
        "image: registry.invalid/merchant-api:1.0.0\nreplicas: 1",
    )
    .await;
    wait_for(
        mbs(&client, &ns),
        "shop",
        "Ready",
        has_condition("Ready", "True", None),
    )
    .await;

    patch_spec(&client, &ns, "shop", serde_json::json!({"image": "registry.invalid/merchant-api:1.1.0", "replicas": 2, "config": {"logLevel": "debug"}})).await;
    let ready = wait_for(
        mbs(&client, &ns),
        "shop",
        "Ready after change",
        |mb: Option<&MerchantBackend>| {
            has_condition("Ready", "True", None).matches_object(mb)
                && mb.and_then(|m| m.status.as_ref()).is_some_and(|s| {
                    s.image.as_deref() == Some("registry.invalid/merchant-api:1.1.0")
                        && s.ready_replicas == Some(2)
                })
        },
    )
    .await;

    assert_eq!(ready.status.and_then(|s| s.updated_replicas), Some(2));
    let config = config_map_name(&client, &ns).await;
    let cm = api::<ConfigMap>(&client, &ns)
        .get(&config)
        .await
        .expect("config map");
    assert_eq!(cm.data.expect("data")["LOG_LEVEL"], "debug");
    // The rollout finished: the previous configuration's ConfigMap stays for the history
    // (a rollback takes it back), and the revision record names both.
    let mb = api::<MerchantBackend>(&client, &ns)
        .get("shop")
        .await
        .expect("backend");
    let status = mb.status.expect("status");
    let rollout = status.rollout.expect("status.rollout");
    assert_eq!(rollout.phase, "Healthy");
    assert_eq!(status.history.len(), 2, "{:?}", status.history);
    assert_eq!(status.history[0].outcome, "Succeeded");
    assert_eq!(
        status.history[0].image,
        "registry.invalid/merchant-api:1.1.0"
    );
    assert_eq!(
        rollout.stable_revision.as_deref(),
        Some(status.history[0].revision.as_str())
    );
    let d = api::<Deployment>(&client, &ns)
        .get("shop")
        .await
        .expect("deployment");
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(2));
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn a_hand_scaled_deployment_is_set_back_to_the_spec() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-drift").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(
        &client,
        &ns,
        "shop",
        "image: registry.invalid/merchant-api:1.0.0\nreplicas: 1",
    )
    .await;
    wait_for(
        mbs(&client, &ns),
        "shop",
        "Ready",
        has_condition("Ready", "True", None),
    )
    .await;
    let deployments = api::<Deployment>(&client, &ns);

    deployments
        .patch(
            "shop",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": 4}})),
        )
        .await
        .expect("scale by hand");

    eventually("replicas back to 1", || async {
        deployments
            .get_opt("shop")
            .await
            .ok()
            .flatten()
            .and_then(|d| d.spec)
            .and_then(|s| s.replicas)
            == Some(1)
    })
    .await;
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

/// A foreign write (kubectl edit/patch/scale write like this): a JSON merge patch, or a
/// strategic one for lists that merge by key.
async fn hand_patch<K>(client: &Client, ns: &str, name: &str, patch: serde_json::Value)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    foreign_patch::<K>(client, ns, name, kube::api::Patch::Merge(patch)).await;
}

async fn foreign_patch<K>(
    client: &Client,
    ns: &str,
    name: &str,
    patch: kube::api::Patch<serde_json::Value>,
) where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    api::<K>(client, ns)
        .patch(name, &kube::api::PatchParams::default(), &patch)
        .await
        .expect("hand edit");
}

/// The value at a JSON pointer of a live child, as JSON.
/// The ConfigMap the API Deployment's pods read (`<name>-config-<hash>`).
async fn config_map_name(client: &Client, ns: &str) -> String {
    let pointer = "/spec/template/spec/containers/0/envFrom/0/configMapRef/name";
    let name = live_value::<Deployment>(client, ns, "shop", pointer).await;
    name.as_str().expect("envFrom configMapRef").to_owned()
}

async fn live_value<K>(client: &Client, ns: &str, name: &str, pointer: &str) -> serde_json::Value
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let live = api::<K>(client, ns).get_opt(name).await.ok().flatten();
    live.and_then(|l| serde_json::to_value(l).ok())
        .and_then(|v| v.pointer(pointer).cloned())
        .unwrap_or(serde_json::Value::Null)
}

/// A hand edit of the Deployment `shop`: MONGODB_URI read from another Secret key.
async fn point_mongodb_uri_elsewhere(client: &Client, ns: &str) {
    let edit = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "api", "env": [
        {"name": "MONGODB_URI", "valueFrom": {"secretKeyRef": {"name": "db-secrets", "key": "other"}}}
    ]}]}}}});
    foreign_patch::<Deployment>(client, ns, "shop", kube::api::Patch::Strategic(edit)).await;
}

/// Names of the API container's environment variables in the live Deployment `shop`.
async fn env_names(client: &Client, ns: &str) -> Vec<String> {
    let env =
        live_value::<Deployment>(client, ns, "shop", "/spec/template/spec/containers/0/env").await;
    env.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str().map(str::to_owned))
        .collect()
}

/// Whether the Deployment `shop` has a managedFields entry of our manager from a plain update
/// (a merge patch) besides our apply.
async fn has_update_entry_of_ours(client: &Client, ns: &str) -> bool {
    let d = api::<Deployment>(client, ns)
        .get("shop")
        .await
        .expect("Deployment");
    d.metadata.managed_fields.iter().flatten().any(|m| {
        m.manager.as_deref() == Some(merchant_operator::crd::FIELD_MANAGER)
            && m.operation.as_deref() == Some("Update")
            && m.subresource.is_none()
    })
}

#[tokio::test]
async fn hand_edits_to_any_child_are_undone() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-edits").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(
        &client,
        &ns,
        "shop",
        "image: registry.invalid/merchant-api:1.0.0\nreplicas: 2\nconfig: {logLevel: info}",
    )
    .await;
    wait_for(
        mbs(&client, &ns),
        "shop",
        "Ready",
        has_condition("Ready", "True", None),
    )
    .await;
    let env0 = "/spec/template/spec/containers/0/env/0/valueFrom/secretKeyRef/key";

    hand_patch::<Service>(
        &client,
        &ns,
        "shop-internal",
        serde_json::json!({"spec": {"ports": [{"name": "http", "port": 9999, "targetPort": "http"}]}}),
    )
    .await;
    // The ConfigMap is immutable (its data cannot be edited): its labels still can.
    let config = config_map_name(&client, &ns).await;
    hand_patch::<ConfigMap>(
        &client,
        &ns,
        &config,
        serde_json::json!({"metadata": {"labels": {"app.kubernetes.io/part-of": "other"}}}),
    )
    .await;
    point_mongodb_uri_elsewhere(&client, &ns).await;
    hand_patch::<PodDisruptionBudget>(
        &client,
        &ns,
        "shop",
        serde_json::json!({"spec": {"minAvailable": 0}}),
    )
    .await;
    hand_patch::<Service>(
        &client,
        &ns,
        "shop",
        serde_json::json!({"metadata": {"labels": {"app.kubernetes.io/part-of": null}}}),
    )
    .await;
    api::<ServiceAccount>(&client, &ns)
        .delete("shop", &DeleteParams::default())
        .await
        .expect("delete a child");

    eventually("Service port restored", || async {
        live_value::<Service>(&client, &ns, "shop-internal", "/spec/ports/0/port").await == 5001
    })
    .await;
    eventually("ConfigMap label restored", || async {
        live_value::<ConfigMap>(
            &client,
            &ns,
            &config,
            "/metadata/labels/app.kubernetes.io~1part-of",
        )
        .await
            == "merchant-stack"
    })
    .await;
    eventually("container env restored", || async {
        live_value::<Deployment>(&client, &ns, "shop", env0).await == "mongodb-uri"
    })
    .await;
    eventually("PDB minAvailable restored", || async {
        live_value::<PodDisruptionBudget>(&client, &ns, "shop", "/spec/minAvailable").await == 1
    })
    .await;
    eventually("removed label restored", || async {
        live_value::<Service>(
            &client,
            &ns,
            "shop",
            "/metadata/labels/app.kubernetes.io~1part-of",
        )
        .await
            == "merchant-stack"
    })
    .await;
    eventually("deleted ServiceAccount recreated", || async {
        api::<ServiceAccount>(&client, &ns)
            .get_opt("shop")
            .await
            .ok()
            .flatten()
            .is_some()
    })
    .await;

    // Undoing an edit leaves no second entry of ours in managedFields: with one, a field the
    // spec later drops (an env entry) would stay in the Deployment forever.
    eventually("no Update entry of ours after the undo", || async {
        !has_update_entry_of_ours(&client, &ns).await
    })
    .await;
    let extra = serde_json::json!({"spec": {"podTemplate": {"env": [{"name": "EXTRA_FLAG", "value": "1"}]}}});
    mbs(&client, &ns)
        .patch(
            "shop",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(extra),
        )
        .await
        .expect("add an env entry to the spec");
    eventually("the spec's env entry reaches the Deployment", || async {
        env_names(&client, &ns)
            .await
            .contains(&"EXTRA_FLAG".to_owned())
    })
    .await;
    point_mongodb_uri_elsewhere(&client, &ns).await;
    eventually("container env restored again", || async {
        live_value::<Deployment>(&client, &ns, "shop", env0).await == "mongodb-uri"
    })
    .await;
    let removed = serde_json::json!({"spec": {"podTemplate": null}});
    mbs(&client, &ns)
        .patch(
            "shop",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(removed),
        )
        .await
        .expect("drop the env entry from the spec");
    eventually(
        "an env entry dropped from the spec leaves the Deployment",
        || async {
            !env_names(&client, &ns)
                .await
                .contains(&"EXTRA_FLAG".to_owned())
        },
    )
    .await;

    // Drift that happens while the operator is down is found from the field sets alone.
    operator.stop().await;
    hand_patch::<ConfigMap>(
        &client,
        &ns,
        &config,
        serde_json::json!({"metadata": {"labels": {"app.kubernetes.io/part-of": "elsewhere"}}}),
    )
    .await;
    let restarted = Operator::start(&ns).await;
    eventually("the edit made while down undone", || async {
        live_value::<ConfigMap>(
            &client,
            &ns,
            &config,
            "/metadata/labels/app.kubernetes.io~1part-of",
        )
        .await
            == "merchant-stack"
    })
    .await;
    // And once restored, nothing more is written.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = restarted.metrics.writes();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        restarted.metrics.writes(),
        settled,
        "settled again: no writes"
    );
    restarted.stop().await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn disabling_autoscaling_deletes_the_hpa() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-hpa").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(
        &client,
        &ns,
        "shop",
        "image: registry.invalid/merchant-api:1.0.0\nautoscaling: {minReplicas: 1, maxReplicas: 3}",
    )
    .await;
    let hpas = api::<HorizontalPodAutoscaler>(&client, &ns);
    eventually("HPA created", || async {
        hpas.get_opt("shop").await.ok().flatten().is_some()
    })
    .await;

    patch_spec(
        &client,
        &ns,
        "shop",
        serde_json::json!({"autoscaling": {"enabled": false}, "replicas": 2}),
    )
    .await;

    eventually("HPA deleted", || async {
        hpas.get_opt("shop").await.ok().flatten().is_none()
    })
    .await;
    let deployments = api::<Deployment>(&client, &ns);
    eventually("Deployment back to fixed replicas", || async {
        deployments
            .get_opt("shop")
            .await
            .ok()
            .flatten()
            .and_then(|d| d.spec)
            .and_then(|s| s.replicas)
            == Some(2)
    })
    .await;
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

/// Backups on: the CronJobs and the capture Deployment exist beside the API Deployment; backups
/// off: exactly those go, by their own names, and the API Deployment stays.
#[tokio::test]
async fn turning_backups_off_deletes_their_cron_jobs_and_capture_only() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-backups").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(
        &client,
        &ns,
        "shop",
        "image: registry.invalid/merchant-api:1.0.0\nbackup: {destination: {bucket: backups}, pointInTime: {}}",
    )
    .await;
    let crons = api::<k8s_openapi::api::batch::v1::CronJob>(&client, &ns);
    let deployments = api::<Deployment>(&client, &ns);
    let exists = |api: Api<_>, name: &'static str| async move {
        let found: Option<k8s_openapi::api::batch::v1::CronJob> =
            api.get_opt(name).await.ok().flatten();
        found.is_some()
    };
    eventually("backup CronJobs and capture Deployment created", || async {
        exists(crons.clone(), "shop-backup").await
            && exists(crons.clone(), "shop-verify").await
            && deployments
                .get_opt("shop-capture")
                .await
                .ok()
                .flatten()
                .is_some()
            && deployments.get_opt("shop").await.ok().flatten().is_some()
    })
    .await;
    patch_spec(
        &client,
        &ns,
        "shop",
        serde_json::json!({"backup": {"enabled": false}}),
    )
    .await;
    eventually("backup children deleted", || async {
        !exists(crons.clone(), "shop-backup").await
            && !exists(crons.clone(), "shop-verify").await
            && deployments
                .get_opt("shop-capture")
                .await
                .ok()
                .flatten()
                .is_none()
    })
    .await;
    let api_deployment = deployments.get_opt("shop").await.expect("get");
    assert!(
        api_deployment.is_some_and(|d| d.metadata.deletion_timestamp.is_none()),
        "the API Deployment stays"
    );
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

/// Server-side apply drops a field its only manager stops applying: without the hand-over the
/// Deployment would fall to 1 replica the moment the HPA is enabled.
#[tokio::test]
async fn enabling_autoscaling_keeps_the_running_replica_count() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-hpa-on").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(
        &client,
        &ns,
        "shop",
        "image: registry.invalid/merchant-api:1.0.0\nreplicas: 4\nautoscaling: {enabled: false}",
    )
    .await;
    let deployments = api::<Deployment>(&client, &ns);
    let replicas = || async {
        deployments
            .get_opt("shop")
            .await
            .ok()
            .flatten()
            .and_then(|d| d.spec)
            .and_then(|s| s.replicas)
    };
    eventually("Deployment with 4 replicas", || async {
        replicas().await == Some(4)
    })
    .await;

    patch_spec(
        &client,
        &ns,
        "shop",
        serde_json::json!({"autoscaling": {"enabled": true, "minReplicas": 2, "maxReplicas": 6}}),
    )
    .await;

    let hpas = api::<HorizontalPodAutoscaler>(&client, &ns);
    eventually("HPA created", || async {
        hpas.get_opt("shop").await.ok().flatten().is_some()
    })
    .await;
    eventually("operator no longer owns spec.replicas", || async {
        deployments
            .get_opt("shop")
            .await
            .ok()
            .flatten()
            .is_some_and(|d| {
                let owns_replicas = |manager: &str| {
                    d.managed_fields().iter().any(|m| {
                        m.manager.as_deref() == Some(manager)
                            && m.fields_v1
                                .as_ref()
                                .is_some_and(|f| f.0["f:spec"].get("f:replicas").is_some())
                    })
                };
                !owns_replicas("merchant-operator")
                    && owns_replicas("merchant-operator-replicas-handover")
            })
    })
    .await;
    assert_eq!(
        replicas().await,
        Some(4),
        "the replica count survives the hand-over"
    );
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn a_missing_secret_degrades_then_recovers_when_it_is_created() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-secret").await;
    let operator = Operator::start(&ns).await;
    create_backend(
        &client,
        &ns,
        "shop",
        "image: registry.invalid/merchant-api:1.0.0\nreplicas: 1",
    )
    .await;

    let stalled = wait_for(
        mbs(&client, &ns),
        "shop",
        "Degraded",
        has_condition("Degraded", "True", Some("SecretMissing")),
    )
    .await;

    let conditions = stalled.status.expect("status").conditions;
    let stalled_condition = conditions
        .iter()
        .find(|c| c.type_ == "Stalled")
        .expect("Stalled");
    assert_eq!(stalled_condition.status, "True");
    assert!(
        stalled_condition
            .message
            .contains("Secret db-secrets not found"),
        "{}",
        stalled_condition.message
    );
    assert!(
        api::<Deployment>(&client, &ns)
            .get_opt("shop")
            .await
            .expect("get")
            .is_none(),
        "no half-configured Deployment"
    );
    let events = api::<Event>(&client, &ns);
    eventually("Warning event", || async {
        events.list(&ListParams::default()).await.is_ok_and(|l| {
            l.items.iter().any(|e| {
                e.reason.as_deref() == Some("SecretMissing")
                    && e.type_.as_deref() == Some("Warning")
            })
        })
    })
    .await;

    create_default_secrets(&client, &ns).await;
    wait_for(
        mbs(&client, &ns),
        "shop",
        "Ready",
        has_condition("Ready", "True", None),
    )
    .await;
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn an_invalid_backend_is_rejected_with_the_cel_message() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-invalid").await;
    let api = mbs(&client, &ns);
    let bad: MerchantBackend = serde_json::from_value(serde_json::json!({
        "apiVersion": "merchant.rezapp.com/v1alpha1", "kind": "MerchantBackend",
        "metadata": {"name": "shop"},
        "spec": {"image": "a:1", "autoscaling": {"minReplicas": 8, "maxReplicas": 4}}
    }))
    .expect("object");

    let error = api
        .create(&PostParams::default(), &bad)
        .await
        .expect_err("rejected by the API server");

    assert!(error.to_string().contains("spec.autoscaling.minReplicas must be less than or equal to spec.autoscaling.maxReplicas"), "{error}");

    create_backend(
        &client,
        &ns,
        "files",
        "image: a:1\nuploads: {storageClassName: fast}",
    )
    .await;
    let error = api
        .patch(
            "files",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                serde_json::json!({"spec": {"uploads": {"storageClassName": "slow"}}}),
            ),
        )
        .await
        .expect_err("immutable");
    assert!(
        error
            .to_string()
            .contains("spec.uploads.storageClassName is immutable"),
        "{error}"
    );
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn deleting_a_backend_collects_its_children_but_keeps_a_retained_claim() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-delete").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(
        &client,
        &ns,
        "kept",
        "image: a:1\nreplicas: 1\nuploads: {retainOnDelete: true, size: 1Gi}",
    )
    .await;
    create_backend(
        &client,
        &ns,
        "gone",
        "image: a:1\nreplicas: 1\nuploads: {size: 1Gi, retainOnDelete: false}",
    )
    .await;
    let pvcs = api::<PersistentVolumeClaim>(&client, &ns);
    let deployments = api::<Deployment>(&client, &ns);
    eventually("claims and Deployments exist", || async {
        pvcs.list(&ListParams::default())
            .await
            .is_ok_and(|l| l.items.len() == 2)
            && deployments
                .list(&ListParams::default())
                .await
                .is_ok_and(|l| l.items.len() == 2)
    })
    .await;

    for name in ["kept", "gone"] {
        mbs(&client, &ns)
            .delete(name, &DeleteParams::background())
            .await
            .expect("delete");
    }

    eventually("children garbage-collected", || async {
        deployments
            .list(&ListParams::default())
            .await
            .is_ok_and(|l| l.items.is_empty())
            && api::<Service>(&client, &ns)
                .list(&ListParams::default())
                .await
                .is_ok_and(|l| l.items.is_empty())
            && api::<ConfigMap>(&client, &ns)
                .list(
                    &ListParams::default().labels("app.kubernetes.io/managed-by=merchant-operator"),
                )
                .await
                .is_ok_and(|l| l.items.is_empty())
    })
    .await;
    eventually("owned claim collected", || async {
        pvcs.get_opt("gone-uploads")
            .await
            .ok()
            .flatten()
            .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
    })
    .await;
    let kept = pvcs
        .get("kept-uploads")
        .await
        .expect("retained claim still exists");
    assert!(kept.metadata.deletion_timestamp.is_none());
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn a_restarted_operator_converges_with_zero_writes() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-restart").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(
        &client,
        &ns,
        "shop",
        "image: a:1\nreplicas: 2\nautoscaling: {enabled: false}\ningress: {host: a.example}",
    )
    .await;
    wait_for(
        mbs(&client, &ns),
        "shop",
        "Ready",
        has_condition("Ready", "True", None),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // let trailing status events settle
    operator.stop().await;
    let versions = resource_versions(&client, &ns).await;

    let restarted = Operator::start(&ns).await;
    eventually("restarted operator reconciled", || async {
        reconciles(&restarted.metrics.encode().unwrap_or_default()) >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    assert_eq!(
        restarted.metrics.writes(),
        0,
        "a settled restart issues no write request"
    );
    assert_eq!(
        resource_versions(&client, &ns).await,
        versions,
        "no object changed"
    );
    restarted.stop().await;
    delete_namespace(&client, &ns).await;
}

fn reconciles(metrics_text: &str) -> u64 {
    metrics_text
        .lines()
        .find_map(|l| l.strip_prefix("merchant_operator_reconciles_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn resource_versions(client: &Client, ns: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let lp = ListParams::default();
    for mb in mbs(client, ns).list(&lp).await.expect("list").items {
        out.insert(
            format!("mb/{}", mb.name_any()),
            mb.resource_version().unwrap_or_default(),
        );
    }
    let managed = ListParams::default().labels("app.kubernetes.io/managed-by=merchant-operator");
    for d in api::<Deployment>(client, ns)
        .list(&managed)
        .await
        .expect("list")
        .items
    {
        out.insert(
            format!("deploy/{}", d.name_any()),
            d.metadata.generation.unwrap_or_default().to_string(),
        );
    }
    for s in api::<Service>(client, ns)
        .list(&managed)
        .await
        .expect("list")
        .items
    {
        out.insert(
            format!("svc/{}", s.name_any()),
            s.resource_version().unwrap_or_default(),
        );
    }
    for c in api::<ConfigMap>(client, ns)
        .list(&managed)
        .await
        .expect("list")
        .items
    {
        out.insert(
            format!("cm/{}", c.name_any()),
            c.resource_version().unwrap_or_default(),
        );
    }
    for i in api::<Ingress>(client, ns)
        .list(&managed)
        .await
        .expect("list")
        .items
    {
        out.insert(
            format!("ing/{}", i.name_any()),
            i.metadata.generation.unwrap_or_default().to_string(),
        );
    }
    out
}

fn template_annotation(d: &Deployment, key: &str) -> Option<String> {
    d.spec
        .as_ref()?
        .template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(key)
        .cloned()
}

#[tokio::test]
async fn rotating_a_secret_rolls_the_pods() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-rotate").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(
        &client,
        &ns,
        "shop",
        "image: registry.invalid/merchant-api:1.0.0\nreplicas: 1",
    )
    .await;
    wait_for(
        mbs(&client, &ns),
        "shop",
        "Ready",
        has_condition("Ready", "True", None),
    )
    .await;
    let deployments = api::<Deployment>(&client, &ns);
    let key = merchant_operator::crd::SECRETS_HASH_ANNOTATION;
    let before = template_annotation(&deployments.get("shop").await.expect("deployment"), key);

    api::<Secret>(&client, &ns)
        .patch(
            "db-secrets",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                serde_json::json!({"stringData": {"mongodb-uri": "mongodb://rotated/merchant"}}),
            ),
        )
        .await
        .expect("rotate");

    eventually("pod template checksum changed", || async {
        let now = deployments.get_opt("shop").await.ok().flatten();
        now.is_some_and(|d| template_annotation(&d, key) != before)
    })
    .await;
    let events = api::<Event>(&client, &ns)
        .list(&ListParams::default())
        .await
        .expect("events");
    assert!(
        events
            .items
            .iter()
            .all(|e| !e.message.clone().unwrap_or_default().contains("rotated")),
        "secret values never appear in events"
    );
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn a_paused_backend_is_acknowledged_and_left_alone() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-pause").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(
        &client,
        &ns,
        "shop",
        "image: registry.invalid/merchant-api:1.0.0\nreplicas: 1",
    )
    .await;
    wait_for(
        mbs(&client, &ns),
        "shop",
        "Ready",
        has_condition("Ready", "True", None),
    )
    .await;

    patch_spec(
        &client,
        &ns,
        "shop",
        serde_json::json!({"paused": true, "image": "registry.invalid/merchant-api:2.0.0"}),
    )
    .await;

    wait_for(
        mbs(&client, &ns),
        "shop",
        "Paused",
        has_condition("Paused", "True", Some("Paused")),
    )
    .await;
    let d = api::<Deployment>(&client, &ns)
        .get("shop")
        .await
        .expect("deployment");
    let image = d
        .spec
        .and_then(|s| s.template.spec)
        .map(|p| p.containers[0].image.clone());
    assert_eq!(
        image,
        Some(Some("registry.invalid/merchant-api:1.0.0".to_owned())),
        "paused: the Deployment is not touched"
    );
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}
