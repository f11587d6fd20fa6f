//! The JSON shapes of representative responses, one per area and the common errors, checked
//! against `tests/api/snapshots/` (see `snapshot.rs`): a refactor that renames, drops or retypes
//! a key clients parse fails here, naming the request and the key path.

use merchant_api::{
    notifications::{NewNotification, notify},
    store::ObjectId,
};
use mongodb::bson::doc;
use serde_json::{Value, json};

use crate::{
    helpers::{ACCESS_SECRET, TestApp, spawn_app},
    order_fixtures::{Shop, days_ago, insert, member_token, order, shop},
    permissions::audit_records,
    snapshot::Recorder,
};

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// Register, log in, read the profile; returns the shop every later case uses.
async fn auth_cases(app: &TestApp, rec: &mut Recorder) -> Shop {
    let email = format!("{}@example.com", crate::helpers::unique("shape"));
    let reg = app
        .post(
            "/api/merchant/auth/register",
            None,
            crate::helpers::registration(&email),
        )
        .await;
    rec.check("auth_register", "POST /api/merchant/auth/register", &reg);
    let login = json!({ "email": email, "password": "secret1" });
    let r = app.post("/api/merchant/auth/login", None, login).await;
    rec.check("auth_login", "POST /api/merchant/auth/login", &r);
    let token = r.body["data"]["token"].as_str().expect("token");
    let r = app.get("/api/merchant/auth/me", Some(token)).await;
    rec.check("auth_me", "GET /api/merchant/auth/me", &r);
    shop(app, "shapes", 20).await
}

/// Product create/get/list/update, a variant and a stock adjustment.
async fn product_cases(app: &TestApp, rec: &mut Recorder, s: &Shop) {
    let body = crate::helpers::product_body("Shape lamp", 8);
    let r = app.post("/api/merchant/products", s.t(), body).await;
    rec.check("product_create", "POST /api/merchant/products", &r);
    let path = format!("/api/merchant/products/{}", id_of(&r.body["data"]));
    let r = app.get(&path, s.t()).await;
    rec.check("product_get", "GET /api/merchant/products/{id}", &r);
    let r = app.get("/api/merchant/products", s.t()).await;
    rec.check("product_list", "GET /api/merchant/products", &r);
    let r = app.put(&path, s.t(), json!({ "price": 12.5 })).await;
    rec.check("product_update", "PUT /api/merchant/products/{id}", &r);
    let variant = json!({ "type": "size", "value": "M", "stock": 4, "sku": "shape-m" });
    let r = app.post(&format!("{path}/variants"), s.t(), variant).await;
    rec.check(
        "variant_create",
        "POST /api/merchant/products/{id}/variants",
        &r,
    );
    let r = app.get(&format!("{path}/variants"), s.t()).await;
    rec.check(
        "variant_list",
        "GET /api/merchant/products/{id}/variants",
        &r,
    );
    let r = app
        .post(&format!("{path}/stock"), s.t(), json!({ "quantity": -1 }))
        .await;
    rec.check("stock_adjust", "POST /api/merchant/products/{id}/stock", &r);
}

/// The onboarding status and a saved step.
async fn onboarding_cases(app: &TestApp, rec: &mut Recorder, s: &Shop) {
    let base = "/api/merchant/onboarding";
    let r = app.get(&format!("{base}/status"), s.t()).await;
    rec.check(
        "onboarding_status",
        "GET /api/merchant/onboarding/status",
        &r,
    );
    let step = json!({ "businessName": "Acme Ltd", "businessType": "retail" });
    let r = app.post(&format!("{base}/step/1"), s.t(), step).await;
    rec.check(
        "onboarding_step",
        "POST /api/merchant/onboarding/step/{step}",
        &r,
    );
}

/// Orders (written as the consumer app does), their list, one order and a status change.
async fn order_cases(app: &TestApp, rec: &mut Recorder, s: &Shop) {
    let placed = order(s.store, s.product_id(), 2, 10.0, "placed", days_ago(0));
    let delivered = order(s.store, s.product_id(), 1, 10.0, "delivered", days_ago(3));
    insert(app, &[placed.clone(), delivered]).await;
    let r = app.get("/api/merchant/orders", s.t()).await;
    rec.check("order_list", "GET /api/merchant/orders", &r);
    let path = format!("/api/merchant/orders/{}", placed.id.to_hex());
    let r = app.get(&path, s.t()).await;
    rec.check("order_get", "GET /api/merchant/orders/{id}", &r);
    let change = json!({ "status": "confirmed", "notes": "Accepted" });
    let r = app.put(&format!("{path}/status"), s.t(), change).await;
    rec.check("order_status", "PUT /api/merchant/orders/{id}/status", &r);
    notify(&app.store, s.merchant, NewNotification::new_order(&placed))
        .await
        .expect("notify");
}

/// Dashboard, analytics, team, notifications and audit reads.
async fn report_cases(app: &TestApp, rec: &mut Recorder, s: &Shop) {
    let reads = [
        ("dashboard", "/api/merchant/dashboard"),
        ("analytics_overview", "/api/merchant/analytics/overview"),
        ("analytics_sales", "/api/merchant/analytics/sales/overview"),
        ("dashboard_metrics", "/api/merchant/dashboard/metrics"),
        ("dashboard_activity", "/api/merchant/dashboard/activity"),
        (
            "dashboard_top_products",
            "/api/merchant/dashboard/top-products",
        ),
        (
            "dashboard_sales_data",
            "/api/merchant/dashboard/sales-data?period=7d",
        ),
        ("orders_analytics", "/api/merchant/orders/analytics"),
        ("analytics_trends", "/api/merchant/analytics/sales/trends"),
        (
            "analytics_categories",
            "/api/merchant/analytics/categories/performance",
        ),
        (
            "analytics_products",
            "/api/merchant/analytics/products/performance",
        ),
        (
            "analytics_customers",
            "/api/merchant/analytics/customers/insights",
        ),
        (
            "analytics_customer_list",
            "/api/merchant/analytics/customers/list",
        ),
        (
            "analytics_inventory",
            "/api/merchant/analytics/inventory/status",
        ),
        (
            "analytics_forecast",
            "/api/merchant/analytics/forecast/sales?days=2",
        ),
        (
            "analytics_seasonal",
            "/api/merchant/analytics/trends/seasonal?type=weekly",
        ),
        (
            "analytics_revenue",
            "/api/merchant/analytics/revenue/breakdown",
        ),
        ("analytics_comparison", "/api/merchant/analytics/comparison"),
        ("analytics_realtime", "/api/merchant/analytics/realtime"),
        ("team_list", "/api/merchant/team"),
        ("notifications_list", "/api/merchant/notifications"),
    ];
    member_token(app, s.merchant, "staff").await;
    for (name, path) in reads {
        let r = app.get(path, s.t()).await;
        rec.check(name, &format!("GET {path}"), &r);
    }
    // The audit writer is asynchronous: wait for the record the list shows.
    let filter = doc! { "merchantId": s.merchant, "action": "product.updated" };
    assert_eq!(audit_records(app, filter, 1).await.len(), 1);
    let path = "/api/merchant/audit/logs?action=product.updated";
    let r = app.get(path, s.t()).await;
    rec.check("audit_logs", "GET /api/merchant/audit/logs?action=…", &r);
}

/// An analytics export job (last: its audit record would show in the audit cases' figures).
async fn export_case(app: &TestApp, rec: &mut Recorder, s: &Shop) {
    let export = json!({ "format": "json", "type": "products" });
    let r = app
        .post("/api/merchant/analytics/export", s.t(), export)
        .await;
    rec.check(
        "analytics_export",
        "POST /api/merchant/analytics/export",
        &r,
    );
}

/// A forged token that expired a minute ago.
fn expired_token(merchant: ObjectId) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({ "merchantId": merchant.to_hex(), "iat": now - 120, "exp": now - 60 });
    let key = jsonwebtoken::EncodingKey::from_secret(ACCESS_SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("sign")
}

/// The error envelopes: 400 (validation, duplicate e-mail), 401 (missing, invalid, expired),
/// 403, 404 and 409.
async fn error_cases(app: &TestApp, rec: &mut Recorder, s: &Shop) {
    let r = app.post("/api/merchant/products", s.t(), json!({})).await;
    rec.check("error_400_validation", "POST /api/merchant/products", &r);
    let me = "/api/merchant/auth/me";
    let r = app.get(me, None).await;
    rec.check("error_401_missing", "GET /api/merchant/auth/me", &r);
    let r = app.get(me, Some("garbage")).await;
    rec.check("error_401_invalid", "GET /api/merchant/auth/me", &r);
    let r = app.get(me, Some(&expired_token(s.merchant))).await;
    rec.check("error_401_expired", "GET /api/merchant/auth/me", &r);
    let r = app.get("/api/merchant/products", Some("garbage")).await;
    rec.check("error_401_tenant", "GET /api/merchant/products", &r);
    let staff = member_token(app, s.merchant, "staff").await;
    let r = app.get("/api/merchant/audit/logs", Some(&staff)).await;
    rec.check("error_403_permission", "GET /api/merchant/audit/logs", &r);
    let missing = format!("/api/merchant/products/{}", ObjectId::new().to_hex());
    let r = app.get(&missing, s.t()).await;
    rec.check("error_404_product", "GET /api/merchant/products/{id}", &r);
    let r = app.get("/api/merchant/no-such-route", s.t()).await;
    rec.check("error_404_route", "GET /api/merchant/no-such-route", &r);
    let email = format!("{}@example.com", crate::helpers::unique("dup"));
    let body = crate::helpers::registration(&email);
    app.post("/api/merchant/auth/register", None, body.clone())
        .await;
    let r = app.post("/api/merchant/auth/register", None, body).await;
    rec.check(
        "error_400_duplicate",
        "POST /api/merchant/auth/register",
        &r,
    );
    let stock = format!("/api/merchant/products/{}/stock", s.product_id().to_hex());
    let r = app.post(&stock, s.t(), json!({ "quantity": -1000 })).await;
    rec.check(
        "error_409_stock",
        "POST /api/merchant/products/{id}/stock",
        &r,
    );
}

/// Cashback create, reads, decisions (single and bulk), figures and export.
async fn cashback_cases(app: &TestApp, rec: &mut Recorder, s: &Shop) {
    let merchant = s.merchant.to_hex();
    let risky = crate::cashback::request(app, &s.token, &merchant, 100.0, 60.0).await;
    let plain = crate::cashback::request(app, &s.token, &merchant, 100.0, 5.0).await;
    let base = "/api/merchant/cashback";
    let one = format!("{base}/{}", risky["_id"].as_str().expect("id"));
    let other = plain["_id"].as_str().expect("id").to_string();
    let r = app.get(base, s.t()).await;
    rec.check("cashback_list", &format!("GET {base}"), &r);
    let r = app.get(&one, s.t()).await;
    rec.check("cashback_get", &format!("GET {base}/{{id}}"), &r);
    let r = app
        .put(&format!("{one}/approve"), s.t(), json!({ "notes": "ok" }))
        .await;
    rec.check(
        "cashback_approve",
        &format!("PUT {base}/{{id}}/approve"),
        &r,
    );
    let paid = json!({ "paymentMethod": "wallet", "paymentReference": "W-1" });
    let r = app.put(&format!("{one}/mark-paid"), s.t(), paid).await;
    rec.check(
        "cashback_mark_paid",
        &format!("PUT {base}/{{id}}/mark-paid"),
        &r,
    );
    let bulk = json!({ "action": "reject", "reason": "No", "cashbackIds": [other, ObjectId::new().to_hex()] });
    let r = app.post(&format!("{base}/bulk-action"), s.t(), bulk).await;
    rec.check("cashback_bulk", &format!("POST {base}/bulk-action"), &r);
    let reads = [
        ("cashback_pending_count", "pending-count"),
        ("cashback_stats", "stats"),
        ("cashback_analytics", "analytics"),
        ("cashback_metrics", "metrics"),
        ("cashback_export", "export"),
    ];
    for (name, tail) in reads {
        let r = app.get(&format!("{base}/{tail}"), s.t()).await;
        rec.check(name, &format!("GET {base}/{tail}"), &r);
    }
}

/// Every audit view, once the writer has stored every record made so far.
async fn audit_cases(app: &TestApp, rec: &mut Recorder, s: &Shop) {
    // The writer keeps the order records were made in: once the last one is stored, all are.
    let filter = doc! { "merchantId": s.merchant, "action": "cashback.bulk_action" };
    assert_eq!(audit_records(app, filter, 1).await.len(), 1);
    let base = "/api/merchant/audit";
    let product = s.product_id().to_hex();
    let reads = [
        ("audit_stats", "stats".to_string()),
        ("audit_search", "search?q=cashback".to_string()),
        ("audit_activity", "activity".to_string()),
        ("audit_timeline", "timeline".to_string()),
        ("audit_today", "timeline/today".to_string()),
        ("audit_recent", "timeline/recent".to_string()),
        ("audit_critical", "timeline/critical".to_string()),
        ("audit_summary", "timeline/summary".to_string()),
        ("audit_heatmap", "timeline/heatmap".to_string()),
        ("audit_retention_stats", "retention/stats".to_string()),
        ("audit_compliance", "retention/compliance".to_string()),
        ("audit_export", "export".to_string()),
        ("audit_resource", format!("resource/product/{product}")),
        ("audit_user", format!("user/{}", s.merchant.to_hex())),
    ];
    for (name, tail) in reads {
        let r = app.get(&format!("{base}/{tail}"), s.t()).await;
        let request = tail
            .replace(&product, "{id}")
            .replace(&s.merchant.to_hex(), "{id}");
        rec.check(name, &format!("GET {base}/{request}"), &r);
    }
    let body = json!({ "retentionDays": 3650 });
    let r = app
        .post(&format!("{base}/retention/cleanup"), s.t(), body)
        .await;
    rec.check(
        "audit_cleanup",
        &format!("POST {base}/retention/cleanup"),
        &r,
    );
}

#[tokio::test]
async fn representative_responses_keep_their_recorded_json_shapes() {
    let app = spawn_app().await;
    let mut rec = Recorder::new();
    // Act: one merchant walks through every area, then the error cases.
    let s = auth_cases(&app, &mut rec).await;
    product_cases(&app, &mut rec, &s).await;
    onboarding_cases(&app, &mut rec, &s).await;
    order_cases(&app, &mut rec, &s).await;
    report_cases(&app, &mut rec, &s).await;
    error_cases(&app, &mut rec, &s).await;
    cashback_cases(&app, &mut rec, &s).await;
    audit_cases(&app, &mut rec, &s).await;
    crate::shapes_accounts::account_cases(&app, &mut rec, &s).await;
    export_case(&app, &mut rec, &s).await;
    app.finish().await;
    // Assert: every difference at once, by request and key path.
    rec.finish();
}
