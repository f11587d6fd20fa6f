//! OpenTelemetry: the `serve` binary exports its request spans over OTLP/HTTP to a real receiver
//! (an in-test `POST /v1/traces` server decoding the protobuf), continues the caller's W3C trace,
//! sends the configured headers without logging them, and flushes on graceful shutdown.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::{Span, span::SpanKind},
};
use prost::Message;
use tokio::sync::mpsc;

use crate::helpers::{ACCESS_SECRET, REFRESH_SECRET, testenv, unique};

const BIN: &str = env!("CARGO_BIN_EXE_merchant-api");
const API_KEY: &str = "nr-license-key-must-never-be-logged";

/// One export as received: headers and the decoded request.
type Export = (HeaderMap, ExportTraceServiceRequest);

/// Start the receiver; returns its base URL and the stream of decoded exports.
async fn otlp_receiver() -> (String, mpsc::UnboundedReceiver<Export>) {
    let (tx, rx) = mpsc::unbounded_channel::<Export>();
    async fn traces(
        State(tx): State<mpsc::UnboundedSender<Export>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> ([(&'static str, &'static str); 1], Vec<u8>) {
        let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf body");
        let _ = tx.send((headers, request));
        // An empty ExportTraceServiceResponse: full success.
        ([("content-type", "application/x-protobuf")], Vec::new())
    }
    let router = Router::new()
        .route("/v1/traces", post(traces))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, rx)
}

/// `merchant-api serve` with trace export on; returns the child, its port and its log lines.
fn serve(otlp: &str, mongodb_uri: &str) -> (Child, u16, Arc<Mutex<Vec<String>>>) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("PORT", "0")
        .env("ADMIN_PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("MONGODB_URI", mongodb_uri)
        .env("MONGODB_DATABASE", unique("otel"))
        .env("ENSURE_INDEXES", "false")
        .env("JWT_MERCHANT_SECRET", ACCESS_SECRET)
        .env("JWT_REFRESH_SECRET", REFRESH_SECRET)
        .env("NODE_ENV", "test")
        .env("LOG_LEVEL", "debug")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
        .env("OTEL_EXPORTER_OTLP_HEADERS", format!("api-key={API_KEY}"))
        .env("OTEL_SERVICE_NAME", "merchant-api-otel-test")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (port_tx, port_rx) = std::sync::mpsc::channel::<u16>();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    for (pipe, port_tx) in [
        (
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Some(port_tx),
        ),
        (Box::new(stderr), None),
    ] {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(tx) = &port_tx
                    && line.contains("merchant-api ready")
                {
                    let log: serde_json::Value = serde_json::from_str(&line).expect("json log");
                    let _ = tx.send(log["port"].as_u64().expect("port field") as u16);
                }
                lines.lock().expect("lines").push(line);
            }
        });
    }
    let port = port_rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("not ready: {:?}", lines.lock().expect("lines")));
    (child, port, lines)
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn string(value: Option<&Value>) -> Option<&str> {
    match value {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn int(value: Option<&Value>) -> Option<i64> {
    match value {
        Some(Value::IntValue(i)) => Some(*i),
        _ => None,
    }
}

#[tokio::test]
async fn request_spans_reach_an_otlp_receiver_in_the_callers_trace() {
    let uri = testenv("MONGODB_URI");
    let (otlp, mut exports) = otlp_receiver().await;
    let (mut child, port, lines) = serve(&otlp, &uri);

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let product = "/api/merchant/products/64b7f0c2a1b2c3d4e5f60718";
    let res = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{product}"))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);

    // SIGTERM: graceful shutdown must flush the batch (its 5 s timer has not fired yet).
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(exit.success(), "serve exited with {exit}");

    let (headers, span, resource) = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let (headers, export) = exports.recv().await.expect("receiver open");
            for rs in export.resource_spans {
                let resource = rs.resource.clone().unwrap_or_default().attributes;
                let found: Option<Span> = rs
                    .scope_spans
                    .into_iter()
                    .flat_map(|s| s.spans)
                    .find(|s| hex::encode(&s.trace_id) == trace_id);
                if let Some(span) = found {
                    return (headers, span, resource);
                }
            }
        }
    })
    .await
    .expect("a span of the caller's trace was exported before the process exited");

    assert_eq!(headers["api-key"], API_KEY);
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(hex::encode(&span.parent_span_id), caller_span);
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(span.name, "GET /api/merchant/products/{id}");
    assert_eq!(
        string(attribute(&span.attributes, "http.route")),
        Some("/api/merchant/products/{id}")
    );
    assert_eq!(
        string(attribute(&span.attributes, "http.request.method")),
        Some("GET")
    );
    assert_eq!(
        string(attribute(&span.attributes, "url.path")),
        Some(product)
    );
    assert_eq!(
        int(attribute(&span.attributes, "http.response.status_code")),
        Some(401),
        "{:?}",
        span.attributes
    );
    assert!(
        string(attribute(&span.attributes, "request_id")).is_some_and(|id| !id.is_empty()),
        "request id on the span"
    );
    assert_eq!(
        string(attribute(&resource, "service.name")),
        Some("merchant-api-otel-test")
    );
    let logs = lines.lock().expect("lines").join("\n");
    assert!(logs.contains("exporting traces over OTLP/HTTP"), "{logs}");
    assert!(
        !logs.contains(API_KEY),
        "the export header value is never logged"
    );
}

#[tokio::test]
async fn tokens_in_url_paths_never_reach_logs_or_exported_spans() {
    let uri = testenv("MONGODB_URI");
    let (otlp, mut exports) = otlp_receiver().await;
    let (mut child, port, lines) = serve(&otlp, &uri);
    let token = "d0e1a2b3c4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3";
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/api/merchant");
    let paths = [
        ("POST", format!("{base}/auth/reset-password/{token}")),
        ("POST", format!("{base}/auth/verify-email/{token}")),
        (
            "GET",
            format!("{base}/team-public/validate-invitation/{token}"),
        ),
        (
            "POST",
            format!("{base}/team-public/accept-invitation/{token}"),
        ),
    ];
    for (method, url) in &paths {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let res = client
            .request(method, url)
            .json(&serde_json::json!({ "password": "abcdef", "confirmPassword": "abcdef" }))
            .send()
            .await
            .expect("request");
        assert!(res.status().is_client_error(), "{url}: {}", res.status());
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    // Every span exported before the process exited.
    let mut paths_seen = Vec::new();
    let mut exported = String::new();
    while let Ok(Some((_, export))) =
        tokio::time::timeout(Duration::from_secs(2), exports.recv()).await
    {
        for span in export
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|s| &s.spans)
        {
            if let Some(path) = string(attribute(&span.attributes, "url.path")) {
                paths_seen.push(path.to_string());
            }
        }
        exported.push_str(&format!("{export:?}"));
    }
    assert_eq!(paths_seen.len(), 4, "one request span each: {paths_seen:?}");
    assert!(
        paths_seen.iter().all(|p| p.ends_with("/[REDACTED]")),
        "{paths_seen:?}"
    );
    assert!(
        !exported.contains(token),
        "a token reached the trace backend"
    );
    let logs = lines.lock().expect("lines").join("\n");
    assert!(
        logs.contains("/[REDACTED]"),
        "the request logs keep the redacted path: {logs}"
    );
    assert!(!logs.contains(token), "a token reached the logs: {logs}");
}
