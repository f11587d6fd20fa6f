//! Namespace-scoped watching: one controller serves a list of namespaces through one set of
//! watches per namespace (what a Role per namespace allows) and ignores every other namespace;
//! with a Secret label selector it sees only labelled Secrets.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use merchant_operator::{controller::Settings, crd::MerchantBackend};

const SPEC: &str = "image: registry.invalid/merchant-api:1.0.0\nreplicas: 1";

fn settings(namespaces: &[&str], secret_selector: Option<&str>) -> Settings {
    Settings {
        namespaces: namespaces.iter().map(|ns| (*ns).to_owned()).collect(),
        secret_selector: secret_selector.map(str::to_owned),
        concurrency: 4,
        instance: Some("tests".into()),
        max_concurrent_rollouts: None,
    }
}

#[tokio::test]
async fn one_operator_serves_every_listed_namespace_and_no_other() {
    let Some(client) = cluster().await else {
        return;
    };
    let first = namespace(&client, "mb-ns-first").await;
    let second = namespace(&client, "mb-ns-second").await;
    let other = namespace(&client, "mb-ns-other").await;
    for ns in [&first, &second, &other] {
        create_default_secrets(&client, ns).await;
        create_backend(&client, ns, "shop", SPEC).await;
    }
    let operator = Operator::start_with(settings(&[&first, &second], None)).await;

    for ns in [&first, &second] {
        wait_for(
            Api::<MerchantBackend>::namespaced(client.clone(), ns),
            "shop",
            "Ready",
            has_condition("Ready", "True", None),
        )
        .await;
    }
    // The unlisted namespace is never reconciled (its backend would have a status by now).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let untouched = Api::<MerchantBackend>::namespaced(client.clone(), &other)
        .get("shop")
        .await
        .expect("get");
    assert!(untouched.status.is_none(), "{other} is not served");

    operator.stop().await;
    for ns in [first, second, other] {
        delete_namespace(&client, &ns).await;
    }
}

#[tokio::test]
async fn with_a_secret_selector_only_labelled_secrets_count() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-ns-selector").await;
    create_default_secrets(&client, &ns).await;
    create_backend(&client, &ns, "shop", SPEC).await;
    let label = "merchant.rezapp.com/watch";
    let operator = Operator::start_with(settings(&[&ns], Some(&format!("{label}=true")))).await;
    let backends = Api::<MerchantBackend>::namespaced(client.clone(), &ns);

    // Arrange: the Secrets exist but carry no label, so the operator does not see them.
    wait_for(
        backends.clone(),
        "shop",
        "held for missing Secrets",
        has_condition("Stalled", "True", Some("SecretMissing")),
    )
    .await;

    // Act: label them.
    let secrets = Api::<Secret>::namespaced(client.clone(), &ns);
    for name in ["db-secrets", "cache-secrets", "auth-secrets"] {
        let patch = serde_json::json!({ "metadata": { "labels": { label: "true" } } });
        secrets
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("label secret");
    }

    // Assert: the rollout proceeds.
    wait_for(
        backends,
        "shop",
        "Ready",
        has_condition("Ready", "True", None),
    )
    .await;
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}
