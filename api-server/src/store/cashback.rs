//! The `cashbackrequests` collection (contract §3.6): typed documents, pages, guarded status
//! transitions, the stats/analytics/metrics pipelines and a short per-merchant cache of the
//! pending count. `merchantId` is stored as the 24-hex string, as the contract's schema has it;
//! every query filters on it.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use futures::TryStreamExt;
use mongodb::{
    bson::{Bson, Document, doc, oid::ObjectId},
    options::ReturnDocument,
};
use serde::{Deserialize, Serialize};

use super::{DateTime, Store};

/// Every status.
pub const STATUSES: &[&str] = &[
    "pending",
    "under_review",
    "approved",
    "rejected",
    "paid",
    "expired",
    "cancelled",
];

/// Statuses counted as waiting for a decision.
pub const OPEN: &[&str] = &["pending", "under_review"];

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

/// A guarded transition: from which statuses, what to set, and the timeline entry.
#[derive(Debug, Clone)]
pub struct Transition {
    /// Allowed current statuses.
    pub from: &'static [&'static str],
    /// Fields to set (status included).
    pub set: Document,
    /// Appended to `timeline`.
    pub entry: TimelineEntry,
}

/// Per-merchant pending counts cached briefly (the contract's 5-minute cache, shortened and
/// invalidated by every write of that merchant so counts are never stale after a change).
#[derive(Debug, Default)]
pub struct PendingCounts {
    inner: Mutex<HashMap<ObjectId, (Instant, u64)>>,
}

/// How long a cached count is served.
pub const PENDING_TTL: Duration = Duration::from_secs(60);

impl PendingCounts {
    /// A fresh cached count.
    pub fn get(&self, merchant: ObjectId) -> Option<u64> {
        let map = self.inner.lock().ok()?;
        map.get(&merchant)
            .filter(|(at, _)| at.elapsed() < PENDING_TTL)
            .map(|(_, n)| *n)
    }

    /// Cache a count.
    pub fn put(&self, merchant: ObjectId, count: u64) {
        if let Ok(mut map) = self.inner.lock() {
            map.retain(|_, (at, _)| at.elapsed() < PENDING_TTL);
            map.insert(merchant, (Instant::now(), count));
        }
    }

    /// Forget a merchant's count after a write.
    pub fn invalidate(&self, merchant: ObjectId) {
        if let Ok(mut map) = self.inner.lock() {
            map.remove(&merchant);
        }
    }
}

impl Store {
    fn cashback(&self) -> mongodb::Collection<CashbackDoc> {
        self.db().collection("cashbackrequests")
    }

    fn cashback_raw(&self) -> mongodb::Collection<Document> {
        self.db().collection("cashbackrequests")
    }

    /// A page of requests, newest first, and the total.
    pub async fn cashback_page(
        &self,
        merchant: ObjectId,
        filter: &CashbackFilter,
        skip: u64,
        limit: i64,
    ) -> mongodb::error::Result<(Vec<CashbackDoc>, u64)> {
        let m = filter.to_match(merchant);
        let total = self.cashback().count_documents(m.clone()).await?;
        let items = self
            .cashback()
            .find(m)
            .sort(doc! { "createdAt": -1, "_id": -1 })
            .skip(skip)
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        Ok((items, total))
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

    /// Apply a transition if the request is in one of `from`; `None` when it is not (or is
    /// missing) — a single conditional update, so concurrent decisions cannot both win.
    pub async fn transition_cashback(
        &self,
        merchant: ObjectId,
        id: ObjectId,
        t: Transition,
    ) -> mongodb::error::Result<Option<CashbackDoc>> {
        let mut set = t.set;
        set.insert("updatedAt", DateTime::now());
        let entry = mongodb::bson::to_bson(&t.entry)?;
        self.cashback()
            .find_one_and_update(
                doc! { "_id": id, "merchantId": merchant.to_hex(), "status": { "$in": t.from } },
                doc! { "$set": set, "$push": { "timeline": entry } },
            )
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

    /// Run a pipeline over the merchant's requests (`$match` on the merchant comes first).
    pub async fn cashback_aggregate(
        &self,
        matched: Document,
        rest: Vec<Document>,
    ) -> mongodb::error::Result<Vec<Document>> {
        debug_assert!(matched.contains_key("merchantId"));
        let pipeline = std::iter::once(doc! { "$match": matched }).chain(rest);
        self.cashback_raw()
            .aggregate(pipeline)
            .await?
            .try_collect()
            .await
    }

    /// The merchant's store ids (orders are scoped through `items.store`).
    pub async fn merchant_store_ids(
        &self,
        merchant: ObjectId,
    ) -> mongodb::error::Result<Vec<Bson>> {
        self.db()
            .collection::<Document>("stores")
            .distinct("_id", doc! { "merchantId": merchant })
            .await
    }

    /// An order containing an item of one of the merchant's stores.
    pub async fn merchant_order(
        &self,
        merchant: ObjectId,
        order: ObjectId,
    ) -> mongodb::error::Result<Option<Document>> {
        let stores = self.merchant_store_ids(merchant).await?;
        self.db()
            .collection::<Document>("orders")
            .find_one(doc! { "_id": order, "items.store": { "$in": stores } })
            .await
    }
}

/// `$sum` of 1 where `status` equals `s`.
pub fn count_status(s: &str) -> Document {
    doc! { "$sum": { "$cond": [{ "$eq": ["$status", s] }, 1, 0] } }
}

/// `$sum` of `field` (0 when absent).
pub fn sum_of(field: &str) -> Document {
    doc! { "$sum": { "$ifNull": [format!("${field}"), 0] } }
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
