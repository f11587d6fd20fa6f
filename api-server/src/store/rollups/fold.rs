//! What one order adds to the sales rollups: a pure function of the order's counted fields
//! (its [`Snapshot`]), so folding an order in, folding it out again and rebuilding everything
//! from scratch all agree. Each figure mirrors the raw aggregation it replaces
//! (`store::analytics`, `store::order_analytics`): the same fields, the same `$ifNull`
//! defaults, only numbers summed.

use std::collections::BTreeMap;

use mongodb::bson::{Bson, Document, doc, oid::ObjectId};

use crate::store::analytics::{TOTAL_FIELDS, num};

/// Milliseconds in an hour and in a day (UTC buckets: no leap seconds in BSON dates).
pub const HOUR_MS: i64 = 3_600_000;
/// Milliseconds in a day.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// The order fields a rollup counts, as read from `orders` (the snapshot keeps them).
pub fn projection() -> Document {
    doc! {
        "createdAt": 1, "status": 1, "totals": 1, "payment.method": 1, "couponCode": 1,
        "items.store": 1, "items.product": 1, "items.quantity": 1, "items.price": 1,
        "items.subtotal": 1, "items.name": 1, "items.image": 1,
    }
}

/// The counted fields of one order (its projection without `_id`): two snapshots that are
/// equal add the same rows, so an unchanged order is never refolded.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot(Document);

impl Snapshot {
    /// The snapshot of a projected order, or `None` when it counts nowhere (no `createdAt`
    /// date: the raw pipelines' date ranges never match it either).
    pub fn of(order: &Document) -> Option<Self> {
        order.get_datetime("createdAt").ok()?;
        let mut d = order.clone();
        d.remove("_id");
        d.remove("updatedAt");
        Some(Self(d))
    }

    /// A stored snapshot.
    pub fn stored(d: Document) -> Self {
        Self(d)
    }

    /// The document to store.
    pub fn document(&self) -> &Document {
        &self.0
    }
}

/// The size of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    /// A UTC day.
    Day,
    /// A UTC hour.
    Hour,
}

impl Grain {
    /// Both, coarsest first: every order is counted once at each grain.
    pub const ALL: [Grain; 2] = [Grain::Day, Grain::Hour];

    /// The stored tag.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Day => "d",
            Self::Hour => "h",
        }
    }

    /// Milliseconds in a bucket.
    pub fn millis(self) -> i64 {
        match self {
            Self::Day => DAY_MS,
            Self::Hour => HOUR_MS,
        }
    }

    /// The start of the bucket holding `ms`.
    pub fn floor(self, ms: i64) -> i64 {
        ms.div_euclid(self.millis()) * self.millis()
    }

    /// The start of the first bucket at or after `ms`.
    pub fn ceil(self, ms: i64) -> i64 {
        let f = self.floor(ms);
        if f == ms { f } else { f + self.millis() }
    }
}

/// What a row counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    /// The order as a whole: orders, revenue, amount paid, the store's units, every
    /// `totals.*` field.
    Total,
    /// Orders by `payment.method` (orders without one are left out).
    Payment(String),
    /// Orders by `couponCode` (orders without one are left out).
    Coupon(String),
    /// One product's lines of the store: units, line revenue, orders.
    Product(ObjectId),
}

impl Dim {
    /// The stored dimension tag.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::Total => "total",
            Self::Payment(_) => "payment",
            Self::Coupon(_) => "coupon",
            Self::Product(_) => "product",
        }
    }

    fn key(&self) -> Bson {
        match self {
            Self::Total => Bson::Null,
            Self::Payment(k) | Self::Coupon(k) => Bson::String(k.clone()),
            Self::Product(p) => Bson::ObjectId(*p),
        }
    }
}

/// The identity of a rollup row: one store, bucket, order status and dimension.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// The store whose lines the order holds.
    pub store: ObjectId,
    /// Bucket size.
    pub grain: Grain,
    /// Bucket start (ms since the epoch, UTC).
    pub at: i64,
    /// The order's status (`None`: absent or null).
    pub status: Option<String>,
    /// What the row counts.
    pub dim: Dim,
}

impl Key {
    /// The row's queryable fields (also its `_id`).
    pub fn document(&self) -> Document {
        doc! {
            "s": self.store, "g": self.grain.tag(),
            "t": mongodb::bson::DateTime::from_millis(self.at),
            "st": self.status.clone().map_or(Bson::Null, Bson::String),
            "d": self.dim.tag(), "k": self.dim.key(),
        }
    }
}

/// Summed figures of a row, by stored field name (`n`, the order count, is one of them).
pub type Figures = BTreeMap<&'static str, f64>;

/// One row's share of an order: figures to add and, for a product, the name and image of its
/// last line (a rollup keeps the latest folded one, as the raw `$last` keeps the latest order).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Figures.
    pub figures: Figures,
    /// `(name, image)` of a product row.
    pub label: Option<(Bson, Bson)>,
}

/// Every row an order adds to, with its share.
pub fn rows(s: &Snapshot) -> BTreeMap<Key, Row> {
    let order = &s.0;
    let mut out = BTreeMap::new();
    let Ok(created) = order.get_datetime("createdAt") else {
        return out;
    };
    let created = created.timestamp_millis();
    let status = match order.get("status") {
        None | Some(Bson::Null) => None,
        Some(Bson::String(v)) => Some(v.clone()),
        Some(other) => Some(other.to_string()),
    };
    let totals = order.get_document("totals").cloned().unwrap_or_default();
    let items: Vec<&Document> = order
        .get_array("items")
        .map(|a| a.iter().filter_map(Bson::as_document).collect())
        .unwrap_or_default();
    for store in stores(&items) {
        let own: Vec<&Document> = items
            .iter()
            .copied()
            .filter(|i| i.get_object_id("store").ok() == Some(store))
            .collect();
        let mut dims = vec![(Dim::Total, total_row(&totals, &own))];
        for (field, dim) in [
            (payment_method(order), Dim::Payment as fn(String) -> Dim),
            (labelled(order.get("couponCode")), Dim::Coupon),
        ] {
            if let Some(k) = field {
                dims.push((dim(k), keyed_row(&totals)));
            }
        }
        dims.extend(product_rows(&own));
        for grain in Grain::ALL {
            for (dim, row) in &dims {
                let status = match dim {
                    Dim::Total => status.clone(),
                    _ => Some(status_class(status.as_deref()).to_string()),
                };
                let key = Key {
                    store,
                    grain,
                    at: grain.floor(created),
                    status,
                    dim: dim.clone(),
                };
                out.insert(key, row.clone());
            }
        }
    }
    out
}

/// The status a payment, coupon or product row is kept under: the statuses reports leave out
/// (cancelled: no revenue; refunded: not in analytics) keep their own rows, every other status
/// shares [`COUNTED`], so these rows are not multiplied by every status an order passes.
/// Order totals keep the exact status (the orders report counts per status).
pub fn status_class(status: Option<&str>) -> &str {
    match status {
        Some(s @ ("cancelled" | "refunded")) => s,
        _ => COUNTED,
    }
}

/// The shared status of [`status_class`].
pub const COUNTED: &str = "counted";

/// The distinct stores of an order's lines, in order of first appearance.
fn stores(items: &[&Document]) -> Vec<ObjectId> {
    let mut out: Vec<ObjectId> = Vec::new();
    for s in items.iter().filter_map(|i| i.get_object_id("store").ok()) {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn total_row(totals: &Document, own: &[&Document]) -> Row {
    let mut figures = Figures::from([
        ("n", 1.0),
        ("rev", num(totals, "total")),
        ("paid", num(totals, "paidAmount")),
        ("items", own.iter().map(|i| num(i, "quantity")).sum()),
    ]);
    for (f, stored) in TOTAL_FIELDS.iter().zip(TOTAL_KEYS) {
        figures.insert(stored, num(totals, f));
    }
    Row {
        figures,
        label: None,
    }
}

/// Stored names of [`TOTAL_FIELDS`], in the same order.
pub const TOTAL_KEYS: [&str; 10] = [
    "t_subtotal",
    "t_tax",
    "t_delivery",
    "t_discount",
    "t_lockFeeDiscount",
    "t_cashback",
    "t_total",
    "t_paidAmount",
    "t_refundAmount",
    "t_platformFee",
];

fn keyed_row(totals: &Document) -> Row {
    Row {
        figures: Figures::from([
            ("n", 1.0),
            ("rev", num(totals, "total")),
            ("disc", num(totals, "discount")),
        ]),
        label: None,
    }
}

fn payment_method(order: &Document) -> Option<String> {
    labelled(order.get_document("payment").ok()?.get("method"))
}

/// A grouping value as the raw pipelines show it (left out when absent, null or empty).
fn labelled(v: Option<&Bson>) -> Option<String> {
    match v? {
        Bson::Null => None,
        Bson::String(s) if s.is_empty() => None,
        Bson::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// One row per product of the store's lines: units, line revenue, one order.
fn product_rows(own: &[&Document]) -> Vec<(Dim, Row)> {
    let mut by_product: Vec<(ObjectId, Row)> = Vec::new();
    for line in own {
        let Ok(product) = line.get_object_id("product") else {
            continue;
        };
        let at = match by_product.iter().position(|(p, _)| *p == product) {
            Some(i) => i,
            None => {
                let row = Row {
                    figures: Figures::from([("n", 1.0), ("q", 0.0), ("r", 0.0)]),
                    label: None,
                };
                by_product.push((product, row));
                by_product.len() - 1
            }
        };
        let row = &mut by_product[at].1;
        *row.figures.entry("q").or_default() += num(line, "quantity");
        *row.figures.entry("r").or_default() += line_revenue(line);
        let text = |k: &str| line.get(k).cloned().unwrap_or(Bson::Null);
        row.label = Some((text("name"), text("image")));
    }
    by_product
        .into_iter()
        .map(|(p, row)| (Dim::Product(p), row))
        .collect()
}

/// A line's revenue as `store::order_analytics::line_revenue` computes it: the stored
/// subtotal, else price × quantity (0 when either is missing).
fn line_revenue(line: &Document) -> f64 {
    match line.get("subtotal") {
        None | Some(Bson::Null) => {
            let numeric = |k| {
                matches!(
                    line.get(k),
                    Some(Bson::Double(_) | Bson::Int32(_) | Bson::Int64(_))
                )
            };
            if numeric("price") && numeric("quantity") {
                num(line, "price") * num(line, "quantity")
            } else {
                0.0
            }
        }
        Some(_) => num(line, "subtotal"),
    }
}

/// What changes when an order's counted state goes from `before` to `after`: per row, the
/// figures to add (negative to take away) and the label to keep. Rows whose figures cancel
/// out are left out (a renamed product keeps its old label until it sells again), so an
/// unchanged order changes nothing.
pub fn delta(before: Option<&Snapshot>, after: Option<&Snapshot>) -> BTreeMap<Key, Row> {
    let mut out: BTreeMap<Key, Row> = after.map(rows).unwrap_or_default();
    for (key, old) in before.map(rows).unwrap_or_default() {
        let row = out.entry(key).or_insert_with(|| Row {
            figures: Figures::new(),
            label: None,
        });
        for (f, v) in old.figures {
            *row.figures.entry(f).or_default() -= v;
        }
    }
    out.retain(|_, row| row.figures.values().any(|v| *v != 0.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::DateTime;

    fn order(status: &str, at_ms: i64, store: ObjectId, product: ObjectId) -> Document {
        doc! {
            "createdAt": DateTime::from_millis(at_ms), "status": status,
            "totals": { "total": 30.5, "discount": 2.0, "paidAmount": 30.5, "subtotal": 32.5 },
            "payment": { "method": "card" }, "couponCode": "",
            "items": [
                { "store": store, "product": product, "quantity": 2, "price": 10.0, "name": "A", "image": "a.png" },
                { "store": store, "product": product, "quantity": 1, "subtotal": 12.5, "name": "A2" },
                { "store": ObjectId::new(), "product": ObjectId::new(), "quantity": 7, "price": 1.0, "name": "B" },
            ],
        }
    }

    #[test]
    fn an_order_counts_once_per_store_grain_and_dimension() {
        let (store, product) = (ObjectId::new(), ObjectId::new());
        let at = 3 * DAY_MS + 5 * HOUR_MS + 17;
        let rows = rows(&Snapshot::of(&order("placed", at, store, product)).expect("dated"));
        // Two stores × two grains × (total, payment, product); the empty coupon is left out.
        assert_eq!(rows.len(), 12);
        let mine = |grain, dim: Dim| {
            rows.iter()
                .find(|(k, _)| k.store == store && k.grain == grain && k.dim == dim)
                .map(|(k, r)| (k.at, r.clone()))
                .expect("row")
        };
        let (day, total) = mine(Grain::Day, Dim::Total);
        assert_eq!(day, 3 * DAY_MS);
        assert_eq!(total.figures["items"], 3.0);
        assert_eq!(total.figures["rev"], 30.5);
        assert_eq!(total.figures["t_discount"], 2.0);
        let (hour, line) = mine(Grain::Hour, Dim::Product(product));
        assert_eq!(hour, 3 * DAY_MS + 5 * HOUR_MS);
        assert_eq!(
            (line.figures["n"], line.figures["q"], line.figures["r"]),
            (1.0, 3.0, 32.5)
        );
        assert_eq!(line.label.expect("label").0, Bson::String("A2".into()));
        assert!(mine(Grain::Day, Dim::Payment("card".into())).1.figures["n"] == 1.0);
    }

    #[test]
    fn a_status_change_moves_the_order_between_rows_and_an_unchanged_one_moves_nothing() {
        let (store, product) = (ObjectId::new(), ObjectId::new());
        let placed = Snapshot::of(&order("placed", 1_000, store, product)).expect("dated");
        let cancelled = Snapshot::of(&order("cancelled", 1_000, store, product)).expect("dated");
        assert!(delta(Some(&placed), Some(&placed)).is_empty());
        let moved = delta(Some(&placed), Some(&cancelled));
        let n_by_status = |s: &str| {
            moved
                .iter()
                .filter(|(k, _)| k.status.as_deref() == Some(s) && k.dim == Dim::Total)
                .map(|(_, r)| r.figures["n"])
                .sum::<f64>()
        };
        assert_eq!(n_by_status("placed"), -4.0); // two stores × two grains
        assert_eq!(n_by_status("cancelled"), 4.0);
        let products_moved: Vec<Option<&str>> = moved
            .iter()
            .filter(|(k, _)| matches!(k.dim, Dim::Product(_)))
            .map(|(k, _)| k.status.as_deref())
            .collect();
        assert!(
            products_moved.contains(&Some(COUNTED)) && products_moved.contains(&Some("cancelled"))
        );
        let removed = delta(Some(&placed), None);
        assert!(removed.values().all(|r| r.figures["n"] == -1.0));
    }

    #[test]
    fn an_order_without_a_creation_date_counts_nowhere() {
        assert!(Snapshot::of(&doc! { "status": "placed" }).is_none());
    }

    #[test]
    fn line_revenue_follows_the_raw_pipelines_defaults() {
        assert_eq!(
            line_revenue(&doc! { "subtotal": 4.5, "price": 1.0, "quantity": 2 }),
            4.5
        );
        assert_eq!(
            line_revenue(&doc! { "subtotal": Bson::Null, "price": 1.5, "quantity": 2 }),
            3.0
        );
        assert_eq!(line_revenue(&doc! { "quantity": 2 }), 0.0);
        assert_eq!(
            line_revenue(&doc! { "subtotal": "x", "price": 1.5, "quantity": 2 }),
            0.0
        );
    }

    #[test]
    fn buckets_round_down_and_up_to_their_grain() {
        assert_eq!(Grain::Hour.floor(HOUR_MS + 1), HOUR_MS);
        assert_eq!(Grain::Hour.ceil(HOUR_MS + 1), 2 * HOUR_MS);
        assert_eq!(Grain::Day.ceil(DAY_MS), DAY_MS);
        assert_eq!(Grain::Day.floor(-1), -DAY_MS);
    }
}
