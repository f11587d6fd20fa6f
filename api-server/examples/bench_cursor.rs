//! Deep pages of `GET /api/merchant/products`: page 1 against page `--deep-page` (default
//! 5,000) of `--limit` (20), by cursor and by `page`/`limit`, over `--products` (100,000)
//! products of one merchant. A benchmark, not a test (issue #17 part 5: "page 5,000 costs within
//! 20% of page 1").
//!
//!   cargo build --release -p merchant-api --example bench_cursor
//!   source target/testenv/env.sh   # MONGODB_URI (scripts/testenv up api)
//!   $CARGO_TARGET_DIR/release/examples/bench_cursor --uri "$MONGODB_URI"
//!
//! The server runs in this process (as the API tests start it) on a scratch database that is
//! dropped at the end. One product is created over the API; the rest are copies of its stored
//! document bulk-inserted into `products` (new `_id`, SKU, slug, and a `createdAt` one
//! millisecond apart, ten products per instant so the keyset breaks ties on `_id`). A short walk
//! (`--walk-pages`) checks that `nextCursor` chains; the deep page's cursor is then minted with
//! the server's key from the item before that page (`routes::cursor::issue`: walking 5,000 pages
//! of a slow test server takes hours) and its page is checked equal to `page=<deep>`. Then
//! `--rounds` rounds time each of the measured requests `--requests` times, interleaved, and the
//! table shows medians. Every loop is bounded in count and by `--max-seconds`.

use std::time::{Duration, Instant};

use clap::Parser;
use merchant_api::{
    config::Config, routes::cursor, security::cursor_key::CursorKey, startup::Application,
    store::keyset::Position,
};
use mongodb::bson::{Document, doc, oid::ObjectId};
use serde_json::{Value, json};

const ACCESS_SECRET: &str = "bench-access-secret-0123456789abcdef";

#[derive(Parser)]
struct Args {
    /// MongoDB connection string of the server under test.
    #[arg(long, env = "MONGODB_URI", hide_env_values = true)]
    uri: String,
    /// Products of the merchant.
    #[arg(long, default_value_t = 100_000)]
    products: usize,
    /// Page size.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// The deep page compared with page 1.
    #[arg(long, default_value_t = 5_000)]
    deep_page: usize,
    /// Pages walked by `nextCursor` before measuring (a check that cursors chain).
    #[arg(long, default_value_t = 3)]
    walk_pages: usize,
    /// Measured rounds.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Requests per measured kind and round.
    #[arg(long, default_value_t = 20)]
    requests: usize,
    /// Give up (and report what was measured) after this long.
    #[arg(long, default_value_t = 900)]
    max_seconds: u64,
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench(args));
}

fn config(uri: &str, database: &str) -> Config {
    let flags = [
        "bench_cursor",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--admin-port",
        "0",
        "--mongodb-uri",
        uri,
        "--mongodb-database",
        database,
        "--jwt-merchant-secret",
        ACCESS_SECRET,
        "--jwt-refresh-secret",
        "bench-refresh-secret-0123456789abcdef",
        "--node-env",
        "test",
        "--log-level",
        "warn",
        "--smtp-tls",
        "none",
        "--rate-limit-general-max",
        "100000000",
        "--rate-limit-register-max",
        "1000",
        "--rate-limit-product-read-max",
        "100000000",
        "--rate-limit-product-write-max",
        "100000000",
        "--cors-origin",
        "https://shop.example",
    ];
    let mut flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
    flags.extend([
        "--uploads-dir".into(),
        format!("/tmp/{database}-uploads"),
        "--rate-limit-prefix".into(),
        format!("rl-{database}"),
    ]);
    Config::from_args(flags).expect("bench flags")
}

async fn bench(args: Args) {
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let database = format!("bench_cursor_{}", std::process::id());
    let settings = config(&args.uri, &database)
        .validate()
        .expect("bench settings");
    let app = Application::build(settings).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let server = tokio::spawn(async move {
        let _ = app.run_until_stopped(std::future::pending()).await;
    });
    let client = reqwest::Client::new();
    let db = mongodb::Client::with_uri_str(&args.uri)
        .await
        .expect("mongo")
        .database(&database);

    let (token, merchant) = seed(&client, &base, &db, &args).await;
    let get = |path: String| {
        let client = client.clone();
        let url = format!("{base}{path}");
        let token = token.clone();
        async move {
            let started = Instant::now();
            let r = client
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .expect("send");
            assert!(r.status().is_success(), "{url}: {}", r.status());
            let body: Value = r.json().await.expect("json");
            (started.elapsed(), body)
        }
    };

    // A short walk checks the cursors chain; the deep page's cursor is minted from the item
    // before it (walking 5,000 pages on a slow server takes hours).
    let limit = args.limit;
    let mut cursor = "first".to_string();
    let mut walk = Vec::new();
    for _ in 0..args.walk_pages {
        let (took, body) = get(format!(
            "/api/merchant/products?limit={limit}&includeTotal=false&cursor={cursor}"
        ))
        .await;
        walk.push(took);
        match body["data"]["nextCursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    println!(
        "walk: {} pages by nextCursor, median {:.2} ms",
        walk.len(),
        ms(median(walk))
    );
    let deep_cursor = deep_cursor(&db, &merchant, &args).await;
    let (_, by_cursor) = get(format!(
        "/api/merchant/products?limit={limit}&includeTotal=false&cursor={deep_cursor}"
    ))
    .await;
    let (_, by_page) = get(format!(
        "/api/merchant/products?limit={limit}&page={}",
        args.deep_page
    ))
    .await;
    assert_eq!(
        by_cursor["data"]["products"], by_page["data"]["products"],
        "the deep page is the same by cursor and by page"
    );

    let deep = args.deep_page;
    let kinds: Vec<(&str, String)> = vec![
        (
            "cursor, page 1",
            format!("/api/merchant/products?limit={limit}&includeTotal=false&cursor=first"),
        ),
        (
            "cursor, deep page",
            format!("/api/merchant/products?limit={limit}&includeTotal=false&cursor={deep_cursor}"),
        ),
        (
            "page/limit, page 1",
            format!("/api/merchant/products?limit={limit}&page=1"),
        ),
        (
            "page/limit, deep page",
            format!("/api/merchant/products?limit={limit}&page={deep}"),
        ),
        (
            "page/limit, page 1, includeTotal=false",
            format!("/api/merchant/products?limit={limit}&page=1&includeTotal=false"),
        ),
        (
            "page/limit, deep page, includeTotal=false",
            format!("/api/merchant/products?limit={limit}&page={deep}&includeTotal=false"),
        ),
    ];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); kinds.len()];
    'rounds: for _ in 0..args.rounds {
        for _ in 0..args.requests {
            for (i, (_, path)) in kinds.iter().enumerate() {
                if Instant::now() > deadline {
                    println!("measuring stopped: --max-seconds reached");
                    break 'rounds;
                }
                samples[i].push(get(path.clone()).await.0);
            }
        }
    }
    println!(
        "{} products, limit {limit}, page {deep} (median of {} requests each):",
        args.products,
        samples[0].len()
    );
    for ((name, _), times) in kinds.iter().zip(samples) {
        println!("  {name:<42} {:>9.2} ms", ms(median(times)));
    }
    server.abort();
    let _ = db.drop().await;
}

/// Register a merchant, create one product over the API and bulk-insert copies of it.
async fn seed(
    client: &reqwest::Client,
    base: &str,
    db: &mongodb::Database,
    args: &Args,
) -> (String, ObjectId) {
    let r: Value = client
        .post(format!("{base}/api/merchant/auth/register"))
        .json(&json!({
            "businessName": "Bench Goods", "ownerName": "Bench Owner",
            "email": format!("bench{}@example.com", std::process::id()), "password": "secret1",
            "phone": "+1 555 0100",
            "businessAddress": { "street": "1 Main St", "city": "Springfield", "state": "IL", "zipCode": "62701", "country": "US" },
        }))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let token = r["data"]["token"].as_str().expect("token").to_string();
    let merchant = ObjectId::parse_str(r["data"]["merchant"]["id"].as_str().expect("merchant id"))
        .expect("oid");
    let p: Value = client
        .post(format!("{base}/api/merchant/products"))
        .bearer_auth(&token)
        .json(&json!({
            "name": "Bench product", "description": "Seeded by bench_cursor.", "price": 10.0,
            "category": "General", "status": "active",
            "inventory": { "stock": 5, "lowStockThreshold": 1 },
        }))
        .send()
        .await
        .expect("create product")
        .json()
        .await
        .expect("json");
    let id = ObjectId::parse_str(p["data"]["id"].as_str().expect("product id")).expect("oid");
    let products = db.collection::<Document>("products");
    let template = products
        .find_one(doc! { "_id": id })
        .await
        .expect("read")
        .expect("stored product");
    let started = Instant::now();
    let base_ms = mongodb::bson::DateTime::now().timestamp_millis() - 86_400_000;
    let mut batch = Vec::with_capacity(1_000);
    for i in 1..args.products {
        let mut d = template.clone();
        let id = ObjectId::new();
        let at = mongodb::bson::DateTime::from_millis(base_ms + (i / 10) as i64);
        d.insert("_id", id);
        d.insert("sku", format!("SKU-{}", id.to_hex().to_uppercase()));
        d.insert("slug", format!("p-{}", id.to_hex()));
        d.insert("createdAt", at);
        d.insert("updatedAt", at);
        batch.push(d);
        if batch.len() == 1_000 || i + 1 == args.products {
            products
                .insert_many(std::mem::take(&mut batch))
                .await
                .expect("seed");
        }
    }
    println!(
        "seeded {} products in {:.1} s",
        args.products,
        started.elapsed().as_secs_f64()
    );
    (token, merchant)
}

/// The cursor of page `--deep-page` (default order: newest first), minted with the server's
/// key from the last item of the page before it.
async fn deep_cursor(db: &mongodb::Database, merchant: &ObjectId, args: &Args) -> String {
    let before = ((args.deep_page - 1) * args.limit - 1) as u64;
    let last = db
        .collection::<Document>("products")
        .find_one(doc! { "merchantId": merchant, "isDeleted": { "$ne": true } })
        .sort(doc! { "createdAt": -1, "_id": -1 })
        .skip(before)
        .projection(doc! { "createdAt": 1 })
        .await
        .expect("read")
        .expect("enough products for the deep page");
    let position = Position {
        value: last.get("createdAt").cloned().expect("createdAt"),
        id: last.get_object_id("_id").expect("id"),
    };
    let key = CursorKey::derive(ACCESS_SECRET.as_bytes());
    cursor::issue(&key, *merchant, "/api/merchant/products", &[], &position)
}

fn median(mut v: Vec<Duration>) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
