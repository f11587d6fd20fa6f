//! Scale benchmark: N MerchantBackends created at once in a fresh namespace of the local control
//! plane, served by the release `merchant-operator` binary (leader election on). Reports time
//! until all are Ready, operator peak and steady RSS, API requests issued, and writes per second
//! once settled.
//!
//! ```text
//! cargo build --release -p merchant-operator --bin merchant-operator
//! source target/testenv/env.sh
//! cargo run -p merchant-operator --example bench_scale -- --count 1000 \
//!     --operator "$CARGO_TARGET_DIR/release/merchant-operator"
//! ```
//!
//! The bench itself may run as a debug build (it only watches); the operator under test must be
//! the release binary. A release build of the example would also build the whole API server
//! (a dev-dependency of this package) with LTO, for nothing.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use clap::Parser;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        core::v1::{Namespace, Pod, Secret},
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, CustomResourceExt, ResourceExt,
    api::{
        ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ObjectMeta, Patch, PatchParams,
        PostParams,
    },
    runtime::{WatchStreamExt, reflector, watcher},
};
use merchant_operator::crd::{MerchantBackend, MerchantBackendSpec};

/// Benchmark options.
#[derive(Debug, Parser)]
struct Args {
    /// MerchantBackends to create.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Seconds to watch the settled system for writes.
    #[arg(long, default_value_t = 30)]
    settle_seconds: u64,
    /// Give up waiting for Ready after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout_seconds: u64,
    /// Admin port of the operator under test.
    #[arg(long, default_value_t = 18090)]
    admin_port: u16,
    /// Keep the namespace afterwards.
    #[arg(long)]
    keep: bool,
    /// Measure the floor instead: no operator; the bench server-side-applies the same children
    /// (rendered by the operator's own builders) itself, as fast as the API server takes them,
    /// and waits until every Pod is Ready. What this costs is what the control plane needs for
    /// N backends whatever runs them.
    #[arg(long)]
    direct: bool,
    /// The operator binary under test (default: `merchant-operator` beside this example's
    /// profile directory, i.e. the one `cargo build --release --bins` built).
    #[arg(long, env = "MERCHANT_OPERATOR_BIN")]
    operator: Option<PathBuf>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn operator_binary(given: Option<&PathBuf>) -> Result<PathBuf, BoxError> {
    if let Some(bin) = given {
        return Ok(bin.clone());
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|p| p.parent())
        .ok_or("no target dir")?;
    let bin = dir.join("merchant-operator");
    if !bin.exists() {
        return Err(format!(
            "{} missing: cargo build --release -p merchant-operator --bins",
            bin.display()
        )
        .into());
    }
    Ok(bin)
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU seconds (user + system) a process has used so far: on a shared, noisy machine this is
/// the figure that does not depend on what else runs.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().skip(11).take(2))
        .into_iter()
        .flatten()
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0 // USER_HZ is 100 on Linux
}

/// The local control plane's processes, from the pid files `scripts/testenv` writes beside the
/// kubeconfig (empty when the cluster was started some other way).
fn control_plane() -> Vec<(String, u32)> {
    let Some(dir) = std::env::var_os("KUBECONFIG")
        .map(PathBuf::from)
        .and_then(|k| k.parent().map(|d| d.join("pids")))
    else {
        return Vec::new();
    };
    [
        "etcd",
        "apiserver",
        "controller-manager",
        "scheduler",
        "kwok",
    ]
    .iter()
    .filter_map(|name| {
        let line = std::fs::read_to_string(dir.join(format!("{name}.pid"))).ok()?;
        let pid = line.split_whitespace().next()?.parse().ok()?;
        Some(((*name).to_owned(), pid))
    })
    .collect()
}

async fn metrics(port: u16) -> BTreeMap<String, u64> {
    let body = tokio::task::spawn_blocking(move || scrape(port))
        .await
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in body
        .lines()
        .filter(|l| l.starts_with("merchant_operator_api_requests_total{"))
    {
        if let (Some(verb), Some(value)) = (line.split('"').nth(1), line.rsplit(' ').next()) {
            out.insert(verb.to_owned(), value.parse::<f64>().unwrap_or(0.0) as u64);
        }
    }
    out
}

/// One blocking HTTP/1.0 GET of /metrics (the bench has no HTTP client dependency).
fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut body = String::new();
    if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
        let request = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
        if stream.write_all(request.as_bytes()).is_ok() {
            let _ = stream.read_to_string(&mut body);
        }
    }
    body
}

fn writes(m: &BTreeMap<String, u64>) -> u64 {
    ["create", "update", "patch", "delete"]
        .iter()
        .filter_map(|v| m.get(*v))
        .sum()
}

async fn setup(client: &Client, ns: &str) -> Result<(), BoxError> {
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let crd = MerchantBackend::crd();
    crds.patch(
        &crd.name_any(),
        &PatchParams::apply("merchant-bench").force(),
        &Patch::Apply(&crd),
    )
    .await?;
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(ns.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let long = "x".repeat(32);
    for (name, pairs) in [
        ("db-secrets", vec![("mongodb-uri", "mongodb://db/merchant")]),
        ("cache-secrets", vec![("redis-url", "redis://cache:6379")]),
        (
            "auth-secrets",
            vec![
                ("jwt-secret", long.as_str()),
                ("jwt-merchant-secret", long.as_str()),
                ("jwt-refresh-secret", long.as_str()),
            ],
        ),
    ] {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..Default::default()
            },
            string_data: Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            ),
            ..Default::default()
        };
        secrets.create(&PostParams::default(), &secret).await?;
    }
    Ok(())
}

fn spawn_operator(ns: &str, port: u16, bin: Option<&PathBuf>) -> Result<Child, BoxError> {
    Ok(Command::new(operator_binary(bin)?)
        .args([
            "run",
            "--watch-namespace",
            ns,
            "--lease-namespace",
            ns,
            "--admin-addr",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(operator_log())
        .spawn()?)
}

/// The operator's warnings go to `$BENCH_OPERATOR_LOG` when set (reconcile failures explain a
/// slow run), else nowhere.
fn operator_log() -> Stdio {
    std::env::var_os("BENCH_OPERATOR_LOG")
        .and_then(|path| std::fs::File::create(path).ok())
        .map_or_else(Stdio::null, Stdio::from)
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn reconcile_count(port: u16) -> u64 {
    let body = tokio::task::spawn_blocking(move || scrape(port))
        .await
        .unwrap_or_default();
    body.lines()
        .find_map(|l| l.strip_prefix("merchant_operator_reconciles_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

fn bench_spec() -> Result<MerchantBackendSpec, BoxError> {
    Ok(serde_saphyr::from_str(
        // Small requests: 1,000 pods of 500m would not fit the KWOK node's 256 CPUs. KWOK pods
        // run no migration Job, so the release gate is off.
        "image: registry.invalid/merchant-api:1.0.0\nreplicas: 1\nresources: {requests: {cpu: 10m, memory: 16Mi}}\nmigrations: {enabled: false}",
    )?)
}

/// Server-side apply one rendered manifest.
async fn apply_manifest(
    client: Client,
    ns: &str,
    manifest: serde_json::Value,
) -> Result<(), BoxError> {
    let object: DynamicObject = serde_json::from_value(manifest)?;
    let types = object
        .types
        .clone()
        .ok_or("manifest without apiVersion/kind")?;
    let (group, version) = types
        .api_version
        .split_once('/')
        .unwrap_or(("", types.api_version.as_str()));
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &types.kind));
    let api: Api<DynamicObject> = Api::namespaced_with(client, ns, &resource);
    api.patch(
        &object.name_any(),
        &PatchParams::apply("merchant-bench").force(),
        &Patch::Apply(&object),
    )
    .await?;
    Ok(())
}

/// `--direct`: the floor, see `Args::direct`.
async fn direct(args: &Args, client: &Client, ns: &str) -> Result<(), BoxError> {
    let spec = bench_spec()?;
    let backends = (0..args.count)
        .map(|i| {
            let mut mb = MerchantBackend::new(&format!("shop-{i:04}"), spec.clone());
            mb.metadata.namespace = Some(ns.to_owned());
            mb
        })
        .collect();
    let input = merchant_operator::render::Input {
        backends,
        secrets: Vec::new(),
    };
    let manifests = merchant_operator::render::manifests(&input)?;
    let objects = manifests.len();
    let (pods, writer) = reflector::store();
    let watch = watcher(
        Api::<Pod>::namespaced(client.clone(), ns),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects();
    tokio::spawn(watch.for_each(|_| async {}));
    let processes = control_plane();
    let cpu_at_start: Vec<f64> = processes.iter().map(|(_, p)| cpu_seconds(*p)).collect();
    let start = Instant::now();
    stream::iter(manifests)
        .map(|m| apply_manifest(client.clone(), ns, m))
        .buffer_unordered(64)
        .try_collect::<Vec<_>>()
        .await?;
    let applied = start.elapsed();
    let ready = loop {
        let state = pods.state();
        if state.iter().filter(|p| pod_ready(p)).count() >= args.count {
            break start.elapsed();
        }
        if start.elapsed() > Duration::from_secs(args.timeout_seconds) {
            return Err(format!("Pods not Ready after {}s", args.timeout_seconds).into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!("--- floor (no operator), N = {}", args.count);
    println!(
        "{objects} objects applied in      {:.1} s",
        applied.as_secs_f64()
    );
    println!("all Pods Ready after:        {:.1} s", ready.as_secs_f64());
    for ((name, p), before) in processes.iter().zip(&cpu_at_start) {
        println!(
            "CPU until Ready, {name:<19} {:.1} s",
            cpu_seconds(*p) - before
        );
    }
    if !args.keep {
        Api::<Namespace>::all(client.clone())
            .delete(ns, &DeleteParams::background())
            .await?;
    }
    Ok(())
}

fn is_ready(mb: &MerchantBackend) -> bool {
    mb.status.as_ref().is_some_and(|s| {
        s.observed_generation == mb.metadata.generation
            && s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let client = Client::try_default().await?;
    let ns = format!("bench-{}", std::process::id());
    setup(&client, &ns).await?;
    if args.direct {
        return direct(&args, &client, &ns).await;
    }
    let mut operator = spawn_operator(&ns, args.admin_port, args.operator.as_ref())?;
    let pid = operator.id();

    let api: Api<MerchantBackend> = Api::namespaced(client.clone(), &ns);
    let (store, writer) = reflector::store();
    let watch = watcher(api.clone(), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects();
    tokio::spawn(watch.for_each(|_| async {}));
    // Where the time goes: the operator's Deployments, kube-controller-manager's Pods, and the
    // scheduler + KWOK making them Ready, each watched separately.
    let (deployments, writer) = reflector::store();
    let watch = watcher(
        Api::<Deployment>::namespaced(client.clone(), &ns),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects();
    tokio::spawn(watch.for_each(|_| async {}));
    let (pods, writer) = reflector::store();
    let watch = watcher(
        Api::<Pod>::namespaced(client.clone(), &ns),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects();
    tokio::spawn(watch.for_each(|_| async {}));
    let mut phases: BTreeMap<&str, f64> = BTreeMap::new();

    let mut processes = control_plane();
    processes.push(("merchant-operator".to_owned(), pid));
    let cpu_at_start: Vec<f64> = processes.iter().map(|(_, p)| cpu_seconds(*p)).collect();
    let start = Instant::now();
    let spec = bench_spec()?;
    stream::iter(0..args.count)
        .map(|i| {
            let (api, spec) = (api.clone(), spec.clone());
            async move {
                api.create(
                    &PostParams::default(),
                    &MerchantBackend::new(&format!("shop-{i:04}"), spec),
                )
                .await
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    let created = start.elapsed();
    println!(
        "created {} MerchantBackends in {:.1}s",
        args.count,
        created.as_secs_f64()
    );

    let mut peak = 0;
    let mut reconciles_at_deployments = 0;
    let mut last_progress = 0;
    let ready_after = loop {
        let ready = store.state().iter().filter(|mb| is_ready(mb)).count();
        peak = peak.max(rss_kib(pid).1);
        let now = start.elapsed().as_secs_f64();
        let pod_state = pods.state();
        for (phase, done) in [
            (
                "1 operator: all Deployments applied",
                deployments.state().len() >= args.count,
            ),
            (
                "2 controller-manager: all Pods created",
                pod_state.len() >= args.count,
            ),
            (
                "3 scheduler + KWOK: all Pods Ready",
                pod_state.iter().filter(|p| pod_ready(p)).count() >= args.count,
            ),
        ] {
            if done && !phases.contains_key(phase) {
                phases.insert(phase, now);
                if phase.starts_with('1') {
                    reconciles_at_deployments = reconcile_count(args.admin_port).await;
                }
            }
        }
        if ready >= args.count {
            break start.elapsed();
        }
        if start.elapsed().as_secs() / 10 != last_progress {
            last_progress = start.elapsed().as_secs() / 10;
            println!(
                "{now:>6.1} s: {} Deployments, {} Pods ({} Ready), {ready} MerchantBackends Ready",
                deployments.state().len(),
                pod_state.len(),
                pod_state.iter().filter(|p| pod_ready(p)).count()
            );
        }
        if start.elapsed() > Duration::from_secs(args.timeout_seconds) {
            // Say how far each stage got, and never leave the operator running.
            println!(
                "timed out: {} Deployments, {} Pods ({} Ready), {ready} MerchantBackends Ready",
                deployments.state().len(),
                pod_state.len(),
                pod_state.iter().filter(|p| pod_ready(p)).count()
            );
            println!("operator metrics: {:?}", metrics(args.admin_port).await);
            for ((name, p), before) in processes.iter().zip(&cpu_at_start) {
                println!("CPU so far, {name:<19} {:.1} s", cpu_seconds(*p) - before);
            }
            let _ = operator.kill();
            let _ = operator.wait();
            return Err(format!(
                "only {ready}/{} Ready after {}s",
                args.count, args.timeout_seconds
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let at_ready = metrics(args.admin_port).await;
    let cpu_until_ready: Vec<f64> = processes
        .iter()
        .zip(&cpu_at_start)
        .map(|((_, p), before)| cpu_seconds(*p) - before)
        .collect();
    println!(
        "all {} Ready after {:.1}s",
        args.count,
        ready_after.as_secs_f64()
    );

    // Let trailing status updates land, then measure a quiet window.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let before = metrics(args.admin_port).await;
    tokio::time::sleep(Duration::from_secs(args.settle_seconds)).await;
    let after = metrics(args.admin_port).await;
    let (steady, hwm) = rss_kib(pid);
    peak = peak.max(hwm);
    let settled_writes = writes(&after).saturating_sub(writes(&before));
    let leases = after
        .get("update")
        .copied()
        .unwrap_or(0)
        .saturating_sub(before.get("update").copied().unwrap_or(0));

    println!("--- merchant-operator bench, N = {}", args.count);
    for (phase, at) in &phases {
        println!("{phase:<44} {at:.1} s");
    }
    if let Some(at) = phases.get("1 operator: all Deployments applied") {
        println!(
            "operator throughput:         {} reconciles, {:.0} backends/s applied",
            reconciles_at_deployments,
            args.count as f64 / at
        );
    }
    println!(
        "time until all Ready:        {:.1} s",
        ready_after.as_secs_f64()
    );
    for ((name, _), cpu) in processes.iter().zip(&cpu_until_ready) {
        println!("CPU until Ready, {name:<19} {cpu:.1} s");
    }
    println!(
        "operator peak RSS:           {:.1} MiB",
        peak as f64 / 1024.0
    );
    println!(
        "operator steady RSS:         {:.1} MiB",
        steady as f64 / 1024.0
    );
    println!(
        "API requests until Ready:    {} ({at_ready:?})",
        at_ready.values().sum::<u64>()
    );
    println!(
        "API requests total:          {} ({after:?})",
        after.values().sum::<u64>()
    );
    println!(
        "writes/s settled:            {:.2} ({} writes in {} s, of which {} Lease renewals)",
        settled_writes as f64 / args.settle_seconds as f64,
        settled_writes,
        args.settle_seconds,
        leases
    );

    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = operator.wait();
    if !args.keep {
        Api::<Namespace>::all(client)
            .delete(&ns, &DeleteParams::background())
            .await?;
    }
    Ok(())
}
