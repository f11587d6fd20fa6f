//! Analytics aggregation pipelines over the raw `orders` (contract §3.5) and `products` (§3.4)
//! documents. Everything is computed by the server; only grouped rows (at most one per bucket,
//! product, category or customer) come back. Orders are scoped by `items.store` (a store the
//! handler has checked the caller owns) and exclude `cancelled` and `refunded`. Dates bucket in
//! UTC. Operators used are all MongoDB ≥ 4.4 (`$dateToString`, `$hour`, `$isoWeek`, `$filter`,
//! `$map`, `$cond`, `$lookup`); FerretDB 1.x implements none of them.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use mongodb::bson::{Bson, DateTime, Document, doc, oid::ObjectId};

use super::{
    Store, match_stages,
    order_analytics::{SalesLines, line_revenue, own_units},
};

/// Statuses aggregations ignore.
pub const EXCLUDED_STATUSES: [&str; 2] = ["cancelled", "refunded"];

/// Which orders an aggregation reads: one store, `[start, end)`.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// The (owned) shop.
    pub shop: ObjectId,
    /// Inclusive start.
    pub start: DateTime,
    /// Exclusive end.
    pub end: DateTime,
}

impl Scope {
    /// The store's lines of the orders in scope, for [`Store::product_sales`].
    pub fn sales_lines(self) -> SalesLines {
        SalesLines {
            orders: orders_match(self),
            stores: vec![self.shop],
            current_from: None,
        }
    }
}

/// What `GET /comparison` compares: `(a, b)` pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodComparison {
    /// Sales totals.
    pub totals: (Bucket, Bucket),
    /// Customers ([`Store::customer_rows`] rows).
    pub customers: (i64, i64),
}

/// A time bucket of sales.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// Bucket key (`"2026-11-20"`, an hour, a weekday…).
    pub key: BucketKey,
    /// Sum of `totals.total`.
    pub revenue: f64,
    /// Orders.
    pub orders: i64,
    /// Units of this store's items.
    pub items: i64,
}

/// The key of a time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketKey {
    /// A formatted day or month.
    Text(String),
    /// An hour, weekday, day of month or month.
    Number(i64),
    /// An ISO week.
    Week {
        /// ISO week-numbering year.
        year: i32,
        /// Week 1..53.
        week: u32,
    },
    /// No key (an ungrouped total).
    None,
}

impl BucketKey {
    /// The key of a group `_id`.
    pub fn of(b: Option<&Bson>) -> Self {
        let small = |b: &Bson| b.as_i32().map(i64::from).or(b.as_i64());
        match b {
            Some(Bson::String(s)) => Self::Text(s.clone()),
            Some(Bson::Document(d)) => {
                let field = |k| d.get(k).and_then(small);
                match (field("y"), field("w")) {
                    (Some(y), Some(w)) => Self::Week {
                        year: y as i32,
                        week: w as u32,
                    },
                    _ => Self::None,
                }
            }
            Some(other) => small(other).map_or(Self::None, Self::Number),
            None => Self::None,
        }
    }

    /// The text of a day or month key.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The number of an hour/weekday/day/month key (-1 for other keys).
    pub fn number(&self) -> i64 {
        match self {
            Self::Number(n) => *n,
            _ => -1,
        }
    }
}

/// How to bucket orders in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeKey {
    /// `YYYY-MM-DD`.
    Day,
    /// `{year, week}` (ISO).
    IsoWeek,
    /// `YYYY-MM`.
    Month,
    /// 0..23.
    Hour,
    /// 1 (Sunday)..7.
    DayOfWeek,
    /// 1..31.
    DayOfMonth,
    /// 1..12.
    MonthOfYear,
}

impl TimeKey {
    fn expr(self) -> Bson {
        self.expr_of("$createdAt")
    }

    /// The key of the date at `date` (a field path), as a group `_id` expression.
    pub fn expr_of(self, date: &str) -> Bson {
        let b = match self {
            Self::Day => doc! { "$dateToString": { "format": "%Y-%m-%d", "date": date } },
            Self::Month => doc! { "$dateToString": { "format": "%Y-%m", "date": date } },
            Self::IsoWeek => doc! { "y": { "$isoWeekYear": date }, "w": { "$isoWeek": date } },
            Self::Hour => doc! { "$hour": date },
            Self::DayOfWeek => doc! { "$dayOfWeek": date },
            Self::DayOfMonth => doc! { "$dayOfMonth": date },
            Self::MonthOfYear => doc! { "$month": date },
        };
        Bson::Document(b)
    }
}

/// A category's sales.
#[derive(Debug, Clone, PartialEq)]
pub struct CategorySales {
    /// Category id (`None`: products no longer in the catalogue).
    pub category: Option<ObjectId>,
    /// Line revenue.
    pub revenue: f64,
    /// Units.
    pub quantity: i64,
    /// Distinct orders.
    pub orders: i64,
}

/// One customer's orders up to the scope's end.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRow {
    /// `orders.user` as text (24-hex for ids).
    pub user: String,
    /// Orders (lifetime up to the end).
    pub orders: i64,
    /// Revenue (lifetime up to the end).
    pub revenue: f64,
    /// Orders inside the scope.
    pub orders_in_range: i64,
    /// First order.
    pub first: DateTime,
    /// Last order.
    pub last: DateTime,
}

/// A product low on or out of stock.
#[derive(Debug, Clone, PartialEq)]
pub struct StockItem {
    /// Id (24-hex).
    pub id: String,
    /// Name.
    pub name: String,
    /// SKU.
    pub sku: String,
    /// Units on hand.
    pub stock: i64,
    /// Low-stock threshold (5 when unset).
    pub low_stock_threshold: i64,
    /// First image URL.
    pub image: Option<String>,
}

fn stock_item(d: &Document) -> StockItem {
    let inv = d.get_document("inventory").cloned().unwrap_or_default();
    StockItem {
        id: d
            .get_object_id("_id")
            .map(|i| i.to_hex())
            .unwrap_or_default(),
        name: d.get_str("name").unwrap_or_default().to_string(),
        sku: d.get_str("sku").unwrap_or_default().to_string(),
        stock: int(&inv, "stock"),
        low_stock_threshold: inv
            .get("lowStockThreshold")
            .map_or(5, |_| int(&inv, "lowStockThreshold")),
        image: d
            .get_array("images")
            .ok()
            .and_then(|a| a.first())
            .and_then(|b| b.as_str())
            .map(str::to_string),
    }
}

/// Stock levels of a store's products.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StockCounts {
    /// Live products.
    pub total: i64,
    /// Out of stock (≤ 0, not unlimited).
    pub out: i64,
    /// 0 < stock ≤ threshold, not unlimited.
    pub low: i64,
    /// Stock > 100.
    pub overstocked: i64,
}

/// Number at `key` of any BSON numeric type (0 when absent).
pub fn num(d: &Document, key: &str) -> f64 {
    match d.get(key) {
        Some(Bson::Double(v)) => *v,
        Some(Bson::Int32(v)) => f64::from(*v),
        Some(Bson::Int64(v)) => *v as f64,
        _ => 0.0,
    }
}

/// Integer at `key` (0 when absent).
pub fn int(d: &Document, key: &str) -> i64 {
    num(d, key).round() as i64
}

fn orders_match(s: Scope) -> Document {
    doc! {
        "items.store": s.shop,
        "createdAt": { "$gte": s.start, "$lt": s.end },
        "status": { "$nin": EXCLUDED_STATUSES.to_vec() },
    }
}

fn live_products(store: ObjectId) -> Document {
    doc! { "store": store, "isDeleted": { "$ne": true } }
}

impl Store {
    async fn aggregate(
        &self,
        collection: &str,
        pipeline: Vec<Document>,
    ) -> mongodb::error::Result<Vec<Document>> {
        self.db()
            .collection::<Document>(collection)
            .aggregate(pipeline)
            .await?
            .try_collect()
            .await
    }

    /// Revenue, orders and units in scope.
    pub async fn sales_totals_from_orders(&self, s: Scope) -> mongodb::error::Result<Bucket> {
        let rows = self
            .aggregate("orders", sales_pipeline(s, Bson::Null))
            .await?;
        Ok(totals_row(&rows))
    }

    /// The number of customers ([`Store::customer_rows`] rows) of two scopes of one store, in
    /// one pass (a `$facet`). Customer figures are lifetime up to each end, so they read the
    /// orders (not the sales rollups).
    pub async fn customer_counts_pair(
        &self,
        a: Scope,
        b: Scope,
    ) -> mongodb::error::Result<(i64, i64)> {
        let f = self
            .facet(
                "orders",
                customers_spanning(a, b),
                vec![
                    ("ca", customer_count_pipeline(a)),
                    ("cb", customer_count_pipeline(b)),
                ],
            )
            .await?;
        let count = |k: &str| f.rows(k).first().map_or(0, |d| int(d, "n"));
        Ok((count("ca"), count("cb")))
    }

    /// Sales grouped by a time key, sorted by key.
    pub async fn sales_buckets_from_orders(
        &self,
        s: Scope,
        key: TimeKey,
    ) -> mongodb::error::Result<Vec<Bucket>> {
        let rows = self
            .aggregate("orders", sales_pipeline(s, key.expr()))
            .await?;
        Ok(bucket_rows(&rows))
    }

    /// Sales grouped by a field of the order (`payment.method`, `couponCode`), largest revenue
    /// first; orders without the field are left out.
    pub async fn sales_by_field_from_orders(
        &self,
        s: Scope,
        field: &str,
    ) -> mongodb::error::Result<Vec<(String, Bucket, f64)>> {
        let mut pipeline = match_stages(orders_match(s));
        pipeline.extend([
            doc! { "$match": { field: { "$exists": true, "$nin": [Bson::Null, ""] } } },
            doc! { "$group": {
                "_id": format!("${field}"), "revenue": { "$sum": "$totals.total" }, "orders": { "$sum": 1 },
                "discount": { "$sum": "$totals.discount" },
            } },
            doc! { "$sort": { "revenue": -1, "_id": 1 } },
        ]);
        let rows = self.aggregate("orders", pipeline).await?;
        Ok(rows
            .iter()
            .map(|d| {
                let key = d
                    .get("_id")
                    .map(|b| b.as_str().map_or_else(|| b.to_string(), str::to_string))
                    .unwrap_or_default();
                let bucket = Bucket {
                    key: BucketKey::Text(key.clone()),
                    revenue: num(d, "revenue"),
                    orders: int(d, "orders"),
                    items: 0,
                };
                (key, bucket, num(d, "discount"))
            })
            .collect())
    }

    /// Sums of every `totals.*` money field in scope (by field name), and `orders`.
    pub async fn totals_breakdown_from_orders(
        &self,
        s: Scope,
    ) -> mongodb::error::Result<BTreeMap<&'static str, f64>> {
        let mut group = doc! { "_id": Bson::Null, "orders": { "$sum": 1 } };
        for f in TOTAL_FIELDS {
            group.insert(f, doc! { "$sum": format!("$totals.{f}") });
        }
        let rows = self
            .aggregate(
                "orders",
                [
                    match_stages(orders_match(s)),
                    vec![doc! { "$group": group }],
                ]
                .concat(),
            )
            .await?;
        let row = rows.into_iter().next().unwrap_or_default();
        Ok(TOTAL_FIELDS
            .iter()
            .chain(&["orders"])
            .map(|f| (*f, num(&row, f)))
            .collect())
    }

    /// Sales per product category (via `$lookup` on the sold products).
    pub async fn category_sales(&self, s: Scope) -> mongodb::error::Result<Vec<CategorySales>> {
        let mut pipeline = match_stages(orders_match(s));
        pipeline.extend([
            doc! { "$unwind": "$items" },
            doc! { "$match": { "items.store": s.shop } },
            doc! { "$group": {
                "_id": { "p": "$items.product", "o": "$_id" },
                "quantity": { "$sum": "$items.quantity" }, "revenue": { "$sum": line_revenue() },
            } },
            // One lookup per sold product, not per order line.
            doc! { "$group": { "_id": "$_id.p", "lines": { "$push": { "o": "$_id.o", "q": "$quantity", "r": "$revenue" } } } },
            doc! { "$lookup": { "from": "products", "localField": "_id", "foreignField": "_id", "as": "product" } },
            // `$unwind` rather than `"$product.category"` on the array: SecantusDB does not
            // resolve field paths through arrays inside expressions.
            doc! { "$unwind": { "path": "$product", "preserveNullAndEmptyArrays": true } },
            doc! { "$project": { "lines": 1, "category": "$product.category" } },
            doc! { "$unwind": "$lines" },
            doc! { "$group": {
                "_id": { "c": "$category", "o": "$lines.o" },
                "quantity": { "$sum": "$lines.q" }, "revenue": { "$sum": "$lines.r" },
            } },
            doc! { "$group": {
                "_id": "$_id.c", "quantity": { "$sum": "$quantity" }, "revenue": { "$sum": "$revenue" }, "orders": { "$sum": 1 },
            } },
            doc! { "$sort": { "revenue": -1 } },
        ]);
        let rows = self.aggregate("orders", pipeline).await?;
        Ok(rows
            .iter()
            .map(|d| CategorySales {
                category: d.get_object_id("_id").ok(),
                revenue: num(d, "revenue"),
                quantity: int(d, "quantity"),
                orders: int(d, "orders"),
            })
            .collect())
    }

    /// Live products per category of a store.
    pub async fn products_per_category(
        &self,
        store: ObjectId,
    ) -> mongodb::error::Result<Vec<(ObjectId, i64, String)>> {
        let pipeline = vec![
            doc! { "$match": live_products(store) },
            doc! { "$group": { "_id": "$category", "n": { "$sum": 1 } } },
            doc! { "$lookup": { "from": "categories", "localField": "_id", "foreignField": "_id", "as": "c" } },
            doc! { "$unwind": { "path": "$c", "preserveNullAndEmptyArrays": true } },
            doc! { "$project": { "n": 1, "name": "$c.name" } },
        ];
        let rows = self.aggregate("products", pipeline).await?;
        Ok(rows
            .iter()
            .filter_map(|d| {
                Some((
                    d.get_object_id("_id").ok()?,
                    int(d, "n"),
                    d.get_str("name").unwrap_or("Uncategorized").to_string(),
                ))
            })
            .collect())
    }

    /// One row per customer who ordered from the store before `s.end` (lifetime figures), with
    /// the orders inside the scope counted separately; sorted by revenue, paged when asked.
    pub async fn customer_rows(
        &self,
        s: Scope,
        page: Option<(u64, i64)>,
    ) -> mongodb::error::Result<Vec<CustomerRow>> {
        let rows = self
            .aggregate("orders", customer_rows_pipeline(s, page))
            .await?;
        Ok(customer_rows_of(&rows))
    }

    /// One page of [`Store::customer_rows`] and the number of all its rows, in one pass.
    pub async fn customer_page(
        &self,
        s: Scope,
        skip: u64,
        limit: i64,
    ) -> mongodb::error::Result<(Vec<CustomerRow>, i64)> {
        let f = self
            .facet(
                "orders",
                customer_match(s),
                vec![
                    ("rows", customer_rows_pipeline(s, Some((skip, limit)))),
                    ("count", customer_count_pipeline(s)),
                ],
            )
            .await?;
        let total = f.rows("count").first().map_or(0, |d| int(d, "n"));
        Ok((customer_rows_of(&f.rows("rows")), total))
    }

    /// Stock level counts of a store's live products.
    pub async fn stock_counts(&self, store: ObjectId) -> mongodb::error::Result<StockCounts> {
        let limited = doc! { "$ne": ["$inventory.unlimited", true] };
        let stock = "$inventory.stock";
        let threshold = doc! { "$ifNull": ["$inventory.lowStockThreshold", 5] };
        let count = |cond: Document| doc! { "$sum": { "$cond": [cond, 1, 0] } };
        let pipeline = vec![
            doc! { "$match": live_products(store) },
            doc! { "$group": {
                "_id": Bson::Null, "total": { "$sum": 1 },
                "out": count(doc! { "$and": [limited.clone(), { "$lte": [stock, 0] }] }),
                "low": count(doc! { "$and": [limited, { "$gt": [stock, 0] }, { "$lte": [stock, threshold] }] }),
                "over": count(doc! { "$gt": [stock, 100] }),
            } },
        ];
        let rows = self.aggregate("products", pipeline).await?;
        Ok(rows
            .first()
            .map_or_else(StockCounts::default, |d| StockCounts {
                total: int(d, "total"),
                out: int(d, "out"),
                low: int(d, "low"),
                overstocked: int(d, "over"),
            }))
    }

    /// Up to `limit` live products of a store, fewest units first: out of stock (`out`) or low.
    pub async fn stock_items(
        &self,
        store: ObjectId,
        out: bool,
        limit: i64,
    ) -> mongodb::error::Result<Vec<StockItem>> {
        let mut filter = live_products(store);
        filter.insert("inventory.unlimited", doc! { "$ne": true });
        if out {
            filter.insert("inventory.stock", doc! { "$lte": 0 });
        } else {
            filter.insert("inventory.stock", doc! { "$gt": 0 });
            filter.insert("$expr", doc! { "$lte": ["$inventory.stock", { "$ifNull": ["$inventory.lowStockThreshold", 5] }] });
        }
        self.db()
            .collection::<Document>("products")
            .find(filter)
            .projection(doc! { "name": 1, "sku": 1, "inventory.stock": 1, "inventory.lowStockThreshold": 1, "images": 1, "category": 1 })
            .sort(doc! { "inventory.stock": 1, "_id": 1 })
            .limit(limit)
            .await?
            .try_collect::<Vec<Document>>()
            .await
            .map(|docs| docs.iter().map(stock_item).collect())
    }

    /// Live, stock-tracked products of a store: `(id, name, sku, stock)`, up to `limit`.
    pub async fn stock_levels(
        &self,
        store: ObjectId,
        limit: i64,
    ) -> mongodb::error::Result<Vec<(ObjectId, String, String, i64)>> {
        let mut filter = live_products(store);
        filter.insert("inventory.unlimited", doc! { "$ne": true });
        let docs: Vec<Document> = self
            .db()
            .collection::<Document>("products")
            .find(filter)
            .projection(doc! { "name": 1, "sku": 1, "inventory.stock": 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| {
                let stock = d
                    .get_document("inventory")
                    .map(|i| int(i, "stock"))
                    .unwrap_or(0);
                Some((
                    d.get_object_id("_id").ok()?,
                    d.get_str("name").unwrap_or_default().to_string(),
                    d.get_str("sku").unwrap_or_default().to_string(),
                    stock,
                ))
            })
            .collect())
    }

    /// A live product of a store: `(name, stock, unlimited)`.
    pub async fn shop_product(
        &self,
        store: ObjectId,
        id: ObjectId,
    ) -> mongodb::error::Result<Option<(String, i64, bool)>> {
        let mut filter = live_products(store);
        filter.insert("_id", id);
        let d = self
            .db()
            .collection::<Document>("products")
            .find_one(filter)
            .await?;
        Ok(d.map(|d| {
            let inv = d.get_document("inventory").cloned().unwrap_or_default();
            (
                d.get_str("name").unwrap_or_default().to_string(),
                int(&inv, "stock"),
                inv.get_bool("unlimited").unwrap_or(false),
            )
        }))
    }

    /// Daily units of one product in scope: `("YYYY-MM-DD", units)`.
    pub async fn product_daily_units_from_orders(
        &self,
        s: Scope,
        product: ObjectId,
    ) -> mongodb::error::Result<Vec<(String, i64)>> {
        let mut m = orders_match(s);
        m.insert("items.product", product);
        let mut pipeline = match_stages(m);
        pipeline.extend([
            doc! { "$unwind": "$items" },
            doc! { "$match": { "items.store": s.shop, "items.product": product } },
            doc! { "$group": { "_id": TimeKey::Day.expr(), "q": { "$sum": "$items.quantity" } } },
            doc! { "$sort": { "_id": 1 } },
        ]);
        let rows = self.aggregate("orders", pipeline).await?;
        Ok(rows
            .iter()
            .filter_map(|d| Some((d.get_str("_id").ok()?.to_string(), int(d, "q"))))
            .collect())
    }

    /// Orders of the store with a given status (any date).
    pub async fn count_orders_with_status(
        &self,
        store: ObjectId,
        status: &str,
    ) -> mongodb::error::Result<u64> {
        self.db()
            .collection::<Document>("orders")
            .count_documents(doc! { "items.store": store, "status": status })
            .await
    }
}

/// Money fields of `totals` summed by [`Store::totals_breakdown`].
pub const TOTAL_FIELDS: [&str; 10] = [
    "subtotal",
    "tax",
    "delivery",
    "discount",
    "lockFeeDiscount",
    "cashback",
    "total",
    "paidAmount",
    "refundAmount",
    "platformFee",
];

/// Orders a customer's lifetime figures read: the store's, before the scope's end.
fn customer_match(s: Scope) -> Document {
    doc! {
        "items.store": s.shop, "createdAt": { "$lt": s.end },
        "status": { "$nin": EXCLUDED_STATUSES.to_vec() },
    }
}

fn customer_pipeline(s: Scope) -> Vec<Document> {
    let mut pipeline = match_stages(customer_match(s));
    pipeline.push(doc! { "$group": {
        "_id": "$user", "orders": { "$sum": 1 }, "revenue": { "$sum": "$totals.total" },
        "first": { "$min": "$createdAt" }, "last": { "$max": "$createdAt" },
        "inRange": { "$sum": { "$cond": [{ "$gte": ["$createdAt", s.start] }, 1, 0] } },
    } });
    pipeline
}

fn customer_rows_pipeline(s: Scope, page: Option<(u64, i64)>) -> Vec<Document> {
    let mut pipeline = customer_pipeline(s);
    pipeline.push(doc! { "$sort": { "revenue": -1, "_id": 1 } });
    if let Some((skip, limit)) = page {
        pipeline.push(doc! { "$skip": skip as i64 });
        pipeline.push(doc! { "$limit": limit });
    }
    pipeline
}

/// The number of customers [`Store::customer_rows`] would return, as `{n}`.
fn customer_count_pipeline(s: Scope) -> Vec<Document> {
    let mut pipeline = customer_pipeline(s);
    pipeline.push(doc! { "$count": "n" });
    pipeline
}

fn customer_rows_of(rows: &[Document]) -> Vec<CustomerRow> {
    rows.iter()
        .filter_map(|d| {
            Some(CustomerRow {
                user: match d.get("_id") {
                    Some(Bson::ObjectId(o)) => o.to_hex(),
                    Some(Bson::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => Bson::Null.to_string(),
                },
                orders: int(d, "orders"),
                revenue: num(d, "revenue"),
                orders_in_range: int(d, "inRange"),
                first: *d.get_datetime("first").ok()?,
                last: *d.get_datetime("last").ok()?,
            })
        })
        .collect()
}

/// Revenue, orders and units of a scope grouped by `key` (`null`: one row), sorted by key.
/// `$project` early: only the key, the total and the store's units travel on.
fn sales_pipeline(s: Scope, key: Bson) -> Vec<Document> {
    let mut pipeline = match_stages(orders_match(s));
    pipeline.extend([
        doc! { "$project": { "k": key, "t": { "$ifNull": ["$totals.total", 0] }, "n": own_units(&[s.shop]) } },
        doc! { "$group": { "_id": "$k", "revenue": { "$sum": "$t" }, "orders": { "$sum": 1 }, "items": { "$sum": "$n" } } },
        doc! { "$sort": { "_id": 1 } },
    ]);
    pipeline
}

fn bucket_rows(rows: &[Document]) -> Vec<Bucket> {
    rows.iter()
        .map(|d| Bucket {
            key: BucketKey::of(d.get("_id")),
            revenue: num(d, "revenue"),
            orders: int(d, "orders"),
            items: int(d, "items"),
        })
        .collect()
}

/// The single row of an ungrouped [`sales_pipeline`] (zeros when nothing matched).
fn totals_row(rows: &[Document]) -> Bucket {
    bucket_rows(rows).into_iter().next().unwrap_or(Bucket {
        key: BucketKey::None,
        revenue: 0.0,
        orders: 0,
        items: 0,
    })
}

/// The common `$match` of two scopes' customer figures (lifetime up to each end): the store's
/// orders before the later end, the excluded statuses.
fn customers_spanning(a: Scope, b: Scope) -> Document {
    doc! {
        "items.store": a.shop, "createdAt": { "$lt": a.end.max(b.end) },
        "status": { "$nin": EXCLUDED_STATUSES.to_vec() },
    }
}
