//! Inbox changes: mark read (one, several, all), archive, delete (one, several) and clear-all.

use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{
    not_found, notification_id,
    views::{Cleared, Deleted, MarkedRead, Notification, NotificationView},
};
use crate::{
    error::ApiError,
    extract::{AppJson, AuthMerchant},
    routes::{
        Reply,
        orders::body::order_ids,
        params::{KnownKeys, StrictQuery},
    },
    state::AppState,
    store::{
        ObjectId,
        notifications::{NotificationDoc, OneChange},
    },
    validate::Validator,
};

/// Query of clear-all.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ClearQuery {
    /// Clear only read notifications (`true`/`false`).
    pub only_read: Option<String>,
}

impl KnownKeys for ClearQuery {
    const KEYS: &'static [&'static str] = &["onlyRead"];
}

/// Body naming notifications.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdsBody {
    /// 1..100 notification ids.
    pub notification_ids: Option<Vec<String>>,
}

/// Mark some (`None`: all) unread notifications read; `{updated, unreadCount}`.
async fn mark_read_many(
    state: &AppState,
    auth: &AuthMerchant,
    ids: Option<Vec<ObjectId>>,
) -> Result<(u64, Reply<MarkedRead>), ApiError> {
    const FAILED: &str = "Failed to mark notifications as read";
    let updated = state
        .store
        .mark_read(auth.id(), ids)
        .await
        .map_err(ApiError::internal(FAILED))?;
    let unread = state
        .store
        .unread_count(auth.id())
        .await
        .map_err(ApiError::internal(FAILED))?;
    Ok((
        updated,
        Reply::data(MarkedRead {
            updated,
            unread_count: unread,
        }),
    ))
}

/// Mark every unread notification read (empty body allowed).
#[utoipa::path(post, path = "/api/merchant/notifications/mark-all-read", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, description = "`{updated, unreadCount}`", body = crate::openapi::Envelope<MarkedRead>)))]
pub async fn mark_all_read(
    State(state): State<AppState>,
    auth: AuthMerchant,
) -> Result<Reply<MarkedRead>, ApiError> {
    auth.require("notifications:view")?;
    let (updated, reply) = mark_read_many(&state, &auth, None).await?;
    Ok(reply.message(format!(
        "All notifications marked as read ({updated} updated)"
    )))
}

fn ids(body: IdsBody) -> Result<Vec<ObjectId>, ApiError> {
    let mut v = Validator::new();
    let ids = order_ids(&mut v, "notificationIds", body.notification_ids, 100);
    v.finish()?;
    Ok(ids)
}

/// Mark some notifications read.
#[utoipa::path(post, path = "/api/merchant/notifications/mark-multiple-read", tag = "notifications", security(("bearer" = [])), request_body = IdsBody,
    responses((status = 200, description = "`{updated, unreadCount}`", body = crate::openapi::Envelope<MarkedRead>),
        (status = 400, description = "Validation failed", body = crate::openapi::ErrorBody)))]
pub async fn mark_multiple_read(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppJson(body): AppJson<IdsBody>,
) -> Result<Reply<MarkedRead>, ApiError> {
    auth.require("notifications:view")?;
    let ids = ids(body)?;
    let (updated, reply) = mark_read_many(&state, &auth, Some(ids)).await?;
    Ok(reply.message(format!("{updated} notification(s) marked as read")))
}

/// Delete (soft) some notifications.
#[utoipa::path(post, path = "/api/merchant/notifications/delete-multiple", tag = "notifications", security(("bearer" = [])), request_body = IdsBody,
    responses((status = 200, description = "`{deleted}`", body = crate::openapi::Envelope<Deleted>),
        (status = 400, description = "Validation failed", body = crate::openapi::ErrorBody)))]
pub async fn delete_multiple(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppJson(body): AppJson<IdsBody>,
) -> Result<Reply<Deleted>, ApiError> {
    auth.require("notifications:view")?;
    let ids = ids(body)?;
    let deleted = state
        .store
        .delete_notifications(auth.id(), ids)
        .await
        .map_err(ApiError::internal("Failed to delete notifications"))?;
    Ok(Reply::data(Deleted { deleted }).message(format!("{deleted} notification(s) deleted")))
}

/// Clear the inbox (soft delete), or only its read notifications.
#[utoipa::path(delete, path = "/api/merchant/notifications/clear-all", tag = "notifications", security(("bearer" = [])), params(ClearQuery),
    responses((status = 200, description = "`{cleared}`", body = crate::openapi::Envelope<Cleared>),
        (status = 400, description = "Query validation failed", body = crate::openapi::ErrorBody)))]
pub async fn clear_all(
    State(state): State<AppState>,
    auth: AuthMerchant,
    StrictQuery(q): StrictQuery<ClearQuery>,
) -> Result<Reply<Cleared>, ApiError> {
    auth.require("notifications:view")?;
    let mut v = Validator::new();
    let only_read = v.one_of("onlyRead", q.only_read, &["true", "false"]) == Some("true");
    v.finish_as("Query validation failed")?;
    let cleared = state
        .store
        .clear_notifications(auth.id(), only_read)
        .await
        .map_err(ApiError::internal("Failed to clear notifications"))?;
    Ok(Reply::data(Cleared { cleared }).message(format!("{cleared} notification(s) cleared")))
}

/// Apply `change` to one of the caller's notifications (404 when not theirs).
async fn change_one(
    state: &AppState,
    auth: &AuthMerchant,
    id: &str,
    change: OneChange,
    failed: &'static str,
) -> Result<NotificationDoc, ApiError> {
    auth.require("notifications:view")?;
    let id = notification_id(id)?;
    state
        .store
        .change_notification(auth.id(), id, change)
        .await
        .map_err(ApiError::internal(failed))?
        .ok_or_else(not_found)
}

/// Mark one notification read.
#[utoipa::path(post, path = "/api/merchant/notifications/{id}/mark-read", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "Notification id")),
    responses((status = 200, description = "The notification", body = crate::openapi::Envelope<NotificationView>),
        (status = 404, description = "Notification not found", body = crate::openapi::ErrorBody)))]
pub async fn mark_read(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(id): Path<String>,
) -> Result<Reply<Notification>, ApiError> {
    let failed = "Failed to mark notification as read";
    let n = change_one(&state, &auth, &id, OneChange::Read, failed).await?;
    Ok(Reply::data(Notification(n)).message("Notification marked as read"))
}

/// Archive one notification.
#[utoipa::path(put, path = "/api/merchant/notifications/{id}/archive", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "Notification id")),
    responses((status = 200, description = "The notification", body = crate::openapi::Envelope<NotificationView>),
        (status = 404, description = "Notification not found", body = crate::openapi::ErrorBody)))]
pub async fn archive(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(id): Path<String>,
) -> Result<Reply<Notification>, ApiError> {
    let failed = "Failed to archive notification";
    let n = change_one(&state, &auth, &id, OneChange::Archive, failed).await?;
    Ok(Reply::data(Notification(n)).message("Notification archived"))
}

/// Delete (soft) one notification.
#[utoipa::path(delete, path = "/api/merchant/notifications/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "Notification id")),
    responses((status = 200, description = "Deleted", body = crate::openapi::Done),
        (status = 404, description = "Notification not found", body = crate::openapi::ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(id): Path<String>,
) -> Result<Reply<()>, ApiError> {
    let failed = "Failed to delete notification";
    change_one(&state, &auth, &id, OneChange::Delete, failed).await?;
    Ok(Reply::empty().message("Notification deleted"))
}
