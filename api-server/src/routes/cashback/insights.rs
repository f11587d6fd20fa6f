//! Cashback analytics (status breakdown and daily series over a period) and metrics (current
//! totals and risk figures), both aggregation pipelines over the merchant's requests.

use axum::extract::State;

use super::{
    range_filter,
    types::RangeQuery,
    views::{CashbackAnalytics, CashbackMetricsData, CashbackPeriod},
};
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
    responses((status = 200, description = "Breakdown by status and day, approval rate", body = crate::openapi::Envelope<CashbackAnalytics>)))]
pub async fn analytics(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<RangeQuery>,
) -> Result<Reply<CashbackAnalytics>, ApiError> {
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
            .find(|d| d.status == s)
            .map_or(0, |d| d.count)
    };
    let granted = count_of("approved") + count_of("paid");
    let decided = granted + count_of("rejected");
    let approval_rate = if decided > 0 {
        (granted as f64 / decided as f64 * 10_000.0).round() / 100.0
    } else {
        0.0
    };
    Ok(Reply::data(CashbackAnalytics {
        period: CashbackPeriod {
            start: start.map(iso),
            end: end.map(iso),
        },
        by_status,
        daily,
        approval_rate,
    })
    .message("Cashback analytics retrieved successfully"))
}

/// Current totals: open requests, granted and paid amounts, risk figures.
#[utoipa::path(get, path = "/api/merchant/cashback/metrics", tag = "cashback", security(("bearer" = [])),
    responses((status = 200, description = "Current totals", body = crate::openapi::Envelope<CashbackMetricsData>)))]
pub async fn metrics(
    State(state): State<AppState>,
    auth: AuthMerchant,
) -> Result<Reply<CashbackMetricsData>, ApiError> {
    auth.require("orders:view")?;
    let found = state
        .store
        .cashback_metrics(auth.id())
        .await
        .map_err(failed)?;
    let metrics = found.unwrap_or_default();
    Ok(Reply::data(CashbackMetricsData { metrics })
        .message("Cashback metrics retrieved successfully"))
}
