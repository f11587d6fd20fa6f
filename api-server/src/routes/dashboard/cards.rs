//! Period-over-period metric cards of the dashboard (pure: figures in, JSON out).

use serde_json::{Value, json};

use crate::store::dashboard::{CashbackSummary, OrderSummary, ProductSummary};

/// The profit margin the contract shows (a fixed heuristic, §2.2).
pub const PROFIT_MARGIN: f64 = 30.0;

/// Round to 2 decimal places.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Percentage change from `prev` to `cur` (100 when growing from zero).
pub fn change(cur: f64, prev: f64) -> f64 {
    if prev == 0.0 {
        if cur > 0.0 { 100.0 } else { 0.0 }
    } else {
        round2((cur - prev) / prev * 100.0)
    }
}

/// up | down | neutral.
pub fn trend(change: f64) -> &'static str {
    if change > 0.0 {
        "up"
    } else if change < 0.0 {
        "down"
    } else {
        "neutral"
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

fn card(value: f64, prev: f64, label: &str, icon: &str, period_days: i64) -> Value {
    let c = change(value, prev);
    json!({ "value": round2(value), "change": c, "trend": trend(c), "period": format!("{period_days}d"), "label": label, "icon": icon })
}

/// The six cards of `GET /dashboard/metrics`, current period against the previous one.
pub fn metric_cards(o: &OrderSummary, p: &ProductSummary, days: i64) -> Value {
    let aov = |r: f64, n: i64| ratio(r, n as f64);
    let conv = |d: i64, n: i64| ratio(d as f64 * 100.0, n as f64);
    let mut products = card(p.total as f64, 0.0, "Products", "package", days);
    let created = change(p.cur_created as f64, p.prev_created as f64);
    products["change"] = json!(created);
    products["trend"] = json!(trend(created));
    json!({
        "revenue": card(o.cur_revenue, o.prev_revenue, "Revenue", "currency", days),
        "orders": card(o.cur_orders as f64, o.prev_orders as f64, "Orders", "shopping-cart", days),
        "products": products,
        "customers": card(o.cur_customers as f64, o.prev_customers as f64, "Customers", "users", days),
        "avgOrderValue": card(aov(o.cur_revenue, o.cur_earning), aov(o.prev_revenue, o.prev_earning), "Avg. order value", "trending-up", days),
        "conversionRate": card(conv(o.cur_delivered, o.cur_orders), conv(o.prev_delivered, o.prev_orders), "Conversion rate", "percent", days),
    })
}

/// The `metrics` object of `GET /dashboard`: wrapped totals plus raw figures.
pub fn overview_metrics(
    o: &OrderSummary,
    p: &ProductSummary,
    c: &CashbackSummary,
    days: i64,
) -> Value {
    let wrap = |value: f64, ch: f64| json!({ "value": round2(value), "change": ch, "trend": trend(ch), "period": format!("{days}d") });
    let revenue_growth = change(o.cur_revenue, o.prev_revenue);
    let orders_growth = change(o.cur_orders as f64, o.prev_orders as f64);
    let customer_growth = change(o.cur_customers as f64, o.prev_customers as f64);
    let product_growth = change(p.cur_created as f64, p.prev_created as f64);
    json!({
        "totalRevenue": wrap(o.revenue, revenue_growth),
        "totalOrders": wrap(o.orders as f64, orders_growth),
        "totalProducts": wrap(p.total as f64, product_growth),
        "totalCustomers": wrap(o.customers as f64, customer_growth),
        "monthlyRevenue": round2(o.cur_revenue),
        "monthlyOrders": o.cur_orders,
        "revenueGrowth": revenue_growth,
        "ordersGrowth": orders_growth,
        "customerGrowth": customer_growth,
        "averageOrderValue": round2(ratio(o.cur_revenue, o.cur_earning as f64)),
        "pendingOrders": o.pending,
        "completedOrders": o.delivered,
        "cancelledOrders": o.cancelled,
        "activeProducts": p.active,
        "lowStockProducts": p.low_stock,
        "monthlyCustomers": o.cur_customers,
        "returningCustomers": o.returning,
        "totalCashbackPaid": round2(c.paid),
        "pendingCashback": round2(c.pending),
        "profitMargin": PROFIT_MARGIN,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_is_a_percentage_with_a_trend() {
        assert_eq!(change(150.0, 100.0), 50.0);
        assert_eq!(change(50.0, 100.0), -50.0);
        assert_eq!(change(5.0, 0.0), 100.0);
        assert_eq!(change(0.0, 0.0), 0.0);
        assert_eq!(
            (trend(1.0), trend(-1.0), trend(0.0)),
            ("up", "down", "neutral")
        );
    }
}
