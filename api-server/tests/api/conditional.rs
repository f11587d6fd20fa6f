//! Conditional requests on products: `ETag` on reads and writes, `If-None-Match` -> 304,
//! `If-Match` -> 412 naming the current revision; every write path moves the version.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

struct Answer {
    status: StatusCode,
    etag: Option<String>,
    body: Value,
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    condition: Option<(&str, &str)>,
    body: Option<Value>,
) -> Answer {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(token);
    if let Some((name, value)) = condition {
        req = req.header(name, value);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("send");
    let status = res.status();
    let etag = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = res.text().await.expect("body");
    Answer {
        status,
        etag,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// `PUT path` with `If-Match: etag` and a new price.
async fn put_if(app: &TestApp, path: &str, token: &str, etag: &str, price: f64) -> Answer {
    let body = Some(json!({ "price": price }));
    call(
        app,
        Method::PUT,
        path,
        token,
        Some(("if-match", etag)),
        body,
    )
    .await
}

#[tokio::test]
async fn two_writes_with_one_etag_give_one_200_and_one_412() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("conditional").await;
    let product = app.product(&token, "Versioned mug", 10).await;
    let id = product["_id"].as_str().expect("_id").to_owned();
    let path = format!("/api/merchant/products/{id}");

    // Read: an ETag, the revision in the body, and 304 while the copy is current.
    let read = call(&app, Method::GET, &path, &token, None, None).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(
        read.body["data"]["revision"], 1,
        "a new product is at revision 1"
    );
    let etag = read.etag.expect("ETag on a read");
    let cached = call(
        &app,
        Method::GET,
        &path,
        &token,
        Some(("if-none-match", &etag)),
        None,
    )
    .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert_eq!(cached.etag.as_deref(), Some(etag.as_str()));
    assert_eq!(cached.body, Value::Null, "a 304 has no body");

    // Two writers holding the same version: the first wins, the second learns it is stale.
    let first = put_if(&app, &path, &token, &etag, 12.5).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let new_etag = first.etag.expect("ETag on a write");
    assert_ne!(new_etag, etag);
    assert_eq!(first.body["data"]["product"]["revision"], 2);
    let second = put_if(&app, &path, &token, &etag, 99.0).await;
    assert_eq!(
        second.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        second.body
    );
    assert_eq!(second.body["code"], "PRECONDITION_FAILED");
    assert_eq!(second.body["currentRevision"], 2);
    assert_eq!(second.body["etag"], new_etag.as_str());
    let now = call(&app, Method::GET, &path, &token, None, None).await;
    assert_eq!(
        now.body["data"]["pricing"]["selling"], 12.5,
        "the stale write changed nothing"
    );
    // The old copy is no longer current for reads either.
    let stale = call(
        &app,
        Method::GET,
        &path,
        &token,
        Some(("if-none-match", &etag)),
        None,
    )
    .await;
    assert_eq!(stale.status, StatusCode::OK);

    // A stock change through its own route moves the version too.
    let adjust = app
        .post(
            &format!("{path}/stock"),
            Some(&token),
            json!({ "quantity": 1 }),
        )
        .await;
    assert_eq!(adjust.status, StatusCode::OK, "{}", adjust.body);
    let after_stock = call(&app, Method::GET, &path, &token, None, None).await;
    assert_eq!(after_stock.body["data"]["revision"], 3);
    let late = put_if(&app, &path, &token, &new_etag, 1.0).await;
    assert_eq!(late.status, StatusCode::PRECONDITION_FAILED);

    // DELETE: a stale tag keeps the product; the current one (or `*`) deletes it.
    let refused = call(
        &app,
        Method::DELETE,
        &path,
        &token,
        Some(("if-match", &new_etag)),
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED);
    let current = after_stock.etag.expect("ETag");
    let deleted = call(
        &app,
        Method::DELETE,
        &path,
        &token,
        Some(("if-match", &current)),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    let gone = call(&app, Method::GET, &path, &token, None, None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // Without the headers nothing changes: an unconditional write still applies.
    let other = app.product(&token, "Plain mug", 1).await;
    let other_path = format!(
        "/api/merchant/products/{}",
        other["_id"].as_str().expect("_id")
    );
    let plain = call(
        &app,
        Method::PUT,
        &other_path,
        &token,
        None,
        Some(json!({ "price": 3.0 })),
    )
    .await;
    assert_eq!(plain.status, StatusCode::OK);
    // A replayed write (Idempotency-Key) names the version the first one made.
    let keyed = || {
        app.client
            .put(format!("{}{other_path}", app.address))
            .bearer_auth(&token)
            .header("idempotency-key", "etag-replay")
            .json(&json!({ "price": 4.0 }))
            .send()
    };
    let (first, again) = (keyed().await.expect("send"), keyed().await.expect("send"));
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert!(first.headers().contains_key("etag"));
    assert_eq!(first.headers()["etag"], again.headers()["etag"]);
    let star = call(
        &app,
        Method::DELETE,
        &other_path,
        &token,
        Some(("if-match", "*")),
        None,
    )
    .await;
    assert_eq!(star.status, StatusCode::OK);
    app.finish().await;
}
