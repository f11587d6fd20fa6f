//! Merchant writes to an order shared by several merchants (lines of other merchants'
//! stores): each merchant moves, cancels and refunds only its own lines. Every write is a
//! compare-and-set on what it read (the order's status, the merchant's line statuses, the
//! refunded total), retried a few times on a concurrent change, so two requests never both
//! apply the same step; the rest of the order is left untouched.

use mongodb::{
    bson::{Bson, Document, doc},
    options::ReturnDocument,
};

use super::{
    DateTime, Store,
    order_updates::{Refund, RefundRequest, StatusChange, Transition, refund_push},
    orders::{OrderDoc, OrderScope},
};
use crate::domain::order::{can_transition, part_refundable, whole_order_reaches};

/// Compare-and-set attempts (each after re-reading the order) before giving up.
const ATTEMPTS: usize = 5;
/// Cents of slack when comparing money amounts stored as doubles.
const EPSILON: f64 = 0.005;

/// The filter matching `order` only while the order's status and the merchant's line
/// statuses are still what was read.
fn unchanged_lines(order: &OrderDoc, mine: &[usize]) -> Document {
    let mut f = doc! { "_id": order.id, "status": order.status.as_str() };
    for &i in mine {
        let key = format!("items.{i}.status");
        match &order.items[i].status {
            Some(s) => f.insert(key, s.as_str()),
            None => f.insert(key, doc! { "$exists": false }),
        };
    }
    f
}

/// The update moving the merchant's lines to `change.to` (and the whole order once every
/// other line is there).
fn part_update(order: &OrderDoc, mine: &[usize], change: &StatusChange) -> Document {
    let now = DateTime::now();
    let mut set = doc! { "updatedAt": now };
    for &i in mine {
        set.insert(format!("items.{i}.status"), change.to);
        if change.to == "cancelled" {
            set.insert(format!("items.{i}.cancelledAt"), now);
            set.insert(format!("items.{i}.cancelledBy"), change.actor);
            if let Some(r) = &change.note {
                set.insert(format!("items.{i}.cancelReason"), r.clone());
            }
        }
    }
    let others: Vec<Option<&str>> = (0..order.items.len())
        .filter(|i| !mine.contains(i))
        .map(|i| order.items[i].status.as_deref())
        .collect();
    if whole_order_reaches(&order.status, &others, change.to) {
        set.insert("status", change.to);
        if change.to == "cancelled" {
            // Each merchant gave its own lines back when it cancelled them.
            set.insert("cancelledAt", now);
            set.insert("cancelledBy", change.actor);
            set.insert("stockRestoredAt", now);
        } else {
            set.insert("delivery.status", change.to);
        }
    }
    let message = change
        .note
        .clone()
        .unwrap_or_else(|| format!("Items of the merchant {}", change.to.replace('_', " ")));
    let entry = doc! { "status": change.to, "message": message, "timestamp": now, "updatedBy": change.actor, "lines": mine.iter().map(|&i| i as i64).collect::<Vec<_>>() };
    doc! { "$set": set, "$push": { "timeline": entry } }
}

impl Store {
    /// Move the merchant's lines of a shared order to `change.to`; cancelling gives back the
    /// stock of those lines only (once: only the winning compare-and-set restores it).
    pub async fn transition_part(
        &self,
        scope: &OrderScope,
        mut order: OrderDoc,
        change: &StatusChange,
    ) -> mongodb::error::Result<Transition> {
        let mine = scope.lines(&order);
        for _ in 0..ATTEMPTS {
            let from = scope.part_status(&order).to_string();
            if !can_transition(&from, change.to) {
                return Ok(Transition::Illegal { from });
            }
            let after = self
                .orders()
                .find_one_and_update(
                    unchanged_lines(&order, &mine),
                    part_update(&order, &mine, change),
                )
                .return_document(ReturnDocument::After)
                .await?;
            if let Some(after) = after {
                if change.to == "cancelled" {
                    self.restore_lines(scope, &after, &mine).await?;
                }
                return Ok(Transition::Applied(Box::new(after)));
            }
            match self.order(scope, order.id).await? {
                Some(now) => order = now,
                None => return Ok(Transition::NotFound),
            }
        }
        Ok(Transition::Illegal {
            from: scope.part_status(&order).to_string(),
        })
    }

    /// Refund within what the merchant's lines cost and what is left of the payment.
    pub async fn refund_part(
        &self,
        scope: &OrderScope,
        mut order: OrderDoc,
        refund: &RefundRequest,
    ) -> mongodb::error::Result<Refund> {
        let share = part_share(scope, &order);
        for _ in 0..ATTEMPTS {
            if !matches!(order.payment.status.as_str(), "paid" | "partially_refunded") {
                return Ok(Refund::NotRefundable {
                    payment_status: order.payment.status,
                });
            }
            let paid = paid_amount(&order);
            let by_part = refunded_by(scope, &order);
            let refundable = part_refundable(share, by_part, paid, order.totals.refund_amount);
            if refund.amount > refundable + EPSILON {
                return Ok(Refund::ExceedsPaid {
                    refundable: (refundable * 100.0).round() / 100.0,
                });
            }
            let after = self
                .orders()
                .find_one_and_update(
                    unchanged_refunds(&order),
                    part_refund_update(&order, paid, refund)?,
                )
                .return_document(ReturnDocument::After)
                .await?;
            if let Some(after) = after {
                return Ok(Refund::Applied(Box::new(after)));
            }
            match self.order(scope, order.id).await? {
                Some(now) => order = now,
                None => return Ok(Refund::NotFound),
            }
        }
        Ok(Refund::ExceedsPaid { refundable: 0.0 })
    }
}

/// What the merchant's lines cost (a line's subtotal, or its price times quantity).
fn part_share(scope: &OrderScope, order: &OrderDoc) -> f64 {
    order
        .items
        .iter()
        .filter(|l| scope.owns(l))
        .map(|l| {
            if l.subtotal > 0.0 {
                l.subtotal
            } else {
                l.price * l.quantity as f64
            }
        })
        .sum()
}

/// What was paid: the paid amount when recorded, the order total otherwise.
fn paid_amount(order: &OrderDoc) -> f64 {
    if order.totals.paid_amount > 0.0 {
        order.totals.paid_amount
    } else {
        order.totals.total
    }
}

/// What the merchant has already refunded of this order.
fn refunded_by(scope: &OrderScope, order: &OrderDoc) -> f64 {
    order
        .refunds
        .iter()
        .filter(|r| r.get_object_id("merchant").ok() == Some(scope.merchant))
        .filter_map(|r| r.get_f64("amount").ok())
        .sum()
}

/// The filter matching `order` only while its refunded total and payment status are still
/// what was read (an order never refunded may hold no total, or a zero of any number type).
fn unchanged_refunds(order: &OrderDoc) -> Document {
    let refunded = order.totals.refund_amount;
    let current = if order.refunds.is_empty() && refunded == 0.0 {
        doc! { "$in": [Bson::Null, Bson::Double(0.0), Bson::Int32(0), Bson::Int64(0)] }
    } else {
        doc! { "$eq": refunded }
    };
    doc! { "_id": order.id, "totals.refundAmount": current, "payment.status": order.payment.status.as_str() }
}

/// The update adding the refund, with the payment status it leaves behind.
fn part_refund_update(
    order: &OrderDoc,
    paid: f64,
    refund: &RefundRequest,
) -> mongodb::error::Result<Document> {
    let now = DateTime::now();
    let total = order.totals.refund_amount + refund.amount;
    let status = if total + EPSILON >= paid {
        "refunded"
    } else {
        "partially_refunded"
    };
    Ok(doc! {
        "$inc": { "totals.refundAmount": refund.amount },
        "$set": { "payment.status": status, "payment.refundedAt": now, "updatedAt": now },
        "$push": refund_push(refund, now)?,
    })
}
