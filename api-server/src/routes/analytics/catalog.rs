//! Product reports: top sellers, product performance, category performance, inventory status
//! and the stock-out / demand forecasts (sales velocity from the orders, stock from products).

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::{
    Ctx,
    math::{Fit, fit, percentages, ratio, round2},
    query::{DateRange, int_in},
    types::{
        CategoryPerformance, DemandForecast, DemandForecastDay, InventoryStatus,
        ProductPerformance, ProductSalesView, StockoutForecast, StockoutPrediction,
    },
};
use crate::{
    error::ApiError,
    store::{ObjectId, order_analytics::ProductSales},
};

type Res<T> = Result<T, ApiError>;

fn db(e: crate::store::Error) -> ApiError {
    ApiError::internal("Failed to fetch analytics")(e)
}

fn sales_view(p: &ProductSales) -> ProductSalesView {
    ProductSalesView {
        product_id: p.product.to_hex(),
        product_name: p.name.clone(),
        image: p.image.clone().unwrap_or_default(),
        total_quantity: p.quantity,
        total_revenue: round2(p.revenue),
        order_count: p.orders,
        average_price: round2(ratio(p.revenue, p.quantity as f64)),
    }
}

/// `GET /products/top-selling`: `limit` (10), `sortBy` revenue|quantity.
pub async fn top_selling(c: Ctx) -> Res<Vec<ProductSalesView>> {
    let (limit, by_quantity) = (c.query.limit(10, 100)?, c.query.by_quantity()?);
    let rows = c
        .state
        .store
        .shop_product_sales(c.scope(), by_quantity, limit)
        .await
        .map_err(db)?;
    Ok(rows.iter().map(sales_view).collect())
}

/// `GET /products/performance`: every sold product (up to `limit`, 50) with its revenue share
/// and current stock.
pub async fn performance(c: Ctx) -> Res<Vec<ProductPerformance>> {
    let (limit, by_quantity) = (c.query.limit(50, 500)?, c.query.by_quantity()?);
    let store = &c.state.store;
    let (rows, stock) = tokio::try_join!(
        store.shop_product_sales(c.scope(), by_quantity, limit),
        store.stock_levels(c.shop, 5000),
    )
    .map_err(db)?;
    let all: f64 = rows.iter().map(|r| r.revenue).sum();
    let stock: HashMap<ObjectId, i64> = stock.into_iter().map(|s| (s.0, s.3)).collect();
    Ok(rows
        .iter()
        .map(|p| ProductPerformance {
            sales: sales_view(p),
            revenue_share: round2(ratio(p.revenue, all) * 100.0),
            current_stock: stock.get(&p.product).copied(),
        })
        .collect())
}

/// `GET /categories/performance`: revenue, distinct orders and catalogue size per category,
/// with revenue shares summing to 100.
pub async fn categories(c: Ctx) -> Res<Vec<CategoryPerformance>> {
    let store = &c.state.store;
    let (sales, catalogue) = tokio::try_join!(
        store.category_sales(c.scope()),
        store.products_per_category(c.shop)
    )
    .map_err(db)?;
    let shares = percentages(&sales.iter().map(|s| s.revenue).collect::<Vec<_>>());
    Ok(sales
        .iter()
        .zip(shares)
        .map(|(s, share)| {
            let cat = s
                .category
                .and_then(|id| catalogue.iter().find(|c| c.0 == id));
            CategoryPerformance {
                category_id: s.category.map(|c| c.to_hex()),
                category_name: cat.map_or("Uncategorized", |c| c.2.as_str()).to_string(),
                total_revenue: round2(s.revenue),
                total_orders: s.orders,
                total_quantity: s.quantity,
                total_products: cat.map_or(0, |c| c.1),
                average_order_value: round2(ratio(s.revenue, s.orders as f64)),
                revenue_share: share,
            }
        })
        .collect())
}

/// `GET /inventory/status`: stock level counts and the 20 lowest low / out-of-stock products.
pub async fn inventory(c: Ctx) -> Res<InventoryStatus> {
    let store = &c.state.store;
    let (counts, low, out) = tokio::try_join!(
        store.stock_counts(c.shop),
        store.stock_items(c.shop, false, 20),
        store.stock_items(c.shop, true, 20),
    )
    .map_err(db)?;
    Ok(InventoryStatus {
        total_products: counts.total,
        in_stock_products: counts.total - counts.out,
        low_stock_products: counts.low,
        out_of_stock_products: counts.out,
        overstocked_products: counts.overstocked,
        low_stock_items: low.into_iter().map(Into::into).collect(),
        out_of_stock_items: out.into_iter().map(Into::into).collect(),
    })
}

/// Days of stock left at `per_day` units a day (`None`: no sales, never runs out).
fn days_left(stock: i64, per_day: f64) -> Option<f64> {
    (per_day > 0.0).then(|| round2((stock.max(0) as f64) / per_day))
}

/// The day stock runs out `days_left` days after `now`.
fn stockout_date(now: DateTime<Utc>, days_left: f64) -> String {
    (now + Duration::minutes((days_left * 1440.0) as i64))
        .date_naive()
        .to_string()
}

/// `GET /inventory/stockout-prediction`: products that sold in the range, by days of stock left
/// at the range's average daily sales (soonest first, `limit` 20).
pub async fn stockout_prediction(c: Ctx) -> Res<Vec<StockoutPrediction>> {
    let limit = c.query.limit(20, 200)? as usize;
    let store = &c.state.store;
    let (sales, stock) = tokio::try_join!(
        store.shop_product_sales(c.scope(), true, 5000),
        store.stock_levels(c.shop, 5000)
    )
    .map_err(db)?;
    let days = c.range.days().len().max(1) as f64;
    let sales: HashMap<ObjectId, &ProductSales> = sales.iter().map(|s| (s.product, s)).collect();
    let mut rows: Vec<StockoutPrediction> = stock
        .into_iter()
        .filter_map(|(id, name, sku, units)| {
            let sold = sales.get(&id)?;
            let per_day = sold.quantity as f64 / days;
            let left = days_left(units, per_day)?;
            Some(StockoutPrediction {
                product_id: id.to_hex(),
                product_name: name,
                sku,
                current_stock: units,
                average_daily_sales: round2(per_day),
                days_until_stockout: left,
                predicted_stockout_date: stockout_date(c.now, left),
                urgency: if left <= 7.0 {
                    "high"
                } else if left <= 14.0 {
                    "medium"
                } else {
                    "low"
                },
            })
        })
        .collect();
    rows.sort_by(|a, b| a.days_until_stockout.total_cmp(&b.days_until_stockout));
    rows.truncate(limit);
    Ok(rows)
}

async fn product_of(c: &Ctx, raw: &str) -> Result<(ObjectId, String, i64, bool), ApiError> {
    let id =
        ObjectId::parse_str(raw).map_err(|_| ApiError::BadRequest("Invalid product ID".into()))?;
    let (name, stock, unlimited) = c
        .state
        .store
        .shop_product(c.shop, id)
        .await
        .map_err(db)?
        .ok_or_else(|| ApiError::NotFound("Product not found".into()))?;
    Ok((id, name, stock, unlimited))
}

/// Zero-filled daily units of one product over the range.
async fn daily_units(c: &Ctx, range: &DateRange, product: ObjectId) -> Result<Vec<f64>, ApiError> {
    let rows = c
        .state
        .store
        .product_daily_units(range.scope(c.shop), product)
        .await
        .map_err(db)?;
    Ok(range
        .days()
        .iter()
        .map(|d| {
            rows.iter()
                .find(|r| r.0 == d.to_string())
                .map_or(0.0, |r| r.1 as f64)
        })
        .collect())
}

/// `GET /forecast/stockout/:productId`: days until the product runs out at its average daily
/// sales over the range (default 30 days).
pub async fn stockout(c: Ctx, product: String) -> Res<StockoutForecast> {
    let (id, name, stock, unlimited) = product_of(&c, &product).await?;
    let units = daily_units(&c, &c.range, id).await?;
    let per_day = ratio(units.iter().sum(), units.len() as f64);
    let left = if unlimited {
        None
    } else {
        days_left(stock, per_day)
    };
    Ok(StockoutForecast {
        product_id: id.to_hex(),
        product_name: name,
        current_stock: stock,
        unlimited,
        average_daily_sales: round2(per_day),
        days_until_stockout: left,
        predicted_stockout_date: left.map(|l| stockout_date(c.now, l)),
        will_stock_out: left.is_some(),
        period: c.range.view(),
    })
}

/// `GET /forecast/demand/:productId`: least-squares line through the product's daily units,
/// `days` (7) ahead.
pub async fn demand(c: Ctx, product: String) -> Res<DemandForecast> {
    let (id, name, stock, _) = product_of(&c, &product).await?;
    let ahead = int_in(
        "days",
        c.query.forecast_days.as_deref().or(c.query.days.as_deref()),
        7,
        1,
        90,
    )?;
    let units = daily_units(&c, &c.range, id).await?;
    let f = fit(&units);
    let n = units.len() as f64;
    let start = c.range.days().last().copied().unwrap_or(c.now.date_naive());
    let forecast = demand_days(&f, units.len(), start, ahead);
    let total: f64 = forecast.iter().map(|d| d.predicted_units).sum();
    let mean = ratio(units.iter().sum(), n);
    Ok(DemandForecast {
        product_id: id.to_hex(),
        product_name: name,
        current_stock: stock,
        forecast,
        total_predicted_units: round2(total),
        average_daily_units: round2(mean),
        trend: f.trend(mean),
        accuracy: round2(f.r2),
        method: "linear_regression",
        period: c.range.view(),
        recommended_reorder: (total - stock as f64).max(0.0).ceil(),
    })
}

/// The `ahead` days after `start` on the line fitted to `n` days of units.
fn demand_days(f: &Fit, n: usize, start: NaiveDate, ahead: i64) -> Vec<DemandForecastDay> {
    (1..=ahead)
        .map(|i| {
            let x = n as f64 - 1.0 + i as f64;
            DemandForecastDay {
                date: (start + Duration::days(i)).to_string(),
                predicted_units: round2(f.at(x).max(0.0)),
                confidence_lower: round2((f.at(x) - f.margin(x)).max(0.0)),
                confidence_upper: round2(f.at(x).max(0.0) + f.margin(x)),
            }
        })
        .collect()
}
