//! Cashback: creation against the merchant's own orders, guarded decisions, hand-computed
//! totals, the cached pending count, bulk decisions, the CSV/XLSX export and isolation.

use merchant_api::store::ObjectId;
use mongodb::bson::{DateTime, Document, doc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, spawn_app},
    permissions::audit_records,
};

/// Insert a delivered order of `total` for the merchant's store; returns `(order id, customer id)`.
async fn order(app: &TestApp, merchant: &str, total: f64) -> (String, String) {
    let store = app.store_of(merchant).await;
    let (id, user) = (ObjectId::new(), ObjectId::new());
    app.store
        .db()
        .collection::<Document>("orders")
        .insert_one(doc! {
            "_id": id, "orderNumber": format!("ORD-{}", id.to_hex()), "user": user, "store": store,
            "items": [{ "product": ObjectId::new(), "store": store, "name": "Thing", "image": "x.png", "quantity": 1, "price": total, "subtotal": total }],
            "totals": { "subtotal": total, "total": total }, "status": "delivered", "createdAt": DateTime::now(), "updatedAt": DateTime::now(),
        })
        .await
        .expect("insert order");
    (id.to_hex(), user.to_hex())
}

pub(crate) async fn request(
    app: &TestApp,
    token: &str,
    merchant: &str,
    total: f64,
    amount: f64,
) -> Value {
    let (order_id, customer) = order(app, merchant, total).await;
    let r = app
        .post(
            "/api/merchant/cashback",
            Some(token),
            json!({ "orderId": order_id, "customerId": customer, "amount": amount, "reason": "Promised 10%" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["data"].clone()
}

fn id(v: &Value) -> String {
    v["_id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn decisions_follow_the_status_rules_and_stats_equal_hand_computed_totals() {
    let app = spawn_app().await;
    let (token, merchant, _) = app.register("cb").await;
    let (other, other_merchant, _) = app.register("cb-other").await;
    // Create: three requests on own orders.
    let a = request(&app, &token, &merchant, 100.0, 10.0).await;
    let b = request(&app, &token, &merchant, 50.0, 20.5).await;
    let c = request(&app, &token, &merchant, 200.0, 5.0).await;
    assert_eq!(a["status"], "pending");
    assert_eq!(a["cashbackRate"], json!(10.0));
    assert_eq!(b["riskScore"], json!(45.0));
    assert!(
        a["requestNumber"]
            .as_str()
            .is_some_and(|n| n.starts_with("CB-"))
    );
    // Another merchant's order, too large an amount, bad ids.
    let (foreign, customer) = order(&app, &other_merchant, 100.0).await;
    let r = app
        .post(
            "/api/merchant/cashback",
            Some(&token),
            json!({ "orderId": foreign, "customerId": customer, "amount": 1 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let (mine, customer) = order(&app, &merchant, 10.0).await;
    let r = app
        .post(
            "/api/merchant/cashback",
            Some(&token),
            json!({ "orderId": mine, "customerId": customer, "amount": 11 }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("amount"))
    );
    let r = app
        .post(
            "/api/merchant/cashback",
            Some(&token),
            json!({ "orderId": "x", "customerId": "y", "amount": -1 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["errors"].as_array().map(Vec::len), Some(3));
    // Decisions.
    let approve = |cid: String, body: Value| {
        let (app, token) = (&app, &token);
        async move {
            app.put(
                &format!("/api/merchant/cashback/{cid}/approve"),
                Some(token),
                body,
            )
            .await
        }
    };
    let too_much = approve(id(&a), json!({ "approvedAmount": 10.5 })).await;
    assert_eq!(too_much.status, StatusCode::BAD_REQUEST);
    let ok = approve(id(&a), json!({ "approvedAmount": 8, "notes": "partial" })).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(
        (
            ok.body["data"]["status"].clone(),
            ok.body["data"]["approvedAmount"].clone()
        ),
        (json!("approved"), json!(8.0))
    );
    let no_reason = app
        .put(
            &format!("/api/merchant/cashback/{}/reject", id(&b)),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    let rejected = app
        .put(
            &format!("/api/merchant/cashback/{}/reject", id(&b)),
            Some(&token),
            json!({ "reason": "Not eligible" }),
        )
        .await;
    assert_eq!(rejected.status, StatusCode::OK);
    let paid_rejected = app
        .put(
            &format!("/api/merchant/cashback/{}/mark-paid", id(&b)),
            Some(&token),
            json!({ "paymentMethod": "wallet" }),
        )
        .await;
    assert_eq!(
        (paid_rejected.status, paid_rejected.body["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("Cannot mark as paid a cashback request with status rejected")
        )
    );
    let bad_method = app
        .put(
            &format!("/api/merchant/cashback/{}/mark-paid", id(&a)),
            Some(&token),
            json!({ "paymentMethod": "cash" }),
        )
        .await;
    assert_eq!(bad_method.status, StatusCode::BAD_REQUEST);
    let paid = app
        .put(
            &format!("/api/merchant/cashback/{}/mark-paid", id(&a)),
            Some(&token),
            json!({ "paymentMethod": "bank_transfer", "paymentReference": "TX-1" }),
        )
        .await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
    assert_eq!(paid.body["data"]["paidAmount"], json!(8.0));
    assert_eq!(
        paid.body["data"]["timeline"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(
        approve(id(&a), json!({})).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        approve(ObjectId::new().to_hex(), json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    // Stats: 35.5 requested, 8 approved and paid; one each of pending, rejected, paid.
    let stats = app.get("/api/merchant/cashback/stats", Some(&token)).await;
    assert_eq!(stats.status, StatusCode::OK);
    let s = &stats.body["data"]["stats"];
    assert_eq!(
        (
            s["total"].as_i64(),
            s["totalAmount"].as_f64(),
            s["approvedAmount"].as_f64(),
            s["paidAmount"].as_f64()
        ),
        (Some(3), Some(35.5), Some(8.0), Some(8.0))
    );
    assert_eq!(
        (
            s["pending"].as_i64(),
            s["approved"].as_i64(),
            s["rejected"].as_i64(),
            s["paid"].as_i64()
        ),
        (Some(1), Some(0), Some(1), Some(1))
    );
    let metrics = app
        .get("/api/merchant/cashback/metrics", Some(&token))
        .await;
    assert_eq!(
        metrics.body["data"]["metrics"]["pendingAmount"].as_f64(),
        Some(5.0),
        "{}",
        metrics.body
    );
    let analytics = app
        .get("/api/merchant/cashback/analytics", Some(&token))
        .await;
    assert_eq!(
        analytics.body["data"]["approvalRate"].as_f64(),
        Some(50.0),
        "{}",
        analytics.body
    );
    let daily_total: f64 = analytics.body["data"]["daily"]
        .as_array()
        .expect("daily")
        .iter()
        .filter_map(|d| d["requestedAmount"].as_f64())
        .sum();
    assert_eq!(daily_total, 35.5);
    // Pending count: computed, then cached, then recomputed after a decision.
    let first = app
        .get("/api/merchant/cashback/pending-count", Some(&token))
        .await;
    assert_eq!(
        (
            first.body["data"]["count"].clone(),
            first.body["data"]["cached"].clone()
        ),
        (json!(1), json!(false))
    );
    let second = app
        .get("/api/merchant/cashback/pending-count", Some(&token))
        .await;
    assert_eq!(second.body["data"]["cached"], json!(true));
    assert_eq!(
        app.put(
            &format!("/api/merchant/cashback/{}/reject", id(&c)),
            Some(&token),
            json!({ "reason": "dup" })
        )
        .await
        .status,
        StatusCode::OK
    );
    let third = app
        .get("/api/merchant/cashback/pending-count", Some(&token))
        .await;
    assert_eq!(
        (
            third.body["data"]["count"].clone(),
            third.body["data"]["cached"].clone()
        ),
        (json!(0), json!(false))
    );
    // Lists: status filter and pagination shape.
    let list = app
        .get(
            "/api/merchant/cashback?status=rejected&limit=1",
            Some(&token),
        )
        .await;
    assert_eq!(
        list.body["data"]["pagination"],
        json!({ "page": 1, "limit": 1, "total": 2, "pages": 2 })
    );
    assert_eq!(
        app.get("/api/merchant/cashback?status=bogus", Some(&token))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // The approval is audited with before/after.
    let merchant_oid = ObjectId::parse_str(&merchant).expect("id");
    let audited = audit_records(
        &app,
        doc! { "merchantId": merchant_oid, "action": "cashback.approve" },
        1,
    )
    .await;
    assert_eq!(
        audited[0]
            .get_document("details")
            .and_then(|d| d.get_document("after"))
            .and_then(|a| a.get_str("status")),
        Ok("approved")
    );
    let _ = other;
    app.finish().await;
}

#[tokio::test]
async fn bulk_decisions_report_each_request_and_the_export_lists_them() {
    let app = spawn_app().await;
    let (token, merchant, _) = app.register("cb-bulk").await;
    let a = request(&app, &token, &merchant, 100.0, 10.0).await;
    let b = request(&app, &token, &merchant, 100.0, 30.0).await;
    let c = request(&app, &token, &merchant, 100.0, 1.0).await;
    assert_eq!(
        app.put(
            &format!("/api/merchant/cashback/{}/reject", id(&c)),
            Some(&token),
            json!({ "reason": "no" })
        )
        .await
        .status,
        StatusCode::OK
    );
    let empty = app
        .post(
            "/api/merchant/cashback/bulk-action",
            Some(&token),
            json!({ "action": "approve", "cashbackIds": [] }),
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let no_reason = app
        .post(
            "/api/merchant/cashback/bulk-action",
            Some(&token),
            json!({ "action": "reject", "cashbackIds": [id(&a)] }),
        )
        .await;
    assert_eq!(
        (
            no_reason.status,
            no_reason.body["errors"][0]["field"].clone()
        ),
        (StatusCode::BAD_REQUEST, json!("reason"))
    );
    let missing = ObjectId::new().to_hex();
    let bulk = app
        .post(
            "/api/merchant/cashback/bulk-action",
            Some(&token),
            json!({ "action": "approve", "cashbackIds": [id(&a), id(&b), id(&c), missing] }),
        )
        .await;
    assert_eq!(bulk.status, StatusCode::OK, "{}", bulk.body);
    assert_eq!(
        (
            bulk.body["data"]["processed"].clone(),
            bulk.body["data"]["failed"].clone()
        ),
        (json!(2), json!(2))
    );
    let results = bulk.body["data"]["results"].as_array().expect("results");
    assert_eq!(
        results[2]["message"],
        "Cannot approve a cashback request with status rejected"
    );
    assert_eq!(results[3]["message"], "Cashback request not found");
    let stats = app.get("/api/merchant/cashback/stats", Some(&token)).await;
    assert_eq!(
        stats.body["data"]["stats"]["approvedAmount"].as_f64(),
        Some(40.0)
    );
    // CSV export: the contract's data URL with its columns, one row per request.
    let export = app.get("/api/merchant/cashback/export", Some(&token)).await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.body);
    assert_eq!(export.body["message"], "Export ready for download");
    assert_eq!(export.body["data"]["recordCount"], 3);
    let url = export.body["data"]["downloadUrl"].as_str().expect("url");
    let encoded = url
        .strip_prefix("data:text/csv;charset=utf-8,")
        .expect("csv data url");
    let csv = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .expect("utf8")
        .to_string();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "Request Number,Customer Name,Customer Email,Order Number,Requested Amount,Approved Amount,Status,Priority,Risk Score,Payment Method,Payment Reference,Created At,Paid At"
    );
    assert_eq!(lines.len(), 4);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(a["requestNumber"].as_str().expect("n"))
                && l.contains(",10,10,approved,")),
        "{csv}"
    );
    let only = app
        .get(
            "/api/merchant/cashback/export?status=rejected",
            Some(&token),
        )
        .await;
    assert_eq!(only.body["data"]["recordCount"], 1);
    let excel = app
        .get("/api/merchant/cashback/export?format=excel", Some(&token))
        .await;
    let url = excel.body["data"]["downloadUrl"].as_str().expect("url");
    assert!(url.starts_with(
        "data:application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;base64,UEsD"
    ));
    assert_eq!(
        app.get("/api/merchant/cashback/export?format=pdf", Some(&token))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // Bad ids are 400s; decisions are served on POST as on PUT.
    let bad = app
        .put(
            "/api/merchant/cashback/nope/approve",
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get("/api/merchant/cashback/nope", Some(&token))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let d = request(&app, &token, &merchant, 100.0, 1.0).await;
    let by_post = app
        .post(
            &format!("/api/merchant/cashback/{}/reject", id(&d)),
            Some(&token),
            json!({ "reason": "via POST" }),
        )
        .await;
    assert_eq!(by_post.status, StatusCode::OK, "{}", by_post.body);
    assert_eq!(by_post.body["data"]["status"], "rejected");
    app.finish().await;
}

#[tokio::test]
async fn cashback_requests_are_isolated_between_merchants() {
    let app = spawn_app().await;
    let (a, a_id, _) = app.register("cb-iso-a").await;
    let (b, _, _) = app.register("cb-iso-b").await;
    let req = request(&app, &a, &a_id, 100.0, 10.0).await;
    let cid = id(&req);
    let list = app.get("/api/merchant/cashback", Some(&b)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["data"]["cashbacks"], json!([]));
    assert_eq!(list.body["data"]["pagination"]["total"], 0);
    assert_eq!(
        app.get("/api/merchant/cashback", Some(&a)).await.body["data"]["pagination"]["total"],
        1
    );
    assert_eq!(
        app.get(&format!("/api/merchant/cashback/{cid}"), Some(&b))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/api/merchant/cashback/{cid}"), Some(&a))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.put(
            &format!("/api/merchant/cashback/{cid}/approve"),
            Some(&b),
            json!({})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let stats = app.get("/api/merchant/cashback/stats", Some(&b)).await;
    assert_eq!(stats.body["data"]["stats"]["total"], 0);
    assert_eq!(stats.body["data"]["stats"]["totalAmount"], 0);
    assert_eq!(
        app.get("/api/merchant/cashback/pending-count", Some(&b))
            .await
            .body["data"]["count"],
        0
    );
    assert_eq!(
        app.get("/api/merchant/cashback/export", Some(&b))
            .await
            .body["data"]["recordCount"],
        0
    );
    assert_eq!(
        app.get("/api/merchant/cashback/metrics", Some(&b))
            .await
            .body["data"]["metrics"]["totalRequests"],
        0
    );
    let bulk = app
        .post(
            "/api/merchant/cashback/bulk-action",
            Some(&b),
            json!({ "action": "approve", "cashbackIds": [cid] }),
        )
        .await;
    assert_eq!(bulk.body["data"]["processed"], 0);
    assert_eq!(
        app.get(&format!("/api/merchant/cashback/{cid}"), Some(&a))
            .await
            .body["data"]["status"],
        "pending"
    );
    app.finish().await;
}

#[tokio::test]
async fn a_new_request_notifies_its_merchant_once_and_nobody_else() {
    let app = spawn_app().await;
    let (a, a_id, _) = app.register("cb-note-a").await;
    let (b, _, _) = app.register("cb-note-b").await;
    let req = request(&app, &a, &a_id, 80.0, 8.0).await;
    let titled = |body: &Value| -> Vec<Value> {
        body["data"]["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|n| n["title"] == "New cashback request")
            .cloned()
            .collect()
    };
    let inbox = app.get("/api/merchant/notifications", Some(&a)).await;
    assert_eq!(inbox.status, StatusCode::OK, "{}", inbox.body);
    let raised = titled(&inbox.body);
    assert_eq!(raised.len(), 1, "{}", inbox.body);
    let number = req["requestNumber"].as_str().expect("request number");
    assert!(
        raised[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains(number) && m.contains("8.00")),
        "{}",
        raised[0]
    );
    let other = app.get("/api/merchant/notifications", Some(&b)).await;
    assert!(titled(&other.body).is_empty(), "{}", other.body);
}

#[tokio::test]
async fn the_cached_dashboard_pending_cashback_drops_right_after_an_approval() {
    // Arrange: one pending request of 10, the dashboard read (and cached) once.
    let app = spawn_app().await;
    let (token, merchant, _) = app.register("cb-cache").await;
    let pending = request(&app, &token, &merchant, 100.0, 10.0).await;
    let pending_cashback = || async {
        let r = app.get("/api/merchant/dashboard", Some(&token)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["data"]["metrics"]["pendingCashback"].as_f64()
    };
    assert_eq!(pending_cashback().await, Some(10.0));

    // Act: approve it.
    let r = app
        .put(
            &format!("/api/merchant/cashback/{}/approve", id(&pending)),
            Some(&token),
            json!({ "approvedAmount": 10 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Assert: the next dashboard read no longer counts it as pending.
    assert_eq!(pending_cashback().await, Some(0.0));
    app.finish().await;
}
