//! Period-over-period metric cards of the dashboard (pure: figures in, cards out).

use super::types::{DashboardCard, DashboardCards, DashboardFigure, OverviewMetrics};
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

fn card(
    value: f64,
    prev: f64,
    label: &'static str,
    icon: &'static str,
    period_days: i64,
) -> DashboardCard {
    let c = change(value, prev);
    DashboardCard {
        value: round2(value),
        change: c,
        trend: trend(c),
        period: format!("{period_days}d"),
        label,
        icon,
    }
}

/// The six cards of `GET /dashboard/metrics`, current period against the previous one.
pub fn metric_cards(o: &OrderSummary, p: &ProductSummary, days: i64) -> DashboardCards {
    let aov = |r: f64, n: i64| ratio(r, n as f64);
    let conv = |d: i64, n: i64| ratio(d as f64 * 100.0, n as f64);
    // The products card shows the catalogue size but the change in products created.
    let mut products = card(p.total as f64, 0.0, "Products", "package", days);
    products.change = change(p.cur_created as f64, p.prev_created as f64);
    products.trend = trend(products.change);
    DashboardCards {
        revenue: card(o.cur_revenue, o.prev_revenue, "Revenue", "currency", days),
        orders: card(
            o.cur_orders as f64,
            o.prev_orders as f64,
            "Orders",
            "shopping-cart",
            days,
        ),
        products,
        customers: card(
            o.cur_customers as f64,
            o.prev_customers as f64,
            "Customers",
            "users",
            days,
        ),
        avg_order_value: card(
            aov(o.cur_revenue, o.cur_earning),
            aov(o.prev_revenue, o.prev_earning),
            "Avg. order value",
            "trending-up",
            days,
        ),
        conversion_rate: card(
            conv(o.cur_delivered, o.cur_orders),
            conv(o.prev_delivered, o.prev_orders),
            "Conversion rate",
            "percent",
            days,
        ),
    }
}

/// The `metrics` object of `GET /dashboard`: wrapped totals plus raw figures.
pub fn overview_metrics(
    o: &OrderSummary,
    p: &ProductSummary,
    c: &CashbackSummary,
    days: i64,
) -> OverviewMetrics {
    let wrap = |value: f64, ch: f64| DashboardFigure {
        value: round2(value),
        change: ch,
        trend: trend(ch),
        period: format!("{days}d"),
    };
    let revenue_growth = change(o.cur_revenue, o.prev_revenue);
    let orders_growth = change(o.cur_orders as f64, o.prev_orders as f64);
    let customer_growth = change(o.cur_customers as f64, o.prev_customers as f64);
    let product_growth = change(p.cur_created as f64, p.prev_created as f64);
    OverviewMetrics {
        total_revenue: wrap(o.revenue, revenue_growth),
        total_orders: wrap(o.orders as f64, orders_growth),
        total_products: wrap(p.total as f64, product_growth),
        total_customers: wrap(o.customers as f64, customer_growth),
        monthly_revenue: round2(o.cur_revenue),
        monthly_orders: o.cur_orders,
        revenue_growth,
        orders_growth,
        customer_growth,
        average_order_value: round2(ratio(o.cur_revenue, o.cur_earning as f64)),
        pending_orders: o.pending,
        completed_orders: o.delivered,
        cancelled_orders: o.cancelled,
        active_products: p.active,
        low_stock_products: p.low_stock,
        monthly_customers: o.cur_customers,
        returning_customers: o.returning,
        total_cashback_paid: round2(c.paid),
        pending_cashback: round2(c.pending),
        profit_margin: PROFIT_MARGIN,
    }
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
