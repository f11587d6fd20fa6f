//! `GET /orders/analytics`: order totals, per-status figures, the revenue series and top
//! products over a date range, from aggregation pipelines run concurrently.

use axum::{extract::State, response::Response};
use serde::{Serialize, Serializer, ser::SerializeMap};
use utoipa::ToSchema;

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
        order_analytics::{Interval, NO_REVENUE, OrderReport, PeriodRow, ProductSales, in_range},
    },
    validate::Validator,
};

const DAY_MS: i64 = 86_400_000;

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `GET /orders/analytics`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderAnalytics {
    /// Orders of any status in the range.
    pub total_orders: i64,
    /// Revenue of earning orders.
    pub total_revenue: f64,
    /// Amount paid on earning orders.
    pub total_paid_amount: f64,
    /// Revenue per earning order.
    pub average_order_value: f64,
    /// Units of the merchant's lines on earning orders.
    pub total_items_sold: i64,
    /// Delivered orders in percent of all orders.
    pub conversion_rate: f64,
    /// Count and revenue per status (every status present in the range).
    pub orders_by_status: StatusFigureMap,
    /// Earning orders per bucket (`interval` day, week or month).
    pub revenue_by_day: Vec<RevenuePoint>,
    /// Ten best sellers by revenue.
    pub top_products: Vec<OrderTopProduct>,
    /// The range.
    pub date_range: OrderDateRange,
}

/// Figures of one status.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusFigures {
    /// Orders.
    pub count: i64,
    /// Sum of their totals.
    pub revenue: f64,
}

/// Status → figures, in the order the store reported the statuses.
#[derive(Debug, Clone, Default, ToSchema)]
#[schema(value_type = std::collections::HashMap<String, StatusFigures>)]
pub struct StatusFigureMap(Vec<(String, StatusFigures)>);

impl StatusFigureMap {
    /// Set a status's figures (a repeated status keeps its first position).
    fn insert(&mut self, status: String, figures: StatusFigures) {
        match self.0.iter_mut().find(|(s, _)| *s == status) {
            Some(slot) => slot.1 = figures,
            None => self.0.push((status, figures)),
        }
    }
}

impl Serialize for StatusFigureMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (status, figures) in &self.0 {
            map.serialize_entry(status, figures)?;
        }
        map.end()
    }
}

/// A bucket of the revenue series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RevenuePoint {
    /// `YYYY-MM-DD` (a day, or a week's first day) or `YYYY-MM`.
    pub date: String,
    /// Earning orders.
    pub orders: i64,
    /// Their revenue.
    pub revenue: f64,
}

impl From<&PeriodRow> for RevenuePoint {
    fn from(r: &PeriodRow) -> Self {
        Self {
            date: r.date.clone(),
            orders: r.orders,
            revenue: round2(r.revenue),
        }
    }
}

/// A best seller of `GET /orders/analytics`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderTopProduct {
    /// Product id (24-hex).
    pub product_id: String,
    /// Name on its last sold line.
    pub product_name: String,
    /// Units.
    pub quantity: i64,
    /// Line revenue.
    pub revenue: f64,
    /// Orders containing it.
    pub orders: i64,
}

impl From<&ProductSales> for OrderTopProduct {
    fn from(p: &ProductSales) -> Self {
        Self {
            product_id: p.product.to_hex(),
            product_name: p.name.clone(),
            quantity: p.quantity,
            revenue: round2(p.revenue),
            orders: p.orders,
        }
    }
}

/// The range of `GET /orders/analytics`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderDateRange {
    /// `startDate` (ISO-8601).
    pub start: String,
    /// `endDate` (ISO-8601).
    pub end: String,
}

/// Order analytics over `[startDate, endDate]` (default: the last 30 days).
#[utoipa::path(get, path = "/api/merchant/orders/analytics", tag = "orders", security(("bearer" = [])), params(AnalyticsQuery),
    responses((status = 200, description = "`{totalOrders, totalRevenue, …, dateRange}` with `Cache-Control`", body = crate::openapi::Envelope<OrderAnalytics>),
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
    let report = state
        .store
        .order_report(&scope, in_range(&scope, start, end), interval)
        .await
        .map_err(ApiError::internal("Failed to fetch analytics"))?;
    let data = order_analytics(report, start, end);
    // `private`: the figures are per merchant, so shared caches must not keep them.
    Ok(cached(
        Reply::data(data).message("Analytics retrieved successfully"),
        "private, max-age=600",
    ))
}

/// The report's totals, per-status figures, series and best sellers.
fn order_analytics(report: OrderReport, start: DateTime, end: DateTime) -> OrderAnalytics {
    let OrderReport {
        statuses,
        series,
        top,
        units,
    } = report;
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
    let mut by_status = StatusFigureMap::default();
    for r in &statuses {
        let figures = StatusFigures {
            count: r.count,
            revenue: round2(r.revenue),
        };
        by_status.insert(r.status.clone().unwrap_or_default(), figures);
    }
    OrderAnalytics {
        total_orders,
        total_revenue: round2(revenue),
        total_paid_amount: round2(paid),
        average_order_value: if earning_orders > 0 {
            round2(revenue / earning_orders as f64)
        } else {
            0.0
        },
        total_items_sold: units,
        conversion_rate: if total_orders > 0 {
            round2(delivered as f64 * 100.0 / total_orders as f64)
        } else {
            0.0
        },
        orders_by_status: by_status,
        revenue_by_day: series.iter().map(Into::into).collect(),
        top_products: top.iter().map(Into::into).collect(),
        date_range: OrderDateRange {
            start: iso(start),
            end: iso(end),
        },
    }
}
