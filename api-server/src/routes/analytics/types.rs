//! The `data` of every analytics report: one serde + utoipa type per report, with the keys,
//! key order and number kinds of the contract (money rounded to 2 decimals, counts integers,
//! ids 24-hex strings, instants ISO strings).

use serde::Serialize;
use utoipa::ToSchema;

use crate::store::analytics::StockItem;

/// A report's date range.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportRange {
    /// Inclusive start (ISO-8601).
    pub start: String,
    /// Exclusive end (ISO-8601).
    pub end: String,
}

/// `GET /sales/overview`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SalesOverview {
    /// Revenue of earning orders.
    pub total_revenue: f64,
    /// Earning orders.
    pub total_orders: i64,
    /// Revenue per order.
    pub average_order_value: f64,
    /// Units of the store's lines.
    pub total_items: i64,
    /// Revenue of the previous period of the same length.
    pub previous_period_revenue: f64,
    /// Orders of the previous period.
    pub previous_period_orders: i64,
    /// Revenue change in percent.
    pub revenue_growth: f64,
    /// Orders change in percent.
    pub orders_growth: f64,
    /// The range.
    pub period: ReportRange,
}

/// A period of `GET /sales/trends`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SalesTrendPoint {
    /// `YYYY-MM-DD` (day, or a week's Monday) or `YYYY-MM`.
    pub date: String,
    /// Revenue.
    pub revenue: f64,
    /// Orders.
    pub orders: i64,
    /// Units.
    pub items: i64,
    /// Revenue per order.
    pub average_order_value: f64,
}

/// An hour of `GET /sales/by-time`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HourSales {
    /// Hour of day (UTC, 0-23).
    pub hour: i64,
    /// Revenue.
    pub revenue: f64,
    /// Orders.
    pub orders: i64,
}

/// A weekday of `GET /sales/by-day`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WeekdaySales {
    /// 1 = Sunday … 7 = Saturday.
    pub day_of_week: i64,
    /// English name.
    pub day_name: &'static str,
    /// Revenue.
    pub revenue: f64,
    /// Orders.
    pub orders: i64,
}

/// A payment method of `GET /payments/breakdown`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentShare {
    /// Payment method.
    pub method: String,
    /// Revenue.
    pub revenue: f64,
    /// Orders.
    pub orders: i64,
    /// Share of revenue in percent (the shares sum to 100).
    pub percentage: f64,
}

/// A coupon code of `GET /offers/top`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfferSales {
    /// Coupon code.
    pub code: String,
    /// Orders using it.
    pub orders: i64,
    /// Their revenue.
    pub revenue: f64,
    /// Their discounts.
    pub total_discount: f64,
    /// Revenue per order.
    pub average_order_value: f64,
}

/// `GET /revenue/breakdown`: sums of the order totals' components.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevenueBreakdown {
    /// Sum of `totals.subtotal`.
    pub subtotal: f64,
    /// Sum of `totals.tax`.
    pub tax: f64,
    /// Sum of `totals.delivery`.
    pub delivery: f64,
    /// Sum of `totals.discount`.
    pub discount: f64,
    /// Sum of `totals.lockFeeDiscount`.
    pub lock_fee_discount: f64,
    /// Sum of `totals.cashback`.
    pub cashback: f64,
    /// Sum of `totals.total`.
    pub total: f64,
    /// Sum of `totals.paidAmount`.
    pub paid_amount: f64,
    /// Sum of `totals.refundAmount`.
    pub refund_amount: f64,
    /// Sum of `totals.platformFee`.
    pub platform_fee: f64,
    /// Total less refunds.
    pub net_revenue: f64,
    /// Total less the platform fee.
    pub merchant_payout: f64,
    /// Discount as a percentage of the subtotal.
    pub discount_rate: f64,
    /// Orders.
    pub orders: i64,
    /// The range.
    pub period: ReportRange,
}

/// One metric of `GET /comparison`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ComparedMetric {
    /// This period.
    pub current: f64,
    /// The previous period.
    pub previous: f64,
    /// Change in percent.
    pub change: f64,
}

/// The metrics of `GET /comparison`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparedMetrics {
    /// Revenue.
    pub revenue: ComparedMetric,
    /// Orders.
    pub orders: ComparedMetric,
    /// Revenue per order.
    pub average_order_value: ComparedMetric,
    /// Units.
    pub items: ComparedMetric,
    /// Distinct customers.
    pub customers: ComparedMetric,
}

/// `GET /comparison`: this period against the previous one of the same length.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodComparisonReport {
    /// This range.
    pub current: ReportRange,
    /// The previous range.
    pub previous: ReportRange,
    /// The compared figures.
    pub metrics: ComparedMetrics,
}

/// A latest order of `GET /realtime`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RealtimeOrder {
    /// Order id (24-hex).
    pub id: String,
    /// Order number.
    pub order_number: String,
    /// Status.
    pub status: String,
    /// Order total.
    pub total: f64,
    /// Creation instant (RFC 3339, seconds precision unless sub-second).
    pub created_at: Option<String>,
}

/// `GET /realtime`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RealtimeReport {
    /// Revenue since midnight UTC.
    pub today_revenue: f64,
    /// Orders since midnight UTC.
    pub today_orders: i64,
    /// Revenue of the last hour.
    pub last_hour_revenue: f64,
    /// Orders of the last hour.
    pub last_hour_orders: i64,
    /// Orders `placed` (any date).
    pub pending_orders: u64,
    /// The ten latest orders.
    pub recent_orders: Vec<RealtimeOrder>,
    /// When the figures were computed.
    pub timestamp: String,
}

/// A predicted day of `GET /forecast/sales`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SalesForecastDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Predicted revenue.
    pub predicted_revenue: f64,
    /// Predicted orders.
    pub predicted_orders: f64,
    /// Lower bound of the 95 % prediction interval.
    pub confidence_lower: f64,
    /// Upper bound of the 95 % prediction interval.
    pub confidence_upper: f64,
}

/// A past day of `GET /forecast/sales`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SalesHistoryDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Revenue.
    pub revenue: f64,
    /// Orders (a float: the series the line is fitted to).
    pub orders: f64,
}

/// The fitted line of `GET /forecast/sales`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForecastModel {
    /// Revenue change per day.
    pub slope: f64,
    /// Revenue at the first history day.
    pub intercept: f64,
    /// Coefficient of determination.
    pub r2: f64,
    /// Standard deviation of the residuals.
    pub residual_std_dev: f64,
    /// History days fitted.
    pub history_days: usize,
}

/// `GET /forecast/sales`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SalesForecast {
    /// Days ahead.
    pub forecast: Vec<SalesForecastDay>,
    /// Number of days ahead.
    pub forecast_days: i64,
    /// Zero-filled history.
    pub historical: Vec<SalesHistoryDay>,
    /// Sum of the predicted revenue.
    pub total_predicted_revenue: f64,
    /// Mean daily revenue of the history.
    pub average_daily_revenue: f64,
    /// increasing | decreasing | stable.
    pub trend: &'static str,
    /// R² of the line.
    pub accuracy: f64,
    /// Always `linear_regression`.
    pub method: &'static str,
    /// The fitted line.
    pub model: ForecastModel,
    /// How the forecast is computed.
    pub methodology: &'static str,
    /// The history range.
    pub time_range: ReportRange,
}

/// A bucket of `GET /trends/seasonal`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeasonalBucket {
    /// Month name, weekday name or `Day N`.
    pub period: String,
    /// Month (1-12), weekday (1 = Sunday) or day of month.
    pub key: i64,
    /// Revenue per occurrence.
    pub average_revenue: f64,
    /// Orders per occurrence.
    pub average_orders: f64,
    /// The chosen metric against the buckets' mean (1 = average).
    pub index: f64,
}

/// `GET /trends/seasonal`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeasonalTrends {
    /// Every bucket the range touches.
    pub trends: Vec<SeasonalBucket>,
    /// monthly | weekly | daily.
    #[serde(rename = "type")]
    pub kind: String,
    /// revenue | orders.
    pub data_type: String,
    /// The range.
    pub period: ReportRange,
    /// The strongest bucket (none without data).
    pub peaks: Vec<String>,
    /// The weakest bucket.
    pub troughs: Vec<String>,
    /// Sentences about the peak and the trough.
    pub insights: Vec<String>,
}

/// A product of `GET /products/top-selling`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductSalesView {
    /// Product id (24-hex).
    pub product_id: String,
    /// Name on its last sold line.
    pub product_name: String,
    /// Image on its last sold line (empty when none).
    pub image: String,
    /// Units.
    pub total_quantity: i64,
    /// Line revenue.
    pub total_revenue: f64,
    /// Orders containing it.
    pub order_count: i64,
    /// Revenue per unit.
    pub average_price: f64,
}

/// A product of `GET /products/performance`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductPerformance {
    /// Its sales.
    #[serde(flatten)]
    pub sales: ProductSalesView,
    /// Share of the listed products' revenue in percent.
    pub revenue_share: f64,
    /// Units on hand (`null` when unlimited or no longer listed).
    pub current_stock: Option<i64>,
}

/// A category of `GET /categories/performance`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryPerformance {
    /// Category id (24-hex; `null` for products no longer in the catalogue).
    pub category_id: Option<String>,
    /// Name (`Uncategorized` when unknown).
    pub category_name: String,
    /// Line revenue.
    pub total_revenue: f64,
    /// Distinct orders.
    pub total_orders: i64,
    /// Units.
    pub total_quantity: i64,
    /// Live products of the store in it.
    pub total_products: i64,
    /// Revenue per order.
    pub average_order_value: f64,
    /// Share of revenue in percent (the shares sum to 100).
    pub revenue_share: f64,
}

/// A product low on or out of stock.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockItemView {
    /// Product id (24-hex).
    pub id: String,
    /// Name.
    pub name: String,
    /// SKU.
    pub sku: String,
    /// Units on hand.
    pub stock: i64,
    /// Low-stock threshold.
    pub low_stock_threshold: i64,
    /// First image URL.
    pub image: Option<String>,
}

impl From<StockItem> for StockItemView {
    fn from(i: StockItem) -> Self {
        Self {
            id: i.id,
            name: i.name,
            sku: i.sku,
            stock: i.stock,
            low_stock_threshold: i.low_stock_threshold,
            image: i.image,
        }
    }
}

/// `GET /inventory/status`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryStatus {
    /// Live products.
    pub total_products: i64,
    /// Not out of stock.
    pub in_stock_products: i64,
    /// At or below their threshold.
    pub low_stock_products: i64,
    /// Out of stock.
    pub out_of_stock_products: i64,
    /// More than 100 units.
    pub overstocked_products: i64,
    /// The 20 lowest low-stock products.
    pub low_stock_items: Vec<StockItemView>,
    /// Up to 20 out-of-stock products.
    pub out_of_stock_items: Vec<StockItemView>,
}

/// A product of `GET /inventory/stockout-prediction`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockoutPrediction {
    /// Product id (24-hex).
    pub product_id: String,
    /// Name.
    pub product_name: String,
    /// SKU.
    pub sku: String,
    /// Units on hand.
    pub current_stock: i64,
    /// Units sold per day over the range.
    pub average_daily_sales: f64,
    /// Days of stock left.
    pub days_until_stockout: f64,
    /// `YYYY-MM-DD`.
    pub predicted_stockout_date: String,
    /// high (≤ 7 days) | medium (≤ 14) | low.
    pub urgency: &'static str,
}

/// `GET /forecast/stockout/:productId`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockoutForecast {
    /// Product id (24-hex).
    pub product_id: String,
    /// Name.
    pub product_name: String,
    /// Units on hand.
    pub current_stock: i64,
    /// Whether stock is not tracked.
    pub unlimited: bool,
    /// Units sold per day over the range.
    pub average_daily_sales: f64,
    /// Days of stock left (`null`: never runs out).
    pub days_until_stockout: Option<f64>,
    /// `YYYY-MM-DD` (`null`: never runs out).
    pub predicted_stockout_date: Option<String>,
    /// Whether it runs out at this rate.
    pub will_stock_out: bool,
    /// The range.
    pub period: ReportRange,
}

/// A predicted day of `GET /forecast/demand/:productId`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DemandForecastDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Predicted units.
    pub predicted_units: f64,
    /// Lower bound of the 95 % prediction interval.
    pub confidence_lower: f64,
    /// Upper bound of the 95 % prediction interval.
    pub confidence_upper: f64,
}

/// `GET /forecast/demand/:productId`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DemandForecast {
    /// Product id (24-hex).
    pub product_id: String,
    /// Name.
    pub product_name: String,
    /// Units on hand.
    pub current_stock: i64,
    /// Days ahead.
    pub forecast: Vec<DemandForecastDay>,
    /// Sum of the predicted units.
    pub total_predicted_units: f64,
    /// Mean daily units of the range.
    pub average_daily_units: f64,
    /// increasing | decreasing | stable.
    pub trend: &'static str,
    /// R² of the line.
    pub accuracy: f64,
    /// Always `linear_regression`.
    pub method: &'static str,
    /// The range.
    pub period: ReportRange,
    /// Units to order to cover the forecast (a whole number).
    pub recommended_reorder: f64,
}

/// A first-order month of `GET /customers/insights`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerCohort {
    /// `YYYY-MM` of the first order.
    pub cohort: String,
    /// Customers.
    pub customers: i64,
    /// Those with more than one order.
    pub returned: i64,
    /// `returned` in percent.
    pub retention_rate: f64,
}

/// Lifetime-value figures of `GET /customers/insights`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerLtv {
    /// Mean lifetime revenue.
    #[serde(rename = "averageLTV")]
    pub average_ltv: f64,
    /// Customers at or above the threshold.
    #[serde(rename = "highValueCount")]
    pub high_value_count: i64,
    /// Twice the mean.
    #[serde(rename = "highValueThreshold")]
    pub high_value_threshold: f64,
    /// Mean lifetime revenue of customers who first ordered in the last 90 days.
    #[serde(rename = "ltv90Days")]
    pub ltv_90_days: f64,
}

/// Retention figures of `GET /customers/insights`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerRetention {
    /// Returning customers who ordered in the range, in percent.
    pub overall_retention_rate: f64,
    /// The six latest first-order months.
    pub cohorts: Vec<CustomerCohort>,
    /// Customers with more than one order, in percent.
    pub repeat_customer_rate: f64,
    /// Customers with more than one order.
    pub repeat_customer_count: i64,
}

/// An at-risk customer of `GET /customers/insights`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChurnPrediction {
    /// Customer (24-hex for ids).
    pub customer_id: String,
    /// Last order (RFC 3339).
    pub last_order_date: String,
    /// Days from it to the range end.
    pub days_since_last_order: i64,
    /// Lifetime revenue.
    pub lifetime_value: f64,
    /// Always `medium`.
    pub risk: &'static str,
}

/// Churn figures of `GET /customers/insights`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerChurn {
    /// Churned customers in percent.
    pub churn_rate: f64,
    /// No order in the 90 days before the range end.
    pub churned_count: i64,
    /// Last order 45–90 days before it.
    pub at_risk_count: usize,
    /// The ten most valuable at-risk customers.
    pub predictions: Vec<ChurnPrediction>,
}

/// Customers per segment.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SegmentCounts {
    /// Lifetime revenue at least twice the mean.
    pub high_value: i64,
    /// At least the mean.
    pub medium_value: i64,
    /// Below the mean.
    pub low_value: i64,
    /// Churned.
    pub dormant: i64,
    /// First ordered in the range.
    pub new: i64,
}

/// Order totals of `GET /customers/insights`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerSummary {
    /// Lifetime revenue of the customers.
    pub total_revenue: f64,
    /// Their orders.
    pub total_orders: i64,
    /// Orders per customer.
    pub average_orders_per_customer: f64,
    /// Revenue per order.
    pub average_order_value: f64,
}

/// `GET /customers/insights`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerInsights {
    /// The range.
    pub time_range: ReportRange,
    /// Customers who ordered up to the range end.
    pub total_customers: i64,
    /// First ordered in the range.
    pub new_customers: i64,
    /// Ordered in the range.
    pub active_customers: i64,
    /// Did not order in the range.
    pub inactive_customers: i64,
    /// No order in the 90 days before the range end.
    pub churned_customers: i64,
    /// Lifetime value.
    pub ltv: CustomerLtv,
    /// Retention.
    pub retention: CustomerRetention,
    /// Churn.
    pub churn: CustomerChurn,
    /// Customers per segment.
    pub segments: SegmentCounts,
    /// Order totals.
    pub summary: CustomerSummary,
}

/// A segment of `GET /customers/segments`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SegmentStats {
    /// highValue | mediumValue | lowValue | dormant | new.
    pub segment: &'static str,
    /// Customers.
    pub customers: i64,
    /// Their lifetime revenue.
    pub revenue: f64,
    /// Revenue per customer.
    #[serde(rename = "averageLTV")]
    pub average_ltv: f64,
    /// Share of customers in percent (the shares sum to 100).
    pub percentage: f64,
}

/// `GET /customers/segments`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerSegments {
    /// Every segment, in a fixed order.
    pub segments: Vec<SegmentStats>,
    /// Customers.
    pub total_customers: usize,
    /// Lifetime revenue from which a customer is high value.
    pub high_value_threshold: f64,
    /// The range.
    pub time_range: ReportRange,
}

/// A customer of `GET /customers/list`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerView {
    /// Customer (24-hex for ids).
    pub customer_id: String,
    /// Orders up to the range end.
    pub total_orders: i64,
    /// Orders in the range.
    pub orders_in_range: i64,
    /// Lifetime revenue.
    pub total_spent: f64,
    /// Revenue per order.
    pub average_order_value: f64,
    /// First order (RFC 3339).
    pub first_order_date: String,
    /// Last order (RFC 3339).
    pub last_order_date: String,
}

/// Paging of `GET /customers/list`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerPagination {
    /// Page (from 1).
    pub page: i64,
    /// Rows per page.
    pub limit: i64,
    /// Customers.
    pub total: i64,
    /// Pages.
    pub total_pages: i64,
}

/// `GET /customers/list`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerList {
    /// Customers by lifetime revenue.
    pub customers: Vec<CustomerView>,
    /// Paging.
    pub pagination: CustomerPagination,
}

/// Inventory headline of `GET /overview`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryHeadline {
    /// Live products.
    pub total_products: i64,
    /// At or below their threshold.
    pub low_stock_products: i64,
    /// Out of stock.
    pub out_of_stock_products: i64,
}

/// Customer headline of `GET /overview`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerHeadline {
    /// Customers who ordered up to the range end.
    pub total_customers: i64,
    /// First ordered in the range.
    pub new_customers: i64,
    /// Ordered in the range.
    pub active_customers: i64,
    /// Customers with more than one order, in percent.
    pub repeat_customer_rate: f64,
}

/// `GET /overview`: sales, inventory and customer headline figures together.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsOverview {
    /// As `GET /sales/overview`.
    pub sales: SalesOverview,
    /// From `GET /inventory/status`.
    pub inventory: InventoryHeadline,
    /// From `GET /customers/insights`.
    pub customers: CustomerHeadline,
    /// The five best sellers.
    pub top_products: Vec<ProductSalesView>,
    /// The range.
    pub period: ReportRange,
}

/// `POST /cache/invalidate`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheInvalidated {
    /// Always true.
    pub invalidated: bool,
    /// The merchant (24-hex).
    pub merchant_id: String,
}

/// `POST /cache/warm-up`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheWarmed {
    /// Reports computed and cached.
    pub warmed: Vec<&'static str>,
    /// The store (24-hex).
    pub store_id: String,
    /// Time taken.
    pub duration_ms: u64,
    /// How long they stay cached.
    pub ttl_seconds: u64,
}

/// `POST /export`: the stored export.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportJob {
    /// Export id (a UUID).
    pub export_id: String,
    /// Always `completed` (exports are built synchronously).
    pub status: &'static str,
    /// csv | json.
    pub format: String,
    /// sales | products | customers.
    #[serde(rename = "type")]
    pub kind: String,
    /// Rows (header excluded).
    pub record_count: i64,
    /// File size in bytes.
    pub size: usize,
    /// Where to download it.
    pub download_url: String,
    /// Creation instant.
    pub created_at: String,
    /// When it can no longer be downloaded.
    pub expires_at: String,
    /// The range.
    pub period: ReportRange,
}
