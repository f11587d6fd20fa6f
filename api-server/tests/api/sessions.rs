//! Sessions and credentials under attack: tokens of the older deployment, parallel password
//! guessing, refresh-token rotation and revocation, and Redis loss.

use futures::future::join_all;
use merchant_api::store::ObjectId;
use mongodb::bson::{Document, doc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ACCESS_SECRET, REFRESH_SECRET, TestApp, mailed_link, registration, spawn_app, spawn_app_with,
    unique,
};

fn sign(claims: Value, key: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("sign")
}

/// A token as the older deployment minted it: HS256, `{merchantId, exp}`, no `iat`.
pub fn legacy_token(merchant: &str, exp_in: i64) -> String {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    sign(
        json!({ "merchantId": merchant, "exp": now + exp_in }),
        ACCESS_SECRET,
    )
}

pub async fn login(app: &TestApp, email: &str, password: &str) -> Value {
    let r = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"].clone()
}

pub async fn refresh_with(app: &TestApp, refresh_token: &str) -> (StatusCode, Value) {
    let r = app
        .post(
            "/api/merchant/auth/refresh",
            None,
            json!({ "refreshToken": refresh_token }),
        )
        .await;
    (r.status, r.body)
}

fn text(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .to_string()
}

fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64");
    serde_json::from_slice(&bytes).expect("claims")
}

#[tokio::test]
async fn tokens_of_the_older_deployment_work_while_valid_and_refresh_into_new_style_tokens() {
    // No access cache: the deactivation below is made behind the API's back.
    let app = spawn_app_with(&["--auth-cache-ttl-ms", "0"]).await;
    let (_, id, _) = app.register("legacy").await;
    let legacy = legacy_token(&id, 600);
    let me = app.get("/api/merchant/auth/me", Some(&legacy)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    // The tenant routes (cached access check) accept it too.
    let products = app.get("/api/merchant/products", Some(&legacy)).await;
    assert_eq!(products.status, StatusCode::OK, "{}", products.body);
    // Refresh exchanges it (header, as older clients send it) for new-style tokens.
    let r = app
        .call("POST", "/api/merchant/auth/refresh", Some(&legacy), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let fresh = text(&r.body["data"], "token");
    assert!(claims_of(&fresh)["iat"].is_u64(), "new-style token");
    assert_eq!(
        app.get("/api/merchant/auth/me", Some(&fresh)).await.status,
        StatusCode::OK
    );
    assert!(r.body["data"]["refreshToken"].is_string());
    // Older clients may also send their access token as the body's refreshToken.
    let other = legacy_token(&id, 300);
    let (status, body) = refresh_with(&app, &other).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Only for an existing, active merchant, and only while valid.
    let ghost = legacy_token(&ObjectId::new().to_hex(), 600);
    let r = app.get("/api/merchant/auth/me", Some(&ghost)).await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (
            StatusCode::UNAUTHORIZED,
            json!("Token is not valid - merchant not found")
        )
    );
    let expired = legacy_token(&id, -5);
    let r = app.get("/api/merchant/auth/me", Some(&expired)).await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (StatusCode::UNAUTHORIZED, json!("Token has expired"))
    );
    let wrong_key = sign(
        json!({ "merchantId": id, "exp": jsonwebtoken::get_current_timestamp() + 600 }),
        "another-key-0123456789abcdef01234567",
    );
    let r = app.get("/api/merchant/auth/me", Some(&wrong_key)).await;
    assert_eq!(r.body["message"], "Token is not valid");
    app.store
        .db()
        .collection::<Document>("merchants")
        .update_one(
            doc! { "_id": ObjectId::parse_str(&id).expect("id") },
            doc! { "$set": { "isActive": false } },
        )
        .await
        .expect("deactivate");
    let r = app.get("/api/merchant/auth/me", Some(&legacy)).await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (
            StatusCode::UNAUTHORIZED,
            json!("Merchant account is deactivated")
        )
    );
    let r = app
        .call("POST", "/api/merchant/auth/refresh", Some(&legacy), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    app.finish().await;
}

async fn parallel_logins(app: &TestApp, email: &str, n: usize) -> Vec<(StatusCode, Value)> {
    let body = json!({ "email": email, "password": "wrong-guess" });
    join_all((0..n).map(|_| async {
        let r = app
            .post("/api/merchant/auth/login", None, body.clone())
            .await;
        (r.status, r.body)
    }))
    .await
}

fn count(results: &[(StatusCode, Value)], status: StatusCode) -> usize {
    results.iter().filter(|(s, _)| *s == status).count()
}

#[tokio::test]
async fn parallel_wrong_passwords_cannot_buy_more_guesses_than_the_lockout_allows() {
    let app = spawn_app().await;
    let (_, _, email) = app.register("flood").await;
    let results = parallel_logins(&app, &email, 24).await;
    // A password evaluated and refused is a 401 with attemptsRemaining (4, 3, 2, 1), or the
    // 423 of the fifth; every other guess is refused as locked without being evaluated.
    let evaluated = count(&results, StatusCode::UNAUTHORIZED);
    assert_eq!(
        evaluated,
        4,
        "{:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    assert_eq!(count(&results, StatusCode::LOCKED), 20);
    let mut remaining: Vec<_> = results
        .iter()
        .filter_map(|(_, b)| b["attemptsRemaining"].as_i64())
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, vec![1, 2, 3, 4]);
    let right = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "secret1" }),
        )
        .await;
    assert_eq!(right.status, StatusCode::LOCKED);
    app.finish().await;
}

#[tokio::test]
async fn parallel_failed_logins_are_counted_by_the_auth_limit_before_they_are_evaluated() {
    let app = spawn_app_with(&["--rate-limit-auth-max", "5"]).await;
    // Unknown accounts: no lockout, only the limiter stands between a flood and the hasher.
    let results = join_all((0..20).map(|i| {
        let app = &app;
        async move {
            let r = app
                .post(
                    "/api/merchant/auth/login",
                    None,
                    json!({ "email": format!("ghost{i}@example.com"), "password": "x" }),
                )
                .await;
            (r.status, r.body)
        }
    }))
    .await;
    assert_eq!(count(&results, StatusCode::UNAUTHORIZED), 5);
    assert_eq!(count(&results, StatusCode::TOO_MANY_REQUESTS), 15);
    let metrics = app
        .client
        .get(format!("{}/metrics", app.admin_address))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("merchant_api_password_verifications_total 5"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("password"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // A success gives its reserved attempt back: with the budget spent, nobody gets in.
    let (_, _, email) = app.register("limited").await;
    let r = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "secret1" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    app.finish().await;
}

#[tokio::test]
async fn a_full_password_hashing_queue_answers_503_with_retry_after() {
    let app = spawn_app_with(&["--password-hash-queue", "1"]).await;
    let results = join_all((0..16).map(|i| {
        let app = &app;
        async move {
            app.post(
                "/api/merchant/auth/login",
                None,
                json!({ "email": format!("ghost{i}@example.com"), "password": "x" }),
            )
            .await
        }
    }))
    .await;
    let busy: Vec<_> = results
        .iter()
        .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!busy.is_empty(), "a queue of one overflows");
    assert!(
        results.iter().any(|r| r.status == StatusCode::UNAUTHORIZED),
        "admitted requests are still evaluated"
    );
    for r in busy {
        assert!(r.header("retry-after").is_some());
        assert_eq!(r.body["success"], false);
        assert!(r.body["message"].is_string());
    }
    // The queue drains: the next request is evaluated.
    let r = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": "ghost@example.com", "password": "x" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reusing_a_spent_one_revokes_its_family() {
    let app = spawn_app().await;
    let (_, _, email) = app.register("rotate").await;
    let session = login(&app, &email, "secret1").await;
    let other = login(&app, &email, "secret1").await;
    let r1 = text(&session, "refreshToken");
    let (status, body) = refresh_with(&app, &r1).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r2 = text(&body["data"], "refreshToken");
    assert_ne!(r1, r2, "rotated");
    let (status, body) = refresh_with(&app, &r2).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r3 = text(&body["data"], "refreshToken");
    // r1 was spent: presenting it again is reuse, refused, and ends the family (r3 too).
    let (status, body) = refresh_with(&app, &r1).await;
    assert_eq!(
        (status, body["message"].clone()),
        (StatusCode::UNAUTHORIZED, json!("Invalid token"))
    );
    let (status, _) = refresh_with(&app, &r3).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "family revoked");
    // Another session (its own family) is untouched.
    let (status, _) = refresh_with(&app, &text(&other, "refreshToken")).await;
    assert_eq!(status, StatusCode::OK);
    // Concurrency buys nothing: of two parallel uses of one token, one wins.
    let third = login(&app, &email, "secret1").await;
    let r = text(&third, "refreshToken");
    let (a, b) = tokio::join!(refresh_with(&app, &r), refresh_with(&app, &r));
    let ok = [a.0, b.0].iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{a:?} {b:?}");
    app.finish().await;
}

#[tokio::test]
async fn logout_revokes_its_sessions_refresh_token_but_the_access_token_lives_on() {
    let app = spawn_app().await;
    let (_, _, email) = app.register("logout").await;
    let session = login(&app, &email, "secret1").await;
    let other = login(&app, &email, "secret1").await;
    let access = text(&session, "token");
    let out = app
        .post("/api/merchant/auth/logout", Some(&access), json!({}))
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/merchant/auth/me", Some(&access)).await.status,
        StatusCode::OK,
        "the contract keeps the presented access token working"
    );
    let (status, _) = refresh_with(&app, &text(&session, "refreshToken")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let by_header = app
        .call("POST", "/api/merchant/auth/refresh", Some(&access), None)
        .await;
    assert_eq!(
        by_header.status,
        StatusCode::UNAUTHORIZED,
        "nor can its access token be refreshed"
    );
    let (status, _) = refresh_with(&app, &text(&other, "refreshToken")).await;
    assert_eq!(status, StatusCode::OK, "other sessions stay");
    app.finish().await;
}

#[tokio::test]
async fn a_password_reset_ends_every_session_and_refresh_token_of_the_account() {
    let app = spawn_app_with(&["--auth-cache-ttl-ms", "60000"]).await;
    let (registered, id, email) = app.register("reset").await;
    let session = login(&app, &email, "secret1").await;
    let access = text(&session, "token");
    let legacy = legacy_token(&id, 600);
    // A stateless refresh token of the previous release (no session id).
    let now = jsonwebtoken::get_current_timestamp();
    let stateless = sign(
        json!({ "merchantId": id, "typ": "refresh", "iat": now, "exp": now + 600 }),
        REFRESH_SECRET,
    );
    let products = "/api/merchant/products";
    for t in [&registered, &access, &legacy] {
        assert_eq!(app.get(products, Some(t)).await.status, StatusCode::OK);
    }
    app.post(
        "/api/merchant/auth/forgot-password",
        None,
        json!({ "email": email }),
    )
    .await;
    let link = mailed_link(&email, "reset-password")
        .await
        .expect("reset link");
    let token = link.rsplit('/').next().expect("token");
    let reset = app
        .post(
            &format!("/api/merchant/auth/reset-password/{token}"),
            None,
            json!({ "password": "brandnew", "confirmPassword": "brandnew" }),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    for t in [&registered, &access, &legacy] {
        let me = app.get("/api/merchant/auth/me", Some(t)).await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.body);
        // Also where the access check is cached (60 s here): the reset dropped it.
        let p = app.get(products, Some(t)).await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{}", p.body);
    }
    for r in [text(&session, "refreshToken"), stateless] {
        let (status, _) = refresh_with(&app, &r).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let r = app
        .call("POST", "/api/merchant/auth/refresh", Some(&access), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The new password opens a working session.
    let fresh = login(&app, &email, "brandnew").await;
    assert_eq!(
        app.get("/api/merchant/auth/me", Some(&text(&fresh, "token")))
            .await
            .status,
        StatusCode::OK
    );
    let (status, _) = refresh_with(&app, &text(&fresh, "refreshToken")).await;
    assert_eq!(status, StatusCode::OK);
    app.finish().await;
}

#[tokio::test]
async fn a_stateless_refresh_token_of_the_previous_release_is_exchanged_once() {
    let app = spawn_app().await;
    let (_, id, _) = app.register("stateless").await;
    let now = jsonwebtoken::get_current_timestamp();
    let stateless = sign(
        json!({ "merchantId": id, "typ": "refresh", "iat": now, "exp": now + 600 }),
        REFRESH_SECRET,
    );
    let (status, body) = refresh_with(&app, &stateless).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let next = text(&body["data"], "refreshToken");
    let (status, _) = refresh_with(&app, &stateless).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "spent");
    let (status, _) = refresh_with(&app, &next).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "reuse ended the family");
    app.finish().await;
}

/// A Redis URL where nothing listens.
const DEAD_REDIS: &str = "redis://127.0.0.1:9/";

#[tokio::test]
async fn without_redis_limited_auth_routes_fail_closed_and_readiness_stays_up() {
    let app = spawn_app_with(&["--redis-url", DEAD_REDIS]).await;
    let ready = app.get("/health/ready", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(ready.body["redis"], "disconnected");
    let email = format!("{}@example.com", unique("noredis"));
    for (path, body) in [
        ("/api/merchant/auth/register", registration(&email)),
        (
            "/api/merchant/auth/login",
            json!({ "email": email, "password": "secret1" }),
        ),
        (
            "/api/merchant/auth/forgot-password",
            json!({ "email": email }),
        ),
    ] {
        let r = app.post(path, None, body).await;
        assert_eq!(
            r.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {}",
            r.body
        );
        assert_eq!(
            r.body["message"],
            "Rate limiter unavailable. Please try again later."
        );
        assert!(r.header("retry-after").is_some(), "{path}");
    }
    // Throughput limits (general, products) keep serving, counted per process.
    let token = legacy_token(&ObjectId::new().to_hex(), 600);
    let r = app.get("/api/merchant/products", Some(&token)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "served, not 503");
    app.finish().await;
}
