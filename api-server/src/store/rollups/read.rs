//! Rollup-backed analytics reads. Each report splits its range ([`plan`]): whole days and
//! hours are summed from rollup rows, the partial hours at either end are aggregated from the
//! orders by the report's raw pipeline (`store::analytics`), and the parts are merged. When the
//! rollups are not ready, the whole range is aggregated from the orders, as before.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use mongodb::bson::{Bson, DateTime, Document, doc, oid::ObjectId};

use super::{
    ROLLUPS,
    fold::{COUNTED, Grain, TOTAL_KEYS},
    plan::{Plan, plan},
};
use crate::store::{
    Store,
    analytics::{
        Bucket, BucketKey, EXCLUDED_STATUSES, PeriodComparison, Scope, TOTAL_FIELDS, TimeKey, int,
        num,
    },
    order_analytics::ProductSales,
};

type Res<T> = mongodb::error::Result<T>;

/// A `$limit` that keeps every product of a raw part (they are merged, then limited).
const ALL_PRODUCTS: i64 = 1_000_000_000;

/// The `$match` stages of a report's rows in one planned part: one store, dimension and grain
/// over a bucket range (an index range), then what else must hold in a stage of its own (see
/// `store::match_stages`). Total rows keep every status: the counted ones are filtered after
/// the index. Payment, coupon and product rows keep three status classes, of which the reports
/// count one ([`COUNTED`]), so it is part of their index range
/// (`salesrollups.store_dim_status_grain_time`: a month of product rows in 70 ms instead of 170
/// on the test server). One query per part: an `$or` of the parts makes the test server scan
/// every row (225 ms instead of 5 at 2,000 orders).
fn rows_match(
    shop: ObjectId,
    dim: &str,
    (grain, a, b): (Grain, i64, i64),
    key: Option<&Bson>,
) -> Vec<Document> {
    let range = doc! { "$gte": DateTime::from_millis(a), "$lt": DateTime::from_millis(b) };
    let (first, mut then) = if dim == "total" {
        (
            doc! { "s": shop, "d": dim, "g": grain.tag(), "t": range },
            doc! { "st": { "$nin": EXCLUDED_STATUSES.to_vec() } },
        )
    } else {
        (
            doc! { "s": shop, "d": dim, "st": COUNTED, "g": grain.tag(), "t": range },
            Document::new(),
        )
    };
    then.insert("n", doc! { "$gt": 0 });
    if let Some(k) = key {
        then.insert("k", k.clone());
    }
    vec![doc! { "$match": first }, doc! { "$match": then }]
}

/// The scope of a raw part of the range.
fn part(s: Scope, (a, b): (i64, i64)) -> Scope {
    Scope {
        shop: s.shop,
        start: DateTime::from_millis(a),
        end: DateTime::from_millis(b),
    }
}

/// How a key sorts (as the raw pipelines' `$sort: {_id: 1}` orders them).
fn key_order(k: &BucketKey) -> (u8, i64, String) {
    match k {
        BucketKey::None => (0, 0, String::new()),
        BucketKey::Number(n) => (1, *n, String::new()),
        BucketKey::Text(t) => (2, 0, t.clone()),
        BucketKey::Week { year, week } => {
            (3, i64::from(*year) * 100 + i64::from(*week), String::new())
        }
    }
}

/// Sum buckets with equal keys, sorted by key.
fn merge_buckets(parts: impl IntoIterator<Item = Bucket>) -> Vec<Bucket> {
    let mut by_key: BTreeMap<(u8, i64, String), Bucket> = BTreeMap::new();
    for b in parts {
        by_key
            .entry(key_order(&b.key))
            .and_modify(|m| {
                m.revenue += b.revenue;
                m.orders += b.orders;
                m.items += b.items;
            })
            .or_insert(b);
    }
    by_key.into_values().collect()
}

impl Store {
    /// The plan of a scope when the rollups can answer (after catching up), else `None`.
    async fn rollup_plan(&self, s: Scope, hours_only: bool) -> Res<Option<Plan>> {
        if !self.sync_rollups().await? {
            return Ok(None);
        }
        Ok(Some(plan(
            s.start.timestamp_millis(),
            s.end.timestamp_millis(),
            hours_only,
        )))
    }

    /// The rows of `dim` (of product `key`, if given) in each planned part, summarised by
    /// `stages`; the parts' results in time order, concatenated (callers merge equal keys).
    async fn aggregate_rows(
        &self,
        shop: ObjectId,
        dim: &str,
        plan: &Plan,
        key: Option<&Bson>,
        stages: Vec<Document>,
    ) -> Res<Vec<Document>> {
        let mut parts = plan.rows.clone();
        parts.sort_by_key(|p| p.1);
        let mut out = Vec::new();
        for part in parts {
            let mut pipeline = rows_match(shop, dim, part, key);
            pipeline.extend(stages.iter().cloned());
            let rows: Vec<Document> = self
                .db()
                .collection::<Document>(ROLLUPS)
                .aggregate(pipeline)
                .await?
                .try_collect()
                .await?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Revenue, orders and units in scope.
    pub async fn sales_totals(&self, s: Scope) -> Res<Bucket> {
        let rows = self.sales_buckets_keyed(s, None).await?;
        Ok(rows.into_iter().next().unwrap_or(Bucket {
            key: BucketKey::None,
            revenue: 0.0,
            orders: 0,
            items: 0,
        }))
    }

    /// [`Store::sales_totals`] of two scopes.
    pub async fn sales_totals_pair(&self, a: Scope, b: Scope) -> Res<(Bucket, Bucket)> {
        tokio::try_join!(self.sales_totals(a), self.sales_totals(b))
    }

    /// Sales totals and customer counts of two scopes of one store.
    pub async fn period_comparison(&self, a: Scope, b: Scope) -> Res<PeriodComparison> {
        let (totals, customers) = tokio::try_join!(
            self.sales_totals_pair(a, b),
            self.customer_counts_pair(a, b)
        )?;
        Ok(PeriodComparison { totals, customers })
    }

    /// Sales grouped by a time key, sorted by key.
    pub async fn sales_buckets(&self, s: Scope, key: TimeKey) -> Res<Vec<Bucket>> {
        self.sales_buckets_keyed(s, Some(key)).await
    }

    async fn sales_buckets_keyed(&self, s: Scope, key: Option<TimeKey>) -> Res<Vec<Bucket>> {
        let from_orders = |s| async move {
            match key {
                Some(k) => self.sales_buckets_from_orders(s, k).await,
                None => Ok(vec![self.sales_totals_from_orders(s).await?]),
            }
        };
        let Some(p) = self.rollup_plan(s, key == Some(TimeKey::Hour)).await? else {
            return from_orders(s).await;
        };
        let mut parts = Vec::new();
        for r in &p.raw {
            parts.extend(from_orders(part(s, *r)).await?);
        }
        if !p.rows.is_empty() {
            let group_key = key.map_or(Bson::Null, |k| k.expr_of("$t"));
            let rows = self
                .aggregate_rows(
                    s.shop,
                    "total",
                    &p,
                    None,
                    vec![doc! { "$group": {
                        "_id": group_key, "revenue": { "$sum": "$rev" },
                        "orders": { "$sum": "$n" }, "items": { "$sum": "$items" },
                    } }],
                )
                .await?;
            parts.extend(rows.iter().map(|d| Bucket {
                key: BucketKey::of(d.get("_id")),
                revenue: num(d, "revenue"),
                orders: int(d, "orders"),
                items: int(d, "items"),
            }));
        }
        let merged = merge_buckets(parts);
        // A raw total of an empty edge is a zero row; keyed reports list only buckets with orders.
        Ok(match key {
            Some(_) => merged.into_iter().filter(|b| b.orders > 0).collect(),
            None => merged,
        })
    }

    /// Sales grouped by `payment.method` or `couponCode`, largest revenue first:
    /// `(key, totals, discount)`.
    pub async fn sales_by_field(&self, s: Scope, field: &str) -> Res<Vec<(String, Bucket, f64)>> {
        let Some(p) = self.rollup_plan(s, false).await? else {
            return self.sales_by_field_from_orders(s, field).await;
        };
        let dim = if field == "couponCode" {
            "coupon"
        } else {
            "payment"
        };
        let mut by_key: BTreeMap<String, (f64, i64, f64)> = BTreeMap::new();
        let mut add = |k: String, rev: f64, n: i64, disc: f64| {
            let e = by_key.entry(k).or_default();
            e.0 += rev;
            e.1 += n;
            e.2 += disc;
        };
        for r in &p.raw {
            for (k, b, disc) in self.sales_by_field_from_orders(part(s, *r), field).await? {
                add(k, b.revenue, b.orders, disc);
            }
        }
        if !p.rows.is_empty() {
            let rows = self
                .aggregate_rows(
                    s.shop,
                    dim,
                    &p,
                    None,
                    vec![doc! { "$group": {
                        "_id": "$k", "revenue": { "$sum": "$rev" }, "orders": { "$sum": "$n" },
                        "discount": { "$sum": "$disc" },
                    } }],
                )
                .await?;
            for d in rows {
                let k = d.get_str("_id").unwrap_or_default().to_string();
                add(
                    k,
                    num(&d, "revenue"),
                    int(&d, "orders"),
                    num(&d, "discount"),
                );
            }
        }
        let mut out: Vec<(String, Bucket, f64)> = by_key
            .into_iter()
            .map(|(k, (revenue, orders, disc))| {
                let bucket = Bucket {
                    key: BucketKey::Text(k.clone()),
                    revenue,
                    orders,
                    items: 0,
                };
                (k, bucket, disc)
            })
            .collect();
        out.sort_by(|a, b| b.1.revenue.total_cmp(&a.1.revenue).then(a.0.cmp(&b.0)));
        Ok(out)
    }

    /// Sums of every `totals.*` money field in scope (by field name), and `orders`.
    pub async fn totals_breakdown(&self, s: Scope) -> Res<BTreeMap<&'static str, f64>> {
        let Some(p) = self.rollup_plan(s, false).await? else {
            return self.totals_breakdown_from_orders(s).await;
        };
        let mut sums: BTreeMap<&'static str, f64> = TOTAL_FIELDS
            .iter()
            .chain(&["orders"])
            .map(|f| (*f, 0.0))
            .collect();
        for r in &p.raw {
            for (f, v) in self.totals_breakdown_from_orders(part(s, *r)).await? {
                *sums.entry(f).or_default() += v;
            }
        }
        if !p.rows.is_empty() {
            let mut group = doc! { "_id": Bson::Null, "orders": { "$sum": "$n" } };
            for (f, stored) in TOTAL_FIELDS.iter().zip(TOTAL_KEYS) {
                group.insert(*f, doc! { "$sum": format!("${stored}") });
            }
            let rows = self
                .aggregate_rows(s.shop, "total", &p, None, vec![doc! { "$group": group }])
                .await?;
            for d in &rows {
                for f in TOTAL_FIELDS.iter().chain(&["orders"]) {
                    *sums.entry(f).or_default() += num(d, f);
                }
            }
        }
        Ok(sums)
    }

    /// Per-product sales of the store's lines in scope, by revenue or quantity (ties: the
    /// other figure, then id), at most `limit`.
    pub async fn shop_product_sales(
        &self,
        s: Scope,
        by_quantity: bool,
        limit: i64,
    ) -> Res<Vec<ProductSales>> {
        let Some(p) = self.rollup_plan(s, false).await? else {
            return self
                .product_sales(s.sales_lines(), by_quantity, limit)
                .await;
        };
        let mut by_product: BTreeMap<ObjectId, ProductSales> = BTreeMap::new();
        // Oldest part first, so the name and image of the latest sale win, as `$last` does.
        let mut raw = p.raw.clone();
        raw.sort();
        let (early, late): (Vec<_>, Vec<_>) = raw
            .into_iter()
            .partition(|r| p.rows.iter().all(|(_, a, _)| r.0 < *a));
        for r in early {
            merge_products(
                &mut by_product,
                self.product_sales(part(s, r).sales_lines(), by_quantity, ALL_PRODUCTS)
                    .await?,
            );
        }
        if !p.rows.is_empty() {
            let rows = self
                // No `$sort`: the first stage is a range of the (s, d, g, t) index, so rows
                // arrive oldest first and `$last` keeps the latest name (a `$sort` here cost the
                // test server 190 ms of 340 over a month of product rows).
                .aggregate_rows(s.shop, "product", &p, None, vec![
                    doc! { "$group": {
                        "_id": "$k", "quantity": { "$sum": "$q" }, "revenue": { "$sum": "$r" },
                        "orders": { "$sum": "$n" }, "name": { "$last": "$name" }, "image": { "$last": "$image" },
                    } },
                ])
                .await?;
            merge_products(
                &mut by_product,
                crate::store::order_analytics::product_sales_rows(&rows),
            );
        }
        for r in late {
            merge_products(
                &mut by_product,
                self.product_sales(part(s, r).sales_lines(), by_quantity, ALL_PRODUCTS)
                    .await?,
            );
        }
        let mut out: Vec<ProductSales> = by_product.into_values().collect();
        out.sort_by(|a, b| {
            let (first, second) = if by_quantity {
                (
                    (a.quantity as f64, b.quantity as f64),
                    (a.revenue, b.revenue),
                )
            } else {
                (
                    (a.revenue, b.revenue),
                    (a.quantity as f64, b.quantity as f64),
                )
            };
            first
                .1
                .total_cmp(&first.0)
                .then(second.1.total_cmp(&second.0))
                .then(a.product.cmp(&b.product))
        });
        out.truncate(limit.max(0) as usize);
        Ok(out)
    }

    /// Daily units of one product in scope: `("YYYY-MM-DD", units)`, oldest first.
    pub async fn product_daily_units(
        &self,
        s: Scope,
        product: ObjectId,
    ) -> Res<Vec<(String, i64)>> {
        let Some(p) = self.rollup_plan(s, false).await? else {
            return self.product_daily_units_from_orders(s, product).await;
        };
        let mut by_day: BTreeMap<String, f64> = BTreeMap::new();
        for r in &p.raw {
            for (day, q) in self
                .product_daily_units_from_orders(part(s, *r), product)
                .await?
            {
                *by_day.entry(day).or_default() += q as f64;
            }
        }
        if !p.rows.is_empty() {
            let product = Bson::ObjectId(product);
            let rows = self
                .aggregate_rows(s.shop, "product", &p, Some(&product), vec![
                    doc! { "$group": { "_id": TimeKey::Day.expr_of("$t"), "q": { "$sum": "$q" } } },
                ])
                .await?;
            for d in rows {
                if let Ok(day) = d.get_str("_id") {
                    *by_day.entry(day.to_string()).or_default() += num(&d, "q");
                }
            }
        }
        Ok(by_day
            .into_iter()
            .map(|(d, q)| (d, q.round() as i64))
            .collect())
    }
}

/// Add per-product figures; the name and image of the later part win.
fn merge_products(into: &mut BTreeMap<ObjectId, ProductSales>, rows: Vec<ProductSales>) {
    for r in rows {
        match into.get_mut(&r.product) {
            Some(m) => {
                m.quantity += r.quantity;
                m.revenue += r.revenue;
                m.orders += r.orders;
                m.name = r.name;
                m.image = r.image;
            }
            None => {
                into.insert(r.product, r);
            }
        }
    }
}
