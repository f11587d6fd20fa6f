//! Oversell-proof stock: `POST /products/{id}/inventory/adjustments` (and per variant) changes
//! stock by `delta` or to `setTo`, once per `Idempotency-Key` (mandatory here), in one
//! conditional update that never takes stock below zero without backorders and, with
//! `expectedStock`, only from that stock. Every change lands in the stock ledger, which the
//! `GET` of the same path lists; the audit trail and low-stock notifications follow it.

use axum::{
    Extension, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::get,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::{
    Reply,
    cursor::{CursorParams, Paging},
    params::page_limit,
    products::{limited, not_found, product_id, views::Pagination},
    stock::StockState,
};
use crate::{
    audit::AuditChange,
    error::ApiError,
    extract::{AppJson, AppQuery, AuthTenant},
    idempotency::{IDEMPOTENCY_KEY, key_required, key_reused, parse_key},
    middleware::RequestId,
    ratelimit::Limit,
    state::AppState,
    store::{
        ObjectId,
        json::{hex, iso_text},
        products::ProductDoc,
        stock_ledger::{
            Adjusted, Adjustment, RecordedChange, StockAdjustmentDoc, StockTarget, source,
        },
    },
    validate::{Len, Validator},
};

/// Largest change or stock accepted.
const MAX_UNITS: i64 = 1_000_000_000;

/// Inventory routes under `/products`.
pub fn router(state: &AppState) -> Router<AppState> {
    let adjustments = || {
        limited(state, Limit::ProductWrite, axum::routing::post(adjust)).merge(limited(
            state,
            Limit::ProductRead,
            get(ledger),
        ))
    };
    let variant_adjustments = || {
        limited(
            state,
            Limit::ProductWrite,
            axum::routing::post(adjust_variant),
        )
        .merge(limited(state, Limit::ProductRead, get(variant_ledger)))
    };
    Router::new()
        .route("/{id}/inventory/adjustments", adjustments())
        .route(
            "/{id}/variants/{variant_id}/inventory/adjustments",
            variant_adjustments(),
        )
}

/// A stock adjustment: exactly one of `delta` and `setTo`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdjustmentBody {
    /// Units to add (negative: remove), non-zero.
    pub delta: Option<i64>,
    /// The units on hand after the adjustment (a stock count), 0 or more.
    pub set_to: Option<i64>,
    /// Why: `restock`, `sale`, `damage`, `count`... (1 to 100 characters).
    pub reason: Option<String>,
    /// Your reference: a purchase order, a return, a count sheet (up to 200 characters).
    pub reference: Option<String>,
    /// Apply only while the stock is this (compare-and-set); 409 `STOCK_CHANGED` otherwise.
    pub expected_stock: Option<i64>,
}

/// The validated body.
struct Change {
    target: StockTarget,
    reason: String,
    reference: Option<String>,
    expected: Option<i64>,
}

impl AdjustmentBody {
    fn validate(self) -> Result<Change, ApiError> {
        let mut v = Validator::new();
        let target = match (self.delta, self.set_to) {
            (Some(_), Some(_)) => {
                v.error("setTo", "\"setTo\" cannot be sent with \"delta\"", None);
                StockTarget::Delta(0)
            }
            (None, None) => {
                v.error("delta", "\"delta\" or \"setTo\" is required", None);
                StockTarget::Delta(0)
            }
            (Some(0), None) => {
                v.error("delta", "\"delta\" must not be 0", Some(0.into()));
                StockTarget::Delta(0)
            }
            (Some(d), None) => StockTarget::Delta(
                v.opt_int("delta", Some(d), -MAX_UNITS, MAX_UNITS)
                    .unwrap_or(0),
            ),
            (None, Some(n)) => {
                StockTarget::SetTo(v.opt_int("setTo", Some(n), 0, MAX_UNITS).unwrap_or(0))
            }
        };
        let reason = v.text("reason", self.reason, Len(1, 100)).trim().to_owned();
        let reference = v.opt_text("reference", self.reference, Len(0, 200));
        let expected = v.opt_int("expectedStock", self.expected_stock, -MAX_UNITS, MAX_UNITS);
        v.finish()?;
        Ok(Change {
            target,
            reason,
            reference,
            expected,
        })
    }
}

/// A ledger entry.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdjustmentView {
    /// Id (24-hex).
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String)]
    pub id: ObjectId,
    /// Product id (24-hex).
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String)]
    pub product_id: ObjectId,
    /// The variant, for variant stock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant_id: Option<String>,
    /// The `Idempotency-Key` of an adjustment (`product_update:…` for a product update).
    pub operation_id: String,
    /// Units added (negative: removed).
    pub delta: i64,
    /// Units before.
    pub stock_before: i64,
    /// Units after.
    pub stock_after: i64,
    /// Why.
    pub reason: String,
    /// Your reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// adjustment | product_update | variant_update.
    pub source: String,
    /// The request that made it (`X-Request-Id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The team member who made it (absent: the owner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    /// When (ISO 8601).
    #[serde(serialize_with = "iso_text")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: crate::store::DateTime,
}

impl From<StockAdjustmentDoc> for AdjustmentView {
    fn from(d: StockAdjustmentDoc) -> Self {
        Self {
            id: d.id,
            product_id: d.product_id,
            variant_id: d.variant_id,
            operation_id: d.operation_id,
            delta: d.delta,
            stock_before: d.stock_before,
            stock_after: d.stock_after,
            reason: d.reason,
            reference: d.reference,
            source: d.source,
            request_id: d.request_id,
            member_id: d.member_id.map(|m| m.to_hex()),
            created_at: d.created_at,
        }
    }
}

/// `data` of an adjustment: the ledger entry and the stock now.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdjustmentOutcome {
    /// The ledger entry.
    pub adjustment: AdjustmentView,
    /// The product's (or variant's) stock now.
    pub stock: StockState,
}

/// Change a product's stock once per `Idempotency-Key`.
#[utoipa::path(post, path = "/api/merchant/products/{id}/inventory/adjustments", tag = "stock", security(("bearer" = [])), request_body = AdjustmentBody,
    params(("id" = String, Path, description = "Product id"),
        ("Idempotency-Key" = String, Header, description = "Required: the operation id (a UUID); a retry with it changes nothing")),
    responses((status = 201, description = "Adjusted: `data.adjustment` (the ledger entry), `data.stock`", body = crate::openapi::Envelope<AdjustmentOutcome>),
        (status = 200, description = "This operation was applied before (`Idempotent-Replayed: true`)", body = crate::openapi::Envelope<AdjustmentOutcome>),
        (status = 400, description = "Validation failed, or `Idempotency-Key` missing (`IDEMPOTENCY_KEY_REQUIRED`)", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product not found", body = crate::openapi::ErrorBody),
        (status = 409, description = "`INSUFFICIENT_STOCK`, or `STOCK_CHANGED` when `expectedStock` is not the stock (`currentStock`)", body = crate::openapi::ErrorBody),
        (status = 422, description = "The key was used for another operation (`IDEMPOTENCY_KEY_REUSED`)", body = crate::openapi::ErrorBody)))]
pub async fn adjust(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path(id): Path<String>,
    headers: HeaderMap,
    request_id: Option<Extension<RequestId>>,
    AppJson(body): AppJson<AdjustmentBody>,
) -> Result<Reply<AdjustmentOutcome>, ApiError> {
    let target = Target {
        product: product_id(&id)?,
        variant: None,
    };
    run(&state, &auth, target, &headers, request_id, body).await
}

/// Like the product adjustment, for one variant's stock.
#[utoipa::path(post, path = "/api/merchant/products/{id}/variants/{variant_id}/inventory/adjustments", tag = "stock", security(("bearer" = [])), request_body = AdjustmentBody,
    params(("id" = String, Path, description = "Product id"), ("variant_id" = String, Path, description = "Variant id"),
        ("Idempotency-Key" = String, Header, description = "Required: the operation id (a UUID); a retry with it changes nothing")),
    responses((status = 201, description = "Adjusted", body = crate::openapi::Envelope<AdjustmentOutcome>),
        (status = 200, description = "This operation was applied before (`Idempotent-Replayed: true`)", body = crate::openapi::Envelope<AdjustmentOutcome>),
        (status = 400, description = "Validation failed, or `Idempotency-Key` missing", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product or variant not found", body = crate::openapi::ErrorBody),
        (status = 409, description = "`INSUFFICIENT_STOCK` or `STOCK_CHANGED`", body = crate::openapi::ErrorBody),
        (status = 422, description = "The key was used for another operation", body = crate::openapi::ErrorBody)))]
pub async fn adjust_variant(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path((id, variant)): Path<(String, String)>,
    headers: HeaderMap,
    request_id: Option<Extension<RequestId>>,
    AppJson(body): AppJson<AdjustmentBody>,
) -> Result<Reply<AdjustmentOutcome>, ApiError> {
    let target = Target {
        product: product_id(&id)?,
        variant: Some(variant),
    };
    run(&state, &auth, target, &headers, request_id, body).await
}

/// The audit record's before and after of an adjustment.
#[derive(Serialize)]
struct StockSummary {
    stock: i64,
}

/// The audit record's facts of an adjustment.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdjustmentFacts<'a> {
    variant_id: Option<&'a str>,
    operation_id: &'a str,
    delta: i64,
    reason: &'a str,
    reference: Option<&'a str>,
}

impl<'a> AdjustmentFacts<'a> {
    fn of(e: &'a StockAdjustmentDoc) -> Self {
        Self {
            variant_id: e.variant_id.as_deref(),
            operation_id: &e.operation_id,
            delta: e.delta,
            reason: &e.reason,
            reference: e.reference.as_deref(),
        }
    }
}

/// The stock an adjustment changes.
struct Target {
    product: ObjectId,
    variant: Option<String>,
}

impl Target {
    fn not_found(&self) -> ApiError {
        match self.variant {
            Some(_) => ApiError::NotFound("Product or variant not found".into()),
            None => not_found(),
        }
    }

    fn state(&self, p: &ProductDoc) -> StockState {
        match &self.variant {
            None => StockState::of(p, p.inventory.stock),
            Some(v) => StockState {
                variant_id: Some(v.clone()),
                ..StockState::of_variant(p, p.variant_stock(v).unwrap_or_default())
            },
        }
    }
}

async fn run(
    state: &AppState,
    auth: &AuthTenant,
    target: Target,
    headers: &HeaderMap,
    request_id: Option<Extension<RequestId>>,
    body: AdjustmentBody,
) -> Result<Reply<AdjustmentOutcome>, ApiError> {
    auth.require("inventory:edit")?;
    let operation_id = match headers.get(IDEMPOTENCY_KEY) {
        Some(raw) => parse_key(raw)?,
        None => return Err(key_required()),
    };
    let change = body.validate()?;
    let adjustment = Adjustment {
        merchant: auth.id(),
        product: target.product,
        variant: target.variant.clone(),
        operation_id,
        target: change.target,
        expected: change.expected,
        reason: change.reason,
        reference: change.reference,
        request_id: request_id.map(|Extension(r)| r.0),
        member: auth.identity.member,
    };
    let failed = |e| failed_write(e, "Failed to adjust stock");
    let store = &state.store;
    let adjusted = match store.adjustment_settled(&adjustment).await {
        Ok(Some(settled)) => Ok(settled),
        Ok(None) => {
            let turn = state.stock_lanes.enter(target.product).await;
            let adjusted = store.adjust_stock_once(&adjustment).await;
            drop(turn);
            adjusted
        }
        Err(e) => Err(e),
    };
    match adjusted.map_err(failed)? {
        Adjusted::Applied(product, entry) => {
            let variant = target.variant.as_deref();
            let mv = product
                .stock_line(entry.stock_before)
                .moved_to(entry.stock_after);
            crate::notifications::stock_changed(&state.store, &product, variant, mv).await;
            tracing::info!(merchant = %auth.id(), product = %product.id, delta = entry.delta, reason = %entry.reason, "stock.adjusted");
            let audit = AuditChange::action("inventory.adjusted")
                .resource("product", product.id)
                .diff(
                    StockSummary {
                        stock: entry.stock_before,
                    },
                    StockSummary {
                        stock: entry.stock_after,
                    },
                )
                .facts(&AdjustmentFacts::of(&entry));
            let stock = target.state(&product);
            Ok(Reply::data(AdjustmentOutcome {
                adjustment: entry.into(),
                stock,
            })
            .message("Stock adjusted successfully")
            .status(StatusCode::CREATED)
            .audit(audit))
        }
        Adjusted::Repeated(entry) => repeated(state, &adjustment, &target, entry).await,
        Adjusted::Insufficient(current) => Err(stock_conflict(
            "INSUFFICIENT_STOCK",
            "Insufficient stock",
            current,
        )),
        Adjusted::Changed(current) => Err(stock_conflict(
            "STOCK_CHANGED",
            "The stock is no longer the expected stock",
            current,
        )),
        Adjusted::NotFound => Err(target.not_found()),
    }
}

/// A failed stock write: 503 on a server without transactions (stock changes need them), else
/// the usual 500.
pub(crate) fn failed_write(e: crate::store::Error, message: &'static str) -> ApiError {
    if crate::store::error::transactions_unsupported(&e) {
        tracing::error!(error = %e, "stock changes need MongoDB transactions (a replica set)");
        return ApiError::Unavailable(
            "Stock changes need MongoDB transactions: run MongoDB as a replica set".into(),
        );
    }
    ApiError::internal(message)(e)
}

/// The operation id was applied before (its `Idempotency-Key` record expired): the recorded
/// entry and the stock now, when it was the same operation; 422 when the key named another.
async fn repeated(
    state: &AppState,
    a: &Adjustment,
    target: &Target,
    entry: StockAdjustmentDoc,
) -> Result<Reply<AdjustmentOutcome>, ApiError> {
    let same_target = match a.target {
        StockTarget::Delta(d) => entry.delta == d,
        StockTarget::SetTo(n) => entry.stock_after == n,
    };
    if entry.product_id != a.product || entry.variant_id != a.variant || !same_target {
        return Err(key_reused());
    }
    let product = state
        .store
        .product(a.merchant, a.product)
        .await
        .map_err(ApiError::internal("Failed to adjust stock"))?
        .ok_or_else(|| target.not_found())?;
    Ok(Reply::data(AdjustmentOutcome {
        stock: target.state(&product),
        adjustment: entry.into(),
    })
    .message("Stock adjustment already applied")
    .replayed())
}

fn stock_conflict(code: &'static str, message: &str, current: i64) -> ApiError {
    let mut extra = Map::new();
    extra.insert("currentStock".into(), Value::from(current));
    ApiError::Protocol {
        status: StatusCode::CONFLICT,
        code,
        message: message.into(),
        extra: Some(extra),
    }
}

/// Put the stock change a product or variant update made (`PUT`) in the ledger, so the ledger
/// holds every stock change this service makes.
pub(crate) async fn record_update(
    state: &AppState,
    auth: &AuthTenant,
    request_id: Option<Extension<RequestId>>,
    change: (&ProductDoc, Option<&str>),
    stocks: (i64, i64),
) {
    let (product, variant) = change;
    let (before, after) = stocks;
    let recorded = RecordedChange {
        product,
        variant,
        before,
        after,
        source: match variant {
            Some(_) => source::VARIANT_UPDATE,
            None => source::PRODUCT_UPDATE,
        },
        request_id: request_id.map(|Extension(r)| r.0),
        member: auth.identity.member,
    };
    state.store.record_stock_change(recorded).await;
}

/// Query of a ledger listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// 1-based page (default 1).
    pub page: Option<String>,
    /// Entries per page, 1..100 (default 20).
    pub limit: Option<String>,
}

/// `data` of a ledger listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ledger {
    /// Entries, newest first.
    pub adjustments: Vec<AdjustmentView>,
    /// Position among all entries.
    pub pagination: Pagination,
    /// Cursor mode only: the cursor of the next window, `null` at the end of the ledger.
    #[serde(rename = "nextCursor", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<Option<String>>,
}

/// A product's stock ledger (its variants' entries too), newest first (pages, or a cursor
/// walk).
#[utoipa::path(get, path = "/api/merchant/products/{id}/inventory/adjustments", tag = "stock", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id"), LedgerQuery, CursorParams),
    responses((status = 200, description = "Ledger entries (cursor mode: `data.nextCursor` and a `Link` header; no `page`)", body = crate::openapi::Envelope<Ledger>),
        (status = 400, description = "Query validation failed (also a tampered, foreign or mismatched `cursor`)", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product not found", body = crate::openapi::ErrorBody)))]
pub async fn ledger(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path(id): Path<String>,
    paging: Paging,
    AppQuery(q): AppQuery<LedgerQuery>,
) -> Result<Reply<Ledger>, ApiError> {
    let target = Target {
        product: product_id(&id)?,
        variant: None,
    };
    list(&state, &auth, target, &paging, q).await
}

/// One variant's stock ledger, newest first (pages, or a cursor walk).
#[utoipa::path(get, path = "/api/merchant/products/{id}/variants/{variant_id}/inventory/adjustments", tag = "stock", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id"), ("variant_id" = String, Path, description = "Variant id"), LedgerQuery, CursorParams),
    responses((status = 200, description = "Ledger entries (cursor mode: `data.nextCursor` and a `Link` header; no `page`)", body = crate::openapi::Envelope<Ledger>),
        (status = 400, description = "Query validation failed (also a tampered, foreign or mismatched `cursor`)", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product or variant not found", body = crate::openapi::ErrorBody)))]
pub async fn variant_ledger(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path((id, variant)): Path<(String, String)>,
    paging: Paging,
    AppQuery(q): AppQuery<LedgerQuery>,
) -> Result<Reply<Ledger>, ApiError> {
    let target = Target {
        product: product_id(&id)?,
        variant: Some(variant),
    };
    list(&state, &auth, target, &paging, q).await
}

async fn list(
    state: &AppState,
    auth: &AuthTenant,
    target: Target,
    paging: &Paging,
    q: LedgerQuery,
) -> Result<Reply<Ledger>, ApiError> {
    auth.require("inventory:view")?;
    let mut v = Validator::new();
    let (page, limit) = page_limit(&mut v, q.page, q.limit, 20);
    let (window, count) = paging.window(&mut v, &state.auth.cursor, auth.id(), page);
    v.finish_as("Query validation failed")?;
    let failed = || ApiError::internal("Failed to fetch stock adjustments");
    let product = state
        .store
        .product(auth.id(), target.product)
        .await
        .map_err(failed())?;
    let known = product.is_some_and(|p| {
        target
            .variant
            .as_deref()
            .is_none_or(|v| p.variant_stock(v).is_some())
    });
    if !known {
        return Err(target.not_found());
    }
    let listing = state
        .store
        .stock_adjustments(
            auth.id(),
            target.product,
            target.variant.as_deref(),
            &window,
            limit,
            count,
        )
        .await
        .map_err(failed())?;
    let more = paging.continuation(&state.auth.cursor, auth.id(), &listing);
    Ok(Reply::data(Ledger {
        pagination: Pagination::of(&window, limit as u64, &listing),
        adjustments: listing
            .items
            .into_iter()
            .map(AdjustmentView::from)
            .collect(),
        next_cursor: more.next_cursor,
    })
    .link(more.link))
}
