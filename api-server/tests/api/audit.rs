//! Audit trail: one record per successful mutating request with who/what/where, the explicit
//! auth events, every view's shape and numbers, retention, export and isolation.

use merchant_api::store::ObjectId;
use mongodb::bson::{DateTime, Document, doc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, spawn_app, spawn_app_with},
    permissions::{audit_records, member_token},
};

fn oid(s: &str) -> ObjectId {
    ObjectId::parse_str(s).expect("object id")
}

/// Create, update (price 10 → 12) and delete a product; returns its id and the update's
/// correlation id.
async fn product_lifecycle(app: &TestApp, token: &str) -> (String, String) {
    let p = app.product(token, "Audited lamp", 4).await;
    let pid = p["_id"].as_str().expect("id").to_string();
    let update = app
        .client
        .put(format!("{}/api/merchant/products/{pid}", app.address))
        .bearer_auth(token)
        .header("user-agent", "audit-test/1.0")
        .header("x-request-id", "req-audit-update-1")
        .json(&json!({ "price": 12.0 }))
        .send()
        .await
        .expect("update");
    assert_eq!(update.status(), StatusCode::OK);
    let correlation = update.headers()["x-correlation-id"]
        .to_str()
        .expect("header")
        .to_string();
    assert_eq!(
        app.delete(&format!("/api/merchant/products/{pid}"), Some(token))
            .await
            .status,
        StatusCode::OK
    );
    (pid, correlation)
}

#[tokio::test]
async fn each_successful_mutation_writes_one_record_with_who_what_and_where() {
    let app = spawn_app().await;
    let (owner, merchant, _) = app.register("audit").await;
    let m = oid(&merchant);
    let (pid, correlation) = product_lifecycle(&app, &owner).await;
    // Reads and failed writes record nothing.
    assert_eq!(
        app.get("/api/merchant/products", Some(&owner)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.post("/api/merchant/products", Some(&owner), json!({}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let records = audit_records(&app, doc! { "merchantId": m, "resourceType": "product" }, 3).await;
    let actions: Vec<&str> = records
        .iter()
        .filter_map(|r| r.get_str("action").ok())
        .collect();
    assert_eq!(
        actions,
        ["product.created", "product.updated", "product.deleted"]
    );
    for r in &records {
        assert_eq!(r.get_object_id("resourceId"), Ok(oid(&pid)));
        assert!(r.get("merchantUserId").is_none(), "the owner acted");
        assert_eq!(r.get_str("ipAddress"), Ok("127.0.0.1"));
        assert!(r.get_datetime("timestamp").is_ok());
    }
    let update = &records[1];
    assert_eq!(update.get_str("requestId"), Ok(correlation.as_str()));
    assert_eq!(correlation, "req-audit-update-1");
    assert_eq!(update.get_str("userAgent"), Ok("audit-test/1.0"));
    assert_eq!(update.get_str("severity"), Ok("info"));
    let details = update.get_document("details").expect("details");
    assert_eq!(
        details
            .get_document("before")
            .and_then(|b| b.get_f64("price")),
        Ok(10.0)
    );
    assert_eq!(
        details
            .get_document("after")
            .and_then(|b| b.get_f64("price")),
        Ok(12.0)
    );
    let changes = details.get_array("changes").expect("changes");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(records[2].get_str("severity"), Ok("warning"));
    // A team member's mutation names the member.
    let (manager, manager_id) = member_token(&app, &merchant, "manager").await;
    let p = app.product(&manager, "Member lamp", 1).await;
    let by_member = audit_records(
        &app,
        doc! { "merchantId": m, "action": "product.created", "merchantUserId": oid(&manager_id) },
        1,
    )
    .await;
    assert_eq!(by_member.len(), 1);
    assert_eq!(
        by_member[0].get_object_id("resourceId"),
        Ok(oid(p["_id"].as_str().expect("id")))
    );
    // Exactly one record per request: nothing else arrived for the failed create or the reads.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let all = audit_records(&app, doc! { "merchantId": m, "resourceType": "product" }, 4).await;
    assert_eq!(all.len(), 4);
    app.finish().await;
}

#[tokio::test]
async fn logins_failed_logins_logouts_and_password_changes_are_recorded_once() {
    let app = spawn_app().await;
    let (token, merchant, email) = app.register("audit-auth").await;
    let m = oid(&merchant);
    let bad = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "wrong-pass" }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let ok = app
        .post(
            "/api/merchant/auth/login",
            Some(&token),
            json!({ "email": email, "password": "secret1" }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let change = app
        .put("/api/merchant/auth/change-password", Some(&token), json!({ "currentPassword": "secret1", "newPassword": "secret2", "confirmPassword": "secret2" }))
        .await;
    assert_eq!(change.status, StatusCode::OK, "{}", change.body);
    assert_eq!(
        app.post("/api/merchant/auth/logout", Some(&token), json!({}))
            .await
            .status,
        StatusCode::OK
    );
    let _ = audit_records(&app, doc! { "merchantId": m, "resourceType": "auth" }, 4).await;
    // Give a duplicate (there must be none) time to arrive before counting.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let records = audit_records(&app, doc! { "merchantId": m, "resourceType": "auth" }, 4).await;
    let actions: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r.get_str("action").unwrap_or_default(),
                r.get_str("severity").unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("auth.failed_login", "warning"),
            ("auth.login", "info"),
            ("auth.password_changed", "info"),
            ("auth.logout", "info")
        ]
    );
    assert!(
        records
            .iter()
            .all(|r| r.get_object_id("resourceId") == Ok(m))
    );
    app.finish().await;
}

async fn seed_views(app: &TestApp) -> (String, String, String) {
    let (owner, merchant, _) = app.register("audit-views").await;
    let (pid, _) = product_lifecycle(app, &owner).await;
    let _ = audit_records(
        app,
        doc! { "merchantId": oid(&merchant), "resourceType": "product" },
        3,
    )
    .await;
    // A 300-day-old record (inside the 365-day TTL: an expired one could vanish mid-test when
    // the server's TTL monitor runs) and a critical one, written directly.
    let logs = app.store.db().collection::<Document>("auditlogs");
    let old = DateTime::from_millis(DateTime::now().timestamp_millis() - 300 * 86_400_000);
    for (action, severity, at) in [
        ("auth.failed_login", "critical", DateTime::now()),
        ("product.updated", "info", old),
    ] {
        logs.insert_one(doc! {
            "merchantId": oid(&merchant), "action": action, "resourceType": "fixture", "details": {},
            "ipAddress": "10.0.0.1", "userAgent": "fixture", "timestamp": at, "severity": severity,
            "createdAt": at, "updatedAt": at,
        })
        .await
        .expect("insert");
    }
    (owner, merchant, pid)
}

#[tokio::test]
async fn the_audit_views_answer_with_the_contract_shapes_and_counts() {
    let app = spawn_app().await;
    let (t, merchant, pid) = seed_views(&app).await;
    let get = |path: &str| {
        let (app, t) = (&app, &t);
        let path = path.to_string();
        async move {
            let r = app.get(&path, Some(t)).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
            r.body["data"].clone()
        }
    };
    // 1 register-free lifecycle (3) + 2 fixtures = 5 records.
    let logs = get("/api/merchant/audit/logs?limit=2").await;
    assert_eq!(
        (
            logs["total"].clone(),
            logs["page"].clone(),
            logs["totalPages"].clone()
        ),
        (json!(5), json!(1), json!(3))
    );
    assert_eq!(logs["logs"].as_array().map(Vec::len), Some(2));
    let updated = get("/api/merchant/audit/logs?action=product.updated").await;
    assert_eq!(updated["total"], 2);
    let critical_only = get("/api/merchant/audit/logs?severity=critical").await;
    assert_eq!(critical_only["total"], 1);
    let stats = get("/api/merchant/audit/stats").await;
    assert_eq!(stats["totalLogs"], 5);
    assert_eq!(stats["logsByAction"]["product.updated"], 2);
    assert_eq!(stats["logsBySeverity"]["warning"], 1);
    assert_eq!(stats["recentActivity"].as_array().map(Vec::len), Some(5));
    let search = get("/api/merchant/audit/search?q=PRODUCT").await;
    assert_eq!(
        (search["searchTerm"].clone(), search["count"].clone()),
        (json!("PRODUCT"), json!(4))
    );
    let missing = app.get("/api/merchant/audit/search", Some(&t)).await;
    assert_eq!(
        (missing.status, missing.body["message"].clone()),
        (StatusCode::BAD_REQUEST, json!("Search term is required"))
    );
    let timeline = get("/api/merchant/audit/timeline").await;
    let days = timeline.as_array().expect("timeline is an array");
    assert_eq!(days.len(), 2);
    assert_eq!(days[0]["count"], 4);
    let today = get("/api/merchant/audit/timeline/today").await;
    assert_eq!(today["count"], 4);
    assert_eq!(today["date"].as_str().map(str::len), Some(10));
    assert_eq!(
        get("/api/merchant/audit/timeline/recent?limit=3").await["count"],
        3
    );
    assert_eq!(
        get("/api/merchant/audit/timeline/critical").await["count"],
        1
    );
    let summary = get("/api/merchant/audit/timeline/summary").await;
    assert_eq!(
        summary["summary"]["totalActivities"], 4,
        "the 300-day-old record is outside 30 days"
    );
    assert_eq!(summary["summary"]["byResourceType"]["product"], 3);
    assert_eq!(summary["summary"]["byUser"][0]["count"], 4);
    assert_eq!(summary["summary"]["byUser"][0]["userName"], "Ann Owner");
    assert_eq!(
        summary["summary"]["dailyBreakdown"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let heatmap = get("/api/merchant/audit/timeline/heatmap").await;
    let cells: i64 = heatmap["heatmap"]
        .as_array()
        .expect("heatmap")
        .iter()
        .filter_map(|c| c["count"].as_i64())
        .sum();
    assert_eq!(cells, 4);
    let retention = get("/api/merchant/audit/retention/stats").await;
    assert_eq!(retention["totalLogs"], 5);
    assert_eq!(
        retention["byMonth"]
            .as_array()
            .map(|m| m.iter().filter_map(|x| x["count"].as_i64()).sum::<i64>()),
        Some(5)
    );
    let compliance = get("/api/merchant/audit/retention/compliance").await;
    assert_eq!(
        (
            compliance["retentionPeriodDays"].clone(),
            compliance["logsToBeDeleted"].clone()
        ),
        (json!(365), json!(0))
    );
    assert_eq!(compliance["complianceStatus"], "compliant");
    assert!(compliance["oldestLog"].is_string());
    let resource = get(&format!("/api/merchant/audit/resource/product/{pid}")).await;
    assert_eq!(resource["total"], 3);
    let owner_trail = get(&format!("/api/merchant/audit/user/{merchant}")).await;
    assert_eq!(owner_trail["total"], 5);
    assert!(get("/api/merchant/audit/activity").await.is_array());
    // Bad filters are field errors, not 500s.
    for (path, field) in [
        ("/api/merchant/audit/logs?severity=loud", "severity"),
        ("/api/merchant/audit/logs?page=0", "page"),
        ("/api/merchant/audit/logs?startDate=yesterday", "startDate"),
        ("/api/merchant/audit/logs?userId=nope", "userId"),
        ("/api/merchant/audit/timeline/recent?limit=1000", "limit"),
        ("/api/merchant/audit/export?format=pdf", "format"),
    ] {
        let r = app.get(path, Some(&t)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(r.body["errors"][0]["field"], field, "{path}: {}", r.body);
    }
    let bad_id = app
        .get("/api/merchant/audit/resource/product/nope", Some(&t))
        .await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
    // Export: JSON by default, CSV and XLSX attachments on request.
    let export = app.get("/api/merchant/audit/export", Some(&t)).await;
    assert_eq!(export.body["message"], "Export data retrieved successfully");
    assert_eq!(export.body["data"]["total"], 4);
    let csv = app
        .client
        .get(format!(
            "{}/api/merchant/audit/export?download=true&format=csv",
            app.address
        ))
        .bearer_auth(&t)
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), StatusCode::OK);
    let disposition = csv.headers()["content-disposition"]
        .to_str()
        .expect("header")
        .to_string();
    assert!(
        disposition.starts_with(&format!("attachment; filename=\"audit_logs_{merchant}_"))
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let text = csv.text().await.expect("text");
    assert!(text.starts_with("Timestamp,Action,Resource Type"), "{text}");
    assert_eq!(text.lines().count(), 5);
    let xlsx = app
        .client
        .get(format!(
            "{}/api/merchant/audit/export?download=true&format=xlsx",
            app.address
        ))
        .bearer_auth(&t)
        .send()
        .await
        .expect("xlsx");
    assert_eq!(&xlsx.bytes().await.expect("bytes")[..2], b"PK");
    // Cleanup removes what is past the retention asked for.
    let bad = app
        .post(
            "/api/merchant/audit/retention/cleanup",
            Some(&t),
            json!({ "retentionDays": 0 }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let cleanup = app
        .post(
            "/api/merchant/audit/retention/cleanup",
            Some(&t),
            json!({ "retentionDays": 200 }),
        )
        .await;
    assert_eq!(cleanup.status, StatusCode::OK, "{}", cleanup.body);
    assert_eq!(cleanup.body["data"]["deletedCount"], 1);
    let after: Value = get("/api/merchant/audit/logs?action=product.updated").await;
    assert_eq!(after["total"], 1, "the 300-day-old record is gone");
    app.finish().await;
}

#[tokio::test]
async fn audit_views_are_isolated_between_merchants() {
    let app = spawn_app().await;
    let (_, a_merchant, pid) = seed_views(&app).await;
    let (b, _, _) = app.register("audit-b").await;
    for path in [
        "/api/merchant/audit/logs".to_string(),
        "/api/merchant/audit/search?q=product".into(),
        "/api/merchant/audit/timeline/recent".into(),
        "/api/merchant/audit/export".into(),
        format!("/api/merchant/audit/resource/product/{pid}"),
        format!("/api/merchant/audit/user/{a_merchant}"),
    ] {
        let r = app.get(&path, Some(&b)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let d = &r.body["data"];
        let n = d["total"]
            .as_i64()
            .or_else(|| d["count"].as_i64())
            .expect("a count");
        assert_eq!(n, 0, "{path}: {}", r.body);
    }
    let stats = app.get("/api/merchant/audit/stats", Some(&b)).await;
    assert_eq!(stats.body["data"]["totalLogs"], 0);
    assert_eq!(
        app.get("/api/merchant/audit/timeline", Some(&b)).await.body["data"],
        json!([])
    );
    assert_eq!(
        app.get("/api/merchant/audit/retention/stats", Some(&b))
            .await
            .body["data"]["totalLogs"],
        0
    );
    let compliance = app
        .get("/api/merchant/audit/retention/compliance", Some(&b))
        .await;
    assert_eq!(compliance.body["data"]["complianceStatus"], "non-compliant");
    app.finish().await;
}

#[tokio::test]
async fn the_ttl_index_follows_the_configured_retention() {
    let app = spawn_app_with(&["--audit-retention-days", "30"]).await;
    let (t, _, _) = app.register("audit-ttl").await;
    let indexes: Vec<mongodb::IndexModel> = {
        use futures::TryStreamExt;
        app.store
            .db()
            .collection::<Document>("auditlogs")
            .list_indexes()
            .await
            .expect("list")
            .try_collect()
            .await
            .expect("collect")
    };
    let ttl = indexes
        .iter()
        .find(|i| i.options.as_ref().and_then(|o| o.name.as_deref()) == Some("timestamp_ttl"))
        .expect("ttl index");
    let age = ttl
        .options
        .as_ref()
        .and_then(|o| o.expire_after)
        .map(|d| d.as_secs());
    assert_eq!(age, Some(30 * 86_400));
    let c = app
        .get("/api/merchant/audit/retention/compliance", Some(&t))
        .await;
    assert_eq!(c.body["data"]["retentionPeriodDays"], 30);
    // A restart with another retention changes the index in place.
    app.store.ensure_audit_ttl(90).await.expect("collMod");
    let indexes: Vec<mongodb::IndexModel> = {
        use futures::TryStreamExt;
        app.store
            .db()
            .collection::<Document>("auditlogs")
            .list_indexes()
            .await
            .expect("list")
            .try_collect()
            .await
            .expect("collect")
    };
    let age = indexes
        .iter()
        .find(|i| i.options.as_ref().and_then(|o| o.name.as_deref()) == Some("timestamp_ttl"))
        .and_then(|i| i.options.as_ref()?.expire_after)
        .map(|d| d.as_secs());
    assert_eq!(age, Some(90 * 86_400));
    app.finish().await;
}
