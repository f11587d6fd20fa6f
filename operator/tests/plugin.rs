//! `kubectl-merchant` against the test cluster (KWOK pods), the binary as users run it: status,
//! promote, abort, retry, pause and resume drive a real rollout through the operator; backup and
//! restore create the resources the data controllers run. (`logs` needs a kubelet: it is
//! exercised on the real node in tests/rollouts.rs.)

mod common;

use std::process::Command;

use common::*;
use kube::{Api, Client, ResourceExt};
use merchant_operator::crd::{MerchantBackend, MerchantBackup, MerchantRestore};

/// Run the plugin; (success, stdout, stderr).
fn plugin(ns: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-merchant"))
        .args(["-n", ns])
        .args(args)
        .output()
        .expect("run kubectl-merchant");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(ns: &str, args: &[&str]) -> String {
    let (success, stdout, stderr) = plugin(ns, args);
    assert!(success, "kubectl-merchant {args:?}: {stderr}");
    stdout
}

async fn phase(client: &Client, ns: &str) -> String {
    Api::<MerchantBackend>::namespaced(client.clone(), ns)
        .get("shop")
        .await
        .expect("get")
        .status
        .and_then(|s| s.rollout)
        .map(|r| r.phase)
        .unwrap_or_default()
}

async fn annotations(client: &Client, ns: &str) -> Vec<String> {
    let mb = Api::<MerchantBackend>::namespaced(client.clone(), ns)
        .get("shop")
        .await
        .expect("get");
    mb.annotations()
        .keys()
        .filter(|k| k.starts_with("merchant.rezapp.com/"))
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_plugin_drives_a_rollout_and_starts_backups_and_restores() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-plugin").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(
        &client,
        &ns,
        "shop",
        "image: registry.invalid/merchant-api:1.0.0
replicas: 1
rollout: {strategy: Canary, canary: {steps: [{setWeight: 50}, {pause: {}}]}}",
    )
    .await;
    eventually("healthy", || async {
        phase(&client, &ns).await == "Healthy"
    })
    .await;
    let text = ok(&ns, &["status", "shop"]);
    assert!(
        text.contains(&format!("MerchantBackend {ns}/shop")),
        "{text}"
    );
    assert!(text.contains("ok Ready"), "{text}");
    assert!(text.contains("phase:     Healthy"), "{text}");

    // A release waits at its pause; promote finishes it.
    patch_spec(
        &client,
        &ns,
        "shop",
        serde_json::json!({"image": "registry.invalid/merchant-api:2.0.0"}),
    )
    .await;
    eventually("paused", || async { phase(&client, &ns).await == "Paused" }).await;
    let text = ok(&ns, &["status", "shop"]);
    assert!(
        text.contains("promote with the merchant.rezapp.com/promote annotation"),
        "{text}"
    );
    ok(&ns, &["promote", "shop"]);
    eventually("promoted", || async {
        phase(&client, &ns).await == "Healthy"
    })
    .await;

    // The next one is aborted, retried, held by pause and let go by resume.
    patch_spec(
        &client,
        &ns,
        "shop",
        serde_json::json!({"image": "registry.invalid/merchant-api:3.0.0"}),
    )
    .await;
    eventually("paused", || async { phase(&client, &ns).await == "Paused" }).await;
    ok(&ns, &["abort", "shop"]);
    eventually("aborted", || async {
        phase(&client, &ns).await == "Aborted"
    })
    .await;
    ok(&ns, &["retry", "shop"]);
    eventually("paused again", || async {
        phase(&client, &ns).await == "Paused"
    })
    .await;
    ok(&ns, &["pause", "shop"]);
    assert_eq!(
        annotations(&client, &ns).await,
        vec!["merchant.rezapp.com/pause"]
    );
    ok(&ns, &["resume", "shop"]);
    assert!(annotations(&client, &ns).await.is_empty());
    ok(&ns, &["promote", "shop", "--full"]);
    eventually("done", || async { phase(&client, &ns).await == "Healthy" }).await;
    let text = ok(&ns, &["status", "shop"]);
    assert!(
        text.contains("Aborted"),
        "the history shows the aborted try: {text}"
    );

    // Backups and restores are resources the data controllers run.
    let text = ok(&ns, &["backup", "shop"]);
    assert!(text.starts_with("merchantbackup/shop-"), "{text}");
    let backups = Api::<MerchantBackup>::namespaced(client.clone(), &ns)
        .list(&Default::default())
        .await
        .expect("backups");
    assert_eq!(backups.items.len(), 1);
    assert_eq!(backups.items[0].spec.backend_ref, "shop");
    let name = backups.items[0].name_any();
    ok(
        &ns,
        &[
            "restore",
            "shop",
            "--backup",
            &name,
            "--target-database",
            "shop_copy",
        ],
    );
    let restores = Api::<MerchantRestore>::namespaced(client.clone(), &ns)
        .list(&Default::default())
        .await
        .expect("restores");
    assert_eq!(restores.items.len(), 1);
    assert_eq!(
        restores.items[0].spec.backup.as_deref(),
        Some(name.as_str())
    );
    assert_eq!(
        restores.items[0].spec.target_database.as_deref(),
        Some("shop_copy")
    );

    // A mistake gets a clear message and a failing exit code.
    let (success, _, stderr) = plugin(&ns, &["status", "nosuch"]);
    assert!(!success);
    assert!(
        stderr.contains(&format!("MerchantBackend {ns}/nosuch")),
        "{stderr}"
    );
    let (success, _, stderr) = plugin(
        &ns,
        &["restore", "shop", "--in-place", "--target-database", "x"],
    );
    assert!(!success, "clap refuses exclusive flags");
    assert!(stderr.contains("cannot be used with"), "{stderr}");

    operator.stop().await;
    delete_namespace(&client, &ns).await;
}
