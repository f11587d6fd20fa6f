//! Dashboard aggregates (contract §2.2) computed by the server: one pass over the merchant's
//! orders per customer for the period-over-period cards, one pass over its products, the
//! cashback sums and the recent-activity reads.

use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc, oid::ObjectId};
use serde::Deserialize;

use super::{
    DateTime, Store,
    order_analytics::{
        Interval, NO_REVENUE, PeriodRow, ProductSales, SalesLines, by_period_pipeline,
        product_sales_pipeline, product_sales_rows,
    },
    orders::{OrderDoc, OrderScope},
    products::ProductDoc,
};

/// Order figures of the current period `[current, now]`, the previous one
/// `[previous, current)` and all time.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderSummary {
    /// Orders, all time.
    pub orders: i64,
    /// Revenue, all time.
    pub revenue: f64,
    /// Orders in the current period.
    pub cur_orders: i64,
    /// Orders in the previous period.
    pub prev_orders: i64,
    /// Revenue in the current period.
    pub cur_revenue: f64,
    /// Revenue in the previous period.
    pub prev_revenue: f64,
    /// Earning orders in the current period (average order value).
    pub cur_earning: i64,
    /// Earning orders in the previous period.
    pub prev_earning: i64,
    /// Delivered orders of the current period.
    pub cur_delivered: i64,
    /// Delivered orders of the previous period.
    pub prev_delivered: i64,
    /// Orders `placed`, all time.
    pub pending: i64,
    /// Orders `delivered`, all time.
    pub delivered: i64,
    /// Orders `cancelled`, all time.
    pub cancelled: i64,
    /// Distinct customers, all time.
    pub customers: i64,
    /// Customers ordering in the current period.
    pub cur_customers: i64,
    /// Customers ordering in the previous period.
    pub prev_customers: i64,
    /// Current-period customers who had ordered before it.
    pub returning: i64,
}

/// Product figures.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProductSummary {
    /// Live products.
    pub total: i64,
    /// Active ones.
    pub active: i64,
    /// At or below their own threshold (and not unlimited).
    pub low_stock: i64,
    /// Created in the current period.
    pub cur_created: i64,
    /// Created in the previous period.
    pub prev_created: i64,
}

/// Cashback figures of the merchant (`cashbackrequests`, contract §3.6).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CashbackSummary {
    /// Sum paid out.
    pub paid: f64,
    /// Sum requested and still pending or under review.
    pub pending: f64,
}

fn between(from: DateTime, to: Option<DateTime>) -> Bson {
    let mut parts = vec![Bson::Document(doc! { "$gte": ["$createdAt", from] })];
    if let Some(to) = to {
        parts.push(Bson::Document(doc! { "$lt": ["$createdAt", to] }));
    }
    Bson::Document(doc! { "$and": parts })
}

fn count_if(cond: Bson) -> Document {
    doc! { "$sum": { "$cond": [cond, 1, 0] } }
}

fn sum_if(cond: Bson, value: &str) -> Document {
    doc! { "$sum": { "$cond": [cond, { "$ifNull": [value, 0] }, 0] } }
}

fn and(a: Bson, b: Bson) -> Bson {
    Bson::Document(doc! { "$and": [a, b] })
}

/// Per-customer `$group` stage of the order summary.
fn per_customer(current: DateTime, previous: DateTime) -> Document {
    let cur = between(current, None);
    let prev = between(previous, Some(current));
    let earns = Bson::Document(doc! { "$not": [{ "$in": ["$status", NO_REVENUE.to_vec()] }] });
    let is = |s: &str| Bson::Document(doc! { "$eq": ["$status", s] });
    doc! { "$group": {
        "_id": "$user",
        "first": { "$min": "$createdAt" },
        "orders": { "$sum": 1 },
        "revenue": sum_if(earns.clone(), "$totals.total"),
        "curOrders": count_if(cur.clone()),
        "prevOrders": count_if(prev.clone()),
        "curRevenue": sum_if(and(cur.clone(), earns.clone()), "$totals.total"),
        "prevRevenue": sum_if(and(prev.clone(), earns.clone()), "$totals.total"),
        "curEarning": count_if(and(cur.clone(), earns.clone())),
        "prevEarning": count_if(and(prev.clone(), earns)),
        "curDelivered": count_if(and(cur, is("delivered"))),
        "prevDelivered": count_if(and(prev, is("delivered"))),
        "pending": count_if(is("placed")),
        "delivered": count_if(is("delivered")),
        "cancelled": count_if(is("cancelled")),
    } }
}

/// Second `$group`: totals over customers.
fn over_customers(current: DateTime) -> Document {
    let sum = |k: &str| doc! { "$sum": format!("${k}") };
    let mut g = doc! { "_id": Bson::Null, "customers": { "$sum": 1 } };
    for k in [
        "orders",
        "revenue",
        "curOrders",
        "prevOrders",
        "curRevenue",
        "prevRevenue",
        "curEarning",
        "prevEarning",
        "curDelivered",
        "prevDelivered",
        "pending",
        "delivered",
        "cancelled",
    ] {
        g.insert(k, sum(k));
    }
    g.insert(
        "curCustomers",
        count_if(Bson::Document(doc! { "$gt": ["$curOrders", 0] })),
    );
    g.insert(
        "prevCustomers",
        count_if(Bson::Document(doc! { "$gt": ["$prevOrders", 0] })),
    );
    g.insert(
        "returning",
        count_if(Bson::Document(doc! { "$and": [
            { "$gt": ["$curOrders", 0] }, { "$lt": ["$first", current] },
        ] })),
    );
    doc! { "$group": g }
}

/// The merchant's orders summed per customer, then over customers.
fn summary_pipeline(scope: &OrderScope, current: DateTime, previous: DateTime) -> Vec<Document> {
    vec![
        doc! { "$match": scope.filter() },
        per_customer(current, previous),
        over_customers(current),
    ]
}

/// What [`Store::overview_orders`] computes.
#[derive(Debug, Clone)]
pub struct OverviewQuery {
    /// Start of the current card period.
    pub current: DateTime,
    /// Start of the previous card period.
    pub previous: DateTime,
    /// `$match` of the chart's orders (earning ones are kept).
    pub chart: Document,
    /// Lines of the best sellers.
    pub top: SalesLines,
    /// Best sellers shown.
    pub top_limit: i64,
    /// Latest orders shown.
    pub recent_limit: i64,
}

/// The overview's order figures.
#[derive(Debug, Clone, Default)]
pub struct OverviewOrders {
    /// Period-over-period figures.
    pub summary: OrderSummary,
    /// Daily earning orders of the chart window, oldest first.
    pub chart: Vec<PeriodRow>,
    /// Best sellers by revenue.
    pub top: Vec<ProductSales>,
    /// Latest orders, newest first.
    pub recent: Vec<OrderDoc>,
}

impl Store {
    /// Order figures over all the merchant's orders (two `$group` stages on the server).
    pub async fn order_summary(
        &self,
        scope: &OrderScope,
        current: DateTime,
        previous: DateTime,
    ) -> mongodb::error::Result<OrderSummary> {
        let mut rows = self
            .db
            .collection::<Document>("orders")
            .aggregate(summary_pipeline(scope, current, previous))
            .with_type::<OrderSummary>()
            .await?;
        Ok(rows.try_next().await?.unwrap_or_default())
    }

    /// The overview's order figures (summary, chart, best sellers, latest orders) in one pass
    /// over the merchant's orders (a `$facet`) instead of four.
    pub async fn overview_orders(
        &self,
        scope: &OrderScope,
        q: OverviewQuery,
    ) -> mongodb::error::Result<OverviewOrders> {
        let OverviewQuery {
            current,
            previous,
            chart,
            top,
            top_limit,
            recent_limit,
        } = q;
        let f = self
            .facet(
                "orders",
                scope.filter(),
                vec![
                    ("summary", summary_pipeline(scope, current, previous)),
                    (
                        "chart",
                        by_period_pipeline(&scope.shops, chart, Interval::Day),
                    ),
                    ("top", product_sales_pipeline(top, false, top_limit)),
                    (
                        "recent",
                        vec![
                            doc! { "$sort": { "createdAt": -1, "_id": -1 } },
                            doc! { "$limit": recent_limit },
                        ],
                    ),
                ],
            )
            .await?;
        Ok(OverviewOrders {
            summary: f.typed("summary")?.pop().unwrap_or_default(),
            chart: f.typed("chart")?,
            top: product_sales_rows(&f.rows("top")),
            recent: f.typed("recent")?,
        })
    }

    /// Product figures of the merchant (optionally one store).
    pub async fn product_summary(
        &self,
        merchant: ObjectId,
        store: Option<ObjectId>,
        current: DateTime,
        previous: DateTime,
    ) -> mongodb::error::Result<ProductSummary> {
        let mut m = doc! { "merchantId": merchant, "isDeleted": { "$ne": true } };
        if let Some(s) = store {
            m.insert("store", s);
        }
        let low = Bson::Document(doc! { "$and": [
            { "$ne": [{ "$ifNull": ["$inventory.unlimited", false] }, true] },
            { "$lte": ["$inventory.stock", "$inventory.lowStockThreshold"] },
        ] });
        let pipeline = vec![
            doc! { "$match": m },
            doc! { "$group": {
                "_id": Bson::Null, "total": { "$sum": 1 },
                "active": count_if(Bson::Document(doc! { "$eq": ["$isActive", true] })),
                "lowStock": count_if(low),
                "curCreated": count_if(between(current, None)),
                "prevCreated": count_if(between(previous, Some(current))),
            } },
        ];
        let mut rows = self
            .db
            .collection::<Document>("products")
            .aggregate(pipeline)
            .with_type::<ProductSummary>()
            .await?;
        Ok(rows.try_next().await?.unwrap_or_default())
    }

    /// Cashback paid and pending for the merchant (its id is stored as a string, §3.6).
    pub async fn cashback_summary(
        &self,
        merchant: ObjectId,
    ) -> mongodb::error::Result<CashbackSummary> {
        let pending = Bson::Document(doc! { "$in": ["$status", ["pending", "under_review"]] });
        let paid = Bson::Document(doc! { "$eq": ["$status", "paid"] });
        let pipeline = vec![
            doc! { "$match": { "merchantId": merchant.to_hex() } },
            doc! { "$group": {
                "_id": Bson::Null,
                "paid": { "$sum": { "$cond": [paid, { "$ifNull": ["$paidAmount", { "$ifNull": ["$approvedAmount", 0] }] }, 0] } },
                "pending": sum_if(pending, "$requestedAmount"),
            } },
        ];
        let mut rows = self
            .db
            .collection::<Document>("cashbackrequests")
            .aggregate(pipeline)
            .with_type::<CashbackSummary>()
            .await?;
        Ok(rows.try_next().await?.unwrap_or_default())
    }

    /// The latest orders with lines in `stores` (any status), newest first (dashboard feed,
    /// analytics real-time). Looked for in the last hour, day and month first: the newest
    /// `limit` of a window holding at least `limit` orders are the newest of all. On MongoDB the
    /// first window is already an index range; SecantusDB sorts every order it reads in Python
    /// (the unbounded query took 12 s over 100,000 orders, the last hour a few ms).
    pub async fn recent_orders(
        &self,
        stores: &[ObjectId],
        limit: i64,
    ) -> mongodb::error::Result<Vec<OrderDoc>> {
        let now = DateTime::now().timestamp_millis();
        let windows = [3_600_000_i64, 86_400_000, 30 * 86_400_000].map(|w| Some(now - w));
        // One store by equality: SecantusDB uses no index for an `$in` (10 s against 46 ms).
        let shops = match stores {
            [one] => Bson::ObjectId(*one),
            many => doc! { "$in": many.to_vec() }.into(),
        };
        for since in windows.into_iter().chain([None]) {
            let mut filter = doc! { "items.store": shops.clone() };
            if let Some(since) = since {
                filter.insert("createdAt", doc! { "$gte": DateTime::from_millis(since) });
            }
            let orders: Vec<OrderDoc> = self
                .orders()
                .find(filter)
                .sort(doc! { "createdAt": -1, "_id": -1 })
                .limit(limit)
                .await?
                .try_collect()
                .await?;
            if orders.len() as i64 >= limit || since.is_none() {
                return Ok(orders);
            }
        }
        Ok(Vec::new())
    }

    /// The merchant's most recently changed products (optionally one store).
    pub async fn recent_products(
        &self,
        merchant: ObjectId,
        store: Option<ObjectId>,
        limit: i64,
    ) -> mongodb::error::Result<Vec<ProductDoc>> {
        let mut f = doc! { "merchantId": merchant, "isDeleted": { "$ne": true } };
        if let Some(s) = store {
            f.insert("store", s);
        }
        self.products()
            .find(f)
            .sort(doc! { "updatedAt": -1, "_id": -1 })
            .limit(limit)
            .await?
            .try_collect()
            .await
    }

    /// Products by id (merchant-scoped), for decorating sales rows.
    pub async fn products_by_ids(
        &self,
        merchant: ObjectId,
        ids: Vec<ObjectId>,
    ) -> mongodb::error::Result<Vec<ProductDoc>> {
        self.products()
            .find(doc! { "_id": { "$in": ids }, "merchantId": merchant })
            .await?
            .try_collect()
            .await
    }
}
