//! A parallel wrong-password flood against `POST /api/merchant/auth/login`, with the production
//! limits in place (auth budget 5 failures / 15 min per IP, lockout after 5 attempts). A
//! benchmark, not a test: it reports requests per second, the statuses answered and how many
//! password verifications the server actually ran (`merchant_api_password_verifications_total`).
//!
//!   cargo build --release -p merchant-api --example bench_login_flood
//!   source target/testenv/env.sh   # MONGODB_URI, REDIS_URL (scripts/testenv up api)
//!   $CARGO_TARGET_DIR/release/examples/bench_login_flood --uri "$MONGODB_URI"
//!
//! The server runs in this process on 127.0.0.1 (loopback only) over a scratch database that is
//! dropped at the end. Two floods run, each bounded by `--requests` and `--max-seconds`:
//! `account` guesses one registered merchant's password (lockout and limiter), `unknown` guesses
//! unknown e-mails (only the limiter stands before the hasher). Every request comes from the
//! same IP, so past the budget the limiter answers 429.

use std::time::{Duration, Instant};

use clap::Parser;
use futures::{StreamExt, stream};
use merchant_api::{config::Config, startup::Application};
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// MongoDB connection string.
    #[arg(long, env = "MONGODB_URI", hide_env_values = true)]
    uri: String,
    /// Redis for the rate limiters (as in production); unset counts them in-process.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Requests per flood (upper bound).
    #[arg(long, default_value_t = 5000)]
    requests: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Upper bound on one flood.
    #[arg(long, default_value_t = 30)]
    max_seconds: u64,
}

fn verifications(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("merchant_api_password_verifications_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn metrics(client: &reqwest::Client, base: &str) -> String {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

async fn flood(
    client: &reqwest::Client,
    base: &str,
    args: &Args,
    email: impl Fn(usize) -> String,
) -> (usize, Duration, std::collections::BTreeMap<u16, usize>) {
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let started = Instant::now();
    let url = format!("{base}/api/merchant/auth/login");
    let statuses: Vec<u16> = stream::iter(0..args.requests)
        .take_while(|_| futures::future::ready(Instant::now() < deadline))
        .map(|i| {
            let body = json!({ "email": email(i), "password": "wrong-guess" });
            let req = client.post(&url).json(&body).send();
            async move { req.await.map_or(0, |r| r.status().as_u16()) }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut by_status = std::collections::BTreeMap::new();
    for s in &statuses {
        *by_status.entry(*s).or_insert(0) += 1;
    }
    (statuses.len(), elapsed, by_status)
}

fn main() {
    let args = Args::parse();
    merchant_api::startup::install_crypto_provider();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(run(args));
}

/// A server on loopback over `db` with its own rate-limit counters; `extra` flags appended.
async fn start(
    args: &Args,
    db: &str,
    prefix: &str,
    extra: &[&str],
) -> (
    String,
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let mut argv = vec![
        "bench".to_string(),
        "--host=127.0.0.1".into(),
        "--port=0".into(),
        "--admin-port=0".into(),
        format!("--mongodb-uri={}", args.uri),
        format!("--mongodb-database={db}"),
        "--jwt-merchant-secret=bench-access-secret-0123456789abcdef".into(),
        "--jwt-refresh-secret=bench-refresh-secret-0123456789abcdef".into(),
        "--log-level=error".into(),
        format!("--rate-limit-prefix={prefix}"),
    ];
    if let Some(redis) = &args.redis_url {
        argv.push(format!("--redis-url={redis}"));
    }
    argv.extend(extra.iter().map(|s| s.to_string()));
    let settings = Config::from_args(argv)
        .expect("args")
        .validate()
        .expect("settings");
    let app = Application::build(settings).await.expect("server starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    let admin = format!("http://127.0.0.1:{}", app.admin_port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = app
            .run_until_stopped(async move {
                let _ = stopped.await;
            })
            .await;
    });
    (base, admin, stop, server)
}

async fn run(args: Args) {
    let pid = std::process::id();
    let db = format!("bench_login_flood_{pid}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let email = format!("flood-{pid}@example.com");
    println!(
        "login flood: up to {} requests, {} in flight, {} s cap, rate limits {}",
        args.requests,
        args.concurrency,
        args.max_seconds,
        if args.redis_url.is_some() {
            "in Redis"
        } else {
            "in-process"
        }
    );
    println!("| flood | limits | requests | seconds | req/s | statuses | password verifications |");
    println!("|---|---|---|---|---|---|---|");
    type Emails<'a> = Box<dyn Fn(usize) -> String + 'a>;
    let floods: [(&str, &str, &[&str], Emails<'_>); 3] = [
        (
            "one account",
            "production",
            &[],
            Box::new(|_| email.clone()),
        ),
        (
            "unknown e-mails",
            "production",
            &[],
            Box::new(|i| format!("ghost-{i}@example.com")),
        ),
        (
            "unknown e-mails",
            "auth budget 10^6 (hash queue 64 only)",
            &["--rate-limit-auth-max=1000000"],
            Box::new(|i| format!("ghost-{i}@example.com")),
        ),
    ];
    for (n, (name, limits, extra, emails)) in floods.into_iter().enumerate() {
        let (base, admin, stop, server) = start(&args, &db, &format!("{db}-{n}"), extra).await;
        if n == 0 {
            let registered = client
                .post(format!("{base}/api/merchant/auth/register"))
                .json(&json!({
                    "businessName": "Flood Target", "ownerName": "Ann Owner", "email": email,
                    "password": "secret1", "phone": "+1 555 0100",
                    "businessAddress": { "street": "1 Main St", "city": "Springfield", "state": "IL", "zipCode": "62701", "country": "US" },
                }))
                .send()
                .await
                .expect("register");
            assert_eq!(registered.status().as_u16(), 201, "register");
        }
        let before = verifications(&metrics(&client, &admin).await);
        let (sent, elapsed, statuses) = flood(&client, &base, &args, emails).await;
        let ran = verifications(&metrics(&client, &admin).await) - before;
        let statuses = statuses
            .iter()
            .map(|(s, n)| format!("{s}×{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "| {name} | {limits} | {sent} | {:.2} | {:.0} | {statuses} | {ran} |",
            elapsed.as_secs_f64(),
            sent as f64 / elapsed.as_secs_f64()
        );
        let _ = stop.send(());
        let _ = server.await;
    }
    let store = merchant_api::startup::connect_store(
        &Config::from_args([
            "bench".to_string(),
            format!("--mongodb-uri={}", args.uri),
            format!("--mongodb-database={db}"),
        ])
        .expect("args")
        .validate_database()
        .expect("db settings"),
        None,
    )
    .await
    .expect("store");
    let _ = store.db().drop().await;
}
