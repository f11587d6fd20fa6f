//! The shared `notifications` collection (contract §3.7), merchant side: `user` holds the
//! merchant id. "Deleted" is a soft delete through `deletedAt`; `dedupeKey` (unique per user
//! where present) makes event notifications idempotent across replicas. Preferences live in
//! `notificationpreferences`, one document per merchant.

use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc, oid::ObjectId};
use serde::{Deserialize, Serialize};

use super::{
    DateTime, Store,
    keyset::{self, Listing, Sort, Window},
};

/// Links from a notification to what it is about.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationData {
    /// Order concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<ObjectId>,
    /// Product concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<ObjectId>,
    /// order | product | team | cashback | … (the merchant-facing `type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_entity_type: Option<String>,
    /// Small snapshot of the entity (order number, stock, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_entity_data: Option<Document>,
    /// In-app link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deep_link: Option<String>,
    /// Label of the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_label: Option<String>,
    /// Image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

/// A notification.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationDoc {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Recipient (the merchant id).
    pub user: ObjectId,
    /// Title.
    pub title: String,
    /// Body.
    pub message: String,
    /// info | success | warning | error | promotional.
    #[serde(rename = "type")]
    pub kind: String,
    /// order | earning | general | promotional | social | security | system | reminder.
    pub category: String,
    /// low | medium | high | urgent.
    pub priority: String,
    /// Links.
    #[serde(default)]
    pub data: NotificationData,
    /// push | email | sms | in_app.
    #[serde(default)]
    pub delivery_channels: Vec<String>,
    /// Read.
    #[serde(default)]
    pub is_read: bool,
    /// When read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime>,
    /// Archived.
    #[serde(default)]
    pub is_archived: bool,
    /// When archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<DateTime>,
    /// Soft-deleted at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime>,
    /// When it was delivered in-app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime>,
    /// system | admin | automated | campaign.
    #[serde(default = "system")]
    pub source: String,
    /// Idempotency key of the event that raised it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedupe_key: Option<String>,
    /// Created.
    pub created_at: DateTime,
    /// Updated.
    pub updated_at: DateTime,
}

fn system() -> String {
    "system".into()
}

/// Which notifications a list shows.
#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    /// Stored `type` (info, success, …).
    pub kind: Option<&'static str>,
    /// `data.relatedEntityType` (order, product, team).
    pub entity: Option<&'static str>,
    /// Category.
    pub category: Option<&'static str>,
    /// Read state.
    pub is_read: Option<bool>,
    /// Archived ones instead of the inbox.
    pub archived: bool,
}

/// Sort and page.
#[derive(Debug, Clone)]
pub struct NotificationPage {
    /// By priority (urgent first) instead of date.
    pub by_priority: bool,
    /// 1 or -1.
    pub direction: i32,
    /// 1-based page.
    pub page: u64,
    /// Page size.
    pub limit: i64,
}

/// Merchant notification preferences.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preferences {
    /// Show notifications in the app at all.
    pub in_app: bool,
    /// E-mail copies.
    pub email: bool,
    /// Push copies.
    pub push: bool,
    /// SMS copies.
    pub sms: bool,
    /// Per event: newOrder, orderCancelled, lowStock, outOfStock, cashbackRequest, teamInvitationAccepted.
    pub events: std::collections::BTreeMap<String, bool>,
}

/// Totals of the inbox.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct NotificationOverview {
    /// Notifications (not deleted).
    pub total: i64,
    /// Neither read nor archived.
    pub unread: i64,
    /// Read.
    pub read: i64,
    /// Archived.
    pub archived: i64,
}

/// Notifications and unread ones of a category.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct CategoryCount {
    /// The category.
    #[serde(rename = "_id")]
    pub id: Option<String>,
    /// Notifications.
    pub count: i64,
    /// Unread ones.
    pub unread: i64,
}

/// Notifications of one key (a priority, a `YYYY-MM-DD` day).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct KeyCount {
    /// The key.
    #[serde(rename = "_id")]
    pub id: Option<String>,
    /// Notifications.
    pub count: i64,
}

/// `{overview, byCategory, byPriority, recentActivity}` of an inbox.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NotificationStats {
    /// Totals: one row, none when the inbox is empty.
    #[serde(default)]
    pub overview: Vec<NotificationOverview>,
    /// Per category, by category.
    #[serde(default)]
    pub by_category: Vec<CategoryCount>,
    /// Unread per priority, by priority.
    #[serde(default)]
    pub by_priority: Vec<KeyCount>,
    /// Per day since the given instant, by day.
    #[serde(default)]
    pub recent_activity: Vec<KeyCount>,
}

/// The events a merchant can switch off.
pub const EVENTS: [&str; 6] = [
    "newOrder",
    "orderCancelled",
    "lowStock",
    "outOfStock",
    "cashbackRequest",
    "teamInvitationAccepted",
];

impl Default for Preferences {
    fn default() -> Self {
        Self {
            in_app: true,
            email: false,
            push: false,
            sms: false,
            events: EVENTS.iter().map(|e| (e.to_string(), true)).collect(),
        }
    }
}

impl Preferences {
    /// Whether an in-app notification for `event` is wanted.
    pub fn wants(&self, event: &str) -> bool {
        self.in_app && self.events.get(event).copied().unwrap_or(true)
    }
}

/// The inbox of a merchant: not deleted.
/// A change to one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneChange {
    /// Mark read.
    Read,
    /// Archive.
    Archive,
    /// Soft-delete.
    Delete,
}

impl OneChange {
    /// The extra condition and the fields to set. Only unread notifications get `readAt`, so it
    /// keeps its first value.
    fn update(self, now: DateTime) -> (Document, Document) {
        match self {
            Self::Read => (
                doc! { "isRead": { "$ne": true } },
                doc! { "isRead": true, "readAt": now },
            ),
            Self::Archive => (doc! {}, doc! { "isArchived": true, "archivedAt": now }),
            Self::Delete => (doc! {}, doc! { "deletedAt": now }),
        }
    }
}

fn inbox(merchant: ObjectId) -> Document {
    doc! { "user": merchant, "deletedAt": Bson::Null }
}

fn one(merchant: ObjectId, id: ObjectId) -> Document {
    let mut f = inbox(merchant);
    f.insert("_id", id);
    f
}

impl NotificationFilter {
    fn to_document(&self, merchant: ObjectId) -> Document {
        let mut f = inbox(merchant);
        f.insert(
            "isArchived",
            if self.archived {
                Bson::Boolean(true)
            } else {
                doc! { "$ne": true }.into()
            },
        );
        if let Some(k) = self.kind {
            f.insert("type", k);
        }
        if let Some(e) = self.entity {
            f.insert("data.relatedEntityType", e);
        }
        if let Some(c) = self.category {
            f.insert("category", c);
        }
        if let Some(r) = self.is_read {
            f.insert(
                "isRead",
                if r {
                    Bson::Boolean(true)
                } else {
                    doc! { "$ne": true }.into()
                },
            );
        }
        f
    }
}

/// Outcome of an insert keyed by `dedupeKey`.
#[derive(Debug)]
pub enum Inserted {
    /// Stored.
    New(Box<NotificationDoc>),
    /// The event was already notified.
    Duplicate,
}

impl Store {
    pub(crate) fn notifications(&self) -> mongodb::Collection<NotificationDoc> {
        self.db.collection("notifications")
    }

    fn preferences_coll(&self) -> mongodb::Collection<Document> {
        self.db.collection("notificationpreferences")
    }

    /// Insert; a second insert with the same `(user, dedupeKey)` is a [`Inserted::Duplicate`].
    pub async fn insert_notification(
        &self,
        n: NotificationDoc,
    ) -> mongodb::error::Result<Inserted> {
        match self.notifications().insert_one(&n).await {
            Ok(_) => Ok(Inserted::New(Box::new(n))),
            Err(e) if super::is_duplicate_key(&e) && n.dedupe_key.is_some() => {
                Ok(Inserted::Duplicate)
            }
            Err(e) => Err(e),
        }
    }

    /// Which of `keys` were already used for the merchants' notifications.
    pub async fn used_dedupe_keys(
        &self,
        keys: Vec<String>,
    ) -> mongodb::error::Result<Vec<(ObjectId, String)>> {
        let rows: Vec<Document> = self
            .notifications()
            .clone_with_type::<Document>()
            .find(doc! { "dedupeKey": { "$in": keys } })
            .projection(doc! { "user": 1, "dedupeKey": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|d| {
                Some((
                    d.get_object_id("user").ok()?,
                    d.get_str("dedupeKey").ok()?.to_string(),
                ))
            })
            .collect())
    }

    /// A window of the merchant's notifications, counted when asked. By date it is a page or
    /// a keyset window; by priority (a rank computed per document, which no index orders) only a
    /// page.
    pub async fn list_notifications(
        &self,
        merchant: ObjectId,
        filter: &NotificationFilter,
        page: &NotificationPage,
        window: &Window,
        count: bool,
    ) -> mongodb::error::Result<Listing<NotificationDoc>> {
        let f = filter.to_document(merchant);
        if !page.by_priority {
            let sort = Sort::new("createdAt", page.direction);
            return keyset::list(&self.notifications(), f, sort, window, page.limit, count).await;
        }
        let skip = match window {
            Window::Page(n) => n.saturating_sub(1).saturating_mul(page.limit as u64) as i64,
            Window::After(_) => 0,
        };
        let rank = doc! { "$switch": { "branches": [
            { "case": { "$eq": ["$priority", "urgent"] }, "then": 4 },
            { "case": { "$eq": ["$priority", "high"] }, "then": 3 },
            { "case": { "$eq": ["$priority", "medium"] }, "then": 2 },
        ], "default": 1 } };
        let pipeline = vec![
            doc! { "$match": f.clone() },
            doc! { "$addFields": { "_rank": rank } },
            doc! { "$sort": { "_rank": page.direction, "createdAt": -1, "_id": -1 } },
            doc! { "$skip": skip },
            doc! { "$limit": page.limit + i64::from(!count) },
            doc! { "$project": { "_rank": 0 } },
        ];
        let rows = async {
            self.notifications()
                .aggregate(pipeline)
                .with_type::<NotificationDoc>()
                .await?
                .try_collect::<Vec<_>>()
                .await
        };
        let total = async {
            if count {
                self.notifications().count_documents(f).await.map(Some)
            } else {
                Ok(None)
            }
        };
        let (mut items, total) = futures::try_join!(rows, total)?;
        let more = match (window, total) {
            (Window::Page(n), Some(total)) => n.saturating_mul(page.limit as u64) < total,
            _ => items.len() as i64 > page.limit,
        };
        items.truncate(page.limit.max(0) as usize);
        Ok(Listing {
            items,
            total,
            more,
            last: None,
        })
    }

    /// Unread, not archived, not deleted.
    pub async fn unread_count(&self, merchant: ObjectId) -> mongodb::error::Result<u64> {
        let mut f = inbox(merchant);
        f.insert("isRead", doc! { "$ne": true });
        f.insert("isArchived", doc! { "$ne": true });
        self.notifications().count_documents(f).await
    }

    /// One notification of the merchant.
    pub async fn notification(
        &self,
        merchant: ObjectId,
        id: ObjectId,
    ) -> mongodb::error::Result<Option<NotificationDoc>> {
        self.notifications().find_one(one(merchant, id)).await
    }

    /// Mark some (or, with `None`, all) of the merchant's unread notifications read.
    pub async fn mark_read(
        &self,
        merchant: ObjectId,
        ids: Option<Vec<ObjectId>>,
    ) -> mongodb::error::Result<u64> {
        let mut f = inbox(merchant);
        f.insert("isRead", doc! { "$ne": true });
        if let Some(ids) = ids {
            f.insert("_id", doc! { "$in": ids });
        }
        let now = DateTime::now();
        let r = self
            .notifications()
            .update_many(
                f,
                doc! { "$set": { "isRead": true, "readAt": now, "updatedAt": now } },
            )
            .await?;
        Ok(r.modified_count)
    }

    /// Apply `change` to one of the merchant's notifications; the notification after, `None`
    /// when it is not the merchant's (or already deleted).
    pub async fn change_notification(
        &self,
        merchant: ObjectId,
        id: ObjectId,
        change: OneChange,
    ) -> mongodb::error::Result<Option<NotificationDoc>> {
        let now = DateTime::now();
        let (only_if, mut set) = change.update(now);
        set.insert("updatedAt", now);
        let mut f = one(merchant, id);
        f.extend(only_if.clone());
        let changed = self
            .notifications()
            .find_one_and_update(f, doc! { "$set": set })
            .return_document(mongodb::options::ReturnDocument::After)
            .await?;
        match changed {
            Some(n) => Ok(Some(n)),
            // Already in that state (e.g. read before): answer it unchanged.
            None if !only_if.is_empty() => self.notification(merchant, id).await,
            None => Ok(None),
        }
    }

    /// Soft-delete some of the merchant's notifications; how many.
    pub async fn delete_notifications(
        &self,
        merchant: ObjectId,
        ids: Vec<ObjectId>,
    ) -> mongodb::error::Result<u64> {
        let mut f = inbox(merchant);
        f.insert("_id", doc! { "$in": ids });
        self.soft_delete(f).await
    }

    /// Soft-delete the whole inbox (or only its read notifications); how many.
    pub async fn clear_notifications(
        &self,
        merchant: ObjectId,
        only_read: bool,
    ) -> mongodb::error::Result<u64> {
        let mut f = inbox(merchant);
        if only_read {
            f.insert("isRead", true);
        }
        self.soft_delete(f).await
    }

    async fn soft_delete(&self, f: Document) -> mongodb::error::Result<u64> {
        let now = DateTime::now();
        let r = self
            .notifications()
            .update_many(f, doc! { "$set": { "deletedAt": now, "updatedAt": now } })
            .await?;
        Ok(r.modified_count)
    }

    /// `{overview, byCategory, byPriority, recentActivity}` of the inbox, from one `$facet`.
    pub async fn notification_stats(
        &self,
        merchant: ObjectId,
        since: DateTime,
    ) -> mongodb::error::Result<NotificationStats> {
        let unread = doc! { "$cond": [{ "$eq": ["$isRead", true] }, 0, 1] };
        let pipeline = vec![
            doc! { "$match": inbox(merchant) },
            doc! { "$facet": {
                "overview": [{ "$group": {
                    "_id": Bson::Null, "total": { "$sum": 1 },
                    "unread": { "$sum": { "$cond": [{ "$or": [{ "$eq": ["$isRead", true] }, { "$eq": ["$isArchived", true] }] }, 0, 1] } },
                    "read": { "$sum": { "$cond": [{ "$eq": ["$isRead", true] }, 1, 0] } },
                    "archived": { "$sum": { "$cond": [{ "$eq": ["$isArchived", true] }, 1, 0] } },
                } }],
                "byCategory": [
                    { "$group": { "_id": "$category", "count": { "$sum": 1 }, "unread": { "$sum": unread } } },
                    { "$sort": { "_id": 1 } },
                ],
                "byPriority": [
                    { "$match": { "isRead": { "$ne": true }, "isArchived": { "$ne": true } } },
                    { "$group": { "_id": "$priority", "count": { "$sum": 1 } } },
                    { "$sort": { "_id": 1 } },
                ],
                "recentActivity": [
                    { "$match": { "createdAt": { "$gte": since } } },
                    { "$group": { "_id": { "$dateToString": { "format": "%Y-%m-%d", "date": "$createdAt" } }, "count": { "$sum": 1 } } },
                    { "$sort": { "_id": 1 } },
                ],
            } },
        ];
        let mut rows = self
            .notifications()
            .clone_with_type::<Document>()
            .aggregate(pipeline)
            .await?
            .with_type::<NotificationStats>();
        Ok(rows.try_next().await?.unwrap_or_default())
    }

    /// The merchant's preferences (defaults when never saved).
    pub async fn preferences(&self, merchant: ObjectId) -> mongodb::error::Result<Preferences> {
        let found = self
            .preferences_coll()
            .find_one(doc! { "merchantId": merchant })
            .await?;
        Ok(found
            .and_then(|d| d.get_document("preferences").ok().cloned())
            .and_then(|p| mongodb::bson::from_document(p).ok())
            .unwrap_or_default())
    }

    /// Save the merchant's preferences.
    pub async fn save_preferences(
        &self,
        merchant: ObjectId,
        p: &Preferences,
    ) -> mongodb::error::Result<()> {
        let p = mongodb::bson::to_document(p)?;
        self.preferences_coll()
            .update_one(
                doc! { "merchantId": merchant },
                doc! { "$set": { "preferences": p, "updatedAt": DateTime::now() } },
            )
            .upsert(true)
            .await
            .map(drop)
    }
}
