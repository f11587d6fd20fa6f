//! Merchant writes to `orders`: status transitions as conditional updates (the filter holds
//! the legal "from" statuses, so two concurrent changes cannot both win), cancellation that
//! gives the stock back exactly once, and refunds bounded by the amount paid.

use futures::FutureExt;
use mongodb::{
    ClientSession,
    bson::{Document, doc, oid::ObjectId},
    options::ReturnDocument,
};
use serde::Serialize;

use super::{
    DateTime, Store,
    error::transactions_unsupported,
    orders::{OrderDoc, OrderItem, OrderScope},
    products::REVISION,
};
use crate::domain::order::{RefundLine, statuses_leading_to};

/// Outcome of a status change.
#[derive(Debug)]
pub enum Transition {
    /// Applied; the order after the change.
    Applied(Box<OrderDoc>),
    /// The order is in `from`, which cannot move to the requested status.
    Illegal {
        /// Current status.
        from: String,
    },
    /// No such order in the merchant's scope.
    NotFound,
}

/// A status change asked for by the merchant.
#[derive(Debug, Clone)]
pub struct StatusChange {
    /// Target status.
    pub to: &'static str,
    /// Timeline message / cancellation reason.
    pub note: Option<String>,
    /// Who acts (merchant or team member id).
    pub actor: ObjectId,
    /// Carrier data (`mark-shipped`), stored as sent.
    pub tracking: Option<TrackingInfo>,
}

/// Outcome of a refund.
#[derive(Debug)]
pub enum Refund {
    /// Applied; the order after the refund.
    Applied(Box<OrderDoc>),
    /// Payment is not in a refundable state (paid or partially refunded).
    NotRefundable {
        /// Current payment status.
        payment_status: String,
    },
    /// The amount exceeds what is left to refund.
    ExceedsPaid {
        /// What can still be refunded.
        refundable: f64,
    },
    /// No such order in the merchant's scope.
    NotFound,
}

/// Carrier tracking data as the client sends it with `mark-shipped` (free-form, stored as is).
pub type TrackingInfo = serde_json::Map<String, serde_json::Value>;

/// A refund asked for by the merchant.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundRequest {
    /// Amount (2 dp).
    pub amount: f64,
    /// Why.
    pub reason: String,
    /// Refunded lines (`{itemId, quantity}`), informational.
    pub items: Vec<RefundLine>,
    /// Who.
    pub by: ObjectId,
    /// The merchant refunding (bounds its refunds on an order shared with other merchants).
    pub merchant: ObjectId,
}

/// Cents of slack when comparing money amounts stored as doubles.
const EPSILON: f64 = 0.005;

fn timeline(change: &StatusChange) -> Document {
    let message = change
        .note
        .clone()
        .unwrap_or_else(|| format!("Order {}", change.to.replace('_', " ")));
    doc! { "status": change.to, "message": message, "timestamp": DateTime::now(), "updatedBy": change.actor }
}

/// `$set`/`$push` of a status change (cancellation fields included when cancelling).
fn status_update(change: &StatusChange) -> Document {
    let now = DateTime::now();
    let mut set = doc! { "status": change.to, "updatedAt": now };
    match change.to {
        "cancelled" => {
            set.insert("cancelledAt", now);
            set.insert("cancelledBy", change.actor);
            set.insert("stockRestoredAt", now);
            if let Some(r) = &change.note {
                set.insert("cancelReason", r.clone());
            }
        }
        // These names exist in both the order and the delivery status enums.
        s => {
            set.insert("delivery.status", s);
        }
    }
    match change.to {
        "confirmed" => set.insert("delivery.confirmedAt", now),
        "delivered" => set.insert("delivery.deliveredAt", now),
        _ => None,
    };
    // JSON objects always convert; a failure would only drop the optional carrier data.
    if let Some(t) = change
        .tracking
        .as_ref()
        .and_then(|t| mongodb::bson::to_document(t).ok())
    {
        set.insert("delivery.trackingInfo", t);
    }
    doc! { "$set": set, "$push": { "timeline": timeline(change) } }
}

/// One stock increment giving back a cancelled line: `(filter, update, array filters)`.
fn restore_op(merchant: ObjectId, item: &OrderItem) -> (Document, Document, Vec<Document>) {
    let f = doc! { "_id": item.product, "merchantId": merchant };
    let now = DateTime::now();
    let variant = item.variant.as_ref();
    let elem = match (
        variant.and_then(|v| v.variant_id.clone()),
        variant.and_then(|v| v.kind.clone().zip(v.value.clone())),
    ) {
        (Some(id), _) => Some(doc! { "v.variantId": id }),
        (None, Some((kind, value))) => Some(doc! { "v.type": kind, "v.value": value }),
        (None, None) => None,
    };
    match elem {
        Some(e) => (
            f,
            doc! { "$inc": { "inventory.variants.$[v].stock": item.quantity, REVISION: 1 }, "$set": { "updatedAt": now } },
            vec![e],
        ),
        None => (
            f,
            doc! { "$inc": { "inventory.stock": item.quantity, REVISION: 1 }, "$set": { "updatedAt": now } },
            Vec::new(),
        ),
    }
}

fn restore_ops(scope: &OrderScope, order: &OrderDoc) -> Vec<(Document, Document, Vec<Document>)> {
    order
        .items
        .iter()
        .filter(|i| scope.shops.contains(&i.shop) && i.quantity > 0)
        .map(|i| restore_op(scope.merchant, i))
        .collect()
}

impl Store {
    /// Give back the stock of the order lines at `lines` (the caller won the cancellation).
    pub(crate) async fn restore_lines(
        &self,
        scope: &OrderScope,
        order: &OrderDoc,
        lines: &[usize],
    ) -> mongodb::error::Result<()> {
        let products = self.products();
        for &i in lines {
            let item = &order.items[i];
            if !scope.owns(item) || item.quantity <= 0 {
                continue;
            }
            let (f, u, filters) = restore_op(scope.merchant, item);
            let op = products.update_one(f, u);
            if filters.is_empty() {
                op.await?;
            } else {
                op.array_filters(filters).await?;
            }
        }
        Ok(())
    }
}

impl Store {
    /// Move an order to `change.to` when its current status allows it, then refold it into
    /// the sales rollups.
    pub async fn transition_order(
        &self,
        scope: &OrderScope,
        id: ObjectId,
        change: &StatusChange,
    ) -> mongodb::error::Result<Transition> {
        let outcome = self.transition_unfolded(scope, id, change).await?;
        if matches!(outcome, Transition::Applied(_)) {
            self.refold_after_change(id).await;
        }
        Ok(outcome)
    }

    /// The rollups count an order this API changed as it is now before the change's answer
    /// goes out; if that fails the catch-up refolds it (`store::rollups`), so the change
    /// itself stands.
    async fn refold_after_change(&self, id: ObjectId) {
        if let Err(e) = self.refold_order(id).await {
            tracing::warn!(order = %id, error = %e, "sales rollup refold failed; the catch-up will retry");
        }
    }

    async fn transition_unfolded(
        &self,
        scope: &OrderScope,
        id: ObjectId,
        change: &StatusChange,
    ) -> mongodb::error::Result<Transition> {
        if let Some(order) = self.order(scope, id).await?
            && scope.is_shared(&order)
        {
            return self.transition_part(scope, order, change).await;
        }
        if change.to == "cancelled" {
            return self.cancel_order(scope, id, change).await;
        }
        let mut f = scope.one(id);
        f.insert("status", doc! { "$in": statuses_leading_to(change.to) });
        let after = self
            .orders()
            .find_one_and_update(f, status_update(change))
            .return_document(ReturnDocument::After)
            .await?;
        self.transition_outcome(scope, id, after).await
    }

    async fn transition_outcome(
        &self,
        scope: &OrderScope,
        id: ObjectId,
        after: Option<OrderDoc>,
    ) -> mongodb::error::Result<Transition> {
        Ok(match after {
            Some(o) => Transition::Applied(Box::new(o)),
            None => match self.order(scope, id).await? {
                Some(o) => Transition::Illegal { from: o.status },
                None => Transition::NotFound,
            },
        })
    }

    /// Cancel and give the merchant's lines back to stock in one transaction, which the driver
    /// retries on transient conflicts and an unknown commit result (its convenient transaction
    /// API, up to 120 s). Only the request whose conditional status update matches restores
    /// stock, so two concurrent cancels restore it once. Without transaction support it falls
    /// back to [`Store::cancel_order_without_transaction`].
    pub async fn cancel_order(
        &self,
        scope: &OrderScope,
        id: ObjectId,
        change: &StatusChange,
    ) -> mongodb::error::Result<Transition> {
        let mut session = self.client.start_session().await?;
        // `and_run` with a context rather than `and_run2`: an async closure borrowing these
        // trips rustc's "Send is not general enough" (rust-lang/rust#96865) in the handlers.
        let cancelled = session
            .start_transaction()
            .and_run((self, scope, change), |session, (store, scope, change)| {
                async move { store.cancel_in(session, scope, id, change).await }.boxed()
            })
            .await;
        match cancelled {
            Ok(after) => self.transition_outcome(scope, id, after).await,
            Err(e) if transactions_unsupported(&e) => {
                tracing::warn!("transactions unsupported: cancelling with conditional updates");
                self.cancel_order_without_transaction(scope, id, change)
                    .await
            }
            Err(e) => Err(e),
        }
    }

    async fn cancel_in(
        &self,
        session: &mut ClientSession,
        scope: &OrderScope,
        id: ObjectId,
        change: &StatusChange,
    ) -> mongodb::error::Result<Option<OrderDoc>> {
        let mut f = scope.one(id);
        f.insert("status", doc! { "$in": statuses_leading_to("cancelled") });
        let after = self
            .orders()
            .find_one_and_update(f, status_update(change))
            .return_document(ReturnDocument::After)
            .session(&mut *session)
            .await?;
        if let Some(order) = &after {
            let products = self.products();
            for (f, u, filters) in restore_ops(scope, order) {
                let op = products.update_one(f, u).session(&mut *session);
                if filters.is_empty() {
                    op.await?;
                } else {
                    op.array_filters(filters).await?;
                }
            }
        }
        Ok(after)
    }

    /// Cancellation for servers without transactions: the conditional status update picks a
    /// single winner, which then restores stock; `stockRestoredAt` is unset until the stock
    /// is back, so an interrupted restore is visible instead of silently repeated.
    pub async fn cancel_order_without_transaction(
        &self,
        scope: &OrderScope,
        id: ObjectId,
        change: &StatusChange,
    ) -> mongodb::error::Result<Transition> {
        let mut f = scope.one(id);
        f.insert("status", doc! { "$in": statuses_leading_to("cancelled") });
        let mut update = status_update(change);
        if let Ok(set) = update.get_document_mut("$set") {
            set.remove("stockRestoredAt");
        }
        let after = self
            .orders()
            .find_one_and_update(f, update)
            .return_document(ReturnDocument::After)
            .await?;
        let Some(mut order) = after else {
            return self.transition_outcome(scope, id, None).await;
        };
        let products = self.products();
        for (f, u, filters) in restore_ops(scope, &order) {
            let op = products.update_one(f, u);
            if filters.is_empty() {
                op.await?;
            } else {
                op.array_filters(filters).await?;
            }
        }
        let now = DateTime::now();
        self.orders()
            .update_one(
                doc! { "_id": id },
                doc! { "$set": { "stockRestoredAt": now } },
            )
            .await?;
        order.stock_restored_at = Some(now);
        Ok(Transition::Applied(Box::new(order)))
    }

    /// Refund part or all of what was paid. The conditional update only matches while the
    /// payment is refundable and the total refunded stays within the amount paid. On an order
    /// shared with other merchants, see [`Store::refund_part`].
    pub async fn refund_order(
        &self,
        scope: &OrderScope,
        id: ObjectId,
        refund: &RefundRequest,
    ) -> mongodb::error::Result<Refund> {
        let outcome = self.refund_unfolded(scope, id, refund).await?;
        if matches!(outcome, Refund::Applied(_)) {
            self.refold_after_change(id).await;
        }
        Ok(outcome)
    }

    async fn refund_unfolded(
        &self,
        scope: &OrderScope,
        id: ObjectId,
        refund: &RefundRequest,
    ) -> mongodb::error::Result<Refund> {
        if let Some(order) = self.order(scope, id).await?
            && scope.is_shared(&order)
        {
            return self.refund_part(scope, order, refund).await;
        }
        let applied = self
            .orders()
            .update_one(
                refundable_filter(scope, id, refund.amount),
                refund_update(refund)?,
            )
            .await?;
        if applied.matched_count == 0 {
            return self.refund_failure(scope, id).await;
        }
        self.settle_payment_status(id).await?;
        Ok(match self.order(scope, id).await? {
            Some(o) => Refund::Applied(Box::new(o)),
            None => Refund::NotFound,
        })
    }

    /// Set the payment status from the refunded total. Each conditional update only matches
    /// the state it names, so concurrent refunds cannot leave a stale payment status behind.
    async fn settle_payment_status(&self, id: ObjectId) -> mongodb::error::Result<()> {
        let full = doc! { "$gte": [{ "$add": [refunded_expr(), EPSILON] }, paid_expr()] };
        self.orders()
            .update_one(
                doc! { "_id": id, "$expr": full.clone() },
                doc! { "$set": { "payment.status": "refunded" } },
            )
            .await?;
        self.orders()
            .update_one(
                doc! { "_id": id, "$expr": { "$not": [full] } },
                doc! { "$set": { "payment.status": "partially_refunded" } },
            )
            .await?;
        Ok(())
    }

    async fn refund_failure(
        &self,
        scope: &OrderScope,
        id: ObjectId,
    ) -> mongodb::error::Result<Refund> {
        let Some(o) = self.order(scope, id).await? else {
            return Ok(Refund::NotFound);
        };
        if !matches!(o.payment.status.as_str(), "paid" | "partially_refunded") {
            return Ok(Refund::NotRefundable {
                payment_status: o.payment.status,
            });
        }
        let paid = if o.totals.paid_amount > 0.0 {
            o.totals.paid_amount
        } else {
            o.totals.total
        };
        Ok(Refund::ExceedsPaid {
            refundable: ((paid - o.totals.refund_amount) * 100.0).round() / 100.0,
        })
    }
}

/// What was paid, in an aggregation expression: the paid amount when recorded, the total
/// otherwise.
fn paid_expr() -> Document {
    doc! { "$cond": [
        { "$gt": [{ "$ifNull": ["$totals.paidAmount", 0] }, 0] }, "$totals.paidAmount", "$totals.total",
    ] }
}

/// What was refunded so far, in an aggregation expression.
fn refunded_expr() -> Document {
    doc! { "$ifNull": ["$totals.refundAmount", 0] }
}

/// The order while its payment is refundable and `amount` more stays within what was paid.
fn refundable_filter(scope: &OrderScope, id: ObjectId, amount: f64) -> Document {
    let mut f = scope.one(id);
    f.insert(
        "payment.status",
        doc! { "$in": ["paid", "partially_refunded"] },
    );
    f.insert(
        "$expr",
        doc! { "$lte": [
            { "$add": [refunded_expr(), amount] }, { "$add": [paid_expr(), EPSILON] },
        ] },
    );
    f
}

/// The update adding the refund; the payment status is settled after it.
fn refund_update(refund: &RefundRequest) -> mongodb::error::Result<Document> {
    let now = DateTime::now();
    Ok(doc! {
        "$inc": { "totals.refundAmount": refund.amount },
        "$set": { "payment.refundedAt": now, "updatedAt": now },
        "$push": refund_push(refund, now)?,
    })
}

/// The `$push` of a refund: the refund itself and its timeline entry.
pub(super) fn refund_push(
    refund: &RefundRequest,
    now: DateTime,
) -> mongodb::error::Result<Document> {
    let mut entry = mongodb::bson::to_document(refund)?;
    entry.insert("at", now);
    Ok(doc! {
        "refunds": entry,
        "timeline": { "status": "refund", "message": format!("Refunded {:.2}: {}", refund.amount, refund.reason), "timestamp": now, "updatedBy": refund.by },
    })
}
