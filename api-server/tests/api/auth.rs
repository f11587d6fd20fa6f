//! Auth flows: register, login, lockout, tokens, profile, passwords, e-mail verification,
//! rate limits.

use std::time::Duration;

use merchant_api::store::ObjectId;
use mongodb::bson::{Document, doc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ACCESS_SECRET, TestApp, mailed_link, registration, spawn_app, spawn_app_with, unique,
};

#[tokio::test]
async fn registration_creates_a_store_and_mails_a_verification_link_that_verifies_once() {
    let app = spawn_app().await;
    // Arrange / Act
    let (token, id, email) = app.register("reg").await;
    // Assert: store auto-created, token works, link e-mailed and verifies.
    let stores = app.store.db().collection::<Document>("stores");
    let merchant = ObjectId::parse_str(&id).expect("id");
    assert_eq!(
        stores
            .count_documents(doc! { "merchantId": merchant })
            .await
            .expect("count"),
        1
    );
    let me = app.get("/api/merchant/auth/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["data"]["merchant"]["email"], json!(email));
    assert!(me.body["data"]["merchant"].get("password").is_none());
    let link = mailed_link(&email, "verify-email")
        .await
        .expect("verification e-mail captured");
    let token_in_mail = link.rsplit('/').next().expect("token");
    let ok = app
        .post(
            &format!("/api/merchant/auth/verify-email/{token_in_mail}"),
            None,
            json!({}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["data"]["emailVerified"], json!(true));
    let again = app
        .post(
            "/api/merchant/auth/verify-email",
            None,
            json!({ "token": token_in_mail }),
        )
        .await;
    assert_eq!(again.body["message"], "Email is already verified");
    let bad = app
        .post("/api/merchant/auth/verify-email/deadbeef", None, json!({}))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["success"], json!(false));
    let resend = app
        .post(
            "/api/merchant/auth/resend-verification",
            None,
            json!({ "email": email }),
        )
        .await;
    assert_eq!(resend.status, StatusCode::BAD_REQUEST);
    assert_eq!(resend.body["message"], "Email is already verified");
    app.finish().await;
}

#[tokio::test]
async fn registration_reports_every_invalid_field_and_rejects_a_taken_email() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/api/merchant/auth/register",
            None,
            json!({ "businessName": "A", "email": "nope", "password": "123" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["message"], "Validation failed");
    let messages: Vec<&str> = r.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    for expected in [
        "\"businessName\" length must be at least 2 characters long",
        "\"ownerName\" is required",
        "\"email\" must be a valid email",
        "\"password\" length must be at least 6 characters long",
        "\"phone\" is required",
        "\"businessAddress\" is required",
    ] {
        assert!(
            messages.contains(&expected),
            "missing {expected:?} in {messages:?}"
        );
    }
    let (_, _, email) = app.register("dup").await;
    let resend = app
        .post(
            "/api/merchant/auth/resend-verification",
            None,
            json!({ "email": email }),
        )
        .await;
    assert_eq!(resend.status, StatusCode::OK, "{}", resend.body);
    let ghost = app
        .post(
            "/api/merchant/auth/resend-verification",
            None,
            json!({ "email": "ghost@example.com" }),
        )
        .await;
    assert_eq!(
        ghost.body, resend.body,
        "the answer does not reveal whether the account exists"
    );
    let dup = app
        .post(
            "/api/merchant/auth/register",
            None,
            registration(&email.to_uppercase()),
        )
        .await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        dup.body["message"],
        "Merchant with this email already exists"
    );
    app.finish().await;
}

#[tokio::test]
async fn login_counts_failures_locks_after_five_and_never_accepts_an_operator_object() {
    let app = spawn_app().await;
    let (_, _, email) = app.register("lock").await;
    let ok = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "secret1" }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["data"]["role"], "owner");
    assert_eq!(
        ok.body["data"]["permissions"].as_array().map(Vec::len),
        Some(56)
    );
    assert_eq!(
        ok.body["warning"],
        "Please verify your email to access all features."
    );
    // NoSQL operator injection is a 400, never a login.
    let inj = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": { "$gt": "" } }),
        )
        .await;
    assert_eq!(inj.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        inj.body["errors"][0]["message"],
        "\"password\" must be a string"
    );
    let inj = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": { "$ne": null }, "password": "x" }),
        )
        .await;
    assert_eq!(inj.status, StatusCode::BAD_REQUEST);
    let unknown = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": "ghost@example.com", "password": "x" }),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.body["message"].clone()),
        (StatusCode::UNAUTHORIZED, json!("Invalid credentials"))
    );
    for remaining in (1..=4).rev() {
        let r = app
            .post(
                "/api/merchant/auth/login",
                None,
                json!({ "email": email, "password": "wrong" }),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.body["attemptsRemaining"], json!(remaining));
    }
    let locked = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "wrong" }),
        )
        .await;
    assert_eq!(locked.status, StatusCode::LOCKED);
    assert!(locked.body["lockedUntil"].is_string());
    let still = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "secret1" }),
        )
        .await;
    assert_eq!(
        still.status,
        StatusCode::LOCKED,
        "the right password does not unlock early"
    );
    app.finish().await;
}

#[tokio::test]
async fn a_bcrypt_hash_logs_in_and_is_rehashed_to_argon2id() {
    let app = spawn_app().await;
    let (_, id, email) = app.register("bcrypt").await;
    let merchants = app.store.db().collection::<Document>("merchants");
    let oid = ObjectId::parse_str(&id).expect("id");
    let legacy = bcrypt::hash("legacy-pass", 10).expect("bcrypt");
    merchants
        .update_one(doc! { "_id": oid }, doc! { "$set": { "password": legacy } })
        .await
        .expect("set bcrypt");
    let r = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "legacy-pass" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let stored = merchants
        .find_one(doc! { "_id": oid })
        .await
        .expect("find")
        .expect("merchant");
    assert!(
        stored
            .get_str("password")
            .expect("hash")
            .starts_with("$argon2id$")
    );
    let again = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "legacy-pass" }),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    app.finish().await;
}

#[tokio::test]
async fn profile_change_password_and_logout_keep_tokens_working() {
    let app = spawn_app().await;
    let (token, _, email) = app.register("profile").await;
    let bad = app
        .put(
            "/api/merchant/auth/profile",
            Some(&token),
            json!({ "phone": "call me" }),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("Invalid phone number format")
        )
    );
    let upd = app
        .put(
            "/api/merchant/auth/profile",
            Some(&token),
            json!({ "businessName": "New Name", "businessAddress": { "city": "Shelbyville" } }),
        )
        .await;
    assert_eq!(upd.status, StatusCode::OK, "{}", upd.body);
    assert_eq!(upd.body["data"]["merchant"]["businessName"], "New Name");
    assert_eq!(
        upd.body["data"]["merchant"]["businessAddress"]["city"],
        "Shelbyville"
    );
    assert_eq!(
        upd.body["data"]["merchant"]["businessAddress"]["street"],
        "1 Main St"
    );
    let mismatch = app
        .put("/api/merchant/auth/change-password", Some(&token), json!({ "currentPassword": "secret1", "newPassword": "secret2", "confirmPassword": "other" }))
        .await;
    assert_eq!(
        mismatch.body["errors"][0]["message"],
        "Passwords do not match"
    );
    let wrong = app
        .put("/api/merchant/auth/change-password", Some(&token), json!({ "currentPassword": "nope", "newPassword": "secret2", "confirmPassword": "secret2" }))
        .await;
    assert_eq!(
        (wrong.status, wrong.body["message"].clone()),
        (
            StatusCode::UNAUTHORIZED,
            json!("Current password is incorrect")
        )
    );
    let ok = app
        .put("/api/merchant/auth/change-password", Some(&token), json!({ "currentPassword": "secret1", "newPassword": "secret2", "confirmPassword": "secret2" }))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let out = app
        .post("/api/merchant/auth/logout", Some(&token), json!({}))
        .await;
    assert_eq!(out.body["message"], "Logout successful");
    assert_eq!(
        app.get("/api/merchant/auth/me", Some(&token)).await.status,
        StatusCode::OK,
        "token survives change + logout"
    );
    let login = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "secret2" }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(mailed_link(&email, "verify-email").await.is_some());
    app.finish().await;
}

#[tokio::test]
async fn forgot_password_mails_a_single_use_reset_link() {
    let app = spawn_app().await;
    let (_, _, email) = app.register("reset").await;
    let unknown = app
        .post(
            "/api/merchant/auth/forgot-password",
            None,
            json!({ "email": "ghost@example.com" }),
        )
        .await;
    let known = app
        .post(
            "/api/merchant/auth/forgot-password",
            None,
            json!({ "email": email }),
        )
        .await;
    assert_eq!(
        (unknown.status, known.status),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(
        unknown.body, known.body,
        "responses do not reveal whether the account exists"
    );
    assert!(
        !known.body.to_string().contains("reset-password/"),
        "no token in the response"
    );
    let link = mailed_link(&email, "reset-password")
        .await
        .expect("reset e-mail captured");
    let token = link.rsplit('/').next().expect("token").to_string();
    let body = json!({ "password": "brandnew", "confirmPassword": "brandnew" });
    let ok = app
        .post(
            &format!("/api/merchant/auth/reset-password/{token}"),
            None,
            body.clone(),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let reused = app
        .post(
            "/api/merchant/auth/reset-password",
            None,
            json!({ "token": token, "password": "brandnew", "confirmPassword": "brandnew" }),
        )
        .await;
    assert_eq!(
        (reused.status, reused.body["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("Invalid or expired reset token")
        )
    );
    let login = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "brandnew" }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    app.finish().await;
}

fn forge(claims: Value, key: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("sign")
}

#[tokio::test]
async fn tampered_expired_and_missing_tokens_are_rejected_with_the_contract_messages() {
    let app = spawn_app_with(&["--jwt-merchant-expires-in", "1s"]).await;
    let (token, id, _) = app.register("jwt").await;
    let now = jsonwebtoken::get_current_timestamp();
    let cases = [
        (None, "No token provided, authorization denied"),
        (Some("garbage".to_string()), "Token is not valid"),
        (
            Some(forge(
                json!({ "merchantId": id, "iat": now, "exp": now + 600 }),
                "some-other-key-0123456789abcdef0123",
            )),
            "Token is not valid",
        ),
        (
            Some(format!(
                "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
                token.split('.').nth(1).expect("payload")
            )),
            "Token is not valid",
        ),
        (
            Some(forge(
                json!({ "merchantId": "not-an-id", "iat": now, "exp": now + 600 }),
                ACCESS_SECRET,
            )),
            "Token is not valid",
        ),
        (
            Some(forge(
                json!({ "merchantId": ObjectId::new().to_hex(), "iat": now, "exp": now + 600 }),
                ACCESS_SECRET,
            )),
            "Token is not valid - merchant not found",
        ),
    ];
    for (token, message) in cases {
        let r = app.get("/api/merchant/auth/me", token.as_deref()).await;
        assert_eq!(
            (r.status, r.body["message"].as_str()),
            (StatusCode::UNAUTHORIZED, Some(message)),
            "{token:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = app.get("/api/merchant/auth/me", Some(&token)).await;
    assert_eq!(expired.body["message"], "Token has expired");
    // An expired access token can still be refreshed within the refresh window.
    let refreshed = app
        .call("POST", "/api/merchant/auth/refresh", Some(&token), None)
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let fresh = refreshed.body["data"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_eq!(
        app.get("/api/merchant/auth/me", Some(&fresh)).await.status,
        StatusCode::OK
    );
    let refresh_token = refreshed.body["data"]["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_string();
    let by_body = app
        .post(
            "/api/merchant/auth/refresh",
            None,
            json!({ "refreshToken": refresh_token }),
        )
        .await;
    assert_eq!(by_body.status, StatusCode::OK);
    let as_access = app.get("/api/merchant/auth/me", Some(&refresh_token)).await;
    assert_eq!(
        as_access.status,
        StatusCode::UNAUTHORIZED,
        "a refresh token is not an access token"
    );
    let none = app
        .post("/api/merchant/auth/refresh", None, json!({}))
        .await;
    assert_eq!(
        (none.status, none.body["message"].clone()),
        (StatusCode::UNAUTHORIZED, json!("No token provided"))
    );
    let bad = app
        .post(
            "/api/merchant/auth/refresh",
            None,
            json!({ "refreshToken": "x.y.z" }),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["message"].clone()),
        (StatusCode::UNAUTHORIZED, json!("Invalid token"))
    );
    app.finish().await;
}

#[tokio::test]
async fn team_members_log_in_with_their_role_and_inactive_ones_are_refused() {
    let app = spawn_app().await;
    let (_, id, _) = app.register("team").await;
    let merchant = ObjectId::parse_str(&id).expect("id");
    let users = app.store.db().collection::<Document>("merchantusers");
    let hash = bcrypt::hash("member-pass", 4).expect("hash");
    let email = format!("{}@example.com", unique("member"));
    let now = mongodb::bson::DateTime::now();
    for (addr, status) in [
        (email.clone(), "active"),
        (format!("s{email}"), "suspended"),
    ] {
        users
            .insert_one(doc! { "merchantId": merchant, "email": addr, "password": &hash, "name": "Sam", "role": "staff", "permissions": [], "status": status, "createdAt": now })
            .await
            .expect("insert member");
    }
    let r = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "member-pass" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["role"], "staff");
    assert_eq!(
        r.body["data"]["permissions"].as_array().map(Vec::len),
        Some(11)
    );
    assert_eq!(r.body["data"]["user"]["email"], json!(email));
    let token = r.body["data"]["token"].as_str().expect("token");
    assert_eq!(
        app.get("/api/merchant/auth/me", Some(token)).await.status,
        StatusCode::OK
    );
    let change = app
        .put("/api/merchant/auth/change-password", Some(token), json!({ "currentPassword": "member-pass", "newPassword": "abcdef", "confirmPassword": "abcdef" }))
        .await;
    assert_eq!(
        change.status,
        StatusCode::FORBIDDEN,
        "a team member cannot change the owner's password"
    );
    let suspended = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": format!("s{email}"), "password": "member-pass" }),
        )
        .await;
    assert_eq!(suspended.status, StatusCode::FORBIDDEN);
    assert_eq!(
        suspended.body["message"],
        "Account is suspended. Please contact your administrator."
    );
    app.finish().await;
}

#[tokio::test]
async fn rate_limits_answer_429_with_ratelimit_headers() {
    let app = spawn_app_with(&[
        "--rate-limit-register-max",
        "2",
        "--rate-limit-auth-max",
        "2",
        "--rate-limit-password-reset-max",
        "2",
    ])
    .await;
    let (_, _, email) = app.register("rl1").await;
    app.register("rl2").await;
    let third = app
        .post(
            "/api/merchant/auth/register",
            None,
            registration(&format!("{}@example.com", unique("rl3"))),
        )
        .await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        third.body["message"],
        "Too many requests, please try again later."
    );
    assert_eq!(third.header("ratelimit-limit"), Some("2"));
    assert_eq!(third.header("ratelimit-remaining"), Some("0"));
    assert!(third.header("retry-after").is_some());
    // Only failed logins count: successes do not use the budget.
    for _ in 0..3 {
        let ok = app
            .post(
                "/api/merchant/auth/login",
                None,
                json!({ "email": email, "password": "secret1" }),
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK);
    }
    for _ in 0..2 {
        app.post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "bad" }),
        )
        .await;
    }
    let limited = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "secret1" }),
        )
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        limited.body["error"],
        "Too many login attempts. Please try again after 15 minutes."
    );
    assert_eq!(
        limited.body["retryAfter"].as_u64().map(|s| s <= 900),
        Some(true)
    );
    // forgot-password and reset-password/:token share one budget.
    app.post(
        "/api/merchant/auth/forgot-password",
        None,
        json!({ "email": email }),
    )
    .await;
    app.post(
        "/api/merchant/auth/reset-password/abc",
        None,
        json!({ "password": "abcdef", "confirmPassword": "abcdef" }),
    )
    .await;
    let third = app
        .post(
            "/api/merchant/auth/forgot-password",
            None,
            json!({ "email": email }),
        )
        .await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    app.finish().await;
}

#[tokio::test]
async fn a_merchant_deactivated_behind_the_apis_back_is_refused_within_the_cache_ttl() {
    let app = spawn_app_with(&["--auth-cache-ttl-ms", "3000"]).await;
    let (token, id, _) = app.register("cache").await;
    let products = "/api/merchant/products";
    assert_eq!(app.get(products, Some(&token)).await.status, StatusCode::OK);
    // Another replica or an admin tool: a write this process does not see.
    deactivate(&app, &id).await;
    let started = std::time::Instant::now();
    // Reads reuse the check made at most 3 s ago: the profile and the product routes alike.
    let me = app.get("/api/merchant/auth/me", Some(&token)).await;
    let cached = app.get(products, Some(&token)).await;
    if started.elapsed() < Duration::from_millis(2500) {
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
        assert_eq!(
            cached.status,
            StatusCode::OK,
            "served from the access cache"
        );
    }
    tokio::time::sleep(Duration::from_millis(3100)).await;
    for path in ["/api/merchant/auth/me", products] {
        let refused = app.get(path, Some(&token)).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
        assert_eq!(refused.body["message"], "Merchant account is deactivated");
    }
    app.finish().await;
}

#[tokio::test]
async fn without_the_cache_a_deactivated_merchant_is_refused_at_once_and_writes_always_load_fresh()
{
    let app = spawn_app_with(&["--auth-cache-ttl-ms", "0"]).await;
    let (token, id, _) = app.register("nocache").await;
    assert_eq!(
        app.get("/api/merchant/auth/me", Some(&token)).await.status,
        StatusCode::OK
    );
    deactivate(&app, &id).await;
    let me = app.get("/api/merchant/auth/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.body);
    assert_eq!(me.body["message"], "Merchant account is deactivated");
    app.finish().await;

    // With the cache on, a write never trusts it.
    let app = spawn_app_with(&["--auth-cache-ttl-ms", "60000"]).await;
    let (token, id, _) = app.register("writes").await;
    assert_eq!(
        app.get("/api/merchant/auth/me", Some(&token)).await.status,
        StatusCode::OK
    );
    deactivate(&app, &id).await;
    let write = app
        .put(
            "/api/merchant/auth/profile",
            Some(&token),
            json!({ "ownerName": "Late Owner" }),
        )
        .await;
    assert_eq!(write.status, StatusCode::UNAUTHORIZED, "{}", write.body);
    assert_eq!(write.body["message"], "Merchant account is deactivated");
    app.finish().await;
}

#[tokio::test]
async fn a_profile_read_right_after_a_write_shows_the_write() {
    let app = spawn_app_with(&["--auth-cache-ttl-ms", "60000"]).await;
    let (token, _, _) = app.register("fresh").await;
    let me = app.get("/api/merchant/auth/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let write = app
        .put(
            "/api/merchant/auth/profile",
            Some(&token),
            json!({ "ownerName": "Renamed Owner" }),
        )
        .await;
    assert_eq!(write.status, StatusCode::OK, "{}", write.body);
    let me = app.get("/api/merchant/auth/me", Some(&token)).await;
    assert_eq!(
        me.body["data"]["merchant"]["ownerName"], "Renamed Owner",
        "{}",
        me.body
    );
    app.finish().await;
}

async fn deactivate(app: &TestApp, id: &str) {
    app.store
        .db()
        .collection::<Document>("merchants")
        .update_one(
            doc! { "_id": ObjectId::parse_str(id).expect("id") },
            doc! { "$set": { "isActive": false } },
        )
        .await
        .expect("deactivate");
}
