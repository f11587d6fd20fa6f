//! `/api/merchant/notifications` (contract §2.9): the merchant's inbox in the shared
//! `notifications` collection: list, unread count, stats, read/archive/delete, clear-all and
//! preferences. Every route acts on the caller's own inbox (`notifications:view`).

pub mod actions;
pub mod preferences;
pub mod views;

use axum::{
    Router,
    extract::{Path, State},
    middleware::from_fn,
    routing::{get, post, put},
};
use serde::Deserialize;
use utoipa::IntoParams;

use self::views::{
    Notification, NotificationList, NotificationPageData, NotificationStatsView, NotificationView,
    Pagination, UnreadCount,
};

use super::{
    Reply,
    cursor::{CursorParams, Paging, Standing},
    params::{KnownKeys, StrictQuery, error_meta},
    products::types::int_param,
};
use crate::{
    error::ApiError,
    extract::{AuthMerchant, object_id},
    state::AppState,
    store::{
        DateTime, ObjectId,
        json::iso,
        notifications::{NotificationFilter, NotificationPage},
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
        "type",
        "status",
        "category",
        "sortBy",
        "order",
        "page",
        "limit",
        "cursor",
        "includeTotal",
    ];
}

pub(crate) fn not_found() -> ApiError {
    ApiError::NotFound("Notification not found".into())
}

pub(crate) fn notification_id(raw: &str) -> Result<ObjectId, ApiError> {
    object_id(raw, "Invalid notification ID format")
}

/// Values of the list's `type` filter (order, product and team are related entity types).
const KINDS: &[&str] = &[
    "order",
    "product",
    "team",
    "info",
    "success",
    "warning",
    "error",
    "promotional",
];

/// Values of the list's `category` filter.
const CATEGORIES: &[&str] = &[
    "order",
    "earning",
    "general",
    "promotional",
    "social",
    "security",
    "system",
    "reminder",
];

fn list_input(
    q: ListQuery,
    v: &mut Validator,
    archived: bool,
) -> (NotificationFilter, NotificationPage) {
    let kind = v.one_of("type", q.kind, KINDS);
    let (entity, kind) = match kind {
        Some(k @ ("order" | "product" | "team")) => (Some(k), None),
        k => (None, k),
    };
    let filter = NotificationFilter {
        kind,
        entity,
        category: v.one_of("category", q.category, CATEGORIES),
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
    paging: &Paging,
    q: ListQuery,
    archived: bool,
    unread_only: bool,
) -> Result<Reply<NotificationPageData>, ApiError> {
    auth.require("notifications:view")?;
    let mut v = Validator::new();
    let (mut filter, page) = list_input(q, &mut v, archived);
    let (window, count) = paging.window(&mut v, &state.auth.cursor, auth.id(), page.page);
    if page.by_priority && paging.is_cursor() {
        // The priority order is a rank computed per document: no index serves a keyset on it.
        v.error(
            "cursor",
            "\"cursor\" is not allowed with sortBy=priority (use page and limit)",
            None,
        );
    }
    v.finish_as("Query validation failed")?;
    if unread_only {
        filter.is_read = Some(false);
    }
    let s = &state.store;
    let (listing, unread) = futures::try_join!(
        s.list_notifications(auth.id(), &filter, &page, &window, count),
        s.unread_count(auth.id())
    )
    .map_err(ApiError::internal("Failed to fetch notifications"))?;
    let more = paging.continuation(&state.auth.cursor, auth.id(), &listing);
    let at = Standing::of(&window, page.limit as u64, &listing);
    let data = NotificationPageData {
        pagination: Pagination {
            page: at.page,
            limit: page.limit,
            total: at.total,
            total_pages: at.pages,
            has_next: at.has_next,
            has_prev: at.has_previous,
        },
        rows: listing.items,
        unread_count: unread,
        next_cursor: more.next_cursor,
    };
    Ok(Reply::data(data)
        .message("Notifications retrieved successfully")
        .link(more.link))
}

/// The inbox (not archived, not deleted), filtered and paginated.
#[utoipa::path(get, path = "/api/merchant/notifications", tag = "notifications", security(("bearer" = [])), params(ListQuery, CursorParams),
    responses((status = 200, description = "`{items, notifications, unreadCount, pagination}`", body = crate::openapi::Envelope<NotificationList>),
        (status = 400, description = "Query validation failed (also for unknown keys)", body = crate::openapi::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthMerchant,
    paging: Paging,
    StrictQuery(q): StrictQuery<ListQuery>,
) -> Result<Reply<NotificationPageData>, ApiError> {
    list_page(&state, &auth, &paging, q, false, false).await
}

/// Unread notifications of the inbox.
#[utoipa::path(get, path = "/api/merchant/notifications/unread", tag = "notifications", security(("bearer" = [])), params(ListQuery, CursorParams),
    responses((status = 200, description = "Like the list, unread only", body = crate::openapi::Envelope<NotificationList>)))]
pub async fn unread(
    State(state): State<AppState>,
    auth: AuthMerchant,
    paging: Paging,
    StrictQuery(q): StrictQuery<ListQuery>,
) -> Result<Reply<NotificationPageData>, ApiError> {
    list_page(&state, &auth, &paging, q, false, true).await
}

/// Archived notifications.
#[utoipa::path(get, path = "/api/merchant/notifications/archived", tag = "notifications", security(("bearer" = [])), params(ListQuery, CursorParams),
    responses((status = 200, description = "Like the list, archived only", body = crate::openapi::Envelope<NotificationList>)))]
pub async fn archived(
    State(state): State<AppState>,
    auth: AuthMerchant,
    paging: Paging,
    StrictQuery(q): StrictQuery<ListQuery>,
) -> Result<Reply<NotificationPageData>, ApiError> {
    list_page(&state, &auth, &paging, q, true, false).await
}

/// Number of unread notifications.
#[utoipa::path(get, path = "/api/merchant/notifications/unread-count", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, description = "`{count, timestamp}`", body = crate::openapi::Envelope<UnreadCount>)))]
pub async fn unread_count(
    State(state): State<AppState>,
    auth: AuthMerchant,
) -> Result<Reply<UnreadCount>, ApiError> {
    auth.require("notifications:view")?;
    let count = state
        .store
        .unread_count(auth.id())
        .await
        .map_err(ApiError::internal("Failed to fetch unread count"))?;
    let data = UnreadCount {
        count,
        timestamp: iso(DateTime::now()),
    };
    Ok(Reply::data(data).message("Unread count retrieved successfully"))
}

/// Totals, by category, unread by priority and the last 7 days.
#[utoipa::path(get, path = "/api/merchant/notifications/stats", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, description = "`{overview, byCategory, byPriority, recentActivity, generatedAt}`", body = crate::openapi::Envelope<NotificationStatsView>)))]
pub async fn stats(
    State(state): State<AppState>,
    auth: AuthMerchant,
) -> Result<Reply<NotificationStatsView>, ApiError> {
    auth.require("notifications:view")?;
    let since = DateTime::from_millis(DateTime::now().timestamp_millis() - 7 * 86_400_000);
    let facets = state
        .store
        .notification_stats(auth.id(), since)
        .await
        .map_err(ApiError::internal("Failed to fetch notification stats"))?;
    let data = NotificationStatsView::of(facets, iso(DateTime::now()));
    Ok(Reply::data(data).message("Notification statistics retrieved successfully"))
}

/// One notification.
#[utoipa::path(get, path = "/api/merchant/notifications/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "Notification id")),
    responses((status = 200, description = "The notification", body = crate::openapi::Envelope<NotificationView>),
        (status = 404, description = "Notification not found", body = crate::openapi::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(id): Path<String>,
) -> Result<Reply<Notification>, ApiError> {
    auth.require("notifications:view")?;
    let id = notification_id(&id)?;
    let n = state
        .store
        .notification(auth.id(), id)
        .await
        .map_err(ApiError::internal("Failed to fetch notification"))?
        .ok_or_else(not_found)?;
    Ok(Reply::data(Notification(n)).message("Notification retrieved successfully"))
}
