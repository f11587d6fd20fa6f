//! `Idempotency-Key`: one effect per key, replays of the first answer, 422 for the key reused
//! with another request, 409 while the first still runs; keys belong to their merchant.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, product_body, spawn_app};

struct Answer {
    status: StatusCode,
    replayed: bool,
    body: Value,
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    key: &str,
    body: Option<&Value>,
) -> Answer {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(token)
        .header("idempotency-key", key);
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.expect("send");
    let replayed = res
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    Answer {
        status: res.status(),
        replayed,
        body: res.json().await.unwrap_or(Value::Null),
    }
}

/// POST /api/merchant/products with `key`.
async fn create(app: &TestApp, token: &str, key: &str, body: &Value) -> Answer {
    let path = "/api/merchant/products";
    send(app, reqwest::Method::POST, path, token, key, Some(body)).await
}

async fn product_count(app: &TestApp, token: &str) -> u64 {
    let list = app
        .get("/api/merchant/products?limit=100", Some(token))
        .await;
    list.body["data"]["pagination"]["totalCount"]
        .as_u64()
        .expect("totalCount")
}

fn product_id(body: &Value) -> String {
    let data = &body["data"];
    data["_id"]
        .as_str()
        .or_else(|| data["id"].as_str())
        .unwrap_or_else(|| panic!("no product id in {body}"))
        .to_owned()
}

#[tokio::test]
async fn fifty_concurrent_creates_with_one_key_make_one_product() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("idem-race").await;
    let body = product_body("Idempotent lamp", 7);

    let answers = join_all((0..50).map(|_| create(&app, &token, "race-key-1", &body))).await;

    let created: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .collect();
    let first: Vec<&&Answer> = created.iter().filter(|a| !a.replayed).collect();
    assert_eq!(first.len(), 1, "exactly one request ran");
    let in_flight = answers.len() - created.len();
    eprintln!(
        "IDEMPOTENCY: 50 concurrent creates: 1 ran, {} replayed, {in_flight} answered 409 in flight",
        created.len() - 1
    );
    for a in &answers {
        match a.status {
            StatusCode::CREATED => assert_eq!(product_id(&a.body), product_id(&first[0].body)),
            StatusCode::CONFLICT => assert_eq!(a.body["code"], "IDEMPOTENCY_KEY_IN_USE"),
            other => panic!("unexpected {other}: {}", a.body),
        }
    }
    assert_eq!(product_count(&app, &token).await, 1);

    // Once it finished, every retry replays the first answer, body and all.
    let again = create(&app, &token, "race-key-1", &body).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert!(again.replayed, "Idempotent-Replayed: true");
    assert_eq!(again.body, first[0].body);
    assert_eq!(product_count(&app, &token).await, 1);
    app.finish().await;
}

#[tokio::test]
async fn a_key_reused_with_another_request_is_422_and_keys_are_per_merchant() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("idem-reuse").await;
    let (other, _, _) = app.register("idem-other").await;
    let path = "/api/merchant/products";
    let first = create(&app, &token, "k-1", &product_body("Chair", 1)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert!(!first.replayed);

    // Same key, other body: refused, nothing created.
    let reused = create(&app, &token, "k-1", &product_body("Table", 1)).await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused.body["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(reused.body["errors"][0]["field"], "Idempotency-Key");
    // Same key and body on another route is another request too.
    let id = product_id(&first.body);
    let elsewhere = send(
        &app,
        reqwest::Method::PUT,
        &format!("{path}/{id}"),
        &token,
        "k-1",
        Some(&json!({ "price": 12.5 })),
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(product_count(&app, &token).await, 1);

    // Another merchant's identical key is its own.
    let theirs = create(&app, &other, "k-1", &product_body("Table", 1)).await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
    assert!(!theirs.replayed);

    // A client error is an outcome of the request: replayed too, still without an effect.
    let invalid = json!({ "name": "" });
    let bad = create(&app, &token, "k-2", &invalid).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad_again = create(&app, &token, "k-2", &invalid).await;
    assert_eq!(bad_again.status, StatusCode::BAD_REQUEST);
    assert!(bad_again.replayed);

    // A malformed key names the header; a request without one is untouched.
    let long = "x".repeat(256);
    let refused = create(&app, &token, &long, &invalid).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body["errors"][0]["field"], "Idempotency-Key");
    let plain = app.post(path, Some(&token), product_body("Lamp", 1)).await;
    assert_eq!(plain.status, StatusCode::CREATED);
    assert!(plain.header("idempotent-replayed").is_none());
    assert_eq!(product_count(&app, &token).await, 2);
    app.finish().await;
}

#[tokio::test]
async fn an_expired_key_runs_again() {
    let app = spawn_app().await;
    let (token, merchant, _) = app.register("idem-expiry").await;
    let body = product_body("Shelf", 1);
    let first = create(&app, &token, "k-exp", &body).await;
    assert_eq!(first.status, StatusCode::CREATED);

    // Arrange: the key's 24 hours have passed (the TTL monitor may not have swept it yet).
    let merchant = mongodb::bson::oid::ObjectId::parse_str(&merchant).expect("id");
    let past = mongodb::bson::DateTime::from_millis(0);
    app.store
        .db()
        .collection::<mongodb::bson::Document>("idempotencykeys")
        .update_one(
            mongodb::bson::doc! { "merchantId": merchant, "key": "k-exp" },
            mongodb::bson::doc! { "$set": { "expiresAt": past } },
        )
        .await
        .expect("expire the key");

    let again = create(&app, &token, "k-exp", &body).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert!(!again.replayed, "an expired key is forgotten");
    assert_ne!(product_id(&again.body), product_id(&first.body));
    app.finish().await;
}
