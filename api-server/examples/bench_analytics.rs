//! Cold analytics latency at scale: every report aggregating the orders (no rollups) against
//! the same report read from the sales rollups. A benchmark, not a test.
//!
//!   flock /tmp/merchant-bench.lock cargo build -p merchant-api --example bench_analytics
//!   source target/testenv/env.sh
//!   flock /tmp/merchant-bench.lock $CARGO_TARGET_DIR/debug/examples/bench_analytics \
//!     --uri "$MONGODB_URI" --orders 100000 --requests 5 --raw-requests 2 --keep
//!   # again on the kept database, without seeding: --database bench_analytics_<pid>
//!
//! It seeds one demo merchant with `--orders` orders (the `merchant-api seed` generator: 120
//! days, realistic statuses, methods and coupons) into a scratch database, starts the API in
//! this process with the rollup task off, and measures `--requests` cold requests per report
//! (the analytics cache is dropped before each, so every answer is computed): first with no
//! rollups (every report aggregates the orders, as before), then after building the rollups
//! (the build is timed too). Each request must answer 200. It prints p50 and p95 per report and
//! mode; the scratch database is dropped at the end unless `--keep`. Every request is bounded
//! by `--max-seconds`.

use std::time::{Duration, Instant};

use clap::Parser;
use merchant_api::{
    config::Config,
    ops::seed::{SeedPlan, seed_plan},
    startup::{Application, connect_store},
};

#[derive(Parser)]
struct Args {
    /// MongoDB connection string.
    #[arg(long, env = "MONGODB_URI", hide_env_values = true)]
    uri: String,
    /// Orders of the merchant.
    #[arg(long, default_value_t = 100_000)]
    orders: u32,
    /// Products of the merchant.
    #[arg(long, default_value_t = 50)]
    products: u32,
    /// Cold requests per report and mode.
    #[arg(long, default_value_t = 3)]
    requests: usize,
    /// Cold requests per report while the reports aggregate the orders (default: `--requests`).
    #[arg(long)]
    raw_requests: Option<usize>,
    /// Give up on one request after this long (the server's request timeout too).
    #[arg(long, default_value_t = 300)]
    max_seconds: u64,
    /// Reuse this database (seeded by an earlier `--keep` run) instead of seeding a new one.
    #[arg(long)]
    database: Option<String>,
    /// Measure the rollups only (on a kept database whose rollups are built): no raw phase,
    /// no rebuild.
    #[arg(long)]
    rollups_only: bool,
    /// Keep the scratch database.
    #[arg(long)]
    keep: bool,
}

/// The reports: path and query.
const REPORTS: &[&str] = &[
    "sales/overview?preset=30d",
    "sales/trends?days=90",
    "sales/by-time?preset=30d",
    "sales/by-day?preset=90d",
    "payments/breakdown?preset=30d",
    "offers/top?preset=30d",
    "revenue/breakdown?preset=30d",
    "realtime",
    "forecast/sales?preset=30d",
    "trends/seasonal?preset=1y",
    "products/top-selling?preset=30d",
    "products/performance?preset=30d",
    "inventory/stockout-prediction?preset=30d",
    // Still aggregating the orders in both modes (customer and category figures).
    "comparison?preset=30d",
    "categories/performance?preset=30d",
    "customers/insights?preset=30d",
];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let name = args
        .database
        .clone()
        .unwrap_or_else(|| format!("bench_analytics_{}", std::process::id()));
    let timeout = args.max_seconds.to_string();
    let base = [
        "bench",
        "--mongodb-uri",
        &args.uri,
        "--mongodb-database",
        &name,
        "--jwt-merchant-secret",
        "bench-access-secret-0123456789abcdef",
        "--jwt-refresh-secret",
        "bench-refresh-secret-0123456789abcdef",
        "--port",
        "0",
        "--admin-port",
        "0",
        "--rollup-sync-interval-ms",
        "0",
        "--order-watch-interval-ms",
        "0",
        "--host",
        "127.0.0.1",
        "--log-level",
        "warn",
        "--smtp-tls",
        "none",
        "--rate-limit-general-max",
        "100000",
        "--rate-limit-auth-max",
        "1000",
        "--request-timeout-secs",
        &timeout,
    ];
    let config = Config::from_args(base)?;
    let store = connect_store(&config.clone().validate_database()?, None).await?;
    if args.database.is_none() {
        let started = Instant::now();
        let plan = SeedPlan {
            merchants: 1,
            products: args.products,
            orders: args.orders,
            seed: 42,
        };
        seed_plan(&store, plan).await?;
        println!(
            "seeded {} orders in {:.1} s",
            args.orders,
            started.elapsed().as_secs_f64()
        );
    }
    let app = Application::build(config.validate()?).await?;
    let address = format!("http://127.0.0.1:{}", app.port());
    let server = tokio::spawn(app.run_until_stopped(std::future::pending()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.max_seconds))
        .build()?;
    let login: serde_json::Value = client
        .post(format!("{address}/api/merchant/auth/login"))
        .json(&serde_json::json!({ "email": "demo1@merchant.test", "password": "demo-password" }))
        .send()
        .await?
        .json()
        .await?;
    let token = login["data"]["token"]
        .as_str()
        .ok_or("login failed")?
        .to_string();

    let raw = if args.rollups_only {
        REPORTS.iter().map(|r| (*r, Vec::new())).collect()
    } else {
        store.drop_rollups().await?;
        let raw_requests = args.raw_requests.unwrap_or(args.requests);
        let raw = measure(&client, &address, &token, raw_requests).await?;
        let started = Instant::now();
        let built = store
            .rebuild_rollups()
            .await?
            .ok_or("another build holds the rollups")?;
        println!(
            "rollups built from {} orders into {} rows in {:.1} s",
            built.orders,
            built.rows,
            started.elapsed().as_secs_f64()
        );
        raw
    };
    if !store.rollups_ready().await? {
        return Err("the rollups are not built".into());
    }
    let rolled = measure(&client, &address, &token, args.requests).await?;
    println!("\n| report | orders p50 | orders p95 | rollups p50 | rollups p95 |");
    println!("|---|---|---|---|---|");
    for ((report, a), (_, b)) in raw.iter().zip(&rolled) {
        let ms = |d: Duration| d.as_millis();
        println!(
            "| `{report}` | {} ms | {} ms | {} ms | {} ms |",
            ms(percentile(a, 0.5)),
            ms(percentile(a, 0.95)),
            ms(percentile(b, 0.5)),
            ms(percentile(b, 0.95)),
        );
    }
    server.abort();
    if !args.keep && args.database.is_none() {
        store.db().drop().await?;
    }
    Ok(())
}

/// `requests` cold requests per report (interleaved over the reports), sorted durations.
async fn measure(
    client: &reqwest::Client,
    address: &str,
    token: &str,
    requests: usize,
) -> Result<Vec<(&'static str, Vec<Duration>)>, Box<dyn std::error::Error>> {
    let mut out: Vec<(&'static str, Vec<Duration>)> =
        REPORTS.iter().map(|r| (*r, Vec::new())).collect();
    for _ in 0..requests {
        for (report, times) in &mut out {
            client
                .post(format!("{address}/api/merchant/analytics/cache/invalidate"))
                .bearer_auth(token)
                .send()
                .await?
                .error_for_status()?;
            let started = Instant::now();
            let r = client
                .get(format!("{address}/api/merchant/analytics/{report}"))
                .bearer_auth(token)
                .send()
                .await?;
            let status = r.status();
            r.bytes().await?;
            times.push(started.elapsed());
            if !status.is_success() {
                return Err(format!("{report}: {status}").into());
            }
        }
    }
    for (_, times) in &mut out {
        times.sort();
    }
    Ok(out)
}
