//! Cashback analytics (status breakdown and daily series over a period) and metrics (current
//! totals and risk figures), both aggregation pipelines over the merchant's requests.

use axum::extract::State;
use serde_json::json;

use super::{range_filter, types::RangeQuery};
use crate::{
    error::ApiError,
    extract::{AppQuery, AuthMerchant},
    routes::{Reply, params},
    state::AppState,
    store::{self, cashback::CashbackFilter, cashback_stats::CashbackBreakdown, json::iso},
    validate::Validator,
};

fn failed(e: store::Error) -> ApiError {
    ApiError::internal("Failed to fetch cashback analytics")(e)
}

/// Status breakdown, daily series and approval rate over a period (default: last 30 days).
#[utoipa::path(get, path = "/api/merchant/cashback/analytics", tag = "cashback", security(("bearer" = [])), params(RangeQuery),
    responses((status = 200, description = "`data.byStatus`, `data.daily`, `data.approvalRate`", body = crate::openapi::AnyEnvelope)))]
pub async fn analytics(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<RangeQuery>,
) -> Result<Reply, ApiError> {
    auth.require("orders:view")?;
    let mut v = Validator::new();
    let mut filter = range_filter(&mut v, q.start_date, q.end_date, None);
    v.finish_as("Query validation failed")?;
    filter.start = filter.start.or_else(|| Some(params::days_ago(30)));
    let CashbackFilter { start, end, .. } = filter.clone();
    let CashbackBreakdown { by_status, daily } = state
        .store
        .cashback_breakdown(auth.id(), &filter)
        .await
        .map_err(failed)?;
    let count_of = |s: &str| {
        by_status
            .iter()
            .find(|d| d["status"] == s)
            .and_then(|d| d["count"].as_i64())
            .unwrap_or(0)
    };
    let granted = count_of("approved") + count_of("paid");
    let decided = granted + count_of("rejected");
    let approval_rate = if decided > 0 {
        (granted as f64 / decided as f64 * 10_000.0).round() / 100.0
    } else {
        0.0
    };
    Ok(Reply::data(json!({
        "period": { "start": start.map(iso), "end": end.map(iso) },
        "byStatus": by_status,
        "daily": daily,
        "approvalRate": approval_rate,
    }))
    .message("Cashback analytics retrieved successfully"))
}

/// Current totals: open requests, granted and paid amounts, risk figures.
#[utoipa::path(get, path = "/api/merchant/cashback/metrics", tag = "cashback", security(("bearer" = [])),
    responses((status = 200, description = "`data.metrics`", body = crate::openapi::AnyEnvelope)))]
pub async fn metrics(State(state): State<AppState>, auth: AuthMerchant) -> Result<Reply, ApiError> {
    auth.require("orders:view")?;
    let found = state
        .store
        .cashback_metrics(auth.id())
        .await
        .map_err(failed)?;
    let mut metrics = found.unwrap_or_else(|| {
        json!({ "totalRequests": 0, "pendingRequests": 0, "pendingAmount": 0, "approvedAmount": 0,
            "paidAmount": 0, "rejectedRequests": 0, "flaggedForReview": 0, "highRiskRequests": 0,
            "averageRiskScore": 0, "averageRequestedAmount": 0 })
    });
    if let Some(o) = metrics.as_object_mut() {
        o.remove("_id");
    }
    Ok(Reply::data(json!({ "metrics": metrics }))
        .message("Cashback metrics retrieved successfully"))
}
