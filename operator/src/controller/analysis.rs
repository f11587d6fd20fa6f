//! Canary analysis: measure Prometheus queries against thresholds and decide whether a canary
//! passes. Owns the query description ([`Query`]), the persisted progress of one query
//! ([`Measurements`]), the pure decisions ([`due_in`], [`record`], [`verdict`]) and the one
//! Prometheus call ([`sample`], [`measure`]). It does not know the CRD (the rollout maps its
//! fields onto [`Query`]) and does not decide what a failed analysis does to the rollout.
//!
//! Rules:
//!
//! - A measurement **fails** when the value is greater than [`Query::max_value`]; a query
//!   *fails* when more than [`Query::failure_limit`] measurements failed, and *passes* once
//!   [`Query::count`] measurements were taken without that (Argo Rollouts' `count` and
//!   `failureLimit`). Measurements are spaced by [`Query::interval`]; the first is due at once,
//!   and `count: 0` passes without measuring.
//! - A query that returns **no series or NaN** (an error ratio `0/0` while the canary has no
//!   traffic, a histogram with no observations) is **inconclusive**: it counts as a measurement
//!   taken and in [`Measurements::inconclusive`], but never as a failure. No data is not evidence
//!   of a fault, and failing on it would roll back every canary that had no traffic yet. The
//!   consequence: a canary that never receives traffic passes after `count` inconclusive
//!   measurements; callers that need evidence can look at `inconclusive`.
//! - A measurement whose **request fails** (Prometheus unreachable or timing out, the query
//!   rejected, an answer of several series) counts as a failed measurement and its error is kept
//!   in [`Measurements::last_error`]. Argo Rollouts also ends an analysis on errors, with a
//!   separate consecutive-error limit; here they count against the failure limit, one budget:
//!   an analysis that cannot see must not pass, and a query that keeps failing (a typo in the
//!   PromQL, Prometheus down) aborts the canary after `failure_limit + 1` attempts instead of
//!   holding it.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::IgnoredAny};
use tracing::{debug, warn};

use crate::telemetry::chain;

/// Bound on one Prometheus request, connection included: a hung Prometheus must not hold a
/// reconcile.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// One PromQL query the canary is measured with.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// Name used in status and messages (e.g. `error-ratio`).
    pub name: String,
    /// PromQL evaluated as an instant query; must give a scalar or a single series.
    pub promql: String,
    /// Largest acceptable value: a measurement above it fails.
    pub max_value: f64,
    /// Time between two measurements.
    pub interval: Duration,
    /// Measurements to take before the query passes.
    pub count: u32,
    /// Failed measurements tolerated; one more fails the query.
    pub failure_limit: u32,
}

/// Progress of one query, kept in the status so an analysis survives operator restarts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Measurements {
    /// Name of the query these measurements belong to.
    pub name: String,
    /// Measurements taken so far (passed, failed and inconclusive).
    #[schemars(extend("format" = "int64"))]
    pub taken: u32,
    /// Measurements whose value exceeded the threshold or whose request failed.
    #[schemars(extend("format" = "int64"))]
    pub failed: u32,
    /// Measurements that returned no data (no series, or NaN).
    #[schemars(extend("format" = "int64"))]
    pub inconclusive: u32,
    /// Value of the last measurement, absent when it had no data or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_value: Option<f64>,
    /// When the last measurement was taken (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_time: Option<String>,
    /// Why the last measurement's request failed, absent when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Measurements {
    /// No measurement taken yet for `query`.
    pub fn new(query: &Query) -> Self {
        Self {
            name: query.name.clone(),
            ..Self::default()
        }
    }
}

/// What one Prometheus query returned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sample {
    /// The value of the single series (or of the scalar).
    Value(f64),
    /// No series, or NaN: inconclusive.
    NoData,
}

/// Where one query stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// More measurements are needed; the next is due in `next_in` (zero: now).
    Running {
        /// Time until the next measurement is due.
        next_in: Duration,
    },
    /// `count` measurements were taken within the failure limit.
    Passed,
    /// More measurements failed than the limit allows.
    Failed {
        /// Names the query, the last value or error, the threshold and the tally.
        reason: String,
    },
}

/// Time until the next measurement is due: zero for the first one, otherwise what remains of
/// `interval` since the last. An unreadable `last_time` (a hand-edited status) counts as due.
pub fn due_in(m: &Measurements, q: &Query, now: Timestamp) -> Duration {
    let Some(last) = m
        .last_time
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok())
    else {
        return Duration::ZERO;
    };
    let interval = SignedDuration::try_from(q.interval).unwrap_or(SignedDuration::MAX);
    let remaining = interval.saturating_sub(now.duration_since(last));
    // Negative (overdue) becomes zero.
    Duration::try_from(remaining).unwrap_or(Duration::ZERO)
}

/// Records one sample taken at `now`. NaN is treated as no data (see the module docs).
pub fn record(m: &mut Measurements, q: &Query, sample: Sample, now: Timestamp) {
    m.taken += 1;
    m.last_time = Some(now.to_string());
    m.last_error = None;
    match sample {
        Sample::Value(v) if !v.is_nan() => {
            if v > q.max_value {
                m.failed += 1;
            }
            m.last_value = Some(v);
        }
        Sample::Value(_) | Sample::NoData => {
            m.inconclusive += 1;
            m.last_value = None;
        }
    }
}

/// Records a measurement whose request failed: it counts as failed (see the module docs).
pub fn record_error(m: &mut Measurements, error: &AnalysisError, now: Timestamp) {
    m.taken += 1;
    m.failed += 1;
    m.last_time = Some(now.to_string());
    m.last_value = None;
    m.last_error = Some(chain(error));
}

/// Where the query stands after the measurements so far.
pub fn verdict(m: &Measurements, q: &Query, now: Timestamp) -> Verdict {
    if m.failed > q.failure_limit {
        return Verdict::Failed {
            reason: failure_reason(m, q),
        };
    }
    if m.taken >= q.count {
        return Verdict::Passed;
    }
    Verdict::Running {
        next_in: due_in(m, q, now),
    }
}

/// E.g. `error-ratio = 0.31 > 0.05 (3 of 5 measurements failed, limit 1)`.
fn failure_reason(m: &Measurements, q: &Query) -> String {
    let last = match (&m.last_error, m.last_value) {
        (Some(error), _) => format!("{}: query failed: {error}", q.name),
        (None, Some(v)) if v > q.max_value => format!("{} = {v} > {}", q.name, q.max_value),
        (None, Some(v)) => format!("{} = {v} (threshold {})", q.name, q.max_value),
        (None, None) => format!("{}: no data (threshold {})", q.name, q.max_value),
    };
    format!(
        "{last} ({} of {} measurements failed, limit {})",
        m.failed, m.taken, q.failure_limit
    )
}

/// Takes a measurement if one is due and the query is still running, then returns the verdict.
/// A failed request is recorded as a failed measurement (and logged), not returned.
pub async fn measure(
    http: &reqwest::Client,
    base_url: &str,
    q: &Query,
    m: &mut Measurements,
    now: Timestamp,
) -> Verdict {
    match verdict(m, q, now) {
        Verdict::Running { next_in } if next_in.is_zero() => {}
        settled_or_waiting => return settled_or_waiting,
    }
    match sample(http, base_url, &q.promql).await {
        Ok(s) => {
            debug!(query = %q.name, sample = ?s, "analysis measurement");
            record(m, q, s, now);
        }
        Err(e) => {
            warn!(query = %q.name, error = %chain(&e), "analysis measurement failed");
            record_error(m, &e, now);
        }
    }
    verdict(m, q, now)
}

/// Why a Prometheus query could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// The request did not complete: unreachable, timed out, or the body could not be read.
    #[error("failed to query Prometheus at {url}")]
    Request {
        /// The query endpoint.
        url: String,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// Prometheus (or something in front of it) answered with an error status.
    #[error("Prometheus rejected query `{query}` with HTTP {status}: {message}")]
    Rejected {
        /// The PromQL.
        query: String,
        /// HTTP status code.
        status: u16,
        /// Prometheus's `errorType: error`, or the start of a body that is not Prometheus JSON.
        message: String,
    },
    /// The answer is not Prometheus's JSON envelope.
    #[error("Prometheus answered query `{query}` with malformed JSON")]
    Malformed {
        /// The PromQL.
        query: String,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// A vector of more than one series: the threshold would apply to an arbitrary one.
    #[error(
        "query `{query}` returned {series} series, expected one: aggregate it (e.g. with sum or max)"
    )]
    SeveralSeries {
        /// The PromQL.
        query: String,
        /// Number of series returned.
        series: usize,
    },
    /// A range vector or a string: not a value to compare with a threshold.
    #[error("query `{query}` returned a {result_type}, expected a scalar or an instant vector")]
    UnexpectedResult {
        /// The PromQL.
        query: String,
        /// Prometheus's `resultType`.
        result_type: &'static str,
    },
    /// A sample value Prometheus sent that is not a number.
    #[error("query `{query}` returned the value {value:?}, which is not a number")]
    NotANumber {
        /// The PromQL.
        query: String,
        /// The value as sent.
        value: String,
    },
}

/// Evaluates `promql` as an instant query (`GET {base_url}/api/v1/query`), bounded by
/// [`REQUEST_TIMEOUT`].
pub async fn sample(
    http: &reqwest::Client,
    base_url: &str,
    promql: &str,
) -> Result<Sample, AnalysisError> {
    let url = format!("{}/api/v1/query", base_url.trim_end_matches('/'));
    let request_failed = |source| AnalysisError::Request {
        url: url.clone(),
        source,
    };
    let response = http
        .get(&url)
        .query(&[("query", promql)])
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(request_failed)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(request_failed)?;
    parse_response(promql, status, &body)
}

/// Prometheus's answer to `/api/v1/query`; unknown fields (`warnings`, `infos`) are ignored.
#[derive(Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum Envelope {
    Success {
        data: Data,
    },
    Error {
        #[serde(rename = "errorType")]
        error_type: String,
        error: String,
    },
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Scalar(Point),
    Vector(Vec<Series>),
    Matrix(IgnoredAny),
    String(IgnoredAny),
}

/// `[unix seconds, "value"]`: Prometheus sends values as strings ("NaN", "+Inf" included).
type Point = (f64, String);

#[derive(Deserialize)]
struct Series {
    value: Point,
}

/// Reads an answer of `/api/v1/query` into a [`Sample`].
fn parse_response(query: &str, status: u16, body: &[u8]) -> Result<Sample, AnalysisError> {
    let envelope = match serde_json::from_slice::<Envelope>(body) {
        Ok(envelope) => envelope,
        // A proxy's HTML error page or similar: say what the server said.
        Err(_) if !(200..300).contains(&status) => {
            return Err(AnalysisError::Rejected {
                query: query.to_owned(),
                status,
                message: body_excerpt(body),
            });
        }
        Err(source) => {
            return Err(AnalysisError::Malformed {
                query: query.to_owned(),
                source,
            });
        }
    };
    match envelope {
        Envelope::Error { error_type, error } => Err(AnalysisError::Rejected {
            query: query.to_owned(),
            status,
            message: format!("{error_type}: {error}"),
        }),
        Envelope::Success { data } => sample_of(query, data),
    }
}

fn sample_of(query: &str, data: Data) -> Result<Sample, AnalysisError> {
    let unexpected = |result_type| AnalysisError::UnexpectedResult {
        query: query.to_owned(),
        result_type,
    };
    let value = match data {
        Data::Scalar((_, value)) => value,
        Data::Vector(series) => match <[Series; 1]>::try_from(series) {
            Ok([one]) => one.value.1,
            Err(series) if series.is_empty() => return Ok(Sample::NoData),
            Err(series) => {
                return Err(AnalysisError::SeveralSeries {
                    query: query.to_owned(),
                    series: series.len(),
                });
            }
        },
        Data::Matrix(_) => return Err(unexpected("matrix")),
        Data::String(_) => return Err(unexpected("string")),
    };
    match value.parse::<f64>() {
        Ok(v) if v.is_nan() => Ok(Sample::NoData),
        Ok(v) => Ok(Sample::Value(v)),
        Err(_) => Err(AnalysisError::NotANumber {
            query: query.to_owned(),
            value,
        }),
    }
}

/// The start of a body, for an error message (bounded: it may be a whole HTML page).
fn body_excerpt(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn query() -> Query {
        Query {
            name: "error-ratio".into(),
            promql: "sum(rate(errors[1m])) / sum(rate(requests[1m]))".into(),
            max_value: 0.05,
            interval: Duration::from_secs(30),
            count: 5,
            failure_limit: 1,
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Records `samples` 30 s apart from 12:00:00, as `measure` would.
    fn run(q: &Query, samples: &[Sample]) -> (Measurements, Timestamp) {
        let mut m = Measurements::new(q);
        let mut now = at("2026-12-07T12:00:00Z");
        for (i, s) in samples.iter().enumerate() {
            if i > 0 {
                now += SignedDuration::from_secs(30);
            }
            record(&mut m, q, *s, now);
        }
        (m, now)
    }

    #[test]
    fn the_first_measurement_is_due_at_once() {
        let q = query();
        let m = Measurements::new(&q);
        let now = at("2026-12-07T12:00:00Z");
        assert_eq!(due_in(&m, &q, now), Duration::ZERO);
        assert_eq!(
            verdict(&m, &q, now),
            Verdict::Running {
                next_in: Duration::ZERO
            }
        );
    }

    #[test]
    fn measurements_are_spaced_by_the_interval() {
        let q = query();
        let (m, last) = run(&q, &[Sample::Value(0.01)]);
        assert_eq!(m.last_time.as_deref(), Some("2026-12-07T12:00:00Z"));
        assert_eq!(due_in(&m, &q, last), Duration::from_secs(30));
        let later = last + SignedDuration::from_millis(12_500);
        assert_eq!(due_in(&m, &q, later), Duration::from_millis(17_500));
        assert_eq!(
            verdict(&m, &q, later),
            Verdict::Running {
                next_in: Duration::from_millis(17_500)
            }
        );
        assert_eq!(
            due_in(&m, &q, last + SignedDuration::from_secs(30)),
            Duration::ZERO
        );
        // Overdue (the operator was down) is due now, not negative.
        assert_eq!(
            due_in(&m, &q, last + SignedDuration::from_secs(600)),
            Duration::ZERO
        );
    }

    #[test]
    fn an_unreadable_last_time_makes_the_measurement_due() {
        let q = query();
        let m = Measurements {
            taken: 1,
            last_time: Some("yesterday".into()),
            ..Measurements::new(&q)
        };
        assert_eq!(due_in(&m, &q, at("2026-12-07T12:00:00Z")), Duration::ZERO);
    }

    #[test]
    fn a_query_passes_after_count_measurements_within_the_limit() {
        let q = query();
        let samples = [0.01, 0.02, 0.31, 0.0, 0.05].map(Sample::Value);
        let (m, now) = run(&q, &samples[..4]);
        assert!(matches!(verdict(&m, &q, now), Verdict::Running { .. }));
        let (m, now) = run(&q, &samples);
        assert_eq!((m.taken, m.failed, m.inconclusive), (5, 1, 0));
        assert_eq!(
            m.last_value,
            Some(0.05),
            "equal to the threshold is not a failure"
        );
        assert_eq!(verdict(&m, &q, now), Verdict::Passed);
    }

    #[test]
    fn a_query_fails_at_one_failure_more_than_the_limit() {
        let q = query();
        let (m, now) = run(&q, &[0.2, 0.01].map(Sample::Value));
        assert!(matches!(verdict(&m, &q, now), Verdict::Running { .. }));
        let (m, now) = run(&q, &[0.2, 0.01, 0.31].map(Sample::Value));
        assert_eq!(m.failed, 2);
        assert_eq!(
            verdict(&m, &q, now),
            Verdict::Failed {
                reason: "error-ratio = 0.31 > 0.05 (2 of 3 measurements failed, limit 1)".into()
            }
        );
    }

    #[test]
    fn failing_outweighs_reaching_the_count() {
        let q = Query {
            count: 2,
            failure_limit: 0,
            ..query()
        };
        let (m, now) = run(&q, &[0.01, 0.5].map(Sample::Value));
        assert!(matches!(verdict(&m, &q, now), Verdict::Failed { .. }));
    }

    #[test]
    fn no_data_and_nan_are_inconclusive_and_never_fail() {
        let q = Query {
            failure_limit: 0,
            ..query()
        };
        let samples = [
            Sample::NoData,
            Sample::Value(f64::NAN),
            Sample::NoData,
            Sample::NoData,
            Sample::NoData,
        ];
        let (m, now) = run(&q, &samples);
        assert_eq!((m.taken, m.failed, m.inconclusive), (5, 0, 5));
        assert_eq!(m.last_value, None);
        assert_eq!(verdict(&m, &q, now), Verdict::Passed);
    }

    #[test]
    fn a_failed_request_counts_as_a_failed_measurement_and_names_its_error() {
        let q = query();
        let (mut m, now) = run(&q, &[Sample::Value(0.5)]);
        let error =
            parse_response(&q.promql, 503, b"<html>Service Unavailable</html>").unwrap_err();
        record_error(&mut m, &error, now + SignedDuration::from_secs(30));
        assert_eq!((m.taken, m.failed), (2, 2));
        assert_eq!(m.last_value, None);
        let Verdict::Failed { reason } = verdict(&m, &q, now) else {
            panic!("expected a failure")
        };
        assert_eq!(
            reason,
            "error-ratio: query failed: Prometheus rejected query \
             `sum(rate(errors[1m])) / sum(rate(requests[1m]))` with HTTP 503: \
             <html>Service Unavailable</html> (2 of 2 measurements failed, limit 1)"
        );
        // A later successful measurement clears the error.
        record(
            &mut m,
            &q,
            Sample::Value(0.01),
            now + SignedDuration::from_secs(60),
        );
        assert_eq!((m.last_error, m.last_value), (None, Some(0.01)));
    }

    #[test]
    fn a_count_of_zero_passes_without_measuring() {
        let q = Query {
            count: 0,
            ..query()
        };
        let m = Measurements::new(&q);
        assert_eq!(verdict(&m, &q, at("2026-12-07T12:00:00Z")), Verdict::Passed);
    }

    /// `measure` must not call Prometheus when nothing is due: nothing listens at this address,
    /// so a request would be recorded as a failed measurement.
    #[tokio::test]
    async fn measure_sends_nothing_when_settled_or_not_yet_due() {
        let http = reqwest::Client::new();
        let nowhere = "http://127.0.0.1:9";
        let settled = Query {
            count: 0,
            ..query()
        };
        let mut m = Measurements::new(&settled);
        let now = at("2026-12-07T12:00:00Z");
        let v = measure(&http, nowhere, &settled, &mut m, now).await;
        assert_eq!((v, m.taken), (Verdict::Passed, 0));

        let q = query();
        let (mut m, last) = run(&q, &[Sample::Value(0.01)]);
        let later = last + SignedDuration::from_secs(10);
        let v = measure(&http, nowhere, &q, &mut m, later).await;
        let expected = Verdict::Running {
            next_in: Duration::from_secs(20),
        };
        assert_eq!((v, m.taken, m.failed), (expected, 1, 0));
    }

    #[test]
    fn measurements_round_trip_through_camel_case_status_json() {
        let q = query();
        let (m, _) = run(&q, &[Sample::Value(0.25)]);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "name": "error-ratio", "taken": 1, "failed": 1, "inconclusive": 0,
                "lastValue": 0.25, "lastTime": "2026-12-07T12:00:00Z"
            })
        );
        assert_eq!(serde_json::from_value::<Measurements>(json).unwrap(), m);
    }

    /// The rollout puts `Measurements` into the CRD status: the schema kube derives from it must
    /// be structural (typed, nullable options).
    #[test]
    fn measurements_give_a_structural_crd_schema() {
        use kube::CustomResourceExt;

        #[derive(kube::CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
        #[kube(
            group = "test.example",
            version = "v1",
            kind = "Probe",
            status = "ProbeStatus"
        )]
        struct ProbeSpec {}
        #[derive(Serialize, Deserialize, Clone, Debug, JsonSchema)]
        struct ProbeStatus {
            analysis: Vec<Measurements>,
        }

        let crd = serde_json::to_value(Probe::crd()).unwrap();
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let m = &schema["properties"]["status"]["properties"]["analysis"]["items"];
        let p = &m["properties"];
        assert_eq!(p["lastValue"]["type"], "number");
        assert_eq!(p["lastValue"]["nullable"], true);
        assert_eq!(p["lastTime"]["type"], "string");
        assert_eq!(p["lastError"]["type"], "string");
        assert_eq!(p["taken"]["type"], "integer");
        assert_eq!(p["name"]["type"], "string");
        // No untyped or union ("anyOf"/"oneOf"/["number","null"]) schemas anywhere.
        let text = m.to_string();
        assert!(!text.contains("anyOf") && !text.contains("oneOf"), "{text}");
        assert!(!text.contains("\"null\""), "{text}");
    }

    #[test]
    fn a_single_series_vector_gives_its_value() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"namespace":"shop"},"value":[1765108800.123,"0.0125"]}]}}"#;
        assert_eq!(
            parse_response("q", 200, body).unwrap(),
            Sample::Value(0.0125)
        );
    }

    #[test]
    fn a_scalar_gives_its_value_and_warnings_are_ignored() {
        let body =
            br#"{"status":"success","data":{"resultType":"scalar","result":[1765108800,"1"]},
            "warnings":["something"]}"#;
        assert_eq!(parse_response("q", 200, body).unwrap(), Sample::Value(1.0));
    }

    #[test]
    fn infinity_is_a_value_above_any_threshold() {
        let body =
            br#"{"status":"success","data":{"resultType":"scalar","result":[1765108800,"+Inf"]}}"#;
        assert_eq!(
            parse_response("q", 200, body).unwrap(),
            Sample::Value(f64::INFINITY)
        );
    }

    #[test]
    fn an_empty_vector_and_nan_give_no_data() {
        let empty = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(parse_response("q", 200, empty).unwrap(), Sample::NoData);
        let nan = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{},"value":[1765108800,"NaN"]}]}}"#;
        assert_eq!(parse_response("q", 200, nan).unwrap(), Sample::NoData);
    }

    #[test]
    fn several_series_are_an_error_asking_to_aggregate() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"pod":"a"},"value":[1,"1"]},{"metric":{"pod":"b"},"value":[1,"2"]}]}}"#;
        let error = parse_response("up", 200, body).unwrap_err();
        assert!(matches!(
            error,
            AnalysisError::SeveralSeries { series: 2, .. }
        ));
        assert_eq!(
            error.to_string(),
            "query `up` returned 2 series, expected one: aggregate it (e.g. with sum or max)"
        );
    }

    #[test]
    fn a_range_vector_is_refused() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{},"values":[[1,"1"],[2,"2"]]}]}}"#;
        let error = parse_response("up[1m]", 200, body).unwrap_err();
        assert_eq!(
            error.to_string(),
            "query `up[1m]` returned a matrix, expected a scalar or an instant vector"
        );
    }

    #[test]
    fn an_error_body_carries_prometheus_message() {
        let body = br#"{"status":"error","errorType":"bad_data",
            "error":"1:5: parse error: unexpected end of input"}"#;
        let error = parse_response("sum(", 400, body).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Prometheus rejected query `sum(` with HTTP 400: \
             bad_data: 1:5: parse error: unexpected end of input"
        );
    }

    #[test]
    fn a_non_json_error_page_is_quoted_and_bounded() {
        let page = format!("<html>{}</html>", "x".repeat(500));
        let error = parse_response("q", 502, page.as_bytes()).unwrap_err();
        let AnalysisError::Rejected {
            status, message, ..
        } = error
        else {
            panic!("expected Rejected, got {error:?}")
        };
        assert_eq!(status, 502);
        assert_eq!(message.chars().count(), 201);
        assert!(message.starts_with("<html>xxx") && message.ends_with('…'));
    }

    #[test]
    fn a_success_status_with_a_non_prometheus_body_is_malformed() {
        let error = parse_response("q", 200, b"{\"hello\":1}").unwrap_err();
        assert!(
            matches!(error, AnalysisError::Malformed { .. }),
            "{error:?}"
        );
        let error = parse_response(
            "q",
            200,
            br#"{"status":"success","data":{"resultType":"scalar","result":[1,"many"]}}"#,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "query `q` returned the value \"many\", which is not a number"
        );
    }
}
