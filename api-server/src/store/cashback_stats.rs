//! The cashback figures: stats (counts by status and real amounts), the analytics breakdown
//! (by status and by day) and the current metrics (open amounts, risk). Each is one pipeline
//! that starts by matching the merchant; rows come back as typed rows.

use futures::TryStreamExt;
use mongodb::bson::{Document, doc, oid::ObjectId};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::{Result, Store, cashback::CashbackFilter};

/// A sum or average as the server computed it: an integer when every input was one (a sum of
/// absent amounts is `0`), a float otherwise. Kept as is so the JSON number keeps its kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Figure {
    /// Integer result.
    Int(i64),
    /// Float result.
    Float(f64),
}

impl Default for Figure {
    fn default() -> Self {
        Self::Int(0)
    }
}

impl Figure {
    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Self::Int(i) => i as f64,
            Self::Float(f) => f,
        }
    }
}

/// Counts by status and the real amounts of a set of requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CashbackStatsRow {
    /// Requests.
    pub total: i64,
    /// Sum of the requested amounts.
    #[schema(value_type = f64)]
    pub total_amount: Figure,
    /// Sum of the approved amounts.
    #[schema(value_type = f64)]
    pub approved_amount: Figure,
    /// Sum of the paid amounts.
    #[schema(value_type = f64)]
    pub paid_amount: Figure,
    /// Pending requests.
    pub pending: i64,
    /// Requests under review.
    pub under_review: i64,
    /// Approved (not yet paid) requests.
    pub approved: i64,
    /// Rejected requests.
    pub rejected: i64,
    /// Paid requests.
    pub paid: i64,
}

/// Requests of one status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CashbackStatusRow {
    /// Status.
    pub status: String,
    /// Requests.
    pub count: i64,
    /// Sum of the requested amounts.
    #[schema(value_type = f64)]
    pub requested_amount: Figure,
    /// Sum of the approved amounts.
    #[schema(value_type = f64)]
    pub approved_amount: Figure,
}

/// Requests created on one UTC day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CashbackDayRow {
    /// Day (`YYYY-MM-DD`).
    pub date: String,
    /// Requests.
    pub count: i64,
    /// Sum of the requested amounts.
    #[schema(value_type = f64)]
    pub requested_amount: Figure,
    /// Sum of the approved amounts.
    #[schema(value_type = f64)]
    pub approved_amount: Figure,
}

/// Current totals of all the merchant's requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CashbackMetrics {
    /// Requests.
    pub total_requests: i64,
    /// Requests waiting for a decision (pending, under review).
    pub pending_requests: i64,
    /// Requested amount of those.
    #[schema(value_type = f64)]
    pub pending_amount: Figure,
    /// Sum of the approved amounts.
    #[schema(value_type = f64)]
    pub approved_amount: Figure,
    /// Sum of the paid amounts.
    #[schema(value_type = f64)]
    pub paid_amount: Figure,
    /// Rejected requests.
    pub rejected_requests: i64,
    /// Requests flagged for manual review.
    pub flagged_for_review: i64,
    /// Requests with a risk score of 70 or more.
    pub high_risk_requests: i64,
    /// Mean risk score (`null` when no request has one).
    #[schema(value_type = Option<f64>)]
    pub average_risk_score: Option<Figure>,
    /// Mean requested amount (`null` when no request has one).
    #[schema(value_type = Option<f64>)]
    pub average_requested_amount: Option<Figure>,
}

impl Default for CashbackMetrics {
    /// The figures of a merchant without requests: every one `0`.
    fn default() -> Self {
        Self {
            total_requests: 0,
            pending_requests: 0,
            pending_amount: Figure::Int(0),
            approved_amount: Figure::Int(0),
            paid_amount: Figure::Int(0),
            rejected_requests: 0,
            flagged_for_review: 0,
            high_risk_requests: 0,
            average_risk_score: Some(Figure::Int(0)),
            average_requested_amount: Some(Figure::Int(0)),
        }
    }
}

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
    /// By status, in status order.
    pub by_status: Vec<CashbackStatusRow>,
    /// By creation day, in date order.
    pub daily: Vec<CashbackDayRow>,
}

impl Store {
    async fn cashback_pipeline<T: DeserializeOwned>(
        &self,
        merchant: ObjectId,
        filter: &CashbackFilter,
        rest: Vec<Document>,
    ) -> Result<Vec<T>> {
        let pipeline = std::iter::once(doc! { "$match": filter.to_match(merchant) }).chain(rest);
        let rows: Vec<Document> = self
            .cashback_raw()
            .aggregate(pipeline)
            .await?
            .try_collect()
            .await?;
        rows.into_iter()
            .map(|d| mongodb::bson::from_document(d).map_err(Into::into))
            .collect()
    }

    /// Counts by status and amounts of the filter's requests; `None` when there are none.
    pub async fn cashback_stats(
        &self,
        merchant: ObjectId,
        filter: &CashbackFilter,
    ) -> Result<Option<CashbackStatsRow>> {
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
    pub async fn cashback_metrics(&self, merchant: ObjectId) -> Result<Option<CashbackMetrics>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_keep_the_number_kind_the_server_computed() {
        let row = doc! {
            "_id": null, "total": 2, "totalAmount": 65.0, "approvedAmount": 0, "paidAmount": 60.0,
            "pending": 0, "underReview": 0, "approved": 0, "rejected": 1, "paid": 1,
        };
        let stats: CashbackStatsRow = mongodb::bson::from_document(row).expect("row");
        let json = serde_json::to_string(&stats).expect("json");
        assert!(json.contains(r#""totalAmount":65.0"#), "{json}");
        assert!(json.contains(r#""approvedAmount":0,"#), "{json}");
        assert_eq!(stats.total_amount.as_f64(), 65.0);
        let none = serde_json::to_value(CashbackMetrics::default()).expect("json");
        assert_eq!(none["averageRiskScore"], serde_json::json!(0));
        assert!(none["pendingAmount"].is_u64());
    }
}
