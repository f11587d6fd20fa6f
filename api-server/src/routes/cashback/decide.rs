//! Review decisions on cashback requests: approve, reject, mark paid and the bulk form. Each is
//! one conditional update on the current status, so an illegal or concurrent transition fails
//! with 400 instead of overwriting.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::{
    cashback_id, not_found,
    types::actor_hex,
    views::{CashbackBulkOutcome, CashbackBulkResult, CashbackView},
};
use crate::{
    audit::AuditChange,
    domain::cashback::CashbackDecision,
    error::ApiError,
    extract::{AppJson, AuthMerchant},
    routes::Reply,
    state::AppState,
    store::{ObjectId, audit::AuditFacts, cashback::CashbackDoc},
    validate::{Len, Validator},
};

/// Body of an approval.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApproveBody {
    /// Granted amount (0..requested); defaults to the requested amount.
    pub approved_amount: Option<f64>,
    /// Notes (≤ 500).
    pub notes: Option<String>,
}

/// Body of a rejection.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RejectBody {
    /// Why (required, ≤ 500).
    pub reason: Option<String>,
}

/// Body of a payment record.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaidBody {
    /// wallet | bank_transfer | check.
    pub payment_method: Option<String>,
    /// Reference (≤ 100).
    pub payment_reference: Option<String>,
    /// Notes (≤ 500).
    pub notes: Option<String>,
}

/// Body of a bulk decision.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkBody {
    /// approve | reject.
    pub action: Option<String>,
    /// 1..50 request ids.
    pub cashback_ids: Option<Vec<String>>,
    /// Required for reject.
    pub reason: Option<String>,
    /// Approval notes.
    pub notes: Option<String>,
}

/// The request, or 404.
async fn load(
    state: &AppState,
    auth: &AuthMerchant,
    id: ObjectId,
) -> Result<CashbackDoc, ApiError> {
    state
        .store
        .cashback_by_id(auth.id(), id)
        .await
        .map_err(ApiError::internal("Failed to fetch cashback request"))?
        .ok_or_else(not_found)
}

/// Apply `decision`; a request in another status gives 400 naming it.
async fn apply(
    state: &AppState,
    auth: &AuthMerchant,
    id: ObjectId,
    verb: &str,
    decision: CashbackDecision,
) -> Result<CashbackDoc, ApiError> {
    let updated = state
        .store
        .transition_cashback(auth.id(), id, &decision, &actor_hex(auth))
        .await
        .map_err(ApiError::internal("Failed to update cashback request"))?;
    state.cashback_counts.invalidate(auth.id());
    match updated {
        Some(doc) => Ok(doc),
        None => {
            let current = load(state, auth, id).await?;
            Err(ApiError::BadRequest(format!(
                "Cannot {verb} a cashback request with status {}",
                current.status
            )))
        }
    }
}

/// What the audit record keeps of a request before and after a decision.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DecisionSummary<'a> {
    status: &'a str,
    approved_amount: Option<f64>,
    paid_amount: Option<f64>,
}

impl<'a> From<&'a CashbackDoc> for DecisionSummary<'a> {
    fn from(c: &'a CashbackDoc) -> Self {
        Self {
            status: &c.status,
            approved_amount: c.approved_amount,
            paid_amount: c.paid_amount,
        }
    }
}

fn decided(before: &CashbackDoc, after: &CashbackDoc, action: &'static str) -> AuditChange {
    AuditChange::action(action)
        .resource("cashback", after.id)
        .diff_of(
            &DecisionSummary::from(before),
            &DecisionSummary::from(after),
        )
}

/// Approve a pending or under-review request.
#[utoipa::path(put, path = "/api/merchant/cashback/{id}/approve", tag = "cashback", security(("bearer" = [])), request_body = ApproveBody,
    params(("id" = String, Path, description = "Cashback request id")),
    responses((status = 200, description = "Approved request", body = crate::openapi::Envelope<CashbackView>),
        (status = 400, description = "Invalid amount or status", body = crate::openapi::ErrorBody),
        (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(raw): Path<String>,
    AppJson(body): AppJson<ApproveBody>,
) -> Result<Reply<CashbackView>, ApiError> {
    auth.require("orders:refund")?;
    let id = cashback_id(&raw)?;
    let before = load(&state, &auth, id).await?;
    let mut v = Validator::new();
    let amount = v
        .opt_number(
            "approvedAmount",
            body.approved_amount,
            0.0,
            before.requested_amount,
        )
        .unwrap_or(before.requested_amount);
    let notes = v.opt_text("notes", body.notes, Len(0, 500));
    v.finish()?;
    let decision = CashbackDecision::Approve { amount, notes };
    let after = apply(&state, &auth, id, "approve", decision).await?;
    let change = decided(&before, &after, "cashback.approve");
    Ok(Reply::data(CashbackView::from(after))
        .message("Cashback request approved successfully")
        .audit(change))
}

/// Reject a pending or under-review request.
#[utoipa::path(put, path = "/api/merchant/cashback/{id}/reject", tag = "cashback", security(("bearer" = [])), request_body = RejectBody,
    params(("id" = String, Path, description = "Cashback request id")),
    responses((status = 200, description = "Rejected request", body = crate::openapi::Envelope<CashbackView>),
        (status = 400, description = "Missing reason or wrong status", body = crate::openapi::ErrorBody),
        (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
pub async fn reject(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(raw): Path<String>,
    AppJson(body): AppJson<RejectBody>,
) -> Result<Reply<CashbackView>, ApiError> {
    auth.require("orders:refund")?;
    let id = cashback_id(&raw)?;
    let mut v = Validator::new();
    let reason = v.text("reason", body.reason, Len(1, 500));
    v.finish()?;
    let before = load(&state, &auth, id).await?;
    let after = apply(
        &state,
        &auth,
        id,
        "reject",
        CashbackDecision::Reject { reason },
    )
    .await?;
    let change = decided(&before, &after, "cashback.reject");
    Ok(Reply::data(CashbackView::from(after))
        .message("Cashback request rejected successfully")
        .audit(change))
}

/// `POST` spelling of [`approve`] (the contract does not fix the method; both are served).
#[utoipa::path(post, path = "/api/merchant/cashback/{id}/approve", tag = "cashback", security(("bearer" = [])), request_body = ApproveBody,
    params(("id" = String, Path, description = "Cashback request id")),
    responses((status = 200, description = "Approved request", body = crate::openapi::Envelope<CashbackView>),
        (status = 400, description = "Invalid amount or status", body = crate::openapi::ErrorBody),
        (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
pub async fn approve_post(
    state: State<AppState>,
    auth: AuthMerchant,
    raw: Path<String>,
    body: AppJson<ApproveBody>,
) -> Result<Reply<CashbackView>, ApiError> {
    approve(state, auth, raw, body).await
}

/// `POST` spelling of [`reject`].
#[utoipa::path(post, path = "/api/merchant/cashback/{id}/reject", tag = "cashback", security(("bearer" = [])), request_body = RejectBody,
    params(("id" = String, Path, description = "Cashback request id")),
    responses((status = 200, description = "Rejected request", body = crate::openapi::Envelope<CashbackView>),
        (status = 400, description = "Missing reason or wrong status", body = crate::openapi::ErrorBody),
        (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
pub async fn reject_post(
    state: State<AppState>,
    auth: AuthMerchant,
    raw: Path<String>,
    body: AppJson<RejectBody>,
) -> Result<Reply<CashbackView>, ApiError> {
    reject(state, auth, raw, body).await
}

/// Record the payment of an approved request (paid amount = approved amount).
#[utoipa::path(put, path = "/api/merchant/cashback/{id}/mark-paid", tag = "cashback", security(("bearer" = [])), request_body = PaidBody,
    params(("id" = String, Path, description = "Cashback request id")),
    responses((status = 200, description = "Paid request", body = crate::openapi::Envelope<CashbackView>),
        (status = 400, description = "Validation failed or not approved", body = crate::openapi::ErrorBody),
        (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
pub async fn mark_paid(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(raw): Path<String>,
    AppJson(body): AppJson<PaidBody>,
) -> Result<Reply<CashbackView>, ApiError> {
    auth.require("orders:refund")?;
    let id = cashback_id(&raw)?;
    let mut v = Validator::new();
    let method = v.one_of(
        "paymentMethod",
        body.payment_method.clone(),
        &["wallet", "bank_transfer", "check"],
    );
    if body.payment_method.is_none() {
        v.error("paymentMethod", "\"paymentMethod\" is required", None);
    }
    let reference = v.opt_text("paymentReference", body.payment_reference, Len(0, 100));
    let notes = v.opt_text("notes", body.notes, Len(0, 500));
    v.finish()?;
    let before = load(&state, &auth, id).await?;
    let decision = CashbackDecision::MarkPaid {
        amount: before.approved_amount.unwrap_or(before.requested_amount),
        method: method.unwrap_or("wallet"),
        reference,
        notes,
    };
    let after = apply(&state, &auth, id, "mark as paid", decision).await?;
    let change = decided(&before, &after, "cashback.mark_paid");
    Ok(Reply::data(CashbackView::from(after))
        .message("Cashback marked as paid successfully")
        .audit(change))
}

struct Bulk {
    approve: bool,
    ids: Vec<ObjectId>,
    reason: String,
    notes: Option<String>,
}

impl Bulk {
    /// The decision's verb in messages.
    fn verb(&self) -> &'static str {
        if self.approve { "approve" } else { "reject" }
    }
}

fn validate_bulk(body: BulkBody) -> Result<Bulk, ApiError> {
    let mut v = Validator::new();
    let action = v.one_of("action", body.action.clone(), &["approve", "reject"]);
    if body.action.is_none() {
        v.error("action", "\"action\" is required", None);
    }
    let raw_ids = body.cashback_ids.unwrap_or_default();
    if raw_ids.is_empty() || raw_ids.len() > 50 {
        v.error(
            "cashbackIds",
            "\"cashbackIds\" must contain between 1 and 50 items",
            None,
        );
    }
    let mut ids = Vec::with_capacity(raw_ids.len());
    for (i, raw) in raw_ids.into_iter().enumerate() {
        match ObjectId::parse_str(&raw) {
            Ok(id) => ids.push(id),
            Err(_) => v.error(
                &format!("cashbackIds[{i}]"),
                format!("\"cashbackIds[{i}]\" must be a valid id"),
                Some(raw.into()),
            ),
        }
    }
    let reason = if action == Some("reject") {
        v.text("reason", body.reason, Len(1, 500))
    } else {
        body.reason.unwrap_or_default()
    };
    let notes = v.opt_text("notes", body.notes, Len(0, 500));
    v.finish()?;
    Ok(Bulk {
        approve: action == Some("approve"),
        ids,
        reason,
        notes,
    })
}

/// Decide one request of a bulk action (approval grants the requested amount).
async fn decide_one(
    state: &AppState,
    auth: &AuthMerchant,
    bulk: &Bulk,
    id: ObjectId,
) -> CashbackBulkResult {
    let verb = bulk.verb();
    let outcome = async {
        let decision = if bulk.approve {
            let current = load(state, auth, id).await?;
            CashbackDecision::Approve {
                amount: current.requested_amount,
                notes: bulk.notes.clone(),
            }
        } else {
            CashbackDecision::Reject {
                reason: bulk.reason.clone(),
            }
        };
        apply(state, auth, id, verb, decision).await
    }
    .await;
    let (success, status, message) = match outcome {
        Ok(doc) => (true, Some(doc.status), None),
        Err(e) => (false, None, Some(e.to_string())),
    };
    CashbackBulkResult {
        id: id.to_hex(),
        success,
        status,
        message,
    }
}

/// Approve or reject up to 50 requests; each gets its own result.
#[utoipa::path(post, path = "/api/merchant/cashback/bulk-action", tag = "cashback", security(("bearer" = [])), request_body = BulkBody,
    responses((status = 200, description = "How many were decided, and one result per id", body = crate::openapi::Envelope<CashbackBulkOutcome>),
        (status = 400, description = "Validation failed", body = crate::openapi::ErrorBody)))]
pub async fn bulk_action(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppJson(body): AppJson<BulkBody>,
) -> Result<Reply<CashbackBulkOutcome>, ApiError> {
    auth.require("orders:refund")?;
    let bulk = validate_bulk(body)?;
    let verb = bulk.verb();
    let mut results = Vec::with_capacity(bulk.ids.len());
    for id in &bulk.ids {
        results.push(decide_one(&state, &auth, &bulk, *id).await);
    }
    let processed = results.iter().filter(|r| r.success).count();
    let facts = AuditFacts {
        action: Some(verb.to_string()),
        requested: Some(bulk.ids.len() as i64),
        processed: Some(processed as i64),
        ..AuditFacts::default()
    };
    let change = AuditChange {
        resource_type: Some("cashback"),
        ..AuditChange::action("cashback.bulk_action")
    }
    .facts(&facts);
    Ok(Reply::data(CashbackBulkOutcome {
        processed,
        failed: results.len() - processed,
        results,
    })
    .message(format!("Bulk {verb} completed"))
    .audit(change))
}
