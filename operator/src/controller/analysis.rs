//! Placeholder types until the analysis module lands (replaced at merge).

use serde::{Deserialize, Serialize};

/// Progress of one query.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Measurements {
    /// Query name.
    pub name: String,
    /// Measurements taken.
    pub taken: u32,
    /// Failed measurements.
    pub failed: u32,
    /// Inconclusive measurements.
    pub inconclusive: u32,
    /// Last value.
    pub last_value: Option<f64>,
    /// Last time.
    pub last_time: Option<String>,
    /// Last error.
    pub last_error: Option<String>,
}

/// One query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Name.
    pub name: String,
    /// PromQL.
    pub promql: String,
    /// Threshold.
    pub max_value: f64,
    /// Interval.
    pub interval: std::time::Duration,
    /// Count.
    pub count: u32,
    /// Failure limit.
    pub failure_limit: u32,
}

/// Verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Running.
    Running {
        /// Next.
        next_in: std::time::Duration,
    },
    /// Passed.
    Passed,
    /// Failed.
    Failed {
        /// Why.
        reason: String,
    },
}

/// Placeholder (replaced at merge).
pub fn due(m: &Measurements, _q: &Query, _now: k8s_openapi::jiff::Timestamp) -> bool {
    m.taken == 0
}

/// Placeholder (replaced at merge).
pub async fn measure(
    _http: &reqwest::Client,
    _base: &str,
    _q: &Query,
    m: &mut Measurements,
    _now: k8s_openapi::jiff::Timestamp,
) {
    m.taken += 1;
}

/// Placeholder (replaced at merge).
pub fn verdict(_m: &Measurements, _q: &Query, _now: k8s_openapi::jiff::Timestamp) -> Verdict {
    Verdict::Passed
}
