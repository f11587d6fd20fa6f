//! Dashboard: figures equal values computed by hand from fixture orders, zero-filled series,
//! store narrowing, isolation between merchants and the analytics permission.

use merchant_api::store::ObjectId;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, spawn_app},
    order_fixtures::{Shop, days_ago, insert, member_token, order, shop},
};

async fn data(app: &TestApp, shop: &Shop, path: &str) -> Value {
    let r = app
        .get(&format!("/api/merchant/dashboard{path}"), shop.t())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    r.body["data"].clone()
}

fn revenue_sum(series: &Value) -> f64 {
    series
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["revenue"].as_f64())
        .sum()
}

/// Merchant A: five orders by three customers over 70 days (see the comments for the sums).
async fn fixtures(app: &TestApp, a: &Shop) -> ObjectId {
    let (u1, u2, u3) = (ObjectId::new(), ObjectId::new(), ObjectId::new());
    let p = a.product_id();
    let mut o = [
        order(a.store, p, 2, 10.0, "delivered", days_ago(1)), // current period: 20
        order(a.store, p, 1, 30.0, "placed", days_ago(3)),    // current period: 30
        order(a.store, p, 5, 10.0, "cancelled", days_ago(5)), // current period, no revenue
        order(a.store, p, 4, 10.0, "delivered", days_ago(35)), // previous period: 40
        order(a.store, p, 1, 100.0, "delivered", days_ago(70)), // older: 100
    ];
    for (o, u) in o.iter_mut().zip([u1, u2, u1, u1, u3]) {
        o.user = u;
    }
    insert(app, &o).await;
    o[0].id
}

#[tokio::test]
async fn dashboard_figures_equal_hand_computed_values() {
    let app = spawn_app().await;
    let a = shop(&app, "dash", 10).await;
    let b = shop(&app, "dashb", 10).await;
    let newest = fixtures(&app, &a).await;
    insert(
        &app,
        &[order(
            b.store,
            b.product_id(),
            1,
            500.0,
            "delivered",
            days_ago(1),
        )],
    )
    .await;
    // Metric cards: last 30 days against the 30 before.
    let m = data(&app, &a, "/metrics").await;
    assert_eq!(
        m["revenue"],
        json!({ "value": 50.0, "change": 25.0, "trend": "up", "period": "30d", "label": "Revenue", "icon": "currency" })
    );
    assert_eq!(
        (m["orders"]["value"].clone(), m["orders"]["change"].clone()),
        (json!(3.0), json!(200.0))
    );
    assert_eq!(
        (
            m["customers"]["value"].clone(),
            m["customers"]["change"].clone()
        ),
        (json!(2.0), json!(100.0))
    );
    assert_eq!(
        (
            m["avgOrderValue"]["value"].clone(),
            m["avgOrderValue"]["trend"].clone()
        ),
        (json!(25.0), json!("down"))
    );
    assert_eq!(m["avgOrderValue"]["change"], -37.5);
    assert_eq!(
        (
            m["conversionRate"]["value"].clone(),
            m["conversionRate"]["change"].clone()
        ),
        (json!(33.33), json!(-66.67))
    );
    assert_eq!(
        (
            m["products"]["value"].clone(),
            m["products"]["change"].clone()
        ),
        (json!(1.0), json!(100.0))
    );
    // Overview.
    let o = data(&app, &a, "").await;
    let metrics = &o["metrics"];
    assert_eq!(metrics["totalRevenue"]["value"], 190.0);
    assert_eq!(metrics["totalOrders"]["value"], 5.0);
    assert_eq!(metrics["totalCustomers"]["value"], 3.0);
    assert_eq!(
        (
            metrics["pendingOrders"].clone(),
            metrics["completedOrders"].clone(),
            metrics["cancelledOrders"].clone()
        ),
        (json!(1), json!(3), json!(1))
    );
    assert_eq!(
        (
            metrics["monthlyRevenue"].clone(),
            metrics["monthlyCustomers"].clone(),
            metrics["returningCustomers"].clone()
        ),
        (json!(50.0), json!(2), json!(1))
    );
    assert_eq!(
        (
            metrics["profitMargin"].clone(),
            metrics["activeProducts"].clone()
        ),
        (json!(30.0), json!(1))
    );
    assert_eq!(o["salesChart"].as_array().map(Vec::len), Some(30));
    assert_eq!(o["lowStockAlerts"][0]["currentStock"], 10);
    assert_eq!(o["topProducts"][0]["quantity"], 3);
    // Sales series: zero-filled days, oldest first; weeks and months hold the same sums.
    let days = data(&app, &a, "/sales-data").await;
    let days = days.as_array().expect("array");
    assert_eq!(days.len(), 30);
    assert!(days[0]["date"].as_str() < days[29]["date"].as_str());
    assert_eq!(
        days[28],
        json!({ "date": days[28]["date"], "revenue": 20.0, "orders": 1, "items": 2 })
    );
    assert_eq!(revenue_sum(&Value::Array(days.clone())), 50.0);
    assert_eq!(
        data(&app, &a, "/sales-data?period=7d")
            .await
            .as_array()
            .map(Vec::len),
        Some(7)
    );
    let quarter = data(&app, &a, "/sales-data?period=90d").await;
    assert_eq!(
        (quarter.as_array().map(Vec::len), revenue_sum(&quarter)),
        (Some(90), 190.0)
    );
    let weeks = data(&app, &a, "/sales-data?granularity=week").await;
    let first_week =
        chrono::NaiveDate::parse_from_str(weeks[0]["date"].as_str().expect("date"), "%Y-%m-%d")
            .expect("day");
    assert_eq!(chrono::Datelike::weekday(&first_week), chrono::Weekday::Mon);
    assert_eq!(revenue_sum(&weeks), 50.0);
    assert_eq!(
        revenue_sum(&data(&app, &a, "/sales-data?granularity=month").await),
        50.0
    );
    // Top products with growth against the previous period (4 units → 3).
    let top = data(&app, &a, "/top-products?sortBy=quantity").await;
    assert_eq!(
        top[0],
        json!({ "id": a.product_id().to_hex(), "name": "Widget", "revenue": 50.0, "quantity": 3, "growth": -25.0, "category": "General", "image": "https://img.example/w.png" })
    );
    // Activity: the product change is newest, then the newest order.
    let feed = data(&app, &a, "/activity?limit=2").await;
    assert_eq!(feed.as_array().map(Vec::len), Some(2));
    assert_eq!(feed[0]["type"], "product");
    assert_eq!(feed[1]["id"], json!(format!("order-{}", newest.to_hex())));
    // Isolation and store narrowing.
    let b_feed = data(&app, &b, "/activity").await;
    let b_ids: Vec<_> = b_feed
        .as_array()
        .expect("feed")
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(b_ids.len(), 2, "{b_feed}"); // B's product and B's order only
    assert!(!b_ids.contains(&json!(format!("order-{}", newest.to_hex()))));
    let b_top = data(&app, &b, "/top-products").await;
    assert_eq!(
        (b_top.as_array().map(Vec::len), b_top[0]["revenue"].clone()),
        (Some(1), json!(500.0))
    );
    assert_eq!(
        data(&app, &b, "").await["metrics"]["totalOrders"]["value"],
        1.0
    );
    assert_eq!(data(&app, &b, "/metrics").await["revenue"]["value"], 500.0);
    assert_eq!(
        data(&app, &a, &format!("/metrics?storeId={}", a.store.to_hex())).await["revenue"]["value"],
        50.0
    );
    let foreign = app
        .get(
            &format!(
                "/api/merchant/dashboard/metrics?storeId={}",
                b.store.to_hex()
            ),
            a.t(),
        )
        .await;
    assert_eq!(
        (foreign.status, foreign.body["errors"][0]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("storeId"))
    );
    let bad = app
        .get(
            "/api/merchant/dashboard/sales-data?period=1y&granularity=hour",
            a.t(),
        )
        .await;
    assert_eq!(bad.body["errors"].as_array().map(Vec::len), Some(2));
    app.finish().await;
}

#[tokio::test]
async fn a_merchant_without_orders_sees_zeros_and_staff_cannot_read_the_dashboard() {
    let app = spawn_app().await;
    let a = shop(&app, "empty", 10).await;
    let m = data(&app, &a, "/metrics").await;
    assert_eq!(
        m["revenue"],
        json!({ "value": 0.0, "change": 0.0, "trend": "neutral", "period": "30d", "label": "Revenue", "icon": "currency" })
    );
    assert_eq!(revenue_sum(&data(&app, &a, "/sales-data").await), 0.0);
    assert_eq!(data(&app, &a, "/top-products").await, json!([]));
    let staff = member_token(&app, a.merchant, "staff").await;
    let r = app.get("/api/merchant/dashboard", Some(&staff)).await;
    assert_eq!(
        (r.status, r.body["required"].clone()),
        (StatusCode::FORBIDDEN, json!("analytics:view"))
    );
    app.finish().await;
}

/// `(x-cache of inventory, inventory totalProducts, inventory lowStockProducts, dashboard
/// totalProducts, dashboard low-stock alerts)` as the merchant reads them now.
async fn cached_figures(
    app: &TestApp,
    token: &str,
) -> (Option<String>, Value, Value, Value, usize) {
    let inv = app
        .get("/api/merchant/analytics/inventory/status", Some(token))
        .await;
    assert_eq!(inv.status, StatusCode::OK, "{}", inv.body);
    let dash = app.get("/api/merchant/dashboard", Some(token)).await;
    assert_eq!(dash.status, StatusCode::OK, "{}", dash.body);
    let dash = &dash.body["data"];
    (
        inv.header("x-cache").map(str::to_string),
        inv.body["data"]["totalProducts"].clone(),
        inv.body["data"]["lowStockProducts"].clone(),
        dash["metrics"]["totalProducts"]["value"].clone(),
        dash["lowStockAlerts"].as_array().map_or(0, Vec::len),
    )
}

fn product_id_of(p: &Value) -> String {
    p["_id"]
        .as_str()
        .or(p["id"].as_str())
        .expect("id")
        .to_string()
}

#[tokio::test]
async fn cached_dashboard_and_inventory_figures_change_right_after_product_and_stock_writes() {
    // Arrange: one product with 50 units (low-stock threshold 5), both reports cached.
    let app = spawn_app().await;
    let (token, _, _) = app.register("fresh").await;
    let t = Some(token.as_str());
    let first = product_id_of(&app.product(&token, "Widget", 50).await);
    let cached = cached_figures(&app, &token).await;
    assert_eq!((&cached.2, cached.4), (&json!(0), 0));
    assert_eq!(cached_figures(&app, &token).await.0.as_deref(), Some("HIT"));

    // Act + assert: a stock adjustment down to 2 units shows at once as low stock.
    let r = app
        .post(
            &format!("/api/merchant/products/{first}/stock"),
            t,
            json!({ "quantity": -48, "reason": "count" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let after_stock = cached_figures(&app, &token).await;
    assert_eq!(after_stock.0.as_deref(), Some("MISS"));
    assert_eq!((after_stock.2, after_stock.4), (json!(1), 1));

    // A new product is counted at once.
    let second = product_id_of(&app.product(&token, "Gadget", 20).await);
    let after_create = cached_figures(&app, &token).await;
    assert_eq!(
        (after_create.1, after_create.3.as_f64()),
        (json!(2), Some(2.0))
    );

    // A deleted product is gone at once.
    let r = app
        .delete(&format!("/api/merchant/products/{second}"), t)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let after_delete = cached_figures(&app, &token).await;
    assert_eq!(
        (after_delete.1, after_delete.3.as_f64()),
        (json!(1), Some(1.0))
    );
    app.finish().await;
}

#[tokio::test]
async fn a_second_identical_dashboard_call_is_a_cache_hit_and_another_merchants_is_a_miss() {
    // Arrange: two merchants with one order each.
    let app = spawn_app().await;
    let a = shop(&app, "cachea", 10).await;
    let b = shop(&app, "cacheb", 10).await;
    insert(
        &app,
        &[
            order(a.store, a.product_id(), 2, 10.0, "delivered", days_ago(1)),
            order(b.store, b.product_id(), 1, 50.0, "delivered", days_ago(1)),
        ],
    )
    .await;
    for path in [
        "",
        "/metrics",
        "/top-products?sortBy=quantity",
        "/sales-data?period=7d",
    ] {
        let url = format!("/api/merchant/dashboard{path}");
        // Act: the same call twice by A, then once by B.
        let first = app.get(&url, a.t()).await;
        let second = app.get(&url, a.t()).await;
        let other = app.get(&url, b.t()).await;
        // Assert: A's repeat is served from the cache with the same data; B's is computed.
        assert_eq!(first.status, StatusCode::OK, "{path}: {}", first.body);
        assert_eq!(
            (
                first.header("x-cache"),
                second.header("x-cache"),
                other.header("x-cache")
            ),
            (Some("MISS"), Some("HIT"), Some("MISS")),
            "{path}"
        );
        // The same text: key order and number kinds (`5.0` against `5`) included.
        assert_eq!(first.body.to_string(), second.body.to_string(), "{path}");
        assert_ne!(first.body["data"], other.body["data"], "{path}");
    }
    // Other parameters are another entry; the live activity feed is never cached.
    let r = app
        .get("/api/merchant/dashboard/sales-data?period=30d", a.t())
        .await;
    assert_eq!(r.header("x-cache"), Some("MISS"));
    for _ in 0..2 {
        let r = app.get("/api/merchant/dashboard/activity", a.t()).await;
        assert_eq!(
            (r.status, r.header("x-cache")),
            (StatusCode::OK, Some("MISS"))
        );
    }
    app.finish().await;
}
