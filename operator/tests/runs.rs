//! MerchantBackup and MerchantRestore against the control plane (KWOK pods, which never run the
//! tool): CEL rejections, refusal naming the field, a Job ending without the tool's report failing
//! the run exactly once, and the in-place restore hold on the MerchantBackend.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::{apps::v1::Deployment, batch::v1::Job};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use merchant_operator::{
    crd::{
        MerchantBackup, MerchantBackupSpec, MerchantRestore, MerchantRestoreSpec, Phase,
        status::reason,
    },
    data::run::RUN_LABEL,
};

fn api<K>(client: &Client, ns: &str) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    Api::namespaced(client.clone(), ns)
}

async fn create_backup(client: &Client, ns: &str, name: &str, backend: &str) {
    let b = MerchantBackup::new(
        name,
        MerchantBackupSpec {
            backend_ref: backend.into(),
        },
    );
    api::<MerchantBackup>(client, ns)
        .create(&PostParams::default(), &b)
        .await
        .expect("create MerchantBackup");
}

fn backup_phase(phase: Phase) -> impl kube::runtime::wait::Condition<MerchantBackup> {
    move |b: Option<&MerchantBackup>| {
        b.and_then(|b| b.status.as_ref()?.phase)
            .is_some_and(|p| p == phase)
    }
}

const BACKED_UP: &str = "image: localhost/merchant-api:dev
replicas: 2
backup: {destination: {bucket: backups, endpoint: 'http://s3.invalid:8333'}, deadlineSeconds: 60}";

#[tokio::test]
async fn cel_rejects_exclusive_restore_fields_and_changed_specs() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "runs-cel").await;
    let restores = api::<MerchantRestore>(&client, &ns);
    let bad = MerchantRestore::new(
        "both",
        MerchantRestoreSpec {
            backend_ref: "shop".into(),
            in_place: Some(true),
            target_database: Some("copy".into()),
            ..Default::default()
        },
    );
    let error = restores
        .create(&PostParams::default(), &bad)
        .await
        .expect_err("inPlace with targetDatabase");
    assert!(
        error
            .to_string()
            .contains("spec.inPlace and spec.targetDatabase are exclusive"),
        "{error}"
    );
    create_backup(&client, &ns, "once", "shop").await;
    let error = api::<MerchantBackup>(&client, &ns)
        .patch(
            "once",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"backendRef": "other"}})),
        )
        .await
        .expect_err("spec is immutable");
    assert!(error.to_string().contains("spec is immutable"), "{error}");
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn a_backup_of_a_backend_without_spec_backup_fails_naming_the_field() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "runs-nobackup").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(&client, &ns, "shop", "image: a:1\nreplicas: 1").await;
    create_backup(&client, &ns, "now", "shop").await;
    let failed = wait_for(
        api::<MerchantBackup>(&client, &ns),
        "now",
        "Failed",
        backup_phase(Phase::Failed),
    )
    .await;
    let status = failed.status.expect("status");
    assert!(
        status
            .error
            .as_deref()
            .is_some_and(|e| e.contains("spec.backup.destination")),
        "{status:?}"
    );
    assert_eq!(status.job_name, None, "no Job for a refused backup");
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn a_job_ending_without_a_report_fails_the_backup_once() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "runs-noreport").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(&client, &ns, "shop", BACKED_UP).await;
    create_backup(&client, &ns, "nightly", "shop").await;
    let running = wait_for(
        api::<MerchantBackup>(&client, &ns),
        "nightly",
        "Running",
        backup_phase(Phase::Running),
    )
    .await;
    let job_name = running.status.and_then(|s| s.job_name).expect("jobName");
    let job = api::<Job>(&client, &ns).get(&job_name).await.expect("Job");
    let owner = &job.metadata.owner_references.expect("owner")[0];
    assert_eq!(owner.kind, "MerchantBackup");
    // KWOK completes the pod without running the tool: exit 0 and no report is no backup.
    let failed = wait_for(
        api::<MerchantBackup>(&client, &ns),
        "nightly",
        "Failed",
        backup_phase(Phase::Failed),
    )
    .await;
    let status = failed.status.expect("status");
    assert!(
        status
            .error
            .as_deref()
            .is_some_and(|e| e.contains("without a report")),
        "{status:?}"
    );
    assert!(status.completion_time.is_some(), "{status:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let jobs = api::<Job>(&client, &ns)
        .list(&ListParams::default().labels(&format!("{RUN_LABEL}=nightly")))
        .await
        .expect("list Jobs");
    assert_eq!(jobs.items.len(), 1, "a run never starts a second Job");
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn an_in_place_restore_holds_the_api_at_zero_until_it_goes() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "runs-hold").await;
    create_default_secrets(&client, &ns).await;
    let operator = Operator::start(&ns).await;
    create_backend(&client, &ns, "shop", BACKED_UP).await;
    let replicas = |n: i32| {
        move |d: Option<&Deployment>| {
            d.and_then(|d| d.spec.as_ref()?.replicas)
                .is_some_and(|r| r == n)
        }
    };
    wait_for(
        api::<Deployment>(&client, &ns),
        "shop",
        "2 replicas",
        replicas(2),
    )
    .await;
    let restore = MerchantRestore::new(
        "back",
        MerchantRestoreSpec {
            backend_ref: "shop".into(),
            in_place: Some(true),
            ..Default::default()
        },
    );
    let restores = api::<MerchantRestore>(&client, &ns);
    restores
        .create(&PostParams::default(), &restore)
        .await
        .expect("create MerchantRestore");
    wait_for(
        api::<Deployment>(&client, &ns),
        "shop",
        "held at 0",
        replicas(0),
    )
    .await;
    wait_for(
        api(&client, &ns),
        "shop",
        "RestoreInProgress",
        has_condition("Progressing", "True", Some(reason::RESTORE_IN_PROGRESS)),
    )
    .await;
    // The Job starts only once the API pods are gone.
    let running = wait_for(
        restores.clone(),
        "back",
        "Running",
        |r: Option<&MerchantRestore>| {
            r.and_then(|r| r.status.as_ref()?.phase) == Some(Phase::Running)
        },
    )
    .await;
    let pods = api::<k8s_openapi::api::core::v1::Pod>(&client, &ns)
        .list(&ListParams::default().labels("app.kubernetes.io/name=merchant-api"))
        .await
        .expect("pods");
    assert!(pods.items.is_empty(), "API pods left while restoring");
    let job = running.status.and_then(|s| s.job_name).expect("jobName");
    let args = api::<Job>(&client, &ns)
        .get(&job)
        .await
        .expect("Job")
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod")
        .containers[0]
        .args
        .clone()
        .expect("args");
    assert!(
        args.contains(&"--drop".to_owned()) && args.contains(&"--latest".to_owned()),
        "{args:?}"
    );
    restores
        .delete("back", &DeleteParams::default())
        .await
        .expect("delete MerchantRestore");
    wait_for(
        api::<Deployment>(&client, &ns),
        "shop",
        "back to 2",
        replicas(2),
    )
    .await;
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}
