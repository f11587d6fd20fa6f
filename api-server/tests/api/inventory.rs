//! Oversell-proof stock: `POST …/inventory/adjustments` applies each operation once (its
//! mandatory `Idempotency-Key`), never oversells, compares-and-sets with `expectedStock`, and
//! every change (adjustments and `PUT` stock edits) lands in the ledger that the `GET` lists.

use futures::StreamExt;
use mongodb::bson::doc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{Resp, TestApp, spawn_app, unique},
    permissions::audit_records,
};

/// POST an adjustment to `path` with `key` (none: no header).
async fn adjust(app: &TestApp, token: &str, path: &str, key: Option<&str>, body: Value) -> Resp {
    let mut req = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(token)
        .json(&body);
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let res = req.send().await.expect("send");
    let (status, headers) = (res.status(), res.headers().clone());
    let body = res.json().await.unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
    }
}

/// A server, a merchant registered as `merchant` and its product holding `stock` units:
/// `(app, token, product id)`.
async fn stocked(merchant: &str, product: &str, stock: i64) -> (TestApp, String, String) {
    let app = spawn_app().await;
    let (token, _, _) = app.register(merchant).await;
    let p = app.product(&token, product, stock).await;
    let id = p["id"].as_str().expect("id").to_string();
    (app, token, id)
}

fn adjustments(id: &str) -> String {
    format!("/api/merchant/products/{id}/inventory/adjustments")
}

async fn stock_of(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app
        .get(&format!("/api/merchant/products/{id}"), Some(token))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"]["inventory"].clone()
}

async fn ledger(app: &TestApp, token: &str, path: &str) -> Value {
    let r = app.get(&format!("{path}?limit=100"), Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"].clone()
}

#[tokio::test]
async fn a_thousand_concurrent_decrements_sell_exactly_the_stock() {
    let (app, token, id) = stocked("oversell-ledger", "Drop", 100).await;
    let path = adjustments(&id);
    // 1,000 buyers of one unit each, 50 requests in flight at a time (the server runs them
    // all against one product document).
    let sales = (0..1000).map(|i| {
        let (app, token, path) = (&app, &token, &path);
        async move {
            let key = format!("sale-{i}");
            let body = json!({ "delta": -1, "reason": "sale", "reference": format!("order-{i}") });
            adjust(app, token, path, Some(&key), body).await
        }
    });
    let results: Vec<Resp> = futures::stream::iter(sales)
        .buffer_unordered(50)
        .collect()
        .await;
    let count = |s: StatusCode| results.iter().filter(|r| r.status == s).count();
    let others: Vec<_> = results
        .iter()
        .filter(|r| r.status != StatusCode::CREATED && r.status != StatusCode::CONFLICT)
        .map(|r| (r.status, r.body.clone()))
        .take(3)
        .collect();
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(
        (count(StatusCode::CREATED), count(StatusCode::CONFLICT)),
        (100, 900)
    );
    let refused = results
        .iter()
        .find(|r| r.status == StatusCode::CONFLICT)
        .expect("a refusal");
    assert_eq!(
        refused.body["code"], "INSUFFICIENT_STOCK",
        "{}",
        refused.body
    );
    assert_eq!(refused.body["message"], "Insufficient stock");
    assert_eq!(refused.body["currentStock"], 0);
    // The stock is gone, and the ledger holds exactly the 100 sales that took it.
    let inventory = stock_of(&app, &token, &id).await;
    assert_eq!(
        (
            inventory["stock"].clone(),
            inventory["availableStock"].clone()
        ),
        (json!(0), json!(0))
    );
    let entries: Vec<_> = app
        .store
        .db()
        .collection::<mongodb::bson::Document>("stockadjustments")
        .find(doc! { "productId": mongodb::bson::oid::ObjectId::parse_str(&id).expect("oid") })
        .await
        .expect("find")
        .collect::<Vec<_>>()
        .await;
    let deltas: Vec<i64> = entries
        .iter()
        .map(|e| e.as_ref().expect("entry").get_i64("delta").expect("delta"))
        .collect();
    assert_eq!((deltas.len(), deltas.iter().sum::<i64>()), (100, -100));
    // Every unit sold once: the ledger's stock steps are 100 → 0 without a repeat.
    let mut befores: Vec<i64> = entries
        .iter()
        .map(|e| {
            e.as_ref()
                .expect("entry")
                .get_i64("stockBefore")
                .expect("before")
        })
        .collect();
    befores.sort_unstable();
    assert_eq!(befores, (1..=100).collect::<Vec<i64>>());
    app.finish().await;
}

#[tokio::test]
async fn an_operation_applies_once_even_after_its_key_record_expired() {
    let (app, token, id) = stocked("once", "Kettle", 10).await;
    let id = id.as_str();
    let path = adjustments(id);
    let key = unique("restock");
    let body = json!({ "delta": 5, "reason": "restock", "reference": "PO-17" });
    let first = adjust(&app, &token, &path, Some(&key), body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let entry = &first.body["data"]["adjustment"];
    assert_eq!(
        (
            entry["stockBefore"].clone(),
            entry["stockAfter"].clone(),
            entry["delta"].clone()
        ),
        (json!(10), json!(15), json!(5))
    );
    assert_eq!(entry["operationId"], key.as_str());
    assert_eq!(entry["reference"], "PO-17");
    assert_eq!(entry["source"], "adjustment");
    assert!(entry["requestId"].is_string(), "{entry}");
    assert_eq!(first.body["data"]["stock"]["stock"], 15);
    assert_eq!(first.body["data"]["stock"]["availableStock"], 15);
    // A retry within the key's lifetime is the first answer again.
    let retry = adjust(&app, &token, &path, Some(&key), body.clone()).await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body, first.body);
    // The key record is forgotten (24 h later): the ledger still knows the operation.
    app.store
        .db()
        .collection::<mongodb::bson::Document>("idempotencykeys")
        .delete_many(doc! {})
        .await
        .expect("forget keys");
    let late = adjust(&app, &token, &path, Some(&key), body).await;
    assert_eq!(late.status, StatusCode::OK, "{}", late.body);
    assert_eq!(late.header("idempotent-replayed"), Some("true"));
    assert_eq!(late.body["data"]["adjustment"]["id"], entry["id"]);
    assert_eq!(stock_of(&app, &token, id).await["stock"], 15);
    // The same operation id for another change is refused, and changes nothing.
    app.store
        .db()
        .collection::<mongodb::bson::Document>("idempotencykeys")
        .delete_many(doc! {})
        .await
        .expect("forget keys");
    let other = json!({ "delta": 7, "reason": "restock" });
    let reused = adjust(&app, &token, &path, Some(&key), other).await;
    assert_eq!(
        reused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reused.body
    );
    assert_eq!(reused.body["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(stock_of(&app, &token, id).await["stock"], 15);
    app.finish().await;
}

#[tokio::test]
async fn bad_adjustments_name_the_field_and_change_nothing() {
    let (app, token, id) = stocked("bad-adjust", "Lamp", 3).await;
    let id = id.as_str();
    let path = adjustments(id);
    let no_key = adjust(
        &app,
        &token,
        &path,
        None,
        json!({ "delta": 1, "reason": "x" }),
    )
    .await;
    assert_eq!(no_key.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_key.body["code"], "IDEMPOTENCY_KEY_REQUIRED");
    assert_eq!(no_key.body["errors"][0]["field"], "Idempotency-Key");
    let cases = [
        (json!({ "delta": 1, "setTo": 4, "reason": "x" }), "setTo"),
        (json!({ "reason": "x" }), "delta"),
        (json!({ "delta": 0, "reason": "x" }), "delta"),
        (json!({ "setTo": -1, "reason": "x" }), "setTo"),
        (json!({ "delta": 1 }), "reason"),
        (
            json!({ "delta": 1, "reason": "x", "reference": "r".repeat(201) }),
            "reference",
        ),
    ];
    for (body, field) in cases {
        let r = adjust(&app, &token, &path, Some(&unique("bad")), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert_eq!(r.body["errors"][0]["field"], field, "{body}: {}", r.body);
    }
    let typed = adjust(
        &app,
        &token,
        &path,
        Some(&unique("bad")),
        json!({ "delta": "1", "reason": "x" }),
    )
    .await;
    assert_eq!(typed.status, StatusCode::BAD_REQUEST, "{}", typed.body);
    let unknown = adjustments(&mongodb::bson::oid::ObjectId::new().to_hex());
    let missing = adjust(
        &app,
        &token,
        &unknown,
        Some(&unique("k")),
        json!({ "delta": 1, "reason": "x" }),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // Another merchant's product is not found either.
    let (other, _, _) = app.register("bad-adjust-other").await;
    let theirs = adjust(
        &app,
        &other,
        &path,
        Some(&unique("k")),
        json!({ "delta": 1, "reason": "x" }),
    )
    .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(stock_of(&app, &token, id).await["stock"], 3);
    assert_eq!(
        ledger(&app, &token, &path).await["pagination"]["totalCount"],
        0
    );
    app.finish().await;
}

#[tokio::test]
async fn expected_stock_makes_a_stock_count_compare_and_set() {
    let (app, token, id) = stocked("count", "Mug", 10).await;
    let id = id.as_str();
    let path = adjustments(id);
    let stale = json!({ "setTo": 7, "expectedStock": 9, "reason": "count" });
    let r = adjust(&app, &token, &path, Some(&unique("count")), stale).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(
        (r.body["code"].clone(), r.body["currentStock"].clone()),
        (json!("STOCK_CHANGED"), json!(10))
    );
    let fresh =
        json!({ "setTo": 7, "expectedStock": 10, "reason": "count", "reference": "count-2026-12" });
    let r = adjust(&app, &token, &path, Some(&unique("count")), fresh).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let entry = &r.body["data"]["adjustment"];
    assert_eq!(
        (entry["delta"].clone(), entry["stockAfter"].clone()),
        (json!(-3), json!(7))
    );
    // A decrement guarded by the stock it saw: two clients that saw 7 get one 201 and one 409.
    let guarded = json!({ "delta": -2, "expectedStock": 7, "reason": "sale" });
    let (key_a, key_b) = (unique("g"), unique("g"));
    let (a, b) = tokio::join!(
        adjust(&app, &token, &path, Some(&key_a), guarded.clone()),
        adjust(&app, &token, &path, Some(&key_b), guarded),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    assert_eq!(stock_of(&app, &token, id).await["stock"], 5);
    app.finish().await;
}

#[tokio::test]
async fn variants_adjust_their_own_stock_and_ledger() {
    let (app, token, id) = stocked("variant-adjust", "Shirt", 0).await;
    let id = id.as_str();
    let v = app
        .post(
            &format!("/api/merchant/products/{id}/variants"),
            Some(&token),
            json!({ "type": "size", "value": "M", "stock": 5 }),
        )
        .await;
    assert_eq!(v.status, StatusCode::CREATED, "{}", v.body);
    let vid = v.body["data"]["variant"]["variantId"]
        .as_str()
        .expect("variantId")
        .to_string();
    let path = format!("/api/merchant/products/{id}/variants/{vid}/inventory/adjustments");
    let short = adjust(
        &app,
        &token,
        &path,
        Some(&unique("v")),
        json!({ "delta": -6, "reason": "sale" }),
    )
    .await;
    assert_eq!(
        (short.status, short.body["currentStock"].clone()),
        (StatusCode::CONFLICT, json!(5))
    );
    let sold = adjust(
        &app,
        &token,
        &path,
        Some(&unique("v")),
        json!({ "delta": -5, "reason": "sale" }),
    )
    .await;
    assert_eq!(sold.status, StatusCode::CREATED, "{}", sold.body);
    assert_eq!(sold.body["data"]["stock"]["variantId"], vid.as_str());
    assert_eq!(sold.body["data"]["stock"]["stock"], 0);
    assert_eq!(sold.body["data"]["stock"]["isOutOfStock"], true);
    // A PUT of the variant's stock is in the ledger too.
    let put = app
        .put(
            &format!("/api/merchant/products/{id}/variants/{vid}"),
            Some(&token),
            json!({ "stock": 12 }),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let entries = ledger(&app, &token, &path).await;
    let sources: Vec<_> = entries["adjustments"]
        .as_array()
        .expect("adjustments")
        .iter()
        .map(|e| (e["source"].clone(), e["delta"].clone()))
        .collect();
    assert_eq!(
        sources,
        [
            (json!("variant_update"), json!(12)),
            (json!("adjustment"), json!(-5))
        ]
    );
    let none = format!("/api/merchant/products/{id}/variants/nope/inventory/adjustments");
    let missing = adjust(
        &app,
        &token,
        &none,
        Some(&unique("v")),
        json!({ "delta": 1, "reason": "x" }),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&none, Some(&token)).await.status,
        StatusCode::NOT_FOUND
    );
    app.finish().await;
}

#[tokio::test]
async fn product_updates_of_stock_are_ledgered_and_adjustments_are_audited_and_notified() {
    let (app, token, id) = stocked("ledgered", "Stool", 10).await;
    let id = id.as_str();
    let path = adjustments(id);
    let put = app
        .put(
            &format!("/api/merchant/products/{id}"),
            Some(&token),
            json!({ "inventory": { "stock": 8 } }),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(
        put.body["data"]["product"]["inventory"]["availableStock"],
        8
    );
    // 8 → 4 crosses the low-stock threshold (5): one notification.
    let r = adjust(
        &app,
        &token,
        &path,
        Some(&unique("a")),
        json!({ "delta": -4, "reason": "damage" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["data"]["stock"]["isLowStock"], true);
    let entries = ledger(&app, &token, &path).await;
    let seen: Vec<_> = entries["adjustments"]
        .as_array()
        .expect("adjustments")
        .iter()
        .map(|e| {
            (
                e["source"].clone(),
                e["stockBefore"].clone(),
                e["stockAfter"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (json!("adjustment"), json!(8), json!(4)),
            (json!("product_update"), json!(10), json!(8)),
        ]
    );
    let inbox = app
        .get("/api/merchant/notifications?type=product", Some(&token))
        .await;
    assert_eq!(
        inbox.body["data"]["items"][0]["title"], "Low stock",
        "{}",
        inbox.body
    );
    let product = mongodb::bson::oid::ObjectId::parse_str(id).expect("oid");
    let filter = doc! { "action": "inventory.adjusted", "resourceId": product };
    let records = audit_records(&app, filter, 1).await;
    assert_eq!(records.len(), 1);
    let details = records[0].get_document("details").expect("details");
    let facts = details.get_document("metadata").expect("metadata");
    assert_eq!(facts.get_str("reason"), Ok("damage"));
    assert!(records[0].get_str("requestId").is_ok(), "{:?}", records[0]);
    app.finish().await;
}

fn reservations(id: &str) -> String {
    format!("/api/merchant/products/{id}/inventory/reservations")
}

#[tokio::test]
async fn reserved_units_leave_available_stock_until_committed_or_released() {
    let (app, token, id) = stocked("reserve", "Console", 10).await;
    let t = Some(token.as_str());
    let id = id.as_str();
    let held = app
        .post(
            &reservations(id),
            t,
            json!({ "quantity": 3, "reference": "cart-9" }),
        )
        .await;
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.body);
    let rid = held.body["data"]["reservation"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(held.body["data"]["reservation"]["status"], "active");
    assert_eq!(held.body["data"]["stock"]["availableStock"], 7);
    let inventory = stock_of(&app, &token, id).await;
    assert_eq!(
        (
            inventory["stock"].clone(),
            inventory["reservedStock"].clone(),
            inventory["availableStock"].clone()
        ),
        (json!(10), json!(3), json!(7))
    );
    // Neither another hold nor an adjustment can take the held units.
    let more = app
        .post(&reservations(id), t, json!({ "quantity": 8 }))
        .await;
    assert_eq!(
        (more.status, more.body["code"].clone()),
        (StatusCode::CONFLICT, json!("INSUFFICIENT_STOCK"))
    );
    assert_eq!(more.body["availableStock"], 7);
    let path = adjustments(id);
    let sell = adjust(
        &app,
        &token,
        &path,
        Some(&unique("s")),
        json!({ "delta": -8, "reason": "sale" }),
    )
    .await;
    assert_eq!(sell.status, StatusCode::CONFLICT, "{}", sell.body);
    let sell = adjust(
        &app,
        &token,
        &path,
        Some(&unique("s")),
        json!({ "delta": -7, "reason": "sale" }),
    )
    .await;
    assert_eq!(sell.status, StatusCode::CREATED, "{}", sell.body);
    // Committing sells the held units: stock and hold drop together, with a ledger entry.
    let commit = app
        .post(&format!("{}/{rid}/commit", reservations(id)), t, json!({}))
        .await;
    assert_eq!(commit.status, StatusCode::OK, "{}", commit.body);
    assert_eq!(commit.body["data"]["reservation"]["status"], "committed");
    let inventory = stock_of(&app, &token, id).await;
    assert_eq!(
        (
            inventory["stock"].clone(),
            inventory["reservedStock"].clone()
        ),
        (json!(0), json!(0))
    );
    let entries = ledger(&app, &token, &path).await;
    let first = &entries["adjustments"][0];
    assert_eq!(
        (
            first["source"].clone(),
            first["delta"].clone(),
            first["reference"].clone()
        ),
        (json!("reservation"), json!(-3), json!("cart-9"))
    );
    let again = app
        .post(&format!("{}/{rid}/commit", reservations(id)), t, json!({}))
        .await;
    assert_eq!(
        (again.status, again.body["code"].clone()),
        (StatusCode::CONFLICT, json!("RESERVATION_NOT_ACTIVE"))
    );
    assert_eq!(again.body["status"], "committed");
    // A released hold gives its units back.
    adjust(
        &app,
        &token,
        &path,
        Some(&unique("r")),
        json!({ "delta": 5, "reason": "restock" }),
    )
    .await;
    let held = app
        .post(&reservations(id), t, json!({ "quantity": 2 }))
        .await;
    let rid = held.body["data"]["reservation"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let released = app.delete(&format!("{}/{rid}", reservations(id)), t).await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
    assert_eq!(released.body["data"]["stock"]["availableStock"], 5);
    let listed = app
        .get(&format!("{}?status=released", reservations(id)), t)
        .await;
    assert_eq!(
        listed.body["data"].as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.body
    );
    let bad = app
        .get(&format!("{}?status=lost", reservations(id)), t)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let invalid = app
        .post(&reservations(id), t, json!({ "quantity": 0 }))
        .await;
    assert_eq!(
        invalid.body["errors"][0]["field"], "quantity",
        "{}",
        invalid.body
    );
    let (other, _, _) = app.register("reserve-other").await;
    let theirs = app
        .delete(&format!("{}/{rid}", reservations(id)), Some(&other))
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    app.finish().await;
}

#[tokio::test]
async fn concurrent_holds_never_exceed_the_stock_and_lapsed_holds_release_themselves() {
    let app = crate::helpers::spawn_app_with(&["--reservation-sweep-interval-ms", "200"]).await;
    let (token, _, _) = app.register("holds").await;
    let t = Some(token.as_str());
    let p = app.product(&token, "Ticket", 20).await;
    let id = p["id"].as_str().expect("id");
    let path = reservations(id);
    let holds = (0..50).map(|_| app.post(&path, t, json!({ "quantity": 1, "ttlSeconds": 600 })));
    let results = futures::future::join_all(holds).await;
    let count = |s: StatusCode| results.iter().filter(|r| r.status == s).count();
    assert_eq!(
        (count(StatusCode::CREATED), count(StatusCode::CONFLICT)),
        (20, 30)
    );
    assert_eq!(stock_of(&app, &token, id).await["availableStock"], 0);
    // Ten minutes pass (the holds' expiry moved into the past): the sweeper, every 200 ms
    // here, gives every unit back.
    let past = mongodb::bson::DateTime::from_millis(
        mongodb::bson::DateTime::now().timestamp_millis() - 1000,
    );
    let product = mongodb::bson::oid::ObjectId::parse_str(id).expect("oid");
    app.store
        .db()
        .collection::<mongodb::bson::Document>("stockreservations")
        .update_many(
            doc! { "productId": product },
            doc! { "$set": { "expiresAt": past } },
        )
        .await
        .expect("age the holds");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let inventory = stock_of(&app, &token, id).await;
        if inventory["reservedStock"] == 0 {
            assert_eq!(inventory["availableStock"], 20);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "holds not released: {inventory}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let expired = app
        .get(&format!("{path}?status=expired&limit=100"), t)
        .await;
    assert_eq!(expired.body["data"].as_array().map(Vec::len), Some(20));
    app.finish().await;
}
