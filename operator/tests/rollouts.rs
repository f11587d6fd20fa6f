//! Progressive delivery on the test bed's real node: API pods that really run (and really fail
//! to start), Services reached through kube-proxy, a real Prometheus scraping the pods. The
//! operator runs in this process (its request counters give the writes per step); a client loop
//! counts every failed request while releases roll out and roll back.
//!
//! Migrations are off here: with them on, a bad image is already stopped at its plan Job
//! (real_pods.rs tests that gate); these tests are about what happens to the pods.
//! One test at a time (`SERIAL`): they share two CPUs. Every wait and loop is bounded.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use common::{real::*, *};
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{Event, Service},
};
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, Patch, PatchParams},
};
use merchant_operator::crd::{
    MerchantBackend, MerchantBackendStatus, REVISION_LABEL, rollout::RolloutStatus,
};
use serde_json::{Value, json};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An image reference the node does not have (pull policy Never): its pods never start.
const BAD_IMAGE: &str = "localhost/merchant-api:no-such-tag";

/// Everything a test needs: the node, a namespace with Secrets, the operator.
struct Bed {
    node: RealNode,
    client: Client,
    ns: String,
    operator: Operator,
    _cleanup: Cleanup,
}

impl Bed {
    async fn start(prefix: &str) -> Option<(Self, tokio::sync::MutexGuard<'static, ()>)> {
        let node = real_node()?;
        let client = cluster().await?;
        let serial = SERIAL.lock().await;
        let ns = namespace(&client, prefix).await;
        create_secrets(&client, &node, &ns, &format!("e2e_{}", unique_suffix())).await;
        let operator = Operator::start(&ns).await;
        Some((
            Self {
                node,
                client,
                _cleanup: Cleanup(ns.clone()),
                ns,
                operator,
            },
            serial,
        ))
    }

    /// Apply the backend `name` with `extra` over the real-node defaults (migrations off).
    async fn apply(&self, name: &str, extra: Value) {
        let mut extra = extra;
        merge(&mut extra, json!({"migrations": {"enabled": false}}));
        apply_backend(&self.client, &self.ns, &backend(&self.node, name, extra)).await;
    }

    async fn status(&self, name: &str) -> MerchantBackendStatus {
        Api::<MerchantBackend>::namespaced(self.client.clone(), &self.ns)
            .get(name)
            .await
            .expect("get MerchantBackend")
            .status
            .unwrap_or_default()
    }

    /// Wait until status.rollout satisfies `check` (described by `what`).
    async fn rollout_until(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&RolloutStatus, &MerchantBackendStatus) -> bool,
    ) -> MerchantBackendStatus {
        within(what, POD_WAIT, || async {
            let s = self.status(name).await;
            match &s.rollout {
                Some(r) if check(r, &s) => Ok(s),
                other => Err(format!("{other:?}")),
            }
        })
        .await
    }

    /// A new stable revision other than `old`, settled.
    async fn healthy_on_new_revision(
        &self,
        name: &str,
        old: Option<&str>,
    ) -> MerchantBackendStatus {
        self.rollout_until(name, "a new stable revision", |r, _| {
            r.phase == "Healthy"
                && r.stable_revision.is_some()
                && r.stable_revision.as_deref() != old
        })
        .await
    }

    async fn annotate(&self, name: &str, key: &str, value: &str) {
        let patch = json!({"metadata": {"annotations": {key: value}}});
        Api::<MerchantBackend>::namespaced(self.client.clone(), &self.ns)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("annotate");
    }

    async fn annotations(&self, name: &str) -> Vec<String> {
        Api::<MerchantBackend>::namespaced(self.client.clone(), &self.ns)
            .get(name)
            .await
            .expect("get")
            .annotations()
            .keys()
            .filter(|k| k.starts_with("merchant.rezapp.com/"))
            .cloned()
            .collect()
    }

    async fn deployment(&self, name: &str) -> Option<Deployment> {
        Api::<Deployment>::namespaced(self.client.clone(), &self.ns)
            .get_opt(name)
            .await
            .expect("get Deployment")
    }

    async fn selector_revision(&self, service: &str) -> Option<String> {
        Api::<Service>::namespaced(self.client.clone(), &self.ns)
            .get(service)
            .await
            .expect("get Service")
            .spec
            .and_then(|s| s.selector)
            .and_then(|s| s.get(REVISION_LABEL).cloned())
    }

    /// Reasons of the Events about the backend, oldest first.
    async fn event_reasons(&self) -> Vec<String> {
        let mut events = Api::<Event>::namespaced(self.client.clone(), &self.ns)
            .list(&ListParams::default())
            .await
            .expect("events")
            .items;
        events.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
        events.into_iter().filter_map(|e| e.reason).collect()
    }

    /// Every API pod of `name` runs `revision` and is ready; none of another revision is left.
    async fn all_pods_on(&self, name: &str, revision: &str) -> Result<(), String> {
        let pods = api_pods(&self.client, &self.ns, name).await;
        let revisions: Vec<(String, bool)> = pods
            .iter()
            .map(|p| {
                let rev = p.labels().get(REVISION_LABEL).cloned().unwrap_or_default();
                let ready = p
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                (rev, ready)
            })
            .collect();
        if !revisions.is_empty() && revisions.iter().all(|(r, ready)| r == revision && *ready) {
            Ok(())
        } else {
            Err(format!("{revisions:?}"))
        }
    }

    /// Apply a release that must fail and wait until `good` alone serves again (every pod);
    /// report how long that took, the operator's writes and the client's failures. Default
    /// settings must bring the previous version back within 60 s.
    async fn bad_release(
        &self,
        name: &str,
        what: &str,
        spec: Value,
        good: &str,
        records: usize,
        load: &Load,
    ) -> MerchantBackendStatus {
        let writes = self.operator.metrics.writes();
        let applied = Instant::now();
        self.apply(name, spec).await;
        let back = self
            .rollout_until(name, &format!("{what} rolled back"), |r, s| {
                r.phase == "RolledBack" && s.history.len() == records
            })
            .await;
        within(
            "the previous revision serves on every pod",
            POD_WAIT,
            || self.all_pods_on(name, good),
        )
        .await;
        let restored = applied.elapsed();
        figure(
            &format!("{what}: seconds until the previous version serves alone"),
            restored.as_secs_f64(),
        );
        figure(
            &format!("{what}: operator API writes"),
            self.operator.metrics.writes() - writes,
        );
        let (sent, failed) = load.take();
        figure(
            &format!("{what}: client requests / failed"),
            format!("{sent} / {failed}"),
        );
        assert!(
            restored < Duration::from_secs(60),
            "default settings bring the previous version back within 60 s, took {restored:?}"
        );
        assert_eq!(back.history[0].outcome, "RolledBack");
        back
    }

    async fn finish(self) {
        self.operator.stop().await;
    }
}

/// Deletes the test's namespace when dropped, also when an assertion failed: its pods would
/// hold the node's CPUs for the next tests.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kubectl")
            .args(["delete", "namespace", &self.0, "--wait=false"])
            .output();
    }
}

/// A client that keeps calling the API through its Service and counts what fails.
struct Load {
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

/// Requests at most (the loop also stops after `LOAD_LIMIT`).
const LOAD_REQUESTS: u64 = 20_000;
const LOAD_LIMIT: Duration = Duration::from_secs(420);

impl Load {
    /// Request `path` every 50 ms; a non-2xx answer or a transport error is a failure.
    fn start(base: &str, path: &str) -> Self {
        let (sent, failed, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let url = format!("{base}{path}");
        let (s, f, st) = (sent.clone(), failed.clone(), stop.clone());
        let task = tokio::spawn(async move {
            // A new connection per request, as many clients make: kube-proxy balances
            // connections, so one kept-alive connection would stay on one pod.
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client");
            let started = Instant::now();
            let mut errors = Vec::new();
            while !st.load(Ordering::Relaxed)
                && s.load(Ordering::Relaxed) < LOAD_REQUESTS
                && started.elapsed() < LOAD_LIMIT
            {
                s.fetch_add(1, Ordering::Relaxed);
                match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => {
                        f.fetch_add(1, Ordering::Relaxed);
                        errors.push(r.status().to_string());
                    }
                    Err(e) => {
                        f.fetch_add(1, Ordering::Relaxed);
                        errors.push(e.to_string());
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            errors
        });
        Self {
            sent,
            failed,
            stop,
            task,
        }
    }

    /// (sent, failed) so far, and the counters reset.
    fn take(&self) -> (u64, u64) {
        (
            self.sent.swap(0, Ordering::Relaxed),
            self.failed.swap(0, Ordering::Relaxed),
        )
    }

    async fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("load task")
    }
}

/// `kubectl merchant logs`: the lines of every API pod, each prefixed with its pod (through the
/// kubelet, so only on the real node).
fn plugin_shows_the_logs(ns: &str, name: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-merchant"))
        .args(["-n", ns, "logs", name, "--tail", "200"])
        .output()
        .expect("run kubectl-merchant");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ready: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("merchant-api ready"))
        .collect();
    assert_eq!(ready.len(), 2, "one ready line per pod: {text}");
    assert!(
        ready.iter().all(|l| l.starts_with(&format!("[{name}-"))),
        "{text}"
    );
}

/// The figures a test reports (grep ROLLOUT-FIGURE in the test output).
fn figure(what: &str, value: impl std::fmt::Display) {
    eprintln!("ROLLOUT-FIGURE {what}: {value}");
}

#[tokio::test]
async fn a_rolling_update_rolls_forward_and_a_bad_image_rolls_back_without_a_failed_request() {
    let Some((bed, _serial)) = Bed::start("e2e-rolling").await else {
        return;
    };
    let name = "shop";
    bed.apply(name, json!({})).await;
    let first = bed.healthy_on_new_revision(name, None).await;
    let first_rev = first
        .rollout
        .and_then(|r| r.stable_revision)
        .expect("stable");
    let base = service_url(&bed.client, &bed.ns, name).await;
    service_answers(&base).await;
    plugin_shows_the_logs(&bed.ns, name);
    let load = Load::start(&base, "/health/ready");

    // A good release: a configuration change is a new revision (its own ConfigMap).
    let writes = bed.operator.metrics.writes();
    let started = Instant::now();
    bed.apply(name, json!({"config": {"logLevel": "debug"}}))
        .await;
    let good = bed.healthy_on_new_revision(name, Some(&first_rev)).await;
    let good_rev = good
        .rollout
        .clone()
        .and_then(|r| r.stable_revision)
        .expect("stable");
    within("every pod on the new revision", POD_WAIT, || {
        bed.all_pods_on(name, &good_rev)
    })
    .await;
    figure(
        "rolling good release: seconds to settle",
        started.elapsed().as_secs_f64(),
    );
    figure(
        "rolling good release: operator API writes",
        bed.operator.metrics.writes() - writes,
    );
    let (sent, failed) = load.take();
    figure(
        "rolling good release: client requests / failed",
        format!("{sent} / {failed}"),
    );
    assert_eq!(good.history[0].outcome, "Succeeded");
    assert_eq!(good.history[1].revision, first_rev);

    // A bad release: an image that cannot start, with a configuration change of its own.
    let spec = json!({"image": BAD_IMAGE, "config": {"logLevel": "warn"}});
    let back = bed
        .bad_release(name, "bad release", spec, &good_rev, 3, &load)
        .await;
    let rollout = back.rollout.expect("rollout");
    let message = rollout.message.unwrap_or_default();
    assert!(
        message.contains("cannot start") || message.contains("deadline"),
        "{message}"
    );
    assert_eq!(rollout.stable_revision.as_deref(), Some(good_rev.as_str()));
    assert_eq!(back.history[0].image, BAD_IMAGE);
    assert!(bed.event_reasons().await.contains(&"RolledBack".to_owned()));
    // The configuration went back with the image: the pods read the good revision's ConfigMap.
    let d = bed.deployment(name).await.expect("deployment");
    let env_from = d
        .spec
        .and_then(|s| s.template.spec)
        .expect("pod spec")
        .containers[0]
        .env_from
        .clone()
        .expect("envFrom");
    let config = env_from[0]
        .config_map_ref
        .clone()
        .expect("configMapRef")
        .name;
    assert_eq!(
        config,
        format!("{name}-config-{}", &good.history[0].config_hash[..10])
    );

    // A release whose pods never become ready (their database is unreachable, so they exit and
    // are restarted), with restarts tolerated: nothing fails fast, the progress deadline
    // (default 30 s) decides.
    let unreachable =
        "mongodb://10.85.0.1:1/merchant?directConnection=true&serverSelectionTimeoutMS=1000";
    create_secret(
        &bed.client,
        &bed.ns,
        "bad-db",
        &[("mongodb-uri", unreachable)],
    )
    .await;
    let spec = json!({
        "secrets": {"mongodbUri": {"name": "bad-db", "key": "mongodb-uri"}},
        "rollout": {"maxRestarts": 100},
    });
    let back = bed
        .bad_release(name, "never-ready release", spec, &good_rev, 4, &load)
        .await;
    let message = back.rollout.and_then(|r| r.message).unwrap_or_default();
    assert!(message.contains("progress deadline (30 s)"), "{message}");

    let errors = load.stop().await;
    assert!(
        errors.is_empty(),
        "requests failed during the rollouts: {errors:?}"
    );
    bed.finish().await;
}

#[tokio::test]
async fn blue_green_switches_on_promotion_and_a_bad_preview_never_takes_traffic() {
    let Some((bed, _serial)) = Bed::start("e2e-bluegreen").await else {
        return;
    };
    let name = "shop";
    let strategy = json!({"rollout": {"strategy": "BlueGreen", "blueGreen": {"autoPromotion": false, "scaleDownDelaySeconds": 5}}});
    bed.apply(name, strategy.clone()).await;
    let first = bed.healthy_on_new_revision(name, None).await;
    let first_rev = first
        .rollout
        .and_then(|r| r.stable_revision)
        .expect("stable");
    let base = service_url(&bed.client, &bed.ns, name).await;
    service_answers(&base).await;
    let load = Load::start(&base, "/health/ready");

    let mut good = strategy.clone();
    merge(&mut good, json!({"config": {"logLevel": "debug"}}));
    bed.apply(name, good).await;
    let waiting = bed
        .rollout_until(name, "the preview awaits promotion", |r, _| {
            r.phase == "Paused"
        })
        .await;
    let new_rev = waiting
        .rollout
        .and_then(|r| r.canary_revision)
        .expect("canary revision");
    assert_eq!(
        bed.selector_revision(name).await.as_deref(),
        Some(first_rev.as_str())
    );
    assert_eq!(
        bed.selector_revision("shop-preview").await.as_deref(),
        Some(new_rev.as_str())
    );
    let preview = service_url(&bed.client, &bed.ns, "shop-preview").await;
    service_answers(&preview).await;

    bed.annotate(name, "merchant.rezapp.com/promote", "true")
        .await;
    let promoted = bed.healthy_on_new_revision(name, Some(&first_rev)).await;
    assert_eq!(
        promoted.rollout.and_then(|r| r.stable_revision).as_deref(),
        Some(new_rev.as_str())
    );
    assert_eq!(
        bed.selector_revision(name).await.as_deref(),
        Some(new_rev.as_str())
    );
    assert!(
        bed.annotations(name).await.is_empty(),
        "the promote annotation is consumed"
    );
    within("the preview Deployment is gone", POD_WAIT, || async {
        match bed.deployment("shop-preview").await {
            None => Ok(()),
            Some(_) => Err("still there".to_owned()),
        }
    })
    .await;
    within("every pod on the new revision", POD_WAIT, || {
        bed.all_pods_on(name, &new_rev)
    })
    .await;

    let mut bad = strategy;
    merge(&mut bad, json!({"image": BAD_IMAGE}));
    bed.apply(name, bad).await;
    let back = bed
        .rollout_until(name, "the bad preview is rolled back", |r, _| {
            r.phase == "RolledBack"
        })
        .await;
    assert_eq!(
        bed.selector_revision(name).await.as_deref(),
        Some(new_rev.as_str())
    );
    assert_eq!(back.history[0].outcome, "RolledBack");
    within("the bad preview Deployment is gone", POD_WAIT, || async {
        match bed.deployment("shop-preview").await {
            None => Ok(()),
            Some(_) => Err("still there".to_owned()),
        }
    })
    .await;
    let reasons = bed.event_reasons().await;
    for r in [
        "RolloutStarted",
        "Promoted",
        "RolloutSucceeded",
        "RolledBack",
    ] {
        assert!(
            reasons.contains(&r.to_owned()),
            "{r} missing from {reasons:?}"
        );
    }
    let (sent, failed) = load.take();
    figure(
        "blue-green: client requests / failed",
        format!("{sent} / {failed}"),
    );
    let errors = load.stop().await;
    assert!(errors.is_empty(), "requests failed: {errors:?}");
    bed.finish().await;
}

#[tokio::test]
async fn a_canary_walks_every_step_to_promotion_and_the_abort_annotation_stops_the_next() {
    let Some((bed, _serial)) = Bed::start("e2e-canary").await else {
        return;
    };
    let name = "shop";
    let strategy = json!({"rollout": {"strategy": "Canary", "canary": {"steps": [
        {"setWeight": 50}, {"pause": {"durationSeconds": 5}}, {"pause": {}}
    ]}}});
    bed.apply(name, strategy.clone()).await;
    let first = bed.healthy_on_new_revision(name, None).await;
    let first_rev = first
        .rollout
        .and_then(|r| r.stable_revision)
        .expect("stable");
    let base = service_url(&bed.client, &bed.ns, name).await;
    service_answers(&base).await;
    let load = Load::start(&base, "/health/ready");

    let mut good = strategy.clone();
    merge(&mut good, json!({"config": {"logLevel": "debug"}}));
    let writes = bed.operator.metrics.writes();
    bed.apply(name, good).await;
    let paused = bed
        .rollout_until(name, "paused at the last step", |r, _| {
            r.phase == "Paused" && r.step == Some(2)
        })
        .await;
    let new_rev = paused
        .rollout
        .and_then(|r| r.canary_revision)
        .expect("canary revision");
    // 50%: as many canary pods as stable ones, all behind the one Service.
    let canary = bed
        .deployment("shop-canary")
        .await
        .expect("canary Deployment");
    assert_eq!(canary.spec.and_then(|s| s.replicas), Some(2));
    assert_eq!(
        bed.selector_revision(name).await,
        None,
        "the Service selects both revisions"
    );
    bed.annotate(name, "merchant.rezapp.com/promote", "true")
        .await;
    bed.healthy_on_new_revision(name, Some(&first_rev)).await;
    within("every pod on the new revision", POD_WAIT, || {
        bed.all_pods_on(name, &new_rev)
    })
    .await;
    figure(
        "canary (3 steps): operator API writes",
        bed.operator.metrics.writes() - writes,
    );
    let reasons = bed.event_reasons().await;
    // (The recorder folds repeated Events of one reason into a series: one RolloutStep.)
    assert!(reasons.contains(&"RolloutStep".to_owned()), "{reasons:?}");
    assert!(reasons.contains(&"Promoted".to_owned()), "{reasons:?}");

    let mut next = strategy;
    merge(&mut next, json!({"config": {"logLevel": "warn"}}));
    bed.apply(name, next).await;
    bed.rollout_until(name, "paused again", |r, _| {
        r.phase == "Paused" && r.step == Some(2)
    })
    .await;
    bed.annotate(name, "merchant.rezapp.com/abort", "true")
        .await;
    let aborted = bed
        .rollout_until(name, "aborted", |r, _| r.phase == "Aborted")
        .await;
    assert_eq!(aborted.history[0].outcome, "Aborted");
    within("the canary Deployment is gone", POD_WAIT, || async {
        match bed.deployment("shop-canary").await {
            None => Ok(()),
            Some(_) => Err("still there".to_owned()),
        }
    })
    .await;
    within("only the stable revision serves", POD_WAIT, || {
        bed.all_pods_on(name, &new_rev)
    })
    .await;
    assert!(
        bed.annotations(name).await.is_empty(),
        "the abort annotation is consumed"
    );
    let (sent, failed) = load.take();
    figure(
        "canary + abort: client requests / failed",
        format!("{sent} / {failed}"),
    );
    let errors = load.stop().await;
    assert!(errors.is_empty(), "requests failed: {errors:?}");
    bed.finish().await;
}

#[tokio::test]
async fn a_canary_whose_error_ratio_rises_is_aborted_by_its_prometheus_analysis() {
    let Ok(prometheus) = std::env::var("PROMETHEUS_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PROMETHEUS_URL is not set: CI needs the nodes tier's Prometheus"
        );
        eprintln!("skipping: PROMETHEUS_URL not set (scripts/testenv up nodes)");
        return;
    };
    let Some((bed, _serial)) = Bed::start("e2e-analysis").await else {
        return;
    };
    let name = "shop";
    let ns = bed.ns.clone();
    let ratio = format!(
        "sum(rate(merchant_api_http_requests_total{{namespace=\"{ns}\",revision=\"{{{{revision}}}}\",status=~\"4..|5..\"}}[20s])) / sum(rate(merchant_api_http_requests_total{{namespace=\"{ns}\",revision=\"{{{{revision}}}}\"}}[20s]))"
    );
    let strategy = json!({"rollout": {
        "strategy": "Canary",
        "canary": {"steps": [{"setWeight": 50}, {"analysis": {}}]},
        "analysis": {"prometheusURL": prometheus, "queries": [
            {"name": "error-ratio", "query": ratio, "threshold": 0.2, "intervalSeconds": 5, "count": 6, "failureLimit": 1}
        ]},
    }});
    bed.apply(name, strategy.clone()).await;
    let first = bed.healthy_on_new_revision(name, None).await;
    let first_rev = first
        .rollout
        .and_then(|r| r.stable_revision)
        .expect("stable");
    let base = service_url(&bed.client, &bed.ns, name).await;
    service_answers(&base).await;
    // The clients now ask for something that does not exist: every answer is a 404.
    let load = Load::start(&base, "/api/merchant/no-such-route");

    let mut next = strategy;
    merge(&mut next, json!({"config": {"logLevel": "debug"}}));
    bed.apply(name, next).await;
    let back = bed
        .rollout_until(name, "rolled back by the analysis", |r, _| {
            r.phase == "RolledBack"
        })
        .await;
    let message = back
        .rollout
        .clone()
        .and_then(|r| r.message)
        .unwrap_or_default();
    assert!(message.contains("error-ratio"), "{message}");
    assert_eq!(back.history[0].outcome, "RolledBack");
    assert_eq!(
        back.rollout.and_then(|r| r.stable_revision).as_deref(),
        Some(first_rev.as_str())
    );
    within("the canary Deployment is gone", POD_WAIT, || async {
        match bed.deployment("shop-canary").await {
            None => Ok(()),
            Some(_) => Err("still there".to_owned()),
        }
    })
    .await;
    let errors = load.stop().await;
    assert!(!errors.is_empty(), "the load really produced errors");
    bed.finish().await;
}
