//! `/api/merchant/cashback` (contract §2.8): list, stats, pending count, get, create and the
//! review decisions, every query scoped to the caller's merchant (the peer's list and stats
//! were not). Decisions are guarded transitions: approve/reject only from pending or
//! under_review, mark-paid only from approved, amounts never above the requested one.
//! Export lives in [`export`], analytics and metrics in [`insights`].

mod decide;
mod export;
mod insights;
mod types;
pub mod views;

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post, put},
};

pub use decide::{
    __path_approve, __path_approve_post, __path_bulk_action, __path_mark_paid, __path_reject,
    __path_reject_post, approve, approve_post, bulk_action, mark_paid, reject, reject_post,
};
pub use export::{__path_export, export};
pub use insights::{__path_analytics, __path_metrics, analytics, metrics};
use types::{CreateBody, ListQuery, RangeQuery};
use views::{CashbackList, CashbackPagination, CashbackPendingCount, CashbackStats, CashbackView};

use super::{
    Reply,
    cursor::{CursorParams, Paging, Standing},
    params,
};
use crate::{
    audit::AuditChange,
    error::ApiError,
    extract::{AppJson, AppQuery, AuthMerchant, object_id},
    notifications::{NewNotification, notify_quietly},
    state::AppState,
    store::{
        ObjectId,
        cashback::{CashbackFilter, STATUSES},
    },
    validate::Validator,
};

/// Cashback routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/stats", get(stats))
        .route("/pending-count", get(pending_count))
        .route("/export", get(export))
        .route("/analytics", get(analytics))
        .route("/metrics", get(metrics))
        .route("/bulk-action", post(bulk_action))
        .route("/{id}", get(show))
        .route("/{id}/approve", put(approve).post(approve_post))
        .route("/{id}/reject", put(reject).post(reject_post))
        .route("/{id}/mark-paid", put(mark_paid))
}

pub(crate) fn cashback_id(raw: &str) -> Result<ObjectId, ApiError> {
    object_id(raw, "Invalid cashback ID format")
}

pub(crate) fn not_found() -> ApiError {
    ApiError::NotFound("Cashback request not found".into())
}

/// Parse `startDate`/`endDate` (and `status`) into a filter.
pub(crate) fn range_filter(
    v: &mut Validator,
    start: Option<String>,
    end: Option<String>,
    status: Option<String>,
) -> CashbackFilter {
    let (start, end) = params::date_range(v, start, end);
    CashbackFilter {
        status: v.one_of("status", status, STATUSES).map(str::to_string),
        start,
        end,
    }
}

/// The merchant's cashback requests, newest first (pages, or a cursor walk).
#[utoipa::path(get, path = "/api/merchant/cashback", tag = "cashback", security(("bearer" = [])), params(ListQuery, CursorParams),
    responses((status = 200, description = "A page of requests (cursor mode: `data.nextCursor` and a `Link` header; no `pagination.page`)", body = crate::openapi::Envelope<CashbackList>),
        (status = 400, description = "Query validation failed (also a tampered, foreign or mismatched `cursor`)", body = crate::openapi::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthMerchant,
    paging: Paging,
    AppQuery(q): AppQuery<ListQuery>,
) -> Result<Reply<CashbackList>, ApiError> {
    auth.require("orders:view")?;
    let mut v = Validator::new();
    let (page, limit) = params::page_limit(&mut v, q.page, q.limit, 20);
    let filter = range_filter(&mut v, q.start_date, q.end_date, q.status);
    let (window, count) = paging.window(&mut v, &state.auth.cursor, auth.id(), page);
    v.finish_as("Query validation failed")?;
    let listing = state
        .store
        .cashback_list(auth.id(), &filter, &window, limit, count)
        .await
        .map_err(ApiError::internal("Failed to fetch cashback requests"))?;
    let more = paging.continuation(&state.auth.cursor, auth.id(), &listing);
    let at = Standing::of(&window, limit as u64, &listing);
    Ok(Reply::data(CashbackList {
        cashbacks: listing.items.into_iter().map(CashbackView::from).collect(),
        pagination: CashbackPagination::new(at, limit),
        next_cursor: more.next_cursor,
    })
    .message("Cashback requests retrieved successfully")
    .link(more.link))
}

/// Counts by status and the real requested/approved/paid totals.
#[utoipa::path(get, path = "/api/merchant/cashback/stats", tag = "cashback", security(("bearer" = [])), params(RangeQuery),
    responses((status = 200, description = "Counts and amounts", body = crate::openapi::Envelope<CashbackStats>)))]
pub async fn stats(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<RangeQuery>,
) -> Result<Reply<CashbackStats>, ApiError> {
    auth.require("orders:view")?;
    let mut v = Validator::new();
    let filter = range_filter(&mut v, q.start_date, q.end_date, None);
    v.finish_as("Query validation failed")?;
    let stats = state
        .store
        .cashback_stats(auth.id(), &filter)
        .await
        .map_err(ApiError::internal("Failed to fetch cashback stats"))?
        .unwrap_or_default();
    Ok(Reply::data(CashbackStats { stats }).message("Cashback statistics retrieved successfully"))
}

/// Requests waiting for a decision (pending + under_review), cached briefly per merchant.
#[utoipa::path(get, path = "/api/merchant/cashback/pending-count", tag = "cashback", security(("bearer" = [])),
    responses((status = 200, description = "The open count", body = crate::openapi::Envelope<CashbackPendingCount>)))]
pub async fn pending_count(
    State(state): State<AppState>,
    auth: AuthMerchant,
) -> Result<Reply<CashbackPendingCount>, ApiError> {
    auth.require("orders:view")?;
    let cache = &state.cashback_counts;
    let (count, cached) = match cache.get(auth.id()) {
        Some(n) => (n, true),
        None => {
            let n = state
                .store
                .cashback_open_count(auth.id())
                .await
                .map_err(ApiError::internal("Failed to fetch pending count"))?;
            cache.put(auth.id(), n);
            (n, false)
        }
    };
    Ok(Reply::data(CashbackPendingCount { count, cached })
        .message("Pending count retrieved successfully"))
}

/// One request.
#[utoipa::path(get, path = "/api/merchant/cashback/{id}", tag = "cashback", security(("bearer" = [])),
    params(("id" = String, Path, description = "Cashback request id")),
    responses((status = 200, description = "The request", body = crate::openapi::Envelope<CashbackView>),
        (status = 400, description = "Invalid id", body = crate::openapi::ErrorBody),
        (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(raw): Path<String>,
) -> Result<Reply<CashbackView>, ApiError> {
    auth.require("orders:view")?;
    let id = cashback_id(&raw)?;
    let item = state
        .store
        .cashback_by_id(auth.id(), id)
        .await
        .map_err(ApiError::internal("Failed to fetch cashback request"))?
        .ok_or_else(not_found)?;
    Ok(Reply::data(CashbackView::from(item)).message("Cashback request retrieved successfully"))
}

/// Record a cashback request for one of the merchant's orders.
#[utoipa::path(post, path = "/api/merchant/cashback", tag = "cashback", security(("bearer" = [])), request_body = CreateBody,
    responses((status = 201, description = "Created request", body = crate::openapi::Envelope<CashbackView>),
        (status = 400, description = "Validation failed", body = crate::openapi::ErrorBody),
        (status = 404, description = "Order not found for this merchant", body = crate::openapi::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppJson(body): AppJson<CreateBody>,
) -> Result<Reply<CashbackView>, ApiError> {
    auth.require("orders:refund")?;
    let input = body.validate()?;
    let order = state
        .store
        .merchant_order(auth.id(), input.order_id)
        .await
        .map_err(ApiError::internal("Failed to create cashback request"))?
        .ok_or_else(|| ApiError::NotFound("Order not found".into()))?;
    let doc = types::new_request(&auth, input, order)?;
    state
        .store
        .insert_cashback(&doc)
        .await
        .map_err(ApiError::internal("Failed to create cashback request"))?;
    state.cashback_counts.invalidate(auth.id());
    let raised =
        NewNotification::cashback_request(doc.id, &doc.request_number, doc.requested_amount);
    notify_quietly(&state.store, auth.id(), raised).await;
    let change = AuditChange::action("cashback.created").resource("cashback", doc.id);
    Ok(Reply::data(CashbackView::from(doc))
        .message("Cashback request created successfully")
        .status(StatusCode::CREATED)
        .audit(change))
}
