//! Stock reservations (`stockreservations`): units held for a checkout or a quote until they are
//! committed (sold: the stock and the hold drop together, with a ledger entry), released, or
//! expired. A product's `inventory.reservedStock` is the sum of its active holds, so
//! `availableStock = stock - reservedStock`; each change of a hold moves that sum in the same
//! transaction (a replica set is needed, as for adjustments). Expired holds are released by every
//! replica's sweeper (`sweep_expired`); the conditional status change lets exactly one of them
//! release each.

use futures::{FutureExt, TryStreamExt};
use mongodb::{
    ClientSession, Collection,
    bson::{Bson, Document, doc, oid::ObjectId},
    options::ReturnDocument,
};
use serde::{Deserialize, Serialize};

use super::{
    DateTime, Store,
    keyset::{self, Listing, Sort, Window},
    products::{ProductDoc, REVISION, scope},
    stock_ledger::{LEDGER, StockAdjustmentDoc, source},
};

/// The collection.
pub const RESERVATIONS: &str = "stockreservations";

/// A product's holds, newest first (index `stockreservations.merchant_product_created_id`).
const RESERVATION_ORDER: Sort = Sort::desc("createdAt");

/// Reservation statuses.
pub mod status {
    /// Holding units.
    pub const ACTIVE: &str = "active";
    /// Sold: the units left the stock.
    pub const COMMITTED: &str = "committed";
    /// Given back by the caller.
    pub const RELEASED: &str = "released";
    /// Given back when its time ran out.
    pub const EXPIRED: &str = "expired";
    /// Every status.
    pub const ALL: &[&str] = &[ACTIVE, COMMITTED, RELEASED, EXPIRED];
}

/// A hold on a product's units.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationDoc {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Tenant.
    pub merchant_id: ObjectId,
    /// The product.
    pub product_id: ObjectId,
    /// Units held.
    pub quantity: i64,
    /// The caller's reference (a cart, a quote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// [`status`].
    pub status: String,
    /// When an active hold lapses.
    pub expires_at: DateTime,
    /// When it was made.
    pub created_at: DateTime,
    /// When it stopped holding (committed, released or expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime>,
}

/// Outcome of a reservation change.
#[derive(Debug)]
pub enum Held {
    /// Done: the reservation and the product after the change.
    Done(ReservationDoc, Box<ProductDoc>),
    /// Not enough available units: those available now.
    Insufficient(i64),
    /// The reservation is not active any more: it as it is.
    NotActive(ReservationDoc),
    /// No such product or reservation for this merchant.
    NotFound,
}

/// Aborts a reservation's transaction whose product update matched nothing (the commit's units
/// were taken by a stock edit), so its status change is not committed alone.
#[derive(Debug, thiserror::Error)]
#[error("the reservation's product update matched nothing")]
struct NotApplied;

fn is_not_applied(e: &mongodb::error::Error) -> bool {
    e.get_custom::<NotApplied>().is_some()
}

/// How an active reservation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Sold.
    Commit,
    /// Given back.
    Release,
    /// Lapsed.
    Expire,
}

impl Ending {
    fn status(self) -> &'static str {
        match self {
            Self::Commit => status::COMMITTED,
            Self::Release => status::RELEASED,
            Self::Expire => status::EXPIRED,
        }
    }
}

/// `stock - reservedStock` of the stored product (a missing hold counts as none).
fn available() -> Bson {
    Bson::Document(doc! {
        "$subtract": ["$inventory.stock", { "$ifNull": ["$inventory.reservedStock", 0] }],
    })
}

/// Products where at least `units` are available, or that sell on backorder.
pub(super) fn units_available(units: i64) -> Document {
    doc! { "$or": [
        { "$expr": { "$gte": [available(), units] } },
        { "inventory.allowBackorder": true },
    ] }
}

impl Store {
    fn reservations(&self) -> Collection<ReservationDoc> {
        self.db().collection(RESERVATIONS)
    }

    /// Hold `quantity` units of a product until `expires_at`.
    pub async fn reserve(
        &self,
        merchant: ObjectId,
        product: ObjectId,
        quantity: i64,
        reference: Option<String>,
        expires_at: DateTime,
    ) -> mongodb::error::Result<Held> {
        let now = DateTime::now();
        let hold = ReservationDoc {
            id: ObjectId::new(),
            merchant_id: merchant,
            product_id: product,
            quantity,
            reference,
            status: status::ACTIVE.into(),
            expires_at,
            created_at: now,
            ended_at: None,
        };
        let held = self
            .in_transaction(&hold, |store, session, hold| {
                async move { store.reserve_in(session, hold).await }.boxed()
            })
            .await?;
        match held {
            Some(product) => Ok(Held::Done(hold, Box::new(product))),
            None => match self.product(merchant, product).await? {
                Some(p) => Ok(Held::Insufficient(
                    p.inventory.stock - p.inventory.reserved_stock,
                )),
                None => Ok(Held::NotFound),
            },
        }
    }

    async fn reserve_in(
        &self,
        session: &mut ClientSession,
        hold: &ReservationDoc,
    ) -> mongodb::error::Result<Option<ProductDoc>> {
        let mut f = scope(hold.merchant_id, hold.product_id);
        f.extend(units_available(hold.quantity));
        let update = doc! {
            "$inc": { "inventory.reservedStock": hold.quantity, REVISION: 1 },
            "$set": { "updatedAt": hold.created_at },
        };
        let Some(product) = self.update_product_in(session, f, update).await? else {
            return Ok(None);
        };
        self.reservations()
            .insert_one(hold)
            .session(&mut *session)
            .await?;
        Ok(Some(product))
    }

    /// End an active reservation: its units go back (release, expiry) or leave the stock with a
    /// ledger entry (commit). Only the first ending of a reservation applies.
    pub async fn end_reservation(
        &self,
        merchant: ObjectId,
        (product, id): (ObjectId, ObjectId),
        ending: Ending,
        request_id: Option<String>,
    ) -> mongodb::error::Result<Held> {
        let Some(hold) = self
            .reservations()
            .find_one(doc! { "_id": id, "merchantId": merchant, "productId": product })
            .await?
        else {
            return Ok(Held::NotFound);
        };
        if hold.status != status::ACTIVE {
            return Ok(Held::NotActive(hold));
        }
        let context = (hold.clone(), ending, request_id);
        let ended = self
            .in_transaction(&context, |store, session, (hold, ending, request_id)| {
                async move {
                    store
                        .end_in(session, hold, *ending, request_id.clone())
                        .await
                }
                .boxed()
            })
            .await;
        let ended = match ended {
            Err(e) if is_not_applied(&e) => None,
            other => other?,
        };
        match ended {
            Some(done) => Ok(done),
            None => {
                let now = self.reservations().find_one(doc! { "_id": id }).await?;
                match now {
                    Some(r) if r.status != status::ACTIVE => Ok(Held::NotActive(r)),
                    Some(_) => {
                        let p = self.product(merchant, hold.product_id).await?;
                        Ok(p.map_or(Held::NotFound, |p| {
                            Held::Insufficient(p.inventory.stock - p.inventory.reserved_stock)
                        }))
                    }
                    None => Ok(Held::NotFound),
                }
            }
        }
    }

    async fn end_in(
        &self,
        session: &mut ClientSession,
        hold: &ReservationDoc,
        ending: Ending,
        request_id: Option<String>,
    ) -> mongodb::error::Result<Option<Held>> {
        let now = DateTime::now();
        let Some(ended) = self
            .reservations()
            .find_one_and_update(
                doc! { "_id": hold.id, "status": status::ACTIVE },
                doc! { "$set": { "status": ending.status(), "endedAt": now } },
            )
            .return_document(ReturnDocument::After)
            .session(&mut *session)
            .await?
        else {
            return Ok(None);
        };
        let q = hold.quantity;
        let mut f = scope(hold.merchant_id, hold.product_id);
        let update = match ending {
            Ending::Commit => {
                // The held units are on hand unless a stock edit took them since.
                f.extend(doc! { "$or": [
                    { "inventory.stock": { "$gte": q } },
                    { "inventory.allowBackorder": true },
                ] });
                doc! { "$inc": { "inventory.stock": -q, "inventory.reservedStock": -q, REVISION: 1 }, "$set": { "updatedAt": now } }
            }
            Ending::Release | Ending::Expire => {
                doc! { "$inc": { "inventory.reservedStock": -q, REVISION: 1 }, "$set": { "updatedAt": now } }
            }
        };
        let Some(product) = self.update_product_in(session, f, update).await? else {
            // Nothing may change: the transaction must not commit the status change alone.
            return Err(mongodb::error::Error::custom(NotApplied));
        };
        if ending == Ending::Commit {
            let operation = format!("{}:{}", source::RESERVATION, hold.id.to_hex());
            let stock = product.inventory.stock;
            let entry = StockAdjustmentDoc {
                reference: hold.reference.clone(),
                request_id,
                ..StockAdjustmentDoc::moving(
                    &product,
                    (stock + q, stock),
                    source::RESERVATION,
                    operation,
                    "reservation committed".into(),
                )
            };
            self.db()
                .collection::<StockAdjustmentDoc>(LEDGER)
                .insert_one(&entry)
                .session(&mut *session)
                .await?;
        }
        Ok(Some(Held::Done(ended, Box::new(product))))
    }

    /// The product after `update`, if `f` matched it, inside the transaction of `session`.
    async fn update_product_in(
        &self,
        session: &mut ClientSession,
        f: Document,
        update: Document,
    ) -> mongodb::error::Result<Option<ProductDoc>> {
        self.products()
            .find_one_and_update(f, update)
            .return_document(ReturnDocument::After)
            .session(session)
            .await
    }

    /// Run `work` in a transaction (the driver retries transient conflicts).
    async fn in_transaction<C, R>(
        &self,
        context: &C,
        work: impl for<'a> Fn(
            &'a Store,
            &'a mut ClientSession,
            &'a C,
        ) -> futures::future::BoxFuture<'a, mongodb::error::Result<R>>
        + Send
        + Sync,
    ) -> mongodb::error::Result<R>
    where
        C: Sync,
        R: Send,
    {
        let mut session = self.client.start_session().await?;
        session
            .start_transaction()
            .and_run((self, context, &work), |session, (store, context, work)| {
                work(store, session, context)
            })
            .await
    }

    /// A window of a product's reservations (one status when given), newest first, counted
    /// when asked.
    pub async fn reservations_of(
        &self,
        merchant: ObjectId,
        product: ObjectId,
        status: Option<&str>,
        window: &Window,
        limit: i64,
        count: bool,
    ) -> mongodb::error::Result<Listing<ReservationDoc>> {
        let mut f = doc! { "merchantId": merchant, "productId": product };
        if let Some(s) = status {
            f.insert("status", s);
        }
        keyset::list(
            &self.reservations(),
            f,
            RESERVATION_ORDER,
            window,
            limit,
            count,
        )
        .await
    }

    /// Release up to `batch` reservations whose time ran out; returns how many this call
    /// released (another replica may release some of them first).
    pub async fn sweep_expired(&self, batch: i64) -> mongodb::error::Result<usize> {
        let due: Vec<ReservationDoc> = self
            .reservations()
            .find(doc! { "status": status::ACTIVE, "expiresAt": { "$lte": DateTime::now() } })
            .sort(doc! { "expiresAt": 1 })
            .limit(batch)
            .await?
            .try_collect()
            .await?;
        let mut released = 0;
        for hold in due {
            let ended = self
                .end_reservation(
                    hold.merchant_id,
                    (hold.product_id, hold.id),
                    Ending::Expire,
                    None,
                )
                .await?;
            if matches!(ended, Held::Done(..)) {
                released += 1;
            }
        }
        Ok(released)
    }
}

/// Every replica's sweeper: release expired reservations every `every`.
pub async fn sweep_forever(store: Store, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store.sweep_expired(200).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "expired stock reservations released"),
            Err(e) => tracing::warn!(error = %e, "reservation sweep failed"),
        }
    }
}
