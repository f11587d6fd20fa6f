//! The stock ledger (`stockadjustments`): an append-only entry per stock change, with the stock
//! before and after. Adjustments (`POST …/inventory/adjustments`) carry an operation id (their
//! `Idempotency-Key`) that is unique per merchant, so an operation changes stock once however
//! often it is retried, even after the key's 24 hours. The conditional product update and its
//! entry commit in one transaction, so they need a replica set (a standalone server answers
//! with the driver's "not supported" error, which the route reports as 503).

use futures::FutureExt;
use mongodb::{
    ClientSession, Collection,
    bson::{Bson, Document, doc, oid::ObjectId},
    options::ReturnDocument,
};
use serde::{Deserialize, Serialize};

use super::{
    DateTime, Store,
    error::is_duplicate_key,
    keyset::{self, Listing, Sort, Window},
    products::{ProductDoc, REVISION, scope},
    reservations::units_available,
};

/// The collection.
pub const LEDGER: &str = "stockadjustments";

/// A product's entries, newest first (index `stockadjustments.merchant_product_created_id`).
const LEDGER_ORDER: Sort = Sort::desc("createdAt");

/// Where a ledger entry came from.
pub mod source {
    /// `POST …/inventory/adjustments`.
    pub const ADJUSTMENT: &str = "adjustment";
    /// `PUT /products/{id}` setting the stock.
    pub const PRODUCT_UPDATE: &str = "product_update";
    /// `PUT /products/{id}/variants/{variantId}` setting the stock.
    pub const VARIANT_UPDATE: &str = "variant_update";
    /// A committed reservation.
    pub const RESERVATION: &str = "reservation";
}

/// One stock change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockAdjustmentDoc {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Tenant.
    pub merchant_id: ObjectId,
    /// The product.
    pub product_id: ObjectId,
    /// The variant, for variant stock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_id: Option<String>,
    /// Unique per merchant: the adjustment's `Idempotency-Key`, or a generated id.
    pub operation_id: String,
    /// Units added (negative: removed).
    pub delta: i64,
    /// Units before.
    pub stock_before: i64,
    /// Units after.
    pub stock_after: i64,
    /// Why.
    pub reason: String,
    /// The caller's reference (a purchase order, a stock count...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// [`source`].
    pub source: String,
    /// The request that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The team member who made it (`None`: the owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<ObjectId>,
    /// When.
    pub created_at: DateTime,
}

impl StockAdjustmentDoc {
    /// An entry, made now, of a product's stock moving from `before` to `after` by
    /// `operation_id` of `source`; the optional fields are empty.
    pub fn moving(
        product: &ProductDoc,
        (before, after): (i64, i64),
        source: &str,
        operation_id: String,
        reason: String,
    ) -> Self {
        Self {
            id: ObjectId::new(),
            merchant_id: product.merchant_id,
            product_id: product.id,
            variant_id: None,
            operation_id,
            delta: after - before,
            stock_before: before,
            stock_after: after,
            reason,
            reference: None,
            source: source.into(),
            request_id: None,
            member_id: None,
            created_at: DateTime::now(),
        }
    }
}

/// What an adjustment does to the stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockTarget {
    /// Add (negative: remove) units.
    Delta(i64),
    /// Set the units on hand.
    SetTo(i64),
}

/// An adjustment: one stock change applied once per operation id.
#[derive(Debug, Clone)]
pub struct Adjustment {
    /// Tenant.
    pub merchant: ObjectId,
    /// Product.
    pub product: ObjectId,
    /// Variant (`None`: the product's own stock).
    pub variant: Option<String>,
    /// Unique per merchant.
    pub operation_id: String,
    /// The change.
    pub target: StockTarget,
    /// Compare-and-set: apply only while the stock is this.
    pub expected: Option<i64>,
    /// Why.
    pub reason: String,
    /// The caller's reference.
    pub reference: Option<String>,
    /// The request.
    pub request_id: Option<String>,
    /// The team member acting.
    pub member: Option<ObjectId>,
}

/// What a decrement needs of the stock, besides the expected value.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// Nothing more.
    Nothing,
    /// At least this many units, or backorders allowed.
    EnoughOrBackorder(i64),
    /// Backorders allowed (the expected stock is too low).
    Backorder,
}

/// Outcome of [`Store::adjust_stock_once`].
#[derive(Debug)]
pub enum Adjusted {
    /// Applied now: the product after the change, and the new entry.
    Applied(Box<ProductDoc>, StockAdjustmentDoc),
    /// The operation id was applied before: its entry.
    Repeated(StockAdjustmentDoc),
    /// A decrement would take the stock below zero (no backorders): the stock now.
    Insufficient(i64),
    /// `expected` is not the stock now: the stock now.
    Changed(i64),
    /// No such product or variant for this merchant.
    NotFound,
}

impl Adjustment {
    /// The stock field the update writes (relative to the product).
    fn stock_path(&self) -> &'static str {
        match self.variant {
            Some(_) => "inventory.variants.$[v].stock",
            None => "inventory.stock",
        }
    }

    /// What a variant's stock must allow besides the expected value.
    fn need(&self) -> Need {
        match (self.target, self.expected) {
            (StockTarget::Delta(d), None) if d < 0 => Need::EnoughOrBackorder(-d),
            // The expected stock alone says whether enough units remain.
            (StockTarget::Delta(d), Some(e)) if d < 0 && e < -d => Need::Backorder,
            _ => Need::Nothing,
        }
    }

    /// The merchant's product, matched only where the change is allowed: a decrement while
    /// enough units remain (or backorders are allowed), and at the expected stock if one is set.
    fn filter(&self) -> Document {
        let mut f = scope(self.merchant, self.product);
        let backorder = doc! { "inventory.allowBackorder": true };
        let Some(variant) = &self.variant else {
            if let Some(expected) = self.expected {
                f.insert("inventory.stock", expected);
            }
            // A product's decrement leaves its reserved units alone.
            if let StockTarget::Delta(d) = self.target
                && d < 0
            {
                f.extend(units_available(-d));
            }
            return f;
        };
        let mut elem = doc! { "variantId": variant };
        if let Some(expected) = self.expected {
            elem.insert("stock", expected);
        }
        match self.need() {
            Need::Nothing => {
                f.insert("inventory.variants", doc! { "$elemMatch": elem });
            }
            Need::Backorder => {
                f.insert("inventory.variants", doc! { "$elemMatch": elem });
                f.extend(backorder);
            }
            Need::EnoughOrBackorder(units) => {
                let mut enough = elem.clone();
                enough.insert("stock", doc! { "$gte": units });
                let mut on_backorder = backorder;
                on_backorder.insert("inventory.variants", doc! { "$elemMatch": elem });
                let enough = doc! { "inventory.variants": { "$elemMatch": enough } };
                f.insert(
                    "$or",
                    vec![Bson::Document(enough), Bson::Document(on_backorder)],
                );
            }
        }
        f
    }

    fn update(&self, now: DateTime) -> Document {
        let path = self.stock_path();
        match self.target {
            StockTarget::Delta(d) => {
                doc! { "$inc": { path: d, REVISION: 1 }, "$set": { "updatedAt": now } }
            }
            StockTarget::SetTo(n) => {
                doc! { "$set": { path: n, "updatedAt": now }, "$inc": { REVISION: 1 } }
            }
        }
    }

    fn array_filters(&self) -> Vec<Document> {
        self.variant
            .iter()
            .map(|v| doc! { "v.variantId": v.as_str() })
            .collect()
    }

    /// The stock of `p` this adjustment changes (`None`: no such variant).
    fn stock_of(&self, p: &ProductDoc) -> Option<i64> {
        match &self.variant {
            None => Some(p.inventory.stock),
            Some(v) => p.variant_stock(v),
        }
    }

    fn after(&self, before: i64) -> i64 {
        match self.target {
            StockTarget::Delta(d) => before + d,
            StockTarget::SetTo(n) => n,
        }
    }

    /// The ledger entry of this adjustment applied to `before`, the product before it.
    fn entry(&self, before: &ProductDoc) -> StockAdjustmentDoc {
        let stock = self.stock_of(before).unwrap_or_default();
        let (op, reason) = (self.operation_id.clone(), self.reason.clone());
        StockAdjustmentDoc {
            variant_id: self.variant.clone(),
            reference: self.reference.clone(),
            request_id: self.request_id.clone(),
            member_id: self.member,
            ..StockAdjustmentDoc::moving(
                before,
                (stock, self.after(stock)),
                source::ADJUSTMENT,
                op,
                reason,
            )
        }
    }

    /// `before` with this adjustment applied, as the update wrote it.
    fn applied_to(&self, mut before: ProductDoc, now: DateTime) -> ProductDoc {
        let stock = self.stock_of(&before).map(|s| self.after(s));
        match (&self.variant, stock) {
            (None, Some(s)) => before.inventory.stock = s,
            (Some(id), Some(s)) => {
                for v in before
                    .inventory
                    .variants
                    .iter_mut()
                    .filter(|v| v.variant_id == *id)
                {
                    v.stock = s;
                }
            }
            _ => {}
        }
        before.revision += 1;
        before.updated_at = now;
        before
    }
}

/// A stock change made by a product or variant update, for the ledger.
#[derive(Debug, Clone)]
pub struct RecordedChange<'a> {
    /// The product after the update.
    pub product: &'a ProductDoc,
    /// The variant whose stock changed.
    pub variant: Option<&'a str>,
    /// Units before.
    pub before: i64,
    /// Units after.
    pub after: i64,
    /// [`source`].
    pub source: &'static str,
    /// The request.
    pub request_id: Option<String>,
    /// The team member acting.
    pub member: Option<ObjectId>,
}

impl Store {
    fn ledger(&self) -> Collection<StockAdjustmentDoc> {
        self.db().collection(LEDGER)
    }

    /// Apply `a` once: its conditional stock update and its ledger entry commit together, and
    /// an operation id seen before changes nothing ([`Adjusted::Repeated`]). Concurrent
    /// adjustments of one product serialise on the product document (the driver retries a
    /// transaction that lost a write conflict).
    pub async fn adjust_stock_once(&self, a: &Adjustment) -> mongodb::error::Result<Adjusted> {
        let mut session = self.client.start_session().await?;
        let ran = session
            .start_transaction()
            .and_run((self, a), |session, (store, a)| {
                async move { store.adjust_in(session, a).await }.boxed()
            })
            .await;
        let applied = match ran {
            Ok(applied) => applied,
            Err(e) if is_duplicate_key(&e) => return self.repeated(a).await,
            Err(e) => return Err(e),
        };
        match applied {
            Some((product, entry)) => Ok(Adjusted::Applied(Box::new(product), entry)),
            None => self.why_adjustment_failed(a).await,
        }
    }

    /// The outcome of `a` when it is known without writing: the operation was applied before,
    /// or nothing matches its conditions now (no stock to take, another stock than expected,
    /// no such product). Cheap, so refusals need not queue behind the writes of a hot product;
    /// `None` means try [`Store::adjust_stock_once`].
    pub async fn adjustment_settled(
        &self,
        a: &Adjustment,
    ) -> mongodb::error::Result<Option<Adjusted>> {
        let applicable = self
            .products()
            .clone_with_type::<Document>()
            .find_one(a.filter())
            .projection(doc! { "_id": 1 })
            .await?
            .is_some();
        if applicable {
            return Ok(None);
        }
        match self.repeated(a).await? {
            Adjusted::NotFound => self.why_adjustment_failed(a).await.map(Some),
            repeated => Ok(Some(repeated)),
        }
    }

    async fn adjust_in(
        &self,
        session: &mut ClientSession,
        a: &Adjustment,
    ) -> mongodb::error::Result<Option<(ProductDoc, StockAdjustmentDoc)>> {
        let now = DateTime::now();
        let before = self
            .products()
            .find_one_and_update(a.filter(), a.update(now))
            .array_filters(a.array_filters())
            .return_document(ReturnDocument::Before)
            .session(&mut *session)
            .await?;
        let Some(before) = before else {
            return Ok(None);
        };
        let entry = a.entry(&before);
        self.ledger()
            .insert_one(&entry)
            .session(&mut *session)
            .await?;
        Ok(Some((a.applied_to(before, now), entry)))
    }

    /// The entry of an operation id applied before.
    async fn repeated(&self, a: &Adjustment) -> mongodb::error::Result<Adjusted> {
        let entry = self
            .ledger()
            .find_one(doc! { "merchantId": a.merchant, "operationId": &a.operation_id })
            .await?;
        Ok(entry.map_or(Adjusted::NotFound, Adjusted::Repeated))
    }

    /// Why an adjustment's conditional update matched nothing.
    async fn why_adjustment_failed(&self, a: &Adjustment) -> mongodb::error::Result<Adjusted> {
        let Some(stock) = self
            .product(a.merchant, a.product)
            .await?
            .and_then(|p| a.stock_of(&p))
        else {
            return Ok(Adjusted::NotFound);
        };
        Ok(match a.expected {
            Some(expected) if expected != stock => Adjusted::Changed(stock),
            _ => Adjusted::Insufficient(stock),
        })
    }

    /// Append the entry of a stock change a product or variant update made (after the update:
    /// a failure here is logged, never undoes the update).
    pub async fn record_stock_change(&self, c: RecordedChange<'_>) {
        if c.before == c.after {
            return;
        }
        let operation = format!("{}:{}", c.source, ObjectId::new().to_hex());
        let moved = (c.before, c.after);
        let entry = StockAdjustmentDoc {
            variant_id: c.variant.map(str::to_owned),
            request_id: c.request_id,
            member_id: c.member,
            ..StockAdjustmentDoc::moving(c.product, moved, c.source, operation, "update".into())
        };
        if let Err(e) = self.ledger().insert_one(&entry).await {
            tracing::warn!(error = %e, product = %entry.product_id, "stock ledger entry not written");
        }
    }

    /// A window of a product's ledger (one variant's when given), newest first, counted when
    /// asked.
    pub async fn stock_adjustments(
        &self,
        merchant: ObjectId,
        product: ObjectId,
        variant: Option<&str>,
        window: &Window,
        limit: i64,
        count: bool,
    ) -> mongodb::error::Result<Listing<StockAdjustmentDoc>> {
        let mut f = doc! { "merchantId": merchant, "productId": product };
        if let Some(v) = variant {
            f.insert("variantId", v);
        }
        keyset::list(&self.ledger(), f, LEDGER_ORDER, window, limit, count).await
    }
}
