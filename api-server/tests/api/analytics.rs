//! Analytics (contract §2.10): every report's shape and status, aggregates against a small
//! hand-computed order fixture, the cache hit path, exports and two-merchant isolation.

use chrono::{Datelike, Duration, TimeZone, Utc};
use merchant_api::store::ObjectId;
use mongodb::bson::{DateTime, Document, doc};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

/// A merchant with its token and store.
struct Shop {
    token: String,
    store: ObjectId,
    p1: ObjectId,
    p2: ObjectId,
}

fn at(days_ago: i64, hour: u32, minute: u32) -> DateTime {
    let today = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight");
    let t = Utc.from_utc_datetime(&today) - Duration::days(days_ago)
        + Duration::hours(i64::from(hour))
        + Duration::minutes(i64::from(minute));
    DateTime::from_millis(t.timestamp_millis())
}

fn day(days_ago: i64) -> chrono::NaiveDate {
    Utc::now().date_naive() - Duration::days(days_ago)
}

struct Line(ObjectId, &'static str, i32, f64);

#[allow(clippy::too_many_arguments)]
fn order(
    n: u32,
    store: ObjectId,
    user: ObjectId,
    when: DateTime,
    lines: &[Line],
    total: f64,
    method: &str,
    status: &str,
) -> Document {
    let items: Vec<Document> = lines
        .iter()
        .map(|Line(p, name, q, price)| {
            doc! { "product": p, "store": store, "name": name, "image": "i.png", "quantity": q, "price": price, "subtotal": price * f64::from(*q) }
        })
        .collect();
    let subtotal: f64 = lines.iter().map(|l| l.3 * f64::from(l.2)).sum();
    // `updatedAt` is the insert time, as the consumer app's model stamps it (the sales
    // rollups' catch-up before a report finds changes by it).
    doc! {
        "orderNumber": format!("T-{}-{n}", store.to_hex()), "user": user, "store": store, "items": items,
        "totals": { "subtotal": subtotal, "tax": total - subtotal, "delivery": 0.0, "discount": 0.0, "total": total, "paidAmount": total },
        "payment": { "method": method, "status": "paid" }, "status": status, "createdAt": when, "updatedAt": DateTime::now(),
    }
}

fn oid(v: &Value) -> ObjectId {
    ObjectId::parse_str(v["id"].as_str().expect("id")).expect("oid")
}

/// Merchant A: P1 (General, 10.0, stock 10), P2 (Electronics, 25.0, stock 3), P3 (stock 0),
/// and orders O1..O6 (two excluded by status, one in the previous period).
async fn fixture(app: &TestApp) -> Shop {
    let (token, merchant, _) = app.register("analytics").await;
    app.store
        .ensure_category("Electronics")
        .await
        .expect("category");
    let p1 = oid(&app.product(&token, "Widget", 10).await);
    let mut body = crate::helpers::product_body("Gadget", 3);
    body["category"] = "Electronics".into();
    body["price"] = 25.0.into();
    let r = app.post("/api/merchant/products", Some(&token), body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let p2 = oid(&r.body["data"]);
    app.product(&token, "Empty", 0).await;
    let store = app.store_of(&merchant).await;
    let (u1, u2, u3) = (ObjectId::new(), ObjectId::new(), ObjectId::new());
    let orders = vec![
        order(
            1,
            store,
            u1,
            at(2, 10, 0),
            &[Line(p1, "Widget", 4, 10.0)],
            42.0,
            "upi",
            "delivered",
        ),
        order(
            2,
            store,
            u1,
            at(3, 14, 0),
            &[Line(p1, "Widget", 1, 10.0), Line(p2, "Gadget", 2, 25.0)],
            63.0,
            "card",
            "delivered",
        ),
        order(
            3,
            store,
            u2,
            at(3, 14, 30),
            &[Line(p2, "Gadget", 1, 25.0)],
            26.0,
            "upi",
            "placed",
        ),
        order(
            4,
            store,
            u2,
            at(5, 10, 15),
            &[Line(p1, "Widget", 3, 10.0)],
            31.0,
            "cod",
            "cancelled",
        ),
        order(
            5,
            store,
            u3,
            at(40, 9, 0),
            &[Line(p1, "Widget", 1, 10.0)],
            12.0,
            "card",
            "delivered",
        ),
        order(
            6,
            store,
            u3,
            at(2, 11, 0),
            &[Line(p2, "Gadget", 4, 25.0)],
            105.0,
            "card",
            "refunded",
        ),
    ];
    app.store
        .db()
        .collection::<Document>("orders")
        .insert_many(orders)
        .await
        .expect("orders");
    Shop {
        token,
        store,
        p1,
        p2,
    }
}

async fn data(app: &TestApp, path: &str, token: &str) -> Value {
    let r = app
        .get(&format!("/api/merchant/analytics{path}"), Some(token))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    assert_eq!(r.body["success"], true);
    r.body["data"].clone()
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 0.006)
}

#[tokio::test]
async fn sales_reports_match_hand_computed_totals_and_buckets() {
    let app = spawn_app().await;
    let shop = fixture(&app).await;
    let t = &shop.token;
    // Arrange: in the last 30 days O1 (42), O2 (63), O3 (26) count; O4 cancelled and O6
    // refunded do not; O5 (12) is in the previous 30 days.
    let o = data(&app, "/sales/overview", t).await;
    assert!(close(&o["totalRevenue"], 131.0), "{o}");
    assert_eq!(o["totalOrders"], 3);
    assert_eq!(o["totalItems"], 8);
    assert!(close(&o["averageOrderValue"], 43.67), "{o}");
    assert!(
        close(&o["previousPeriodRevenue"], 12.0) && o["previousPeriodOrders"] == 1,
        "{o}"
    );
    assert!(
        close(&o["revenueGrowth"], 991.67) && close(&o["ordersGrowth"], 200.0),
        "{o}"
    );

    let trends = data(&app, "/sales/trends?period=daily&days=30", t).await;
    let expected = [
        (day(3).to_string(), 89.0, 2, 4),
        (day(2).to_string(), 42.0, 1, 4),
    ];
    assert_eq!(trends.as_array().expect("array").len(), 2, "{trends}");
    for (row, (date, revenue, orders, items)) in
        trends.as_array().expect("array").iter().zip(expected)
    {
        assert_eq!(row["date"], date.as_str());
        assert!(
            close(&row["revenue"], revenue) && row["orders"] == orders && row["items"] == items,
            "{row}"
        );
    }
    let weekly = data(&app, "/sales/trends?period=weekly", t).await;
    let total: f64 = weekly
        .as_array()
        .expect("array")
        .iter()
        .map(|w| w["revenue"].as_f64().expect("revenue"))
        .sum();
    assert!((total - 131.0).abs() < 0.01, "{weekly}");

    let hours = data(&app, "/sales/by-time", t).await;
    assert_eq!(hours.as_array().expect("array").len(), 2, "{hours}");
    assert!(
        hours[0]["hour"] == 10 && close(&hours[0]["revenue"], 42.0) && hours[0]["orders"] == 1,
        "{hours}"
    );
    assert!(
        hours[1]["hour"] == 14 && close(&hours[1]["revenue"], 89.0) && hours[1]["orders"] == 2,
        "{hours}"
    );

    let days = data(&app, "/sales/by-day", t).await;
    let dow = |d: chrono::NaiveDate| i64::from(d.weekday().num_days_from_sunday()) + 1;
    let find = |n: i64| {
        days.as_array()
            .expect("array")
            .iter()
            .find(|d| d["dayOfWeek"] == n)
            .cloned()
            .expect("weekday")
    };
    assert!(close(&find(dow(day(2)))["revenue"], 42.0), "{days}");
    assert!(close(&find(dow(day(3)))["revenue"], 89.0), "{days}");

    let pay = data(&app, "/payments/breakdown", t).await;
    let rows = pay.as_array().expect("array");
    assert_eq!(
        (rows[0]["method"].as_str(), rows[1]["method"].as_str()),
        (Some("upi"), Some("card"))
    );
    assert!(
        close(&rows[0]["revenue"], 68.0)
            && rows[0]["orders"] == 2
            && close(&rows[0]["percentage"], 51.91),
        "{pay}"
    );
    assert!(close(&rows[1]["percentage"], 48.09), "{pay}");
    let sum: f64 = rows
        .iter()
        .map(|r| r["percentage"].as_f64().expect("pct"))
        .sum();
    assert!((sum - 100.0).abs() < 1e-9, "{pay}");

    let breakdown = data(&app, "/revenue/breakdown", t).await;
    assert!(
        close(&breakdown["total"], 131.0)
            && close(&breakdown["subtotal"], 125.0)
            && breakdown["orders"] == 3,
        "{breakdown}"
    );
    app.finish().await;
}

#[tokio::test]
async fn product_category_customer_and_inventory_reports_match_the_fixture() {
    let app = spawn_app().await;
    let shop = fixture(&app).await;
    let t = &shop.token;
    let top = data(&app, "/products/top-selling", t).await;
    assert_eq!(top[0]["productId"], shop.p2.to_hex().as_str(), "{top}");
    assert!(
        top[0]["totalQuantity"] == 3
            && close(&top[0]["totalRevenue"], 75.0)
            && top[0]["orderCount"] == 2,
        "{top}"
    );
    assert!(
        top[1]["totalQuantity"] == 5
            && close(&top[1]["totalRevenue"], 50.0)
            && close(&top[1]["averagePrice"], 10.0),
        "{top}"
    );
    let by_qty = data(&app, "/products/top-selling?sortBy=quantity&limit=1", t).await;
    assert_eq!(by_qty.as_array().expect("array").len(), 1);
    assert_eq!(by_qty[0]["productId"], shop.p1.to_hex().as_str());

    let cats = data(&app, "/categories/performance", t).await;
    let cat = |name: &str| {
        cats.as_array()
            .expect("array")
            .iter()
            .find(|c| c["categoryName"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {cats}"))
    };
    let (e, g) = (cat("Electronics"), cat("General"));
    assert!(
        close(&e["totalRevenue"], 75.0)
            && e["totalOrders"] == 2
            && e["totalProducts"] == 1
            && close(&e["revenueShare"], 60.0),
        "{cats}"
    );
    assert!(
        close(&g["totalRevenue"], 50.0)
            && g["totalOrders"] == 2
            && g["totalProducts"] == 2
            && close(&g["revenueShare"], 40.0),
        "{cats}"
    );

    // U1: O1+O2 (105, new), U2: O3 (26, new), U3: O5 only (12, before the range).
    let c = data(&app, "/customers/insights", t).await;
    assert_eq!(
        (
            c["totalCustomers"].as_i64(),
            c["newCustomers"].as_i64(),
            c["activeCustomers"].as_i64()
        ),
        (Some(3), Some(2), Some(2)),
        "{c}"
    );
    assert_eq!(
        (
            c["inactiveCustomers"].as_i64(),
            c["churnedCustomers"].as_i64()
        ),
        (Some(1), Some(0)),
        "{c}"
    );
    assert!(
        close(&c["ltv"]["averageLTV"], 47.67) && c["ltv"]["highValueCount"] == 1,
        "{c}"
    );
    assert!(
        c["retention"]["repeatCustomerCount"] == 1
            && close(&c["retention"]["repeatCustomerRate"], 33.33),
        "{c}"
    );
    let segs = data(&app, "/customers/segments", t).await;
    let n: i64 = segs["segments"]
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["customers"].as_i64().expect("n"))
        .sum();
    assert_eq!(n, 3, "{segs}");
    let list = data(&app, "/customers/list?limit=2", t).await;
    assert_eq!(list["pagination"]["total"], 3);
    assert!(close(&list["customers"][0]["totalSpent"], 105.0), "{list}");

    let inv = data(&app, "/inventory/status", t).await;
    assert_eq!(
        (
            inv["totalProducts"].as_i64(),
            inv["inStockProducts"].as_i64()
        ),
        (Some(3), Some(2)),
        "{inv}"
    );
    assert_eq!(
        (
            inv["lowStockProducts"].as_i64(),
            inv["outOfStockProducts"].as_i64()
        ),
        (Some(1), Some(1)),
        "{inv}"
    );
    assert_eq!(inv["lowStockItems"][0]["name"], "Gadget");
    assert_eq!(inv["outOfStockItems"][0]["name"], "Empty");

    let stockout = data(&app, &format!("/forecast/stockout/{}", shop.p2.to_hex()), t).await;
    // 3 units sold over the 30(31)-day range, 3 in stock.
    assert!(
        stockout["willStockOut"] == true && stockout["currentStock"] == 3,
        "{stockout}"
    );
    let demand = data(
        &app,
        &format!("/forecast/demand/{}?days=5", shop.p1.to_hex()),
        t,
    )
    .await;
    assert_eq!(demand["forecast"].as_array().expect("array").len(), 5);
    let r = app
        .get(
            &format!(
                "/api/merchant/analytics/forecast/demand/{}",
                ObjectId::new().to_hex()
            ),
            Some(t),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    app.finish().await;
}

#[tokio::test]
async fn forecast_seasonal_and_other_reports_answer_the_contract_shapes() {
    let app = spawn_app().await;
    let shop = fixture(&app).await;
    let t = &shop.token;
    let f = data(&app, "/forecast/sales?days=7", t).await;
    let forecast = f["forecast"].as_array().expect("forecast array");
    assert_eq!(forecast.len(), 7);
    let sum: f64 = forecast
        .iter()
        .map(|d| d["predictedRevenue"].as_f64().expect("p"))
        .sum();
    assert!(close(&f["totalPredictedRevenue"], sum), "{f}");
    assert!(
        forecast
            .iter()
            .all(|d| d["confidenceLower"].as_f64() <= d["predictedRevenue"].as_f64())
    );
    let hist: f64 = f["historical"]
        .as_array()
        .expect("historical")
        .iter()
        .map(|d| d["revenue"].as_f64().expect("r"))
        .sum();
    assert!((hist - 131.0).abs() < 0.01, "{f}");
    assert_eq!(f["method"], "linear_regression");

    let s = data(&app, "/trends/seasonal?type=weekly", t).await;
    assert_eq!(s["trends"].as_array().expect("trends").len(), 7, "{s}");
    let monthly = data(&app, "/trends/seasonal", t).await;
    assert!(monthly["trends"].is_array());

    let cmp = data(&app, "/comparison", t).await;
    assert!(
        close(&cmp["metrics"]["revenue"]["current"], 131.0)
            && close(&cmp["metrics"]["revenue"]["previous"], 12.0),
        "{cmp}"
    );
    // The one-pass comparison agrees with the separate reports over the same ranges.
    let so = data(&app, "/sales/overview", t).await;
    let list = data(&app, "/customers/list", t).await;
    assert_eq!(
        (
            cmp["metrics"]["orders"]["current"].as_f64(),
            cmp["metrics"]["orders"]["previous"].as_f64(),
            cmp["metrics"]["customers"]["current"].as_f64(),
        ),
        (
            so["totalOrders"].as_f64(),
            so["previousPeriodOrders"].as_f64(),
            list["pagination"]["total"].as_f64(),
        ),
        "{cmp} {so}"
    );
    let rt = data(&app, "/realtime", t).await;
    assert_eq!(rt["recentOrders"].as_array().expect("recent").len(), 6);
    let ov = data(&app, "/overview", t).await;
    assert!(
        close(&ov["sales"]["totalRevenue"], 131.0) && ov["inventory"]["totalProducts"] == 3,
        "{ov}"
    );
    for path in [
        "/products/performance",
        "/inventory/stockout-prediction",
        "/offers/top",
    ] {
        assert!(data(&app, path, t).await.is_array(), "{path}");
    }
    let stats = data(&app, "/cache/stats", t).await;
    assert!(
        stats["enabled"].is_boolean() && stats["connected"].is_boolean(),
        "{stats}"
    );
    app.finish().await;
}

#[tokio::test]
async fn analytics_errors_use_the_contract_statuses() {
    let app = spawn_app().await;
    let a = fixture(&app).await;
    let (b_token, b_id, _) = app.register("other").await;
    let b_store = app.store_of(&b_id).await;
    // Another merchant's store: 403.
    let r = app
        .get(
            &format!(
                "/api/merchant/analytics/sales/overview?storeId={}",
                b_store.to_hex()
            ),
            Some(&a.token),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "Store not found or you do not have access to this store"
    );
    // Bad preset and bad dates: 400 naming the field.
    let r = app
        .get(
            "/api/merchant/analytics/sales/overview?preset=fortnight",
            Some(&a.token),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["errors"][0]["field"], "preset");
    let r = app
        .get(
            "/api/merchant/analytics/sales/by-day?startDate=2026-05-01&endDate=2026-04-01",
            Some(&a.token),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = app
        .get(
            "/api/merchant/analytics/products/top-selling?limit=0",
            Some(&a.token),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = app
        .get(
            "/api/merchant/analytics/trends/seasonal?type=hourly",
            Some(&a.token),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // No token: 401.
    assert_eq!(
        app.get("/api/merchant/analytics/sales/overview", None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // A merchant without a store: 404.
    app.store
        .db()
        .collection::<Document>("stores")
        .delete_many(doc! { "merchantId": ObjectId::parse_str(&b_id).expect("id") })
        .await
        .expect("delete");
    let r = app
        .get("/api/merchant/analytics/customers/insights", Some(&b_token))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(r.body["message"], "Store not found for merchant");
    // GET /export is the documented 404.
    let r = app
        .get("/api/merchant/analytics/export", Some(&a.token))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.body["message"],
        "Export endpoint not found. Use POST /api/merchant/analytics/export to create an export job."
    );
    let r = app
        .post(
            "/api/merchant/analytics/export",
            Some(&a.token),
            serde_json::json!({ "format": "pdf" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    app.finish().await;
}

#[tokio::test]
async fn a_second_read_is_a_cache_hit_with_identical_data_until_invalidated() {
    let app = spawn_app().await;
    let shop = fixture(&app).await;
    let path = "/api/merchant/analytics/categories/performance?preset=30d";
    let first = app.get(path, Some(&shop.token)).await;
    let second = app.get(path, Some(&shop.token)).await;
    assert_eq!(
        (first.header("x-cache"), second.header("x-cache")),
        (Some("MISS"), Some("HIT"))
    );
    // The same text: key order and number kinds (`5.0` against `5`) included.
    assert_eq!(first.body.to_string(), second.body.to_string());
    // A new order is not seen until the merchant's cache is invalidated.
    let extra = order(
        9,
        shop.store,
        ObjectId::new(),
        at(1, 12, 0),
        &[Line(shop.p1, "Widget", 1, 10.0)],
        10.0,
        "upi",
        "placed",
    );
    app.store
        .db()
        .collection::<Document>("orders")
        .insert_one(extra)
        .await
        .expect("insert");
    assert_eq!(app.get(path, Some(&shop.token)).await.body, first.body);
    let r = app
        .post(
            "/api/merchant/analytics/cache/invalidate",
            Some(&shop.token),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let fresh = app.get(path, Some(&shop.token)).await;
    assert_eq!(fresh.header("x-cache"), Some("MISS"));
    assert_ne!(fresh.body, first.body);
    // Warm-up fills the default reports.
    let r = app
        .post(
            "/api/merchant/analytics/cache/warm-up",
            Some(&shop.token),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        app.get("/api/merchant/analytics/sales/overview", Some(&shop.token))
            .await
            .header("x-cache"),
        Some("HIT")
    );
    app.finish().await;
}

#[tokio::test]
async fn every_cached_report_answers_a_hit_with_the_text_of_its_miss() {
    let app = spawn_app().await;
    let shop = fixture(&app).await;
    let product = shop.p1.to_hex();
    let reports = [
        "overview".to_string(),
        "sales/trends?period=weekly".into(),
        "products/performance".into(),
        "customers/insights".into(),
        "customers/list?limit=2".into(),
        "inventory/status".into(),
        "forecast/sales?days=3".into(),
        format!("forecast/stockout/{product}"),
        format!("forecast/demand/{product}"),
        "trends/seasonal?type=weekly".into(),
        "revenue/breakdown".into(),
        "comparison".into(),
    ];
    for report in reports {
        let path = format!("/api/merchant/analytics/{report}");
        let miss = app.get(&path, Some(&shop.token)).await;
        let hit = app.get(&path, Some(&shop.token)).await;
        assert_eq!(miss.status, StatusCode::OK, "{report}: {}", miss.body);
        assert_eq!(
            (miss.header("x-cache"), hit.header("x-cache")),
            (Some("MISS"), Some("HIT")),
            "{report}"
        );
        // Byte for byte: key order and number kinds (`5.0` against `5`) included.
        assert_eq!(miss.body.to_string(), hit.body.to_string(), "{report}");
    }
    app.finish().await;
}

#[tokio::test]
async fn each_merchant_sees_only_its_own_orders_and_exports() {
    let app = spawn_app().await;
    let a = fixture(&app).await;
    let (b_token, b_id, _) = app.register("other").await;
    let b_store = app.store_of(&b_id).await;
    let b_order = order(
        1,
        b_store,
        ObjectId::new(),
        at(2, 10, 0),
        &[Line(ObjectId::new(), "Other", 1, 1000.0)],
        1000.0,
        "wallet",
        "delivered",
    );
    app.store
        .db()
        .collection::<Document>("orders")
        .insert_one(b_order)
        .await
        .expect("insert");
    let b = data(&app, "/sales/overview", &b_token).await;
    assert!(
        close(&b["totalRevenue"], 1000.0) && b["totalOrders"] == 1,
        "{b}"
    );
    let a_over = data(&app, "/sales/overview", &a.token).await;
    assert!(close(&a_over["totalRevenue"], 131.0), "{a_over}");
    let b_pay = data(&app, "/payments/breakdown", &b_token).await;
    assert_eq!(b_pay.as_array().expect("array").len(), 1);
    assert_eq!(
        data(&app, "/customers/list", &b_token).await["pagination"]["total"],
        1
    );
    assert!(
        data(&app, "/products/top-selling", &a.token)
            .await
            .as_array()
            .expect("array")
            .iter()
            .all(|p| p["productName"] != "Other")
    );

    // Exports: A's CSV adds up to A's revenue; B cannot download it.
    let r = app
        .post(
            "/api/merchant/analytics/export",
            Some(&a.token),
            serde_json::json!({ "format": "csv", "type": "sales" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let url = r.body["data"]["downloadUrl"]
        .as_str()
        .expect("url")
        .to_string();
    let res = app
        .client
        .get(format!("{}{url}", app.address))
        .bearer_auth(&a.token)
        .send()
        .await
        .expect("download");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/csv")
    );
    let csv = res.text().await.expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "date,orders,revenue,items,averageOrderValue");
    let revenue: f64 = lines[1..]
        .iter()
        .map(|l| {
            l.split(',')
                .nth(2)
                .expect("revenue")
                .parse::<f64>()
                .expect("number")
        })
        .sum();
    assert!((revenue - 131.0).abs() < 0.01, "{csv}");
    assert_eq!(
        r.body["data"]["recordCount"].as_u64(),
        Some(lines.len() as u64 - 1)
    );
    assert_eq!(
        app.get(&url, Some(&b_token)).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .post(
            "/api/merchant/analytics/export",
            Some(&b_token),
            serde_json::json!({ "format": "json", "type": "products" }),
        )
        .await;
    let url = r.body["data"]["downloadUrl"]
        .as_str()
        .expect("url")
        .to_string();
    let res = app
        .client
        .get(format!("{}{url}", app.address))
        .bearer_auth(&b_token)
        .send()
        .await
        .expect("download");
    let rows: Value = res.json().await.expect("json");
    assert_eq!(rows[0]["productName"], "Other");
    app.finish().await;
}

#[tokio::test]
async fn seeded_orders_reference_the_merchants_products_and_add_up_in_the_reports() {
    use merchant_api::ops::seed::{SeedPlan, seed_plan};
    let app = spawn_app().await;
    // Arrange: one demo merchant, 12 products, 300 orders over 120 days.
    let plan = SeedPlan {
        merchants: 1,
        products: 12,
        orders: 300,
        seed: 7,
    };
    assert_eq!(
        seed_plan(&app.store, plan).await.expect("seed"),
        ["demo1@merchant.test"]
    );
    let orders = app.store.db().collection::<Document>("orders");
    assert_eq!(orders.count_documents(doc! {}).await.expect("count"), 300);
    let merchant = app
        .store
        .merchant_by_email("demo1@merchant.test")
        .await
        .expect("find")
        .expect("merchant");
    let store = app
        .store
        .default_shop(merchant.id)
        .await
        .expect("find")
        .expect("store")
        .id;
    assert_eq!(
        orders
            .count_documents(doc! { "items.store": { "$ne": store } })
            .await
            .expect("count"),
        0
    );
    let products: Vec<ObjectId> = app
        .store
        .db()
        .collection::<Document>("products")
        .distinct("_id", doc! { "merchantId": merchant.id })
        .await
        .expect("distinct")
        .into_iter()
        .filter_map(|b| b.as_object_id())
        .collect();
    let foreign = orders
        .count_documents(doc! { "items": { "$elemMatch": { "product": { "$nin": products } } } })
        .await
        .expect("count");
    assert_eq!(foreign, 0, "every item references a seeded product");
    // Act: the 1y overview against a direct count of the non-excluded orders.
    let login = app
        .post(
            "/api/merchant/auth/login",
            None,
            serde_json::json!({ "email": "demo1@merchant.test", "password": "demo-password" }),
        )
        .await;
    let token = login.body["data"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    let counted = orders
        .count_documents(doc! { "status": { "$nin": ["cancelled", "refunded"] } })
        .await
        .expect("count");
    let o = data(&app, "/sales/overview?preset=1y", &token).await;
    assert_eq!(o["totalOrders"].as_u64(), Some(counted), "{o}");
    let cats = data(&app, "/categories/performance?preset=1y", &token).await;
    assert!(
        cats.as_array().expect("array").len() >= 3,
        "products span several categories: {cats}"
    );
    app.finish().await;
}

/// An access token of an active team member of `merchant` with `role` and `permissions`.
async fn member_token(app: &TestApp, merchant: &str, role: &str, permissions: &[&str]) -> String {
    use merchant_api::security::jwt::{AuthKeys, Claims};
    let member = ObjectId::new();
    let user = doc! {
        "_id": member, "merchantId": ObjectId::parse_str(merchant).expect("id"),
        "email": format!("{}@example.com", member.to_hex()), "name": "Member", "role": role,
        "permissions": permissions.to_vec(), "status": "active", "createdAt": DateTime::now(),
    };
    app.store
        .db()
        .collection::<Document>("merchantusers")
        .insert_one(user)
        .await
        .expect("member");
    let keys = AuthKeys::new(
        &crate::helpers::ACCESS_SECRET.to_string().into(),
        &crate::helpers::REFRESH_SECRET.to_string().into(),
        std::time::Duration::from_secs(600),
        std::time::Duration::from_secs(600),
    );
    let claims = Claims {
        role: Some(role.into()),
        merchant_user_id: Some(member.to_hex()),
        ..Claims::for_merchant(merchant.to_string())
    };
    keys.sign_access(claims).expect("token")
}

#[tokio::test]
async fn analytics_reads_need_analytics_view_and_exports_need_analytics_export() {
    let app = spawn_app().await;
    let (_, merchant, _) = app.register("perm").await;
    // Staff's role defaults have no analytics permission.
    let staff = member_token(&app, &merchant, "staff", &[]).await;
    let r = app
        .get("/api/merchant/analytics/sales/overview", Some(&staff))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        (r.body["required"].as_str(), r.body["userRole"].as_str()),
        (Some("analytics:view"), Some("staff"))
    );
    let viewer = member_token(&app, &merchant, "manager", &["analytics:view"]).await;
    let r = app
        .get("/api/merchant/analytics/sales/overview", Some(&viewer))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post(
            "/api/merchant/analytics/export",
            Some(&viewer),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.body["required"], "analytics:export");
    app.finish().await;
}

#[tokio::test]
async fn a_merchant_cannot_grow_the_shared_cache_past_its_bound() {
    let app = crate::helpers::spawn_app_with(&["--analytics-cache-max-entries", "3"]).await;
    let (token, merchant, _) = app.register("cachebound").await;
    let redis = redis::Client::open(crate::helpers::testenv("REDIS_URL")).expect("redis url");
    let mut conn = redis
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let mut most = 0u64;
    // Every distinct query is a new key a client can mint.
    for day in 1..=9 {
        let path = format!(
            "/api/merchant/analytics/sales/by-day?startDate=2026-05-0{day}&endDate=2026-06-01"
        );
        let r = app.get(&path, Some(&token)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let fields: u64 = redis::cmd("HLEN")
            .arg(format!("analytics:{merchant}"))
            .query_async(&mut conn)
            .await
            .expect("HLEN");
        most = most.max(fields);
    }
    assert!(most <= 3, "the merchant's cache held {most} entries");
    assert!(most >= 2, "results were cached at all ({most})");
    // Still a cache: a repeated query is a hit.
    let path = "/api/merchant/analytics/sales/overview?preset=7d";
    app.get(path, Some(&token)).await;
    assert_eq!(
        app.get(path, Some(&token)).await.header("x-cache"),
        Some("HIT")
    );
    app.finish().await;
}
