//! The contract's order object (§2.7): [`OrderView`] borrows a stored [`OrderDoc`] (as the
//! merchant sees it, `OrderScope::view`) and its customer, and renders every stored field (ids
//! as 24-hex, dates as ISO text, unset optional fields left out) plus `id`, `customer`,
//! `pricing`, `paymentStatus`, `cashback`, `priority`, `confirmedAt`, `deliveredAt` and the
//! transformed `items` and `delivery.address`. Handlers return the owning [`Order`] /
//! [`OrderList`], which serialise through the view.

use std::collections::HashMap;

use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use crate::store::{
    DateTime, ObjectId,
    json::{Plain, PlainDoc, iso},
    orders::{
        CustomerDoc, Delivery, OrderDoc, OrderItem, OrderVariant, Payment, TimelineEntry, Totals,
    },
};

fn hex(id: &ObjectId) -> String {
    id.to_hex()
}

fn opt_iso(dt: Option<DateTime>) -> Option<String> {
    dt.map(iso)
}

/// An order as the merchant reads it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView<'a> {
    /// Id (24-hex), as stored.
    #[serde(rename = "_id")]
    pub stored_id: String,
    /// Id (24-hex), the same as `_id`.
    pub id: String,
    /// Unique human number.
    pub order_number: &'a str,
    /// Customer id (24-hex).
    pub user: String,
    /// Primary store id (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// delivery | pickup | drive_thru | dine_in.
    pub fulfillment_type: &'a str,
    /// The merchant's lines.
    pub items: Vec<OrderLine<'a>>,
    /// Money as stored.
    pub totals: &'a Totals,
    /// Payment.
    pub payment: OrderPayment<'a>,
    /// Delivery.
    pub delivery: OrderDelivery<'a>,
    /// History.
    pub timeline: Vec<OrderTimelineEntry<'a>>,
    /// Order status (on an order shared with other merchants: the status of this merchant's
    /// lines).
    pub status: &'a str,
    /// Coupon (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coupon_code: Option<&'a str>,
    /// Notes (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<&'a str>,
    /// Special instructions (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub special_instructions: Option<&'a str>,
    /// Why it was cancelled (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<&'a str>,
    /// When it was cancelled (ISO 8601; absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancelled_at: Option<String>,
    /// Who cancelled (24-hex; absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    /// The merchant's refund records as stored (`{amount, reason, items, by, merchant, at}`);
    /// absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<OrderRefund>, required = false)]
    pub refunds: Vec<PlainDoc<'a>>,
    /// When the stock of a cancelled order was given back (ISO 8601; absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub stock_restored_at: Option<String>,
    /// Created (ISO 8601).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Updated (ISO 8601).
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Who ordered.
    pub customer: OrderCustomer<'a>,
    /// `totals` under the names clients read.
    pub pricing: OrderPricing,
    /// `payment.status`.
    pub payment_status: &'a str,
    /// `totals.cashback`.
    pub cashback: f64,
    /// Always `normal`.
    pub priority: &'static str,
    /// `delivery.confirmedAt` (ISO 8601, `null` when unset).
    #[schema(format = DateTime)]
    pub confirmed_at: Option<String>,
    /// `delivery.deliveredAt` (ISO 8601, `null` when unset).
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
}

/// A refund record as this API writes it (`POST /orders/{id}/refund`); records are rendered as
/// stored. Documentation only: the view renders the stored document.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // never built: it only names the keys of the stored record
pub struct OrderRefund {
    /// Amount refunded.
    amount: f64,
    /// Why.
    reason: String,
    /// Refunded lines.
    items: Vec<OrderRefundLine>,
    /// Who refunded (merchant or team member id, 24-hex).
    by: String,
    /// The merchant refunding (24-hex).
    merchant: String,
    /// When (ISO 8601).
    #[schema(format = DateTime)]
    at: String,
}

/// One line of a refund record.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // never built: it only names the keys of the stored record
pub struct OrderRefundLine {
    /// Order line id (24-hex).
    item_id: String,
    /// Units.
    quantity: i64,
}

/// One order line: the stored line plus `id`, `productName`, `sku`, `totalPrice`, `notes`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine<'a> {
    /// Line id (24-hex; absent when the line has none).
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    pub stored_id: Option<String>,
    /// Line id (24-hex; `null` when the line has none).
    pub id: Option<String>,
    /// Product id (24-hex).
    pub product: String,
    /// Store id (24-hex).
    pub store: String,
    /// Store name at order time (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_name: Option<&'a str>,
    /// Product name at order time.
    pub name: &'a str,
    /// `name`.
    pub product_name: &'a str,
    /// Image URL.
    pub image: &'a str,
    /// product | service | event (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_type: Option<&'a str>,
    /// Units.
    pub quantity: i64,
    /// Chosen variant (absent when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = OrderVariant, required = false)]
    pub variant: Option<&'a OrderVariant>,
    /// Unit price.
    pub price: f64,
    /// Unit list price (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_price: Option<f64>,
    /// Line discount.
    pub discount: f64,
    /// Line total as stored.
    pub subtotal: f64,
    /// `subtotal`, or price × quantity when no subtotal is stored.
    pub total_price: f64,
    /// SKU at order time, else the variant's (`null` when neither).
    pub sku: Option<&'a str>,
    /// Customer notes on the line (`null` when none).
    pub notes: Option<&'a str>,
    /// The line's own status on an order shared with other merchants (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'a str>,
}

impl<'a> OrderLine<'a> {
    fn new(i: &'a OrderItem) -> Self {
        let total_price = if i.subtotal > 0.0 {
            i.subtotal
        } else {
            i.price * i.quantity as f64
        };
        Self {
            stored_id: i.id.as_ref().map(hex),
            id: i.id.as_ref().map(hex),
            product: hex(&i.product),
            store: hex(&i.shop),
            store_name: i.store_name.as_deref(),
            name: &i.name,
            product_name: &i.name,
            image: &i.image,
            item_type: i.item_type.as_deref(),
            quantity: i.quantity,
            variant: i.variant.as_ref(),
            price: i.price,
            original_price: i.original_price,
            discount: i.discount,
            subtotal: i.subtotal,
            total_price,
            sku: i
                .sku
                .as_deref()
                .or_else(|| i.variant.as_ref().and_then(|v| v.sku.as_deref())),
            notes: i.notes.as_deref(),
            status: i.status.as_deref(),
        }
    }
}

/// Payment of an order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderPayment<'a> {
    /// wallet | card | upi | cod | netbanking | razorpay | stripe (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'a str>,
    /// pending | processing | paid | failed | refunded | partially_refunded.
    pub status: &'a str,
    /// Wallet coins used, as the consumer app wrote them (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub coins_used: Option<Plain<'a>>,
    /// When it was paid (ISO 8601; absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub paid_at: Option<String>,
    /// When it was (last) refunded (ISO 8601; absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub refunded_at: Option<String>,
}

impl<'a> OrderPayment<'a> {
    fn new(p: &'a Payment) -> Self {
        Self {
            method: p.method.as_deref(),
            status: &p.status,
            coins_used: p.coins_used.as_ref().map(Plain),
            paid_at: opt_iso(p.paid_at),
            refunded_at: opt_iso(p.refunded_at),
        }
    }
}

/// Delivery of an order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderDelivery<'a> {
    /// standard | express | pickup | drive_thru | dine_in | scheduled (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'a str>,
    /// Delivery status.
    pub status: &'a str,
    /// Address (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = OrderAddress, required = false)]
    pub address: Option<OrderAddress<'a>>,
    /// Fee.
    pub delivery_fee: f64,
    /// Carrier tracking data as sent with `mark-shipped` (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub tracking_info: Option<PlainDoc<'a>>,
    /// Set when the order reached `confirmed` (ISO 8601; absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub confirmed_at: Option<String>,
    /// Set when the order reached `delivered` (ISO 8601; absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
}

impl<'a> OrderDelivery<'a> {
    fn new(d: &'a Delivery) -> Self {
        Self {
            method: d.method.as_deref(),
            status: &d.status,
            address: d
                .address
                .as_ref()
                .map(|a| OrderAddress::new(PlainDoc::all(a))),
            delivery_fee: d.delivery_fee,
            tracking_info: d.tracking_info.as_ref().map(PlainDoc::all),
            confirmed_at: opt_iso(d.confirmed_at),
            delivered_at: opt_iso(d.delivered_at),
        }
    }
}

/// A delivery address: every key the consumer app stored (`name`, `phone`, `addressLine1`,
/// `addressLine2`, `city`, `state`, `pincode`, …) plus `street` and `zipCode`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderAddress<'a> {
    /// The stored keys, as written.
    #[serde(flatten)]
    #[schema(ignore)]
    pub stored: PlainDoc<'a>,
    /// `addressLine1, addressLine2` (the non-empty ones).
    pub street: String,
    /// `pincode` as stored (`null` when unset).
    #[schema(value_type = Option<String>)]
    pub zip_code: Option<Plain<'a>>,
}

impl<'a> OrderAddress<'a> {
    fn new(a: PlainDoc<'a>) -> Self {
        let street = ["addressLine1", "addressLine2"]
            .into_iter()
            .filter_map(|k| a.text(k))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            // Rendered below: a stored `street` or `zipCode` is replaced, not repeated.
            stored: a.without(&["street", "zipCode"]),
            street,
            zip_code: a.get("pincode"),
        }
    }
}

/// One `timeline[]` entry.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderTimelineEntry<'a> {
    /// Status reached.
    pub status: &'a str,
    /// What happened.
    pub message: &'a str,
    /// When (ISO 8601).
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// Who (merchant or team member id, 24-hex), for merchant actions (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

impl<'a> OrderTimelineEntry<'a> {
    fn new(t: &'a TimelineEntry) -> Self {
        Self {
            status: &t.status,
            message: &t.message,
            timestamp: iso(t.timestamp),
            updated_by: t.updated_by.as_ref().map(hex),
        }
    }
}

/// Who ordered.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderCustomer<'a> {
    /// Customer id (24-hex).
    pub id: String,
    /// Profile name, else the address's `name` (`null` when neither).
    pub name: Option<String>,
    /// E-mail (`null` when unknown).
    pub email: Option<&'a str>,
    /// Phone, else the address's `phone` (`null` when neither).
    pub phone: Option<String>,
}

impl<'a> OrderCustomer<'a> {
    fn new(order: &'a OrderDoc, customer: Option<&'a CustomerDoc>) -> Self {
        let address = order.delivery.address.as_ref().map(PlainDoc::all);
        let from_address = |k: &str| address.and_then(|a| a.text(k)).map(str::to_string);
        Self {
            id: hex(&order.user),
            name: customer
                .and_then(CustomerDoc::display_name)
                .or_else(|| from_address("name")),
            email: customer.and_then(|c| c.email.as_deref()),
            phone: customer
                .and_then(|c| c.phone_number.clone())
                .or_else(|| from_address("phone")),
        }
    }
}

/// An order's money under the names clients read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderPricing {
    /// Sum of lines.
    pub subtotal: f64,
    /// Tax.
    pub tax: f64,
    /// Tax (again).
    pub tax_amount: f64,
    /// Delivery fee.
    pub delivery: f64,
    /// Delivery fee (again).
    pub shipping_amount: f64,
    /// Discount.
    pub discount: f64,
    /// Discount (again).
    pub discount_amount: f64,
    /// Order total.
    pub total_amount: f64,
}

impl OrderPricing {
    fn new(t: &Totals) -> Self {
        Self {
            subtotal: t.subtotal,
            tax: t.tax,
            tax_amount: t.tax,
            delivery: t.delivery,
            shipping_amount: t.delivery,
            discount: t.discount,
            discount_amount: t.discount,
            total_amount: t.total,
        }
    }
}

impl<'a> OrderView<'a> {
    /// The view of `order` (already narrowed to the merchant's part) and its customer.
    pub fn new(order: &'a OrderDoc, customer: Option<&'a CustomerDoc>) -> Self {
        let d = &order.delivery;
        Self {
            stored_id: hex(&order.id),
            id: hex(&order.id),
            order_number: &order.order_number,
            user: hex(&order.user),
            store: order.store.as_ref().map(hex),
            fulfillment_type: &order.fulfillment_type,
            items: order.items.iter().map(OrderLine::new).collect(),
            totals: &order.totals,
            payment: OrderPayment::new(&order.payment),
            delivery: OrderDelivery::new(d),
            timeline: order.timeline.iter().map(OrderTimelineEntry::new).collect(),
            status: &order.status,
            coupon_code: order.coupon_code.as_deref(),
            notes: order.notes.as_deref(),
            special_instructions: order.special_instructions.as_deref(),
            cancel_reason: order.cancel_reason.as_deref(),
            cancelled_at: opt_iso(order.cancelled_at),
            cancelled_by: order.cancelled_by.as_ref().map(hex),
            refunds: order.refunds.iter().map(PlainDoc::all).collect(),
            stock_restored_at: opt_iso(order.stock_restored_at),
            created_at: iso(order.created_at),
            updated_at: iso(order.updated_at),
            customer: OrderCustomer::new(order, customer),
            pricing: OrderPricing::new(&order.totals),
            payment_status: &order.payment.status,
            cashback: order.totals.cashback,
            priority: "normal",
            confirmed_at: opt_iso(d.confirmed_at),
            delivered_at: opt_iso(d.delivered_at),
        }
    }
}

/// Orders (each as the merchant sees it) with their customers, owned; rendered as
/// [`OrderView`]s.
#[derive(Debug, Default)]
pub struct Orders {
    /// The orders, narrowed to the merchant's part.
    pub orders: Vec<OrderDoc>,
    /// Their customers by id.
    pub customers: HashMap<ObjectId, CustomerDoc>,
}

impl Orders {
    /// The first order with its customer (the single-order replies render one).
    pub fn into_first(mut self) -> Option<Order> {
        if self.orders.is_empty() {
            return None;
        }
        let order = self.orders.swap_remove(0);
        let customer = self.customers.remove(&order.user);
        Some(Order { order, customer })
    }
}

impl Serialize for Orders {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.orders
                .iter()
                .map(|o| OrderView::new(o, self.customers.get(&o.user))),
        )
    }
}

/// One order with its customer, owned; rendered as [`OrderView`].
#[derive(Debug)]
pub struct Order {
    order: OrderDoc,
    customer: Option<CustomerDoc>,
}

impl Serialize for Order {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        OrderView::new(&self.order, self.customer.as_ref()).serialize(s)
    }
}

/// `data` of `GET /orders`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderList {
    /// The page's orders.
    #[schema(value_type = Vec<OrderView>)]
    pub orders: Orders,
    /// Matching orders over all pages (left out with `includeTotal=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<u64>,
    /// `totalCount` (again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// 1-based page (left out in cursor mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    /// Page size.
    pub limit: i64,
    /// Number of pages (left out with `includeTotal=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_pages: Option<u64>,
    /// A later page exists.
    pub has_more: bool,
    /// Cursor mode only: the cursor of the next window, `null` at the end of the list.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<Option<String>>,
}

/// `data` of `POST /orders/bulk-action`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkOrderResult {
    /// The action applied.
    pub action: &'static str,
    /// Ids (24-hex) of the orders changed.
    pub successful: Vec<String>,
    /// The orders not changed, with why.
    pub failed: Vec<BulkFailure>,
    /// Counts.
    pub summary: BulkSummary,
}

/// An order a bulk action did not change.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkFailure {
    /// Order id (24-hex).
    pub order_id: String,
    /// Why (`null` when a validation error carried no message).
    pub message: Option<String>,
}

/// Counts of a bulk action.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkSummary {
    /// Orders asked for.
    pub total: usize,
    /// Orders changed.
    pub succeeded: usize,
    /// Orders not changed.
    pub failed: usize,
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{Bson, doc};
    use serde_json::{Value, json};

    use super::*;
    use crate::store::json::to_json;

    /// What the handlers rendered before the typed view.
    fn customer_json(order: &OrderDoc, customer: Option<&CustomerDoc>) -> Value {
        let address = order.delivery.address.as_ref();
        let from_address = |k: &str| address.and_then(|a| a.get_str(k).ok()).map(str::to_string);
        json!({
            "id": order.user.to_hex(),
            "name": customer.and_then(CustomerDoc::display_name).or_else(|| from_address("name")),
            "email": customer.and_then(|c| c.email.clone()),
            "phone": customer.and_then(|c| c.phone_number.clone()).or_else(|| from_address("phone")),
        })
    }

    fn items_json(order: &OrderDoc, raw: &Value) -> Value {
        let lines = raw["items"].as_array().cloned().unwrap_or_default();
        let items = order.items.iter().zip(lines).map(|(i, mut line)| {
            let total = if i.subtotal > 0.0 {
                i.subtotal
            } else {
                i.price * i.quantity as f64
            };
            if let Value::Object(m) = &mut line {
                m.insert("id".into(), json!(i.id.map(|id| id.to_hex())));
                m.insert("productName".into(), json!(i.name));
                m.insert(
                    "sku".into(),
                    json!(
                        i.sku
                            .clone()
                            .or_else(|| i.variant.as_ref().and_then(|v| v.sku.clone()))
                    ),
                );
                m.insert("totalPrice".into(), json!(total));
                m.insert("notes".into(), json!(i.notes));
            }
            line
        });
        Value::Array(items.collect())
    }

    /// The contract's order object.
    fn order_json(order: &OrderDoc, customer: Option<&CustomerDoc>) -> Result<Value, ()> {
        let mut raw = to_json(order).map_err(|_| ())?;
        let t = &order.totals;
        let items = items_json(order, &raw);
        let Value::Object(m) = &mut raw else {
            return Ok(raw);
        };
        m.insert("id".into(), json!(order.id.to_hex()));
        m.insert("customer".into(), customer_json(order, customer));
        m.insert("pricing".into(), json!({
            "subtotal": t.subtotal, "tax": t.tax, "taxAmount": t.tax, "delivery": t.delivery,
            "shippingAmount": t.delivery, "discount": t.discount, "discountAmount": t.discount, "totalAmount": t.total,
        }));
        m.insert("paymentStatus".into(), json!(order.payment.status));
        m.insert("cashback".into(), json!(t.cashback));
        m.insert("priority".into(), json!("normal"));
        m.insert("items".into(), items);
        if let Some(Value::Object(addr)) = m.get_mut("delivery").and_then(|d| d.get_mut("address"))
        {
            let street = [addr.get("addressLine1"), addr.get("addressLine2")]
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            addr.insert("street".into(), json!(street));
            let zip = addr.get("pincode").cloned().unwrap_or(Value::Null);
            addr.insert("zipCode".into(), zip);
        }
        m.insert(
            "confirmedAt".into(),
            json!(order.delivery.confirmed_at.map(iso)),
        );
        m.insert(
            "deliveredAt".into(),
            json!(order.delivery.delivered_at.map(iso)),
        );
        Ok(raw)
    }

    fn stored(extra: mongodb::bson::Document) -> OrderDoc {
        let mut d = doc! {
            "_id": ObjectId::new(), "orderNumber": "ORD-1", "user": ObjectId::new(),
            "items": [{
                "product": ObjectId::new(), "store": ObjectId::new(), "name": "Lamp",
                "quantity": 2_i64, "price": 5.0,
            }],
            "status": "placed", "createdAt": DateTime::from_millis(1_000),
            "updatedAt": DateTime::from_millis(2_000),
        };
        d.extend(extra);
        mongodb::bson::from_document(d).expect("order")
    }

    fn full() -> OrderDoc {
        let user = ObjectId::new();
        stored(doc! {
            "user": user, "store": ObjectId::new(), "fulfillmentType": "pickup",
            "items": [
                { "_id": ObjectId::new(), "product": ObjectId::new(), "store": ObjectId::new(),
                  "storeName": "Shop", "name": "Lamp", "image": "i.png", "itemType": "product",
                  "quantity": 1_i64, "variant": { "variantId": "v1", "type": "size", "value": "M", "sku": "V-SKU" },
                  "price": 5.0, "originalPrice": 6.0, "discount": 1.0, "subtotal": 5.0,
                  "notes": "gift", "status": "confirmed" },
                { "product": ObjectId::new(), "store": ObjectId::new(), "name": "Bulb",
                  "quantity": 3_i64, "price": 2.5, "sku": "B-1" },
            ],
            "totals": { "subtotal": 12.5, "tax": 1.0, "delivery": 2.0, "discount": 0.5, "cashback": 0.25, "total": 15.0, "paidAmount": 15.0, "refundAmount": 1.0 },
            "payment": { "method": "card", "status": "partially_refunded", "coinsUsed": { "coins": 3_i32, "value": 1.5 }, "paidAt": DateTime::from_millis(3_000), "refundedAt": DateTime::from_millis(4_000) },
            "delivery": { "method": "express", "status": "confirmed",
                "address": { "name": "Ann", "phone": "555", "addressLine1": "1 Main St", "addressLine2": "", "city": "X", "pincode": 12345_i32, "street": "old", "at": DateTime::from_millis(5) },
                "deliveryFee": 2.0, "trackingInfo": { "carrier": "UPS", "number": "Z1" },
                "confirmedAt": DateTime::from_millis(6_000), "deliveredAt": DateTime::from_millis(7_000) },
            "timeline": [
                { "status": "placed", "message": "Placed", "timestamp": DateTime::from_millis(1_000) },
                { "status": "confirmed", "timestamp": DateTime::from_millis(6_000), "updatedBy": ObjectId::new(), "lines": [0_i64] },
            ],
            "couponCode": "SAVE", "notes": "ring", "specialInstructions": "none", "cancelReason": "r",
            "cancelledAt": DateTime::from_millis(8_000), "cancelledBy": ObjectId::new(),
            "refunds": [{ "amount": 1.0, "reason": "damaged item", "items": [], "by": ObjectId::new(), "merchant": ObjectId::new(), "at": DateTime::from_millis(9_000) }],
            "stockRestoredAt": DateTime::from_millis(10_000),
        })
    }

    fn customer(profile: bool) -> CustomerDoc {
        let d = if profile {
            doc! { "_id": ObjectId::new(), "email": "a@b.c", "phoneNumber": "777",
            "profile": { "firstName": "Ann", "lastName": "Lee" } }
        } else {
            doc! { "_id": ObjectId::new(), "name": Bson::Null }
        };
        mongodb::bson::from_document(d).expect("customer")
    }

    #[test]
    fn the_view_renders_exactly_what_order_json_rendered() {
        let with_profile = customer(true);
        let without = customer(false);
        let orders = [stored(doc! {}), full()];
        for order in &orders {
            for c in [None, Some(&with_profile), Some(&without)] {
                let view = serde_json::to_value(OrderView::new(order, c)).expect("serialises");
                assert_eq!(view, order_json(order, c).expect("renders"));
            }
        }
    }

    #[test]
    fn owned_orders_render_their_views_with_their_customers() {
        let order = full();
        let c = customer(true);
        let expected = order_json(&order, Some(&c)).expect("renders");
        let orders = Orders {
            orders: vec![order.clone()],
            customers: HashMap::from([(order.user, c)]),
        };
        assert_eq!(
            serde_json::to_value(&orders).expect("list"),
            json!([expected.clone()])
        );
        let one = orders.into_first().expect("one");
        assert_eq!(serde_json::to_value(&one).expect("one"), expected);
    }
}
