//! Order aggregates computed by the server (aggregation pipelines, never loading orders into
//! the process): `GET /orders/analytics` and the pieces the dashboard shares. Revenue is the
//! sum of `totals.total` over orders that were not cancelled.

use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use serde::Deserialize;

use super::{
    DateTime, ObjectId, Store,
    analytics::{int, num},
    orders::OrderScope,
};

/// Statuses whose orders earn no revenue.
pub const NO_REVENUE: [&str; 1] = ["cancelled"];

/// Bucket size of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// `YYYY-MM-DD`.
    Day,
    /// The Monday of the ISO week, `YYYY-MM-DD`.
    Week,
    /// `YYYY-MM`.
    Month,
}

/// Per-status count and revenue.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusRow {
    /// Status.
    #[serde(rename = "_id")]
    pub status: Option<String>,
    /// Orders.
    pub count: i64,
    /// Sum of totals.
    pub revenue: f64,
    /// Sum of amounts paid.
    pub paid: f64,
}

/// One bucket of a series.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeriodRow {
    /// Bucket key (`YYYY-MM-DD` or `YYYY-MM`).
    #[serde(rename = "_id")]
    pub date: String,
    /// Orders.
    pub orders: i64,
    /// Revenue.
    pub revenue: f64,
    /// Units of the merchant's lines.
    #[serde(default)]
    pub items: i64,
}

/// A product's sales.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductSales {
    /// Product id.
    pub product: ObjectId,
    /// Name on the last line seen.
    pub name: String,
    /// Image on the last line seen.
    pub image: Option<String>,
    /// Units.
    pub quantity: i64,
    /// Line revenue.
    pub revenue: f64,
    /// Orders containing it.
    pub orders: i64,
    /// Units in the previous period (dashboard growth; 0 without one).
    pub previous_quantity: i64,
}

/// Which order lines [`Store::product_sales`] reads.
#[derive(Debug, Clone)]
pub struct SalesLines {
    /// `$match` of the orders (dates and statuses as the caller counts them).
    pub orders: Document,
    /// Stores whose lines count.
    pub stores: Vec<ObjectId>,
    /// Orders created before this count only as the previous period (`previous_quantity`);
    /// products sold only then are left out. `None`: every matched order is current.
    pub current_from: Option<DateTime>,
}

/// `$match` of the merchant's orders created in `[start, end]`.
pub fn in_range(scope: &OrderScope, start: DateTime, end: DateTime) -> Document {
    let mut f = scope.filter();
    f.insert("createdAt", doc! { "$gte": start, "$lte": end });
    f
}

/// The revenue-earning filter added to a `$match`.
pub fn earning(mut f: Document) -> Document {
    f.insert("status", doc! { "$nin": NO_REVENUE.to_vec() });
    f
}

/// Units of one order's lines in `stores`, as an expression.
pub fn own_units(stores: &[ObjectId]) -> Document {
    doc! { "$sum": { "$map": {
        "input": { "$filter": { "input": "$items", "as": "i", "cond": { "$in": ["$$i.store", stores.to_vec()] } } },
        "as": "i", "in": { "$ifNull": ["$$i.quantity", 0] },
    } } }
}

/// The bucket key of `$createdAt` for an interval.
pub fn bucket(interval: Interval) -> Document {
    match interval {
        Interval::Day => doc! { "$dateToString": { "format": "%Y-%m-%d", "date": "$createdAt" } },
        Interval::Week => doc! { "$dateToString": { "format": "%Y-%m-%d", "date": {
            "$dateTrunc": { "date": "$createdAt", "unit": "week", "startOfWeek": "monday" },
        } } },
        Interval::Month => doc! { "$dateToString": { "format": "%Y-%m", "date": "$createdAt" } },
    }
}

/// Revenue of one (unwound) order line: the stored subtotal, else price × quantity.
pub fn line_revenue() -> Bson {
    Bson::Document(
        doc! { "$ifNull": ["$items.subtotal", { "$multiply": ["$items.price", "$items.quantity"] }] },
    )
}

/// The product-sales pipeline (see [`Store::product_sales`]).
pub fn product_sales_pipeline(lines: SalesLines, by_quantity: bool, limit: i64) -> Vec<Document> {
    let SalesLines {
        orders,
        stores,
        current_from,
    } = lines;
    let mut pipeline = super::match_stages(orders);
    pipeline.extend([
        doc! { "$project": { "createdAt": 1, "items": 1 } },
        doc! { "$unwind": "$items" },
        doc! { "$match": { "items.store": { "$in": stores } } },
        doc! { "$group": per_order_group(current_from) },
        doc! { "$group": per_product_group(current_from) },
    ]);
    if current_from.is_some() {
        // Products sold only in the previous period are left out.
        pipeline.push(doc! { "$match": { "orders": { "$gt": 0 } } });
    }
    let sort = if by_quantity {
        doc! { "quantity": -1, "revenue": -1, "_id": 1 }
    } else {
        doc! { "revenue": -1, "quantity": -1, "_id": 1 }
    };
    pipeline.extend([doc! { "$sort": sort }, doc! { "$limit": limit }]);
    pipeline
}

/// One row per product and order: its units and revenue, and (with a previous period) whether
/// the order is current.
fn per_order_group(current_from: Option<DateTime>) -> Document {
    let mut per_order = doc! {
        "_id": { "p": "$items.product", "o": "$_id" },
        "name": { "$last": "$items.name" }, "image": { "$last": "$items.image" },
        "quantity": { "$sum": "$items.quantity" }, "revenue": { "$sum": line_revenue() },
    };
    if let Some(start) = current_from {
        // Every line of an order shares its `createdAt`.
        per_order.insert("cur", doc! { "$first": { "$gte": ["$createdAt", start] } });
    }
    per_order
}

/// One row per product: current units, revenue and orders, and the previous period's units.
fn per_product_group(current_from: Option<DateTime>) -> Document {
    // Whether a per-order row belongs to the current period (always, without a previous one).
    let current = |v: &str| match current_from {
        Some(_) => Bson::Document(doc! { "$cond": ["$cur", v, 0] }),
        None => Bson::String(v.into()),
    };
    let mut per_product = doc! {
        "_id": "$_id.p", "name": { "$last": "$name" }, "image": { "$last": "$image" },
        "quantity": { "$sum": current("$quantity") }, "revenue": { "$sum": current("$revenue") },
        "orders": { "$sum": match current_from {
            Some(_) => Bson::Document(doc! { "$cond": ["$cur", 1, 0] }),
            None => Bson::Int32(1),
        } },
    };
    if current_from.is_some() {
        per_product.insert(
            "previousQuantity",
            doc! { "$sum": { "$cond": ["$cur", 0, "$quantity"] } },
        );
    }
    per_product
}

async fn collect<T: serde::de::DeserializeOwned + Send + Sync>(
    store: &Store,
    pipeline: Vec<Document>,
) -> mongodb::error::Result<Vec<T>> {
    store
        .db
        .collection::<Document>("orders")
        .aggregate(pipeline)
        .with_type::<T>()
        .await?
        .try_collect()
        .await
}

/// Count, revenue and amount paid per status of the orders matching `m`.
fn by_status_pipeline(m: Document) -> Vec<Document> {
    vec![
        doc! { "$match": m },
        doc! { "$group": {
            "_id": "$status", "count": { "$sum": 1 },
            "revenue": { "$sum": { "$ifNull": ["$totals.total", 0] } },
            "paid": { "$sum": { "$ifNull": ["$totals.paidAmount", 0] } },
        } },
    ]
}

/// Orders, revenue and units of `stores` per bucket of the earning orders matching `m`.
pub fn by_period_pipeline(stores: &[ObjectId], m: Document, interval: Interval) -> Vec<Document> {
    vec![
        doc! { "$match": earning(m) },
        doc! { "$group": {
            "_id": bucket(interval), "orders": { "$sum": 1 },
            "revenue": { "$sum": { "$ifNull": ["$totals.total", 0] } },
            "items": { "$sum": own_units(stores) },
        } },
        doc! { "$sort": { "_id": 1 } },
    ]
}

/// Units of `stores`' lines over the earning orders matching `m`.
fn units_pipeline(stores: &[ObjectId], m: Document) -> Vec<Document> {
    vec![
        doc! { "$match": earning(m) },
        doc! { "$group": { "_id": Bson::Null, "units": { "$sum": own_units(stores) } } },
    ]
}

/// Rows of [`product_sales_pipeline`] as [`ProductSales`] (rows without a product id dropped).
pub fn product_sales_rows(rows: &[Document]) -> Vec<ProductSales> {
    rows.iter()
        .filter_map(|d| {
            Some(ProductSales {
                product: d.get_object_id("_id").ok()?,
                name: d.get_str("name").unwrap_or_default().to_string(),
                image: d.get_str("image").ok().map(str::to_string),
                quantity: int(d, "quantity"),
                revenue: num(d, "revenue"),
                orders: int(d, "orders"),
                previous_quantity: int(d, "previousQuantity"),
            })
        })
        .collect()
}

/// Everything `GET /orders/analytics` shows of the orders matching `m`.
#[derive(Debug, Clone, Default)]
pub struct OrderReport {
    /// Per status (all statuses).
    pub statuses: Vec<StatusRow>,
    /// Earning orders per bucket.
    pub series: Vec<PeriodRow>,
    /// Ten best sellers by revenue.
    pub top: Vec<ProductSales>,
    /// Units sold (earning orders).
    pub units: i64,
}

impl Store {
    /// The orders report of the orders matching `m` (one pass: a `$facet`).
    pub async fn order_report(
        &self,
        scope: &OrderScope,
        m: Document,
        interval: Interval,
    ) -> mongodb::error::Result<OrderReport> {
        let lines = SalesLines {
            orders: earning(m.clone()),
            stores: scope.shops.clone(),
            current_from: None,
        };
        let f = self
            .facet(
                "orders",
                m.clone(),
                vec![
                    ("statuses", by_status_pipeline(m.clone())),
                    (
                        "series",
                        by_period_pipeline(&scope.shops, m.clone(), interval),
                    ),
                    ("top", product_sales_pipeline(lines, false, 10)),
                    ("units", units_pipeline(&scope.shops, m)),
                ],
            )
            .await?;
        Ok(OrderReport {
            statuses: f.typed("statuses")?,
            series: f.typed("series")?,
            top: product_sales_rows(&f.rows("top")),
            units: f.rows("units").first().map_or(0, |d| int(d, "units")),
        })
    }

    /// Orders, revenue and the merchant's units per bucket of earning orders, oldest first.
    pub async fn orders_by_period(
        &self,
        scope: &OrderScope,
        m: Document,
        interval: Interval,
    ) -> mongodb::error::Result<Vec<PeriodRow>> {
        collect(self, by_period_pipeline(&scope.shops, m, interval)).await
    }

    /// Per-product sales of the matched lines, by revenue or quantity (ties: the other
    /// figure, then id), at most `limit`. Lines are summed per order first, so `orders` counts
    /// orders, not lines. The one product-sales pipeline (dashboard, orders and analytics).
    pub async fn product_sales(
        &self,
        lines: SalesLines,
        by_quantity: bool,
        limit: i64,
    ) -> mongodb::error::Result<Vec<ProductSales>> {
        let rows: Vec<Document> =
            collect(self, product_sales_pipeline(lines, by_quantity, limit)).await?;
        Ok(product_sales_rows(&rows))
    }
}
