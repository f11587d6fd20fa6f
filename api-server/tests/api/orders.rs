//! Orders: scoped listing with filters, lookup, the transition table, cancellation restoring
//! stock exactly once, refunds, bulk actions, analytics and permissions.

use merchant_api::store::{ObjectId, order_updates::StatusChange};
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    helpers::spawn_app,
    order_fixtures::{
        customer, days_ago, insert, member_token, order, shop, stock_of, with_variant,
    },
};

#[tokio::test]
async fn order_list_is_scoped_filtered_searched_and_paginated() {
    let app = spawn_app().await;
    // Arrange: merchant A has three orders (one found by customer name), B has one.
    let a = shop(&app, "lista", 10).await;
    let b = shop(&app, "listb", 10).await;
    let buyer = customer(&app, "Zelda", "zelda@example.com").await;
    let mut found = order(a.store, a.product_id(), 2, 10.0, "placed", days_ago(1));
    found.user = buyer;
    let delivered = order(a.store, a.product_id(), 1, 30.0, "delivered", days_ago(2));
    let number = delivered.order_number.clone();
    insert(
        &app,
        &[
            found,
            delivered,
            order(a.store, a.product_id(), 1, 5.0, "placed", days_ago(3)),
        ],
    )
    .await;
    insert(
        &app,
        &[order(
            b.store,
            b.product_id(),
            1,
            99.0,
            "placed",
            days_ago(1),
        )],
    )
    .await;
    // Act + Assert: each merchant sees only its own orders.
    let r = app.get("/api/merchant/orders", a.t()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["message"], "Orders retrieved successfully");
    let d = &r.body["data"];
    assert_eq!(
        (
            d["totalCount"].clone(),
            d["total"].clone(),
            d["page"].clone(),
            d["hasMore"].clone()
        ),
        (json!(3), json!(3), json!(1), json!(false))
    );
    let first = &d["orders"][0];
    assert_eq!(first["customer"]["name"], "Zelda Buyer");
    assert_eq!(first["customer"]["email"], "zelda@example.com");
    assert_eq!(first["pricing"]["totalAmount"], 20.0);
    assert_eq!(first["items"][0]["productName"], "Widget");
    assert_eq!(first["items"][0]["totalPrice"], 20.0);
    assert_eq!(first["delivery"]["address"]["zipCode"], "62701");
    assert_eq!(first["paymentStatus"], "paid");
    assert_eq!(
        app.get("/api/merchant/orders", b.t()).await.body["data"]["totalCount"],
        1
    );
    // Filters, sorting, pagination and search.
    let by_status = app
        .get("/api/merchant/orders?status=delivered", a.t())
        .await;
    assert_eq!(
        by_status.body["data"]["orders"][0]["orderNumber"],
        json!(number)
    );
    let page2 = app
        .get(
            "/api/merchant/orders?limit=2&page=2&sortBy=total&order=asc",
            a.t(),
        )
        .await;
    assert_eq!(
        (
            page2.body["data"]["orders"].as_array().map(Vec::len),
            page2.body["data"]["totalPages"].clone()
        ),
        (Some(1), json!(2))
    );
    assert_eq!(page2.body["data"]["orders"][0]["totals"]["total"], 30.0);
    let by_name = app.get("/api/merchant/orders?search=zeld", a.t()).await;
    assert_eq!(by_name.body["data"]["totalCount"], 1);
    let by_number = app
        .get(
            &format!("/api/merchant/orders?search={}", number.to_lowercase()),
            a.t(),
        )
        .await;
    assert_eq!(by_number.body["data"]["totalCount"], 1);
    // The search text is not a pattern: ".*" matches nothing.
    assert_eq!(
        app.get("/api/merchant/orders?search=.*", a.t()).await.body["data"]["totalCount"],
        0
    );
    // Validation: unknown keys, bad values, foreign store.
    let unknown = app
        .get("/api/merchant/orders?fulfillmentType=pickup", a.t())
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.body["message"], "Query validation failed");
    assert_eq!(unknown.body["errors"][0]["field"], "fulfillmentType");
    assert!(unknown.body["meta"]["timestamp"].is_string());
    let bad = app
        .get(
            "/api/merchant/orders?status=lost&limit=500&startDate=2026-02-01&endDate=2026-01-01",
            a.t(),
        )
        .await;
    let fields: Vec<_> = bad.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    assert_eq!(fields, [json!("endDate"), json!("status"), json!("limit")]);
    let foreign = app
        .get(
            &format!("/api/merchant/orders?storeId={}", b.store.to_hex()),
            a.t(),
        )
        .await;
    assert_eq!(
        (foreign.status, foreign.body["errors"][0]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("storeId"))
    );
    let own = app
        .get(
            &format!("/api/merchant/orders?storeId={}", a.store.to_hex()),
            a.t(),
        )
        .await;
    assert_eq!(own.body["data"]["totalCount"], 3);
    assert_eq!(
        app.get("/api/merchant/orders", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.finish().await;
}

#[tokio::test]
async fn an_order_of_another_merchant_is_not_found() {
    let app = spawn_app().await;
    let a = shop(&app, "geta", 10).await;
    let b = shop(&app, "getb", 10).await;
    let o = order(a.store, a.product_id(), 1, 10.0, "placed", days_ago(0));
    insert(&app, std::slice::from_ref(&o)).await;
    let path = format!("/api/merchant/orders/{}", o.id.to_hex());
    let mine = app.get(&path, a.t()).await;
    assert_eq!(
        (mine.status, mine.body["data"]["id"].clone()),
        (StatusCode::OK, json!(o.id.to_hex()))
    );
    let theirs = app.get(&path, b.t()).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(
        (
            theirs.body["success"].clone(),
            theirs.body["message"].clone()
        ),
        (json!(false), json!("Order not found"))
    );
    assert!(theirs.body["meta"]["timestamp"].is_string());
    assert_eq!(
        app.get("/api/merchant/orders/not-an-id", a.t())
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    app.finish().await;
}

#[tokio::test]
async fn status_changes_follow_the_transition_table_and_append_to_the_timeline() {
    let app = spawn_app().await;
    let a = shop(&app, "flow", 10).await;
    let o = order(a.store, a.product_id(), 1, 10.0, "placed", days_ago(0));
    insert(&app, std::slice::from_ref(&o)).await;
    let path = format!("/api/merchant/orders/{}/status", o.id.to_hex());
    let ok = app
        .put(
            &path,
            a.t(),
            json!({ "status": "confirmed", "notes": "Accepted" }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["data"]["status"], "confirmed");
    assert_eq!(ok.body["data"]["timeline"][0]["message"], "Accepted");
    assert!(ok.body["data"]["confirmedAt"].is_string());
    // Skipping ahead is illegal and names both statuses.
    let skip = app
        .put(&path, a.t(), json!({ "status": "delivered" }))
        .await;
    assert_eq!(skip.status, StatusCode::BAD_REQUEST);
    let text = skip.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("from confirmed to delivered"), "{text}");
    let invalid = app.put(&path, a.t(), json!({ "status": "placed" })).await;
    assert_eq!(
        (invalid.status, invalid.body["errors"][0]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("status"))
    );
    for next in ["preparing", "ready", "dispatched", "delivered"] {
        let r = app.put(&path, a.t(), json!({ "status": next })).await;
        assert_eq!(r.status, StatusCode::OK, "{next}: {}", r.body);
    }
    let back = app
        .put(
            &path,
            a.t(),
            json!({ "status": "cancelled", "notes": "too late" }),
        )
        .await;
    assert!(
        back.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("from delivered to cancelled")
    );
    let after = app
        .get(&format!("/api/merchant/orders/{}", o.id.to_hex()), a.t())
        .await;
    assert_eq!(
        after.body["data"]["timeline"].as_array().map(Vec::len),
        Some(5)
    );
    assert!(after.body["data"]["deliveredAt"].is_string());
    app.finish().await;
}

#[tokio::test]
async fn two_concurrent_cancels_restore_stock_exactly_once() {
    let app = spawn_app().await;
    let a = shop(&app, "cancel", 10).await;
    let o = order(a.store, a.product_id(), 3, 10.0, "confirmed", days_ago(0));
    insert(&app, std::slice::from_ref(&o)).await;
    let path = format!("/api/merchant/orders/{}/status", o.id.to_hex());
    // Act: two cancellations race.
    let body = json!({ "status": "cancelled", "notes": "customer asked" });
    let (r1, r2) = tokio::join!(
        app.put(&path, a.t(), body.clone()),
        app.put(&path, a.t(), body.clone())
    );
    // Assert: one wins, the other is an illegal cancelled → cancelled; stock went up by 3 once.
    let mut statuses = [r1.status, r2.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::BAD_REQUEST],
        "{} / {}",
        r1.body,
        r2.body
    );
    assert_eq!(stock_of(&app, &a).await, 13);
    let winner = if r1.status == StatusCode::OK {
        &r1
    } else {
        &r2
    };
    assert_eq!(winner.body["data"]["cancelReason"], "customer asked");
    assert!(winner.body["data"]["stockRestoredAt"].is_string());
    // The cancellation raised one notification.
    let n = app
        .get("/api/merchant/notifications?type=order", a.t())
        .await;
    let titles: Vec<_> = n.body["data"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["title"] == "Order cancelled")
        .collect();
    assert_eq!(titles.len(), 1, "{}", n.body);
    app.finish().await;
}

#[tokio::test]
async fn without_transactions_a_cancellation_still_restores_variant_stock_once() {
    let app = spawn_app().await;
    let a = shop(&app, "notxn", 0).await;
    let pid = a.product_id().to_hex();
    let v = app
        .post(
            &format!("/api/merchant/products/{pid}/variants"),
            a.t(),
            json!({ "type": "size", "value": "M", "stock": 4 }),
        )
        .await;
    let vid = v.body["data"]["variant"]["variantId"]
        .as_str()
        .expect("variant")
        .to_string();
    let o = with_variant(
        order(a.store, a.product_id(), 2, 10.0, "placed", days_ago(0)),
        &vid,
    );
    insert(&app, std::slice::from_ref(&o)).await;
    let scope = app
        .store
        .order_scope(a.merchant, None)
        .await
        .expect("scope")
        .expect("stores");
    let change = StatusChange {
        to: "cancelled",
        note: Some("fallback".into()),
        actor: a.merchant,
        tracking: None,
    };
    // Act: the conditional-update path, twice at once.
    let (x, y) = tokio::join!(
        app.store
            .cancel_order_without_transaction(&scope, o.id, &change),
        app.store
            .cancel_order_without_transaction(&scope, o.id, &change),
    );
    let applied = [x.expect("first"), y.expect("second")]
        .iter()
        .filter(|t| {
            matches!(
                t,
                merchant_api::store::order_updates::Transition::Applied(_)
            )
        })
        .count();
    assert_eq!(applied, 1);
    let variants = app
        .get(&format!("/api/merchant/products/{pid}/variants"), a.t())
        .await;
    assert_eq!(
        variants.body["data"]["variants"][0]["stock"], 6,
        "{}",
        variants.body
    );
    assert_eq!(stock_of(&app, &a).await, 0);
    let stored = app
        .store
        .order(&scope, o.id)
        .await
        .expect("read")
        .expect("order");
    assert!(stored.stock_restored_at.is_some());
    app.finish().await;
}

#[tokio::test]
async fn refunds_are_recorded_and_never_exceed_the_amount_paid() {
    let app = spawn_app().await;
    let a = shop(&app, "refund", 10).await;
    let paid = order(a.store, a.product_id(), 2, 50.0, "delivered", days_ago(0));
    let mut unpaid = order(a.store, a.product_id(), 1, 10.0, "placed", days_ago(0));
    unpaid.payment.status = "pending".into();
    insert(&app, &[paid.clone(), unpaid.clone()]).await;
    let path = format!("/api/merchant/orders/{}/refund", paid.id.to_hex());
    let part = app
        .post(
            &path,
            a.t(),
            json!({ "amount": 40, "reason": "one item was damaged" }),
        )
        .await;
    assert_eq!(part.status, StatusCode::OK, "{}", part.body);
    assert_eq!(
        (
            part.body["data"]["totals"]["refundAmount"].clone(),
            part.body["data"]["paymentStatus"].clone()
        ),
        (json!(40.0), json!("partially_refunded"))
    );
    let too_much = app
        .post(
            &path,
            a.t(),
            json!({ "amount": 60.01, "reason": "the rest and a bit more" }),
        )
        .await;
    assert_eq!(
        (too_much.status, too_much.body["errors"][0]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("amount"))
    );
    assert!(
        too_much.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("60.00")
    );
    let rest = app.post(&path, a.t(), json!({ "amount": 60, "reason": "the rest of the order", "refundItems": [{ "itemId": ObjectId::new().to_hex(), "quantity": 1 }] })).await;
    assert_eq!(
        (
            rest.body["data"]["totals"]["refundAmount"].clone(),
            rest.body["data"]["paymentStatus"].clone()
        ),
        (json!(100.0), json!("refunded"))
    );
    let invalid = app
        .post(&path, a.t(), json!({ "amount": -1, "reason": "short" }))
        .await;
    let fields: Vec<_> = invalid.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    assert_eq!(fields, [json!("amount"), json!("reason")]);
    let not_paid = app
        .post(
            &format!("/api/merchant/orders/{}/refund", unpaid.id.to_hex()),
            a.t(),
            json!({ "amount": 1, "reason": "refund before payment" }),
        )
        .await;
    assert_eq!(not_paid.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        not_paid.body["message"],
        "Order payment is pending; only paid orders can be refunded"
    );
    app.finish().await;
}

#[tokio::test]
async fn bulk_actions_report_each_order_and_validate_their_input() {
    let app = spawn_app().await;
    let a = shop(&app, "bulk", 10).await;
    let b = shop(&app, "bulkb", 10).await;
    let o1 = order(a.store, a.product_id(), 1, 10.0, "placed", days_ago(0));
    let o2 = order(a.store, a.product_id(), 1, 10.0, "placed", days_ago(0));
    let done = order(a.store, a.product_id(), 1, 10.0, "delivered", days_ago(0));
    let foreign = order(b.store, b.product_id(), 1, 10.0, "placed", days_ago(0));
    insert(
        &app,
        &[o1.clone(), o2.clone(), done.clone(), foreign.clone()],
    )
    .await;
    let ids = [&o1, &o2, &done, &foreign].map(|o| o.id.to_hex());
    let r = app
        .post(
            "/api/merchant/orders/bulk-action",
            a.t(),
            json!({ "action": "confirm", "orderIds": ids }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["data"]["summary"],
        json!({ "total": 4, "succeeded": 2, "failed": 2 })
    );
    assert_eq!(r.body["data"]["failed"][1]["message"], "Order not found");
    let no_reason = app
        .post(
            "/api/merchant/orders/bulk-action",
            a.t(),
            json!({ "action": "cancel", "orderIds": [o1.id.to_hex()] }),
        )
        .await;
    assert_eq!(
        (
            no_reason.status,
            no_reason.body["errors"][0]["field"].clone()
        ),
        (StatusCode::BAD_REQUEST, json!("reason"))
    );
    let tracking = app.post("/api/merchant/orders/bulk-action", a.t(), json!({ "action": "confirm", "orderIds": [o1.id.to_hex()], "trackingInfo": { "carrier": "UPS" } })).await;
    assert_eq!(tracking.body["errors"][0]["field"], "trackingInfo");
    let empty = app
        .post(
            "/api/merchant/orders/bulk-action",
            a.t(),
            json!({ "action": "confirm", "orderIds": [] }),
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let cancel = app
        .post(
            "/api/merchant/orders/bulk-action",
            a.t(),
            json!({ "action": "cancel", "orderIds": [o1.id.to_hex()], "reason": "out of stock" }),
        )
        .await;
    assert_eq!(
        cancel.body["data"]["summary"]["succeeded"], 1,
        "{}",
        cancel.body
    );
    assert_eq!(stock_of(&app, &a).await, 11);
    app.finish().await;
}

#[tokio::test]
async fn order_analytics_equal_hand_computed_values() {
    let app = spawn_app().await;
    let a = shop(&app, "stats", 10).await;
    let b = shop(&app, "statsb", 10).await;
    // Arrange: 3 orders in range (one cancelled), 1 older than the range, 1 of merchant B.
    let mut orders = vec![
        order(a.store, a.product_id(), 2, 10.0, "delivered", days_ago(1)),
        order(a.store, a.product_id(), 1, 30.0, "placed", days_ago(2)),
        order(a.store, a.product_id(), 5, 10.0, "cancelled", days_ago(2)),
        order(a.store, a.product_id(), 9, 10.0, "delivered", days_ago(40)),
    ];
    orders[1].totals.paid_amount = 0.0;
    insert(&app, &orders).await;
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
    let r = app.get("/api/merchant/orders/analytics", a.t()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("private, max-age=600"));
    let d = &r.body["data"];
    assert_eq!(d["totalOrders"], 3);
    assert_eq!(d["totalRevenue"], 50.0); // 20 + 30, the cancelled order earns nothing
    assert_eq!(d["totalPaidAmount"], 20.0);
    assert_eq!(d["averageOrderValue"], 25.0);
    assert_eq!(d["totalItemsSold"], 3);
    assert_eq!(d["conversionRate"], 33.33);
    assert_eq!(
        d["ordersByStatus"]["cancelled"],
        json!({ "count": 1, "revenue": 50.0 })
    );
    assert_eq!(d["revenueByDay"].as_array().map(Vec::len), Some(2));
    assert_eq!(d["topProducts"][0]["quantity"], 3);
    assert_eq!(d["topProducts"][0]["revenue"], 50.0);
    assert_eq!(
        d["topProducts"][0]["productId"],
        json!(a.product_id().to_hex())
    );
    let monthly = app
        .get(
            "/api/merchant/orders/analytics?interval=month&startDate=2000-01-01",
            a.t(),
        )
        .await;
    assert_eq!(monthly.body["data"]["totalOrders"], 4);
    let bad = app
        .get("/api/merchant/orders/analytics?interval=hour&foo=1", a.t())
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    app.finish().await;
}

#[tokio::test]
async fn staff_may_read_and_move_orders_but_not_cancel_or_refund_them() {
    let app = spawn_app().await;
    let a = shop(&app, "staff", 10).await;
    let o = order(a.store, a.product_id(), 1, 10.0, "placed", days_ago(0));
    insert(&app, std::slice::from_ref(&o)).await;
    let staff = member_token(&app, a.merchant, "staff").await;
    let s = Some(staff.as_str());
    assert_eq!(
        app.get("/api/merchant/orders", s).await.status,
        StatusCode::OK
    );
    let path = format!("/api/merchant/orders/{}", o.id.to_hex());
    let cancel = app
        .put(
            &format!("{path}/status"),
            s,
            json!({ "status": "cancelled" }),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::FORBIDDEN);
    assert_eq!(
        (
            cancel.body["required"].clone(),
            cancel.body["userRole"].clone()
        ),
        (json!("orders:cancel"), json!("staff"))
    );
    let refund = app
        .post(
            &format!("{path}/refund"),
            s,
            json!({ "amount": 1, "reason": "staff tries a refund" }),
        )
        .await;
    assert_eq!(refund.body["required"], "orders:refund");
    let confirm = app
        .put(
            &format!("{path}/status"),
            s,
            json!({ "status": "confirmed" }),
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    app.finish().await;
}
