//! Canary analysis against a real Prometheus: the test bed's (`scripts/testenv up nodes` exports
//! PROMETHEUS_URL). Starts nothing itself; the queries need no pods (Prometheus's self-scrape,
//! constants). Outside CI a missing PROMETHEUS_URL skips; under `CI=true` it fails. The two
//! tests of an absent or silent server need no Prometheus and always run.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use merchant_operator::controller::analysis::{
    AnalysisError, Measurements, Query, REQUEST_TIMEOUT, Sample, Verdict, measure, sample,
};
use tokio::net::TcpListener;

/// The test bed's Prometheus, or `None` (skip) outside CI when it is not configured.
fn prometheus() -> Option<String> {
    let Ok(url) = std::env::var("PROMETHEUS_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PROMETHEUS_URL is not set: CI needs the nodes tier (scripts/testenv up nodes)"
        );
        eprintln!("skipping: PROMETHEUS_URL not set (run scripts/testenv up nodes)");
        return None;
    };
    Some(url)
}

fn query(name: &str, promql: &str, max_value: f64, count: u32, failure_limit: u32) -> Query {
    Query {
        name: name.into(),
        promql: promql.into(),
        max_value,
        interval: Duration::from_secs(1),
        count,
        failure_limit,
    }
}

/// Measures `q` as the rollout would: measure, wait what the verdict says, until it settles.
async fn run_to_end(base: &str, q: &Query) -> (Measurements, Verdict) {
    let http = reqwest::Client::new();
    let mut m = Measurements::new(q);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match measure(&http, base, q, &mut m, Timestamp::now()).await {
            Verdict::Running { next_in } => {
                assert!(Instant::now() < deadline, "analysis still running: {m:?}");
                tokio::time::sleep(next_in).await;
            }
            settled => return (m, settled),
        }
    }
}

#[tokio::test]
async fn an_aggregated_query_gives_its_one_value() {
    let Some(base) = prometheus() else { return };
    let http = reqwest::Client::new();
    // Prometheus scrapes itself (job `prometheus`): data without any pod.
    let got = sample(&http, &base, r#"sum(up{job="prometheus"})"#).await;
    assert_eq!(got.unwrap(), Sample::Value(1.0));
    // A trailing slash on the base URL is tolerated.
    let got = sample(&http, &format!("{base}/"), "vector(0.25)").await;
    assert_eq!(got.unwrap(), Sample::Value(0.25));
}

#[tokio::test]
async fn a_scalar_gives_its_value_and_nan_gives_no_data() {
    let Some(base) = prometheus() else { return };
    let http = reqwest::Client::new();
    assert_eq!(
        sample(&http, &base, "1 + 1").await.unwrap(),
        Sample::Value(2.0)
    );
    // An error ratio with no traffic.
    assert_eq!(sample(&http, &base, "0 / 0").await.unwrap(), Sample::NoData);
}

#[tokio::test]
async fn a_query_without_series_gives_no_data() {
    let Some(base) = prometheus() else { return };
    let http = reqwest::Client::new();
    let got = sample(&http, &base, r#"sum(up{job="does-not-exist"})"#).await;
    assert_eq!(got.unwrap(), Sample::NoData);
}

#[tokio::test]
async fn several_series_are_refused_naming_the_query() {
    let Some(base) = prometheus() else { return };
    let http = reqwest::Client::new();
    let promql = r#"label_replace(vector(1), "pod", "a", "", "") or label_replace(vector(2), "pod", "b", "", "")"#;
    let error = sample(&http, &base, promql).await.unwrap_err();
    assert!(
        matches!(error, AnalysisError::SeveralSeries { series: 2, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(promql), "{error}");
    assert!(error.to_string().contains("sum or max"), "{error}");
}

#[tokio::test]
async fn a_syntax_error_carries_prometheus_message() {
    let Some(base) = prometheus() else { return };
    let http = reqwest::Client::new();
    let error = sample(&http, &base, "sum(up").await.unwrap_err();
    let AnalysisError::Rejected {
        status, message, ..
    } = &error
    else {
        panic!("expected Rejected, got {error:?}")
    };
    assert_eq!(*status, 400);
    assert!(message.starts_with("bad_data: "), "{message}");
    assert!(message.contains("parse error"), "{message}");
}

#[tokio::test]
async fn a_healthy_query_passes_after_count_measurements_spaced_by_the_interval() {
    let Some(base) = prometheus() else { return };
    let q = query("targets-up", r#"sum(up{job="prometheus"})"#, 1.0, 3, 0);
    let started = Instant::now();
    let (m, verdict) = run_to_end(&base, &q).await;
    assert_eq!(verdict, Verdict::Passed);
    assert_eq!((m.taken, m.failed, m.inconclusive), (3, 0, 0));
    assert_eq!(m.last_value, Some(1.0));
    // Three measurements, one interval apart.
    assert!(started.elapsed() >= Duration::from_secs(2), "{m:?}");
}

#[tokio::test]
async fn a_query_above_its_threshold_fails_once_past_the_failure_limit() {
    let Some(base) = prometheus() else { return };
    let q = query("error-ratio", "vector(0.31)", 0.05, 5, 1);
    let (m, verdict) = run_to_end(&base, &q).await;
    assert_eq!(
        verdict,
        Verdict::Failed {
            reason: "error-ratio = 0.31 > 0.05 (2 of 2 measurements failed, limit 1)".into()
        }
    );
    assert_eq!((m.taken, m.failed), (2, 2));
}

#[tokio::test]
async fn queries_without_data_are_inconclusive_and_do_not_fail() {
    let Some(base) = prometheus() else { return };
    let q = query("no-traffic", r#"sum(up{job="does-not-exist"})"#, 0.05, 2, 0);
    let (m, verdict) = run_to_end(&base, &q).await;
    assert_eq!(verdict, Verdict::Passed);
    assert_eq!((m.taken, m.failed, m.inconclusive), (2, 0, 2));
}

#[tokio::test]
async fn a_rejected_query_fails_the_analysis_with_prometheus_message() {
    let Some(base) = prometheus() else { return };
    let q = query("typo", "sum(rate(errors[1m])", 0.05, 3, 0);
    let (m, verdict) = run_to_end(&base, &q).await;
    let Verdict::Failed { reason } = verdict else {
        panic!("expected a failure: {m:?}")
    };
    assert!(
        reason.starts_with("typo: query failed: Prometheus rejected query"),
        "{reason}"
    );
    assert!(
        reason.ends_with("(1 of 1 measurements failed, limit 0)"),
        "{reason}"
    );
    assert!(m.last_error.unwrap().contains("parse error"));
}

#[tokio::test]
async fn an_absent_prometheus_is_a_request_error() {
    // A port that was just free: connection refused.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let error = sample(&reqwest::Client::new(), &base, "up")
        .await
        .unwrap_err();
    let AnalysisError::Request { url, source } = &error else {
        panic!("expected Request, got {error:?}")
    };
    assert_eq!(url, &format!("{base}/api/v1/query"));
    assert!(source.is_connect(), "{source:?}");
}

#[tokio::test]
async fn a_silent_prometheus_is_given_up_on_after_the_request_timeout() {
    // Accepts connections, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let error = sample(&reqwest::Client::new(), &base, "up")
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    hold.abort();
    let AnalysisError::Request { source, .. } = &error else {
        panic!("expected Request, got {error:?}")
    };
    assert!(source.is_timeout(), "{source:?}");
    assert!(
        elapsed >= REQUEST_TIMEOUT && elapsed < REQUEST_TIMEOUT + Duration::from_secs(2),
        "{elapsed:?}"
    );
}
