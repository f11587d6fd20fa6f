//! `/api/merchant/dashboard` (contract §2.2): overview, metric cards, activity feed, top
//! products and the zero-filled sales series, all narrowed by an owned `?storeId=`. Figures come
//! from aggregation pipelines (`store::dashboard`, `store::order_analytics`) and go through the
//! shared report cache (`routes::cached`, `X-Cache: HIT|MISS`) like analytics. The low-stock
//! listing at `/dashboard/low-stock` is served by `routes::stock`.

mod cards;
mod series;
pub mod types;

use std::{collections::HashMap, future::Future};

use axum::{Router, extract::State, response::Response, routing::get};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use self::types::{
    ActivityItem, ActivityMetadata, DashboardCards, DashboardOverview, DashboardTopProduct,
    LowStockAlert, OrderActivity, ProductActivity, SalesPoint,
};
use super::{
    cached::cached,
    orders::{scope, store_param},
    products::types::int_param,
};
use crate::{
    error::ApiError,
    extract::{AppQuery, AuthMerchant},
    state::AppState,
    store::{
        DateTime, ObjectId,
        dashboard::OverviewQuery,
        json::iso,
        order_analytics::{Interval, ProductSales, SalesLines, earning, in_range},
        orders::{OrderDoc, OrderScope},
        products::ProductDoc,
    },
    validate::Validator,
};

const DAY_MS: i64 = 86_400_000;
/// Length of the metric cards' period.
const CARD_DAYS: i64 = 30;

/// Dashboard routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview))
        .route("/metrics", get(metrics))
        .route("/activity", get(activity))
        .route("/top-products", get(top_products))
        .route("/sales-data", get(sales_data))
}

/// Dashboard query (unknown keys are ignored, like the peer's dashboard).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DashboardQuery {
    /// One owned store (24-hex).
    pub store_id: Option<String>,
    /// 7d | 30d | 90d (default 30d; top products and sales data).
    pub period: Option<String>,
    /// revenue | quantity (top products; default revenue).
    pub sort_by: Option<String>,
    /// day | week | month (sales data; default day).
    pub granularity: Option<String>,
    /// Items (activity 1..100, default 20; top products 1..50, default 10).
    pub limit: Option<String>,
}

fn ago(days: i64) -> DateTime {
    DateTime::from_millis(DateTime::now().timestamp_millis() - days * DAY_MS)
}

/// Midnight UTC `days - 1` days before today: the first day of a `days`-day window.
fn window_start(days: i64) -> DateTime {
    let today = Utc::now().date_naive();
    let first = today - chrono::Duration::days(days - 1);
    DateTime::from_millis(
        first
            .and_hms_opt(0, 0, 0)
            .map_or(0, |d| d.and_utc().timestamp_millis()),
    )
}

fn period_days(v: &mut Validator, raw: Option<String>) -> i64 {
    match v.one_of("period", raw, &["7d", "30d", "90d"]) {
        Some("7d") => 7,
        Some("90d") => 90,
        _ => 30,
    }
}

/// The one dashboard handler shape: check the permission and the query, resolve the scope,
/// then answer through the shared report cache (`key: None`: never cached). Keys are per
/// merchant (the cache's hash) and carry the store and every parameter.
async fn run<T, F, Fut>(
    state: AppState,
    auth: AuthMerchant,
    v: Validator,
    store: Option<ObjectId>,
    key: Option<String>,
    report: F,
) -> Result<Response, ApiError>
where
    T: Serialize,
    F: FnOnce(AppState, OrderScope) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    auth.require("analytics:view")?;
    v.finish_as("Query validation failed")?;
    let scope = scope(&state, &auth, store).await?;
    let key = key.map(|k| format!("dashboard:{k}:{store:?}"));
    cached(&state, auth.id(), key, report(state.clone(), scope)).await
}

/// Overview: metrics, recent activity, top products, low-stock alerts and a 30-day chart.
#[utoipa::path(get, path = "/api/merchant/dashboard", tag = "dashboard", security(("bearer" = [])), params(DashboardQuery),
    responses((status = 200, description = "`{metrics, recentActivity, topProducts, lowStockAlerts, salesChart}` (`X-Cache: HIT|MISS`)", body = crate::openapi::Envelope<DashboardOverview>),
        (status = 400, description = "storeId invalid or not owned", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing analytics:view", body = crate::openapi::ErrorBody)))]
pub async fn overview(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<DashboardQuery>,
) -> Result<Response, ApiError> {
    let mut v = Validator::new();
    let store = store_param(&mut v, q.store_id);
    run(
        state,
        auth,
        v,
        store,
        Some("overview".into()),
        move |state, scope| overview_report(state, scope, store),
    )
    .await
}

/// Best sellers shown on the overview.
const OVERVIEW_TOP: i64 = 5;
/// Activity rows shown on the overview.
const OVERVIEW_FEED: i64 = 10;

async fn overview_report(
    state: AppState,
    scope: OrderScope,
    store: Option<ObjectId>,
) -> Result<DashboardOverview, ApiError> {
    let s = &state.store;
    let scope = &scope;
    let (cur, prev) = (ago(CARD_DAYS), ago(2 * CARD_DAYS));
    let q = OverviewQuery {
        current: cur,
        previous: prev,
        chart: in_range(scope, window_start(30), DateTime::now()),
        top: top_lines(scope, CARD_DAYS),
        top_limit: OVERVIEW_TOP,
        recent_limit: OVERVIEW_FEED,
    };
    let (orders, products, cashback, low, changed) = futures::try_join!(
        s.overview_orders(scope, q),
        s.product_summary(scope.merchant, store, cur, prev),
        s.cashback_summary(scope.merchant),
        s.low_stock(scope.merchant, store, Some(10), 20),
        s.recent_products(scope.merchant, store, OVERVIEW_FEED),
    )
    .map_err(ApiError::internal("Failed to fetch dashboard data"))?;
    let top = decorate_top(&state, scope.merchant, &orders.top)
        .await
        .map_err(ApiError::internal("Failed to fetch dashboard data"))?;
    Ok(DashboardOverview {
        metrics: cards::overview_metrics(&orders.summary, &products, &cashback, CARD_DAYS),
        recent_activity: feed_rows(&orders.recent, &changed, scope.merchant, OVERVIEW_FEED),
        top_products: top,
        low_stock_alerts: low.iter().map(low_stock_alert).collect(),
        sales_chart: series::zero_filled(&orders.chart, Utc::now().date_naive(), 30, Interval::Day),
    })
}

fn low_stock_alert(p: &ProductDoc) -> LowStockAlert {
    LowStockAlert {
        id: p.id.to_hex(),
        name: p.name.clone(),
        current_stock: p.inventory.stock,
        sku: p.sku.clone(),
        reorder_point: p.inventory.low_stock_threshold,
        image: p.images.first().cloned(),
        status: if p.is_active { "active" } else { "inactive" },
    }
}

/// Six cards (revenue, orders, products, customers, average order value, conversion rate),
/// the last 30 days against the 30 before.
#[utoipa::path(get, path = "/api/merchant/dashboard/metrics", tag = "dashboard", security(("bearer" = [])), params(DashboardQuery),
    responses((status = 200, description = "Cards `{value, change, trend, period, label, icon}` (`X-Cache: HIT|MISS`)", body = crate::openapi::Envelope<DashboardCards>),
        (status = 400, description = "storeId invalid or not owned", body = crate::openapi::ErrorBody)))]
pub async fn metrics(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<DashboardQuery>,
) -> Result<Response, ApiError> {
    let mut v = Validator::new();
    let store = store_param(&mut v, q.store_id);
    run(
        state,
        auth,
        v,
        store,
        Some("metrics".into()),
        move |state, scope| async move {
            let (cur, prev) = (ago(CARD_DAYS), ago(2 * CARD_DAYS));
            let (orders, products) = futures::try_join!(
                state.store.order_summary(&scope, cur, prev),
                state
                    .store
                    .product_summary(scope.merchant, store, cur, prev),
            )
            .map_err(ApiError::internal("Failed to fetch dashboard metrics"))?;
            Ok(cards::metric_cards(&orders, &products, CARD_DAYS))
        },
    )
    .await
}

/// Recent orders and product changes, newest first.
async fn feed(
    state: &AppState,
    scope: &OrderScope,
    store: Option<ObjectId>,
    limit: i64,
) -> crate::store::Result<Vec<ActivityItem>> {
    let (orders, products) = futures::try_join!(
        state.store.recent_orders(&scope.shops, limit),
        state.store.recent_products(scope.merchant, store, limit),
    )?;
    Ok(feed_rows(&orders, &products, scope.merchant, limit))
}

/// Merge the latest orders and product changes into at most `limit` feed rows, newest first.
fn feed_rows(
    orders: &[OrderDoc],
    products: &[ProductDoc],
    merchant: ObjectId,
    limit: i64,
) -> Vec<ActivityItem> {
    let mut rows: Vec<(DateTime, ActivityItem)> = orders
        .iter()
        .map(|o| (o.created_at, order_activity(o)))
        .collect();
    rows.extend(
        products
            .iter()
            .map(|p| (p.updated_at, product_activity(p, merchant))),
    );
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    rows.into_iter()
        .take(limit as usize)
        .map(|(_, v)| v)
        .collect()
}

fn order_activity(o: &OrderDoc) -> ActivityItem {
    let action = if o.status == "placed" {
        "New order".to_string()
    } else {
        format!("Order {}", o.status.replace('_', " "))
    };
    ActivityItem {
        id: format!("order-{}", o.id.to_hex()),
        kind: "order",
        action,
        description: format!("Order {} - {:.2}", o.order_number, o.totals.total),
        timestamp: iso(o.created_at),
        user: o.user.to_hex(),
        icon: "shopping-cart",
        metadata: ActivityMetadata::Order(OrderActivity {
            order_id: o.id.to_hex(),
            order_number: o.order_number.clone(),
            status: o.status.clone(),
            total: o.totals.total,
        }),
    }
}

fn product_activity(p: &ProductDoc, merchant: ObjectId) -> ActivityItem {
    let created = p.created_at == p.updated_at;
    ActivityItem {
        id: format!("product-{}", p.id.to_hex()),
        kind: "product",
        action: if created {
            "Product created"
        } else {
            "Product updated"
        }
        .to_string(),
        description: format!("{} ({} in stock)", p.name, p.inventory.stock),
        timestamp: iso(p.updated_at),
        user: merchant.to_hex(),
        icon: "package",
        metadata: ActivityMetadata::Product(ProductActivity {
            product_id: p.id.to_hex(),
            name: p.name.clone(),
            stock: p.inventory.stock,
            status: p.status.clone(),
        }),
    }
}

/// The activity feed: an array of orders and product changes, newest first.
#[utoipa::path(get, path = "/api/merchant/dashboard/activity", tag = "dashboard", security(("bearer" = [])), params(DashboardQuery),
    responses((status = 200, description = "Array of `{id, type, action, description, timestamp, user, icon, metadata}` (`X-Cache: MISS`, never cached)", body = crate::openapi::Envelope<Vec<ActivityItem>>),
        (status = 400, description = "Query validation failed", body = crate::openapi::ErrorBody)))]
pub async fn activity(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<DashboardQuery>,
) -> Result<Response, ApiError> {
    let mut v = Validator::new();
    let limit = int_param(&mut v, "limit", q.limit, 1, 100, 20);
    let store = store_param(&mut v, q.store_id);
    // The live feed is never cached (like `/analytics/realtime`).
    run(
        state,
        auth,
        v,
        store,
        None,
        move |state, scope| async move {
            feed(&state, &scope, store, limit)
                .await
                .map_err(ApiError::internal("Failed to fetch activity"))
        },
    )
    .await
}

/// Lines of earning orders of the last `2 * days` days; the last `days` are current.
fn top_lines(scope: &OrderScope, days: i64) -> SalesLines {
    SalesLines {
        orders: earning(in_range(scope, ago(2 * days), DateTime::now())),
        stores: scope.shops.clone(),
        current_from: Some(ago(days)),
    }
}

/// Best sellers with growth against the previous period and their category names.
async fn decorate_top(
    state: &AppState,
    merchant: ObjectId,
    rows: &[ProductSales],
) -> crate::store::Result<Vec<DashboardTopProduct>> {
    let s = &state.store;
    let ids: Vec<ObjectId> = rows.iter().map(|r| r.product).collect();
    let products = s.products_by_ids(merchant, ids).await?;
    let category_ids: Vec<ObjectId> = products.iter().map(|p| p.category).collect();
    let categories = s.category_names(&category_ids).await?;
    let category_of: HashMap<ObjectId, String> = products
        .iter()
        .map(|p| {
            (
                p.id,
                categories.get(&p.category).cloned().unwrap_or_default(),
            )
        })
        .collect();
    Ok(rows
        .iter()
        .map(|r| DashboardTopProduct {
            id: r.product.to_hex(),
            name: r.name.clone(),
            revenue: cards::round2(r.revenue),
            quantity: r.quantity,
            growth: cards::change(r.quantity as f64, r.previous_quantity as f64),
            category: category_of.get(&r.product).cloned().unwrap_or_default(),
            image: r.image.clone(),
        })
        .collect())
}

/// Best-selling products: an array sorted by revenue or quantity.
#[utoipa::path(get, path = "/api/merchant/dashboard/top-products", tag = "dashboard", security(("bearer" = [])), params(DashboardQuery),
    responses((status = 200, description = "Array of `{id, name, revenue, quantity, growth, category, image}` (`X-Cache: HIT|MISS`)", body = crate::openapi::Envelope<Vec<DashboardTopProduct>>),
        (status = 400, description = "Query validation failed", body = crate::openapi::ErrorBody)))]
pub async fn top_products(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<DashboardQuery>,
) -> Result<Response, ApiError> {
    let mut v = Validator::new();
    let days = period_days(&mut v, q.period);
    let sort = v
        .one_of("sortBy", q.sort_by, &["revenue", "quantity"])
        .unwrap_or("revenue");
    let limit = int_param(&mut v, "limit", q.limit, 1, 50, 10);
    let store = store_param(&mut v, q.store_id);
    let key = format!("top:{days}:{sort}:{limit}");
    run(
        state,
        auth,
        v,
        store,
        Some(key),
        move |state, scope| async move {
            let failed = ApiError::internal("Failed to fetch top products");
            let lines = top_lines(&scope, days);
            let rows = state
                .store
                .product_sales(lines, sort == "quantity", limit)
                .await
                .map_err(failed)?;
            decorate_top(&state, scope.merchant, &rows)
                .await
                .map_err(ApiError::internal("Failed to fetch top products"))
        },
    )
    .await
}

/// Sales series: one zero-filled entry per day (7, 30 or 90), week or month, oldest first.
#[utoipa::path(get, path = "/api/merchant/dashboard/sales-data", tag = "dashboard", security(("bearer" = [])), params(DashboardQuery),
    responses((status = 200, description = "Array of `{date, revenue, orders, items}` (`X-Cache: HIT|MISS`)", body = crate::openapi::Envelope<Vec<SalesPoint>>),
        (status = 400, description = "Query validation failed", body = crate::openapi::ErrorBody)))]
pub async fn sales_data(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<DashboardQuery>,
) -> Result<Response, ApiError> {
    let mut v = Validator::new();
    let days = period_days(&mut v, q.period);
    let interval = match v.one_of("granularity", q.granularity, &["day", "week", "month"]) {
        Some("week") => Interval::Week,
        Some("month") => Interval::Month,
        _ => Interval::Day,
    };
    let store = store_param(&mut v, q.store_id);
    let key = format!("sales:{days}:{interval:?}");
    run(
        state,
        auth,
        v,
        store,
        Some(key),
        move |state, scope| async move {
            let m = in_range(&scope, window_start(days), DateTime::now());
            let daily = state
                .store
                .orders_by_period(&scope, m, Interval::Day)
                .await
                .map_err(ApiError::internal("Failed to fetch sales data"))?;
            let today = Utc::now().date_naive();
            Ok(series::zero_filled(&daily, today, days, interval))
        },
    )
    .await
}
