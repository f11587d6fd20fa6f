//! The fleet cap on the test cluster (KWOK pods: the cap is about how many backends change at
//! once, not about what their pods do). Ten MerchantBackends get a new image at the same moment;
//! with `max_concurrent_rollouts: 3` no more than three are ever mid-rollout, the others wait
//! Queued, and every one of them gets there in the end.

mod common;

use std::time::Duration;

use common::*;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use merchant_operator::{controller::Settings, crd::MerchantBackend};

const BACKENDS: usize = 10;
const CAP: usize = 3;

fn spec(tag: &str) -> String {
    format!(
        "image: registry.invalid/merchant-api:{tag}
replicas: 1
rollout:
  strategy: Canary
  canary:
    steps:
    - setWeight: 50
    - pause: {{}}"
    )
}

/// (name, phase, image of the newest history record) of every backend.
async fn phases(client: &Client, ns: &str) -> Vec<(String, String, String)> {
    let list = Api::<MerchantBackend>::namespaced(client.clone(), ns)
        .list(&Default::default())
        .await
        .expect("list");
    list.items
        .into_iter()
        .map(|mb| {
            let name = mb.metadata.name.clone().unwrap_or_default();
            let status = mb.status.unwrap_or_default();
            let phase = status.rollout.map(|r| r.phase).unwrap_or_default();
            let image = status
                .history
                .first()
                .filter(|h| h.outcome == "Succeeded")
                .map(|h| h.image.clone())
                .unwrap_or_default();
            (name, phase, image)
        })
        .collect()
}

fn in_flight(phase: &str) -> bool {
    matches!(phase, "Progressing" | "Paused" | "Promoting")
}

#[tokio::test]
async fn ten_backends_updated_at_once_roll_out_three_at_a_time() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-fleet").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start_with(Settings {
        namespaces: vec![ns.clone()],
        secret_selector: None,
        concurrency: 8,
        instance: Some("tests".into()),
        max_concurrent_rollouts: Some(CAP),
    })
    .await;
    let names: Vec<String> = (0..BACKENDS).map(|i| format!("shop-{i}")).collect();
    for name in &names {
        create_backend(&client, &ns, name, &spec("1.0.0")).await;
    }
    // A first revision needs no slot: all ten come up at once.
    eventually("every backend healthy on its first revision", || async {
        let p = phases(&client, &ns).await;
        p.len() == BACKENDS && p.iter().all(|(_, phase, _)| phase == "Healthy")
    })
    .await;

    // One image pushed to every stack at the same moment.
    let api = Api::<MerchantBackend>::namespaced(client.clone(), &ns);
    let patch =
        Patch::Merge(serde_json::json!({"spec": {"image": "registry.invalid/merchant-api:2.0.0"}}));
    let params = PatchParams::default();
    let updates = names.iter().map(|n| api.patch(n, &params, &patch));
    for result in futures::future::join_all(updates).await {
        result.expect("patch image");
    }

    let mut most = 0;
    let mut promoted = 0;
    let mut saw_queue = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let p = phases(&client, &ns).await;
        let busy: Vec<&(String, String, String)> =
            p.iter().filter(|(_, phase, _)| in_flight(phase)).collect();
        most = most.max(busy.len());
        assert!(busy.len() <= CAP, "more than {CAP} mid-rollout: {p:?}");
        let queued = p.iter().filter(|(_, phase, _)| phase == "Queued").count();
        // Before any promotion: three rolling out, the seven others waiting.
        saw_queue |= promoted == 0 && busy.len() == CAP && queued == BACKENDS - CAP;
        if p.iter()
            .all(|(_, phase, image)| phase == "Healthy" && image.ends_with(":2.0.0"))
        {
            break;
        }
        // The canaries wait at their pause until promoted: promote those that wait.
        for (name, phase, _) in &p {
            if phase == "Paused" {
                let annotate = serde_json::json!({"metadata": {"annotations": {"merchant.rezapp.com/promote": "true"}}});
                api.patch(name, &PatchParams::default(), &Patch::Merge(&annotate))
                    .await
                    .expect("promote");
                promoted += 1;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all rolled out in time: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(most, CAP, "the cap was used, and never exceeded");
    assert!(
        saw_queue,
        "seven backends were seen Queued behind three rollouts"
    );
    assert!(
        promoted >= BACKENDS,
        "every canary waited for its promotion"
    );
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}
