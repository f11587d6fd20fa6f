//! Merchant notifications raised by events: [`notify`] is the one way to create one (it
//! honours the merchant's preferences and the event's idempotency key). Event constructors
//! for orders and stock live here; [`watch_new_orders`] detects orders written by the
//! consumer app. Routes for reading the inbox are in `routes::notifications`.

use std::time::Duration;

use mongodb::bson::{Document, doc};

use crate::domain::{ObjectId, StockEvent, StockMove};
use crate::store::{
    DateTime, Store,
    notifications::{Inserted, NotificationData, NotificationDoc},
    orders::OrderDoc,
    products::ProductDoc,
};

/// A notification to raise.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// Preference key of the event (`newOrder`, `lowStock`, … see `store::notifications::EVENTS`).
    pub event: &'static str,
    /// Title.
    pub title: String,
    /// Body.
    pub message: String,
    /// info | success | warning | error | promotional.
    pub kind: &'static str,
    /// order | earning | general | promotional | social | security | system | reminder.
    pub category: &'static str,
    /// low | medium | high | urgent.
    pub priority: &'static str,
    /// Links.
    pub data: NotificationData,
    /// Same key → notified once per merchant (across replicas).
    pub dedupe_key: Option<String>,
}

/// What [`notify`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Notified {
    /// Stored.
    Created(ObjectId),
    /// The event was already notified (same key).
    Duplicate,
    /// The merchant switched this event off.
    Muted,
}

/// Create a notification for `merchant`, unless muted or already raised.
pub async fn notify(
    store: &Store,
    merchant: ObjectId,
    n: NewNotification,
) -> mongodb::error::Result<Notified> {
    if !store.preferences(merchant).await?.wants(n.event) {
        return Ok(Notified::Muted);
    }
    let now = DateTime::now();
    let doc = NotificationDoc {
        id: ObjectId::new(),
        user: merchant,
        title: n.title,
        message: n.message,
        kind: n.kind.into(),
        category: n.category.into(),
        priority: n.priority.into(),
        data: n.data,
        delivery_channels: vec!["in_app".into()],
        is_read: false,
        read_at: None,
        is_archived: false,
        archived_at: None,
        deleted_at: None,
        sent_at: Some(now),
        source: "automated".into(),
        dedupe_key: n.dedupe_key,
        created_at: now,
        updated_at: now,
    };
    Ok(match store.insert_notification(doc).await? {
        Inserted::New(d) => Notified::Created(d.id),
        Inserted::Duplicate => Notified::Duplicate,
    })
}

/// Raise a notification from a request path: failures are logged, never returned (a
/// notification must not fail the merchant's action).
pub async fn notify_quietly(store: &Store, merchant: ObjectId, n: NewNotification) {
    let event = n.event;
    if let Err(e) = notify(store, merchant, n).await {
        tracing::warn!(error = %e, %merchant, event, "notification not created");
    }
}

fn order_data(order: &OrderDoc) -> NotificationData {
    NotificationData {
        order_id: Some(order.id),
        related_entity_type: Some("order".into()),
        related_entity_data: Some(doc! {
            "orderNumber": order.order_number.clone(), "total": order.totals.total, "status": order.status.clone(),
        }),
        deep_link: Some(format!("/orders/{}", order.id.to_hex())),
        action_label: Some("View order".into()),
        ..Default::default()
    }
}

impl NewNotification {
    /// A new order arrived (keyed by order id: once per merchant).
    pub fn new_order(order: &OrderDoc) -> Self {
        Self {
            event: "newOrder",
            title: "New order received".into(),
            message: format!(
                "Order {} for {:.2} was placed.",
                order.order_number, order.totals.total
            ),
            kind: "info",
            category: "order",
            priority: "high",
            data: order_data(order),
            dedupe_key: Some(format!("order.new:{}", order.id.to_hex())),
        }
    }

    /// An order was cancelled (keyed: once per order).
    pub fn order_cancelled(order: &OrderDoc, reason: Option<&str>) -> Self {
        let why = reason.map(|r| format!(" Reason: {r}")).unwrap_or_default();
        Self {
            event: "orderCancelled",
            title: "Order cancelled".into(),
            message: format!("Order {} was cancelled.{why}", order.order_number),
            kind: "warning",
            category: "order",
            priority: "medium",
            data: order_data(order),
            dedupe_key: Some(format!("order.cancelled:{}", order.id.to_hex())),
        }
    }

    /// A customer asked for cashback (keyed: once per request).
    pub fn cashback_request(id: ObjectId, number: &str, amount: f64) -> Self {
        Self {
            event: "cashbackRequest",
            title: "New cashback request".into(),
            message: format!("Cashback request {number} for {amount:.2} is waiting for review."),
            kind: "info",
            category: "earning",
            priority: "medium",
            data: NotificationData {
                related_entity_type: Some("cashback".into()),
                related_entity_data: Some(doc! { "requestNumber": number, "amount": amount }),
                deep_link: Some(format!("/cashback/{}", id.to_hex())),
                action_label: Some("Review request".into()),
                ..Default::default()
            },
            dedupe_key: Some(format!("cashback.request:{}", id.to_hex())),
        }
    }

    /// An invited team member accepted (keyed: once per member).
    pub fn invitation_accepted(member: ObjectId, name: &str, role: &str) -> Self {
        Self {
            event: "teamInvitationAccepted",
            title: "Invitation accepted".into(),
            message: format!("{name} joined your team as {role}."),
            kind: "success",
            category: "social",
            priority: "low",
            data: NotificationData {
                related_entity_type: Some("team".into()),
                related_entity_data: Some(doc! { "name": name, "role": role }),
                deep_link: Some(format!("/team/{}", member.to_hex())),
                action_label: Some("View team".into()),
                ..Default::default()
            },
            dedupe_key: Some(format!("team.accepted:{}", member.to_hex())),
        }
    }

    /// Stock crossed a line (`variant` for a variant's stock): see [`StockMove::crossing`].
    pub fn stock(
        product: &ProductDoc,
        variant: Option<&str>,
        mv: StockMove,
        event: StockEvent,
    ) -> Self {
        let stock = mv.after;
        let what = match variant {
            Some(v) => format!("{} (variant {v})", product.name),
            None => product.name.clone(),
        };
        let (title, message, kind, priority) = if event == StockEvent::OutOfStock {
            (
                "Out of stock",
                format!("{what} is out of stock."),
                "error",
                "high",
            )
        } else {
            (
                "Low stock",
                format!("{what} is running low: {stock} left."),
                "warning",
                "medium",
            )
        };
        Self {
            event: event.key(),
            title: title.into(),
            message,
            kind,
            category: "system",
            priority,
            data: NotificationData {
                product_id: Some(product.id),
                related_entity_type: Some("product".into()),
                related_entity_data: Some(stock_entity(product, variant, mv)),
                deep_link: Some(format!("/products/{}", product.id.to_hex())),
                action_label: Some("Restock".into()),
                ..Default::default()
            },
            // Every crossing is a separate event; each write reports the stock it replaced
            // (atomically), so only one request sees a given crossing and no key is needed.
            dedupe_key: None,
        }
    }
}

/// The product (and variant) a stock notification is about, with the stock and its threshold.
fn stock_entity(product: &ProductDoc, variant: Option<&str>, mv: StockMove) -> Document {
    let mut entity = doc! { "name": product.name.clone(), "sku": product.sku.clone(), "stock": mv.after,
    "lowStockThreshold": mv.threshold };
    if let Some(v) = variant {
        entity.insert("variantId", v);
    }
    entity
}

/// Raise the notification of a stock change, if [`StockMove::crossing`] says it crossed a
/// line. The one place stock notifications are raised; `mv.before` must be what the atomic
/// write replaced, so concurrent writers never both see the same crossing.
pub async fn stock_changed(
    store: &Store,
    product: &ProductDoc,
    variant: Option<&str>,
    mv: StockMove,
) {
    if let Some(event) = mv.crossing() {
        let n = NewNotification::stock(product, variant, mv, event);
        notify_quietly(store, product.merchant_id, n).await;
    }
}

/// How far back the watcher looks when it starts (orders missed while no replica ran).
pub const STARTUP_LOOKBACK: Duration = Duration::from_secs(3600);
/// Orders re-read on each pass, for writers whose clocks lag (already notified ones are skipped).
const OVERLAP_MS: i64 = 60_000;
/// Orders handled per pass.
const BATCH: i64 = 500;

/// Notify merchants of orders created at or after `since` (one batch); returns how many
/// notifications were created and where the scan stopped.
pub async fn scan_new_orders(
    store: &Store,
    since: DateTime,
) -> mongodb::error::Result<(usize, ScanEnd)> {
    let (orders, read) = store.orders_created_since(since, BATCH).await?;
    let full = read as i64 == BATCH;
    let newest = orders.last().map(|o| o.created_at);
    let mut shops: Vec<ObjectId> = orders
        .iter()
        .flat_map(|o| o.items.iter().map(|i| i.shop))
        .collect();
    shops.sort();
    shops.dedup();
    let owners = store.shop_owners(&shops).await?;
    let keys: Vec<String> = orders
        .iter()
        .map(|o| NewNotification::new_order(o).dedupe_key.unwrap_or_default())
        .collect();
    let used = store.used_dedupe_keys(keys).await?;
    let mut created = 0;
    for order in &orders {
        let n = NewNotification::new_order(order);
        let key = n.dedupe_key.clone().unwrap_or_default();
        let mut merchants: Vec<ObjectId> = order
            .items
            .iter()
            .filter_map(|i| owners.get(&i.shop).copied())
            .collect();
        merchants.sort();
        merchants.dedup();
        for m in merchants
            .into_iter()
            .filter(|m| !used.contains(&(*m, key.clone())))
        {
            if notify(store, m, n.clone()).await? != Notified::Duplicate {
                created += 1;
            }
        }
    }
    Ok((created, ScanEnd { newest, full }))
}

/// Where a scan stopped.
#[derive(Debug, Clone, Copy)]
pub struct ScanEnd {
    /// Newest `createdAt` seen (none when nothing was found).
    pub newest: Option<DateTime>,
    /// The batch was full: more orders may follow right after `newest`.
    pub full: bool,
}

impl ScanEnd {
    /// Start of the next scan: unchanged when nothing was found, right after a full batch,
    /// else `OVERLAP_MS` before the newest order (for late writers); never earlier than the
    /// start-up lookback.
    fn next_since(self, since: DateTime, floor: i64) -> DateTime {
        let Some(newest) = self.newest else {
            return since;
        };
        let at = newest.timestamp_millis();
        let next = if self.full { at } else { at - OVERLAP_MS };
        DateTime::from_millis(next.max(floor).max(since.timestamp_millis().min(at)))
    }
}

/// Poll for new orders every `every` until the task is aborted. Safe with several replicas:
/// each notification is keyed by its order, so a second replica's insert is a no-op.
pub async fn watch_new_orders(store: Store, every: Duration) {
    let mut since = DateTime::from_millis(
        DateTime::now().timestamp_millis() - STARTUP_LOOKBACK.as_millis() as i64,
    );
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match scan_new_orders(&store, since).await {
            Ok((created, end)) => {
                if created > 0 {
                    tracing::info!(created, "new-order notifications created");
                }
                let floor =
                    DateTime::now().timestamp_millis() - STARTUP_LOOKBACK.as_millis() as i64;
                since = end.next_since(since, floor);
            }
            Err(e) => tracing::warn!(error = %e, "new-order scan failed"),
        }
    }
}
