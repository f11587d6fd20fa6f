//! Cross-cutting behaviour: health, headers, CORS, body limits, 404s, metrics, OpenAPI and
//! graceful shutdown.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn health_headers_cors_limits_and_unknown_routes_follow_the_contract() {
    let app = spawn_app().await;
    for path in ["/health", "/health/live", "/health/ready"] {
        assert_eq!(app.get(path, None).await.status, StatusCode::OK, "{path}");
    }
    let health = app.get("/health", None).await;
    assert_eq!(
        (health.body["db"].as_str(), health.body["redis"].as_str()),
        (Some("connected"), Some("connected"))
    );
    assert_eq!(health.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(health.header("x-frame-options"), Some("DENY"));
    assert!(
        health
            .header("x-correlation-id")
            .is_some_and(|id| !id.is_empty())
    );
    let echoed = app
        .client
        .get(format!("{}/health/live", app.address))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .expect("send");
    assert_eq!(echoed.headers()["x-correlation-id"], "trace-123");
    // CORS: the allow-list gets headers, other origins do not (and are not a 500).
    let allowed = app
        .client
        .get(format!("{}/health/live", app.address))
        .header("origin", "https://shop.example")
        .send()
        .await
        .expect("send");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let other = app
        .client
        .get(format!("{}/health/live", app.address))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("send");
    assert_eq!(other.status(), StatusCode::OK);
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // Body over 50 kB.
    let big = json!({ "email": "a@b.co", "password": "x".repeat(60 * 1024) });
    let r = app.post("/api/merchant/auth/login", None, big).await;
    assert_eq!(
        (r.status, r.body["success"].clone()),
        (StatusCode::PAYLOAD_TOO_LARGE, json!(false))
    );
    let missing = app.get("/api/merchant/nothing-here", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["code"], "NOT_FOUND");
    assert_eq!(
        missing.body["message"],
        "Route /api/merchant/nothing-here not found"
    );
    let metrics = app
        .client
        .get(format!("{}/metrics", app.admin_address))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("route=\"/health\""), "{metrics}");
    assert!(metrics.contains("merchant_api_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("merchant_api_db_pool_connections"));
    assert!(metrics.contains("merchant_api_db_pool_checkout_waiting"));
    app.finish().await;
}

#[tokio::test]
async fn the_served_openapi_document_equals_the_generated_one_and_covers_every_route() {
    let app = spawn_app().await;
    let served = app.get("/openapi.json", None).await.body;
    let generated: serde_json::Value =
        serde_json::from_str(&merchant_api::openapi::to_json()).expect("json");
    assert_eq!(served, generated);
    let paths = served["paths"].as_object().expect("paths");
    for p in [
        "/api/merchant/auth/login",
        "/api/merchant/products/{id}/variants/{variant_id}/stock",
        "/api/merchant/onboarding/step/{step}",
        "/api/merchant/team/{userId}/role",
        "/api/merchant/team-public/accept-invitation/{token}",
        "/api/merchant/cashback/{id}/mark-paid",
        "/api/merchant/audit/timeline/heatmap",
        "/api/merchant/products/{id}/reviews",
        "/api/merchant/auth/test",
        "/api/merchant/uploads/product-image",
        "/api/merchant/bulk/products/import",
        "/api/merchant/analytics/sales/overview",
        "/api/merchant/products/{id}/variants/{variant_id}/inventory/adjustments",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    // Served on the admin port only.
    assert!(!paths.contains_key("/metrics"));
    assert_eq!(
        paths
            .values()
            .map(|ops| ops.as_object().map_or(0, |o| o.len()))
            .sum::<usize>(),
        166
    );
    app.finish().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let mut app = spawn_app().await;
    // Arrange: a keep-alive connection, then a request whose body is still being sent.
    assert_eq!(app.get("/health/live", None).await.status, StatusCode::OK);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let request = app
        .client
        .post(format!("{}/api/merchant/auth/login", app.address))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let in_flight = tokio::spawn(request);
    tx.send(Ok(br#"{"email":"nobody@example.com","#.to_vec()))
        .await
        .expect("first chunk");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Act: shut down while the request is in flight, then finish its body.
    let server = app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    tx.send(Ok(br#""password":"x"}"#.to_vec()))
        .await
        .expect("second chunk");
    drop(tx);
    // Assert: the request completes normally and the server then stops.
    let response = in_flight.await.expect("join").expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stopped")
        .expect("clean exit");
    let refused = reqwest::Client::new()
        .get(format!("{}/health/live", app.address))
        .send()
        .await;
    assert!(refused.is_err(), "no new connections after shutdown");
    app.finish().await;
}

#[tokio::test]
async fn requests_the_client_abandons_leave_the_database_pool_usable() {
    // Arrange: a pool smaller than the number of clients, so requests queue for connections.
    let app = spawn_app_with(&["--mongodb-max-pool-size", "8"]).await;
    let (token, _, _) = app.register("abandons").await;
    for i in 0..5 {
        app.product(&token, &format!("Abandoned {i}"), 5).await;
    }
    let list = format!("{}/api/merchant/products?limit=20", app.address);

    // Act: like a load generator stopping, rounds of 64 clients each keeping a request in
    // flight are cut off at once, while their requests wait for or use a connection.
    for _ in 0..3 {
        let clients: Vec<_> = (0..64)
            .map(|_| {
                let (client, list, token) = (app.client.clone(), list.clone(), token.clone());
                tokio::spawn(async move {
                    loop {
                        let _ = client.get(&list).bearer_auth(&token).send().await;
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(2)).await;
        clients.iter().for_each(tokio::task::JoinHandle::abort);
    }

    // Assert: the next requests are answered promptly and the database still counts as up.
    for path in ["/api/merchant/products", "/health"] {
        let answer = tokio::time::timeout(Duration::from_secs(20), app.get(path, Some(&token)))
            .await
            .unwrap_or_else(|_| panic!("{path} unanswered 20 s after the abandoned requests"));
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    }
    app.finish().await;
}
