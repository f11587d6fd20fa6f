//! What a revision carries, on the test cluster (KWOK pods): HPA settings wait for their
//! revision to become stable and go back with it; every revision's template is kept as a
//! ControllerRevision and its configuration as an immutable ConfigMap until no record needs them.

mod common;

use common::*;
use k8s_openapi::api::{
    apps::v1::ControllerRevision, autoscaling::v2::HorizontalPodAutoscaler, core::v1::ConfigMap,
};
use kube::{
    Api, Client,
    api::{ListParams, Patch, PatchParams},
};
use merchant_operator::crd::{MerchantBackend, rollout::RolloutStatus};

async fn rollout(client: &Client, ns: &str) -> RolloutStatus {
    Api::<MerchantBackend>::namespaced(client.clone(), ns)
        .get("shop")
        .await
        .expect("get")
        .status
        .and_then(|s| s.rollout)
        .unwrap_or_default()
}

async fn max_replicas(client: &Client, ns: &str) -> i32 {
    Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), ns)
        .get("shop")
        .await
        .expect("hpa")
        .spec
        .max_replicas
}

async fn annotate(client: &Client, ns: &str, key: &str) {
    let patch = serde_json::json!({"metadata": {"annotations": {key: "true"}}});
    Api::<MerchantBackend>::namespaced(client.clone(), ns)
        .patch("shop", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate");
}

async fn names<K>(client: &Client, ns: &str) -> Vec<String>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let mut out: Vec<String> = Api::<K>::namespaced(client.clone(), ns)
        .list_metadata(&ListParams::default().labels("app.kubernetes.io/instance=shop"))
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn hpa_settings_travel_with_their_revision_and_leftovers_are_pruned() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-revisions").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(
        &client,
        &ns,
        "shop",
        "image: registry.invalid/merchant-api:1.0.0
autoscaling: {minReplicas: 2, maxReplicas: 5}
rollout:
  strategy: Canary
  canary: {steps: [{setWeight: 50}, {pause: {}}]}",
    )
    .await;
    eventually("healthy", || async {
        rollout(&client, &ns).await.phase == "Healthy"
    })
    .await;
    assert_eq!(names::<ControllerRevision>(&client, &ns).await.len(), 1);

    // A release that also raises the HPA ceiling: the ceiling waits for the release.
    patch_spec(
        &client,
        &ns,
        "shop",
        serde_json::json!({"image": "registry.invalid/merchant-api:2.0.0", "autoscaling": {"maxReplicas": 8}}),
    )
    .await;
    eventually("paused at the promotion step", || async {
        rollout(&client, &ns).await.phase == "Paused"
    })
    .await;
    assert_eq!(
        max_replicas(&client, &ns).await,
        5,
        "held while the release is unproven"
    );
    annotate(&client, &ns, "merchant.rezapp.com/abort").await;
    eventually("aborted", || async {
        rollout(&client, &ns).await.phase == "Aborted"
    })
    .await;
    assert_eq!(
        max_replicas(&client, &ns).await,
        5,
        "went back with the revision"
    );

    // Retried and promoted: the ceiling comes with it.
    annotate(&client, &ns, "merchant.rezapp.com/retry").await;
    eventually("paused again", || async {
        rollout(&client, &ns).await.phase == "Paused"
    })
    .await;
    annotate(&client, &ns, "merchant.rezapp.com/promote").await;
    eventually("healthy on 2.0.0", || async {
        let r = rollout(&client, &ns).await;
        r.phase == "Healthy" && r.canary_revision.is_none()
    })
    .await;
    eventually("the HPA takes the new ceiling", || async {
        max_replicas(&client, &ns).await == 8
    })
    .await;

    // Kept: the revisions the history names (both), and their configurations (one, as only
    // the image changed).
    let revisions = names::<ControllerRevision>(&client, &ns).await;
    assert_eq!(revisions.len(), 2, "{revisions:?}");
    let configs = names::<ConfigMap>(&client, &ns).await;
    assert_eq!(configs.len(), 1, "{configs:?}");
    assert!(configs[0].starts_with("shop-config-"), "{configs:?}");
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}
