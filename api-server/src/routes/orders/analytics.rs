//! `GET /orders/analytics`: order totals, per-status figures, the revenue series and top
//! products over a date range, from aggregation pipelines run concurrently.

use axum::{extract::State, response::Response};
use serde_json::{Map, Value, json};

use super::{AnalyticsQuery, cached, now, scope, store_param};
use crate::{
    error::ApiError,
    extract::AuthMerchant,
    routes::{
        Reply,
        params::{StrictQuery, date as date_param},
    },
    state::AppState,
    store::{
        DateTime,
        json::iso,
        order_analytics::{Interval, NO_REVENUE, OrderReport, in_range},
    },
    validate::Validator,
};

const DAY_MS: i64 = 86_400_000;

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Order analytics over `[startDate, endDate]` (default: the last 30 days).
#[utoipa::path(get, path = "/api/merchant/orders/analytics", tag = "orders", security(("bearer" = [])), params(AnalyticsQuery),
    responses((status = 200, description = "`{totalOrders, totalRevenue, …, dateRange}` with `Cache-Control`", body = crate::openapi::AnyEnvelope),
        (status = 400, description = "Query validation failed", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing orders:view", body = crate::openapi::ErrorBody)))]
pub async fn analytics(
    State(state): State<AppState>,
    auth: AuthMerchant,
    StrictQuery(q): StrictQuery<AnalyticsQuery>,
) -> Result<Response, ApiError> {
    auth.require("orders:view")?;
    let mut v = Validator::new();
    let end = date_param(&mut v, "endDate", q.end_date, true).unwrap_or_else(now);
    let start = date_param(&mut v, "startDate", q.start_date, false)
        .unwrap_or_else(|| DateTime::from_millis(end.timestamp_millis() - 30 * DAY_MS));
    if end < start {
        v.error(
            "endDate",
            "\"endDate\" must be greater than or equal to \"startDate\"",
            None,
        );
    }
    let interval = match v.one_of("interval", q.interval, &["day", "week", "month"]) {
        Some("week") => Interval::Week,
        Some("month") => Interval::Month,
        _ => Interval::Day,
    };
    let store = store_param(&mut v, q.store_id);
    v.finish_as("Query validation failed")?;
    let scope = scope(&state, &auth, store).await?;
    let OrderReport {
        statuses,
        series,
        top,
        units,
    } = state
        .store
        .order_report(&scope, in_range(&scope, start, end), interval)
        .await
        .map_err(ApiError::internal("Failed to fetch analytics"))?;
    let total_orders: i64 = statuses.iter().map(|r| r.count).sum();
    let earning = statuses
        .iter()
        .filter(|r| !NO_REVENUE.contains(&r.status.as_deref().unwrap_or("")));
    let (earning_orders, revenue, paid) = earning.fold((0, 0.0, 0.0), |(n, r, p), row| {
        (n + row.count, r + row.revenue, p + row.paid)
    });
    let delivered = statuses
        .iter()
        .find(|r| r.status.as_deref() == Some("delivered"))
        .map_or(0, |r| r.count);
    let by_status: Map<String, Value> = statuses
        .iter()
        .map(|r| {
            (
                r.status.clone().unwrap_or_default(),
                json!({ "count": r.count, "revenue": round2(r.revenue) }),
            )
        })
        .collect();
    let data = json!({
        "totalOrders": total_orders,
        "totalRevenue": round2(revenue),
        "totalPaidAmount": round2(paid),
        "averageOrderValue": if earning_orders > 0 { round2(revenue / earning_orders as f64) } else { 0.0 },
        "totalItemsSold": units,
        "conversionRate": if total_orders > 0 { round2(delivered as f64 * 100.0 / total_orders as f64) } else { 0.0 },
        "ordersByStatus": by_status,
        "revenueByDay": series.iter().map(|r| json!({ "date": r.date, "orders": r.orders, "revenue": round2(r.revenue) })).collect::<Vec<_>>(),
        "topProducts": top.iter().map(|p| json!({
            "productId": p.product.to_hex(), "productName": p.name, "quantity": p.quantity,
            "revenue": round2(p.revenue), "orders": p.orders,
        })).collect::<Vec<_>>(),
        "dateRange": { "start": iso(start), "end": iso(end) },
    });
    // `private`: the figures are per merchant, so shared caches must not keep them.
    Ok(cached(
        Reply::data(data).message("Analytics retrieved successfully"),
        "private, max-age=600",
    ))
}
