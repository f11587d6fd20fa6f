//! Data commands: migrations up/down/up with concurrent runs, and seeding.

use merchant_api::ops::{migrate, seed};
use mongodb::bson::{Document, doc};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn migrations_round_trip_and_concurrent_runs_apply_each_once() {
    let app = spawn_app().await;
    let db = app.store.db();
    let products = db.collection::<Document>("products");
    let merchants = db.collection::<Document>("merchants");
    products
        .insert_one(doc! { "name": "legacy", "inventory": { "stock": 1 } })
        .await
        .expect("insert");
    merchants
        .insert_one(doc! { "email": "legacy@example.com" })
        .await
        .expect("insert");
    // Two concurrent `migrate up` runs: every version applied exactly once.
    let (a, b) = tokio::join!(migrate::up(&app.store), migrate::up(&app.store));
    let (a, b) = (a.expect("run a"), b.expect("run b"));
    let mut all: Vec<i32> = a.iter().chain(b.iter()).copied().collect();
    all.sort_unstable();
    assert_eq!(all, [1, 2, 3, 4, 5]);
    assert_eq!(
        db.collection::<Document>("migrations")
            .count_documents(doc! {})
            .await
            .expect("count"),
        5
    );
    let legacy = products
        .find_one(doc! { "name": "legacy" })
        .await
        .expect("find")
        .expect("doc");
    assert!(
        legacy
            .get_document("inventory")
            .expect("inv")
            .get_array("variants")
            .is_ok()
    );
    assert!(
        merchants
            .find_one(doc! {})
            .await
            .expect("find")
            .expect("doc")
            .get_document("onboarding")
            .is_ok()
    );
    // Down all five, then up again.
    assert_eq!(
        migrate::down(&app.store, 5).await.expect("down"),
        [5, 4, 3, 2, 1]
    );
    let legacy = products
        .find_one(doc! { "name": "legacy" })
        .await
        .expect("find")
        .expect("doc");
    assert!(
        legacy
            .get_document("inventory")
            .expect("inv")
            .get_array("variants")
            .is_err()
    );
    assert!(
        merchants
            .find_one(doc! {})
            .await
            .expect("find")
            .expect("doc")
            .get_document("onboarding")
            .is_err()
    );
    let names = products.list_index_names().await.expect("indexes");
    assert!(!names.iter().any(|n| n == "sku_unique"), "{names:?}");
    assert!(
        migrate::status(&app.store)
            .await
            .expect("status")
            .iter()
            .all(|(_, _, at)| at.is_none())
    );
    assert_eq!(
        migrate::up(&app.store).await.expect("up again"),
        [1, 2, 3, 4, 5]
    );
    assert!(
        migrate::status(&app.store)
            .await
            .expect("status")
            .iter()
            .all(|(_, _, at)| at.is_some())
    );
    app.finish().await;
}

#[tokio::test]
async fn seeded_demo_merchants_can_log_in_and_list_their_products() {
    let app = spawn_app().await;
    let created = seed::seed(&app.store, 1, 3).await.expect("seed");
    assert_eq!(created, ["demo1@merchant.test"]);
    assert!(
        seed::seed(&app.store, 1, 3)
            .await
            .expect("reseed")
            .is_empty(),
        "seeding is idempotent"
    );
    let login = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": "demo1@merchant.test", "password": seed::DEMO_PASSWORD }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    let token = login.body["data"]["token"].as_str().expect("token");
    let list = app.get("/api/merchant/products", Some(token)).await;
    assert_eq!(list.body["data"]["pagination"]["totalCount"], 3);
    app.finish().await;
}
