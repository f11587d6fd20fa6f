//! Response bodies of the notification routes: the contract's notification item, the paginated
//! lists, counts and the inbox statistics.

use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    store::json::{hex, iso_text, opt_iso_text},
    store::{
        DateTime, ObjectId,
        json::StoredJson,
        notifications::{
            CategoryCount, KeyCount, NotificationDoc, NotificationOverview, NotificationStats,
        },
    },
};

/// In-app delivery of a notification.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InAppDelivery {
    /// Whether it was delivered in-app.
    pub sent: bool,
    /// When it was delivered.
    #[serde(serialize_with = "opt_iso_text")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<DateTime>,
}

/// Delivery per channel.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryStatus {
    /// In-app delivery.
    pub in_app: InAppDelivery,
}

/// A notification of the merchant's inbox.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView<'a> {
    /// Id (24 hex).
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String)]
    pub id: &'a ObjectId,
    /// The same id, as older clients read it.
    #[serde(rename = "_id", serialize_with = "hex")]
    #[schema(value_type = String)]
    pub underscore_id: &'a ObjectId,
    /// The merchant (24 hex).
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String)]
    pub merchant_id: &'a ObjectId,
    /// Title.
    pub title: &'a str,
    /// Body.
    pub message: &'a str,
    /// The related entity's type (order, product, team, …), else the stored type (info,
    /// success, warning, error, promotional).
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// order | earning | general | promotional | social | security | system | reminder.
    pub category: &'a str,
    /// unread | read | archived.
    pub status: &'static str,
    /// Read.
    pub is_read: bool,
    /// Archived.
    pub is_archived: bool,
    /// low | medium | high | urgent.
    pub priority: &'a str,
    /// Delivery channels (push, email, sms, in_app).
    pub channels: &'a [String],
    /// order | product | team | cashback | …
    pub related_entity_type: Option<&'a str>,
    /// The order or product concerned (24 hex).
    pub related_entity_id: Option<String>,
    /// A small snapshot of the entity (order number, stock, …), as stored.
    #[schema(value_type = Option<Object>)]
    pub related_entity_data: Option<StoredJson<'a>>,
    /// In-app link.
    pub action_url: Option<&'a str>,
    /// Label of the action.
    pub action_label: Option<&'a str>,
    /// Image.
    pub image_url: Option<&'a str>,
    /// Created.
    #[serde(serialize_with = "iso_text")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: &'a DateTime,
    /// Last change.
    #[serde(serialize_with = "iso_text")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: &'a DateTime,
    /// When read.
    #[serde(serialize_with = "opt_iso_text")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub read_at: Option<DateTime>,
    /// When archived.
    #[serde(serialize_with = "opt_iso_text")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub archived_at: Option<DateTime>,
    /// Delivery per channel.
    pub delivery_status: DeliveryStatus,
    /// When it was delivered in-app.
    #[serde(serialize_with = "opt_iso_text")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<DateTime>,
    /// system | admin | automated | campaign.
    pub source: &'a str,
    /// Always null (no templates on the merchant side).
    #[schema(value_type = Option<String>)]
    pub template: Option<()>,
}

impl<'a> NotificationView<'a> {
    /// The item of `n`.
    pub fn of(n: &'a NotificationDoc) -> Self {
        let status = if n.is_archived {
            "archived"
        } else if n.is_read {
            "read"
        } else {
            "unread"
        };
        let d = &n.data;
        Self {
            id: &n.id,
            underscore_id: &n.id,
            merchant_id: &n.user,
            title: &n.title,
            message: &n.message,
            kind: d.related_entity_type.as_deref().unwrap_or(&n.kind),
            category: &n.category,
            status,
            is_read: n.is_read,
            is_archived: n.is_archived,
            priority: &n.priority,
            channels: &n.delivery_channels,
            related_entity_type: d.related_entity_type.as_deref(),
            related_entity_id: d.order_id.or(d.product_id).map(|id| id.to_hex()),
            related_entity_data: d.related_entity_data.as_ref().map(StoredJson::document),
            action_url: d.deep_link.as_deref(),
            action_label: d.action_label.as_deref(),
            image_url: d.image_url.as_deref(),
            created_at: &n.created_at,
            updated_at: &n.updated_at,
            read_at: n.read_at,
            archived_at: n.archived_at,
            delivery_status: DeliveryStatus {
                in_app: InAppDelivery {
                    sent: n.sent_at.is_some(),
                    sent_at: n.sent_at,
                },
            },
            sent_at: n.sent_at,
            source: &n.source,
            template: None,
        }
    }
}

/// Position in a paginated list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// 1-based page (left out in cursor mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    /// Page size.
    pub limit: i64,
    /// Matching notifications (left out with `includeTotal=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Number of pages (left out with `includeTotal=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_pages: Option<u64>,
    /// A later page exists.
    pub has_next: bool,
    /// An earlier page exists.
    pub has_prev: bool,
}

/// `data` of the notification lists.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationList<'a> {
    /// The page's notifications.
    pub items: &'a [NotificationView<'a>],
    /// The same notifications, as older clients read them.
    pub notifications: &'a [NotificationView<'a>],
    /// Unread notifications of the inbox.
    pub unread_count: u64,
    /// Position.
    pub pagination: &'a Pagination,
    /// Cursor mode only: the cursor of the next window, `null` at the end of the list.
    #[serde(skip_serializing_if = "page_mode")]
    #[schema(value_type = Option<String>)]
    pub next_cursor: &'a Option<Option<String>>,
}

/// No `nextCursor` key outside cursor mode.
fn page_mode(next: &&Option<Option<String>>) -> bool {
    next.is_none()
}

/// A page of notifications owning its rows: serialised as [`NotificationList`].
#[derive(Debug)]
pub struct NotificationPageData {
    /// The page's notifications.
    pub rows: Vec<NotificationDoc>,
    /// Unread notifications of the inbox.
    pub unread_count: u64,
    /// Position.
    pub pagination: Pagination,
    /// Cursor mode only: the next window's cursor (`Some(None)` at the end).
    pub next_cursor: Option<Option<String>>,
}

impl Serialize for NotificationPageData {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let items: Vec<NotificationView<'_>> = self.rows.iter().map(NotificationView::of).collect();
        NotificationList {
            items: &items,
            notifications: &items,
            unread_count: self.unread_count,
            pagination: &self.pagination,
            next_cursor: &self.next_cursor,
        }
        .serialize(s)
    }
}

/// One notification owning its document: serialised as [`NotificationView`].
#[derive(Debug)]
pub struct Notification(pub NotificationDoc);

impl Serialize for Notification {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        NotificationView::of(&self.0).serialize(s)
    }
}

/// `data` of the unread count.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnreadCount {
    /// Unread notifications of the inbox.
    pub count: u64,
    /// The server's clock (ISO-8601).
    #[schema(format = DateTime)]
    pub timestamp: String,
}

/// Totals of the inbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    /// The aggregation's group key: null when the inbox has notifications, absent when it
    /// has none.
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, required = false)]
    pub id: Option<()>,
    /// The counts.
    #[serde(flatten)]
    pub counts: NotificationOverview,
}

/// `data` of the inbox statistics.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationStatsView {
    /// Totals.
    pub overview: Overview,
    /// Per category (`_id`), sorted by category.
    pub by_category: Vec<CategoryCount>,
    /// Unread per priority (`_id`), sorted by priority.
    pub by_priority: Vec<KeyCount>,
    /// Per day (`_id`: YYYY-MM-DD) of the last 7 days.
    pub recent_activity: Vec<KeyCount>,
    /// The server's clock (ISO-8601).
    #[schema(format = DateTime)]
    pub generated_at: String,
}

impl NotificationStatsView {
    /// The view of `stats`, generated at `generated_at`.
    pub fn of(stats: NotificationStats, generated_at: String) -> Self {
        let overview = match stats.overview.into_iter().next() {
            Some(counts) => Overview {
                id: Some(()),
                counts,
            },
            None => Overview {
                id: None,
                counts: NotificationOverview::default(),
            },
        };
        Self {
            overview,
            by_category: stats.by_category,
            by_priority: stats.by_priority,
            recent_activity: stats.recent_activity,
            generated_at,
        }
    }
}

/// `data` of marking notifications read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarkedRead {
    /// Notifications changed.
    pub updated: u64,
    /// Unread notifications left.
    pub unread_count: u64,
}

/// `data` of deleting several notifications.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    /// Notifications deleted.
    pub deleted: u64,
}

/// `data` of clearing the inbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cleared {
    /// Notifications cleared.
    pub cleared: u64,
}
