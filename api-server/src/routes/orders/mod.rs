//! `/api/merchant/orders` (contract §2.7): list, analytics, get, status changes, bulk actions
//! and refunds. Orders are the consumer app's; a merchant sees those with a line in one of its
//! stores, and only moves them forward along `domain::order`'s transition table.

pub mod body;
pub mod views;

use std::collections::HashMap;

use self::{
    body::{AnalyticsQuery, BulkBody, OrderListQuery, RefundBody, StatusBody, order_id},
    views::{BulkFailure, BulkOrderResult, BulkSummary, Order, OrderList, OrderView, Orders},
};
use super::{
    Reply,
    cursor::{CursorParams, Paging, Standing},
    params::{StrictQuery, date as date_param, error_meta},
    products::types::int_param,
};
use crate::{
    domain::order::{ORDER_STATUSES, PAYMENT_STATUSES, bulk_action_status, next_statuses},
    error::ApiError,
    extract::{AppJson, AuthMerchant},
    notifications::{NewNotification, notify_quietly},
    state::AppState,
    store::{
        DateTime, ObjectId,
        keyset::Sort,
        order_updates::{Refund, RefundRequest, StatusChange, Transition},
        orders::{OrderDoc, OrderFilter, OrderPage, OrderScope},
    },
    validate::{Len, Validator},
};
use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderValue, header},
    middleware::from_fn,
    response::{IntoResponse, Response},
    routing::{get, post, put},
};

pub mod analytics;

/// Order routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list))
        .route("/analytics", get(analytics::analytics))
        .route("/bulk-action", post(bulk_action))
        .route("/{id}", get(show))
        .route("/{id}/status", put(update_status))
        .route("/{id}/refund", post(refund))
        .layer(from_fn(error_meta))
}

fn not_found() -> ApiError {
    ApiError::NotFound("Order not found".into())
}

/// The merchant's order scope, narrowed to `store_id` when given (400 unless owned).
pub(crate) async fn scope(
    state: &AppState,
    auth: &AuthMerchant,
    store_id: Option<ObjectId>,
) -> Result<OrderScope, ApiError> {
    state
        .store
        .order_scope(auth.id(), store_id)
        .await
        .map_err(ApiError::internal("Failed to load stores"))?
        .ok_or_else(|| {
            ApiError::field(
                "Query validation failed",
                "storeId",
                "Store not found or not owned by this merchant",
            )
        })
}

/// Validate an optional `storeId` query value.
pub(crate) fn store_param(v: &mut Validator, raw: Option<String>) -> Option<ObjectId> {
    v.opt_parse("storeId", raw, |s| {
        ObjectId::parse_str(s).map_err(|_| "must be a valid id")
    })
}

fn list_input(q: OrderListQuery, v: &mut Validator) -> (OrderFilter, OrderPage, Option<ObjectId>) {
    let start = date_param(v, "startDate", q.start_date, false);
    let end = date_param(v, "endDate", q.end_date, true);
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        v.error(
            "endDate",
            "\"endDate\" must be greater than or equal to \"startDate\"",
            None,
        );
    }
    let filter = OrderFilter {
        status: v.one_of("status", q.status, &ORDER_STATUSES),
        payment_status: v.one_of("paymentStatus", q.payment_status, &PAYMENT_STATUSES),
        start,
        end,
        search: v.opt_text("search", q.search, Len(0, 100)),
    };
    // Orders are written by the consumer app too: only `createdAt` is taken as always there.
    let (sort_field, nullable) = match v.one_of(
        "sortBy",
        q.sort_by,
        &["createdAt", "total", "status", "orderNumber"],
    ) {
        Some("total") => ("totals.total", true),
        Some("status") => ("status", true),
        Some("orderNumber") => ("orderNumber", true),
        _ => ("createdAt", false),
    };
    let direction = if v.one_of("order", q.order, &["asc", "desc"]) == Some("asc") {
        1
    } else {
        -1
    };
    let sort = Sort::new(sort_field, direction);
    let page = OrderPage {
        sort: if nullable { sort.nullable() } else { sort },
        page: int_param(v, "page", q.page, 1, 1_000_000, 1) as u64,
        limit: int_param(v, "limit", q.limit, 1, 100, 20),
    };
    (filter, page, store_param(v, q.store_id))
}

/// Orders with their customers (one `users` read for the page), each as the merchant sees it
/// (on a shared order: its own lines at its part's status).
async fn render(
    state: &AppState,
    scope: &OrderScope,
    orders: &[OrderDoc],
) -> Result<Orders, ApiError> {
    let orders: Vec<OrderDoc> = orders.iter().map(|o| scope.view(o)).collect();
    let mut ids: Vec<ObjectId> = orders.iter().map(|o| o.user).collect();
    ids.sort();
    ids.dedup();
    let customers: HashMap<ObjectId, _> = state
        .store
        .customers(ids)
        .await
        .map_err(ApiError::internal("Failed to fetch orders"))?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    Ok(Orders { orders, customers })
}

/// The one order of a single-order reply, rendered.
async fn render_one(
    state: &AppState,
    scope: &OrderScope,
    order: &OrderDoc,
) -> Result<Order, ApiError> {
    render(state, scope, std::slice::from_ref(order))
        .await?
        .into_first()
        .ok_or_else(not_found)
}

/// List the merchant's orders with filters, search and pagination.
#[utoipa::path(get, path = "/api/merchant/orders", tag = "orders", security(("bearer" = [])), params(OrderListQuery, CursorParams),
    responses((status = 200, description = "`{orders, totalCount, total, page, limit, totalPages, hasMore}` (cursor mode: `nextCursor` and a `Link` header; no `page`)", body = crate::openapi::Envelope<OrderList>),
        (status = 400, description = "Query validation failed (also for unknown keys, and a tampered, foreign or mismatched `cursor`)", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing orders:view", body = crate::openapi::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthMerchant,
    paging: Paging,
    StrictQuery(q): StrictQuery<OrderListQuery>,
) -> Result<Reply<OrderList>, ApiError> {
    auth.require("orders:view")?;
    let mut v = Validator::new();
    let (filter, page, store) = list_input(q, &mut v);
    let (window, count) = paging.window(&mut v, &state.auth.cursor, auth.id(), page.page);
    v.finish_as("Query validation failed")?;
    let scope = scope(&state, &auth, store).await?;
    let listing = state
        .store
        .list_orders(&scope, &filter, &page, &window, count)
        .await
        .map_err(ApiError::internal("Failed to fetch orders"))?;
    let more = paging.continuation(&state.auth.cursor, auth.id(), &listing);
    let at = Standing::of(&window, page.limit as u64, &listing);
    Ok(Reply::data(OrderList {
        orders: render(&state, &scope, &listing.items).await?,
        total_count: at.total,
        total: at.total,
        page: at.page,
        limit: page.limit,
        total_pages: at.pages,
        has_more: at.has_next,
        next_cursor: more.next_cursor,
    })
    .message("Orders retrieved successfully")
    .link(more.link))
}

/// One order of the merchant.
#[utoipa::path(get, path = "/api/merchant/orders/{id}", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path, description = "Order id")),
    responses((status = 200, description = "The order", body = crate::openapi::Envelope<OrderView>),
        (status = 404, description = "Order not found", body = crate::openapi::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(id): Path<String>,
) -> Result<Reply<Order>, ApiError> {
    auth.require("orders:view")?;
    let id = order_id(&id)?;
    let scope = scope(&state, &auth, None).await?;
    let order = state
        .store
        .order(&scope, id)
        .await
        .map_err(ApiError::internal("Failed to fetch order"))?
        .ok_or_else(not_found)?;
    Ok(Reply::data(render_one(&state, &scope, &order).await?)
        .message("Order retrieved successfully"))
}

fn illegal(from: &str, to: &str) -> ApiError {
    let allowed = next_statuses(from);
    let allowed = if allowed.is_empty() {
        "none".to_string()
    } else {
        allowed.join(", ")
    };
    ApiError::field(
        "Invalid status transition",
        "status",
        format!("Cannot change order status from {from} to {to} (allowed: {allowed})"),
    )
}

/// Apply one status change and raise the cancellation notification.
async fn change_status(
    state: &AppState,
    scope: &OrderScope,
    id: ObjectId,
    change: &StatusChange,
) -> Result<OrderDoc, ApiError> {
    let outcome = state
        .store
        .transition_order(scope, id, change)
        .await
        .map_err(ApiError::internal("Failed to update order status"))?;
    match outcome {
        Transition::Applied(order) => {
            // Cached reports are dropped by `middleware::invalidate_analytics`.
            tracing::info!(order = %id, to = change.to, "order.status_changed");
            if change.to == "cancelled" {
                let n = NewNotification::order_cancelled(&order, change.note.as_deref());
                notify_quietly(&state.store, scope.merchant, n).await;
            }
            Ok(*order)
        }
        Transition::Illegal { from } => Err(illegal(&from, change.to)),
        Transition::NotFound => Err(not_found()),
    }
}

fn actor(auth: &AuthMerchant) -> ObjectId {
    auth.member.as_ref().map_or(auth.id(), |m| m.id)
}

/// Move an order along the transition table; cancelling gives its stock back (once).
#[utoipa::path(put, path = "/api/merchant/orders/{id}/status", tag = "orders", security(("bearer" = [])), request_body = StatusBody,
    params(("id" = String, Path, description = "Order id")),
    responses((status = 200, description = "The updated order", body = crate::openapi::Envelope<OrderView>),
        (status = 400, description = "Validation failed or illegal transition (naming from and to)", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing orders:update_status (orders:cancel to cancel)", body = crate::openapi::ErrorBody),
        (status = 404, description = "Order not found", body = crate::openapi::ErrorBody)))]
pub async fn update_status(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(id): Path<String>,
    AppJson(body): AppJson<StatusBody>,
) -> Result<Reply<Order>, ApiError> {
    let id = order_id(&id)?;
    let (to, note) = body.validate()?;
    auth.require(if to == "cancelled" {
        "orders:cancel"
    } else {
        "orders:update_status"
    })?;
    let scope = scope(&state, &auth, None).await?;
    let change = StatusChange {
        to,
        note,
        actor: actor(&auth),
        tracking: None,
    };
    let order = change_status(&state, &scope, id, &change).await?;
    Ok(Reply::data(render_one(&state, &scope, &order).await?)
        .message("Order status updated successfully"))
}

/// Apply `change` to each order in turn: the ids changed and the orders not changed with why
/// (only an internal error stops the run).
async fn change_each(
    state: &AppState,
    scope: &OrderScope,
    ids: &[ObjectId],
    change: &StatusChange,
) -> Result<(Vec<String>, Vec<BulkFailure>), ApiError> {
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for id in ids {
        let message = match change_status(state, scope, *id, change).await {
            Ok(_) => {
                ok.push(id.to_hex());
                continue;
            }
            Err(e @ ApiError::Internal { .. }) => return Err(e),
            Err(ApiError::Validation { errors, .. }) => errors.first().map(|e| e.message.clone()),
            Err(e) => Some(e.to_string()),
        };
        failed.push(BulkFailure {
            order_id: id.to_hex(),
            message,
        });
    }
    Ok((ok, failed))
}

/// Apply one action to up to 50 orders; each order succeeds or fails on its own.
#[utoipa::path(post, path = "/api/merchant/orders/bulk-action", tag = "orders", security(("bearer" = [])), request_body = BulkBody,
    responses((status = 200, description = "`{action, successful[], failed[{orderId, message}], summary}`", body = crate::openapi::Envelope<BulkOrderResult>),
        (status = 400, description = "Validation failed", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing orders:update_status (orders:cancel to cancel)", body = crate::openapi::ErrorBody)))]
pub async fn bulk_action(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppJson(body): AppJson<BulkBody>,
) -> Result<Reply<BulkOrderResult>, ApiError> {
    let bulk = body.validate()?;
    auth.require(if bulk.action == "cancel" {
        "orders:cancel"
    } else {
        "orders:update_status"
    })?;
    let scope = scope(&state, &auth, None).await?;
    let change = StatusChange {
        to: bulk_action_status(bulk.action).unwrap_or("confirmed"),
        note: bulk.reason.clone(),
        actor: actor(&auth),
        tracking: bulk.tracking.clone(),
    };
    let (ok, failed) = change_each(&state, &scope, &bulk.ids, &change).await?;
    let message = format!(
        "Bulk action completed: {} succeeded, {} failed",
        ok.len(),
        failed.len()
    );
    let summary = BulkSummary {
        total: bulk.ids.len(),
        succeeded: ok.len(),
        failed: failed.len(),
    };
    Ok(Reply::data(BulkOrderResult {
        action: bulk.action,
        successful: ok,
        failed,
        summary,
    })
    .message(message))
}

/// Refund part or all of what was paid; records `totals.refundAmount` and the payment status.
#[utoipa::path(post, path = "/api/merchant/orders/{id}/refund", tag = "orders", security(("bearer" = [])), request_body = RefundBody,
    params(("id" = String, Path, description = "Order id")),
    responses((status = 200, description = "The refunded order", body = crate::openapi::Envelope<OrderView>),
        (status = 400, description = "Validation failed, payment not refundable or amount above what was paid", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing orders:refund", body = crate::openapi::ErrorBody),
        (status = 404, description = "Order not found", body = crate::openapi::ErrorBody)))]
pub async fn refund(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(id): Path<String>,
    AppJson(body): AppJson<RefundBody>,
) -> Result<Reply<Order>, ApiError> {
    let id = order_id(&id)?;
    let (amount, reason, items) = body.validate()?;
    auth.require("orders:refund")?;
    let scope = scope(&state, &auth, None).await?;
    let request = RefundRequest {
        amount,
        reason,
        items,
        by: actor(&auth),
        merchant: scope.merchant,
    };
    let outcome = state
        .store
        .refund_order(&scope, id, &request)
        .await
        .map_err(ApiError::internal("Failed to process refund"))?;
    let order = match outcome {
        Refund::Applied(o) => *o,
        Refund::NotFound => return Err(not_found()),
        Refund::NotRefundable { payment_status } => {
            return Err(ApiError::BadRequest(format!(
                "Order payment is {payment_status}; only paid orders can be refunded"
            )));
        }
        Refund::ExceedsPaid { refundable } => {
            return Err(ApiError::field(
                "Validation failed",
                "amount",
                format!("\"amount\" exceeds the refundable amount ({refundable:.2})"),
            ));
        }
    };
    tracing::info!(order = %id, amount, "order.refunded");
    Ok(Reply::data(render_one(&state, &scope, &order).await?)
        .message("Refund processed successfully"))
}

/// Attach `Cache-Control` to a reply.
pub(crate) fn cached<T: serde::Serialize>(reply: Reply<T>, value: &'static str) -> Response {
    let mut response = reply.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    response
}

/// Now, for default date ranges.
pub(crate) fn now() -> DateTime {
    DateTime::now()
}
