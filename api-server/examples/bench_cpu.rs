//! Server CPU time per request of the hot authenticated reads: `GET /api/merchant/auth/me`,
//! a product by id and the product list. A benchmark, not a test.
//!
//!   cargo build --release -p merchant-api --example bench_cpu
//!   source target/testenv/env.sh   # MONGODB_URI, REDIS_URL (scripts/testenv up api)
//!   $CARGO_TARGET_DIR/release/examples/bench_cpu --uri "$MONGODB_URI"
//!   $CARGO_TARGET_DIR/release/examples/bench_cpu --uri "$FERRETDB_URI"
//!
//! With `--baseline <another build of this example>` both servers run side by side and every
//! round measures both back to back (alternating which goes first), which is how to compare two
//! commits on a shared, noisy machine:
//!
//!   cp $CARGO_TARGET_DIR/release/examples/bench_cpu /tmp/bench_cpu-old   # built at the old commit
//!   $CARGO_TARGET_DIR/release/examples/bench_cpu --uri "$MONGODB_URI" --baseline /tmp/bench_cpu-old
//!
//! The server runs as a child process (this binary re-executed with `--serve-child`, which starts
//! the application exactly as `merchant-api serve` does, from this commit's library), so the
//! client's own CPU is never counted: the figure is the child's utime + stime from
//! `/proc/<pid>/stat` across a measured run, divided by the requests answered. A copy of the
//! binary built from another commit measures that commit's server the same way.
//!
//! It registers one merchant over the API, creates `--products` products, warms every endpoint
//! up, then runs `--rounds` rounds of `--requests` requests per endpoint (interleaved, so drift
//! on a shared machine hits every endpoint alike), `--concurrency` in flight, each run capped at
//! `--max-seconds`. Every response must be a 200. The scratch database is dropped at the end.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use clap::Parser;
use futures::{StreamExt, stream};
use serde_json::{Value, json};

const ACCESS_SECRET: &str = "bench-access-secret-0123456789abcdef";
const REFRESH_SECRET: &str = "bench-refresh-secret-0123456789abcdef";

#[derive(Parser)]
struct Args {
    /// MongoDB connection string of the server under test.
    #[arg(long, env = "MONGODB_URI", hide_env_values = true)]
    uri: String,
    /// Redis for the rate limiters (as in production); unset counts them in-process.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Requests per endpoint and round.
    #[arg(long, default_value_t = 2000)]
    requests: u64,
    /// Measured rounds (the table shows the median round).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Products to create (the list returns the first page of them).
    #[arg(long, default_value_t = 20)]
    products: usize,
    /// Upper bound on one measured run.
    #[arg(long, default_value_t = 120)]
    max_seconds: u64,
    /// Another build of this example (e.g. from an earlier commit) whose server runs beside this
    /// one's; every round measures both, in alternating order, and the per-round ratios are shown.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Run the server (internal: the parent starts this binary so).
    #[arg(long, hide = true)]
    serve_child: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    merchant_api::startup::install_crypto_provider();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    if args.serve_child {
        return runtime.block_on(serve_child());
    }
    runtime.block_on(bench(args));
    std::process::ExitCode::SUCCESS
}

/// The child: configuration from the environment, then the same start-up as `merchant-api serve`.
async fn serve_child() -> std::process::ExitCode {
    use merchant_api::{config::Config, startup};
    let settings = match Config::from_args(["bench_cpu"]).map(Config::validate) {
        Ok(Ok(settings)) => settings,
        Ok(Err(e)) => panic!("invalid settings: {e}"),
        Err(e) => panic!("invalid settings: {e}"),
    };
    let telemetry =
        merchant_api::telemetry::init(&settings.log_level, settings.log_json, None, None);
    let result = match startup::Application::build(settings).await {
        Ok(app) => app.run_until_stopped(startup::shutdown_signal()).await,
        Err(e) => Err(e),
    };
    telemetry.shutdown().await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_cpu server: {}", merchant_api::error::chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The server child and where it listens.
struct Server {
    child: Child,
    base: String,
    database: String,
}

impl Server {
    fn start(args: &Args, exe: &Path) -> Self {
        // A free port chosen here: the child's own port-0 choice would not be visible to us.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let database = format!("bench_cpu_{}_{port}", std::process::id());
        let log = std::fs::File::create(format!("/tmp/bench_cpu-{port}.log")).expect("log file");
        let mut cmd = Command::new(exe);
        cmd.arg("--serve-child")
            .env_clear()
            .env("PORT", port.to_string())
            .env("ADMIN_PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("MONGODB_URI", &args.uri)
            .env("MONGODB_DATABASE", &database)
            .env("JWT_MERCHANT_SECRET", ACCESS_SECRET)
            .env("JWT_REFRESH_SECRET", REFRESH_SECRET)
            .env("NODE_ENV", "production")
            .env("CORS_ORIGIN", "http://localhost:3000")
            .env("LOG_LEVEL", "warn")
            .env("UPLOADS_DIR", format!("/tmp/bench_cpu-uploads-{port}"))
            // Limits stay on (their cost is part of every request), too high to trip.
            .env("RATE_LIMIT_PREFIX", format!("rl-{database}"))
            .env("RATE_LIMIT_GENERAL_MAX", "100000000")
            .env("RATE_LIMIT_REGISTER_MAX", "1000")
            .env("RATE_LIMIT_PRODUCT_READ_MAX", "100000000")
            .env("RATE_LIMIT_PRODUCT_WRITE_MAX", "100000000")
            // No background order scan competing with the measured requests.
            .env("ORDER_WATCH_INTERVAL_MS", "0")
            .env("RESERVATION_SWEEP_INTERVAL_MS", "0")
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(redis) = &args.redis_url {
            cmd.env("REDIS_URL", redis);
        }
        let child = cmd.spawn().expect("start the server child");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            database,
        }
    }

    /// The child's user + system CPU time so far.
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("read /proc/<pid>/stat");
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kernel clock ticks per second (`getconf CLK_TCK`, 100 on every common Linux).
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

async fn wait_ready(client: &reqwest::Client, server: &mut Server) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("server exited ({status}); see /tmp/bench_cpu-*.log");
        }
        let live = client.get(format!("{}/health/live", server.base)).send();
        if live.await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("server not ready within 60 s");
}

async fn post(client: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut req = client.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let body: Value = res.json().await.expect("json body");
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// Register a merchant and create its products; returns the token and one product id.
async fn seed(client: &reqwest::Client, base: &str, products: usize) -> (String, String) {
    let merchant = json!({
        "businessName": "Bench Goods", "ownerName": "Ben Chmark",
        "email": "bench@example.com", "password": "secret1",
        "phone": "+1 555 0100", "role": "owner",
        "businessAddress": { "street": "1 Main St", "city": "Springfield", "state": "IL",
            "zipCode": "62701", "country": "US" },
    });
    let url = format!("{base}/api/merchant/auth/register");
    let reg = post(client, url, None, merchant).await;
    let token = reg["data"]["token"].as_str().expect("token").to_string();
    let mut product = String::new();
    for i in 0..products {
        let body = json!({
            "name": format!("Bench product {i}"), "description": "A product of the CPU benchmark.",
            "price": 10.0 + i as f64, "category": "General", "status": "active",
            "inventory": { "stock": 100, "lowStockThreshold": 5 },
        });
        let url = format!("{base}/api/merchant/products");
        let created = post(client, url, Some(&token), body).await;
        product = created["data"]["id"].as_str().expect("id").to_string();
    }
    (token, product)
}

/// One measured run of one endpoint.
#[derive(Debug, Clone, Copy)]
struct Run {
    answered: u64,
    wall: Duration,
    cpu: Duration,
}

impl Run {
    fn cpu_us_per_request(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.answered.max(1) as f64
    }
}

/// `requests` GETs of `url`, `concurrency` in flight, stopping at the time cap.
async fn hammer(
    client: &reqwest::Client,
    server: &Server,
    url: &str,
    token: &str,
    args: &Args,
    requests: u64,
) -> Run {
    let cap = Instant::now() + Duration::from_secs(args.max_seconds);
    let cpu0 = server.cpu();
    let t0 = Instant::now();
    let answered = stream::iter(0..requests)
        .take_while(|_| std::future::ready(Instant::now() < cap))
        .map(|_| async {
            let res = client.get(url).bearer_auth(token).send().await;
            let res = res.expect("request");
            let status = res.status();
            let body = res.bytes().await.expect("body");
            assert!(status.is_success(), "{url}: {status} {body:?}");
        })
        .buffer_unordered(args.concurrency)
        .count()
        .await as u64;
    Run {
        answered,
        wall: t0.elapsed(),
        cpu: server.cpu() - cpu0,
    }
}

/// A started, seeded server and the URLs measured on it.
struct Target {
    label: String,
    server: Server,
    token: String,
    urls: Vec<String>,
}

const ENDPOINTS: [&str; 3] = ["GET /auth/me", "GET /products/{id}", "GET /products"];

impl Target {
    async fn start(client: &reqwest::Client, args: &Args, exe: &Path, label: &str) -> Self {
        let mut server = Server::start(args, exe);
        wait_ready(client, &mut server).await;
        let (token, product) = seed(client, &server.base, args.products).await;
        let base = format!("{}/api/merchant", server.base);
        let urls = vec![
            format!("{base}/auth/me"),
            format!("{base}/products/{product}"),
            format!("{base}/products"),
        ];
        Self {
            label: format!("{label} ({})", exe.display()),
            server,
            token,
            urls,
        }
    }

    async fn run(&self, client: &reqwest::Client, args: &Args, e: usize, n: u64) -> Run {
        hammer(client, &self.server, &self.urls[e], &self.token, args, n).await
    }
}

async fn bench(args: Args) {
    let client = reqwest::Client::new();
    let own = std::env::current_exe().expect("own path");
    let mut targets = vec![Target::start(&client, &args, &own, "this build").await];
    if let Some(baseline) = &args.baseline {
        targets.push(Target::start(&client, &args, baseline, "baseline").await);
    }
    for target in &targets {
        for e in 0..ENDPOINTS.len() {
            target.run(&client, &args, e, 200).await;
        }
    }
    // runs[target][endpoint][round]
    let mut runs = vec![vec![Vec::new(); ENDPOINTS.len()]; targets.len()];
    for round in 0..args.rounds {
        for (e, _) in ENDPOINTS.iter().enumerate() {
            // Alternating order, so drift on a shared machine favours neither build.
            for t in (0..targets.len()).map(|i| (i + round) % targets.len()) {
                let run = targets[t].run(&client, &args, e, args.requests).await;
                runs[t][e].push(run);
            }
        }
    }
    for (target, runs) in targets.iter().zip(&runs) {
        println!("\n{}", target.label);
        print_table(&args, runs);
    }
    if let [this, baseline] = &runs[..] {
        print_ratios(this, baseline);
    }
    for target in targets {
        drop_database(&args.uri, &target.server.database).await;
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn print_table(args: &Args, runs: &[Vec<Run>]) {
    println!(
        "server CPU per request ({} rounds x {} requests, {} in flight; median round; {} products)",
        args.rounds, args.requests, args.concurrency, args.products
    );
    println!(
        "{:<20} {:>8} {:>8} {:>9} {:>8} {:>13} {:>17}",
        "endpoint", "answered", "wall s", "req/s", "CPU s", "CPU us/req", "rounds min-max"
    );
    for (name, runs) in ENDPOINTS.iter().zip(runs) {
        let mut runs = runs.clone();
        runs.sort_by(|a, b| a.cpu_us_per_request().total_cmp(&b.cpu_us_per_request()));
        let median = runs[runs.len() / 2];
        let (min, max) = (runs[0], runs[runs.len() - 1]);
        println!(
            "{name:<20} {:>8} {:>8.2} {:>9.0} {:>8.2} {:>13.0} {:>8.0}-{:<8.0}",
            median.answered,
            median.wall.as_secs_f64(),
            median.answered as f64 / median.wall.as_secs_f64(),
            median.cpu.as_secs_f64(),
            median.cpu_us_per_request(),
            min.cpu_us_per_request(),
            max.cpu_us_per_request(),
        );
    }
}

/// This build's CPU per request over the baseline's, round by round (each pair ran back to back).
fn print_ratios(this: &[Vec<Run>], baseline: &[Vec<Run>]) {
    println!("\nthis build / baseline, CPU per request (median of per-round ratios, min-max)");
    for (name, (a, b)) in ENDPOINTS.iter().zip(this.iter().zip(baseline)) {
        let ratios: Vec<f64> = a
            .iter()
            .zip(b)
            .map(|(a, b)| a.cpu_us_per_request() / b.cpu_us_per_request())
            .collect();
        let (min, max) = ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
        println!("{name:<20} {:>6.2}  ({min:.2}-{max:.2})", median(ratios));
    }
}

async fn drop_database(uri: &str, name: &str) {
    let client = mongodb::Client::with_uri_str(uri).await.expect("mongodb");
    if let Err(e) = client.database(name).drop().await {
        eprintln!("could not drop {name}: {e}");
    }
}
