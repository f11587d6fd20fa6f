//! The API's edge: which address a request comes from behind proxies, the admin listener, and
//! what metrics, logs and audit records may hold about a request.

use mongodb::bson::Document;
use reqwest::StatusCode;

use crate::helpers::{TestApp, mailed_link, registration, spawn_app, spawn_app_with, unique};

/// Register a merchant sending `X-Forwarded-For: <forwarded>`.
async fn register_via(app: &TestApp, forwarded: &str) -> StatusCode {
    let email = format!("{}@example.com", unique("xff"));
    app.client
        .post(format!("{}/api/merchant/auth/register", app.address))
        .header("x-forwarded-for", forwarded)
        .json(&registration(&email))
        .send()
        .await
        .expect("request sent")
        .status()
}

#[tokio::test]
async fn a_spoofed_forwarded_for_entry_does_not_buy_a_fresh_rate_limit_budget() {
    // One ingress in front: it appends the real client (7.7.7.7) to whatever the client sent.
    let app = spawn_app_with(&["--trust-proxy", "true", "--rate-limit-register-max", "2"]).await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(register_via(&app, &format!("6.6.{i}.{i}, 7.7.7.7")).await);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "every request claimed a new leftmost address; the limit must still hold"
    );
    // Another real client behind the same ingress has its own budget.
    assert_eq!(register_via(&app, "8.8.8.8").await, StatusCode::CREATED);
    app.finish().await;
}

#[tokio::test]
async fn trusted_proxy_networks_are_skipped_from_the_right() {
    // Two proxies in 127.0.0.0/8 (the test's loopback peer is one): the client is 7.7.7.7.
    let app = spawn_app_with(&[
        "--trust-proxy",
        "127.0.0.0/8, ::1",
        "--rate-limit-register-max",
        "1",
    ])
    .await;
    assert_eq!(
        register_via(&app, "1.1.1.1, 7.7.7.7, 127.0.0.9").await,
        StatusCode::CREATED
    );
    assert_eq!(
        register_via(&app, "2.2.2.2, 7.7.7.7, 127.0.0.9").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.finish().await;
}

#[tokio::test]
async fn an_unparseable_trust_proxy_value_is_refused_naming_the_setting() {
    let err = merchant_api::config::Config::from_args(["test", "--trust-proxy", "sometimes"])
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("trust-proxy") && text.contains("sometimes"),
        "{text}"
    );
}

/// GET `url`: status and body text.
async fn fetch(app: &TestApp, method: &str, url: &str) -> (StatusCode, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let r = app
        .client
        .request(method, url)
        .send()
        .await
        .expect("request sent");
    (r.status(), r.text().await.expect("body"))
}

#[tokio::test]
async fn metrics_are_served_on_the_admin_port_only() {
    let app = spawn_app().await;
    let (status, body) = fetch(&app, "GET", &format!("{}/metrics", app.address)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "public /metrics: {body}");
    let (status, body) = fetch(&app, "GET", &format!("{}/metrics", app.admin_address)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("merchant_api_http_requests_total"), "{body}");
    // The probes answer on the admin port too (the kubelet may use either).
    let (status, _) = fetch(&app, "GET", &format!("{}/health/live", app.admin_address)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = fetch(&app, "GET", &format!("{}/health/ready", app.admin_address)).await;
    assert_eq!(status, StatusCode::OK);
    // Nothing else: the admin port is not a second door into the API.
    let (status, _) = fetch(
        &app,
        "GET",
        &format!("{}/api/merchant/products", app.admin_address),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.finish().await;
}

#[tokio::test]
async fn metric_labels_stay_bounded_whatever_clients_send() {
    let app = spawn_app().await;
    for i in 0..20 {
        fetch(
            &app,
            &format!("BREW{i}"),
            &format!("{}/health", app.address),
        )
        .await;
        fetch(
            &app,
            "GET",
            &format!("{}/api/merchant/no-such-route-{i}", app.address),
        )
        .await;
    }
    let (_, metrics) = fetch(&app, "GET", &format!("{}/metrics", app.admin_address)).await;
    assert!(!metrics.contains("BREW"), "a made-up method became a label");
    assert!(
        !metrics.contains("no-such-route"),
        "a raw path became a label"
    );
    assert!(metrics.contains("method=\"OTHER\""), "{metrics}");
    assert!(metrics.contains("route=\"unmatched\""), "{metrics}");
    app.finish().await;
}

#[tokio::test]
async fn an_invitation_token_in_the_url_never_reaches_the_audit_log() {
    let app = spawn_app().await;
    let (owner, _, _) = app.register("auditowner").await;
    let email = format!("{}@example.com", unique("tokinv").to_lowercase());
    let invited = app
        .post(
            "/api/merchant/team/invite",
            Some(&owner),
            serde_json::json!({ "email": email, "name": "Tok Invitee", "role": "staff" }),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    let link = mailed_link(&email, "accept-invitation")
        .await
        .expect("invitation e-mail captured");
    let token = link.rsplit('/').next().expect("token").to_string();
    let path = format!("/api/merchant/team-public/accept-invitation/{token}");
    let accepted = app
        .post(
            &path,
            None,
            serde_json::json!({ "password": "secret1", "confirmPassword": "secret1" }),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    // The audit writer is asynchronous: wait (bounded) for the acceptance's record.
    let mut text = String::new();
    for _ in 0..200 {
        let records = crate::permissions::audit_records(&app, Document::new(), 1).await;
        text = format!("{records:?}");
        if text.contains("accept-invitation") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        !text.contains(&token),
        "the token is in an audit record: {text}"
    );
    assert!(
        text.contains("accept-invitation/[REDACTED]"),
        "the acceptance is audited with the token replaced: {text}"
    );
    app.finish().await;
}
