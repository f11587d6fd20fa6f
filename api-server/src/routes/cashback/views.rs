//! Response types of the cashback routes: one request as clients read it, the list, the decisions' results, the figures and the export.

use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    routes::cursor::Standing,
    store::{
        cashback::{CashbackDoc, RiskFactorRow, TimelineEntry},
        cashback_stats::{CashbackDayRow, CashbackMetrics, CashbackStatsRow, CashbackStatusRow},
        json::iso,
    },
};

/// What a request records of its customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CashbackCustomer {
    /// Customer id (24-hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name, when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// E-mail, when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone, when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// What a request records of its order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CashbackOrder {
    /// Order id (24-hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Order number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
    /// Order total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_amount: Option<f64>,
    /// When the order was placed (ISO-8601).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub order_date: Option<String>,
}

/// One status change of a request.
#[derive(Debug, Serialize, ToSchema)]
pub struct CashbackTimelineEntry {
    /// Status entered.
    pub status: String,
    /// When (ISO-8601).
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// Notes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Actor (merchant or team member id, 24-hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl From<TimelineEntry> for CashbackTimelineEntry {
    fn from(t: TimelineEntry) -> Self {
        Self {
            status: t.status,
            timestamp: iso(t.timestamp),
            notes: t.notes,
            by: t.by,
        }
    }
}

/// A cashback request (contract §3.6), with its id both as `_id` and `id`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CashbackView {
    /// Id (24-hex).
    #[serde(rename = "_id")]
    pub mongo_id: String,
    /// `CB-…`, unique.
    pub request_number: String,
    /// Merchant (24-hex).
    pub merchant_id: String,
    /// Customer (24-hex).
    pub customer_id: String,
    /// Order (24-hex).
    pub order_id: String,
    /// Customer snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub customer: Option<CashbackCustomer>,
    /// Order snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub order: Option<CashbackOrder>,
    /// Amount asked for.
    pub requested_amount: f64,
    /// Amount granted (once approved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_amount: Option<f64>,
    /// Requested amount as a percentage of the order total.
    pub cashback_rate: f64,
    /// Why the customer asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// pending | under_review | approved | rejected | paid…
    pub status: String,
    /// normal | high | urgent.
    pub priority: String,
    /// 0..100.
    pub risk_score: f64,
    /// Why the request looks risky.
    pub risk_factors: Vec<RiskFactorRow>,
    /// Needs manual review.
    pub flagged_for_review: bool,
    /// Reviewer (24-hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reviewed_by: Option<String>,
    /// Review time (ISO-8601).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub reviewed_at: Option<String>,
    /// Approval notes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_notes: Option<String>,
    /// Rejection reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
    /// wallet | bank_transfer | check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    /// Payment reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_reference: Option<String>,
    /// Paid (ISO-8601).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub paid_at: Option<String>,
    /// Amount paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_amount: Option<f64>,
    /// pending | processing | processed | failed | cancelled.
    pub payment_status: String,
    /// Request expiry (ISO-8601).
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// Status history, oldest first.
    pub timeline: Vec<CashbackTimelineEntry>,
    /// Created (ISO-8601).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Updated (ISO-8601).
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Id (24-hex), the same as `_id`.
    pub id: String,
}

impl From<CashbackDoc> for CashbackView {
    fn from(c: CashbackDoc) -> Self {
        let text = |t: Option<&str>| t.map(str::to_string);
        let customer = c.customer.as_ref().map(|_| CashbackCustomer {
            id: text(c.customer_text("id")),
            name: text(c.customer_text("name")),
            email: text(c.customer_text("email")),
            phone: text(c.customer_text("phone")),
        });
        let order = c.order.as_ref().map(|_| CashbackOrder {
            id: text(c.order_text("id")),
            order_number: text(c.order_text("orderNumber")),
            total_amount: c.order_number("totalAmount"),
            order_date: c.order_date("orderDate").map(iso),
        });
        let risk_factors = c.risk_factor_rows();
        Self {
            mongo_id: c.id.to_hex(),
            request_number: c.request_number,
            merchant_id: c.merchant_id,
            customer_id: c.customer_id,
            order_id: c.order_id,
            customer,
            order,
            requested_amount: c.requested_amount,
            approved_amount: c.approved_amount,
            cashback_rate: c.cashback_rate,
            reason: c.reason,
            status: c.status,
            priority: c.priority,
            risk_score: c.risk_score,
            risk_factors,
            flagged_for_review: c.flagged_for_review,
            reviewed_by: c.reviewed_by,
            reviewed_at: c.reviewed_at.map(iso),
            approval_notes: c.approval_notes,
            rejection_reason: c.rejection_reason,
            payment_method: c.payment_method,
            payment_reference: c.payment_reference,
            paid_at: c.paid_at.map(iso),
            paid_amount: c.paid_amount,
            payment_status: c.payment_status,
            expires_at: iso(c.expires_at),
            timeline: c.timeline.into_iter().map(Into::into).collect(),
            created_at: iso(c.created_at),
            updated_at: iso(c.updated_at),
            id: c.id.to_hex(),
        }
    }
}

/// Paging of the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct CashbackPagination {
    /// Page (≥ 1; left out in cursor mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    /// Page size.
    pub limit: i64,
    /// Requests matching the filter (left out with `includeTotal=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Pages (left out with `includeTotal=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<u64>,
}

impl CashbackPagination {
    /// Where a window of `limit` requests stands.
    pub fn new(at: Standing, limit: i64) -> Self {
        Self {
            page: at.page,
            limit,
            total: at.total,
            pages: at.pages,
        }
    }
}

/// A page of requests.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CashbackList {
    /// Requests, newest first.
    pub cashbacks: Vec<CashbackView>,
    /// Paging.
    pub pagination: CashbackPagination,
    /// Cursor mode only: the cursor of the next window, `null` at the end of the list.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<Option<String>>,
}

/// Counts by status and amounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct CashbackStats {
    /// The figures (all `0` without requests).
    pub stats: CashbackStatsRow,
}

/// Requests waiting for a decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct CashbackPendingCount {
    /// Pending and under-review requests.
    pub count: u64,
    /// Whether the count came from the short per-merchant cache.
    pub cached: bool,
}

/// The result of one request of a bulk decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct CashbackBulkResult {
    /// Request id (24-hex).
    pub id: String,
    /// Whether the decision was applied.
    pub success: bool,
    /// The new status (on success).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Why it failed (on failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The results of a bulk decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct CashbackBulkOutcome {
    /// Requests decided.
    pub processed: usize,
    /// Requests not decided.
    pub failed: usize,
    /// One result per requested id, in request order.
    pub results: Vec<CashbackBulkResult>,
}

/// An export, inline as a data URL.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CashbackExport {
    /// `data:text/csv…` or `data:application/vnd.openxmlformats…;base64,…`.
    pub download_url: String,
    /// Until when the link is meant to be used (ISO-8601).
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// Rows exported.
    pub record_count: usize,
    /// csv | excel.
    pub format: &'static str,
}

/// The analytics period (ISO-8601 bounds; `null` when open).
#[derive(Debug, Serialize, ToSchema)]
pub struct CashbackPeriod {
    /// From.
    #[schema(format = DateTime)]
    pub start: Option<String>,
    /// Until.
    #[schema(format = DateTime)]
    pub end: Option<String>,
}

/// Status breakdown, daily series and approval rate of a period.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CashbackAnalytics {
    /// The period.
    pub period: CashbackPeriod,
    /// Requests by status.
    pub by_status: Vec<CashbackStatusRow>,
    /// Requests by creation day.
    pub daily: Vec<CashbackDayRow>,
    /// Granted (approved + paid) share of the decided requests, in percent (two decimals).
    pub approval_rate: f64,
}

/// Current totals and risk figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct CashbackMetricsData {
    /// The figures (all `0` without requests).
    pub metrics: CashbackMetrics,
}
