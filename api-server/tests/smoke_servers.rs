//! Smoke tests: the crates the API ships with (mongodb, object_store, redis) against the real
//! servers that `scripts/testenv up api` starts. They prove the test environment itself works.

use futures::TryStreamExt;
use mongodb::{
    Client, IndexModel,
    bson::{Document, doc},
    error::{ErrorKind, WriteFailure},
    options::IndexOptions,
};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, aws::AmazonS3Builder, path::Path};
use redis::AsyncCommands;

/// The value of a test-environment variable. A missing one fails the test, locally as in CI,
/// saying how to start the servers: a test that skips itself proves nothing.
fn testenv(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: start the test servers with `scripts/testenv up api`, then \
             `source target/testenv/env.sh` (unit tests alone: \
             `cargo test -p merchant-api --lib --bins`)"
        )
    })
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{prefix}_{nanos:x}")
}

#[tokio::test]
async fn mongodb_inserts_finds_enforces_unique_index_and_commits_a_transaction() {
    let uri = testenv("MONGODB_URI");
    let client = Client::with_uri_str(&uri).await.expect("connect");
    let db = client.database(&unique("smoke"));
    let products = db.collection::<Document>("products");

    // insert + find
    products
        .insert_one(doc! { "sku": "TEE-1", "stock": 5 })
        .await
        .expect("insert");
    let found = products
        .find_one(doc! { "sku": "TEE-1" })
        .await
        .expect("find")
        .expect("document exists");
    assert_eq!(found.get_i32("stock").expect("stock"), 5);

    // unique index rejects a duplicate with E11000
    products
        .create_index(
            IndexModel::builder()
                .keys(doc! { "sku": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .await
        .expect("create unique index");
    let duplicate = products
        .insert_one(doc! { "sku": "TEE-1" })
        .await
        .expect_err("duplicate sku must be rejected");
    match *duplicate.kind {
        ErrorKind::Write(WriteFailure::WriteError(ref e)) => assert_eq!(e.code, 11000),
        ref other => panic!("expected duplicate key error, got {other:?}"),
    }

    // a multi-document transaction across two collections commits atomically
    let orders = db.collection::<Document>("orders");
    let mut session = client.start_session().await.expect("session");
    session
        .start_transaction()
        .await
        .expect("start transaction");
    orders
        .insert_one(doc! { "orderNumber": "A-1" })
        .session(&mut session)
        .await
        .expect("insert in transaction");
    products
        .update_one(doc! { "sku": "TEE-1" }, doc! { "$inc": { "stock": -1 } })
        .session(&mut session)
        .await
        .expect("update in transaction");
    session.commit_transaction().await.expect("commit");

    let stock = products
        .find(doc! {})
        .await
        .expect("find all")
        .try_collect::<Vec<_>>()
        .await
        .expect("collect")[0]
        .get_i32("stock")
        .expect("stock");
    assert_eq!(stock, 4);
    assert_eq!(orders.count_documents(doc! {}).await.expect("count"), 1);
    db.drop().await.expect("drop database");
}

#[tokio::test]
async fn s3_put_get_list_round_trip() {
    let endpoint = testenv("S3_ENDPOINT");
    let var =
        |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} with S3_ENDPOINT"));
    let store = AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region(var("S3_REGION"))
        .with_bucket_name(var("S3_BUCKET"))
        .with_access_key_id(var("S3_ACCESS_KEY_ID"))
        .with_secret_access_key(var("S3_SECRET_ACCESS_KEY"))
        .build()
        .expect("S3 client");
    let prefix = Path::from(unique("smoke"));
    let key = prefix.clone().join("logo.png");

    store
        .put(&key, PutPayload::from_static(b"\x89PNG smoke"))
        .await
        .expect("put");
    let body = store
        .get(&key)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    let listed: Vec<_> = store.list(Some(&prefix)).try_collect().await.expect("list");

    assert_eq!(&body[..], b"\x89PNG smoke");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].location, key);
    store.delete(&key).await.expect("delete");
}

#[tokio::test]
async fn redis_incr_counts() {
    let url = testenv("REDIS_URL");
    let client = redis::Client::open(url).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let key = unique("smoke:counter");

    let first: i64 = conn.incr(&key, 1).await.expect("incr");
    let second: i64 = conn.incr(&key, 1).await.expect("incr");

    assert_eq!((first, second), (1, 2));
    let _: () = conn.del(&key).await.expect("del");
}
