//! Sales rollups (`store::rollups`): every rollup-backed report equals the raw aggregation over
//! the orders, on random orders, for random ranges off the hour, after consumer-side changes
//! the catch-up must find, and after changes made through the API.

use merchant_api::store::{
    ObjectId, Store,
    analytics::{Bucket, Scope, TimeKey},
    order_analytics::ProductSales,
};
use mongodb::bson::{Bson, DateTime, Document, doc};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::helpers::spawn_app_with;

const DAY: i64 = 86_400_000;
const STATUSES: [&str; 6] = [
    "placed",
    "confirmed",
    "delivered",
    "cancelled",
    "refunded",
    "dispatched",
];

/// A random order of one or both stores, created within the last 40 days (some in the last
/// hour), with the shapes the consumer app writes: subtotals present or not, payment methods
/// and coupons present, empty or absent.
fn random_order(
    rng: &mut StdRng,
    stores: &[ObjectId],
    products: &[ObjectId],
    now: i64,
) -> Document {
    let created = if rng.random_bool(0.1) {
        now - rng.random_range(0..3_600_000)
    } else {
        now - rng.random_range(0..40 * DAY)
    };
    let mut items = Vec::new();
    for _ in 0..rng.random_range(1..4) {
        let p = rng.random_range(0..products.len());
        let store = if rng.random_bool(0.8) {
            stores[0]
        } else {
            stores[1]
        };
        let (q, price) = (
            rng.random_range(1..5),
            f64::from(rng.random_range(100..5000)) / 100.0,
        );
        let mut line = doc! {
            "product": products[p], "store": store, "name": format!("Product {p}"),
            "image": format!("p{p}.png"), "quantity": q, "price": price,
        };
        if rng.random_bool(0.5) {
            line.insert("subtotal", price * f64::from(q));
        }
        items.push(line);
    }
    let total = f64::from(rng.random_range(500..50_000)) / 100.0;
    let mut order = doc! {
        "orderNumber": format!("R-{}", ObjectId::new().to_hex()), "user": ObjectId::new(),
        "items": items,
        "totals": {
            "subtotal": total * 0.9, "tax": total * 0.1, "delivery": 2.5, "discount": 1.25,
            "total": total, "paidAmount": total, "platformFee": total * 0.05,
        },
        "status": STATUSES[rng.random_range(0..STATUSES.len())],
        "createdAt": DateTime::from_millis(created), "updatedAt": DateTime::from_millis(created),
    };
    match rng.random_range(0..4) {
        0 => {}
        1 => {
            order.insert("payment", doc! { "method": "" });
        }
        k => {
            order.insert(
                "payment",
                doc! { "method": if k == 2 { "card" } else { "upi" } },
            );
        }
    }
    match rng.random_range(0..3) {
        0 => {}
        1 => {
            order.insert("couponCode", "SAVE10");
        }
        _ => {
            order.insert("couponCode", Bson::Null);
        }
    }
    order
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

fn same_buckets(a: &[Bucket], b: &[Bucket]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.key == y.key
                && x.orders == y.orders
                && x.items == y.items
                && close(x.revenue, y.revenue)
        })
}

fn same_products(a: &[ProductSales], b: &[ProductSales]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.product == y.product
                && x.quantity == y.quantity
                && x.orders == y.orders
                && close(x.revenue, y.revenue)
                && x.name == y.name
        })
}

/// Every rollup-backed report of `s` against the raw aggregation.
async fn assert_reports_match(store: &Store, s: Scope, product: ObjectId) {
    let what = format!("{} .. {}", s.start, s.end);
    let (a, b) = (
        store.sales_totals(s).await.expect("totals"),
        store.sales_totals_from_orders(s).await.expect("raw totals"),
    );
    assert!(
        same_buckets(std::slice::from_ref(&a), std::slice::from_ref(&b)),
        "totals {what}: {a:?} vs {b:?}"
    );
    for key in [
        TimeKey::Day,
        TimeKey::IsoWeek,
        TimeKey::Month,
        TimeKey::Hour,
        TimeKey::DayOfWeek,
        TimeKey::DayOfMonth,
        TimeKey::MonthOfYear,
    ] {
        let a = store.sales_buckets(s, key).await.expect("buckets");
        let b = store.sales_buckets_from_orders(s, key).await.expect("raw");
        assert!(same_buckets(&a, &b), "{key:?} {what}:\n{a:?}\n{b:?}");
    }
    for field in ["payment.method", "couponCode"] {
        let a = store.sales_by_field(s, field).await.expect("by field");
        let b = store
            .sales_by_field_from_orders(s, field)
            .await
            .expect("raw");
        let same = a.len() == b.len()
            && a.iter().zip(&b).all(|(x, y)| {
                x.0 == y.0
                    && x.1.orders == y.1.orders
                    && close(x.1.revenue, y.1.revenue)
                    && close(x.2, y.2)
            });
        assert!(same, "{field} {what}:\n{a:?}\n{b:?}");
    }
    let (a, b) = (
        store.totals_breakdown(s).await.expect("breakdown"),
        store.totals_breakdown_from_orders(s).await.expect("raw"),
    );
    assert!(
        a.len() == b.len() && a.iter().all(|(k, v)| close(*v, b[k])),
        "breakdown {what}:\n{a:?}\n{b:?}"
    );
    for (by_quantity, limit) in [(false, 1000), (true, 1000), (false, 3)] {
        let a = store
            .shop_product_sales(s, by_quantity, limit)
            .await
            .expect("products");
        let b = store
            .product_sales(s.sales_lines(), by_quantity, limit)
            .await
            .expect("raw");
        assert!(same_products(&a, &b), "products {what}:\n{a:?}\n{b:?}");
    }
    let (a, b) = (
        store.product_daily_units(s, product).await.expect("daily"),
        store
            .product_daily_units_from_orders(s, product)
            .await
            .expect("raw"),
    );
    assert_eq!(a, b, "daily units {what}");
}

#[tokio::test]
async fn rollup_reports_equal_the_raw_aggregation_on_random_orders_and_ranges() {
    // The background task is off: this test builds and catches up itself.
    let app = spawn_app_with(&["--rollup-sync-interval-ms", "0"]).await;
    let store = &app.store;
    let mut rng = StdRng::seed_from_u64(20261208);
    let stores = [ObjectId::new(), ObjectId::new()];
    let products: Vec<ObjectId> = (0..6).map(|_| ObjectId::new()).collect();
    let now = DateTime::now().timestamp_millis();
    let orders = store.db().collection::<Document>("orders");
    let batch: Vec<Document> = (0..400)
        .map(|_| random_order(&mut rng, &stores, &products, now))
        .collect();
    orders.insert_many(batch).await.expect("orders");
    assert!(!store.rollups_ready().await.expect("meta"), "not built yet");
    let built = store
        .rebuild_rollups()
        .await
        .expect("build")
        .expect("claimed");
    assert_eq!(built.orders, 400);
    assert!(store.rollups_ready().await.expect("meta"));

    // The consumer app changes orders behind the API's back: statuses (with a new
    // `updatedAt`), new orders (some back-dated, `updatedAt` included), a line's quantity.
    let ids: Vec<ObjectId> = orders
        .distinct("_id", doc! {})
        .await
        .expect("ids")
        .into_iter()
        .filter_map(|b| b.as_object_id())
        .collect();
    for id in ids.iter().take(60) {
        let status = STATUSES[rng.random_range(0..STATUSES.len())];
        orders
            .update_one(
                doc! { "_id": id },
                doc! { "$set": { "status": status, "updatedAt": DateTime::now(), "items.0.quantity": 7 } },
            )
            .await
            .expect("update");
    }
    // New orders as the consumer app inserts them (`updatedAt` now): the report's own
    // catch-up finds them.
    let fresh: Vec<Document> = (0..40)
        .map(|_| {
            let mut o = random_order(&mut rng, &stores, &products, now);
            o.insert("updatedAt", DateTime::now());
            o
        })
        .collect();
    orders.insert_many(fresh).await.expect("fresh orders");
    let month = Scope {
        shop: stores[0],
        start: DateTime::from_millis(now - 30 * DAY),
        end: DateTime::from_millis(now),
    };
    assert_reports_match(store, month, products[0]).await;
    // An import that back-dates `updatedAt` too: found by the background pass (by `_id`).
    let imported: Vec<Document> = (0..40)
        .map(|_| random_order(&mut rng, &stores, &products, now))
        .collect();
    orders.insert_many(imported).await.expect("imported orders");
    assert!(store.sweep_rollups().await.expect("sweep") >= 40);

    // Ranges: presets ending now, whole days, ranges off the hour and the millisecond, short
    // ones inside an hour, and the previous period of a preset.
    let mut ranges = vec![
        (now - 30 * DAY, now),
        (now - 3_600_000, now),
        ((now / DAY - 10) * DAY, (now / DAY - 2) * DAY),
        (now - 60 * DAY, now - 30 * DAY),
    ];
    for _ in 0..3 {
        let start = now - rng.random_range(0..40 * DAY);
        ranges.push((start, start + rng.random_range(1..12 * DAY)));
    }
    let start = now - 5 * DAY + 1234;
    ranges.push((start, start + 1_800_000));
    for (i, (start, end)) in ranges.into_iter().enumerate() {
        // The second store (a few lines of shared orders) on two of the ranges.
        let shops = if i < 2 { &stores[..] } else { &stores[..1] };
        for &shop in shops {
            let s = Scope {
                shop,
                start: DateTime::from_millis(start),
                end: DateTime::from_millis(end),
            };
            assert_reports_match(store, s, products[0]).await;
        }
    }
    app.finish().await;
}

#[tokio::test]
async fn the_api_builds_the_rollups_and_reports_an_order_change_it_makes_at_once() {
    let app = spawn_app_with(&["--rollup-sync-interval-ms", "200"]).await;
    let (token, merchant, _) = app.register("rollups").await;
    let shop = app.store_of(&merchant).await;
    let mut built = false;
    for _ in 0..100 {
        if app.store.rollups_ready().await.expect("meta") {
            built = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        built,
        "the background task builds the rollups on a new database"
    );
    let mut rng = StdRng::seed_from_u64(7);
    let now = DateTime::now().timestamp_millis();
    let mut order = random_order(&mut rng, &[shop, shop], &[ObjectId::new()], now);
    order.insert("updatedAt", DateTime::now());
    // Two days ago, so the report reads it from day rows, not from a raw edge.
    order.insert(
        "createdAt",
        DateTime::from_millis(now - 2 * DAY - 7_200_000),
    );
    order.insert("status", "placed");
    let id = app
        .store
        .db()
        .collection::<Document>("orders")
        .insert_one(order)
        .await
        .expect("insert")
        .inserted_id
        .as_object_id()
        .expect("id");
    let overview = |body: serde_json::Value| body["data"]["totalOrders"].as_i64();
    let path = "/api/merchant/analytics/sales/overview?preset=7d";
    let before = app.get(path, Some(&token)).await;
    assert_eq!(overview(before.body.clone()), Some(1), "{}", before.body);
    let r = app
        .put(
            &format!("/api/merchant/orders/{}/status", id.to_hex()),
            Some(&token),
            serde_json::json!({ "status": "cancelled" }),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::OK, "{}", r.body);
    // The write dropped the cached report; the rollups already count the cancellation.
    let after = app.get(path, Some(&token)).await;
    assert_eq!(overview(after.body.clone()), Some(0), "{}", after.body);
    let s = Scope {
        shop,
        start: DateTime::from_millis(now - 7 * DAY),
        end: DateTime::from_millis(now),
    };
    assert_eq!(app.store.sales_totals(s).await.expect("totals").orders, 0);
    app.finish().await;
}
