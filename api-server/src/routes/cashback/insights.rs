//! Cashback analytics (status breakdown and daily series over a period) and metrics (current
//! totals and risk figures), both aggregation pipelines over the merchant's requests.

use axum::extract::State;
use mongodb::bson::{Document, doc};
use serde_json::{Value, json};

use super::{range_filter, types::RangeQuery};
use crate::{
    error::ApiError,
    extract::{AppQuery, AuthMerchant},
    routes::{Reply, params},
    state::AppState,
    store::{
        cashback::{CashbackFilter, count_status, sum_of},
        json::{bson_to_json, iso},
    },
    validate::Validator,
};

fn rows_json(rows: Vec<Document>) -> Vec<Value> {
    rows.into_iter().map(|d| bson_to_json(d.into())).collect()
}

fn failed(e: mongodb::error::Error) -> ApiError {
    ApiError::internal("Failed to fetch cashback analytics")(e)
}

/// Status breakdown, daily series and approval rate over a period (default: last 30 days).
#[utoipa::path(get, path = "/api/merchant/cashback/analytics", tag = "cashback", security(("bearer" = [])), params(RangeQuery),
    responses((status = 200, description = "`data.byStatus`, `data.daily`, `data.approvalRate`", body = crate::openapi::Envelope)))]
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
    let m = filter.to_match(auth.id());
    let by_status = vec![
        doc! { "$group": { "_id": "$status", "count": { "$sum": 1 },
        "requestedAmount": sum_of("requestedAmount"), "approvedAmount": sum_of("approvedAmount") } },
        doc! { "$project": { "_id": 0, "status": "$_id", "count": 1, "requestedAmount": 1, "approvedAmount": 1 } },
        doc! { "$sort": { "status": 1 } },
    ];
    let daily = vec![
        doc! { "$group": {
            "_id": { "$dateToString": { "format": "%Y-%m-%d", "date": "$createdAt" } },
            "count": { "$sum": 1 },
            "requestedAmount": sum_of("requestedAmount"),
            "approvedAmount": sum_of("approvedAmount"),
        } },
        doc! { "$project": { "_id": 0, "date": "$_id", "count": 1, "requestedAmount": 1, "approvedAmount": 1 } },
        doc! { "$sort": { "date": 1 } },
    ];
    let store = &state.store;
    let (by_status, daily) = futures::try_join!(
        store.cashback_aggregate(m.clone(), by_status),
        store.cashback_aggregate(m, daily),
    )
    .map_err(failed)?;
    let count_of = |s: &str| {
        by_status
            .iter()
            .find(|d| d.get_str("status") == Ok(s))
            .and_then(|d| d.get("count"))
            .and_then(|c| c.as_i32().map(i64::from).or_else(|| c.as_i64()))
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
        "byStatus": rows_json(by_status),
        "daily": rows_json(daily),
        "approvalRate": approval_rate,
    }))
    .message("Cashback analytics retrieved successfully"))
}

/// Current totals: open requests, granted and paid amounts, risk figures.
#[utoipa::path(get, path = "/api/merchant/cashback/metrics", tag = "cashback", security(("bearer" = [])),
    responses((status = 200, description = "`data.metrics`", body = crate::openapi::Envelope)))]
pub async fn metrics(State(state): State<AppState>, auth: AuthMerchant) -> Result<Reply, ApiError> {
    auth.require("orders:view")?;
    let group = doc! { "$group": {
        "_id": null,
        "totalRequests": { "$sum": 1 },
        "pendingRequests": { "$sum": { "$cond": [{ "$in": ["$status", ["pending", "under_review"]] }, 1, 0] } },
        "pendingAmount": { "$sum": { "$cond": [{ "$in": ["$status", ["pending", "under_review"]] }, "$requestedAmount", 0] } },
        "approvedAmount": sum_of("approvedAmount"),
        "paidAmount": sum_of("paidAmount"),
        "rejectedRequests": count_status("rejected"),
        "flaggedForReview": { "$sum": { "$cond": ["$flaggedForReview", 1, 0] } },
        "highRiskRequests": { "$sum": { "$cond": [{ "$gte": ["$riskScore", 70] }, 1, 0] } },
        "averageRiskScore": { "$avg": "$riskScore" },
        "averageRequestedAmount": { "$avg": "$requestedAmount" },
    } };
    let rows = state
        .store
        .cashback_aggregate(CashbackFilter::default().to_match(auth.id()), vec![group])
        .await
        .map_err(failed)?;
    let mut metrics = rows.into_iter().next().map_or_else(
        || json!({ "totalRequests": 0, "pendingRequests": 0, "pendingAmount": 0, "approvedAmount": 0,
            "paidAmount": 0, "rejectedRequests": 0, "flaggedForReview": 0, "highRiskRequests": 0,
            "averageRiskScore": 0, "averageRequestedAmount": 0 }),
        |d| bson_to_json(d.into()),
    );
    if let Some(o) = metrics.as_object_mut() {
        o.remove("_id");
    }
    Ok(Reply::data(json!({ "metrics": metrics }))
        .message("Cashback metrics retrieved successfully"))
}
