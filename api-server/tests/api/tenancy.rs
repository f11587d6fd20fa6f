//! Tenant isolation: on an order shared by several merchants each one acts only on its own
//! lines, and every route that takes an id answers another merchant with a 404 (never a 403,
//! never the data) and leaves the document untouched.

use merchant_api::store::{ObjectId, orders::OrderDoc};
use mongodb::bson::{Document, doc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    cashback::request as cashback_request,
    helpers::{Resp, TestApp, spawn_app},
    notifications::created as notification,
    order_fixtures::{Shop, days_ago, insert, order, shop, stock_of},
    permissions::member_token,
};

/// An order with 2 units of A's product (20.00) and 3 of B's (30.00), paid 50.00.
fn shared_order(a: &Shop, b: &Shop) -> OrderDoc {
    let mut o = order(a.store, a.product_id(), 2, 10.0, "placed", days_ago(0));
    let mut line = o.items[0].clone();
    line.id = Some(ObjectId::new());
    line.product = b.product_id();
    line.shop = b.store;
    line.quantity = 3;
    line.subtotal = 30.0;
    o.items.push(line);
    o.totals.subtotal = 50.0;
    o.totals.total = 50.0;
    o.totals.paid_amount = 50.0;
    o
}

async fn raw_order(app: &TestApp, id: ObjectId) -> Document {
    app.store
        .db()
        .collection::<Document>("orders")
        .find_one(doc! { "_id": id })
        .await
        .expect("read")
        .expect("order")
}

fn refund(amount: f64) -> Value {
    json!({ "amount": amount, "reason": "The customer returned it" })
}

#[tokio::test]
async fn on_a_shared_order_each_merchant_cancels_and_refunds_only_its_own_lines() {
    // Arrange
    let app = spawn_app().await;
    let a = shop(&app, "share-a", 10).await;
    let b = shop(&app, "share-b", 10).await;
    let o = shared_order(&a, &b);
    insert(&app, std::slice::from_ref(&o)).await;
    let path = format!("/api/merchant/orders/{}", o.id.to_hex());
    // Act: A cancels.
    let cancel = app
        .put(
            &format!("{path}/status"),
            a.t(),
            json!({ "status": "cancelled" }),
        )
        .await;
    // Assert: A's lines are cancelled and restocked; B's line and stock are untouched.
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.body);
    assert_eq!(cancel.body["data"]["status"], "cancelled");
    assert_eq!(
        (stock_of(&app, &a).await, stock_of(&app, &b).await),
        (12, 10)
    );
    let seen_by_b = app.get(&path, b.t()).await;
    assert_eq!(
        seen_by_b.body["data"]["status"], "placed",
        "{}",
        seen_by_b.body
    );
    let b_items = seen_by_b.body["data"]["items"].as_array().expect("items");
    assert_eq!(b_items.len(), 1, "B sees only its own line");
    assert_eq!(b_items[0]["quantity"], 3);
    let raw = raw_order(&app, o.id).await;
    let lines = raw.get_array("items").expect("items");
    let status_of = |i: usize| {
        lines[i]
            .as_document()
            .and_then(|l| l.get_str("status").ok())
            .map(str::to_string)
    };
    assert_eq!(status_of(0).as_deref(), Some("cancelled"));
    assert_ne!(status_of(1).as_deref(), Some("cancelled"));
    assert_eq!(raw.get_str("status"), Ok("placed"));
    // B still moves its own line forward; A's view stays cancelled.
    let confirm = app
        .put(
            &format!("{path}/status"),
            b.t(),
            json!({ "status": "confirmed" }),
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert_eq!(confirm.body["data"]["status"], "confirmed");
    assert_eq!(
        app.get(&path, a.t()).await.body["data"]["status"],
        "cancelled"
    );
    // Refunds are bounded by each merchant's own lines: A 20.00, B 30.00.
    let too_much = app
        .post(&format!("{path}/refund"), a.t(), refund(25.0))
        .await;
    assert_eq!(
        too_much.status,
        StatusCode::BAD_REQUEST,
        "{}",
        too_much.body
    );
    let ok_a = app
        .post(&format!("{path}/refund"), a.t(), refund(20.0))
        .await;
    assert_eq!(ok_a.status, StatusCode::OK, "{}", ok_a.body);
    let again = app
        .post(&format!("{path}/refund"), a.t(), refund(1.0))
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    let ok_b = app
        .post(&format!("{path}/refund"), b.t(), refund(30.0))
        .await;
    assert_eq!(ok_b.status, StatusCode::OK, "{}", ok_b.body);
    let raw = raw_order(&app, o.id).await;
    assert_eq!(
        raw.get_document("payment")
            .and_then(|p| p.get_str("status")),
        Ok("refunded")
    );
    let b_view = app.get(&path, b.t()).await.body["data"]["refunds"].clone();
    assert_eq!(b_view.as_array().map(Vec::len), Some(1), "{b_view}");
    assert_eq!(b_view[0]["amount"], 30.0);
    app.finish().await;
}

#[tokio::test]
async fn a_shared_order_reaches_a_status_once_every_merchant_has_moved_its_lines() {
    let app = spawn_app().await;
    let a = shop(&app, "both-a", 10).await;
    let b = shop(&app, "both-b", 10).await;
    let o = shared_order(&a, &b);
    insert(&app, std::slice::from_ref(&o)).await;
    let path = format!("/api/merchant/orders/{}/status", o.id.to_hex());
    let confirmed = json!({ "status": "confirmed" });
    assert_eq!(
        app.put(&path, a.t(), confirmed.clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(raw_order(&app, o.id).await.get_str("status"), Ok("placed"));
    // A cannot confirm its lines twice…
    let twice = app.put(&path, a.t(), confirmed.clone()).await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST, "{}", twice.body);
    // …and once B has confirmed too, the whole order is confirmed.
    assert_eq!(
        app.put(&path, b.t(), confirmed).await.status,
        StatusCode::OK
    );
    assert_eq!(
        raw_order(&app, o.id).await.get_str("status"),
        Ok("confirmed")
    );
    app.finish().await;
}

/// Every status is 404.
fn all_404(label: &str, responses: &[Resp]) {
    for (i, r) in responses.iter().enumerate() {
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{label} #{i}: {}", r.body);
        assert_eq!(r.body["success"], false, "{label} #{i}");
    }
}

#[tokio::test]
async fn another_merchants_documents_are_not_found_for_every_read_and_mutation() {
    // Arrange: A owns a product with a variant, an order, a notification, a team member and a
    // cashback request; B is another merchant.
    let app = spawn_app().await;
    let a = shop(&app, "owner-a", 10).await;
    let b = shop(&app, "other-b", 10).await;
    let a_id = a.merchant.to_hex();
    let pid = a.product_id().to_hex();
    let variant = app
        .post(
            &format!("/api/merchant/products/{pid}/variants"),
            a.t(),
            json!({ "type": "size", "value": "M", "stock": 4 }),
        )
        .await;
    let vid = variant.body["data"]["variant"]["variantId"]
        .as_str()
        .expect("variant id")
        .to_string();
    let o = order(a.store, a.product_id(), 1, 10.0, "placed", days_ago(0));
    insert(&app, std::slice::from_ref(&o)).await;
    let oid = o.id.to_hex();
    let nid = notification(&app, a.merchant, "For A only", "high").await;
    let (_, member) = member_token(&app, &a_id, "staff").await;
    let cb = cashback_request(&app, &a.token, &a_id, 100.0, 10.0).await;
    let cid = cb["_id"].as_str().expect("cashback id").to_string();
    let bt = b.t();
    let p = format!("/api/merchant/products/{pid}");
    let v = format!("{p}/variants/{vid}");
    // Act + Assert: products and variants.
    all_404(
        "products",
        &[
            app.get(&p, bt).await,
            app.put(&p, bt, json!({ "name": "Stolen" })).await,
            app.get(&format!("{p}/variants"), bt).await,
            app.post(&format!("{p}/variants"), bt, json!({ "value": "XL" }))
                .await,
            app.get(&v, bt).await,
            app.put(&v, bt, json!({ "stock": 0 })).await,
            app.post(&format!("{p}/stock"), bt, json!({ "quantity": -1 }))
                .await,
            app.post(&format!("{v}/stock"), bt, json!({ "quantity": -1 }))
                .await,
            app.get(&format!("{p}/reviews"), bt).await,
            app.delete(&v, bt).await,
            app.delete(&p, bt).await,
        ],
    );
    // Orders.
    let or = format!("/api/merchant/orders/{oid}");
    all_404(
        "orders",
        &[
            app.get(&or, bt).await,
            app.put(
                &format!("{or}/status"),
                bt,
                json!({ "status": "cancelled" }),
            )
            .await,
            app.put(
                &format!("{or}/status"),
                bt,
                json!({ "status": "confirmed" }),
            )
            .await,
            app.post(&format!("{or}/refund"), bt, refund(1.0)).await,
        ],
    );
    let bulk = app
        .post(
            "/api/merchant/orders/bulk-action",
            bt,
            json!({ "action": "cancel", "orderIds": [oid], "reason": "not mine" }),
        )
        .await;
    assert_eq!(
        bulk.body["data"]["summary"]["succeeded"], 0,
        "{}",
        bulk.body
    );
    // Notifications.
    let n = format!("/api/merchant/notifications/{nid}");
    all_404(
        "notifications",
        &[
            app.get(&n, bt).await,
            app.put(&format!("{n}/archive"), bt, json!({})).await,
            app.post(&format!("{n}/mark-read"), bt, json!({})).await,
            app.delete(&n, bt).await,
        ],
    );
    for bulk in ["mark-multiple-read", "delete-multiple"] {
        app.post(
            &format!("/api/merchant/notifications/{bulk}"),
            bt,
            json!({ "notificationIds": [nid] }),
        )
        .await;
    }
    // Team members.
    let m = format!("/api/merchant/team/{member}");
    all_404(
        "team",
        &[
            app.get(&m, bt).await,
            app.put(&format!("{m}/role"), bt, json!({ "role": "admin" }))
                .await,
            app.put(&format!("{m}/status"), bt, json!({ "status": "suspended" }))
                .await,
            app.post(&format!("{m}/resend-invite"), bt, json!({})).await,
            app.delete(&m, bt).await,
        ],
    );
    // Cashback.
    let c = format!("/api/merchant/cashback/{cid}");
    all_404(
        "cashback",
        &[
            app.get(&c, bt).await,
            app.put(&format!("{c}/approve"), bt, json!({})).await,
            app.put(
                &format!("{c}/reject"),
                bt,
                json!({ "reason": "Not eligible at all" }),
            )
            .await,
            app.put(
                &format!("{c}/mark-paid"),
                bt,
                json!({ "paymentMethod": "wallet" }),
            )
            .await,
        ],
    );
    // Audit views by id hold none of A's records.
    for path in [
        format!("/api/merchant/audit/resource/product/{pid}"),
        format!("/api/merchant/audit/user/{member}"),
        format!("/api/merchant/audit/user/{a_id}"),
    ] {
        let r = app.get(&path, bt).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert_eq!(r.body["data"]["total"], 0, "{path}: {}", r.body);
    }
    // Everything of A is as it was.
    let at = a.t();
    let product = app.get(&p, at).await.body["data"].clone();
    assert_eq!(
        (
            product["name"].as_str(),
            product["inventory"]["stock"].as_i64()
        ),
        (Some("owner-a widget"), Some(10))
    );
    assert_eq!(app.get(&v, at).await.body["data"]["variant"]["stock"], 4);
    assert_eq!(app.get(&or, at).await.body["data"]["status"], "placed");
    let note = app.get(&n, at).await;
    assert_eq!(
        (
            note.status,
            note.body["data"]["isRead"].clone(),
            note.body["data"]["isArchived"].clone()
        ),
        (StatusCode::OK, json!(false), json!(false))
    );
    let mem = app.get(&m, at).await;
    assert_eq!(
        (
            mem.status,
            mem.body["data"]["role"].clone(),
            mem.body["data"]["status"].clone()
        ),
        (StatusCode::OK, json!("staff"), json!("active")),
        "{}",
        mem.body
    );
    assert_eq!(app.get(&c, at).await.body["data"]["status"], "pending");
    app.finish().await;
}

#[tokio::test]
async fn concurrent_cancels_of_a_merchants_lines_restore_its_stock_once() {
    // Arrange
    let app = spawn_app().await;
    let a = shop(&app, "race-a", 10).await;
    let b = shop(&app, "race-b", 10).await;
    let o = shared_order(&a, &b);
    insert(&app, std::slice::from_ref(&o)).await;
    let path = format!("/api/merchant/orders/{}/status", o.id.to_hex());
    // Act: five cancels of A's lines at once.
    let cancels = (0..5).map(|_| app.put(&path, a.t(), json!({ "status": "cancelled" })));
    let results = futures::future::join_all(cancels).await;
    // Assert: one wins, the others are illegal transitions; A's 2 units come back once.
    let won = results
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(
        won,
        1,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(
        results
            .iter()
            .all(|r| r.status == StatusCode::OK || r.status == StatusCode::BAD_REQUEST)
    );
    assert_eq!(
        (stock_of(&app, &a).await, stock_of(&app, &b).await),
        (12, 10)
    );
    app.finish().await;
}
