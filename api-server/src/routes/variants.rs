//! `/api/merchant/products/{id}/variants`: variant CRUD on `inventory.variants[]`, persisted
//! (the peer's POST wrote to a non-schema field and was lost).

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    Reply,
    products::{limited, not_found, product_id, read_update_delete},
};
use crate::{
    domain::{Attributes, Sku, VariantPatch},
    error::ApiError,
    extract::{AppJson, AuthTenant},
    ratelimit::Limit,
    state::AppState,
    store::products::VariantDoc,
    validate::{Len, Validator},
};

/// Variant routes.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/{id}/variants",
            limited(state, Limit::ProductRead, get(list)).merge(limited(
                state,
                Limit::ProductWrite,
                post(create),
            )),
        )
        .route(
            "/{id}/variants/{variant_id}",
            read_update_delete(
                state,
                get(show),
                axum::routing::put(update),
                axum::routing::delete(remove),
            ),
        )
}

/// Variant body (create requires `value` or `name`; update checks what is sent).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VariantInput {
    /// Option kind, 2..50 (default `option`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Option value, 1..50.
    pub value: Option<String>,
    /// Alias of `value` (older clients).
    pub name: Option<String>,
    /// Attributes: an object, or a list of `{name, value}` pairs (older clients).
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Attributes>,
    /// Price ≥ 0.
    pub price: Option<f64>,
    /// Compare-at price ≥ 0.
    pub compare_at_price: Option<f64>,
    /// Units ≥ 0 (default 0).
    pub stock: Option<i64>,
    /// Alias of `stock` (older clients).
    pub quantity: Option<i64>,
    /// SKU (unique within the product).
    pub sku: Option<String>,
    /// Image URLs.
    pub images: Option<Vec<String>>,
    /// Barcode ≤ 50.
    pub barcode: Option<String>,
    /// Weight ≥ 0.
    pub weight: Option<f64>,
    /// Sellable (default true).
    pub is_available: Option<bool>,
}

impl VariantInput {
    /// Validate; `create` requires `value` (or `name`).
    fn patch(self, create: bool) -> Result<VariantPatch, ApiError> {
        let mut v = Validator::new();
        let value = self.value.or(self.name);
        let value = if create {
            Some(v.text("value", value, Len(1, 50)))
        } else {
            v.opt_text("value", value, Len(1, 50))
        };
        let patch = VariantPatch {
            value,
            kind: v.opt_text("type", self.kind, Len(2, 50)),
            stock: v.opt_int("stock", self.stock.or(self.quantity), 0, i64::MAX / 2),
            price: v.opt_number("price", self.price, 0.0, 1e12),
            compare_at_price: v.opt_number("compareAtPrice", self.compare_at_price, 0.0, 1e12),
            sku: v.opt_parse("sku", self.sku, Sku::parse),
            barcode: v.opt_text("barcode", self.barcode, Len(0, 50)),
            weight: v.opt_number("weight", self.weight, 0.0, 1e9),
            images: self.images,
            is_available: self.is_available,
            attributes: self.attributes,
        };
        v.finish()?;
        Ok(patch)
    }
}

fn variant_not_found() -> ApiError {
    ApiError::NotFound("Variant not found".into())
}

/// A variant as clients read it: the stored fields plus `_id` (its `variantId`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Variant {
    /// The variant id again (`variantId`), where clients look for an id.
    #[serde(rename = "_id")]
    pub key: String,
    /// The stored fields.
    #[serde(flatten)]
    pub stored: VariantDoc,
}

impl From<VariantDoc> for Variant {
    fn from(stored: VariantDoc) -> Self {
        Self {
            key: stored.variant_id.clone(),
            stored,
        }
    }
}

/// `data` of `GET /products/{id}/variants`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VariantList {
    /// The product's variants.
    pub variants: Vec<Variant>,
}

/// `data` of a single-variant reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct OneVariant {
    /// The variant.
    pub variant: Variant,
}

impl OneVariant {
    fn of(stored: VariantDoc) -> Self {
        Self {
            variant: stored.into(),
        }
    }
}

/// The variant `vid` of `product`, taken out of it.
fn take_variant(
    product: crate::store::products::ProductDoc,
    vid: &str,
) -> Result<VariantDoc, ApiError> {
    product
        .inventory
        .variants
        .into_iter()
        .find(|v| v.variant_id == vid)
        .ok_or_else(variant_not_found)
}

async fn owned_product(
    state: &AppState,
    auth: &AuthTenant,
    id: &str,
) -> Result<crate::store::products::ProductDoc, ApiError> {
    let id = product_id(id)?;
    state
        .store
        .product(auth.id(), id)
        .await
        .map_err(ApiError::internal("Failed to fetch product"))?
        .ok_or_else(not_found)
}

/// The product's variants.
#[utoipa::path(get, path = "/api/merchant/products/{id}/variants", tag = "variants", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id")),
    responses((status = 200, description = "Variants", body = crate::openapi::Envelope<VariantList>),
        (status = 400, description = "Invalid product ID format", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product not found", body = crate::openapi::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path(id): Path<String>,
) -> Result<Reply<VariantList>, ApiError> {
    auth.require("products:view")?;
    let product = owned_product(&state, &auth, &id).await?;
    let variants = product
        .inventory
        .variants
        .into_iter()
        .map(Variant::from)
        .collect();
    Ok(Reply::data(VariantList { variants }))
}

/// One variant.
#[utoipa::path(get, path = "/api/merchant/products/{id}/variants/{variant_id}", tag = "variants", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id"), ("variant_id" = String, Path, description = "Variant id")),
    responses((status = 200, description = "Variant", body = crate::openapi::Envelope<OneVariant>),
        (status = 404, description = "Product or variant not found", body = crate::openapi::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Reply<OneVariant>, ApiError> {
    auth.require("products:view")?;
    let product = owned_product(&state, &auth, &id).await?;
    Ok(Reply::data(OneVariant::of(take_variant(product, &vid)?)))
}

/// Add a variant.
#[utoipa::path(post, path = "/api/merchant/products/{id}/variants", tag = "variants", security(("bearer" = [])), request_body = VariantInput,
    params(("id" = String, Path, description = "Product id")),
    responses((status = 201, description = "Created", body = crate::openapi::Envelope<OneVariant>),
        (status = 400, description = "Validation failed or variant SKU taken", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product not found", body = crate::openapi::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path(id): Path<String>,
    AppJson(body): AppJson<VariantInput>,
) -> Result<Reply<OneVariant>, ApiError> {
    auth.require("products:edit")?;
    let pid = product_id(&id)?;
    let variant = VariantDoc::new(body.patch(true)?);
    let updated = state
        .store
        .push_variant(auth.id(), pid, &variant)
        .await
        .map_err(ApiError::internal("Failed to create variant"))?;
    if updated.is_none() {
        owned_product(&state, &auth, &id).await?;
        return Err(ApiError::BadRequest(
            "Variant SKU already exists for this product".into(),
        ));
    }
    Ok(Reply::data(OneVariant::of(variant))
        .message("Variant created successfully")
        .status(StatusCode::CREATED))
}

/// Update fields of a variant.
#[utoipa::path(put, path = "/api/merchant/products/{id}/variants/{variant_id}", tag = "variants", security(("bearer" = [])), request_body = VariantInput,
    params(("id" = String, Path, description = "Product id"), ("variant_id" = String, Path, description = "Variant id")),
    responses((status = 200, description = "Updated", body = crate::openapi::Envelope<OneVariant>),
        (status = 400, description = "Validation failed or variant SKU taken", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product or variant not found", body = crate::openapi::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path((id, vid)): Path<(String, String)>,
    request_id: Option<axum::Extension<crate::middleware::RequestId>>,
    AppJson(body): AppJson<VariantInput>,
) -> Result<Reply<OneVariant>, ApiError> {
    auth.require("products:edit")?;
    let product = owned_product(&state, &auth, &id).await?;
    let patch = body.patch(false)?;
    if let Some(sku) = patch.sku.as_ref().map(Sku::as_str)
        && product
            .inventory
            .variants
            .iter()
            .any(|v| v.variant_id != vid && v.sku.as_deref() == Some(sku))
    {
        return Err(ApiError::BadRequest(
            "Variant SKU already exists for this product".into(),
        ));
    }
    let changed = state
        .store
        .update_variant(auth.id(), &product, &vid, &patch)
        .await
        .map_err(ApiError::internal("Failed to update variant"))?
        .ok_or_else(variant_not_found)?;
    if let Some(before) = changed.before.variant_stock(&vid) {
        let mv = patch.applied_to(changed.before.stock_line(before));
        crate::notifications::stock_changed(&state.store, &changed.after, Some(&vid), mv).await;
        let after = changed.after.variant_stock(&vid).unwrap_or(before);
        let change = (&changed.after, Some(vid.as_str()));
        super::inventory::record_update(&state, &auth, request_id, change, (before, after)).await;
    }
    let variant = take_variant(changed.after, &vid)?;
    Ok(Reply::data(OneVariant::of(variant)).message("Variant updated successfully"))
}

/// Delete a variant.
#[utoipa::path(delete, path = "/api/merchant/products/{id}/variants/{variant_id}", tag = "variants", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id"), ("variant_id" = String, Path, description = "Variant id")),
    responses((status = 200, description = "Deleted", body = crate::openapi::Done),
        (status = 404, description = "Product or variant not found", body = crate::openapi::ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Reply<()>, ApiError> {
    auth.require("products:edit")?;
    let product = owned_product(&state, &auth, &id).await?;
    let deleted = state
        .store
        .delete_variant(auth.id(), product.id, &vid)
        .await
        .map_err(ApiError::internal("Failed to delete variant"))?;
    if !deleted {
        return Err(variant_not_found());
    }
    Ok(Reply::empty().message("Variant deleted successfully"))
}
