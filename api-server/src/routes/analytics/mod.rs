//! `/api/merchant/analytics` (contract §2.10): sales, products, categories, customers,
//! inventory, payments, forecasts, seasonal trends, cache control and exports. Every report is
//! scoped to one store the caller owns, computed by MongoDB aggregation pipelines
//! (`store::analytics`) and cached per merchant + store + endpoint + query for a short TTL
//! (`crate::cache`); the `X-Cache` header says `HIT` or `MISS`.

mod catalog;
mod customers;
mod export;
pub mod math;
pub mod query;
mod sales;
pub mod types;

use std::{future::Future, time::Instant};

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::Serialize;

use self::{
    query::{AnalyticsQuery, DateRange, resolve_shop},
    types::{
        AnalyticsOverview, CacheInvalidated, CacheWarmed, CategoryPerformance, CustomerHeadline,
        CustomerInsights, CustomerList, CustomerSegments, DemandForecast, ExportJob, HourSales,
        InventoryHeadline, InventoryStatus, OfferSales, PaymentShare, PeriodComparisonReport,
        ProductPerformance, ProductSalesView, RealtimeReport, RevenueBreakdown, SalesForecast,
        SalesOverview, SalesTrendPoint, SeasonalTrends, StockoutForecast, StockoutPrediction,
        WeekdaySales,
    },
};
use super::{
    Reply,
    cached::{CachedReport, cached},
};
use crate::{
    cache::CacheStats,
    error::ApiError,
    extract::{AppJson, AppQuery, AuthMerchant},
    state::AppState,
    store::{ObjectId, analytics::Scope},
};

pub use export::ExportBody;

/// What a report is computed from.
#[derive(Clone)]
pub struct Ctx {
    /// Shared state.
    pub state: AppState,
    /// The resolved, owned shop.
    pub shop: ObjectId,
    /// The date range.
    pub range: DateRange,
    /// The request's "now".
    pub now: DateTime<Utc>,
    /// The raw query.
    pub query: AnalyticsQuery,
}

impl Ctx {
    /// Orders of the store in the range.
    pub fn scope(&self) -> Scope {
        self.range.scope(self.shop)
    }
}

/// Whether `period` is a date preset (everywhere except `/sales/trends`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Preset,
    Granularity,
}

/// Resolve store and range, then answer through the shared report cache.
async fn run<T, F, Fut>(
    state: AppState,
    auth: AuthMerchant,
    query: AnalyticsQuery,
    endpoint: &str,
    period: Period,
    report: F,
) -> Result<Response, ApiError>
where
    T: Serialize,
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    auth.require("analytics:view")?;
    let store = resolve_shop(&state, &auth, query.store_id.as_deref()).await?;
    let now = Utc::now();
    let range = query.range(now, period == Period::Preset, "30d")?;
    // Real-time figures are never served from the cache.
    let key = (endpoint != "realtime").then(|| cache_key(store, endpoint, &query));
    let ctx = Ctx {
        state: state.clone(),
        shop: store,
        range,
        now,
        query,
    };
    cached(&state, auth.id(), key, report(ctx)).await
}

fn cache_key(store: ObjectId, endpoint: &str, query: &AnalyticsQuery) -> String {
    // The store is part of the key; the raw `storeId` is not (absent and explicit agree).
    let query = AnalyticsQuery {
        store_id: None,
        ..query.clone()
    };
    format!(
        "{}:{endpoint}:{}",
        store.to_hex(),
        serde_json::to_string(&query).unwrap_or_default()
    )
}

/// Declares a cached GET report handler with its OpenAPI entry.
macro_rules! report {
    ($(#[$doc:meta])* $name:ident, $path:literal, $endpoint:literal, $period:expr, $f:path => $($data:tt)+) => {
        $(#[$doc])*
        #[utoipa::path(get, path = $path, tag = "analytics", security(("bearer" = [])), params(AnalyticsQuery),
            responses((status = 200, description = "Report (`X-Cache: HIT|MISS`)", body = crate::openapi::Envelope<$($data)+>),
                (status = 400, description = "Query validation failed", body = crate::openapi::ErrorBody),
                (status = 403, description = "Store not owned or permission missing", body = crate::openapi::ErrorBody),
                (status = 404, description = "Store not found for merchant", body = crate::openapi::ErrorBody)))]
        pub async fn $name(
            State(state): State<AppState>,
            auth: AuthMerchant,
            AppQuery(query): AppQuery<AnalyticsQuery>,
        ) -> Result<Response, ApiError> {
            run(state, auth, query, $endpoint, $period, $f).await
        }
    };
}

report!(/// Revenue, orders, items and growth against the previous period.
    sales_overview, "/api/merchant/analytics/sales/overview", "sales/overview", Period::Preset, sales::overview => SalesOverview);
report!(/// Revenue per day, week or month (`period`), only periods with orders.
    sales_trends, "/api/merchant/analytics/sales/trends", "sales/trends", Period::Granularity, sales::trends => Vec<SalesTrendPoint>);
report!(/// Revenue per hour of day (UTC), only hours with orders.
    sales_by_time, "/api/merchant/analytics/sales/by-time", "sales/by-time", Period::Preset, sales::by_time => Vec<HourSales>);
report!(/// Revenue per weekday (1 = Sunday).
    sales_by_day, "/api/merchant/analytics/sales/by-day", "sales/by-day", Period::Preset, sales::by_day => Vec<WeekdaySales>);
report!(/// Best-selling products by revenue or quantity.
    top_selling, "/api/merchant/analytics/products/top-selling", "products/top-selling", Period::Preset, catalog::top_selling => Vec<ProductSalesView>);
report!(/// Every sold product with its revenue share and current stock.
    products_performance, "/api/merchant/analytics/products/performance", "products/performance", Period::Preset, catalog::performance => Vec<ProductPerformance>);
report!(/// Revenue, orders and products per category.
    categories_performance, "/api/merchant/analytics/categories/performance", "categories/performance", Period::Preset, catalog::categories => Vec<CategoryPerformance>);
report!(/// Customer counts, LTV, retention, churn and segments.
    customer_insights, "/api/merchant/analytics/customers/insights", "customers/insights", Period::Preset, customers::insights => CustomerInsights);
report!(/// Customers and revenue per segment.
    customer_segments, "/api/merchant/analytics/customers/segments", "customers/segments", Period::Preset, customers::segments => CustomerSegments);
report!(/// Customers by lifetime revenue, paged.
    customer_list, "/api/merchant/analytics/customers/list", "customers/list", Period::Preset, customers::list => CustomerList);
report!(/// Stock level counts and the lowest-stock products.
    inventory_status, "/api/merchant/analytics/inventory/status", "inventory/status", Period::Preset, catalog::inventory => InventoryStatus);
report!(/// Products by days of stock left at their recent sales rate.
    stockout_prediction, "/api/merchant/analytics/inventory/stockout-prediction", "inventory/stockout-prediction", Period::Preset, catalog::stockout_prediction => Vec<StockoutPrediction>);
report!(/// Revenue per payment method (percentages sum to 100).
    payments_breakdown, "/api/merchant/analytics/payments/breakdown", "payments/breakdown", Period::Preset, sales::payments => Vec<PaymentShare>);
report!(/// Daily revenue forecast (least-squares line, 95 % interval).
    sales_forecast, "/api/merchant/analytics/forecast/sales", "forecast/sales", Period::Preset, sales::forecast => SalesForecast);
report!(/// Seasonal averages and indexes by month, weekday or day of month.
    seasonal_trends, "/api/merchant/analytics/trends/seasonal", "trends/seasonal", Period::Preset, sales::seasonal => SeasonalTrends);
report!(/// Sums of the order totals' components.
    revenue_breakdown, "/api/merchant/analytics/revenue/breakdown", "revenue/breakdown", Period::Preset, sales::revenue_breakdown => RevenueBreakdown);
report!(/// This period against the previous one.
    comparison, "/api/merchant/analytics/comparison", "comparison", Period::Preset, sales::comparison => PeriodComparisonReport);
report!(/// Today's and the last hour's sales and the latest orders.
    realtime, "/api/merchant/analytics/realtime", "realtime", Period::Preset, sales::realtime => RealtimeReport);
report!(/// Coupon codes by revenue.
    top_offers, "/api/merchant/analytics/offers/top", "offers/top", Period::Preset, sales::offers => Vec<OfferSales>);
report!(/// Sales, inventory and customer headline figures together.
    overview, "/api/merchant/analytics/overview", "overview", Period::Preset, overview_report => AnalyticsOverview);

async fn overview_report(c: Ctx) -> Result<AnalyticsOverview, ApiError> {
    let (sales, inventory, customers, top) = tokio::try_join!(
        sales::overview(c.clone()),
        catalog::inventory(c.clone()),
        customers::insights(c.clone()),
        catalog::top_selling(Ctx {
            query: AnalyticsQuery {
                limit: Some("5".into()),
                ..c.query.clone()
            },
            ..c.clone()
        }),
    )?;
    Ok(AnalyticsOverview {
        sales,
        inventory: InventoryHeadline {
            total_products: inventory.total_products,
            low_stock_products: inventory.low_stock_products,
            out_of_stock_products: inventory.out_of_stock_products,
        },
        customers: CustomerHeadline {
            total_customers: customers.total_customers,
            new_customers: customers.new_customers,
            active_customers: customers.active_customers,
            repeat_customer_rate: customers.retention.repeat_customer_rate,
        },
        top_products: top,
        period: c.range.view(),
    })
}

/// Stock-out forecast of one product.
#[utoipa::path(get, path = "/api/merchant/analytics/forecast/stockout/{productId}", tag = "analytics", security(("bearer" = [])),
    params(("productId" = String, Path, description = "Product id"), AnalyticsQuery),
    responses((status = 200, description = "Forecast", body = crate::openapi::Envelope<StockoutForecast>),
        (status = 404, description = "Product or store not found", body = crate::openapi::ErrorBody)))]
pub async fn forecast_stockout(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(product): Path<String>,
    AppQuery(query): AppQuery<AnalyticsQuery>,
) -> Result<Response, ApiError> {
    let endpoint = format!("forecast/stockout/{product}");
    run(state, auth, query, &endpoint, Period::Preset, move |c| {
        catalog::stockout(c, product)
    })
    .await
}

/// Demand forecast of one product.
#[utoipa::path(get, path = "/api/merchant/analytics/forecast/demand/{productId}", tag = "analytics", security(("bearer" = [])),
    params(("productId" = String, Path, description = "Product id"), AnalyticsQuery),
    responses((status = 200, description = "Forecast", body = crate::openapi::Envelope<DemandForecast>),
        (status = 404, description = "Product or store not found", body = crate::openapi::ErrorBody)))]
pub async fn forecast_demand(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(product): Path<String>,
    AppQuery(query): AppQuery<AnalyticsQuery>,
) -> Result<Response, ApiError> {
    let endpoint = format!("forecast/demand/{product}");
    run(state, auth, query, &endpoint, Period::Preset, move |c| {
        catalog::demand(c, product)
    })
    .await
}

/// Cache backend status and this process's hit/miss counters.
#[utoipa::path(get, path = "/api/merchant/analytics/cache/stats", tag = "analytics", security(("bearer" = [])),
    responses((status = 200, description = "Cache status", body = crate::openapi::Envelope<CacheStats>)))]
pub async fn cache_stats(
    State(state): State<AppState>,
    auth: AuthMerchant,
) -> Result<Reply<CacheStats>, ApiError> {
    auth.require("analytics:view")?;
    Ok(Reply::data(state.analytics_cache.stats().await))
}

/// Drop every cached result of the caller's merchant.
#[utoipa::path(post, path = "/api/merchant/analytics/cache/invalidate", tag = "analytics", security(("bearer" = [])),
    responses((status = 200, description = "Invalidated", body = crate::openapi::Envelope<CacheInvalidated>)))]
pub async fn cache_invalidate(
    State(state): State<AppState>,
    auth: AuthMerchant,
) -> Result<Reply<CacheInvalidated>, ApiError> {
    auth.require("analytics:view")?;
    state.analytics_cache.invalidate_merchant(auth.id()).await;
    Ok(Reply::data(CacheInvalidated {
        invalidated: true,
        merchant_id: auth.id().to_hex(),
    })
    .message("Analytics cache invalidated"))
}

/// The reports `POST /cache/warm-up` computes (default range, default parameters).
const WARM: [&str; 9] = [
    "sales/overview",
    "sales/trends",
    "sales/by-time",
    "sales/by-day",
    "products/top-selling",
    "categories/performance",
    "customers/insights",
    "inventory/status",
    "payments/breakdown",
];

/// Compute and cache the main reports of a store for the default range.
#[utoipa::path(post, path = "/api/merchant/analytics/cache/warm-up", tag = "analytics", security(("bearer" = [])), params(AnalyticsQuery),
    responses((status = 200, description = "Warmed", body = crate::openapi::Envelope<CacheWarmed>)))]
pub async fn cache_warm_up(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(query): AppQuery<AnalyticsQuery>,
) -> Result<Reply<CacheWarmed>, ApiError> {
    auth.require("analytics:view")?;
    let store = resolve_shop(&state, &auth, query.store_id.as_deref()).await?;
    let started = Instant::now();
    let now = Utc::now();
    let q = AnalyticsQuery::default();
    let range = q.range(now, true, "30d")?;
    let ctx = Ctx {
        state: state.clone(),
        shop: store,
        range,
        now,
        query: q.clone(),
    };
    for endpoint in WARM {
        let report = warm_report(ctx.clone(), endpoint).await?;
        state
            .analytics_cache
            .put(auth.id(), &cache_key(store, endpoint, &q), report.json())
            .await;
    }
    Ok(Reply::data(CacheWarmed {
        warmed: WARM.to_vec(),
        store_id: store.to_hex(),
        duration_ms: started.elapsed().as_millis() as u64,
        ttl_seconds: state.analytics_cache.ttl().as_secs(),
    })
    .message("Analytics cache warmed"))
}

/// Compute one of the [`WARM`] reports, serialised as its endpoint caches it.
async fn warm_report(ctx: Ctx, endpoint: &str) -> Result<CachedReport<()>, ApiError> {
    fn json<T: Serialize>(report: T) -> Result<CachedReport<()>, ApiError> {
        CachedReport::<T>::new(&report).map(CachedReport::untyped)
    }
    match endpoint {
        "sales/overview" => json(sales::overview(ctx).await?),
        "sales/trends" => json(sales::trends(ctx).await?),
        "sales/by-time" => json(sales::by_time(ctx).await?),
        "sales/by-day" => json(sales::by_day(ctx).await?),
        "products/top-selling" => json(catalog::top_selling(ctx).await?),
        "categories/performance" => json(catalog::categories(ctx).await?),
        "customers/insights" => json(customers::insights(ctx).await?),
        "inventory/status" => json(catalog::inventory(ctx).await?),
        _ => json(sales::payments(ctx).await?),
    }
}

/// The contract's intentional 404: exports are created with POST.
#[utoipa::path(get, path = "/api/merchant/analytics/export", tag = "analytics", security(("bearer" = [])),
    responses((status = 404, description = "Always", body = crate::openapi::ErrorBody)))]
pub async fn export_get(_auth: AuthMerchant) -> ApiError {
    ApiError::NotFound("Export endpoint not found. Use POST /api/merchant/analytics/export to create an export job.".into())
}

/// Build an export (CSV or JSON) now; download it from `downloadUrl` for 24 hours.
#[utoipa::path(post, path = "/api/merchant/analytics/export", tag = "analytics", security(("bearer" = [])), request_body = ExportBody,
    responses((status = 201, description = "Export created", body = crate::openapi::Envelope<ExportJob>),
        (status = 403, description = "Store not owned or permission missing", body = crate::openapi::ErrorBody),
        (status = 404, description = "Store not found for merchant", body = crate::openapi::ErrorBody)))]
pub async fn export_create(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppJson(body): AppJson<ExportBody>,
) -> Result<Reply<ExportJob>, ApiError> {
    auth.require("analytics:export")?;
    let (format, kind) = body.choices()?;
    let query = body.query();
    let store = resolve_shop(&state, &auth, query.store_id.as_deref()).await?;
    let now = Utc::now();
    let range = query.range(now, true, "30d")?;
    let ctx = Ctx {
        state,
        shop: store,
        range,
        now,
        query,
    };
    let data = export::create(ctx, format, kind, auth.id()).await?;
    Ok(Reply::data(data)
        .message("Export created")
        .status(StatusCode::CREATED))
}

/// Download an export of the caller's merchant.
#[utoipa::path(get, path = "/api/merchant/analytics/export/{exportId}", tag = "analytics", security(("bearer" = [])),
    params(("exportId" = String, Path, description = "Export id")),
    responses((status = 200, description = "The file (text/csv or application/json)"),
        (status = 404, description = "Export not found or expired", body = crate::openapi::ErrorBody)))]
pub async fn export_download(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(export_id): Path<String>,
) -> Result<Response, ApiError> {
    auth.require("analytics:export")?;
    let found = export::fetch(&state, auth.id(), &export_id).await?;
    let (format, kind, content) = (found.format, found.kind, found.content);
    let (mime, ext) = if format == "json" {
        ("application/json", "json")
    } else {
        ("text/csv; charset=utf-8", "csv")
    };
    let disposition = format!("attachment; filename=\"analytics-{kind}-{export_id}.{ext}\"");
    let disposition =
        HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        content,
    )
        .into_response())
}

/// Routes under `/analytics`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/overview", get(overview))
        .route("/sales/overview", get(sales_overview))
        .route("/sales/trends", get(sales_trends))
        .route("/sales/by-time", get(sales_by_time))
        .route("/sales/by-day", get(sales_by_day))
        .route("/products/top-selling", get(top_selling))
        .route("/products/performance", get(products_performance))
        .route("/categories/performance", get(categories_performance))
        .route("/customers/insights", get(customer_insights))
        .route("/customers/segments", get(customer_segments))
        .route("/customers/list", get(customer_list))
        .route("/inventory/status", get(inventory_status))
        .route("/inventory/stockout-prediction", get(stockout_prediction))
        .route("/payments/breakdown", get(payments_breakdown))
        .route("/forecast/sales", get(sales_forecast))
        .route("/forecast/stockout/{product_id}", get(forecast_stockout))
        .route("/forecast/demand/{product_id}", get(forecast_demand))
        .route("/trends/seasonal", get(seasonal_trends))
        .route("/revenue/breakdown", get(revenue_breakdown))
        .route("/comparison", get(comparison))
        .route("/realtime", get(realtime))
        .route("/offers/top", get(top_offers))
        .route("/cache/stats", get(cache_stats))
        .route("/cache/invalidate", post(cache_invalidate))
        .route("/cache/warm-up", post(cache_warm_up))
        .route("/export", get(export_get).post(export_create))
        .route("/export/{export_id}", get(export_download))
}
