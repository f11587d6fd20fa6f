//! The permission matrix: every role against a representative route of every area, and the
//! fixtures other team/audit/cashback tests share (team members with a role, audit polling).

use std::time::Duration;

use merchant_api::{domain::role_permissions, store::ObjectId};
use mongodb::bson::{Document, doc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, unique};

/// Insert an active team member with `role` for `merchant` and log in; returns `(token, id)`.
pub async fn member_token(app: &TestApp, merchant: &str, role: &str) -> (String, String) {
    let merchant = ObjectId::parse_str(merchant).expect("merchant id");
    let email = format!("{}@example.com", unique(role).to_lowercase());
    let id = ObjectId::new();
    let hash = bcrypt::hash("member-pass", 4).expect("hash");
    app.store
        .db()
        .collection::<Document>("merchantusers")
        .insert_one(doc! {
            "_id": id, "merchantId": merchant, "email": &email, "password": hash,
            "name": format!("{role} member"), "role": role, "permissions": role_permissions(role),
            "status": "active", "createdAt": mongodb::bson::DateTime::now(), "invitedBy": merchant,
        })
        .await
        .expect("insert member");
    let r = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "member-pass" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let token = r.body["data"]["token"].as_str().expect("token").to_string();
    (token, id.to_hex())
}

/// Wait until at least `n` audit records match `filter` (the writer is asynchronous).
pub async fn audit_records(app: &TestApp, filter: Document, n: usize) -> Vec<Document> {
    let coll = app.store.db().collection::<Document>("auditlogs");
    let mut found = Vec::new();
    // Up to 20 s: the shared test server can be slow under load.
    for _ in 0..400 {
        use futures::TryStreamExt;
        found = coll
            .find(filter.clone())
            .sort(doc! { "timestamp": 1, "_id": 1 })
            .await
            .expect("find")
            .try_collect()
            .await
            .expect("collect");
        if found.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    found
}

/// `(method, path, permission)` of one representative route per area and action kind.
pub fn matrix(product: &str, member: &str) -> Vec<(&'static str, String, &'static str)> {
    let other = ObjectId::new().to_hex();
    vec![
        ("GET", "/api/merchant/products".into(), "products:view"),
        (
            "GET",
            "/api/merchant/products/categories".into(),
            "products:view",
        ),
        ("POST", "/api/merchant/products".into(), "products:create"),
        (
            "PUT",
            format!("/api/merchant/products/{other}"),
            "products:edit",
        ),
        (
            "DELETE",
            format!("/api/merchant/products/{other}"),
            "products:delete",
        ),
        (
            "GET",
            format!("/api/merchant/products/{product}/variants"),
            "products:view",
        ),
        (
            "POST",
            format!("/api/merchant/products/{product}/variants"),
            "products:edit",
        ),
        (
            "GET",
            "/api/merchant/products/low-stock".into(),
            "inventory:view",
        ),
        (
            "GET",
            "/api/merchant/dashboard/low-stock".into(),
            "inventory:view",
        ),
        (
            "POST",
            format!("/api/merchant/products/{other}/stock"),
            "inventory:edit",
        ),
        (
            "GET",
            "/api/merchant/onboarding/status".into(),
            "profile:view",
        ),
        (
            "POST",
            "/api/merchant/onboarding/step/9".into(),
            "profile:edit",
        ),
        ("GET", "/api/merchant/auth/me".into(), "profile:view"),
        ("PUT", "/api/merchant/auth/profile".into(), "profile:edit"),
        ("GET", "/api/merchant/team".into(), "team:view"),
        ("GET", "/api/merchant/team/activity".into(), "team:view"),
        ("POST", "/api/merchant/team/invite".into(), "team:invite"),
        (
            "PUT",
            format!("/api/merchant/team/{member}/role"),
            "team:change_role",
        ),
        (
            "PUT",
            format!("/api/merchant/team/{other}/status"),
            "team:change_status",
        ),
        (
            "DELETE",
            format!("/api/merchant/team/{other}"),
            "team:remove",
        ),
        ("GET", "/api/merchant/cashback".into(), "orders:view"),
        (
            "GET",
            "/api/merchant/cashback/pending-count".into(),
            "orders:view",
        ),
        (
            "PUT",
            format!("/api/merchant/cashback/{other}/approve"),
            "orders:refund",
        ),
        (
            "POST",
            "/api/merchant/cashback/bulk-action".into(),
            "orders:refund",
        ),
        (
            "GET",
            "/api/merchant/cashback/export".into(),
            "orders:export",
        ),
        ("GET", "/api/merchant/audit/logs".into(), "logs:view"),
        ("GET", "/api/merchant/audit/timeline".into(), "logs:view"),
        ("GET", "/api/merchant/audit/export".into(), "logs:export"),
    ]
}

#[tokio::test]
async fn each_role_is_allowed_or_denied_per_route_with_the_permission_named() {
    let app = spawn_app().await;
    // Arrange: an owner, one member per role, a product.
    let (owner, merchant, _) = app.register("matrix").await;
    let product = app.product(&owner, "Matrix item", 3).await;
    let product = product["_id"].as_str().expect("product id").to_string();
    let mut tokens = vec![("owner", owner.clone(), String::new())];
    for role in ["admin", "manager", "staff"] {
        let (token, id) = member_token(&app, &merchant, role).await;
        tokens.push((role, token, id));
    }
    let staff_id = tokens[3].2.clone();
    // Act / Assert
    let mut checked = 0;
    for (role, token, _) in &tokens {
        let granted = role_permissions(role);
        for (method, path, perm) in matrix(&product, &staff_id) {
            let body = (method != "GET" && method != "DELETE").then(|| json!({}));
            let r = app.call(method, &path, Some(token), body).await;
            if granted.iter().any(|p| p == perm) {
                assert_ne!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{role} {method} {path}: {}",
                    r.body
                );
            } else {
                assert_eq!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{role} {method} {path}: {}",
                    r.body
                );
                assert_eq!(r.body["message"], "Forbidden: Insufficient permissions");
                assert_eq!(r.body["required"], perm, "{role} {method} {path}");
                assert_eq!(r.body["userRole"], *role);
                assert_eq!(r.body["success"], json!(false));
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 4 * matrix("", "").len());
    // Every role may read its own permissions.
    for (role, token, _) in &tokens {
        let r = app
            .get("/api/merchant/team/me/permissions", Some(token))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["data"]["role"], *role);
        let expected: Vec<Value> = role_permissions(role)
            .into_iter()
            .map(Value::from)
            .collect();
        assert_eq!(r.body["data"]["permissions"], Value::Array(expected));
        assert_eq!(
            r.body["data"]["permissionCount"],
            role_permissions(role).len()
        );
    }
    app.finish().await;
}

#[tokio::test]
async fn staff_read_onboarding_without_bank_or_kyc_fields_unless_their_permissions_allow() {
    // Arrange: the owner saved business (tax ids), bank and verification steps.
    let app = spawn_app().await;
    let (owner, merchant, _) = app.register("kyc").await;
    let base = "/api/merchant/onboarding";
    let steps = [
        (
            1,
            json!({ "businessName": "Acme Ltd", "businessType": "retail", "gstNumber": "27AAPFU0939F1ZV", "panNumber": "AAPFU0939F", "registrationNumber": "REG-1" }),
        ),
        (
            3,
            json!({ "accountNumber": "123456789", "ifscCode": "ABCD0123456", "accountHolderName": "Ann" }),
        ),
        (
            5,
            json!({ "documents": [{ "type": "pan_card", "url": "https://docs.example/pan.pdf" }] }),
        ),
    ];
    for (n, body) in steps {
        let r = app
            .post(&format!("{base}/step/{n}"), Some(&owner), body)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let (staff, _) = member_token(&app, &merchant, "staff").await;
    let (manager, _) = member_token(&app, &merchant, "manager").await;
    // Act
    let as_staff = app.get(&format!("{base}/status"), Some(&staff)).await;
    let as_manager = app.get(&format!("{base}/status"), Some(&manager)).await;
    let as_owner = app.get(&format!("{base}/status"), Some(&owner)).await;
    // Assert: staff (profile:view only) see progress and names, no bank or KYC fields…
    assert_eq!(as_staff.status, StatusCode::OK, "{}", as_staff.body);
    let data = &as_staff.body["data"]["stepData"];
    assert_eq!(data["businessInfo"]["companyName"], "Acme Ltd");
    for hidden in ["gstNumber", "panNumber", "registrationNumber"] {
        assert!(
            data["businessInfo"].get(hidden).is_none(),
            "{hidden}: {data}"
        );
    }
    assert!(data.get("bankDetails").is_none(), "{data}");
    assert!(data.get("verification").is_none(), "{data}");
    assert!(!as_staff.body.to_string().contains("123456789"));
    let docs = app.get(&format!("{base}/documents"), Some(&staff)).await;
    assert_eq!(docs.status, StatusCode::FORBIDDEN, "{}", docs.body);
    assert_eq!(docs.body["required"], "settings:view");
    // …managers (settings:view) see KYC but not the bank account; the owner sees everything.
    let data = &as_manager.body["data"]["stepData"];
    assert_eq!(data["businessInfo"]["panNumber"], "AAPFU0939F");
    assert!(data.get("bankDetails").is_none(), "{data}");
    assert_eq!(
        app.get(&format!("{base}/documents"), Some(&manager))
            .await
            .status,
        StatusCode::OK
    );
    let data = &as_owner.body["data"]["stepData"];
    assert_eq!(data["bankDetails"]["accountNumber"], "123456789");
    assert_eq!(data["businessInfo"]["gstNumber"], "27AAPFU0939F1ZV");
    app.finish().await;
}
