//! Order request types with their validation (the order clients read is `views::OrderView`).

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::super::params::KnownKeys;
use crate::{
    domain::order::{RefundLine, SETTABLE_STATUSES},
    error::ApiError,
    extract::object_id,
    store::{ObjectId, order_updates::TrackingInfo},
    validate::{Len, Validator},
};

/// Query of `GET /orders`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct OrderListQuery {
    /// placed | confirmed | preparing | ready | dispatched | delivered | cancelled | returned | refunded.
    pub status: Option<String>,
    /// pending | processing | paid | failed | refunded | partially_refunded.
    pub payment_status: Option<String>,
    /// Created at or after (ISO 8601).
    pub start_date: Option<String>,
    /// Created at or before (ISO 8601, ≥ startDate).
    pub end_date: Option<String>,
    /// Order number or customer name, e-mail or phone (≤ 100 characters).
    pub search: Option<String>,
    /// One owned store (24-hex).
    pub store_id: Option<String>,
    /// createdAt | total | status | orderNumber.
    pub sort_by: Option<String>,
    /// asc | desc (default desc).
    pub order: Option<String>,
    /// ≥ 1 (default 1).
    pub page: Option<String>,
    /// 1..100 (default 20).
    pub limit: Option<String>,
}

impl KnownKeys for OrderListQuery {
    const KEYS: &'static [&'static str] = &[
        "cursor",
        "includeTotal",
        "status",
        "paymentStatus",
        "startDate",
        "endDate",
        "search",
        "storeId",
        "sortBy",
        "order",
        "page",
        "limit",
    ];
}

/// Query of `GET /orders/analytics`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// Start (ISO 8601; default 30 days ago).
    pub start_date: Option<String>,
    /// End (ISO 8601; default now).
    pub end_date: Option<String>,
    /// One owned store (24-hex).
    pub store_id: Option<String>,
    /// day | week | month (default day).
    pub interval: Option<String>,
}

impl KnownKeys for AnalyticsQuery {
    const KEYS: &'static [&'static str] = &["startDate", "endDate", "storeId", "interval"];
}

/// Body of `PUT /orders/{id}/status`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusBody {
    /// confirmed | preparing | ready | dispatched | out_for_delivery | delivered | cancelled.
    pub status: Option<String>,
    /// Timeline note, or the cancellation reason (≤ 500).
    pub notes: Option<String>,
    /// Ask for a customer message (recorded; customer messaging is the consumer app's).
    pub notify_customer: Option<bool>,
}

impl StatusBody {
    /// The target status and note.
    pub fn validate(self) -> Result<(&'static str, Option<String>), ApiError> {
        let mut v = Validator::new();
        let status = match self.status {
            None => {
                v.error("status", "\"status\" is required", None);
                None
            }
            s => v.one_of("status", s, &SETTABLE_STATUSES),
        };
        let notes = v.opt_text("notes", self.notes, Len(0, 500));
        v.finish()?;
        Ok((
            status.unwrap_or_default(),
            notes.filter(|n| !n.trim().is_empty()),
        ))
    }
}

/// Body of `POST /orders/bulk-action`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkBody {
    /// confirm | prepare | ready | deliver | cancel | mark-shipped.
    pub action: Option<String>,
    /// 1..50 order ids.
    pub order_ids: Option<Vec<String>>,
    /// Required for cancel (≤ 500).
    pub reason: Option<String>,
    /// Carrier data, only for mark-shipped.
    #[schema(value_type = Object)]
    pub tracking_info: Option<TrackingInfo>,
}

/// A validated bulk action.
#[derive(Debug)]
pub struct Bulk {
    /// Action name.
    pub action: &'static str,
    /// Orders.
    pub ids: Vec<ObjectId>,
    /// Reason.
    pub reason: Option<String>,
    /// Carrier data.
    pub tracking: Option<TrackingInfo>,
}

const ACTIONS: [&str; 6] = [
    "confirm",
    "prepare",
    "ready",
    "deliver",
    "cancel",
    "mark-shipped",
];

impl BulkBody {
    /// Check the action, ids, reason and tracking data.
    pub fn validate(self) -> Result<Bulk, ApiError> {
        let mut v = Validator::new();
        let action = match self.action {
            None => {
                v.error("action", "\"action\" is required", None);
                None
            }
            a => v.one_of("action", a, &ACTIONS),
        };
        let ids = order_ids(&mut v, "orderIds", self.order_ids, 50);
        let reason = v.opt_text("reason", self.reason, Len(1, 500));
        if action == Some("cancel") && reason.is_none() {
            v.error("reason", "\"reason\" is required", None);
        }
        if self.tracking_info.is_some() && action.is_some_and(|a| a != "mark-shipped") {
            v.error("trackingInfo", "\"trackingInfo\" is not allowed", None);
        }
        let tracking = self.tracking_info;
        v.finish()?;
        Ok(Bulk {
            action: action.unwrap_or_default(),
            ids,
            reason,
            tracking,
        })
    }
}

/// Parse `1..=max` distinct 24-hex ids.
pub fn order_ids(
    v: &mut Validator,
    field: &str,
    raw: Option<Vec<String>>,
    max: usize,
) -> Vec<ObjectId> {
    let Some(raw) = raw else {
        v.error(field, format!("\"{field}\" is required"), None);
        return Vec::new();
    };
    if raw.is_empty() || raw.len() > max {
        v.error(
            field,
            format!("\"{field}\" must contain between 1 and {max} items"),
            None,
        );
    }
    let mut ids = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        match ObjectId::parse_str(s) {
            Ok(id) if !ids.contains(&id) => ids.push(id),
            Ok(_) => {}
            Err(_) => v.error(
                &format!("{field}.{i}"),
                format!("\"{field}[{i}]\" must be a valid id"),
                Some(s.clone().into()),
            ),
        }
    }
    ids
}

/// Body of `POST /orders/{id}/refund`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundBody {
    /// Amount (> 0, at most what is left of the amount paid).
    pub amount: Option<f64>,
    /// Why (10..500 characters).
    pub reason: Option<String>,
    /// Refunded lines: `{itemId, quantity}`.
    pub refund_items: Option<Vec<RefundItem>>,
}

/// One refunded line.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundItem {
    /// Line id (24-hex).
    pub item_id: Option<String>,
    /// Units (≥ 1).
    pub quantity: Option<i64>,
}

impl RefundBody {
    /// Amount (rounded to cents), reason and lines.
    pub fn validate(self) -> Result<(f64, String, Vec<RefundLine>), ApiError> {
        let mut v = Validator::new();
        let amount = v.number("amount", self.amount, 0.0, 1e12);
        if self.amount.is_some_and(|a| a == 0.0) {
            v.error(
                "amount",
                "\"amount\" must be greater than 0",
                Some(0.into()),
            );
        }
        let reason = v.text("reason", self.reason, Len(10, 500));
        let mut items = Vec::new();
        for (i, item) in self
            .refund_items
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let id = v.parse(&format!("refundItems.{i}.itemId"), item.item_id, |s| {
                ObjectId::parse_str(s).map_err(|_| "must be a valid id")
            });
            let qty = match item.quantity {
                None => {
                    v.error(
                        &format!("refundItems.{i}.quantity"),
                        "\"quantity\" is required",
                        None,
                    );
                    0
                }
                q => v
                    .opt_int(&format!("refundItems.{i}.quantity"), q, 1, 1_000_000)
                    .unwrap_or(0),
            };
            items.push(RefundLine {
                item_id: id,
                quantity: qty,
            });
        }
        v.finish()?;
        Ok((
            (amount * 100.0).round() / 100.0,
            reason.trim().to_string(),
            items,
        ))
    }
}

/// Parse an order id path segment.
pub fn order_id(raw: &str) -> Result<ObjectId, ApiError> {
    object_id(raw, "Invalid order ID format")
}
