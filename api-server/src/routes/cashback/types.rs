//! Request types of the cashback routes, and the construction of a new request (order
//! snapshot, rate, amount-based risk score). Response types are in [`super::views`].

use serde::Deserialize;

use crate::{
    error::ApiError,
    extract::AuthMerchant,
    store::{
        ObjectId,
        cashback::{CashbackDoc, NewCashback, OrderSnapshot},
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

/// The stored request for a validated body and the merchant's order: the customer must be the
/// order's (when it names one) and the amount at most the order total.
pub fn new_request(
    auth: &AuthMerchant,
    input: NewRequest,
    order: OrderSnapshot,
) -> Result<CashbackDoc, ApiError> {
    if order.customer.is_some_and(|c| c != input.customer_id) {
        return Err(ApiError::field(
            "Validation failed",
            "customerId",
            "\"customerId\" is not the customer of this order",
        ));
    }
    let total = order.total;
    if input.amount > total {
        return Err(ApiError::field(
            "Validation failed",
            "amount",
            format!("\"amount\" must be less than or equal to the order total {total}"),
        ));
    }
    Ok(CashbackDoc::new(NewCashback {
        merchant: auth.id(),
        customer: input.customer_id,
        order,
        amount: input.amount,
        reason: input.reason,
        actor: actor_hex(auth),
    }))
}

/// The acting user's id: the team member's, or the merchant's for the owner.
pub fn actor_hex(auth: &AuthMerchant) -> String {
    auth.member.as_ref().map_or(auth.id(), |m| m.id).to_hex()
}
