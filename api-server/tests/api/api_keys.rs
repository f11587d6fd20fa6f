//! Scoped API keys (`mk_live_…`), revoke-all and `rbacMode`, through the HTTP API: what a key
//! may do, that it never holds more than its creator, rotation with a grace window, revocation,
//! every earlier token refused after revoke-all, and shadow mode recording would-be denials.

use std::time::{Duration, Instant};

use merchant_api::store::ObjectId;
use mongodb::bson::{Document, doc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    helpers::{TestApp, spawn_app, unique},
    permissions::{audit_records, matrix, member_token},
    sessions::{legacy_token, login, refresh_with},
};

const KEYS: &str = "/api/merchant/api-keys";

/// Make a key with `permissions` as `token`'s caller; returns `(key, id)`.
async fn make_key(app: &TestApp, token: &str, permissions: &[&str]) -> (String, String) {
    let r = app
        .post(
            KEYS,
            Some(token),
            json!({ "name": unique("key"), "permissions": permissions }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let key = r.body["data"]["key"].as_str().expect("key").to_string();
    let id = r.body["data"]["apiKey"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    (key, id)
}

/// An active member with exactly `permissions`; returns `(token, id)`.
async fn member_with(app: &TestApp, merchant: &str, permissions: &[&str]) -> (String, String) {
    let (token, id) = member_token(app, merchant, "manager").await;
    let oid = ObjectId::parse_str(&id).expect("member id");
    app.store
        .db()
        .collection::<Document>("merchantusers")
        .update_one(
            doc! { "_id": oid },
            doc! { "$set": { "permissions": permissions } },
        )
        .await
        .expect("set permissions");
    (token, id)
}

#[tokio::test]
async fn a_read_only_key_reads_and_gets_403_naming_the_permission_on_every_write() {
    let app = spawn_app().await;
    let (owner, merchant, _) = app.register("keys").await;
    let product = app.product(&owner, "Keyed item", 3).await;
    let product = product["_id"].as_str().expect("product id").to_string();
    let (staff, staff_id) = member_token(&app, &merchant, "staff").await;
    let views: Vec<&str> = merchant_api::domain::PERMISSIONS
        .iter()
        .copied()
        .filter(|p| p.ends_with(":view"))
        .collect();
    // Arrange: a key holding every view permission, made by the owner.
    let r = app
        .post(
            KEYS,
            Some(&owner),
            json!({ "name": "Read-only reporting", "permissions": views, "expiresInDays": 30 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let key = r.body["data"]["key"].as_str().expect("key").to_string();
    let view = &r.body["data"]["apiKey"];
    assert!(key.starts_with("mk_live_") && key.len() == 72, "{key}");
    assert!(key.starts_with(view["prefix"].as_str().expect("prefix")));
    assert_eq!(view["status"], "active");
    assert_eq!(view["createdBy"], Value::Null);
    assert!(view["expiresAt"].is_string());
    // Stored as its digest only.
    let stored = app
        .store
        .db()
        .collection::<Document>("apikeys")
        .find_one(doc! {})
        .await
        .expect("find")
        .expect("stored");
    assert_eq!(
        stored.get_str("keyDigest").expect("digest"),
        hex::encode(Sha256::digest(key.as_bytes()))
    );
    assert!(!format!("{stored:?}").contains(&key), "plain key stored");
    // Act / Assert: every route of the permission matrix.
    let mut writes = 0;
    for (method, path, permission) in matrix(&product, &staff_id) {
        let body = (method != "GET" && method != "DELETE").then(|| json!({}));
        let r = app.call(method, &path, Some(&key), body).await;
        if views.contains(&permission) {
            assert_ne!(
                r.status,
                StatusCode::FORBIDDEN,
                "{method} {path}: {}",
                r.body
            );
            assert_ne!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {}",
                r.body
            );
        } else {
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{method} {path}: {}",
                r.body
            );
            assert_eq!(r.body["required"], permission, "{method} {path}");
            assert_eq!(r.body["userRole"], "api_key");
            assert_eq!(r.body["code"], "PERMISSION_DENIED");
            writes += 1;
        }
    }
    assert!(writes >= 15, "{writes} refused writes");
    // Its own permissions, and no way to make or end keys or sessions with it.
    let me = app
        .get("/api/merchant/team/me/permissions", Some(&key))
        .await;
    assert_eq!(me.body["data"]["role"], "api_key");
    assert_eq!(me.body["data"]["permissions"], json!(views));
    let r = app
        .post(
            KEYS,
            Some(&key),
            json!({ "name": "x", "permissions": ["products:view"] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .call(
            "POST",
            "/api/merchant/auth/sessions/revoke-all",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .put(
            "/api/merchant/auth/change-password",
            Some(&key),
            json!({ "currentPassword": "secret1", "newPassword": "secret2x", "confirmPassword": "secret2x" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // Only `api:manage_keys` holders manage keys; listing shows the use, never the key.
    let r = app.get(KEYS, Some(&staff)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["required"], "api:manage_keys");
    let deadline = Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let r = app.get(KEYS, Some(&owner)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        if r.body["data"]["apiKeys"][0]["lastUsedAt"].is_string() || Instant::now() > deadline {
            break r.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        listed["data"]["apiKeys"][0]["lastUsedAt"].is_string(),
        "{listed}"
    );
    assert!(!listed.to_string().contains(&key));
    // A write through a key is audited with the key's id.
    let (editor, editor_id) = make_key(&app, &owner, &["products:edit"]).await;
    let r = app
        .put(
            &format!("/api/merchant/products/{product}"),
            Some(&editor),
            json!({ "name": "Renamed by a key" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let records = audit_records(
        &app,
        doc! { "action": "product.updated", "details.metadata.apiKeyId": &editor_id },
        1,
    )
    .await;
    assert_eq!(records.len(), 1);
    // Unknown and malformed keys are refused like bad tokens.
    let r = app
        .get(
            "/api/merchant/products",
            Some(&format!("mk_live_{}", "0".repeat(64))),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

#[tokio::test]
async fn a_key_never_holds_more_than_its_creator_and_stops_with_them() {
    let app = spawn_app().await;
    let (owner, merchant, _) = app.register("narrow").await;
    let product = app.product(&owner, "Narrow item", 3).await;
    let product = product["_id"].as_str().expect("product id").to_string();
    let (member, member_id) = member_with(
        &app,
        &merchant,
        &["api:manage_keys", "products:view", "products:edit"],
    )
    .await;
    // Asking for what the member lacks, or for no permission at all, names the field.
    let r = app
        .post(
            KEYS,
            Some(&member),
            json!({ "name": "too much", "permissions": ["products:view", "orders:refund", "nope:x"] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(fields, ["permissions[1]", "permissions[2]"], "{}", r.body);
    for body in [
        json!({ "name": "none", "permissions": [] }),
        json!({ "permissions": ["products:view"] }),
    ] {
        let r = app.post(KEYS, Some(&member), body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    }
    let r = app
        .post(
            KEYS,
            Some(&member),
            json!({ "name": "x", "permissions": ["products:view"], "expiresInDays": 0 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // Arrange: the member's key for viewing and editing products.
    let (key, _) = make_key(&app, &member, &["products:view", "products:edit"]).await;
    let path = format!("/api/merchant/products/{product}");
    assert_eq!(app.get(&path, Some(&key)).await.status, StatusCode::OK);
    // Act: the owner narrows the member to staff (no products:edit).
    let r = app
        .put(
            &format!("/api/merchant/team/{member_id}/role"),
            Some(&owner),
            json!({ "role": "staff" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Assert: the key narrowed with the member, then stops with the suspended member.
    let r = app
        .put(&path, Some(&key), json!({ "name": "edited" }))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.body["required"], "products:edit");
    assert_eq!(app.get(&path, Some(&key)).await.status, StatusCode::OK);
    let r = app
        .put(
            &format!("/api/merchant/team/{member_id}/status"),
            Some(&owner),
            json!({ "status": "suspended" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.get(&path, Some(&key)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    app.finish().await;
}

#[tokio::test]
async fn rotation_keeps_the_old_key_for_its_grace_window_and_revocation_ends_a_key_at_once() {
    let app = spawn_app().await;
    let (owner, _, _) = app.register("rotate").await;
    let (old, id) = make_key(&app, &owner, &["products:view"]).await;
    let products = "/api/merchant/products";
    assert_eq!(app.get(products, Some(&old)).await.status, StatusCode::OK);
    // Act: rotate with a 1 s grace window.
    let r = app
        .post(
            &format!("{KEYS}/{id}/rotate"),
            Some(&owner),
            json!({ "graceSeconds": 1 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let new = r.body["data"]["key"].as_str().expect("key").to_string();
    let new_id = r.body["data"]["apiKey"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(r.body["data"]["previous"]["rotatedTo"], new_id.as_str());
    assert_eq!(
        r.body["data"]["apiKey"]["permissions"],
        json!(["products:view"])
    );
    assert_ne!(new, old);
    // Assert: both work within the window; then only the new one.
    assert_eq!(app.get(products, Some(&old)).await.status, StatusCode::OK);
    assert_eq!(app.get(products, Some(&new)).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = app.get(products, Some(&old)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(app.get(products, Some(&new)).await.status, StatusCode::OK);
    let r = app
        .post(&format!("{KEYS}/{id}/rotate"), Some(&owner), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["code"], "KEY_NOT_ROTATABLE");
    let r = app
        .post(
            &format!("{KEYS}/{new_id}/rotate"),
            Some(&owner),
            json!({ "graceSeconds": 999999 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // Revocation refuses the key on the next request.
    let r = app.delete(&format!("{KEYS}/{new_id}"), Some(&owner)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["status"], "revoked");
    let r = app.get(products, Some(&new)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(r.body["message"], "Token has been revoked");
    let r = app.delete(&format!("{KEYS}/{new_id}"), Some(&owner)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Keys are the merchant's: another merchant cannot see or touch them.
    let (stranger, _, _) = app.register("stranger").await;
    for r in [
        app.get(&format!("{KEYS}/{id}"), Some(&stranger)).await,
        app.delete(&format!("{KEYS}/{id}"), Some(&stranger)).await,
    ] {
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }
    assert_eq!(
        app.get(KEYS, Some(&stranger)).await.body["data"]["apiKeys"],
        json!([])
    );
    app.finish().await;
}

#[tokio::test]
async fn after_revoke_all_every_earlier_token_is_refused_within_a_second() {
    let app = spawn_app().await;
    let (first, merchant, email) = app.register("revoke").await;
    let second = login(&app, &email, "secret1").await;
    let legacy = legacy_token(&merchant, 600);
    let (member, _) = member_token(&app, &merchant, "manager").await;
    let earlier = [
        first.as_str(),
        second["token"].as_str().expect("token"),
        legacy.as_str(),
        member.as_str(),
    ];
    for token in earlier {
        let r = app.get("/api/merchant/auth/me", Some(token)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    // Act
    let r = app
        .call(
            "POST",
            "/api/merchant/auth/sessions/revoke-all",
            Some(&first),
            None,
        )
        .await;
    let revoked_at = Instant::now();
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["scope"], "merchant");
    assert!(
        r.body["data"]["revokedSessions"].as_u64() >= Some(2),
        "{}",
        r.body
    );
    assert_eq!(r.body["data"]["teamMembers"], 1);
    // Assert: every earlier access and refresh token is refused.
    for token in earlier {
        let r = app.get("/api/merchant/auth/me", Some(token)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_eq!(r.body["message"], "Token has been revoked");
    }
    assert!(revoked_at.elapsed() < Duration::from_secs(1));
    let (status, body) =
        refresh_with(&app, second["refreshToken"].as_str().expect("refresh")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // Signing in again works, and a member's own revoke-all ends only that member's tokens.
    let fresh = login(&app, &email, "secret1").await;
    let fresh = fresh["token"].as_str().expect("token").to_string();
    assert_eq!(
        app.get("/api/merchant/auth/me", Some(&fresh)).await.status,
        StatusCode::OK
    );
    let (manager, _) = member_token(&app, &merchant, "manager").await;
    let r = app
        .call(
            "POST",
            "/api/merchant/auth/sessions/revoke-all",
            Some(&manager),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["scope"], "member");
    assert_eq!(
        app.get("/api/merchant/auth/me", Some(&manager))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/merchant/auth/me", Some(&fresh)).await.status,
        StatusCode::OK
    );
    app.finish().await;
}

#[tokio::test]
async fn shadow_mode_lets_members_through_and_records_each_would_be_denial() {
    let app = spawn_app().await;
    let (owner, merchant, _) = app.register("shadow").await;
    let (staff, staff_id) = member_token(&app, &merchant, "staff").await;
    let mode = "/api/merchant/team/rbac-mode";
    assert_eq!(
        app.get(mode, Some(&owner)).await.body["data"]["rbacMode"],
        "enforce"
    );
    // Only the owner switches it, to a known mode.
    let r = app
        .put(mode, Some(&staff), json!({ "rbacMode": "shadow" }))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .put(mode, Some(&owner), json!({ "rbacMode": "lenient" }))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["errors"][0]["field"], "rbacMode");
    let r = app
        .put(mode, Some(&owner), json!({ "rbacMode": "shadow" }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["rbacMode"], "shadow");
    // Act: staff create a product (products:create is not theirs) and read the team list.
    let r = app
        .post(
            "/api/merchant/products",
            Some(&staff),
            crate::helpers::product_body("Shadowed", 1),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app.get("/api/merchant/team", Some(&staff)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Assert: one record per would-be denial, naming the permission, role and route.
    let records = audit_records(&app, doc! { "action": "rbac.shadow_denied" }, 2).await;
    let denied: Vec<(String, String, String)> = records
        .iter()
        .map(|d| {
            let m = d
                .get_document("details")
                .and_then(|d| d.get_document("metadata"))
                .expect("metadata");
            (
                m.get_str("permission").expect("permission").to_string(),
                m.get_str("role").expect("role").to_string(),
                m.get_str("route").expect("route").to_string(),
            )
        })
        .collect();
    assert!(
        denied.contains(&(
            "products:create".into(),
            "staff".into(),
            "/api/merchant/products".into()
        )),
        "{denied:?}"
    );
    assert!(
        denied.contains(&(
            "team:view".into(),
            "staff".into(),
            "/api/merchant/team".into()
        )),
        "{denied:?}"
    );
    assert_eq!(
        records[0]
            .get_object_id("merchantUserId")
            .expect("member")
            .to_hex(),
        staff_id
    );
    // A key is enforced in shadow mode too; the owner's calls record nothing.
    let (key, _) = make_key(&app, &owner, &["products:view"]).await;
    let r = app
        .post(
            "/api/merchant/products",
            Some(&key),
            crate::helpers::product_body("Keyed", 1),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // Back to enforce: staff are refused again.
    let r = app
        .put(mode, Some(&owner), json!({ "rbacMode": "enforce" }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.get("/api/merchant/team", Some(&staff)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.body["required"], "team:view");
    app.finish().await;
}
