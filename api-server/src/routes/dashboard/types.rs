//! The `data` of the dashboard operations, with the contract's keys, key order and number
//! kinds (money rounded to 2 decimals, counts integers, ids 24-hex, instants ISO strings).

use serde::Serialize;
use utoipa::ToSchema;

/// A figure of the overview's `metrics` with its change against the previous period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DashboardFigure {
    /// The figure (money rounded to 2 decimals).
    pub value: f64,
    /// Change in percent.
    pub change: f64,
    /// up | down | neutral.
    pub trend: &'static str,
    /// The period compared (`30d`).
    pub period: String,
}

/// A metric card of `GET /dashboard/metrics`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DashboardCard {
    /// The figure (money rounded to 2 decimals).
    pub value: f64,
    /// Change in percent.
    pub change: f64,
    /// up | down | neutral.
    pub trend: &'static str,
    /// The period compared (`30d`).
    pub period: String,
    /// Caption.
    pub label: &'static str,
    /// Icon name.
    pub icon: &'static str,
}

/// `GET /dashboard/metrics`: six cards, the last 30 days against the 30 before.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardCards {
    /// Revenue of earning orders.
    pub revenue: DashboardCard,
    /// Orders.
    pub orders: DashboardCard,
    /// Live products (change: products created).
    pub products: DashboardCard,
    /// Distinct customers.
    pub customers: DashboardCard,
    /// Revenue per earning order.
    pub avg_order_value: DashboardCard,
    /// Delivered orders in percent of orders.
    pub conversion_rate: DashboardCard,
}

/// The `metrics` of `GET /dashboard`: wrapped totals plus raw figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverviewMetrics {
    /// Revenue, all time (change: this period's).
    pub total_revenue: DashboardFigure,
    /// Orders, all time.
    pub total_orders: DashboardFigure,
    /// Live products (change: products created).
    pub total_products: DashboardFigure,
    /// Distinct customers, all time.
    pub total_customers: DashboardFigure,
    /// Revenue of the last 30 days.
    pub monthly_revenue: f64,
    /// Orders of the last 30 days.
    pub monthly_orders: i64,
    /// Revenue change in percent.
    pub revenue_growth: f64,
    /// Orders change in percent.
    pub orders_growth: f64,
    /// Customers change in percent.
    pub customer_growth: f64,
    /// Revenue per earning order of the last 30 days.
    pub average_order_value: f64,
    /// Orders `placed`.
    pub pending_orders: i64,
    /// Orders `delivered`.
    pub completed_orders: i64,
    /// Orders `cancelled`.
    pub cancelled_orders: i64,
    /// Active products.
    pub active_products: i64,
    /// Products at or below their threshold.
    pub low_stock_products: i64,
    /// Customers of the last 30 days.
    pub monthly_customers: i64,
    /// Of those, customers who had ordered before.
    pub returning_customers: i64,
    /// Cashback paid out.
    pub total_cashback_paid: f64,
    /// Cashback requested and not yet decided.
    pub pending_cashback: f64,
    /// The fixed profit-margin heuristic.
    pub profit_margin: f64,
}

/// What an activity row is about.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ActivityMetadata {
    /// An order.
    Order(OrderActivity),
    /// A product change.
    Product(ProductActivity),
}

/// The order of an activity row.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderActivity {
    /// Order id (24-hex).
    pub order_id: String,
    /// Order number.
    pub order_number: String,
    /// Status.
    pub status: String,
    /// Order total.
    pub total: f64,
}

/// The product of an activity row.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductActivity {
    /// Product id (24-hex).
    pub product_id: String,
    /// Name.
    pub name: String,
    /// Units on hand.
    pub stock: i64,
    /// Product status.
    pub status: String,
}

/// A row of the activity feed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActivityItem {
    /// `order-<id>` or `product-<id>`.
    pub id: String,
    /// order | product.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What happened.
    pub action: String,
    /// One line about it.
    pub description: String,
    /// When (ISO-8601).
    pub timestamp: String,
    /// The customer (orders) or the merchant (products), 24-hex.
    pub user: String,
    /// Icon name.
    pub icon: &'static str,
    /// The order or product.
    pub metadata: ActivityMetadata,
}

/// A best seller of the dashboard.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DashboardTopProduct {
    /// Product id (24-hex).
    pub id: String,
    /// Name on its last sold line.
    pub name: String,
    /// Line revenue of the period.
    pub revenue: f64,
    /// Units of the period.
    pub quantity: i64,
    /// Units change against the previous period, in percent.
    pub growth: f64,
    /// Category name (empty when unknown).
    pub category: String,
    /// Image on its last sold line.
    pub image: Option<String>,
}

/// A low-stock product of `GET /dashboard`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LowStockAlert {
    /// Product id (24-hex).
    pub id: String,
    /// Name.
    pub name: String,
    /// Units on hand.
    pub current_stock: i64,
    /// SKU.
    pub sku: String,
    /// Its low-stock threshold.
    pub reorder_point: i64,
    /// First image URL.
    pub image: Option<String>,
    /// active | inactive.
    pub status: &'static str,
}

/// A bucket of a sales series.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SalesPoint {
    /// `YYYY-MM-DD` (a day, or a week's Monday) or `YYYY-MM`.
    pub date: String,
    /// Revenue.
    pub revenue: f64,
    /// Orders.
    pub orders: i64,
    /// Units.
    pub items: i64,
}

/// `GET /dashboard`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardOverview {
    /// Totals and figures.
    pub metrics: OverviewMetrics,
    /// The ten latest orders and product changes.
    pub recent_activity: Vec<ActivityItem>,
    /// The five best sellers of the last 30 days.
    pub top_products: Vec<DashboardTopProduct>,
    /// Up to 20 products low on stock.
    pub low_stock_alerts: Vec<LowStockAlert>,
    /// The last 30 days, zero-filled.
    pub sales_chart: Vec<SalesPoint>,
}
