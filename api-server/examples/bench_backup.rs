//! Backup, verify and restore throughput and peak memory against a MongoDB-wire server.
//!
//!   cargo build --release -p merchant-api --bin merchant-api --example bench_backup
//!   $CARGO_TARGET_DIR/release/examples/bench_backup --uri "$MONGODB_URI" --documents 1000000 \
//!       --bin $CARGO_TARGET_DIR/release/merchant-api
//!
//! Seeds `--documents` product-like documents (about 400 bytes of BSON each) into a scratch
//! database, times a plain cursor scan of them (the floor a dump cannot beat), then runs the
//! real binary's `backup`, `verify` and `restore` under `/usr/bin/time` for their peak RSS.
//! Everything it creates is dropped at the end. Every loop is bounded by `--documents`.

use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use clap::Parser;
use futures::TryStreamExt;
use mongodb::{
    Client,
    bson::{RawDocumentBuf, doc},
};

#[derive(Parser)]
struct Args {
    /// MongoDB connection string.
    #[arg(long)]
    uri: String,
    /// Documents to seed.
    #[arg(long, default_value_t = 1_000_000)]
    documents: u64,
    /// The merchant-api binary to measure.
    #[arg(long)]
    bin: PathBuf,
    /// Where the backup goes (a directory; removed afterwards).
    #[arg(long, default_value = "/tmp/merchant-bench-backup")]
    dir: PathBuf,
    /// Reuse an already seeded database of this name (and keep it).
    #[arg(long)]
    reuse: Option<String>,
}

struct Measured {
    seconds: f64,
    peak_rss_kib: u64,
}

fn run(bin: &PathBuf, uri: &str, db: &str, args: &[&str]) -> Measured {
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("PEAK_RSS_KIB=%M")
        .arg(bin)
        .args(args)
        .env("MONGODB_URI", uri)
        .env("MONGODB_DATABASE", db)
        .env("LOG_LEVEL", "warn")
        .env("UPLOADS_DIR", "/nonexistent")
        .output()
        .expect("run merchant-api");
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    let peak_rss_kib = stderr
        .lines()
        .find_map(|l| l.strip_prefix("PEAK_RSS_KIB="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Measured {
        seconds,
        peak_rss_kib,
    }
}

fn line(what: &str, documents: u64, bytes: u64, m: &Measured) {
    println!(
        "{what:<12} {:>8.1} s {:>10.0} docs/s {:>7.1} MB/s  peak RSS {:>6.1} MiB",
        m.seconds,
        documents as f64 / m.seconds,
        bytes as f64 / 1e6 / m.seconds,
        m.peak_rss_kib as f64 / 1024.0
    );
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let client = Client::with_uri_str(&args.uri).await.expect("connect");
    let name = args
        .reuse
        .clone()
        .unwrap_or_else(|| format!("bench_backup_{}", std::process::id()));
    let db = client.database(&name);
    let products = db.collection::<RawDocumentBuf>("products");
    if args.reuse.is_none() {
        let started = Instant::now();
        let mut next = 0u64;
        while next < args.documents {
            let batch: Vec<RawDocumentBuf> = (next..(next + 5000).min(args.documents))
                .map(|i| {
                    RawDocumentBuf::from_document(&doc! {
                        "_id": i as i64,
                        "merchantId": format!("merchant-{:04}", i % 1000),
                        "name": format!("Product number {i} with a descriptive name"),
                        "description": "A sturdy, well-made item that customers keep coming back for. ".repeat(3),
                        "price": (i % 10_000) as f64 / 100.0,
                        "inventory": { "stock": (i % 500) as i32, "trackInventory": true, "lowStockThreshold": 5 },
                        "tags": ["bench", "catalogue", format!("t{}", i % 50)],
                        "createdAt": mongodb::bson::DateTime::now(),
                    })
                    .expect("bson")
                })
                .collect();
            next += batch.len() as u64;
            products.insert_many(batch).await.expect("seed");
        }
        products
            .create_index(
                mongodb::IndexModel::builder()
                    .keys(doc! { "merchantId": 1 })
                    .build(),
            )
            .await
            .expect("index");
        println!(
            "seeded {} documents in {:.1} s",
            args.documents,
            started.elapsed().as_secs_f64()
        );
    }

    // The floor: one cursor over every document, nothing else done with them.
    let started = Instant::now();
    let mut cursor = products.find(doc! {}).batch_size(1000).await.expect("find");
    let (mut documents, mut bytes) = (0u64, 0u64);
    while let Some(d) = cursor.try_next().await.expect("scan") {
        documents += 1;
        bytes += d.as_bytes().len() as u64;
    }
    let scan = Measured {
        seconds: started.elapsed().as_secs_f64(),
        peak_rss_kib: 0,
    };
    println!(
        "{documents} documents, {:.1} MB of BSON",
        bytes as f64 / 1e6
    );
    line("cursor scan", documents, bytes, &scan);

    let _ = std::fs::remove_dir_all(&args.dir);
    let dir = args.dir.to_str().expect("utf-8");
    let backup = run(
        &args.bin,
        &args.uri,
        &name,
        &["backup", "--to", dir, "--skip-uploads"],
    );
    line("backup", documents, bytes, &backup);
    let verify = run(
        &args.bin,
        &args.uri,
        &name,
        &["verify", "--from", dir, "--latest"],
    );
    line("verify", documents, bytes, &verify);
    let target = format!("{name}_restored");
    let restore = run(
        &args.bin,
        &args.uri,
        &name,
        &["restore", "--from", dir, "--latest", "--db", &target],
    );
    line("restore", documents, bytes, &restore);
    let stored: u64 = walk(&args.dir);
    println!(
        "backup size {:.1} MB ({:.0}% of the BSON); backup/scan speed ratio {:.2}",
        stored as f64 / 1e6,
        stored as f64 * 100.0 / bytes.max(1) as f64,
        scan.seconds / backup.seconds
    );

    client
        .database(&target)
        .drop()
        .await
        .expect("drop restored");
    if args.reuse.is_none() {
        db.drop().await.expect("drop");
    }
    let _ = std::fs::remove_dir_all(&args.dir);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

fn walk(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}
