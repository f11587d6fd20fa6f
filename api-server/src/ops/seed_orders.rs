//! Realistic demo orders (contract §3.5) for `merchant-api seed --orders N`: items reference the
//! merchant's seeded products and store, totals are computed from the items, statuses, payment
//! methods and customers vary, and `createdAt` spreads over the last 120 days. Generation is a
//! pure function of the seed, the product list and `now`, so runs with the same `--seed` are
//! reproducible; documents are inserted in batches with progress on stdout.

use chrono::{Duration, Timelike};
use futures::TryStreamExt;
use mongodb::bson::{Bson, DateTime, Document, doc, oid::ObjectId};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::store::Store;

/// Days of history the seeded orders cover.
pub const HISTORY_DAYS: i64 = 120;
/// Orders per `insertMany`.
pub const BATCH: usize = 1000;

/// What an order item needs from a product.
#[derive(Debug, Clone)]
pub struct SeedProduct {
    /// Product id.
    pub id: ObjectId,
    /// Name.
    pub name: String,
    /// Selling price.
    pub price: f64,
    /// List price.
    pub original: f64,
    /// First image (or a placeholder).
    pub image: String,
}

/// The merchant's store the orders are placed in.
#[derive(Debug, Clone)]
pub struct SeedShop {
    /// Store id.
    pub id: ObjectId,
    /// Store name.
    pub name: String,
    /// Prefix of the order numbers (unique per merchant).
    pub order_prefix: String,
}

const METHODS: [(&str, u32); 5] = [
    ("upi", 35),
    ("card", 25),
    ("cod", 15),
    ("wallet", 15),
    ("netbanking", 10),
];
/// Final states of orders older than a week.
const SETTLED: [(&str, u32); 4] = [
    ("delivered", 82),
    ("cancelled", 9),
    ("refunded", 5),
    ("returned", 4),
];
/// States of recent orders (anything in the life cycle).
const RECENT: [(&str, u32); 8] = [
    ("placed", 15),
    ("confirmed", 12),
    ("preparing", 10),
    ("ready", 8),
    ("dispatched", 10),
    ("out_for_delivery", 5),
    ("delivered", 35),
    ("cancelled", 5),
];
const CITIES: [(&str, &str, &str); 4] = [
    ("Springfield", "IL", "62701"),
    ("Shelbyville", "IL", "62565"),
    ("Capital City", "IL", "62702"),
    ("Ogdenville", "IL", "62703"),
];

fn weighted<'a>(rng: &mut StdRng, table: &[(&'a str, u32)]) -> &'a str {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total);
    for (name, w) in table {
        if pick < *w {
            return name;
        }
        pick -= w;
    }
    table[0].0
}

fn money(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// A deterministic ObjectId drawn from the generator (customers are stable per seed).
fn object_id(rng: &mut StdRng) -> ObjectId {
    let mut bytes = [0u8; 12];
    rng.fill(&mut bytes);
    ObjectId::from_bytes(bytes)
}

/// `createdAt`: recent days are busier (growth), hours follow a daytime curve.
fn created_at(
    rng: &mut StdRng,
    now: chrono::DateTime<chrono::Utc>,
) -> chrono::DateTime<chrono::Utc> {
    let days_ago = (rng.random::<f64>().powf(1.25) * HISTORY_DAYS as f64).floor() as i64;
    let hour = loop {
        let h = rng.random_range(0..24u32);
        let weight = if (10..22).contains(&h) { 1.0 } else { 0.25 };
        if rng.random::<f64>() < weight {
            break h;
        }
    };
    let day = now - Duration::days(days_ago);
    let at = day
        .with_hour(hour)
        .and_then(|d| d.with_minute(rng.random_range(0..60)))
        .unwrap_or(day);
    // Today's late hours have not happened yet.
    if at > now {
        now - Duration::minutes(rng.random_range(1..120))
    } else {
        at
    }
}

fn items(rng: &mut StdRng, products: &[SeedProduct], shop: &SeedShop) -> (Vec<Document>, f64) {
    let count = rng.random_range(1..=4usize).min(products.len());
    let mut picked: Vec<usize> = Vec::with_capacity(count);
    while picked.len() < count {
        // Squaring skews popularity towards the first products (a realistic long tail).
        let i = (rng.random::<f64>().powi(2) * products.len() as f64) as usize;
        if !picked.contains(&i) {
            picked.push(i);
        }
    }
    let mut subtotal = 0.0;
    let docs = picked
        .into_iter()
        .map(|i| {
            let p = &products[i];
            let quantity = rng.random_range(1..=3i32);
            let line = money(p.price * f64::from(quantity));
            subtotal += line;
            doc! {
                "product": p.id, "store": shop.id, "storeName": &shop.name, "name": &p.name,
                "image": &p.image, "itemType": "product", "quantity": quantity,
                "price": p.price, "originalPrice": p.original,
                "discount": money((p.original - p.price).max(0.0) * f64::from(quantity)),
                "subtotal": line,
            }
        })
        .collect();
    (docs, money(subtotal))
}

fn payment_status(status: &str, method: &str, rng: &mut StdRng) -> &'static str {
    match status {
        "refunded" | "returned" => "refunded",
        "cancelled" if method == "cod" => "failed",
        "cancelled" => "refunded",
        "delivered" => "paid",
        _ if method == "cod" => "pending",
        _ if rng.random_range(0..50) == 0 => "processing",
        _ => "paid",
    }
}

fn delivery_status(status: &str) -> &'static str {
    match status {
        "placed" => "pending",
        "confirmed" => "confirmed",
        "preparing" => "preparing",
        "ready" => "ready",
        "dispatched" => "dispatched",
        "out_for_delivery" => "out_for_delivery",
        "delivered" => "delivered",
        "returned" | "refunded" => "returned",
        _ => "failed",
    }
}

/// Totals from the item subtotal: 5 % tax, 40 delivery under 500, 10 % coupon discount.
fn totals(subtotal: f64, coupon: bool, paid: bool, refunded: bool) -> Document {
    let tax = money(subtotal * 0.05);
    let delivery = if subtotal >= 500.0 { 0.0 } else { 40.0 };
    let discount = if coupon { money(subtotal * 0.10) } else { 0.0 };
    let total = money(subtotal + tax + delivery - discount);
    let platform_fee = money(total * 0.02);
    doc! {
        "subtotal": subtotal, "tax": tax, "delivery": delivery, "discount": discount,
        "lockFeeDiscount": 0.0, "cashback": money(subtotal * 0.05), "total": total,
        "paidAmount": if paid { total } else { 0.0 },
        "refundAmount": if refunded { total } else { 0.0 },
        "platformFee": platform_fee, "merchantPayout": money(total - platform_fee),
    }
}

/// One order document; `seq` numbers it within the run.
fn order(
    rng: &mut StdRng,
    seq: usize,
    customers: &[ObjectId],
    products: &[SeedProduct],
    shop: &SeedShop,
    now: chrono::DateTime<chrono::Utc>,
) -> Document {
    let at = created_at(rng, now);
    let status = if now - at > Duration::days(7) {
        weighted(rng, &SETTLED)
    } else {
        weighted(rng, &RECENT)
    };
    let method = weighted(rng, &METHODS);
    let pay = payment_status(status, method, rng);
    let (items, subtotal) = items(rng, products, shop);
    let coupon = rng.random_range(0..5) == 0;
    let (city, state, pin) = CITIES[rng.random_range(0..CITIES.len())];
    let pickup = rng.random_range(0..10) == 0;
    let created = DateTime::from_millis(at.timestamp_millis());
    let totals = totals(
        subtotal,
        coupon,
        pay == "paid" || pay == "refunded",
        pay == "refunded",
    );
    let user = customers[rng.random_range(0..customers.len())];
    let mut d = doc! {
        "orderNumber": format!("{}-{seq:06}", shop.order_prefix),
        "user": user,
        "store": shop.id,
        "fulfillmentType": if pickup { "pickup" } else { "delivery" },
        "items": items,
        "totals": totals.clone(),
        "payment": { "method": method, "status": pay, "coinsUsed": 0 },
        "delivery": delivery(pickup, status, seq, (city, state, pin), &totals),
        "timeline": timeline(status, created),
        "status": status,
        "createdAt": created,
        // The seeding time, as the consumer app's model stamps an insert (the sales rollups'
        // catch-up finds changes by `updatedAt`).
        "updatedAt": DateTime::from_millis(now.timestamp_millis()),
    };
    if coupon {
        d.insert("couponCode", "SAVE10");
    }
    record_outcome(&mut d, status, user, created);
    d
}

/// The order's timeline: placed, then its current status.
fn timeline(status: &str, created: DateTime) -> Vec<Document> {
    let mut timeline =
        vec![doc! { "status": "placed", "message": "Order placed", "timestamp": created }];
    if status != "placed" {
        timeline.push(
            doc! { "status": status, "message": format!("Order {status}"), "timestamp": created },
        );
    }
    timeline
}

/// The delivery part: pickup or standard, to an address made up from `seq`.
fn delivery(
    pickup: bool,
    status: &str,
    seq: usize,
    (city, state, pin): (&str, &str, &str),
    totals: &Document,
) -> Document {
    doc! {
        "method": if pickup { "pickup" } else { "standard" },
        "status": delivery_status(status),
        "address": { "name": format!("Customer {}", seq % 97), "phone": "+1 555 0199",
            "addressLine1": format!("{} Elm St", 1 + seq % 300), "city": city, "state": state,
            "pincode": pin, "country": "US", "type": "home" },
        "deliveryFee": totals.get_f64("delivery").unwrap_or(0.0),
    }
}

/// Why and when a cancelled, returned or refunded order ended so.
fn record_outcome(d: &mut Document, status: &str, user: ObjectId, created: DateTime) {
    if status == "cancelled" {
        d.insert("cancelReason", "Changed my mind");
        d.insert("cancelledAt", created);
        // The customer who cancelled (an ObjectId, as `OrderDoc` and the merchant side write).
        d.insert("cancelledBy", user);
    }
    if status == "returned" || status == "refunded" {
        d.insert("returnReason", "Item not as described");
    }
}

/// Generate `count` orders for one store, deterministically from `seed` and `now`.
pub fn generate(
    seed: u64,
    count: usize,
    products: &[SeedProduct],
    shop: &SeedShop,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Document> {
    if products.is_empty() {
        return Vec::new();
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let customers: Vec<ObjectId> = (0..(count / 8).clamp(5, 2000))
        .map(|_| object_id(&mut rng))
        .collect();
    let mut orders: Vec<Document> = (0..count)
        .map(|seq| order(&mut rng, seq + 1, &customers, products, shop, now))
        .collect();
    orders.sort_by_key(|o| {
        o.get_datetime("createdAt")
            .map(|d| d.timestamp_millis())
            .unwrap_or(0)
    });
    orders
}

impl Store {
    /// The merchant's live products as order-item sources (name, prices, first image).
    pub async fn seed_products_of(
        &self,
        merchant: ObjectId,
    ) -> mongodb::error::Result<Vec<SeedProduct>> {
        let coll = self.db().collection::<Document>("products");
        let docs: Vec<Document> = coll
            .find(doc! { "merchantId": merchant, "isDeleted": { "$ne": true } })
            .projection(doc! { "name": 1, "pricing": 1, "images": 1 })
            .sort(doc! { "_id": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs.iter().filter_map(seed_product).collect())
    }

    /// Insert orders in batches of [`BATCH`], calling `progress(done)` after each batch.
    pub async fn insert_orders(
        &self,
        orders: Vec<Document>,
        mut progress: impl FnMut(usize),
    ) -> mongodb::error::Result<()> {
        let coll = self.db().collection::<Document>("orders");
        let mut done = 0;
        for batch in orders.chunks(BATCH) {
            coll.insert_many(batch.to_vec()).await?;
            done += batch.len();
            progress(done);
        }
        Ok(())
    }
}

fn seed_product(d: &Document) -> Option<SeedProduct> {
    let pricing = d.get_document("pricing").ok()?;
    let number = |k: &str| match pricing.get(k) {
        Some(Bson::Double(v)) => Some(*v),
        Some(Bson::Int32(v)) => Some(f64::from(*v)),
        Some(Bson::Int64(v)) => Some(*v as f64),
        _ => None,
    };
    let price = number("selling")?;
    let image = d
        .get_array("images")
        .ok()
        .and_then(|a| a.first())
        .and_then(Bson::as_str)
        .unwrap_or("https://placehold.co/200")
        .to_string();
    Some(SeedProduct {
        id: d.get_object_id("_id").ok()?,
        name: d.get_str("name").ok()?.to_string(),
        price,
        original: number("original").unwrap_or(price).max(price),
        image,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> Vec<SeedProduct> {
        (1..=30)
            .map(|i| SeedProduct {
                id: ObjectId::new(),
                name: format!("P{i}"),
                price: f64::from(i) * 2.5,
                original: f64::from(i) * 3.0,
                image: "img".into(),
            })
            .collect()
    }

    fn shop() -> SeedShop {
        SeedShop {
            id: ObjectId::new(),
            name: "Shop".into(),
            order_prefix: "ORD-T".into(),
        }
    }

    #[test]
    fn the_same_seed_generates_the_same_orders() {
        let (products, shop, now) = (catalogue(), shop(), chrono::Utc::now());
        let strip = |v: Vec<Document>| {
            v.into_iter()
                .map(|mut d| {
                    d.remove("_id");
                    d
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            strip(generate(7, 200, &products, &shop, now)),
            strip(generate(7, 200, &products, &shop, now))
        );
        assert_ne!(
            strip(generate(7, 50, &products, &shop, now)),
            strip(generate(8, 50, &products, &shop, now))
        );
    }

    #[test]
    fn every_seeded_order_reads_as_an_order_document() {
        let (products, shop, now) = (catalogue(), shop(), chrono::Utc::now());
        for mut o in generate(3, 300, &products, &shop, now) {
            o.insert("_id", ObjectId::new()); // as the insert assigns it
            let read = mongodb::bson::from_document::<crate::store::orders::OrderDoc>(o.clone());
            assert!(read.is_ok(), "{o}: {read:?}");
        }
    }

    #[test]
    fn totals_follow_from_the_items_and_dates_stay_within_the_history() {
        let (products, shop, now) = (catalogue(), shop(), chrono::Utc::now());
        let orders = generate(1, 500, &products, &shop, now);
        let oldest = now - Duration::days(HISTORY_DAYS + 1);
        for o in &orders {
            let items = o.get_array("items").expect("items");
            let sum: f64 = items
                .iter()
                .map(|i| {
                    i.as_document()
                        .expect("item")
                        .get_f64("subtotal")
                        .expect("subtotal")
                })
                .sum();
            let t = o.get_document("totals").expect("totals");
            let f = |k| t.get_f64(k).expect(k);
            assert!((f("subtotal") - sum).abs() < 0.011, "{o}");
            let expected = f("subtotal") + f("tax") + f("delivery") - f("discount");
            assert!((f("total") - expected).abs() < 0.011, "{o}");
            let at = o
                .get_datetime("createdAt")
                .expect("createdAt")
                .timestamp_millis();
            assert!(at <= now.timestamp_millis() && at >= oldest.timestamp_millis());
            assert!(
                items
                    .iter()
                    .all(|i| i.as_document().expect("item").get_object_id("store") == Ok(shop.id))
            );
        }
        let statuses: std::collections::BTreeSet<_> = orders
            .iter()
            .map(|o| o.get_str("status").expect("status"))
            .collect();
        let methods: std::collections::BTreeSet<_> = orders
            .iter()
            .map(|o| {
                o.get_document("payment")
                    .expect("payment")
                    .get_str("method")
                    .expect("method")
            })
            .collect();
        assert!(statuses.len() >= 5, "{statuses:?}");
        assert_eq!(methods.len(), 5);
    }
}
