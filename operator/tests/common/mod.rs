//! Shared harness of the cluster tests: a client (or a skip outside CI), a fresh namespace per
//! test, the generated CRD applied with SSA, the controller started in-process and scoped to the
//! test namespace with its own request counters, and waiting helpers.

#![allow(dead_code, clippy::unwrap_used)]

pub mod real;

use std::{sync::Arc, time::Duration};

use k8s_openapi::{
    api::core::v1::{Namespace, Secret},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, Config, CustomResourceExt, ResourceExt,
    api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams},
    runtime::wait::{Condition, await_condition, conditions},
};
use merchant_operator::{
    client::client_from_config,
    controller::{self, Settings},
    crd::{MerchantBackend, MerchantBackendSpec, MigrationsSpec},
    metrics::Metrics,
};
use tokio::{sync::oneshot, task::JoinHandle};

/// Longest wait for any condition.
pub const WAIT: Duration = Duration::from_secs(120);

/// A client for the test cluster, or `None` (skip) outside CI when no cluster is configured.
pub async fn cluster() -> Option<Client> {
    if std::env::var_os("KUBECONFIG").is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "KUBECONFIG is not set: CI needs the cluster tier (scripts/testenv up cluster)"
        );
        eprintln!("skipping: KUBECONFIG not set (run scripts/testenv up cluster)");
        return None;
    }
    let client = Client::try_default()
        .await
        .expect("kube client from KUBECONFIG");
    install_crd(&client).await;
    Some(client)
}

/// Apply the generated CRDs (what `merchant-operator crd` prints) and wait until they are served.
pub async fn install_crd(client: &Client) {
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in [
        MerchantBackend::crd(),
        merchant_operator::crd::MerchantBackup::crd(),
        merchant_operator::crd::MerchantRestore::crd(),
    ] {
        let name = crd.name_any();
        crds.patch(
            &name,
            &PatchParams::apply("merchant-operator-tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("apply CRD");
        let established = await_condition(crds.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(WAIT, established)
            .await
            .expect("CRD established in time")
            .expect("watch CRD");
    }
}

/// A fresh namespace per test so tests never see each other's objects.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!("{prefix}-{nanos:x}");
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    name
}

/// Delete a test namespace (background).
pub async fn delete_namespace(client: &Client, name: &str) {
    let _ = Api::<Namespace>::all(client.clone())
        .delete(name, &DeleteParams::background())
        .await;
}

/// The controller running in this process, scoped to one namespace.
pub struct Operator {
    /// Requests it issued.
    pub metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<()>,
}

impl Operator {
    /// Start a controller on `namespace` with a fresh request counter.
    pub async fn start(namespace: &str) -> Self {
        Self::start_with(Settings {
            namespaces: vec![namespace.to_owned()],
            secret_selector: None,
            concurrency: 8,
            instance: Some("tests".into()),
            max_concurrent_rollouts: None,
        })
        .await
    }

    /// Start a controller with explicit settings and a fresh request counter.
    pub async fn start_with(settings: Settings) -> Self {
        merchant_operator::telemetry::init(merchant_operator::telemetry::LogFormat::Text);
        let metrics = Arc::new(Metrics::default());
        let config = Config::infer().await.expect("kube config");
        let client = client_from_config(config, metrics.clone()).expect("client");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(controller::run(
            client,
            settings,
            metrics.clone(),
            async move {
                let _ = rx.await;
            },
        ));
        Self {
            metrics,
            stop: Some(tx),
            handle,
        }
    }

    /// Stop gracefully and wait for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.handle).await;
    }
}

/// The Secrets the default references point at.
pub async fn create_default_secrets(client: &Client, ns: &str) {
    create_secret(
        client,
        ns,
        "db-secrets",
        &[("mongodb-uri", "mongodb://db/merchant")],
    )
    .await;
    create_secret(
        client,
        ns,
        "cache-secrets",
        &[("redis-url", "redis://cache:6379")],
    )
    .await;
    create_secret(
        client,
        ns,
        "auth-secrets",
        &[
            ("jwt-secret", "a".repeat(32).as_str()),
            ("jwt-merchant-secret", "b".repeat(32).as_str()),
            ("jwt-refresh-secret", "c".repeat(32).as_str()),
        ],
    )
    .await;
}

/// Create one Opaque Secret.
pub async fn create_secret(client: &Client, ns: &str, name: &str, pairs: &[(&str, &str)]) {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        string_data: Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("create secret");
}

/// Create a MerchantBackend from a YAML spec.
pub async fn create_backend(
    client: &Client,
    ns: &str,
    name: &str,
    spec_yaml: &str,
) -> MerchantBackend {
    let mut spec: MerchantBackendSpec = serde_saphyr::from_str(spec_yaml).expect("spec yaml");
    // KWOK pods run nothing, so a migration Job would never report a plan: these tests check
    // the children, and the real-node tests the migration gate.
    spec.migrations.get_or_insert(MigrationsSpec {
        enabled: Some(false),
        ..MigrationsSpec::default()
    });
    let mb = MerchantBackend::new(name, spec);
    Api::<MerchantBackend>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &mb)
        .await
        .expect("create MerchantBackend")
}

/// Merge-patch a MerchantBackend's spec.
pub async fn patch_spec(client: &Client, ns: &str, name: &str, spec: serde_json::Value) {
    Api::<MerchantBackend>::namespaced(client.clone(), ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "spec": spec })),
        )
        .await
        .expect("patch MerchantBackend");
}

/// Wait until `condition` holds for object `name`.
pub async fn wait_for<K, C>(api: Api<K>, name: &str, what: &str, condition: C) -> K
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    C: Condition<K>,
{
    tokio::time::timeout(WAIT, await_condition(api, name, condition))
        .await
        .unwrap_or_else(|_| panic!("{name}: {what} not reached in {WAIT:?}"))
        .expect("watch failed")
        .unwrap_or_else(|| panic!("{name} was deleted while waiting for {what}"))
}

/// Condition: the MerchantBackend has condition `type_` with `status` (and, if given, `reason`)
/// for its current generation.
pub fn has_condition(
    type_: &'static str,
    status: &'static str,
    reason: Option<&'static str>,
) -> impl Condition<MerchantBackend> {
    move |mb: Option<&MerchantBackend>| {
        mb.is_some_and(|mb| {
            mb.status.as_ref().is_some_and(|s| {
                s.observed_generation == mb.metadata.generation
                    && s.conditions.iter().any(|c| {
                        c.type_ == type_
                            && c.status == status
                            && reason.is_none_or(|r| c.reason == r)
                    })
            })
        })
    }
}

/// Poll `check` every 250 ms until it returns true or WAIT passes.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{what} not reached in {WAIT:?}");
}
