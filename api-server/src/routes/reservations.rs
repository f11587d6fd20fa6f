//! Stock reservations: hold a product's units for a checkout or a quote
//! (`POST /products/{id}/inventory/reservations`), then commit them (sold, ledgered) or release
//! them; a hold nobody ends lapses at `expiresAt` and the sweeper gives its units back. Held
//! units leave `availableStock`, and adjustments cannot sell them.

use axum::{
    Extension, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{delete, get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::{
    Reply,
    cursor::{CursorParams, Paging},
    inventory::failed_write,
    params::int,
    products::{limited, not_found, product_id},
    stock::StockState,
};
use crate::{
    audit::AuditChange,
    error::ApiError,
    extract::{AppJson, AppQuery, AuthTenant, object_id},
    middleware::RequestId,
    ratelimit::Limit,
    state::AppState,
    store::{
        DateTime, ObjectId,
        json::{hex, iso_text},
        reservations::{Ending, Held, ReservationDoc, status},
    },
    validate::{Len, Validator},
};

/// Longest hold, in seconds (7 days).
const MAX_TTL_SECS: i64 = 7 * 24 * 3600;
/// Hold when `ttlSeconds` is not sent (15 minutes, a checkout).
const DEFAULT_TTL_SECS: i64 = 900;

/// Reservation routes under `/products`.
pub fn router(state: &AppState) -> Router<AppState> {
    let base = "/{id}/inventory/reservations";
    Router::new()
        .route(
            base,
            limited(state, Limit::ProductWrite, post(reserve)).merge(limited(
                state,
                Limit::ProductRead,
                get(list),
            )),
        )
        .route(
            &format!("{base}/{{reservation_id}}"),
            limited(state, Limit::ProductWrite, delete(release)),
        )
        .route(
            &format!("{base}/{{reservation_id}}/commit"),
            limited(state, Limit::ProductWrite, post(commit)),
        )
}

/// A new hold.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReserveBody {
    /// Units to hold, 1 or more.
    pub quantity: Option<i64>,
    /// Seconds the hold lasts unless committed or released, 1 to 604800 (default 900).
    pub ttl_seconds: Option<i64>,
    /// Your reference: a cart, a quote (up to 200 characters).
    pub reference: Option<String>,
}

/// A reservation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservationView {
    /// Id (24-hex).
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String)]
    pub id: ObjectId,
    /// Product id (24-hex).
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String)]
    pub product_id: ObjectId,
    /// Units held.
    pub quantity: i64,
    /// Your reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// active | committed | released | expired.
    pub status: String,
    /// When an active hold lapses (ISO 8601).
    #[serde(serialize_with = "iso_text")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime,
    /// Made (ISO 8601).
    #[serde(serialize_with = "iso_text")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime,
    /// Ended (ISO 8601), once not active.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<String>,
}

impl From<ReservationDoc> for ReservationView {
    fn from(r: ReservationDoc) -> Self {
        Self {
            id: r.id,
            product_id: r.product_id,
            quantity: r.quantity,
            reference: r.reference,
            status: r.status,
            expires_at: r.expires_at,
            created_at: r.created_at,
            ended_at: r.ended_at.map(crate::store::json::iso),
        }
    }
}

/// `data` of a reservation change: the reservation and the product's stock now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationOutcome {
    /// The reservation.
    pub reservation: ReservationView,
    /// The product's stock now (`availableStock` excludes held units).
    pub stock: StockState,
}

/// Hold units of a product.
#[utoipa::path(post, path = "/api/merchant/products/{id}/inventory/reservations", tag = "stock", security(("bearer" = [])), request_body = ReserveBody,
    params(("id" = String, Path, description = "Product id")),
    responses((status = 201, description = "Held: `data.reservation`, `data.stock`", body = crate::openapi::Envelope<ReservationOutcome>),
        (status = 400, description = "Validation failed", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product not found", body = crate::openapi::ErrorBody),
        (status = 409, description = "`INSUFFICIENT_STOCK`: fewer units available (`availableStock`)", body = crate::openapi::ErrorBody)))]
pub async fn reserve(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path(id): Path<String>,
    AppJson(body): AppJson<ReserveBody>,
) -> Result<Reply<ReservationOutcome>, ApiError> {
    auth.require("inventory:edit")?;
    let product = product_id(&id)?;
    let mut v = Validator::new();
    let quantity = match body.quantity {
        None => {
            v.error("quantity", "\"quantity\" is required", None);
            0
        }
        q => v.opt_int("quantity", q, 1, 1_000_000_000).unwrap_or(0),
    };
    let ttl = v
        .opt_int("ttlSeconds", body.ttl_seconds, 1, MAX_TTL_SECS)
        .unwrap_or(DEFAULT_TTL_SECS);
    let reference = v.opt_text("reference", body.reference, Len(0, 200));
    v.finish()?;
    let expires_at = DateTime::from_millis(DateTime::now().timestamp_millis() + ttl * 1000);
    let held = state
        .store
        .reserve(auth.id(), product, quantity, reference, expires_at)
        .await
        .map_err(|e| failed_write(e, "Failed to reserve stock"))?;
    let reply = outcome(held, not_found)?;
    let audit = AuditChange::action("inventory.reserved").resource("product", product);
    Ok(reply
        .message("Stock reserved successfully")
        .status(StatusCode::CREATED)
        .audit(audit))
}

/// Sell the held units: stock and hold drop together, with a ledger entry.
#[utoipa::path(post, path = "/api/merchant/products/{id}/inventory/reservations/{reservation_id}/commit", tag = "stock", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id"), ("reservation_id" = String, Path, description = "Reservation id")),
    responses((status = 200, description = "Committed", body = crate::openapi::Envelope<ReservationOutcome>),
        (status = 404, description = "Reservation not found", body = crate::openapi::ErrorBody),
        (status = 409, description = "`RESERVATION_NOT_ACTIVE` (already committed, released or expired; `status`), or `INSUFFICIENT_STOCK` when a stock edit took the held units", body = crate::openapi::ErrorBody)))]
pub async fn commit(
    state: State<AppState>,
    auth: AuthTenant,
    Path((id, reservation)): Path<(String, String)>,
    request_id: Option<Extension<RequestId>>,
) -> Result<Reply<ReservationOutcome>, ApiError> {
    let reply = end(
        &state,
        &auth,
        (&id, &reservation),
        Ending::Commit,
        request_id,
    )
    .await?;
    Ok(reply.message("Reservation committed"))
}

/// Give the held units back.
#[utoipa::path(delete, path = "/api/merchant/products/{id}/inventory/reservations/{reservation_id}", tag = "stock", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id"), ("reservation_id" = String, Path, description = "Reservation id")),
    responses((status = 200, description = "Released", body = crate::openapi::Envelope<ReservationOutcome>),
        (status = 404, description = "Reservation not found", body = crate::openapi::ErrorBody),
        (status = 409, description = "`RESERVATION_NOT_ACTIVE` (`status`)", body = crate::openapi::ErrorBody)))]
pub async fn release(
    state: State<AppState>,
    auth: AuthTenant,
    Path((id, reservation)): Path<(String, String)>,
) -> Result<Reply<ReservationOutcome>, ApiError> {
    let reply = end(&state, &auth, (&id, &reservation), Ending::Release, None).await?;
    Ok(reply.message("Reservation released"))
}

async fn end(
    state: &AppState,
    auth: &AuthTenant,
    (product, reservation): (&str, &str),
    ending: Ending,
    request_id: Option<Extension<RequestId>>,
) -> Result<Reply<ReservationOutcome>, ApiError> {
    auth.require("inventory:edit")?;
    let product = product_id(product)?;
    let reservation = object_id(reservation, "Invalid reservation ID format")?;
    let held = state
        .store
        .end_reservation(
            auth.id(),
            (product, reservation),
            ending,
            request_id.map(|Extension(r)| r.0),
        )
        .await
        .map_err(|e| failed_write(e, "Failed to end the reservation"))?;
    let action = match ending {
        Ending::Commit => "inventory.reservation_committed",
        _ => "inventory.reservation_released",
    };
    let reply = outcome(held, || ApiError::NotFound("Reservation not found".into()))?;
    Ok(reply.audit(AuditChange::action(action).resource("product", product)))
}

fn outcome(
    held: Held,
    missing: impl FnOnce() -> ApiError,
) -> Result<Reply<ReservationOutcome>, ApiError> {
    match held {
        Held::Done(reservation, product) => Ok(Reply::data(ReservationOutcome {
            stock: StockState::of(&product, product.inventory.stock),
            reservation: reservation.into(),
        })),
        Held::Insufficient(available) => {
            let mut extra = Map::new();
            extra.insert("availableStock".into(), Value::from(available));
            Err(ApiError::Protocol {
                status: StatusCode::CONFLICT,
                code: "INSUFFICIENT_STOCK",
                message: "Insufficient stock".into(),
                extra: Some(extra),
            })
        }
        Held::NotActive(r) => {
            let mut extra = Map::new();
            extra.insert("status".into(), Value::from(r.status));
            Err(ApiError::Protocol {
                status: StatusCode::CONFLICT,
                code: "RESERVATION_NOT_ACTIVE",
                message: "The reservation is no longer active".into(),
                extra: Some(extra),
            })
        }
        Held::NotFound => Err(missing()),
    }
}

/// Query of a reservation listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReservationQuery {
    /// active | committed | released | expired (default: all).
    pub status: Option<String>,
    /// Maximum items, 1..100 (default 50).
    pub limit: Option<String>,
}

/// A product's reservations, newest first: the first `limit`, or a cursor walk
/// (`data` stays an array, so `nextCursor` stands beside it).
#[utoipa::path(get, path = "/api/merchant/products/{id}/inventory/reservations", tag = "stock", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id"), ReservationQuery, CursorParams),
    responses((status = 200, description = "Reservations (cursor mode: a top-level `nextCursor` and a `Link` header)", body = crate::openapi::ListEnvelope<Vec<ReservationView>>),
        (status = 400, description = "Query validation failed (also a tampered, foreign or mismatched `cursor`)", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product not found", body = crate::openapi::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path(id): Path<String>,
    paging: Paging,
    AppQuery(q): AppQuery<ReservationQuery>,
) -> Result<Reply<Vec<ReservationView>>, ApiError> {
    auth.require("inventory:view")?;
    let product = product_id(&id)?;
    let mut v = Validator::new();
    let wanted = v.one_of("status", q.status, status::ALL);
    let limit = int(&mut v, "limit", q.limit, 1, 100, 50);
    // No pages and no total here: outside cursor mode this is the first window, never counted.
    let (window, _) = paging.window(&mut v, &state.auth.cursor, auth.id(), 1);
    v.finish_as("Query validation failed")?;
    let failed = || ApiError::internal("Failed to fetch reservations");
    state
        .store
        .product(auth.id(), product)
        .await
        .map_err(failed())?
        .ok_or_else(not_found)?;
    let listing = state
        .store
        .reservations_of(auth.id(), product, wanted, &window, limit, false)
        .await
        .map_err(failed())?;
    let more = paging.continuation(&state.auth.cursor, auth.id(), &listing);
    let items = listing.items.into_iter().map(ReservationView::from);
    Ok(Reply::data(items.collect()).continuation(more))
}
