//! Product reports: top sellers, product performance, category performance, inventory status
//! and the stock-out / demand forecasts (sales velocity from the orders, stock from products).

use std::collections::HashMap;

use chrono::Duration;
use serde_json::{Value, json};

use super::{
    Ctx,
    math::{fit, percentages, ratio, round2},
    query::{DateRange, int_in},
};
use crate::{
    error::ApiError,
    store::{ObjectId, analytics::StockItem, order_analytics::ProductSales},
};

type Res = Result<Value, ApiError>;

fn db(e: crate::store::Error) -> ApiError {
    ApiError::internal("Failed to fetch analytics")(e)
}

fn sales_json(p: &ProductSales) -> Value {
    json!({
        "productId": p.product.to_hex(), "productName": p.name, "image": p.image.as_deref().unwrap_or_default(),
        "totalQuantity": p.quantity, "totalRevenue": round2(p.revenue), "orderCount": p.orders,
        "averagePrice": round2(ratio(p.revenue, p.quantity as f64)),
    })
}

/// `GET /products/top-selling`: `limit` (10), `sortBy` revenue|quantity.
pub async fn top_selling(c: Ctx) -> Res {
    let (limit, by_quantity) = (c.query.limit(10, 100)?, c.query.by_quantity()?);
    let rows = c
        .state
        .store
        .product_sales(c.scope().sales_lines(), by_quantity, limit)
        .await
        .map_err(db)?;
    Ok(rows.iter().map(sales_json).collect())
}

/// `GET /products/performance`: every sold product (up to `limit`, 50) with its revenue share
/// and current stock.
pub async fn performance(c: Ctx) -> Res {
    let (limit, by_quantity) = (c.query.limit(50, 500)?, c.query.by_quantity()?);
    let store = &c.state.store;
    let (rows, stock) = tokio::try_join!(
        store.product_sales(c.scope().sales_lines(), by_quantity, limit),
        store.stock_levels(c.shop, 5000),
    )
    .map_err(db)?;
    let all: f64 = rows.iter().map(|r| r.revenue).sum();
    let stock: HashMap<ObjectId, i64> = stock.into_iter().map(|s| (s.0, s.3)).collect();
    Ok(rows
        .iter()
        .map(|p| {
            let mut v = sales_json(p);
            v["revenueShare"] = json!(round2(ratio(p.revenue, all) * 100.0));
            v["currentStock"] = json!(stock.get(&p.product));
            v
        })
        .collect())
}

/// `GET /categories/performance`: revenue, distinct orders and catalogue size per category,
/// with revenue shares summing to 100.
pub async fn categories(c: Ctx) -> Res {
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
            let cat = s.category.and_then(|id| catalogue.iter().find(|c| c.0 == id));
            json!({
                "categoryId": s.category.map(|c| c.to_hex()),
                "categoryName": cat.map_or("Uncategorized", |c| c.2.as_str()),
                "totalRevenue": round2(s.revenue), "totalOrders": s.orders, "totalQuantity": s.quantity,
                "totalProducts": cat.map_or(0, |c| c.1),
                "averageOrderValue": round2(ratio(s.revenue, s.orders as f64)),
                "revenueShare": share,
            })
        })
        .collect())
}

fn item_json(i: &StockItem) -> Value {
    json!({
        "id": i.id, "name": i.name, "sku": i.sku, "stock": i.stock,
        "lowStockThreshold": i.low_stock_threshold, "image": i.image,
    })
}

/// `GET /inventory/status`: stock level counts and the 20 lowest low / out-of-stock products.
pub async fn inventory(c: Ctx) -> Res {
    let store = &c.state.store;
    let (counts, low, out) = tokio::try_join!(
        store.stock_counts(c.shop),
        store.stock_items(c.shop, false, 20),
        store.stock_items(c.shop, true, 20),
    )
    .map_err(db)?;
    Ok(json!({
        "totalProducts": counts.total, "inStockProducts": counts.total - counts.out,
        "lowStockProducts": counts.low, "outOfStockProducts": counts.out,
        "overstockedProducts": counts.overstocked,
        "lowStockItems": low.iter().map(item_json).collect::<Vec<_>>(),
        "outOfStockItems": out.iter().map(item_json).collect::<Vec<_>>(),
    }))
}

/// Days of stock left at `per_day` units a day (`None`: no sales, never runs out).
fn days_left(stock: i64, per_day: f64) -> Option<f64> {
    (per_day > 0.0).then(|| round2((stock.max(0) as f64) / per_day))
}

/// `GET /inventory/stockout-prediction`: products that sold in the range, by days of stock left
/// at the range's average daily sales (soonest first, `limit` 20).
pub async fn stockout_prediction(c: Ctx) -> Res {
    let limit = c.query.limit(20, 200)? as usize;
    let store = &c.state.store;
    let (sales, stock) = tokio::try_join!(
        store.product_sales(c.scope().sales_lines(), true, 5000),
        store.stock_levels(c.shop, 5000)
    )
    .map_err(db)?;
    let days = c.range.days().len().max(1) as f64;
    let sales: HashMap<ObjectId, &ProductSales> = sales.iter().map(|s| (s.product, s)).collect();
    let mut rows: Vec<(f64, Value)> = stock
        .iter()
        .filter_map(|(id, name, sku, units)| {
            let sold = sales.get(id)?;
            let per_day = sold.quantity as f64 / days;
            let left = days_left(*units, per_day)?;
            Some((left, json!({
                "productId": id.to_hex(), "productName": name, "sku": sku, "currentStock": units,
                "averageDailySales": round2(per_day), "daysUntilStockout": left,
                "predictedStockoutDate": (c.now + Duration::minutes((left * 1440.0) as i64)).date_naive().to_string(),
                "urgency": if left <= 7.0 { "high" } else if left <= 14.0 { "medium" } else { "low" },
            })))
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(rows.into_iter().take(limit).map(|r| r.1).collect())
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
pub async fn stockout(c: Ctx, product: String) -> Res {
    let (id, name, stock, unlimited) = product_of(&c, &product).await?;
    let units = daily_units(&c, &c.range, id).await?;
    let per_day = ratio(units.iter().sum(), units.len() as f64);
    let left = if unlimited {
        None
    } else {
        days_left(stock, per_day)
    };
    Ok(json!({
        "productId": id.to_hex(), "productName": name, "currentStock": stock, "unlimited": unlimited,
        "averageDailySales": round2(per_day), "daysUntilStockout": left,
        "predictedStockoutDate": left.map(|l| (c.now + Duration::minutes((l * 1440.0) as i64)).date_naive().to_string()),
        "willStockOut": left.is_some(), "period": c.range.json(),
    }))
}

/// `GET /forecast/demand/:productId`: least-squares line through the product's daily units,
/// `days` (7) ahead.
pub async fn demand(c: Ctx, product: String) -> Res {
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
    let forecast: Vec<Value> = (1..=ahead)
        .map(|i| {
            let x = n - 1.0 + i as f64;
            json!({ "date": (start + Duration::days(i)).to_string(), "predictedUnits": round2(f.at(x).max(0.0)),
                "confidenceLower": round2((f.at(x) - f.margin(x)).max(0.0)), "confidenceUpper": round2(f.at(x).max(0.0) + f.margin(x)) })
        })
        .collect();
    let total: f64 = forecast
        .iter()
        .map(|v| v["predictedUnits"].as_f64().unwrap_or(0.0))
        .sum();
    let mean = ratio(units.iter().sum(), n);
    Ok(json!({
        "productId": id.to_hex(), "productName": name, "currentStock": stock, "forecast": forecast,
        "totalPredictedUnits": round2(total), "averageDailyUnits": round2(mean), "trend": f.trend(mean),
        "accuracy": round2(f.r2), "method": "linear_regression", "period": c.range.json(),
        "recommendedReorder": (total - stock as f64).max(0.0).ceil(),
    }))
}
