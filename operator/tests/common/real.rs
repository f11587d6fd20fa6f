//! The real-node test bed (`scripts/testenv up nodes` + `scripts/image`): what it exported,
//! MerchantBackends of the locally built API image placed on it, and bounded waits and requests.

#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams},
};
use merchant_operator::crd::MerchantBackend;
use serde_json::{Value, json};

/// Longest wait for real pods (image already imported; pods start in seconds).
pub const POD_WAIT: Duration = Duration::from_secs(180);

/// What `scripts/testenv up nodes` exported (target/testenv/env.sh).
pub struct RealNode {
    pub name: String,
    pub taint: String,
    pub pod_mongodb_uri: String,
    pub pod_redis_url: String,
    pub storage_class: String,
    pub volumes_dir: PathBuf,
    pub testenv_dir: String,
}

/// The real node, or `None` (skip) outside CI when the nodes tier is not up.
pub fn real_node() -> Option<RealNode> {
    let Ok(name) = std::env::var("TESTENV_REAL_NODE") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "TESTENV_REAL_NODE is not set: CI needs the nodes tier (scripts/testenv up nodes)"
        );
        eprintln!("skipping: no real node (scripts/testenv up nodes; scripts/image)");
        return None;
    };
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    Some(RealNode {
        name,
        taint: var("TESTENV_NODE_TAINT"),
        pod_mongodb_uri: var("TESTENV_POD_MONGODB_URI"),
        pod_redis_url: var("TESTENV_POD_REDIS_URL"),
        storage_class: var("TESTENV_STORAGE_CLASS"),
        volumes_dir: PathBuf::from(var("TESTENV_VOLUMES_DIR")),
        testenv_dir: var("MERCHANT_TESTENV"),
    })
}

impl RealNode {
    /// nodeSelector + toleration that put a pod on the real node (and only there).
    pub fn placement(&self) -> Value {
        json!({
            "nodeSelector": {"kubernetes.io/hostname": self.name},
            "tolerations": [{"key": self.taint, "operator": "Exists", "effect": "NoSchedule"}],
        })
    }

    /// The MongoDB URI pods use, with a database of their own.
    pub fn mongodb_uri(&self, db: &str) -> String {
        self.pod_mongodb_uri.replacen("/?", &format!("/{db}?"), 1)
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Run a command; its stdout, or a panic with its stderr.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
/// The Secrets a MerchantBackend references by default, pointing at the host's test servers.
pub async fn create_secrets(client: &Client, node: &RealNode, ns: &str, db: &str) {
    let secrets = Api::<Secret>::namespaced(client.clone(), ns);
    let key = |tag: &str| format!("{tag}-{}-0123456789abcdef0123456789", unique_suffix());
    for (name, data) in [
        ("db-secrets", vec![("mongodb-uri", node.mongodb_uri(db))]),
        (
            "cache-secrets",
            vec![("redis-url", node.pod_redis_url.clone())],
        ),
        (
            "auth-secrets",
            vec![
                ("jwt-secret", key("legacy")),
                ("jwt-merchant-secret", key("access")),
                ("jwt-refresh-secret", key("refresh")),
            ],
        ),
    ] {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            string_data: Some(data.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
            ..Default::default()
        };
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("create secret");
    }
}

pub fn unique_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos()
    )
}

/// A MerchantBackend of the locally built API image on the real node, with small requests so
/// it fits beside the other tests' pods on two CPUs.
pub fn backend(node: &RealNode, name: &str, extra: Value) -> MerchantBackend {
    let mut spec = json!({
        "image": "localhost/merchant-api:dev",
        "imagePullPolicy": "Never",
        "replicas": 2,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "podTemplate": node.placement(),
        // Every request comes from the host's bridge address and the Redis counters outlive a
        // run: limits high enough that reruns never trip them.
        "config": {"logLevel": "info", "rateLimit": {"general": 100000, "auth": 10000, "register": 10000}},
    });
    merge(&mut spec, extra);
    serde_json::from_value(json!({
        "apiVersion": "merchant.rezapp.com/v1alpha1",
        "kind": "MerchantBackend",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("valid MerchantBackend")
}

pub fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

pub async fn apply_backend(client: &Client, ns: &str, mb: &MerchantBackend) {
    Api::<MerchantBackend>::namespaced(client.clone(), ns)
        .patch(
            &mb.name_any(),
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(mb),
        )
        .await
        .expect("apply MerchantBackend");
}

/// The condition `type_` of the MerchantBackend as (status, reason, message).
pub async fn condition(
    client: &Client,
    ns: &str,
    name: &str,
    type_: &str,
) -> (String, String, String) {
    let mb = Api::<MerchantBackend>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .expect("get MerchantBackend");
    mb.status
        .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == type_))
        .map(|c| (c.status, c.reason, c.message))
        .unwrap_or_default()
}

/// Poll `check` every 500 ms until it returns Ok or `limit` passes; panic with `what` and the
/// last observation otherwise.
pub async fn within<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not within {limit:?}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

pub async fn wait_condition(client: &Client, ns: &str, name: &str, type_: &str, status: &str) {
    within(&format!("{name} {type_}={status}"), POD_WAIT, || async {
        let c = condition(client, ns, name, type_).await;
        if c.0 == status {
            Ok(())
        } else {
            Err(format!("{c:?}"))
        }
    })
    .await
}

/// `http://<ClusterIP>:<port>` of a Service, reachable from this host through kube-proxy.
pub async fn service_url(client: &Client, ns: &str, name: &str) -> String {
    let svc = Api::<Service>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .expect("get Service");
    let spec = svc.spec.expect("service spec");
    let ip = spec.cluster_ip.expect("ClusterIP");
    let port = spec.ports.expect("ports")[0].port;
    format!("http://{ip}:{port}")
}

/// Wait until the Service answers /health/ready (kube-proxy programs a new Service within a
/// second or so of its endpoints turning ready).
pub async fn service_answers(base: &str) {
    within("the Service answers", Duration::from_secs(30), || async {
        match http().get(format!("{base}/health/ready")).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(r.status().to_string()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
}

pub async fn api_pods(client: &Client, ns: &str, name: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&format!(
            "app.kubernetes.io/instance={name},app.kubernetes.io/name=merchant-api"
        )))
        .await
        .expect("list pods")
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

pub fn restarts(pods: &[Pod]) -> i32 {
    pods.iter()
        .flat_map(|p| {
            p.status
                .iter()
                .flat_map(|s| s.container_statuses.iter().flatten())
        })
        .map(|c| c.restart_count)
        .sum()
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("http client")
}
