//! The cashback figures: stats (counts by status and real amounts), the analytics breakdown
//! (by status and by day) and the current metrics (open amounts, risk). Each is one pipeline
//! that starts by matching the merchant; rows come back as the contract's JSON.

use futures::TryStreamExt;
use mongodb::bson::{Document, doc, oid::ObjectId};
use serde_json::Value;

use super::{Result, Store, cashback::CashbackFilter, json::bson_to_json};

/// `$sum` of 1 where `status` equals `s`.
fn count_status(s: &str) -> Document {
    doc! { "$sum": { "$cond": [{ "$eq": ["$status", s] }, 1, 0] } }
}

/// `$sum` of `field` (0 when absent).
fn sum_of(field: &str) -> Document {
    doc! { "$sum": { "$ifNull": [format!("${field}"), 0] } }
}

/// Requests per status and per day of a period.
#[derive(Debug, Default)]
pub struct CashbackBreakdown {
    /// `[{status, count, requestedAmount, approvedAmount}]` by status.
    pub by_status: Vec<Value>,
    /// `[{date, count, requestedAmount, approvedAmount}]` by creation day.
    pub daily: Vec<Value>,
}

impl Store {
    async fn cashback_pipeline(
        &self,
        merchant: ObjectId,
        filter: &CashbackFilter,
        rest: Vec<Document>,
    ) -> Result<Vec<Value>> {
        let pipeline = std::iter::once(doc! { "$match": filter.to_match(merchant) }).chain(rest);
        let rows: Vec<Document> = self
            .cashback_raw()
            .aggregate(pipeline)
            .await?
            .try_collect()
            .await?;
        Ok(rows.into_iter().map(|d| bson_to_json(d.into())).collect())
    }

    /// `{total, totalAmount, approvedAmount, paidAmount, pending, underReview, approved,
    /// rejected, paid}` of the filter's requests; `None` when there are none.
    pub async fn cashback_stats(
        &self,
        merchant: ObjectId,
        filter: &CashbackFilter,
    ) -> Result<Option<Value>> {
        let group = doc! { "$group": {
            "_id": null,
            "total": { "$sum": 1 },
            "totalAmount": sum_of("requestedAmount"),
            "approvedAmount": sum_of("approvedAmount"),
            "paidAmount": sum_of("paidAmount"),
            "pending": count_status("pending"),
            "underReview": count_status("under_review"),
            "approved": count_status("approved"),
            "rejected": count_status("rejected"),
            "paid": count_status("paid"),
        } };
        let rows = self
            .cashback_pipeline(merchant, filter, vec![group])
            .await?;
        Ok(rows.into_iter().next())
    }

    /// The filter's requests by status and by creation day (UTC).
    pub async fn cashback_breakdown(
        &self,
        merchant: ObjectId,
        filter: &CashbackFilter,
    ) -> Result<CashbackBreakdown> {
        let by_status = vec![
            doc! { "$group": { "_id": "$status", "count": { "$sum": 1 },
            "requestedAmount": sum_of("requestedAmount"), "approvedAmount": sum_of("approvedAmount") } },
            doc! { "$project": { "_id": 0, "status": "$_id", "count": 1, "requestedAmount": 1, "approvedAmount": 1 } },
            doc! { "$sort": { "status": 1 } },
        ];
        let daily = vec![
            doc! { "$group": {
                "_id": { "$dateToString": { "format": "%Y-%m-%d", "date": "$createdAt" } },
                "count": { "$sum": 1 },
                "requestedAmount": sum_of("requestedAmount"),
                "approvedAmount": sum_of("approvedAmount"),
            } },
            doc! { "$project": { "_id": 0, "date": "$_id", "count": 1, "requestedAmount": 1, "approvedAmount": 1 } },
            doc! { "$sort": { "date": 1 } },
        ];
        let (by_status, daily) = futures::try_join!(
            self.cashback_pipeline(merchant, filter, by_status),
            self.cashback_pipeline(merchant, filter, daily),
        )?;
        Ok(CashbackBreakdown { by_status, daily })
    }

    /// Current totals of all the merchant's requests: open requests and amounts, granted and
    /// paid amounts, risk figures; `None` when there are none.
    pub async fn cashback_metrics(&self, merchant: ObjectId) -> Result<Option<Value>> {
        let open = doc! { "$in": ["$status", ["pending", "under_review"]] };
        let group = doc! { "$group": {
            "_id": null,
            "totalRequests": { "$sum": 1 },
            "pendingRequests": { "$sum": { "$cond": [open.clone(), 1, 0] } },
            "pendingAmount": { "$sum": { "$cond": [open, "$requestedAmount", 0] } },
            "approvedAmount": sum_of("approvedAmount"),
            "paidAmount": sum_of("paidAmount"),
            "rejectedRequests": count_status("rejected"),
            "flaggedForReview": { "$sum": { "$cond": ["$flaggedForReview", 1, 0] } },
            "highRiskRequests": { "$sum": { "$cond": [{ "$gte": ["$riskScore", 70] }, 1, 0] } },
            "averageRiskScore": { "$avg": "$riskScore" },
            "averageRequestedAmount": { "$avg": "$requestedAmount" },
        } };
        let all = CashbackFilter::default();
        let rows = self.cashback_pipeline(merchant, &all, vec![group]).await?;
        Ok(rows.into_iter().next())
    }
}
