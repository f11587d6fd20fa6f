//! One error contract: every error body keeps its keys and adds a stable `code`, the
//! `requestId` the headers carry, and a `code` on each field error; `X-Request-Id` and
//! `X-Correlation-ID` are accepted and both echoed.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Sends `method path` with an `X-Request-Id` and a JSON body, returns (status, headers, body).
async fn with_request_id(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    id: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.address))
        .header("x-request-id", id);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("send");
    let (status, headers) = (res.status(), res.headers().clone());
    let body = res.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test]
async fn every_error_body_carries_a_code_and_the_request_id() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("errors").await;

    // A validation error: the contract's keys, plus code, requestId and errors[].code.
    let bad = json!({ "email": "not-an-email", "password": "x" });
    let (status, headers, body) = with_request_id(
        &app,
        reqwest::Method::POST,
        "/api/merchant/auth/login",
        "client-id-1",
        None,
        Some(bad),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["message"], "Validation failed");
    assert_eq!(body["code"], "VALIDATION_ERROR");
    assert_eq!(body["requestId"], "client-id-1");
    assert_eq!(headers["x-request-id"], "client-id-1");
    assert_eq!(headers["x-correlation-id"], "client-id-1");
    let errors = body["errors"].as_array().expect("errors[]");
    let email = errors
        .iter()
        .find(|e| e["field"] == "email")
        .expect("an email error");
    assert_eq!(email["code"], "format", "{email}");
    assert!(
        email["message"]
            .as_str()
            .is_some_and(|m| m.contains("email"))
    );
    assert!(errors.iter().all(|e| e["code"].is_string()), "{body}");

    // Each status family gets its own stable code; a generated id matches the headers.
    let cases = [
        ("GET", "/api/merchant/auth/me", None, "UNAUTHORIZED", 401),
        (
            "GET",
            "/api/merchant/products/000000000000000000000000",
            Some(token.as_str()),
            "NOT_FOUND",
            404,
        ),
        ("GET", "/api/no-such-route", None, "NOT_FOUND", 404),
    ];
    for (method, path, token, code, status) in cases {
        let r = app.call(method, path, token, None).await;
        assert_eq!(r.status.as_u16(), status, "{path}: {}", r.body);
        assert_eq!(r.body["success"], false, "{path}");
        assert_eq!(r.body["code"], code, "{path}: {}", r.body);
        let id = r.header("x-correlation-id").expect("x-correlation-id");
        assert_eq!(r.body["requestId"], id, "{path}");
        assert_eq!(r.header("x-request-id"), Some(id), "{path}");
        assert!(r.body["message"].is_string(), "{path}: the message stays");
    }

    // A malformed body names its own kind.
    let malformed = app
        .client
        .post(format!("{}/api/merchant/products", app.address))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let body: Value = malformed.json().await.expect("json");
    assert_eq!(body["code"], "VALIDATION_ERROR", "{body}");
    assert_eq!(body["errors"][0]["code"], "malformed", "{body}");

    // Success bodies are untouched.
    let ok = app.get("/api/merchant/auth/me", Some(&token)).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.body.get("code").is_none() && ok.body.get("requestId").is_none());
    app.finish().await;
}
