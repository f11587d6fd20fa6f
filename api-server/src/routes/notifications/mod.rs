//! `/api/merchant/notifications` (contract §2.9): the merchant's inbox in the shared
//! `notifications` collection: list, unread count, stats, read/archive/delete, clear-all and
//! preferences. Every route acts on the caller's own inbox (`notifications:view`).

pub mod actions;
pub mod preferences;

use axum::{
    Router,
    extract::{Path, State},
    middleware::from_fn,
    routing::{get, post, put},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use super::{
    Reply,
    params::{KnownKeys, StrictQuery, error_meta},
    products::types::int_param,
};
use crate::{
    error::ApiError,
    extract::{AuthMerchant, object_id},
    state::AppState,
    store::{
        DateTime, ObjectId,
        json::{bson_to_json, iso},
        notifications::{NotificationDoc, NotificationFilter, NotificationPage},
    },
    validate::Validator,
};

/// Notification routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list))
        .route("/unread", get(unread))
        .route("/archived", get(archived))
        .route("/unread-count", get(unread_count))
        .route("/stats", get(stats))
        .route(
            "/preferences",
            get(preferences::show).put(preferences::save),
        )
        .route("/mark-all-read", post(actions::mark_all_read))
        .route("/mark-multiple-read", post(actions::mark_multiple_read))
        .route("/delete-multiple", post(actions::delete_multiple))
        .route(
            "/clear-all",
            post(actions::clear_all).delete(actions::clear_all),
        )
        .route("/{id}", get(show).delete(actions::remove))
        .route("/{id}/archive", put(actions::archive))
        .route("/{id}/mark-read", post(actions::mark_read))
        .layer(from_fn(error_meta))
}

/// Query of the notification lists.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// order | product | team | info | success | warning | error | promotional.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// unread | read.
    pub status: Option<String>,
    /// order | earning | general | promotional | social | security | system | reminder.
    pub category: Option<String>,
    /// createdAt | priority.
    pub sort_by: Option<String>,
    /// asc | desc (default desc).
    pub order: Option<String>,
    /// ≥ 1.
    pub page: Option<String>,
    /// 1..100 (default 20).
    pub limit: Option<String>,
}

impl KnownKeys for ListQuery {
    const KEYS: &'static [&'static str] = &[
        "type", "status", "category", "sortBy", "order", "page", "limit",
    ];
}

pub(crate) fn not_found() -> ApiError {
    ApiError::NotFound("Notification not found".into())
}

pub(crate) fn notification_id(raw: &str) -> Result<ObjectId, ApiError> {
    object_id(raw, "Invalid notification ID format")
}

/// The contract's notification item.
pub fn item_json(n: &NotificationDoc) -> Value {
    let status = if n.is_archived {
        "archived"
    } else if n.is_read {
        "read"
    } else {
        "unread"
    };
    let d = &n.data;
    let entity_id = d.order_id.or(d.product_id).map(|id| id.to_hex());
    json!({
        "id": n.id.to_hex(), "_id": n.id.to_hex(), "merchantId": n.user.to_hex(), "title": n.title,
        "message": n.message, "type": d.related_entity_type.clone().unwrap_or_else(|| n.kind.clone()),
        "category": n.category, "status": status, "isRead": n.is_read, "isArchived": n.is_archived,
        "priority": n.priority, "channels": n.delivery_channels, "relatedEntityType": d.related_entity_type,
        "relatedEntityId": entity_id,
        "relatedEntityData": d.related_entity_data.clone().map(|x| bson_to_json(x.into())),
        "actionUrl": d.deep_link, "actionLabel": d.action_label, "imageUrl": d.image_url,
        "createdAt": iso(n.created_at), "updatedAt": iso(n.updated_at), "readAt": n.read_at.map(iso),
        "archivedAt": n.archived_at.map(iso), "deliveryStatus": { "inApp": { "sent": n.sent_at.is_some(), "sentAt": n.sent_at.map(iso) } },
        "sentAt": n.sent_at.map(iso), "source": n.source, "template": Value::Null,
    })
}

fn list_input(
    q: ListQuery,
    v: &mut Validator,
    archived: bool,
) -> (NotificationFilter, NotificationPage) {
    let kind = v.one_of(
        "type",
        q.kind,
        &[
            "order",
            "product",
            "team",
            "info",
            "success",
            "warning",
            "error",
            "promotional",
        ],
    );
    let (entity, kind) = match kind {
        Some(k @ ("order" | "product" | "team")) => (Some(k), None),
        k => (None, k),
    };
    let filter = NotificationFilter {
        kind,
        entity,
        category: v.one_of(
            "category",
            q.category,
            &[
                "order",
                "earning",
                "general",
                "promotional",
                "social",
                "security",
                "system",
                "reminder",
            ],
        ),
        is_read: v
            .one_of("status", q.status, &["unread", "read"])
            .map(|s| s == "read"),
        archived,
    };
    let page = NotificationPage {
        by_priority: v.one_of("sortBy", q.sort_by, &["createdAt", "priority"]) == Some("priority"),
        direction: if v.one_of("order", q.order, &["asc", "desc"]) == Some("asc") {
            1
        } else {
            -1
        },
        page: int_param(v, "page", q.page, 1, 1_000_000, 1) as u64,
        limit: int_param(v, "limit", q.limit, 1, 100, 20),
    };
    (filter, page)
}

async fn list_page(
    state: &AppState,
    auth: &AuthMerchant,
    q: ListQuery,
    archived: bool,
    unread_only: bool,
) -> Result<Reply, ApiError> {
    auth.require("notifications:view")?;
    let mut v = Validator::new();
    let (mut filter, page) = list_input(q, &mut v, archived);
    v.finish_as("Query validation failed")?;
    if unread_only {
        filter.is_read = Some(false);
    }
    let s = &state.store;
    let (rows, unread) = futures::try_join!(
        s.list_notifications(auth.id(), &filter, &page),
        s.unread_count(auth.id())
    )
    .map_err(ApiError::internal("Failed to fetch notifications"))?;
    let (rows, total) = rows;
    let items: Vec<Value> = rows.iter().map(item_json).collect();
    let pages = total.div_ceil(page.limit as u64);
    Ok(Reply::data(json!({
        "items": items, "notifications": items, "unreadCount": unread,
        "pagination": { "page": page.page, "limit": page.limit, "total": total, "totalPages": pages,
            "hasNext": page.page < pages, "hasPrev": page.page > 1 },
    }))
    .message("Notifications retrieved successfully"))
}

/// The inbox (not archived, not deleted), filtered and paginated.
#[utoipa::path(get, path = "/api/merchant/notifications", tag = "notifications", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "`{items, notifications, unreadCount, pagination}`", body = crate::openapi::AnyEnvelope),
        (status = 400, description = "Query validation failed (also for unknown keys)", body = crate::openapi::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthMerchant,
    StrictQuery(q): StrictQuery<ListQuery>,
) -> Result<Reply, ApiError> {
    list_page(&state, &auth, q, false, false).await
}

/// Unread notifications of the inbox.
#[utoipa::path(get, path = "/api/merchant/notifications/unread", tag = "notifications", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "Like the list, unread only", body = crate::openapi::AnyEnvelope)))]
pub async fn unread(
    State(state): State<AppState>,
    auth: AuthMerchant,
    StrictQuery(q): StrictQuery<ListQuery>,
) -> Result<Reply, ApiError> {
    list_page(&state, &auth, q, false, true).await
}

/// Archived notifications.
#[utoipa::path(get, path = "/api/merchant/notifications/archived", tag = "notifications", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "Like the list, archived only", body = crate::openapi::AnyEnvelope)))]
pub async fn archived(
    State(state): State<AppState>,
    auth: AuthMerchant,
    StrictQuery(q): StrictQuery<ListQuery>,
) -> Result<Reply, ApiError> {
    list_page(&state, &auth, q, true, false).await
}

/// Number of unread notifications.
#[utoipa::path(get, path = "/api/merchant/notifications/unread-count", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, description = "`{count, timestamp}`", body = crate::openapi::AnyEnvelope)))]
pub async fn unread_count(
    State(state): State<AppState>,
    auth: AuthMerchant,
) -> Result<Reply, ApiError> {
    auth.require("notifications:view")?;
    let count = state
        .store
        .unread_count(auth.id())
        .await
        .map_err(ApiError::internal("Failed to fetch unread count"))?;
    Ok(
        Reply::data(json!({ "count": count, "timestamp": iso(DateTime::now()) }))
            .message("Unread count retrieved successfully"),
    )
}

/// Totals, by category, unread by priority and the last 7 days.
#[utoipa::path(get, path = "/api/merchant/notifications/stats", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, description = "`{overview, byCategory, byPriority, recentActivity, generatedAt}`", body = crate::openapi::AnyEnvelope)))]
pub async fn stats(State(state): State<AppState>, auth: AuthMerchant) -> Result<Reply, ApiError> {
    auth.require("notifications:view")?;
    let since = DateTime::from_millis(DateTime::now().timestamp_millis() - 7 * 86_400_000);
    let facets = state
        .store
        .notification_stats(auth.id(), since)
        .await
        .map_err(ApiError::internal("Failed to fetch notification stats"))?;
    let facets = bson_to_json(facets.into());
    let overview = facets["overview"]
        .get(0)
        .cloned()
        .unwrap_or_else(|| json!({ "total": 0, "unread": 0, "read": 0, "archived": 0 }));
    Ok(Reply::data(json!({
        "overview": overview, "byCategory": facets["byCategory"], "byPriority": facets["byPriority"],
        "recentActivity": facets["recentActivity"], "generatedAt": iso(DateTime::now()),
    }))
    .message("Notification statistics retrieved successfully"))
}

/// One notification.
#[utoipa::path(get, path = "/api/merchant/notifications/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "Notification id")),
    responses((status = 200, description = "The notification", body = crate::openapi::AnyEnvelope),
        (status = 404, description = "Notification not found", body = crate::openapi::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    auth.require("notifications:view")?;
    let id = notification_id(&id)?;
    let n = state
        .store
        .notification(auth.id(), id)
        .await
        .map_err(ApiError::internal("Failed to fetch notification"))?
        .ok_or_else(not_found)?;
    Ok(Reply::data(item_json(&n)).message("Notification retrieved successfully"))
}
