//! End to end on the test bed's real node (`scripts/testenv up nodes` + `scripts/image`): the
//! chart installs the operator as a real pod that runs with only the chart's RBAC, and a
//! MerchantBackend gives API pods that really run `merchant-api serve` against the host's test
//! servers and answer through the operator-made Service. Nothing here is a KWOK fake: "Ready"
//! means a readiness probe of a running process passed.
//!
//! The tests share one node (2 CPUs) and one MongoDB that one of them stops, so they run one at a
//! time (`SERIAL`). Every wait and every request loop is bounded.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use common::{real::*, *};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, ObjectMeta, PostParams},
};
use merchant_operator::crd::MerchantBackend;
use serde_json::{Value, json};

/// One real-pod test at a time: they share the node's CPUs and the MongoDB one of them stops.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The chart's operator release `e2e` in one namespace; dropping it uninstalls the release, on
/// a failed assertion too, so the release's cluster-scoped objects (the StorageClass reader
/// ClusterRole) never block the next test's install.
struct ChartRelease {
    ns: String,
}

impl Drop for ChartRelease {
    fn drop(&mut self) {
        let out = Command::new("helm")
            .args([
                "uninstall",
                "e2e",
                "--namespace",
                &self.ns,
                "--wait",
                "--timeout",
                "60s",
            ])
            .output();
        if let Some(out) = out.ok().filter(|o| !o.status.success()) {
            eprintln!(
                "helm uninstall e2e: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Install the chart's operator in `ns` as a real pod (namespace-scoped, the chart's RBAC only)
/// and wait until it is ready.
#[must_use = "dropping the ChartRelease uninstalls it"]
fn install_operator(node: &RealNode, ns: &str) -> ChartRelease {
    let chart = repo_root().join("charts/merchant-operator");
    let values = json!({
        "image": {"repository": "localhost/merchant-operator", "tag": "dev", "pullPolicy": "Never"},
        "replicaCount": 1,
        "watchNamespaces": [ns],
        "logFormat": "json",
        "nodeSelector": node.placement()["nodeSelector"],
        "tolerations": node.placement()["tolerations"],
        "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
        // `cluster()` applied the CRDs this build generates, with its own field manager.
        "crds": {"install": false},
    });
    let file = std::env::temp_dir().join(format!("{ns}-values.json"));
    std::fs::write(&file, values.to_string()).expect("values file");
    let started = std::time::Instant::now();
    // A run killed mid-test (no Drop) leaves its release's ClusterRole behind; the real-pod
    // tests run one at a time, so one named like ours is stale.
    run(
        "kubectl",
        &[
            "delete",
            "clusterrole,clusterrolebinding",
            "e2e-merchant-operator-storageclasses",
            "--ignore-not-found",
        ],
    );
    let release = ChartRelease { ns: ns.to_string() };
    run(
        "helm",
        &[
            "install",
            "e2e",
            &chart.display().to_string(),
            "--namespace",
            ns,
            "--values",
            &file.display().to_string(),
            "--wait",
            "--timeout",
            "120s",
        ],
    );
    let _ = std::fs::remove_file(file);
    let installed = started.elapsed();
    // The chart's own test: its pod asks the operator's /readyz through the metrics Service.
    let out = run(
        "helm",
        &["test", "e2e", "--namespace", ns, "--timeout", "120s"],
    );
    let succeeded = out
        .lines()
        .any(|l| l.split_whitespace().eq(["Phase:", "Succeeded"]));
    assert!(succeeded, "helm test: {out}");
    eprintln!(
        "CHART-FIGURE helm install --wait {:.1} s, helm test {:.1} s",
        installed.as_secs_f64(),
        (started.elapsed() - installed).as_secs_f64()
    );
    release
}

/// Send `req` (with the bearer token, if any); (status, body bytes).
async fn send(req: reqwest::RequestBuilder, what: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let req = match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    };
    let res = req.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = res.status().as_u16();
    (status, res.bytes().await.expect("body").to_vec())
}

/// POST JSON; (status, JSON body or Null).
async fn post(base: &str, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let req = http().post(format!("{base}{path}")).json(body);
    let (status, bytes) = send(req, &format!("POST {path}"), token).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn get(base: &str, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    send(
        http().get(format!("{base}{path}")),
        &format!("GET {path}"),
        token,
    )
    .await
}

/// Register, log in, create a product and read it back: the merchant client's first minutes.
async fn merchant_round_trip(base: &str) -> String {
    let email = format!("e2e-{}@example.com", unique_suffix());
    let registration = json!({
        "businessName": "Real Pods Ltd", "ownerName": "Ann Owner", "email": email,
        "password": "secret1", "phone": "+1 555 0100", "role": "owner",
        "businessAddress": {"street": "1 Main St", "city": "Springfield", "state": "IL", "zipCode": "62701", "country": "US"},
    });
    let (status, body) = post(base, "/api/merchant/auth/register", None, &registration).await;
    assert_eq!(status, 201, "register: {body}");
    let (status, body) = post(
        base,
        "/api/merchant/auth/login",
        None,
        &json!({"email": email, "password": "secret1"}),
    )
    .await;
    assert_eq!(status, 200, "login: {body}");
    let token = body["data"]["token"].as_str().expect("token").to_owned();
    let product = json!({
        "name": "Real Pod Mug", "description": "Served by a real pod.", "price": 12.5,
        "category": "General", "status": "active", "inventory": {"stock": 7, "lowStockThreshold": 2},
    });
    let (status, body) = post(base, "/api/merchant/products", Some(&token), &product).await;
    assert_eq!(status, 201, "create product: {body}");
    let id = body["data"]["_id"]
        .as_str()
        .or(body["data"]["id"].as_str())
        .expect("product id")
        .to_owned();
    let (status, bytes) = get(base, &format!("/api/merchant/products/{id}"), Some(&token)).await;
    assert_eq!(status, 200);
    let read: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(read["data"]["name"], "Real Pod Mug", "{read}");
    token
}

/// A tiny valid PNG.
fn png() -> Vec<u8> {
    let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
    b.extend(b"IHDR");
    b.extend(32u32.to_be_bytes());
    b.extend(16u32.to_be_bytes());
    b.extend([8, 6, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0]);
    b.extend(b"IEND");
    b.extend([0xae, 0x42, 0x60, 0x82]);
    b
}

/// Upload an image through the API; it must be served back and lie on the claim's directory on
/// the node, written by the pod's non-root user.
async fn upload_lands_on_the_volume(base: &str, token: &str, node: &RealNode, ns: &str) {
    let image = png();
    let part = reqwest::multipart::Part::bytes(image.clone())
        .file_name("logo.png")
        .mime_str("image/png")
        .expect("mime");
    let res = http()
        .post(format!("{base}/api/merchant/uploads/image"))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part("image", part))
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().await.expect("json");
    let public_id = body["data"]["publicId"]
        .as_str()
        .expect("publicId")
        .to_owned();
    let url = body["data"]["url"].as_str().expect("url").to_owned();
    let path = url.strip_prefix(base).unwrap_or(&url).to_owned();
    let (status, served) = get(base, &path, None).await;
    assert_eq!((status, served == image), (200, true), "served back: {url}");

    let dirs: Vec<PathBuf> = std::fs::read_dir(&node.volumes_dir)
        .expect("volumes dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{ns}_")))
        })
        .collect();
    assert_eq!(
        dirs.len(),
        1,
        "one provisioned directory for the claim: {dirs:?}"
    );
    let found = find_file(&dirs[0], &public_id).expect("uploaded file on the volume");
    let meta = std::fs::metadata(&found).expect("stat");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(meta.uid(), 65532, "written by the pod's non-root user");
    assert_eq!(std::fs::read(found).expect("read"), image);
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

/// `scripts/testenv` of this checkout on the running test bed.
fn testenv(node: &RealNode, args: &[&str]) {
    let out = Command::new(repo_root().join("scripts/testenv"))
        .args(args)
        .env("MERCHANT_TESTENV_DIR", &node.testenv_dir)
        .output()
        .expect("scripts/testenv");
    assert!(
        out.status.success(),
        "scripts/testenv {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_merchant_backend_serves_the_api_from_real_pods() {
    let Some(node) = real_node() else { return };
    let Some(client) = cluster().await else {
        return;
    };
    let _one_at_a_time = SERIAL.lock().await;
    let ns = namespace(&client, "e2e-api").await;
    let name = "shop";
    let release = install_operator(&node, &ns);
    create_secrets(&client, &node, &ns, &format!("e2e_{}", unique_suffix())).await;
    let uploads = json!({"uploads": {"storageClassName": node.storage_class, "size": "1Gi"}});
    apply_backend(&client, &ns, &backend(&node, name, uploads)).await;
    wait_condition(&client, &ns, name, "Ready", "True").await;

    // Through the operator-made public Service, from outside the pods (kube-proxy programs a
    // new Service within a second or so of its endpoints turning ready).
    let base = service_url(&client, &ns, name).await;
    service_answers(&base).await;
    let token = merchant_round_trip(&base).await;
    upload_lands_on_the_volume(&base, &token, &node, &ns).await;

    // `kubectl logs` reaches the kubelet (the image has no shell: see docs/testing.md).
    let pod = api_pods(&client, &ns, name).await[0].name_any();
    let logs = run("kubectl", &["logs", "-n", &ns, &pod, "--tail=200"]);
    assert!(logs.contains("merchant-api ready"), "{logs}");

    // The operator pod did all of this with the chart's RBAC alone.
    let operator_log = run(
        "kubectl",
        &["logs", "-n", &ns, "deploy/e2e-merchant-operator"],
    );
    assert!(
        !operator_log.to_lowercase().contains("forbidden"),
        "{operator_log}"
    );

    a_deleted_pod_is_replaced_and_serves(&client, &ns, name, &base).await;
    metrics_are_on_each_pods_admin_port_only(&client, &ns, name, &base).await;
    readiness_follows_the_database(&client, &node, &ns, name, &base).await;

    drop(release);
    delete_namespace(&client, &ns).await;
}

async fn a_deleted_pod_is_replaced_and_serves(client: &Client, ns: &str, name: &str, base: &str) {
    let pods = api_pods(client, ns, name).await;
    let victim = pods[0].name_any();
    Api::<Pod>::namespaced(client.clone(), ns)
        .delete(&victim, &DeleteParams::default())
        .await
        .expect("delete pod");
    within("a replacement pod is ready", POD_WAIT, || async {
        let pods = api_pods(client, ns, name).await;
        let ready = pods
            .iter()
            .filter(|p| p.name_any() != victim && pod_ready(p))
            .count();
        if ready == 2 {
            Ok(())
        } else {
            Err(format!("{ready} ready"))
        }
    })
    .await;
    let (status, _) = get(base, "/health/ready", None).await;
    assert_eq!(status, 200);
}

/// A scraper reads `/metrics` on each pod's `metrics` port (9464); clients of the Service do
/// not get it.
async fn metrics_are_on_each_pods_admin_port_only(
    client: &Client,
    ns: &str,
    name: &str,
    base: &str,
) {
    let (status, _) = get(base, "/metrics", None).await;
    assert_eq!(status, 404, "the Service does not serve /metrics");
    for pod in api_pods(client, ns, name)
        .await
        .iter()
        .filter(|p| pod_ready(p))
    {
        let ip = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .expect("a ready pod has an IP");
        let (status, body) = get(&format!("http://{ip}:9464"), "/metrics", None).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, 200, "{}: {text}", pod.name_any());
        // Families every pod reports from its start: since the probes moved to this port, a
        // replacement pod may not have served a public request (the request counter) yet.
        for family in [
            "merchant_api_http_requests_in_flight",
            "merchant_api_db_pool_connections",
        ] {
            assert!(
                text.contains(family),
                "{}: {family}: {text}",
                pod.name_any()
            );
        }
    }
}

fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Stop MongoDB: the pods' readiness drops (the Service has no ready endpoint, the resource is
/// not Ready); start it again: the same pods recover, no restart.
async fn readiness_follows_the_database(
    client: &Client,
    node: &RealNode,
    ns: &str,
    name: &str,
    base: &str,
) {
    let before = restarts(&api_pods(client, ns, name).await);
    testenv(node, &["down", "mongo"]);
    wait_condition(client, ns, name, "Ready", "False").await;
    within("no API pod ready without MongoDB", POD_WAIT, || async {
        let ready = api_pods(client, ns, name)
            .await
            .iter()
            .filter(|p| pod_ready(p))
            .count();
        if ready == 0 {
            Ok(())
        } else {
            Err(format!("{ready} ready"))
        }
    })
    .await;
    testenv(node, &["up", "api"]);
    wait_condition(client, ns, name, "Ready", "True").await;
    let (status, body) = get(base, "/health/ready", None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        restarts(&api_pods(client, ns, name).await),
        before,
        "recovered without a restart"
    );
}

/// A second test bed on this machine cannot bring up another node: `up nodes` fails at once,
/// naming the port the running kubelet holds, and starts nothing.
#[tokio::test]
async fn a_second_node_fails_fast_naming_the_taken_port() {
    let Some(_node) = real_node() else { return };
    let state = std::env::temp_dir().join(format!("testenv-second-{}", unique_suffix()));
    let started = Instant::now();
    let out = Command::new(repo_root().join("scripts/testenv"))
        .args(["up", "nodes"])
        .env("MERCHANT_TESTENV_DIR", &state)
        .output()
        .expect("scripts/testenv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("port 10250 is already in use"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "failed fast: {:?}",
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(state);
}

/// Pods that cannot run: the resource names the real cause, not "RollingOut". One backend per
/// cause, each on the real node: a claim of a storage class that does not exist, more CPU than
/// the node has, an image that is not there, and a process that exits at start (its last log
/// lines are in the message).
#[tokio::test]
async fn status_names_the_cause_when_pods_cannot_run() {
    let Some(node) = real_node() else { return };
    let Some(client) = cluster().await else {
        return;
    };
    let _one_at_a_time = SERIAL.lock().await;
    let ns = namespace(&client, "e2e-causes").await;
    let operator = Operator::start(&ns).await;
    create_secrets(&client, &node, &ns, &format!("e2e_{}", unique_suffix())).await;
    create_secret(&client, &ns, "short-keys", &[("key", "too-short")]).await;
    let short = json!({"name": "short-keys", "key": "key"});
    let cases = [
        (
            "no-volume",
            json!({"uploads": {"storageClassName": "no-such-class", "size": "1Gi"}}),
            "ClaimPending",
            vec!["no-volume-uploads", "no-such-class"],
        ),
        (
            "too-big",
            json!({"resources": {"requests": {"cpu": "64"}, "limits": {"cpu": "64"}}}),
            "Unschedulable",
            vec!["Insufficient cpu"],
        ),
        (
            "no-image",
            json!({"image": "localhost/merchant-api:not-built"}),
            "ImagePullFailed",
            vec!["localhost/merchant-api:not-built"],
        ),
        (
            "crashing",
            json!({"secrets": {"jwtMerchantSecret": short, "jwtRefreshSecret": short}}),
            "CrashLoop",
            vec!["invalid configuration", "at least 32 characters"],
        ),
    ];
    for (name, extra, _, _) in &cases {
        let mut extra = extra.clone();
        merge(&mut extra, json!({"replicas": 1}));
        apply_backend(&client, &ns, &backend(&node, name, extra)).await;
    }
    for (name, _, reason, words) in &cases {
        within(
            &format!("{name}: Ready=False {reason}"),
            POD_WAIT,
            || async {
                let (status, got, message) = condition(&client, &ns, name, "Ready").await;
                let named = words.iter().all(|w| message.contains(w));
                if status == "False" && got == *reason && named {
                    Ok(())
                } else {
                    Err(format!("{status} {got}: {message}"))
                }
            },
        )
        .await;
        let (degraded, _, _) = condition(&client, &ns, name, "Degraded").await;
        assert_eq!(degraded, "True", "{name} is Degraded");
    }
    operator.stop().await;
    delete_namespace(&client, &ns).await;
}

/// The S3 server of the test bed as pods reach it, and a Secret with its credentials.
async fn backup_destination(client: &Client, ns: &str, prefix: &str) -> Value {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("backup-s3".into()),
            ..Default::default()
        },
        string_data: Some(
            [
                ("s3-access-key-id".to_owned(), var("S3_ACCESS_KEY_ID")),
                (
                    "s3-secret-access-key".to_owned(),
                    var("S3_SECRET_ACCESS_KEY"),
                ),
            ]
            .into(),
        ),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("create backup Secret");
    json!({
        "bucket": var("S3_BUCKET"),
        "prefix": prefix,
        "endpoint": var("TESTENV_POD_S3_ENDPOINT"),
        "region": var("S3_REGION"),
        "credentialsSecret": "backup-s3",
    })
}

async fn backend_status(
    client: &Client,
    ns: &str,
    name: &str,
) -> merchant_operator::crd::MerchantBackendStatus {
    Api::<MerchantBackend>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .expect("get MerchantBackend")
        .status
        .unwrap_or_default()
}

async fn jobs(client: &Client, ns: &str, component: &str) -> Vec<k8s_openapi::api::batch::v1::Job> {
    Api::<k8s_openapi::api::batch::v1::Job>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&format!("app.kubernetes.io/component={component}")))
        .await
        .expect("list jobs")
        .items
}

/// Run a CronJob now (as `kubectl create job --from` does: owned by the CronJob) and wait until
/// status.backup records it in `field`.
async fn run_cron_job(client: &Client, ns: &str, name: &str, cron: &str, field: &str) -> Value {
    let job = format!("{cron}-now");
    run(
        "kubectl",
        &[
            "create",
            "job",
            "-n",
            ns,
            &job,
            &format!("--from=cronjob/{cron}"),
        ],
    );
    within(
        &format!("status.backup.{field} records {job}"),
        POD_WAIT,
        || async {
            let status = backend_status(client, ns, name).await;
            let backup = serde_json::to_value(status.backup).unwrap_or_default();
            match &backup[field] {
                run if run["job"] == job.as_str() => Ok(run.clone()),
                _ => Err(backup.to_string()),
            }
        },
    )
    .await
}

/// The scheduled backups and the migration gate on real pods: the CronJobs carry the schedule,
/// a backup run and a restore drill fill status.backup; a new backend's API pods start only
/// after its migration Job succeeded; a new image whose migration fails is held (Degraded, the
/// failed Job kept) while the old pods go on serving, and is released once the data is fixed
/// and the spec changes.
#[tokio::test]
async fn releases_wait_for_their_migrations_and_backups_are_observed() {
    let Some(node) = real_node() else { return };
    let Some(client) = cluster().await else {
        return;
    };
    let _one_at_a_time = SERIAL.lock().await;
    let ns = namespace(&client, "e2e-release").await;
    let name = "shop";
    let chart = install_operator(&node, &ns);
    let db = format!("e2e_{}", unique_suffix());
    create_secrets(&client, &node, &ns, &db).await;
    let destination = backup_destination(&client, &ns, &format!("e2e/{ns}")).await;
    let extra = json!({
        "replicas": 1,
        "migrations": {"maxAttempts": 1},
        "backup": {"destination": destination},
    });
    let mut mb = backend(&node, name, extra);
    apply_backend(&client, &ns, &mb).await;
    wait_condition(&client, &ns, name, "Ready", "True").await;

    // The first pod started after the migrations had finished.
    let status = backend_status(&client, &ns, name).await;
    let release = status.release.clone().expect("status.release");
    assert_eq!(release.phase, "Released", "{release:?}");
    let identity = status.database.clone().and_then(|d| d.identity);
    assert!(identity.is_some(), "{:?}", status.database);
    let migrated = jobs(&client, &ns, "migrate")
        .await
        .into_iter()
        .filter_map(|j| j.status?.completion_time)
        .max()
        .expect("a finished migration Job");
    let first_pod = api_pods(&client, &ns, name)
        .await
        .into_iter()
        .filter_map(|p| p.metadata.creation_timestamp)
        .min()
        .expect("an API pod");
    assert!(
        migrated.0 <= first_pod.0,
        "pod {first_pod:?} before migration end {migrated:?}"
    );

    // The backup CronJobs, a backup and a restore drill, observed.
    let crons = Api::<k8s_openapi::api::batch::v1::CronJob>::namespaced(client.clone(), &ns);
    let backup_cron = crons
        .get(&format!("{name}-backup"))
        .await
        .expect("backup CronJob");
    assert_eq!(backup_cron.spec.schedule, "0 2 * * *");
    assert_eq!(
        backup_cron.spec.concurrency_policy.as_deref(),
        Some("Forbid")
    );
    let verify_cron = crons
        .get(&format!("{name}-verify"))
        .await
        .expect("verify CronJob");
    assert_eq!(verify_cron.spec.schedule, "0 4 * * 0");
    let base = service_url(&client, &ns, name).await;
    service_answers(&base).await;
    merchant_round_trip(&base).await;
    let backup = run_cron_job(
        &client,
        &ns,
        name,
        &format!("{name}-backup"),
        "lastSuccessfulBackup",
    )
    .await;
    assert!(
        backup["location"]
            .as_str()
            .is_some_and(|l| l.starts_with("s3://")),
        "{backup}"
    );
    assert!(
        backup["documents"].as_i64().is_some_and(|d| d > 0),
        "{backup}"
    );
    let verified = run_cron_job(
        &client,
        &ns,
        name,
        &format!("{name}-verify"),
        "lastVerifiedBackup",
    )
    .await;
    assert_eq!(verified["location"], backup["location"], "{verified}");
    assert!(verified["restoreSeconds"].as_f64().is_some(), "{verified}");
    let (healthy, why, _) = condition(&client, &ns, name, "BackupHealthy").await;
    assert_eq!((healthy.as_str(), why.as_str()), ("True", "BackupCurrent"));

    // Break the data under migration 5 and release a new image: its migration fails.
    let mongo = mongodb::Client::with_uri_str(std::env::var("MONGODB_URI").expect("MONGODB_URI"))
        .await
        .expect("mongodb");
    let database = mongo.database(&db);
    database
        .collection::<mongodb::bson::Document>("migrations")
        .delete_one(mongodb::bson::doc! {"version": 5})
        .await
        .expect("forget migration 5");
    database
        .collection::<mongodb::bson::Document>("products")
        .insert_one(mongodb::bson::doc! {"name": "broken", "inventory": "not-an-object"})
        .await
        .expect("insert a product migration 5 cannot update");
    run(
        "ctr",
        &[
            "--address",
            "/run/merchant-testenv/containerd.sock",
            "--namespace",
            "k8s.io",
            "images",
            "tag",
            "--force",
            "localhost/merchant-api:dev",
            "localhost/merchant-api:dev-b",
        ],
    );
    mb.spec.image = "localhost/merchant-api:dev-b".into();
    apply_backend(&client, &ns, &mb).await;
    let message = within("Degraded=True MigrationFailed", POD_WAIT, || async {
        let c = condition(&client, &ns, name, "Degraded").await;
        if c.0 == "True" && c.1 == "MigrationFailed" {
            Ok(c.2)
        } else {
            Err(format!("{c:?}"))
        }
    })
    .await;
    assert!(message.contains("Cannot create field"), "{message}");
    let failed = jobs(&client, &ns, "migrate").await;
    assert!(
        failed
            .iter()
            .any(|j| j.status.as_ref().and_then(|s| s.failed).unwrap_or(0) > 0),
        "the failed migration Job is kept"
    );
    // The old version still serves real requests.
    let status = backend_status(&client, &ns, name).await;
    assert_eq!(status.image.as_deref(), Some("localhost/merchant-api:dev"));
    merchant_round_trip(&base).await;

    // Fix the data; a changed spec starts the release again and the new image serves.
    database
        .collection::<mongodb::bson::Document>("products")
        .delete_one(mongodb::bson::doc! {"name": "broken"})
        .await
        .expect("remove the broken product");
    mb.spec
        .config
        .get_or_insert_with(Default::default)
        .log_level = Some(merchant_operator::crd::LogLevel::Debug);
    apply_backend(&client, &ns, &mb).await;
    within("the new image serves", POD_WAIT, || async {
        let status = backend_status(&client, &ns, name).await;
        let ready = status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if ready && status.image.as_deref() == Some("localhost/merchant-api:dev-b") {
            Ok(())
        } else {
            Err(format!("{:?} {:?}", status.image, status.release))
        }
    })
    .await;

    drop(chart);
    delete_namespace(&client, &ns).await;
}

/// A namespace with the chart's operator, the Secrets and a one-replica MerchantBackend `shop`
/// backing up to the test bed's S3 (`backup` merged into spec.backup), Ready. Returns the
/// namespace, the database name and the chart release.
async fn backed_up_stack(
    client: &Client,
    node: &RealNode,
    prefix: &str,
    backup: Value,
) -> (String, String, ChartRelease) {
    let ns = namespace(client, prefix).await;
    let release = install_operator(node, &ns);
    let db = format!("e2e_{}", unique_suffix());
    create_secrets(client, node, &ns, &db).await;
    let mut spec =
        json!({"destination": backup_destination(client, &ns, &format!("e2e/{ns}")).await});
    merge(&mut spec, backup);
    let mb = backend(node, "shop", json!({"replicas": 1, "backup": spec}));
    apply_backend(client, &ns, &mb).await;
    wait_condition(client, &ns, "shop", "Ready", "True").await;
    (ns, db, release)
}

/// Create a MerchantBackup or MerchantRestore from JSON and wait until its phase is terminal;
/// returns its status.
async fn run_to_the_end(client: &Client, ns: &str, kind: &str, name: &str, spec: Value) -> Value {
    let resource = json!({
        "apiVersion": "merchant.rezapp.com/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    });
    let api = dynamic_api(client, ns, kind);
    let object = serde_json::from_value(resource).expect("dynamic object");
    api.create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("create {kind} {name}: {e}"));
    within(&format!("{kind} {name} finishes"), POD_WAIT, || async {
        let object = api.get(name).await.map_err(|e| e.to_string())?;
        let status = object.data.get("status").cloned().unwrap_or_default();
        match status["phase"].as_str() {
            Some("Succeeded" | "Failed") => Ok(status),
            _ => Err(status.to_string()),
        }
    })
    .await
}

fn dynamic_api(client: &Client, ns: &str, kind: &str) -> Api<kube::api::DynamicObject> {
    let gvk = kube::api::GroupVersionKind::gvk("merchant.rezapp.com", "v1alpha1", kind);
    let resource = kube::api::ApiResource::from_gvk(&gvk);
    Api::namespaced_with(client.clone(), ns, &resource)
}

/// Document count of every collection of `db` but the migration lock, which backups skip (a
/// lock is the state of a run, not data).
async fn collection_counts(
    mongo: &mongodb::Client,
    db: &str,
) -> std::collections::BTreeMap<String, u64> {
    let database = mongo.database(db);
    let mut counts = std::collections::BTreeMap::new();
    for name in database
        .list_collection_names()
        .await
        .expect("list collections")
    {
        if name == "migrations_lock" {
            continue;
        }
        let n = database
            .collection::<mongodb::bson::Document>(&name)
            .count_documents(mongodb::bson::doc! {})
            .await
            .expect("count");
        counts.insert(name, n);
    }
    counts
}

/// On-demand backups and restores on real pods: a MerchantBackup writes a real backup to the
/// test bed's S3; a MerchantRestore of it into a new database gives the same collections and
/// counts; an in-place restore holds the API at zero replicas, puts the data back as it was at
/// the backup and brings the API back serving the restored data; a restore of a location that
/// does not exist fails naming it.
#[tokio::test]
async fn on_demand_backups_and_restores_run_real_jobs() {
    let Some(node) = real_node() else { return };
    let Some(client) = cluster().await else {
        return;
    };
    let _one_at_a_time = SERIAL.lock().await;
    let name = "shop";
    let (ns, db, release) = backed_up_stack(&client, &node, "e2e-backup", json!({})).await;
    let base = service_url(&client, &ns, name).await;
    service_answers(&base).await;
    let token = merchant_round_trip(&base).await;
    let mongo = mongodb::Client::with_uri_str(std::env::var("MONGODB_URI").expect("MONGODB_URI"))
        .await
        .expect("mongodb");
    let at_backup = collection_counts(&mongo, &db).await;

    // An on-demand backup.
    let backup = run_to_the_end(
        &client,
        &ns,
        "MerchantBackup",
        "before-change",
        json!({"backendRef": name}),
    )
    .await;
    assert_eq!(backup["phase"], "Succeeded", "{backup}");
    let location = backup["location"]
        .as_str()
        .expect("status.location")
        .to_owned();
    assert!(
        location.starts_with(&format!(
            "s3://{}/e2e/{ns}/",
            std::env::var("S3_BUCKET").expect("S3_BUCKET")
        )),
        "{location}"
    );
    let products = at_backup.get("products").copied().unwrap_or(0);
    assert!(products >= 1, "{at_backup:?}");
    assert!(
        backup["documents"].as_u64().is_some_and(|d| d >= products),
        "{backup}"
    );
    assert!(
        backup["sizeBytes"].as_u64().is_some_and(|s| s > 0),
        "{backup}"
    );
    assert!(backup["durationSeconds"].as_f64().is_some(), "{backup}");

    // Restored into a new database: the same collections with the same counts.
    let copy = run_to_the_end(
        &client,
        &ns,
        "MerchantRestore",
        "copy",
        json!({"backendRef": name, "backup": "before-change"}),
    )
    .await;
    assert_eq!(copy["phase"], "Succeeded", "{copy}");
    let copy_db = copy["database"]
        .as_str()
        .expect("status.database")
        .to_owned();
    assert_ne!(copy_db, db);
    let restored = collection_counts(&mongo, &copy_db).await;
    for (collection, count) in &at_backup {
        assert_eq!(
            restored.get(collection),
            Some(count),
            "{collection} in {copy_db}: {restored:?} vs {at_backup:?}"
        );
    }

    // Change the serving data, then restore in place: the change is gone and the API serves again.
    let (status, body) = post(
        &base,
        "/api/merchant/products",
        Some(&token),
        &json!({"name": "After The Backup", "description": "Gone after the restore.", "price": 3.0,
                "category": "General", "status": "active", "inventory": {"stock": 1, "lowStockThreshold": 0}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let rollback = run_to_the_end(
        &client,
        &ns,
        "MerchantRestore",
        "rollback",
        json!({"backendRef": name, "backup": "before-change", "inPlace": true}),
    )
    .await;
    assert_eq!(rollback["phase"], "Succeeded", "{rollback}");
    // The API was held at zero while the Job ran: every pod serving now started after it.
    let job_started: k8s_openapi::jiff::Timestamp = rollback["startTime"]
        .as_str()
        .expect("status.startTime")
        .parse()
        .expect("a timestamp");
    wait_condition(&client, &ns, name, "Ready", "True").await;
    for pod in api_pods(&client, &ns, name).await {
        let created = pod
            .metadata
            .creation_timestamp
            .clone()
            .expect("creationTimestamp")
            .0;
        assert!(
            created >= job_started,
            "pod {} from {created} outlived the hold (restore Job started {job_started})",
            pod.name_any()
        );
    }
    let back = collection_counts(&mongo, &db).await;
    assert_eq!(back.get("products"), at_backup.get("products"), "{back:?}");
    service_answers(&base).await;
    let (status, bytes) = get(&base, "/api/merchant/products", Some(&token)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let list = String::from_utf8_lossy(&bytes);
    assert!(
        list.contains("Real Pod Mug") && !list.contains("After The Backup"),
        "{list}"
    );

    // A location with no backup: Failed, naming it.
    let missing = format!("{location}-missing");
    let failed = run_to_the_end(
        &client,
        &ns,
        "MerchantRestore",
        "missing",
        json!({"backendRef": name, "backup": missing}),
    )
    .await;
    assert_eq!(failed["phase"], "Failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains(&missing) || e.contains("manifest")),
        "{failed}"
    );

    let _ = mongo.database(&copy_db).drop().await;
    drop(release);
    delete_namespace(&client, &ns).await;
}

/// Product names in database `db`.
async fn product_names(mongo: &mongodb::Client, db: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let products = mongo
        .database(db)
        .collection::<mongodb::bson::Document>("products");
    let docs: Vec<mongodb::bson::Document> = products
        .find(mongodb::bson::doc! {})
        .await
        .expect("find products")
        .try_collect()
        .await
        .expect("read products");
    docs.iter()
        .filter_map(|d| d.get_str("name").ok().map(str::to_owned))
        .collect()
}

async fn create_product(base: &str, token: &str, name: &str) {
    let product = json!({
        "name": name, "description": "Point in time.", "price": 9.0, "category": "General",
        "status": "active", "inventory": {"stock": 3, "lowStockThreshold": 1},
    });
    let (status, body) = post(base, "/api/merchant/products", Some(token), &product).await;
    assert_eq!(status, 201, "create {name}: {body}");
}

/// Point-in-time restore on real pods: spec.backup.pointInTime runs the change capture as a
/// Deployment (status.backup.capture.running), and a MerchantRestore with `until` restores the
/// newest backup before that time plus the captured changes up to it: a product created after
/// the backup but before the time is there, one created after the time is not.
#[tokio::test]
async fn a_point_in_time_restore_replays_captured_changes() {
    let Some(node) = real_node() else { return };
    let Some(client) = cluster().await else {
        return;
    };
    let _one_at_a_time = SERIAL.lock().await;
    let name = "shop";
    let segment_seconds = 5;
    let point_in_time = json!({"pointInTime": {"segmentSeconds": segment_seconds}});
    let (ns, _, release) = backed_up_stack(&client, &node, "e2e-pitr", point_in_time).await;
    let capture = within("status.backup.capture.running", POD_WAIT, || async {
        let status = backend_status(&client, &ns, name).await;
        let backup = serde_json::to_value(status.backup).unwrap_or_default();
        match backup["capture"]["running"].as_bool() {
            Some(true) => Ok(backup["capture"].clone()),
            _ => Err(backup.to_string()),
        }
    })
    .await;
    assert!(
        capture["location"]
            .as_str()
            .is_some_and(|l| l.ends_with(&format!("e2e/{ns}/changes"))),
        "{capture}"
    );
    let base = service_url(&client, &ns, name).await;
    service_answers(&base).await;
    // Writes before the backup open the capture's first segment.
    let token = merchant_round_trip(&base).await;
    let backup = run_to_the_end(
        &client,
        &ns,
        "MerchantBackup",
        "base",
        json!({"backendRef": name}),
    )
    .await;
    assert_eq!(backup["phase"], "Succeeded", "{backup}");

    // After the backup: one product before the chosen time, one after it (second resolution).
    create_product(&base, &token, "Captured Kettle").await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let until = k8s_openapi::jiff::Timestamp::now();
    let until = k8s_openapi::jiff::Timestamp::from_second(until.as_second()).expect("time");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    create_product(&base, &token, "Too Late Lamp").await;
    // Both segments closed (each closes `segmentSeconds` after it opened).
    tokio::time::sleep(Duration::from_secs(2 * segment_seconds + 3)).await;

    let restored = run_to_the_end(
        &client,
        &ns,
        "MerchantRestore",
        "to-the-second",
        json!({"backendRef": name, "until": until.to_string()}),
    )
    .await;
    assert_eq!(restored["phase"], "Succeeded", "{restored}");
    let copy = restored["database"]
        .as_str()
        .expect("status.database")
        .to_owned();
    let names = product_names(
        &mongodb::Client::with_uri_str(std::env::var("MONGODB_URI").expect("MONGODB_URI"))
            .await
            .expect("mongodb"),
        &copy,
    )
    .await;
    assert!(
        names.iter().any(|n| n == "Real Pod Mug"),
        "from the backup: {names:?}"
    );
    assert!(
        names.iter().any(|n| n == "Captured Kettle"),
        "replayed: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n == "Too Late Lamp"),
        "after {until}: {names:?}"
    );

    drop(release);
    delete_namespace(&client, &ns).await;
}
