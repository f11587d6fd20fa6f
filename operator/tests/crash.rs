//! Crash safety: the operator binary is SIGKILLed while reconciling 100 MerchantBackends, a new
//! process is started, and the namespace converges with exactly one set of children per
//! MerchantBackend (no duplicates, no orphans, no second ReplicaSet from a non-deterministic
//! pod template).

mod common;

use std::{
    collections::BTreeSet,
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::*;
use futures::{StreamExt, stream};
use k8s_openapi::api::{
    apps::v1::{Deployment, ReplicaSet},
    core::v1::{ConfigMap, Service, ServiceAccount},
};
use kube::{Api, Client, ResourceExt, api::ListParams};
use merchant_operator::crd::MerchantBackend;

const COUNT: usize = 100;

fn spawn_operator(ns: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_merchant-operator"))
        .args([
            "run",
            "--watch-namespace",
            ns,
            "--leader-election=false",
            "--admin-addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn merchant-operator")
}

async fn count<K>(client: &Client, ns: &str, selector: &str) -> usize
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(selector))
        .await
        .map_or(0, |l| l.items.len())
}

async fn ready_count(client: &Client, ns: &str) -> usize {
    let list = Api::<MerchantBackend>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await;
    list.map_or(0, |l| {
        l.items
            .iter()
            .filter(|mb| {
                mb.status.as_ref().is_some_and(|s| {
                    s.observed_generation == mb.metadata.generation
                        && s.conditions
                            .iter()
                            .any(|c| c.type_ == "Ready" && c.status == "True")
                })
            })
            .count()
    })
}

#[tokio::test]
async fn an_operator_killed_mid_reconcile_converges_without_duplicates_or_orphans() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-crash").await;
    create_default_secrets(&client, &ns).await;
    let mut first = spawn_operator(&ns);
    let names: Vec<String> = (0..COUNT).map(|i| format!("shop-{i:03}")).collect();
    stream::iter(names.clone())
        .for_each_concurrent(16, |name| {
            let (client, ns) = (client.clone(), ns.clone());
            async move {
                create_backend(
                    &client,
                    &ns,
                    &name,
                    "image: registry.invalid/merchant-api:1.0.0\nreplicas: 1",
                )
                .await;
            }
        })
        .await;
    let managed = "app.kubernetes.io/managed-by=merchant-operator";
    eventually("first operator mid-way", || async {
        count::<Deployment>(&client, &ns, managed).await >= COUNT / 4
    })
    .await;

    first.kill().expect("SIGKILL");
    let _ = first.wait();
    let mut second = spawn_operator(&ns);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    while ready_count(&client, &ns).await < COUNT {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all {COUNT} MerchantBackends Ready in time"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let expected: BTreeSet<String> = names.iter().cloned().collect();
    let deployments = Api::<Deployment>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .expect("list")
        .items;
    let deployed: BTreeSet<String> = deployments.iter().map(ResourceExt::name_any).collect();
    assert_eq!(
        deployed, expected,
        "exactly one Deployment per MerchantBackend"
    );
    let uids: BTreeSet<String> = Api::<MerchantBackend>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .iter()
        .filter_map(|mb| mb.uid())
        .collect();
    for d in &deployments {
        let owners: Vec<_> = d.owner_references().iter().map(|o| o.uid.clone()).collect();
        assert!(
            owners.len() == 1 && uids.contains(&owners[0]),
            "{} is owned by a live MerchantBackend",
            d.name_any()
        );
    }
    assert_eq!(count::<Service>(&client, &ns, managed).await, 2 * COUNT);
    assert_eq!(count::<ConfigMap>(&client, &ns, managed).await, COUNT);
    assert_eq!(count::<ServiceAccount>(&client, &ns, managed).await, COUNT);
    assert_eq!(
        count::<ReplicaSet>(&client, &ns, "app.kubernetes.io/name=merchant-api").await,
        COUNT,
        "one ReplicaSet each: the pod template is deterministic across restarts"
    );
    let _ = second.kill();
    let _ = second.wait();
    delete_namespace(&client, &ns).await;
}
