//! The `cashbackrequests` collection (contract §3.6): typed documents, pages, guarded status
//! transitions, the stats/analytics/metrics pipelines and a short per-merchant cache of the
//! pending count. `merchantId` is stored as the 24-hex string, as the contract's schema has it;
//! every query filters on it.

use std::time::Duration;

use futures::TryStreamExt;
use mongodb::{
    bson::{Bson, Document, doc, oid::ObjectId},
    options::ReturnDocument,
};
use serde::{Deserialize, Serialize};

use super::{
    DateTime, Store,
    keyset::{self, Listing, Sort, Window},
};
use crate::domain::cashback::{CashbackDecision, FLAG_SCORE, risk};

/// The list's order, newest first (index `cashbackrequests.merchant_created_id`).
const CASHBACK_ORDER: Sort = Sort::desc("createdAt");

pub use crate::domain::cashback::{OPEN, STATUSES};

/// One timeline entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Status entered.
    pub status: String,
    /// When.
    pub timestamp: DateTime,
    /// Notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Actor (merchant or team member id, hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl TimelineEntry {
    /// The first entry of a request recorded by `actor`.
    fn created(actor: String, now: DateTime) -> Self {
        Self {
            status: "pending".into(),
            timestamp: now,
            notes: Some("Cashback request created".into()),
            by: Some(actor),
        }
    }
}

/// A cashback request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CashbackDoc {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// `CB-…`, unique.
    pub request_number: String,
    /// Tenant (hex string).
    pub merchant_id: String,
    /// Customer (hex string).
    pub customer_id: String,
    /// Order (hex string).
    pub order_id: String,
    /// Customer snapshot `{id,name,email,…}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Document>,
    /// Order snapshot `{id,orderNumber,totalAmount,orderDate}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Document>,
    /// Amount asked for.
    pub requested_amount: f64,
    /// Amount granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_amount: Option<f64>,
    /// Requested amount as a percentage of the order total.
    #[serde(default)]
    pub cashback_rate: f64,
    /// Why the customer asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Status.
    pub status: String,
    /// normal | high | urgent.
    #[serde(default = "normal")]
    pub priority: String,
    /// 0..100.
    #[serde(default)]
    pub risk_score: f64,
    /// Risk factors.
    #[serde(default)]
    pub risk_factors: Vec<Document>,
    /// Needs manual review.
    #[serde(default)]
    pub flagged_for_review: bool,
    /// Reviewer id (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_by: Option<String>,
    /// Review time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_at: Option<DateTime>,
    /// Approval notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_notes: Option<String>,
    /// Rejection reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
    /// wallet | bank_transfer | check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    /// Payment reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_reference: Option<String>,
    /// Paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<DateTime>,
    /// Amount paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_amount: Option<f64>,
    /// pending | processing | processed | failed | cancelled.
    #[serde(default = "pending")]
    pub payment_status: String,
    /// Request expiry.
    pub expires_at: DateTime,
    /// Status history.
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    /// Created.
    pub created_at: DateTime,
    /// Updated.
    pub updated_at: DateTime,
}

fn normal() -> String {
    "normal".into()
}

fn pending() -> String {
    "pending".into()
}

/// The requested amount as a percentage of the order total (two decimals; 0 without a total).
fn rate(amount: f64, total: f64) -> f64 {
    if total > 0.0 {
        (amount / total * 10_000.0).round() / 100.0
    } else {
        0.0
    }
}

/// The stored `order` snapshot; an order without a creation date is dated `now`.
fn order_document(order: &OrderSnapshot, now: DateTime) -> Document {
    doc! {
        "id": order.id.to_hex(),
        "orderNumber": &order.order_number,
        "totalAmount": order.total,
        "orderDate": order.placed_at.unwrap_or(now),
    }
}

/// What a request records of its order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderSnapshot {
    /// Order id.
    pub id: ObjectId,
    /// The ordering customer, when the order names one.
    pub customer: Option<ObjectId>,
    /// Order number.
    pub order_number: String,
    /// Order total.
    pub total: f64,
    /// When the order was placed.
    pub placed_at: Option<DateTime>,
}

/// A validated new request.
#[derive(Debug, Clone)]
pub struct NewCashback {
    /// Tenant.
    pub merchant: ObjectId,
    /// Customer asking.
    pub customer: ObjectId,
    /// The merchant's order.
    pub order: OrderSnapshot,
    /// Amount asked for (at most the order total).
    pub amount: f64,
    /// Why.
    pub reason: Option<String>,
    /// Who recorded it (merchant or team member id, hex).
    pub actor: String,
}

impl CashbackDoc {
    /// A pending request with its order snapshot, rate and amount-based risk.
    pub fn new(request: NewCashback) -> Self {
        let NewCashback {
            merchant,
            customer,
            order,
            amount,
            reason,
            actor,
        } = request;
        let now = DateTime::now();
        let (risk_score, factors) = risk(amount, order.total);
        let flagged = risk_score >= FLAG_SCORE;
        let id = ObjectId::new();
        Self {
            id,
            request_number: format!("CB-{}", id.to_hex().to_uppercase()),
            merchant_id: merchant.to_hex(),
            customer_id: customer.to_hex(),
            order_id: order.id.to_hex(),
            customer: Some(doc! { "id": customer.to_hex() }),
            order: Some(order_document(&order, now)),
            requested_amount: amount,
            approved_amount: None,
            cashback_rate: rate(amount, order.total),
            reason,
            status: "pending".into(),
            priority: if flagged { "high" } else { "normal" }.into(),
            risk_score,
            // Plain structs of strings and numbers: serialising them cannot fail.
            risk_factors: factors
                .iter()
                .filter_map(|f| mongodb::bson::to_document(f).ok())
                .collect(),
            flagged_for_review: flagged,
            reviewed_by: None,
            reviewed_at: None,
            approval_notes: None,
            rejection_reason: None,
            payment_method: None,
            payment_reference: None,
            paid_at: None,
            paid_amount: None,
            payment_status: "pending".into(),
            expires_at: DateTime::from_millis(now.timestamp_millis() + 30 * 86_400_000),
            timeline: vec![TimelineEntry::created(actor, now)],
            created_at: now,
            updated_at: now,
        }
    }

    /// A text field of the customer snapshot (`name`, `email`…).
    pub fn customer_text(&self, key: &str) -> Option<&str> {
        self.customer.as_ref()?.get_str(key).ok()
    }

    /// A text field of the order snapshot (`orderNumber`…).
    pub fn order_text(&self, key: &str) -> Option<&str> {
        self.order.as_ref()?.get_str(key).ok()
    }

    /// A numeric field of the order snapshot (`totalAmount`), whichever numeric type it is
    /// stored as.
    pub fn order_number(&self, key: &str) -> Option<f64> {
        number(self.order.as_ref()?, &[key])
    }

    /// A date field of the order snapshot (`orderDate`).
    pub fn order_date(&self, key: &str) -> Option<DateTime> {
        self.order.as_ref()?.get_datetime(key).ok().copied()
    }

    /// The stored risk factors, each field read when it has the expected type.
    pub fn risk_factor_rows(&self) -> Vec<RiskFactorRow> {
        self.risk_factors
            .iter()
            .map(|f| RiskFactorRow {
                kind: f.get_str("type").ok().map(str::to_string),
                severity: f.get_str("severity").ok().map(str::to_string),
                description: f.get_str("description").ok().map(str::to_string),
                value: number(f, &["value"]),
            })
            .collect()
    }
}

/// One stored reason a request looks risky (see [`crate::domain::cashback::RiskFactor`]).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RiskFactorRow {
    /// What was looked at (`amount`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// medium | high.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Human-readable explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The measured value (share of the order total).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// Filters of the list/stats/export views.
#[derive(Debug, Clone, Default)]
pub struct CashbackFilter {
    /// Status.
    pub status: Option<String>,
    /// Created from.
    pub start: Option<DateTime>,
    /// Created until.
    pub end: Option<DateTime>,
}

impl CashbackFilter {
    /// `$match` for a merchant.
    pub fn to_match(&self, merchant: ObjectId) -> Document {
        let mut m = doc! { "merchantId": merchant.to_hex() };
        if let Some(s) = &self.status {
            m.insert("status", s);
        }
        super::insert_date_range(&mut m, "createdAt", self.start, self.end);
        m
    }
}

/// Per-merchant pending counts cached briefly (the contract's 5-minute cache, shortened and
/// invalidated by every write of that merchant so counts are never stale after a change).
#[derive(Debug)]
pub struct PendingCounts {
    inner: moka::sync::Cache<ObjectId, u64>,
}

/// How long a cached count is served.
pub const PENDING_TTL: Duration = Duration::from_secs(60);

/// Merchants whose count is kept at most (least recently used go first).
const PENDING_CAPACITY: u64 = 100_000;

impl Default for PendingCounts {
    fn default() -> Self {
        Self {
            inner: moka::sync::Cache::builder()
                .max_capacity(PENDING_CAPACITY)
                .time_to_live(PENDING_TTL)
                .build(),
        }
    }
}

impl PendingCounts {
    /// A fresh cached count.
    pub fn get(&self, merchant: ObjectId) -> Option<u64> {
        self.inner.get(&merchant)
    }

    /// Cache a count.
    pub fn put(&self, merchant: ObjectId, count: u64) {
        self.inner.insert(merchant, count);
    }

    /// Forget a merchant's count after a write.
    pub fn invalidate(&self, merchant: ObjectId) {
        self.inner.invalidate(&merchant);
    }
}

impl Store {
    fn cashback(&self) -> mongodb::Collection<CashbackDoc> {
        self.db().collection("cashbackrequests")
    }

    pub(super) fn cashback_raw(&self) -> mongodb::Collection<Document> {
        self.db().collection("cashbackrequests")
    }

    /// A window of requests (a page or a keyset window), newest first, counted when asked.
    pub async fn cashback_list(
        &self,
        merchant: ObjectId,
        filter: &CashbackFilter,
        window: &Window,
        limit: i64,
        count: bool,
    ) -> mongodb::error::Result<Listing<CashbackDoc>> {
        let m = filter.to_match(merchant);
        keyset::list(&self.cashback(), m, CASHBACK_ORDER, window, limit, count).await
    }

    /// One request of the merchant.
    pub async fn cashback_by_id(
        &self,
        merchant: ObjectId,
        id: ObjectId,
    ) -> mongodb::error::Result<Option<CashbackDoc>> {
        self.cashback()
            .find_one(doc! { "_id": id, "merchantId": merchant.to_hex() })
            .await
    }

    /// Insert a request.
    pub async fn insert_cashback(&self, doc: &CashbackDoc) -> mongodb::error::Result<()> {
        self.cashback().insert_one(doc).await.map(drop)
    }

    /// Apply `decision` by `actor` (merchant or team member id, hex) if the request is in a
    /// status it may start from; `None` when it is not (or is missing). A single conditional
    /// update, so concurrent decisions cannot both win.
    pub async fn transition_cashback(
        &self,
        merchant: ObjectId,
        id: ObjectId,
        decision: &CashbackDecision,
        actor: &str,
    ) -> super::Result<Option<CashbackDoc>> {
        let now = DateTime::now();
        let entry = TimelineEntry {
            status: decision.status().into(),
            timestamp: now,
            notes: decision.note(),
            by: Some(actor.to_string()),
        };
        let filter = doc! {
            "_id": id, "merchantId": merchant.to_hex(), "status": { "$in": decision.allowed_from() },
        };
        let update = doc! {
            "$set": decision_set(decision, actor, now),
            "$push": { "timeline": mongodb::bson::to_bson(&entry)? },
        };
        self.cashback()
            .find_one_and_update(filter, update)
            .return_document(ReturnDocument::After)
            .await
    }

    /// Requests of the merchant waiting for a decision.
    pub async fn cashback_open_count(&self, merchant: ObjectId) -> mongodb::error::Result<u64> {
        self.cashback()
            .count_documents(doc! { "merchantId": merchant.to_hex(), "status": { "$in": OPEN } })
            .await
    }

    /// Up to `limit` requests for export, newest first.
    pub async fn cashback_export(
        &self,
        merchant: ObjectId,
        filter: &CashbackFilter,
        limit: i64,
    ) -> mongodb::error::Result<Vec<CashbackDoc>> {
        self.cashback()
            .find(filter.to_match(merchant))
            .sort(doc! { "createdAt": -1, "_id": -1 })
            .limit(limit)
            .await?
            .try_collect()
            .await
    }

    /// The merchant's store ids (orders are scoped through `items.store`).
    pub async fn merchant_shop_ids(&self, merchant: ObjectId) -> super::Result<Vec<Bson>> {
        self.db()
            .collection::<Document>("stores")
            .distinct("_id", doc! { "merchantId": merchant })
            .await
    }

    /// What a cashback request records of an order containing an item of one of the merchant's
    /// stores; `None` when there is no such order.
    pub async fn merchant_order(
        &self,
        merchant: ObjectId,
        order: ObjectId,
    ) -> super::Result<Option<OrderSnapshot>> {
        let stores = self.merchant_shop_ids(merchant).await?;
        let found = self
            .db()
            .collection::<Document>("orders")
            .find_one(doc! { "_id": order, "items.store": { "$in": stores } })
            .await?;
        Ok(found.map(|o| OrderSnapshot {
            id: order,
            customer: o.get_object_id("user").ok(),
            order_number: o.get_str("orderNumber").unwrap_or_default().to_string(),
            total: number(&o, &["totals", "total"]).unwrap_or(0.0),
            placed_at: o.get_datetime("createdAt").ok().copied(),
        }))
    }
}

/// A number at `path` of a document, whichever numeric type it is stored as.
fn number(d: &Document, path: &[&str]) -> Option<f64> {
    let (last, parents) = path.split_last()?;
    let mut cur = d;
    for p in parents {
        cur = cur.get_document(p).ok()?;
    }
    match cur.get(last)? {
        Bson::Double(f) => Some(*f),
        Bson::Int32(i) => Some(f64::from(*i)),
        Bson::Int64(i) => Some(*i as f64),
        _ => None,
    }
}

/// The `$set` of a decision (status included).
fn decision_set(decision: &CashbackDecision, actor: &str, now: DateTime) -> Document {
    let mut set = doc! { "status": decision.status(), "updatedAt": now };
    match decision {
        CashbackDecision::Approve { amount, notes } => {
            set.extend(doc! { "approvedAmount": amount, "reviewedBy": actor, "reviewedAt": now });
            if let Some(n) = notes {
                set.insert("approvalNotes", n);
            }
        }
        CashbackDecision::Reject { reason } => {
            set.extend(doc! { "rejectionReason": reason, "reviewedBy": actor, "reviewedAt": now });
        }
        CashbackDecision::MarkPaid {
            amount,
            method,
            reference,
            ..
        } => {
            set.extend(doc! {
                "paidAt": now, "paymentStatus": "processed", "paidAmount": amount, "paymentMethod": *method,
            });
            if let Some(r) = reference {
                set.insert("paymentReference", r);
            }
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_the_merchant_id_as_stored_text() {
        let m = ObjectId::new();
        let f = CashbackFilter {
            status: Some("paid".into()),
            ..CashbackFilter::default()
        };
        let matched = f.to_match(m);
        assert_eq!(matched.get_str("merchantId"), Ok(m.to_hex().as_str()));
        assert_eq!(matched.get_str("status"), Ok("paid"));
    }

    #[test]
    fn cached_counts_expire_on_invalidation() {
        let counts = PendingCounts::default();
        let m = ObjectId::new();
        assert_eq!(counts.get(m), None);
        counts.put(m, 3);
        assert_eq!(counts.get(m), Some(3));
        counts.invalidate(m);
        assert_eq!(counts.get(m), None);
    }
}
