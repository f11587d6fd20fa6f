//! Order aggregates computed by the server (aggregation pipelines, never loading orders into
//! the process): `GET /orders/analytics` and the pieces the dashboard shares. Revenue is the
//! sum of `totals.total` over orders that were not cancelled.

use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use serde::Deserialize;

use super::{DateTime, Store, orders::OrderScope};

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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductSales {
    /// Product id.
    #[serde(rename = "_id")]
    pub product: Bson,
    /// Name on the last line seen.
    #[serde(default)]
    pub name: String,
    /// Image on the last line seen.
    #[serde(default)]
    pub image: Option<String>,
    /// Units.
    pub quantity: i64,
    /// Line revenue.
    pub revenue: f64,
    /// Orders containing it.
    pub orders: i64,
    /// Units in the previous period (dashboard growth).
    #[serde(default)]
    pub previous_quantity: i64,
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

/// Units of the merchant's lines of one order, as an expression.
pub fn own_units(scope: &OrderScope) -> Document {
    doc! { "$sum": { "$map": {
        "input": { "$filter": { "input": "$items", "as": "i", "cond": { "$in": ["$$i.store", scope.stores.clone()] } } },
        "as": "i", "in": "$$i.quantity",
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

/// Line revenue: the stored subtotal, else price × quantity.
fn line_revenue() -> Bson {
    Bson::Document(
        doc! { "$ifNull": ["$items.subtotal", { "$multiply": ["$items.price", "$items.quantity"] }] },
    )
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

impl Store {
    /// Count, revenue and amount paid per status.
    pub async fn orders_by_status(&self, m: Document) -> mongodb::error::Result<Vec<StatusRow>> {
        collect(
            self,
            vec![
                doc! { "$match": m },
                doc! { "$group": {
                    "_id": "$status", "count": { "$sum": 1 },
                    "revenue": { "$sum": { "$ifNull": ["$totals.total", 0] } },
                    "paid": { "$sum": { "$ifNull": ["$totals.paidAmount", 0] } },
                } },
            ],
        )
        .await
    }

    /// Orders, revenue and the merchant's units per bucket of earning orders, oldest first.
    pub async fn orders_by_period(
        &self,
        scope: &OrderScope,
        m: Document,
        interval: Interval,
    ) -> mongodb::error::Result<Vec<PeriodRow>> {
        collect(
            self,
            vec![
                doc! { "$match": earning(m) },
                doc! { "$group": {
                    "_id": bucket(interval), "orders": { "$sum": 1 },
                    "revenue": { "$sum": { "$ifNull": ["$totals.total", 0] } },
                    "items": { "$sum": own_units(scope) },
                } },
                doc! { "$sort": { "_id": 1 } },
            ],
        )
        .await
    }

    /// Best-selling products of earning orders in `[previous, end]`: totals from `start`,
    /// plus units sold in `[previous, start)` for growth. Sorted by `sort_key` (`revenue` or
    /// `quantity`), at most `limit`.
    pub async fn product_sales(
        &self,
        scope: &OrderScope,
        previous: DateTime,
        start: DateTime,
        end: DateTime,
        sort_key: &str,
        limit: i64,
    ) -> mongodb::error::Result<Vec<ProductSales>> {
        let current = doc! { "$gte": ["$createdAt", start] };
        let cur = |v: Bson| Bson::Document(doc! { "$cond": [current.clone(), v, 0] });
        collect(self, vec![
            doc! { "$match": earning(in_range(scope, previous, end)) },
            doc! { "$unwind": "$items" },
            doc! { "$match": { "items.store": { "$in": scope.stores.clone() } } },
            doc! { "$group": {
                "_id": "$items.product",
                "name": { "$last": "$items.name" }, "image": { "$last": "$items.image" },
                "quantity": { "$sum": cur(Bson::String("$items.quantity".into())) },
                "revenue": { "$sum": cur(line_revenue()) },
                "orders": { "$sum": cur(Bson::Int32(1)) },
                "previousQuantity": { "$sum": { "$cond": [current.clone(), 0, "$items.quantity"] } },
            } },
            doc! { "$match": { "orders": { "$gt": 0 } } },
            doc! { "$sort": { sort_key: -1, "_id": 1 } },
            doc! { "$limit": limit },
        ])
        .await
    }

    /// Units of the merchant's lines over earning orders matching `m`.
    pub async fn units_sold(&self, scope: &OrderScope, m: Document) -> mongodb::error::Result<i64> {
        #[derive(Deserialize)]
        struct Row {
            units: i64,
        }
        let rows: Vec<Row> = collect(
            self,
            vec![
                doc! { "$match": earning(m) },
                doc! { "$group": { "_id": Bson::Null, "units": { "$sum": own_units(scope) } } },
            ],
        )
        .await?;
        Ok(rows.first().map_or(0, |r| r.units))
    }
}
