//! Stock: atomic conditional adjustments, backorders, variants and the low-stock listing.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn concurrent_decrements_never_oversell() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("oversell").await;
    let p = app.product(&token, "Limited Edition", 10).await;
    let path = format!(
        "/api/merchant/products/{}/stock",
        p["id"].as_str().expect("id")
    );
    // Act: 24 buyers race for 10 units.
    let attempts = (0..24).map(|_| {
        app.post(
            &path,
            Some(&token),
            json!({ "quantity": -1, "reason": "sale" }),
        )
    });
    let results = futures::future::join_all(attempts).await;
    // Assert: exactly 10 succeed, the rest get 409, stock ends at zero.
    let ok = results
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let conflicts = results
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, conflicts), (10, 14));
    let after = app
        .get(
            &format!("/api/merchant/products/{}", p["id"].as_str().expect("id")),
            Some(&token),
        )
        .await;
    assert_eq!(after.body["data"]["inventory"]["stock"], 0);
    assert_eq!(after.body["data"]["isOutOfStock"], true);
    app.finish().await;
}

#[tokio::test]
async fn backorders_allow_negative_stock_and_variants_adjust_atomically() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("backorder").await;
    let t = Some(token.as_str());
    let p = app.product(&token, "Preorder", 1).await;
    let id = p["id"].as_str().expect("id");
    let too_many = app
        .post(
            &format!("/api/merchant/products/{id}/stock"),
            t,
            json!({ "quantity": -2 }),
        )
        .await;
    assert_eq!(
        (too_many.status, too_many.body["message"].clone()),
        (StatusCode::CONFLICT, json!("Insufficient stock"))
    );
    let zero = app
        .post(
            &format!("/api/merchant/products/{id}/stock"),
            t,
            json!({ "quantity": 0 }),
        )
        .await;
    assert_eq!(zero.status, StatusCode::BAD_REQUEST);
    app.put(
        &format!("/api/merchant/products/{id}"),
        t,
        json!({ "inventory": { "allowBackorders": true } }),
    )
    .await;
    let back = app
        .post(
            &format!("/api/merchant/products/{id}/stock"),
            t,
            json!({ "adjustment": -3 }),
        )
        .await;
    assert_eq!(
        (back.status, back.body["data"]["stock"].as_i64()),
        (StatusCode::OK, Some(-2))
    );
    let restock = app
        .post(
            &format!("/api/merchant/products/{id}/stock"),
            t,
            json!({ "quantity": 12 }),
        )
        .await;
    assert_eq!(restock.body["data"]["stock"], 10);
    // Variant stock
    let v = app
        .post(
            &format!("/api/merchant/products/{id}/variants"),
            t,
            json!({ "type": "size", "value": "S", "stock": 2 }),
        )
        .await;
    let vid = v.body["data"]["variant"]["variantId"]
        .as_str()
        .expect("vid");
    let vpath = format!("/api/merchant/products/{id}/variants/{vid}/stock");
    let sold = app.post(&vpath, t, json!({ "quantity": -2 })).await;
    assert_eq!(
        (sold.status, sold.body["data"]["stock"].as_i64()),
        (StatusCode::OK, Some(0))
    );
    app.put(
        &format!("/api/merchant/products/{id}"),
        t,
        json!({ "inventory": { "allowBackorders": false } }),
    )
    .await;
    let none_left = app.post(&vpath, t, json!({ "quantity": -1 })).await;
    assert_eq!(none_left.status, StatusCode::CONFLICT);
    let missing = app
        .post(
            &format!("/api/merchant/products/{id}/variants/nope/stock"),
            t,
            json!({ "quantity": 1 }),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    app.finish().await;
}

#[tokio::test]
async fn low_stock_lists_products_at_or_below_their_threshold_ascending() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("lowstock").await;
    let t = Some(token.as_str());
    for (name, stock) in [("Plenty", 40), ("Few", 4), ("None", 0), ("Some", 8)] {
        app.product(&token, name, stock).await;
    }
    let own = app.get("/api/merchant/products/low-stock", t).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    let names: Vec<&str> = own.body["data"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["None", "Few"]);
    let dashboard = app
        .get("/api/merchant/dashboard/low-stock?threshold=10", t)
        .await;
    let names: Vec<&str> = dashboard.body["data"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["None", "Few", "Some"]);
    assert_eq!(dashboard.body["data"][0]["currentStock"], 0);
    app.finish().await;
}

/// Titles of the caller's stock notifications, oldest first.
async fn stock_notes(app: &crate::helpers::TestApp, token: Option<&str>) -> Vec<String> {
    let r = app
        .get(
            "/api/merchant/notifications?type=product&order=asc&limit=100",
            token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["title"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn product_and_variant_updates_raise_one_notification_per_crossing() {
    // Arrange: stock 50.
    let app = spawn_app().await;
    let (token, _, _) = app.register("crossings").await;
    let t = Some(token.as_str());
    let p = app.product(&token, "Crossing Lamp", 50).await;
    let path = format!("/api/merchant/products/{}", p["id"].as_str().expect("id"));
    let low = json!({"status":"active","inventory":{"stock":3,"trackInventory":true,"lowStockThreshold":10}});
    // Act + Assert: 50 → 3 under a threshold of 10 is one low-stock crossing…
    let r = app.put(&path, t, low.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(stock_notes(&app, t).await, ["Low stock"]);
    // …sending the same stock again crosses nothing…
    app.put(&path, t, low.clone()).await;
    assert_eq!(stock_notes(&app, t).await, ["Low stock"]);
    // …running out is the next crossing, restocking none.
    app.put(&path, t, json!({ "inventory": { "stock": 0 } }))
        .await;
    app.put(&path, t, json!({ "inventory": { "stock": 40 } }))
        .await;
    assert_eq!(stock_notes(&app, t).await, ["Low stock", "Out of stock"]);
    // Concurrent updates to the same low level: one crossing, one notification.
    let puts = (0..5).map(|_| app.put(&path, t, low.clone()));
    let results = futures::future::join_all(puts).await;
    assert!(results.iter().all(|r| r.status == StatusCode::OK));
    assert_eq!(stock_notes(&app, t).await.len(), 3);
    // A variant: created with 8 units (no crossing), updated to 0 (one), again to 0 (none).
    let created = app
        .post(
            &format!("{path}/variants"),
            t,
            json!({ "type": "size", "value": "M", "stock": 8 }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let vid = created.body["data"]["variant"]["variantId"]
        .as_str()
        .expect("variant id");
    assert_eq!(stock_notes(&app, t).await.len(), 3);
    for _ in 0..2 {
        let r = app
            .put(&format!("{path}/variants/{vid}"), t, json!({ "stock": 0 }))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let notes = stock_notes(&app, t).await;
    assert_eq!(notes.len(), 4, "{notes:?}");
    assert_eq!(notes[3], "Out of stock");
    app.finish().await;
}
