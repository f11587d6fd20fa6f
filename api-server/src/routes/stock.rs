//! Stock: atomic adjustments per product and per variant (`POST …/stock`) and the low-stock
//! listing (`GET /products/low-stock`, also at the contract's `/dashboard/low-stock`).

use axum::{
    Router,
    extract::{Path, State},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    Reply,
    products::{limited, not_found, product_id, types::int_param},
};
use crate::{
    error::ApiError,
    extract::{AppJson, AppQuery, AuthTenant},
    ratelimit::Limit,
    state::AppState,
    store::{products::ProductDoc, stock::StockChange},
    validate::Validator,
};

/// Stock routes under `/products`.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/low-stock",
            limited(state, Limit::ProductRead, get(low_stock)),
        )
        .route(
            "/{id}/stock",
            limited(state, Limit::ProductWrite, post(adjust)),
        )
        .route(
            "/{id}/variants/{variant_id}/stock",
            limited(state, Limit::ProductWrite, post(adjust_variant)),
        )
}

/// The contract's dashboard alias of the low-stock listing.
pub fn dashboard_router() -> Router<AppState> {
    Router::new().route("/dashboard/low-stock", get(dashboard_low_stock))
}

/// A stock adjustment.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AdjustBody {
    /// Signed change in units (negative sells or writes off), non-zero.
    #[serde(alias = "adjustment")]
    pub quantity: Option<i64>,
    /// Why (logged).
    pub reason: Option<String>,
}

impl AdjustBody {
    fn delta(self) -> Result<i64, ApiError> {
        let mut v = Validator::new();
        let delta = match self.quantity {
            None => {
                v.error("quantity", "\"quantity\" is required", None);
                0
            }
            Some(0) => {
                v.error("quantity", "\"quantity\" must not be 0", Some(0.into()));
                0
            }
            Some(q) => v
                .opt_int("quantity", Some(q), -1_000_000_000, 1_000_000_000)
                .unwrap_or(0),
        };
        v.finish()?;
        Ok(delta)
    }
}

fn insufficient() -> ApiError {
    ApiError::Conflict {
        message: "Insufficient stock".into(),
        extra: None,
    }
}

/// `data` of a stock adjustment: the units now on the product (or variant) and what they mean.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockState {
    /// Product id (24-hex).
    pub product_id: String,
    /// Units now on hand.
    pub stock: i64,
    /// Units on hand less those reserved (a variant's: its stock).
    pub available_stock: i64,
    /// The product's low-stock threshold.
    pub low_stock_threshold: i64,
    /// Selling below zero is allowed.
    pub allow_backorder: bool,
    /// In stock at or below the threshold.
    pub is_low_stock: bool,
    /// No stock left (never for unlimited products).
    pub is_out_of_stock: bool,
    /// The variant adjusted (variant adjustments only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant_id: Option<String>,
}

impl StockState {
    /// The product's own stock state, `stock` units on hand.
    pub(crate) fn of(p: &ProductDoc, stock: i64) -> Self {
        Self {
            available_stock: stock - p.inventory.reserved_stock,
            ..Self::of_variant(p, stock)
        }
    }

    /// The state of a variant of `p` holding `stock` units (the product's threshold and
    /// backorder setting apply).
    pub(crate) fn of_variant(p: &ProductDoc, stock: i64) -> Self {
        let inv = &p.inventory;
        Self {
            product_id: p.id.to_hex(),
            stock,
            available_stock: stock,
            low_stock_threshold: inv.low_stock_threshold,
            allow_backorder: inv.allow_backorder,
            is_low_stock: !inv.unlimited && stock > 0 && stock <= inv.low_stock_threshold,
            is_out_of_stock: !inv.unlimited && stock <= 0,
            variant_id: None,
        }
    }
}

/// Add or remove units atomically; a decrement never takes stock below zero unless the
/// product allows backorders (409 `Insufficient stock`).
#[utoipa::path(post, path = "/api/merchant/products/{id}/stock", tag = "stock", security(("bearer" = [])), request_body = AdjustBody,
    params(("id" = String, Path, description = "Product id")),
    responses((status = 200, description = "Adjusted", body = crate::openapi::Envelope<StockState>),
        (status = 400, description = "Validation failed", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product not found", body = crate::openapi::ErrorBody),
        (status = 409, description = "Insufficient stock", body = crate::openapi::ErrorBody)))]
pub async fn adjust(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path(id): Path<String>,
    AppJson(body): AppJson<AdjustBody>,
) -> Result<Reply<StockState>, ApiError> {
    auth.require("inventory:edit")?;
    let id = product_id(&id)?;
    let reason = body.reason.clone();
    let delta = body.delta()?;
    let change = state
        .store
        .adjust_stock(auth.id(), id, delta)
        .await
        .map_err(ApiError::internal("Failed to adjust stock"))?;
    match change {
        StockChange::Applied(p) => {
            tracing::info!(merchant = %auth.id(), product = %id, delta, reason = reason.as_deref().unwrap_or(""), "stock.adjusted");
            // `$inc` returned the document it wrote: the stock it replaced is `after - delta`.
            let mv = p
                .stock_line(p.inventory.stock - delta)
                .moved_to(p.inventory.stock);
            crate::notifications::stock_changed(&state.store, &p, None, mv).await;
            Ok(Reply::data(StockState::of(&p, p.inventory.stock))
                .message("Stock adjusted successfully"))
        }
        StockChange::Insufficient => Err(insufficient()),
        StockChange::NotFound => Err(not_found()),
    }
}

/// Like the product adjustment, for one variant.
#[utoipa::path(post, path = "/api/merchant/products/{id}/variants/{variant_id}/stock", tag = "stock", security(("bearer" = [])), request_body = AdjustBody,
    params(("id" = String, Path, description = "Product id"), ("variant_id" = String, Path, description = "Variant id")),
    responses((status = 200, description = "Adjusted", body = crate::openapi::Envelope<StockState>),
        (status = 400, description = "Validation failed", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product or variant not found", body = crate::openapi::ErrorBody),
        (status = 409, description = "Insufficient stock", body = crate::openapi::ErrorBody)))]
pub async fn adjust_variant(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path((id, vid)): Path<(String, String)>,
    AppJson(body): AppJson<AdjustBody>,
) -> Result<Reply<StockState>, ApiError> {
    auth.require("inventory:edit")?;
    let id = product_id(&id)?;
    let delta = body.delta()?;
    let change = state
        .store
        .adjust_variant_stock(auth.id(), id, &vid, delta)
        .await
        .map_err(ApiError::internal("Failed to adjust stock"))?;
    match change {
        StockChange::Applied(p) => {
            let stock = p
                .inventory
                .variants
                .iter()
                .find(|v| v.variant_id == vid)
                .map_or(0, |v| v.stock);
            let mv = p.stock_line(stock - delta).moved_to(stock);
            crate::notifications::stock_changed(&state.store, &p, Some(&vid), mv).await;
            let body = StockState {
                variant_id: Some(vid),
                ..StockState::of_variant(&p, stock)
            };
            Ok(Reply::data(body).message("Stock adjusted successfully"))
        }
        StockChange::Insufficient => Err(insufficient()),
        StockChange::NotFound => Err(ApiError::NotFound("Product or variant not found".into())),
    }
}

/// Query of the low-stock listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LowStockQuery {
    /// Units at or below which a product is listed (default: each product's own threshold).
    pub threshold: Option<String>,
    /// Maximum items, 1..100 (default 50).
    pub limit: Option<String>,
}

/// One product of the low-stock listing.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LowStockItem {
    /// Product id (24-hex).
    pub id: String,
    /// Name.
    pub name: String,
    /// Units on hand.
    pub current_stock: i64,
    /// SKU.
    pub sku: String,
    /// The product's low-stock threshold.
    pub reorder_point: i64,
    /// Category id (24-hex).
    pub category: String,
    /// First image URL (`null` without images).
    pub image: Option<String>,
    /// active | inactive.
    pub status: &'static str,
}

impl From<ProductDoc> for LowStockItem {
    fn from(p: ProductDoc) -> Self {
        Self {
            id: p.id.to_hex(),
            current_stock: p.inventory.stock,
            reorder_point: p.inventory.low_stock_threshold,
            category: p.category.to_hex(),
            image: p.images.into_iter().next(),
            status: if p.is_active { "active" } else { "inactive" },
            name: p.name,
            sku: p.sku,
        }
    }
}

/// Products at or below their low-stock threshold, ascending by stock.
#[utoipa::path(get, path = "/api/merchant/products/low-stock", tag = "stock", security(("bearer" = [])), params(LowStockQuery),
    responses((status = 200, description = "Array of low-stock products", body = crate::openapi::Envelope<Vec<LowStockItem>>),
        (status = 400, description = "Query validation failed", body = crate::openapi::ErrorBody)))]
pub async fn low_stock(
    State(state): State<AppState>,
    auth: AuthTenant,
    AppQuery(q): AppQuery<LowStockQuery>,
) -> Result<Reply<Vec<LowStockItem>>, ApiError> {
    auth.require("inventory:view")?;
    let mut v = Validator::new();
    let threshold = q
        .threshold
        .is_some()
        .then(|| int_param(&mut v, "threshold", q.threshold, 0, i64::MAX / 2, 10));
    let limit = int_param(&mut v, "limit", q.limit, 1, 100, 50);
    v.finish_as("Query validation failed")?;
    let items = state
        .store
        .low_stock(auth.id(), None, threshold, limit)
        .await
        .map_err(ApiError::internal("Failed to fetch low-stock products"))?;
    Ok(Reply::data(
        items.into_iter().map(LowStockItem::from).collect(),
    ))
}

/// The low-stock listing at the contract's dashboard path.
#[utoipa::path(get, path = "/api/merchant/dashboard/low-stock", tag = "stock", security(("bearer" = [])), params(LowStockQuery),
    responses((status = 200, description = "Array of low-stock products", body = crate::openapi::Envelope<Vec<LowStockItem>>),
        (status = 400, description = "Query validation failed", body = crate::openapi::ErrorBody)))]
pub async fn dashboard_low_stock(
    state: State<AppState>,
    auth: AuthTenant,
    query: AppQuery<LowStockQuery>,
) -> Result<Reply<Vec<LowStockItem>>, ApiError> {
    low_stock(state, auth, query).await
}
