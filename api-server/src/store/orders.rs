//! The `orders` collection (contract §3.5, written by the consumer app): typed documents, the
//! merchant's scope (orders with an item in one of its stores), listing and lookup. Status
//! changes and refunds live in `order_updates`, aggregates in `order_analytics`.

use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc, oid::ObjectId};
use serde::{Deserialize, Serialize};

use super::{
    DateTime, Store,
    keyset::{self, Listing, Sort, Window},
    products::escape_regex,
};
use crate::domain::order::part_status;

/// A variant chosen on an order line.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderVariant {
    /// `inventory.variants[].variantId` of the product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_id: Option<String>,
    /// Option kind, e.g. `size`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Option value, e.g. `XL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Variant SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
}

/// One order line (`items[]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    /// Line id.
    #[serde(rename = "_id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ObjectId>,
    /// Product.
    pub product: ObjectId,
    /// The shop selling the line (the merchant scope).
    #[serde(rename = "store")]
    pub shop: ObjectId,
    /// Store name at order time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_name: Option<String>,
    /// Product name at order time.
    pub name: String,
    /// Image URL.
    #[serde(default)]
    pub image: String,
    /// product | service | event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_type: Option<String>,
    /// Units.
    pub quantity: i64,
    /// Chosen variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<OrderVariant>,
    /// Unit price.
    #[serde(default)]
    pub price: f64,
    /// Unit list price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_price: Option<f64>,
    /// Line discount.
    #[serde(default)]
    pub discount: f64,
    /// Line total.
    #[serde(default)]
    pub subtotal: f64,
    /// SKU at order time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// Customer notes on the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The line's own status, once its merchant moved its lines of an order shared with other
    /// merchants (`domain::order::part_status`); unset: the order's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// Money of an order (plain numbers, contract §1.4).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = OrderTotals)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Sum of lines.
    #[serde(default)]
    pub subtotal: f64,
    /// Tax.
    #[serde(default)]
    pub tax: f64,
    /// Delivery fee.
    #[serde(default)]
    pub delivery: f64,
    /// Discount.
    #[serde(default)]
    pub discount: f64,
    /// Lock-fee discount.
    #[serde(default)]
    pub lock_fee_discount: f64,
    /// Cashback granted.
    #[serde(default)]
    pub cashback: f64,
    /// Order total (revenue).
    #[serde(default)]
    pub total: f64,
    /// Amount paid.
    #[serde(default)]
    pub paid_amount: f64,
    /// Amount refunded so far.
    #[serde(default)]
    pub refund_amount: f64,
    /// Platform fee.
    #[serde(default)]
    pub platform_fee: f64,
    /// Merchant payout.
    #[serde(default)]
    pub merchant_payout: f64,
}

/// Payment of an order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// wallet | card | upi | cod | netbanking | razorpay | stripe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// pending | processing | paid | failed | refunded | partially_refunded.
    #[serde(default = "pending")]
    pub status: String,
    /// Wallet coins used: kept as written (the consumer app's shape is not fixed; the
    /// seeder writes a number), so an order never fails to read because of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coins_used: Option<Bson>,
    /// When it was paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<DateTime>,
    /// When it was (last) refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded_at: Option<DateTime>,
}

/// Delivery of an order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// standard | express | pickup | drive_thru | dine_in | scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Delivery status.
    #[serde(default = "pending")]
    pub status: String,
    /// Address as written by the consumer app (`addressLine1`, `pincode`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Document>,
    /// Fee.
    #[serde(default)]
    pub delivery_fee: f64,
    /// Carrier tracking data set by `mark-shipped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_info: Option<Document>,
    /// Set when the order reaches `confirmed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<DateTime>,
    /// Set when the order reaches `delivered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime>,
}

/// One `timeline[]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    /// Status reached.
    pub status: String,
    /// What happened.
    #[serde(default)]
    pub message: String,
    /// When.
    pub timestamp: DateTime,
    /// Who (merchant or team member id), for merchant actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<ObjectId>,
}

/// An order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderDoc {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Unique human number.
    pub order_number: String,
    /// Customer (`users`).
    pub user: ObjectId,
    /// Primary store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<ObjectId>,
    /// delivery | pickup | drive_thru | dine_in.
    #[serde(default = "delivery")]
    pub fulfillment_type: String,
    /// Lines.
    #[serde(default)]
    pub items: Vec<OrderItem>,
    /// Money.
    #[serde(default)]
    pub totals: Totals,
    /// Payment.
    #[serde(default)]
    pub payment: Payment,
    /// Delivery.
    #[serde(default)]
    pub delivery: Delivery,
    /// History.
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    /// Order status.
    pub status: String,
    /// Coupon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_code: Option<String>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Special instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special_instructions: Option<String>,
    /// Why it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// When it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<DateTime>,
    /// Who cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<ObjectId>,
    /// Refunds recorded by the merchant (`{amount, reason, items, by, at}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunds: Vec<Document>,
    /// Set once the stock of a cancelled order was given back (never twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_restored_at: Option<DateTime>,
    /// Created.
    pub created_at: DateTime,
    /// Updated.
    pub updated_at: DateTime,
}

fn pending() -> String {
    "pending".into()
}

fn delivery() -> String {
    "delivery".into()
}

/// The orders a merchant may see: those with a line in one of `stores` (all owned).
#[derive(Debug, Clone)]
pub struct OrderScope {
    /// The merchant.
    pub merchant: ObjectId,
    /// Its shops (or the one owned shop asked for).
    pub shops: Vec<ObjectId>,
}

impl OrderScope {
    /// `{ "items.store": { $in: stores } }`.
    pub fn filter(&self) -> Document {
        doc! { "items.store": { "$in": self.shops.clone() } }
    }

    /// The filter of one order in scope.
    pub fn one(&self, id: ObjectId) -> Document {
        let mut f = self.filter();
        f.insert("_id", id);
        f
    }

    /// Whether the line is sold by one of the merchant's shops.
    pub fn owns(&self, line: &OrderItem) -> bool {
        self.shops.contains(&line.shop)
    }

    /// Whether the order also holds lines of other merchants.
    pub fn is_shared(&self, order: &OrderDoc) -> bool {
        order.items.iter().any(|l| !self.owns(l))
    }

    /// Positions of the merchant's lines.
    pub fn lines(&self, order: &OrderDoc) -> Vec<usize> {
        (0..order.items.len())
            .filter(|i| self.owns(&order.items[*i]))
            .collect()
    }

    /// The status of the merchant's part of the order (see `domain::order::part_status`).
    pub fn part_status<'a>(&self, order: &'a OrderDoc) -> &'a str {
        let mine: Vec<Option<&str>> = order
            .items
            .iter()
            .filter(|l| self.owns(l))
            .map(|l| l.status.as_deref())
            .collect();
        part_status(&order.status, &mine)
    }

    /// The order as this merchant sees it: on a shared order only its own lines (at its
    /// part's status) and its own refunds; otherwise the order as stored.
    pub fn view(&self, order: &OrderDoc) -> OrderDoc {
        if !self.is_shared(order) {
            return order.clone();
        }
        let mut mine = order.clone();
        mine.status = self.part_status(order).to_string();
        mine.items.retain(|l| self.owns(l));
        mine.refunds
            .retain(|r| r.get_object_id("merchant").ok() == Some(self.merchant));
        mine
    }
}

/// List filters (validated by the route).
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Order status.
    pub status: Option<&'static str>,
    /// Payment status.
    pub payment_status: Option<&'static str>,
    /// Created at or after.
    pub start: Option<DateTime>,
    /// Created at or before.
    pub end: Option<DateTime>,
    /// Text matched (escaped) against the order number and the customer.
    pub search: Option<String>,
}

/// Sort and page of the order list.
#[derive(Debug, Clone)]
pub struct OrderPage {
    /// Stored field and direction (then `_id`).
    pub sort: Sort,
    /// 1-based page.
    pub page: u64,
    /// Page size.
    pub limit: i64,
}

/// A customer (`users`, consumer side) as far as the merchant sees it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerDoc {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone.
    #[serde(default)]
    pub phone_number: Option<String>,
    /// Display name, when stored flat.
    #[serde(default)]
    pub name: Option<String>,
    /// Profile (`firstName`, `lastName`).
    #[serde(default)]
    pub profile: Option<Document>,
}

impl CustomerDoc {
    /// `firstName lastName`, else `name`.
    pub fn display_name(&self) -> Option<String> {
        let profile = self.profile.as_ref();
        let part = |k: &str| profile.and_then(|p| p.get_str(k).ok()).unwrap_or("");
        let full = format!("{} {}", part("firstName"), part("lastName"));
        match full.trim() {
            "" => self.name.clone(),
            s => Some(s.to_string()),
        }
    }
}

impl Store {
    /// Up to `limit` orders created at or after `since`, oldest first, and how many were read.
    /// One malformed consumer document must not stall the caller: it is skipped with a warning
    /// (and still counted as read).
    pub async fn orders_created_since(
        &self,
        since: DateTime,
        limit: i64,
    ) -> mongodb::error::Result<(Vec<OrderDoc>, usize)> {
        let raw: Vec<Document> = self
            .orders()
            .clone_with_type::<Document>()
            .find(doc! { "createdAt": { "$gte": since } })
            .sort(doc! { "createdAt": 1, "_id": 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        let read = raw.len();
        let orders = raw
            .into_iter()
            .filter_map(|d| {
                let id = d.get_object_id("_id").ok();
                mongodb::bson::from_document(d)
                    .inspect_err(
                        |e| tracing::warn!(error = %e, order = ?id, "unreadable order skipped"),
                    )
                    .ok()
            })
            .collect();
        Ok((orders, read))
    }

    pub(crate) fn orders(&self) -> mongodb::Collection<OrderDoc> {
        self.db.collection("orders")
    }

    /// The merchant's store ids; with `only`, just that store when the merchant owns it
    /// (`None` when it does not).
    pub async fn order_scope(
        &self,
        merchant: ObjectId,
        only: Option<ObjectId>,
    ) -> mongodb::error::Result<Option<OrderScope>> {
        let mut f = doc! { "merchantId": merchant };
        if let Some(id) = only {
            f.insert("_id", id);
        }
        let ids: Vec<ObjectId> = self
            .shops()
            .clone_with_type::<Document>()
            .find(f)
            .projection(doc! { "_id": 1 })
            .await?
            .try_filter_map(|d| async move { Ok(d.get_object_id("_id").ok()) })
            .try_collect()
            .await?;
        Ok((only.is_none() || !ids.is_empty()).then_some(OrderScope {
            merchant,
            shops: ids,
        }))
    }

    /// Customers whose name, e-mail or phone matches `re` (bounded, for order search).
    async fn customers_matching(&self, re: &Document) -> mongodb::error::Result<Vec<ObjectId>> {
        let f = doc! { "$or": [
            { "email": re.clone() }, { "phoneNumber": re.clone() }, { "name": re.clone() },
            { "profile.firstName": re.clone() }, { "profile.lastName": re.clone() },
        ] };
        self.db
            .collection::<Document>("users")
            .find(f)
            .projection(doc! { "_id": 1 })
            .limit(1000)
            .await?
            .try_filter_map(|d| async move { Ok(d.get_object_id("_id").ok()) })
            .try_collect()
            .await
    }

    async fn order_filter(
        &self,
        scope: &OrderScope,
        filter: &OrderFilter,
    ) -> mongodb::error::Result<Document> {
        let mut f = scope.filter();
        if let Some(s) = filter.status {
            f.insert("status", s);
        }
        if let Some(s) = filter.payment_status {
            f.insert("payment.status", s);
        }
        let mut created = Document::new();
        if let Some(s) = filter.start {
            created.insert("$gte", s);
        }
        if let Some(e) = filter.end {
            created.insert("$lte", e);
        }
        if !created.is_empty() {
            f.insert("createdAt", created);
        }
        if let Some(q) = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
        {
            // Escaped: the search text is never interpreted as a pattern.
            let re = doc! { "$regex": escape_regex(q), "$options": "i" };
            let users = self.customers_matching(&re).await?;
            f.insert(
                "$or",
                vec![
                    Bson::Document(doc! { "orderNumber": re.clone() }),
                    Bson::Document(doc! { "user": { "$in": users } }),
                    Bson::Document(doc! { "delivery.address.name": re.clone() }),
                    Bson::Document(doc! { "delivery.address.phone": re }),
                ],
            );
        }
        Ok(f)
    }

    /// A window of the merchant's orders (a page or a keyset window), counted when asked.
    pub async fn list_orders(
        &self,
        scope: &OrderScope,
        filter: &OrderFilter,
        page: &OrderPage,
        window: &Window,
        count: bool,
    ) -> mongodb::error::Result<Listing<OrderDoc>> {
        let f = self.order_filter(scope, filter).await?;
        keyset::list(&self.orders(), f, page.sort, window, page.limit, count).await
    }

    /// One order in the merchant's scope.
    pub async fn order(
        &self,
        scope: &OrderScope,
        id: ObjectId,
    ) -> mongodb::error::Result<Option<OrderDoc>> {
        self.orders().find_one(scope.one(id)).await
    }

    /// The customers of some orders, by id.
    pub async fn customers(&self, ids: Vec<ObjectId>) -> mongodb::error::Result<Vec<CustomerDoc>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.db
            .collection::<CustomerDoc>("users")
            .find(doc! { "_id": { "$in": ids } })
            .projection(doc! { "email": 1, "phoneNumber": 1, "name": 1, "profile": 1 })
            .await?
            .try_collect()
            .await
    }

    /// Insert an order (consumer-side write; used by seeding and tests).
    pub async fn insert_order(&self, order: &OrderDoc) -> mongodb::error::Result<()> {
        self.orders().insert_one(order).await.map(drop)
    }
}
