//! Request and response types of the cashback routes, and the construction of a new request
//! (order snapshot, rate, amount-based risk score).

use mongodb::bson::{Document, doc, oid::ObjectId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    error::ApiError,
    extract::AuthMerchant,
    store::{
        DateTime,
        cashback::{CashbackDoc, TimelineEntry},
        json::to_json,
    },
    validate::{Len, Validator},
};

/// Query of the list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page (≥ 1).
    pub page: Option<String>,
    /// Page size (1..100, default 20).
    pub limit: Option<String>,
    /// Status filter.
    pub status: Option<String>,
    /// Created from (ISO date).
    pub start_date: Option<String>,
    /// Created until (ISO date, inclusive).
    pub end_date: Option<String>,
}

/// A date range.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// From (ISO date).
    pub start_date: Option<String>,
    /// Until (ISO date, inclusive).
    pub end_date: Option<String>,
}

/// Body of a new request.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    /// Order id (24-hex), one of the merchant's orders.
    pub order_id: Option<String>,
    /// Customer id (24-hex); must be the order's customer when the order names one.
    pub customer_id: Option<String>,
    /// Amount asked for (≥ 0, ≤ the order total).
    pub amount: Option<f64>,
    /// Why (≤ 500).
    pub reason: Option<String>,
}

/// A validated new request.
#[derive(Debug)]
pub struct NewRequest {
    /// Order.
    pub order_id: ObjectId,
    /// Customer.
    pub customer_id: ObjectId,
    /// Amount.
    pub amount: f64,
    /// Reason.
    pub reason: Option<String>,
}

fn hex_id(v: &mut Validator, field: &str, raw: Option<String>) -> ObjectId {
    v.parse(field, raw, |r| {
        ObjectId::parse_str(r).map_err(|_| "must be a valid 24-character hex id")
    })
}

impl CreateBody {
    /// Check every field.
    pub fn validate(self) -> Result<NewRequest, ApiError> {
        let mut v = Validator::new();
        let order_id = hex_id(&mut v, "orderId", self.order_id);
        let customer_id = hex_id(&mut v, "customerId", self.customer_id);
        let amount = v.number("amount", self.amount, 0.0, 1e12);
        let reason = v.opt_text("reason", self.reason, Len(0, 500));
        v.finish()?;
        Ok(NewRequest {
            order_id,
            customer_id,
            amount,
            reason,
        })
    }
}

fn number(d: &Document, path: &[&str]) -> Option<f64> {
    let (last, parents) = path.split_last()?;
    let mut cur = d;
    for p in parents {
        cur = cur.get_document(p).ok()?;
    }
    match cur.get(last)? {
        mongodb::bson::Bson::Double(f) => Some(*f),
        mongodb::bson::Bson::Int32(i) => Some(f64::from(*i)),
        mongodb::bson::Bson::Int64(i) => Some(*i as f64),
        _ => None,
    }
}

/// Risk from the share of the order asked back: a larger share is riskier.
fn risk(amount: f64, total: f64) -> (f64, Vec<Document>) {
    let share = if total > 0.0 { amount / total } else { 1.0 };
    let (score, severity) = match share {
        s if s > 0.5 => (80.0, Some("high")),
        s if s > 0.2 => (45.0, Some("medium")),
        _ => (10.0, None),
    };
    let factors = severity
        .map(|sev| {
            vec![doc! {
                "type": "amount", "severity": sev,
                "description": format!("Requested amount is {:.0}% of the order total", share * 100.0),
                "value": share,
            }]
        })
        .unwrap_or_default();
    (score, factors)
}

/// Build the stored request from a validated body and the merchant's order document.
pub fn new_request(
    auth: &AuthMerchant,
    input: NewRequest,
    order: &Document,
) -> Result<CashbackDoc, ApiError> {
    if let Ok(user) = order.get_object_id("user")
        && user != input.customer_id
    {
        return Err(ApiError::field(
            "Validation failed",
            "customerId",
            "\"customerId\" is not the customer of this order",
        ));
    }
    let total = number(order, &["totals", "total"]).unwrap_or(0.0);
    if input.amount > total {
        return Err(ApiError::field(
            "Validation failed",
            "amount",
            format!("\"amount\" must be less than or equal to the order total {total}"),
        ));
    }
    let now = DateTime::now();
    let (risk_score, risk_factors) = risk(input.amount, total);
    let flagged = risk_score >= 70.0;
    let id = ObjectId::new();
    Ok(CashbackDoc {
        id,
        request_number: format!("CB-{}", id.to_hex().to_uppercase()),
        merchant_id: auth.id().to_hex(),
        customer_id: input.customer_id.to_hex(),
        order_id: input.order_id.to_hex(),
        customer: Some(doc! { "id": input.customer_id.to_hex() }),
        order: Some(doc! {
            "id": input.order_id.to_hex(),
            "orderNumber": order.get_str("orderNumber").unwrap_or_default(),
            "totalAmount": total,
            "orderDate": order.get_datetime("createdAt").copied().unwrap_or(now),
        }),
        requested_amount: input.amount,
        approved_amount: None,
        cashback_rate: if total > 0.0 {
            (input.amount / total * 10_000.0).round() / 100.0
        } else {
            0.0
        },
        reason: input.reason,
        status: "pending".into(),
        priority: if flagged { "high" } else { "normal" }.into(),
        risk_score,
        risk_factors,
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
        timeline: vec![TimelineEntry {
            status: "pending".into(),
            timestamp: now,
            notes: Some("Cashback request created".into()),
            by: Some(actor_hex(auth)),
        }],
        created_at: now,
        updated_at: now,
    })
}

/// The acting user's id: the team member's, or the merchant's for the owner.
pub fn actor_hex(auth: &AuthMerchant) -> String {
    auth.member.as_ref().map_or(auth.id(), |m| m.id).to_hex()
}

/// JSON of a request (`_id` and `id`).
pub fn cashback_json(c: &CashbackDoc) -> Result<Value, ApiError> {
    let mut v = to_json(c).map_err(|e| ApiError::Internal {
        message: "Failed to render cashback request",
        source: Box::new(e),
    })?;
    v["id"] = json!(c.id.to_hex());
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_grows_with_the_share_of_the_order() {
        assert_eq!(risk(5.0, 100.0).0, 10.0);
        assert!(risk(5.0, 100.0).1.is_empty());
        assert_eq!(risk(30.0, 100.0).0, 45.0);
        assert_eq!(risk(60.0, 100.0).0, 80.0);
        assert_eq!(risk(1.0, 0.0).0, 80.0);
    }
}
