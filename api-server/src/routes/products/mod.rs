//! `/api/merchant/products`: list, create, get, update, delete and categories (contract §2.5).
//! Every query is scoped to the caller's merchant: another merchant's product is a 404.

pub mod reviews;
pub mod types;
pub mod views;

use self::{
    types::{ListQuery, ProductFields, ProductInput, int_param},
    views::{
        AuditSummary, CategoryList, CategoryOption, Pagination, Product, ProductPage, ProductView,
        UpdatedProduct,
    },
};
use super::{
    Reply,
    cursor::{CursorParams, Paging},
};
use crate::{
    conditional::{self, Version},
    domain::{ProductPatch, ProductPlacement, ProductStatus, Sku, StockLevel, slugify},
    error::{ApiError, on_duplicate_key},
    extract::{AppJson, AppQuery, AuthTenant, object_id},
    ratelimit::{Limit, enforce},
    state::AppState,
    store::{
        ObjectId,
        keyset::{Listing, Sort},
        product_patch::Guarded,
        products::{ListOptions, ProductDoc, ProductFilter},
    },
    validate::Validator,
};
use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    middleware::from_fn_with_state,
    response::{IntoResponse, Response},
    routing::{MethodRouter, get, post},
};

/// A method router behind one limiter.
pub(crate) fn limited(
    state: &AppState,
    limit: Limit,
    route: MethodRouter<AppState>,
) -> MethodRouter<AppState> {
    route.layer(from_fn_with_state((state.clone(), limit), enforce))
}

/// One item's read, update and delete routes, each behind its product limiter.
pub(crate) fn read_update_delete(
    state: &AppState,
    read: MethodRouter<AppState>,
    update: MethodRouter<AppState>,
    delete: MethodRouter<AppState>,
) -> MethodRouter<AppState> {
    limited(state, Limit::ProductRead, read)
        .merge(limited(state, Limit::ProductWrite, update))
        .merge(limited(state, Limit::ProductDelete, delete))
}

/// Product routes.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/",
            limited(state, Limit::ProductRead, get(list)).merge(limited(
                state,
                Limit::ProductWrite,
                post(create),
            )),
        )
        .route("/categories", get(categories))
        .route(
            "/{id}/reviews",
            limited(state, Limit::ProductRead, get(reviews::reviews)),
        )
        .route(
            "/{id}",
            read_update_delete(
                state,
                get(show),
                axum::routing::put(update),
                axum::routing::delete(remove),
            ),
        )
}

/// Parse a product id path segment.
pub(crate) fn product_id(raw: &str) -> Result<ObjectId, ApiError> {
    object_id(raw, "Invalid product ID format")
}

pub(crate) fn not_found() -> ApiError {
    ApiError::NotFound("Product not found".into())
}

fn sku_taken() -> ApiError {
    ApiError::BadRequest("SKU already exists".into())
}

fn list_options(q: &mut ListQuery, v: &mut Validator) -> ListOptions {
    let field = match v.one_of(
        "sortBy",
        q.sort_by.take(),
        &["name", "price", "stock", "created", "updated"],
    ) {
        Some("name") => "name",
        Some("price") => "pricing.selling",
        Some("stock") => "inventory.stock",
        Some("updated") => "updatedAt",
        _ => "createdAt",
    };
    let direction = if v.one_of("sortOrder", q.sort_order.take(), &["asc", "desc"]) == Some("asc") {
        1
    } else {
        -1
    };
    let page = int_param(v, "page", q.page.take(), 1, 1_000_000, 1) as u64;
    let limit = int_param(v, "limit", q.limit.take(), 1, 100, 20);
    ListOptions {
        sort: Sort::new(field, direction),
        page,
        limit,
    }
}

/// The list's filters from its query, except the category (resolved by the handler).
fn list_filter(q: &mut ListQuery, v: &mut Validator) -> ProductFilter {
    let status = v.one_of("status", q.status.take(), ProductStatus::ALL);
    let visibility = v.one_of(
        "visibility",
        q.visibility.take(),
        crate::domain::Visibility::ALL,
    );
    let stock_level = v
        .one_of("stockLevel", q.stock_level.take(), StockLevel::ALL)
        .and_then(StockLevel::parse);
    let store = v
        .opt_parse("storeId", q.store_id.take(), |s| {
            ObjectId::parse_str(s)
                .map(Some)
                .map_err(|_| "must be a valid id")
        })
        .flatten();
    ProductFilter {
        search: q.query.take(),
        category: None,
        status,
        visibility,
        stock_level,
        store,
    }
}

/// List the merchant's products with search, filters, sorting and pagination (pages, or a
/// cursor walk: `routes::cursor`).
#[utoipa::path(get, path = "/api/merchant/products", tag = "products", security(("bearer" = [])), params(ListQuery, CursorParams),
    responses((status = 200, description = "A page of products (cursor mode: a `Link` header with rel=\"next\" and rel=\"first\")", body = crate::openapi::Envelope<ProductPage>),
        (status = 400, description = "Query validation failed (also a tampered, foreign or mismatched `cursor`)", body = crate::openapi::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::openapi::ErrorBody),
        (status = 403, description = "Store does not belong to this merchant", body = crate::openapi::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthTenant,
    paging: Paging,
    AppQuery(mut q): AppQuery<ListQuery>,
) -> Result<Reply<ProductPage>, ApiError> {
    auth.require("products:view")?;
    let mut v = Validator::new();
    let opts = list_options(&mut q, &mut v);
    let mut filter = list_filter(&mut q, &mut v);
    let (window, count) = paging.window(&mut v, &state.auth.cursor, auth.id(), opts.page);
    v.finish_as("Query validation failed")?;
    let failed = || ApiError::internal("Failed to fetch products");
    if let Some(id) = filter.store {
        check_shop(&state, auth.id(), id).await?;
    }
    let category = q.category.as_deref().filter(|c| !c.trim().is_empty());
    let unknown_category = match category {
        Some(c) => match state.store.resolve_category(c).await.map_err(failed())? {
            Some(id) => {
                filter.category = Some(id);
                false
            }
            None => true,
        },
        None => false,
    };
    let listing = if unknown_category {
        // An unknown category matches nothing.
        Listing::empty(count)
    } else {
        let store = &state.store;
        store
            .list_products(auth.id(), &filter, &opts, &window, count)
            .await
            .map_err(failed())?
    };
    let more = paging.continuation(&state.auth.cursor, auth.id(), &listing);
    Ok(Reply::data(ProductPage {
        pagination: Pagination::of(&window, opts.limit as u64, &listing),
        products: listing.items,
        next_cursor: more.next_cursor,
    })
    .link(more.link))
}

/// 403 unless the shop is the merchant's.
async fn check_shop(state: &AppState, merchant: ObjectId, shop: ObjectId) -> Result<(), ApiError> {
    let owned = state
        .store
        .owned_shop(merchant, shop)
        .await
        .map_err(ApiError::internal("Failed to fetch products"))?;
    match owned {
        Some(_) => Ok(()),
        None => Err(ApiError::Forbidden(
            "Store does not belong to this merchant".into(),
        )),
    }
}

async fn resolve_category(state: &AppState, reference: &str) -> Result<ObjectId, ApiError> {
    state
        .store
        .resolve_category(reference)
        .await
        .map_err(ApiError::internal("Failed to resolve category"))?
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Category \"{reference}\" not found. Please use a valid category name or ID."
            ))
        })
}

/// The requested shop when it is the merchant's, else the merchant's default shop.
async fn resolve_shop(
    state: &AppState,
    merchant: ObjectId,
    requested: Option<ObjectId>,
) -> Result<ObjectId, ApiError> {
    let store = &state.store;
    let found = match requested {
        Some(id) => store.owned_shop(merchant, id).await,
        None => store.default_shop(merchant).await,
    }
    .map_err(ApiError::internal("Failed to resolve store"))?;
    found.map(|s| s.id).ok_or_else(|| {
        ApiError::BadRequest("Store not found or does not belong to this merchant".into())
    })
}

/// The SKU to try first: the requested one, or the contract's generated form (three letters of
/// the name and the last six digits of epoch-ms). Nothing is read here: the unique index decides
/// at insert time, and [`insert`] turns a clash into a 400 or a fresh candidate.
fn first_sku(patch: &ProductPatch) -> Sku {
    if let Some(sku) = &patch.sku {
        return sku.clone();
    }
    Sku::generate(patch.name.as_deref().unwrap_or_default(), now_millis())
}

fn now_millis() -> u64 {
    chrono::Utc::now().timestamp_millis().unsigned_abs()
}

/// Create a product in one of the merchant's stores.
#[utoipa::path(post, path = "/api/merchant/products", tag = "products", security(("bearer" = [])), request_body = ProductInput,
    responses((status = 201, description = "Created; `data` is the product", body = crate::openapi::Envelope<ProductView>),
        (status = 400, description = "Validation failed, SKU taken, unknown category or store", body = crate::openapi::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::openapi::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: AuthTenant,
    AppJson(body): AppJson<ProductInput>,
) -> Result<Reply<Product>, ApiError> {
    auth.require("products:create")?;
    let ProductFields {
        patch,
        category,
        shop,
    } = body.validate(true)?;
    // Independent reads: one round trip of latency instead of two.
    let (category, shop) = tokio::try_join!(
        resolve_category(&state, category.as_deref().unwrap_or_default()),
        resolve_shop(&state, auth.id(), shop),
    )?;
    let slug = format!(
        "{}-{:06}",
        slugify(patch.name.as_deref().unwrap_or("product")),
        now_millis() % 1_000_000
    );
    let generated_sku = patch.sku.is_none();
    let placement = ProductPlacement {
        merchant: auth.id(),
        shop,
        category,
        sku: first_sku(&patch),
        slug,
    };
    let mut product = ProductDoc::new(patch, placement);
    insert(&state, &mut product, generated_sku).await?;
    tracing::info!(merchant = %auth.id(), product = %product.id, "product.created");
    let audit =
        crate::audit::AuditChange::action("product.created").resource("product", product.id);
    Ok(Reply::data(Product::new(product))
        .message("Product created successfully")
        .status(StatusCode::CREATED)
        .audit(audit))
}

/// Insert, retrying on a slug clash or a clash of a generated SKU (concurrent creates); a clash
/// of a SKU the client chose is a 400.
async fn insert(
    state: &AppState,
    product: &mut ProductDoc,
    generated_sku: bool,
) -> Result<(), ApiError> {
    const ATTEMPTS: u32 = 8;
    let failed = || ApiError::internal("Failed to create product");
    for attempt in 1..=ATTEMPTS {
        let Err(e) = state.store.insert_product(product).await else {
            return Ok(());
        };
        if !e.is_duplicate_key() || attempt == ATTEMPTS {
            return Err(failed()(e.into_source()));
        }
        let sku_clash = state
            .store
            .sku_taken(&product.sku, None)
            .await
            .map_err(failed())?;
        match (sku_clash, generated_sku) {
            (true, false) => return Err(sku_taken()),
            // The contract's "counter on collision": the next numbers, then random ones.
            (true, true) => {
                let next = if attempt < 3 {
                    product
                        .sku
                        .get(product.sku.len().saturating_sub(6)..)
                        .and_then(|digits| digits.parse::<u64>().ok())
                        .map_or_else(rand::random, |n| n + 1)
                } else {
                    rand::random()
                };
                product.sku = Sku::generate(&product.name, next).into_string()
            }
            (false, _) => product.slug = format!("{}-{:04x}", product.slug, rand::random::<u16>()),
        }
    }
    Ok(())
}

/// One of the merchant's products, with category and store populated.
#[utoipa::path(get, path = "/api/merchant/products/{id}", tag = "products", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id"),
        ("If-None-Match" = Option<String>, Header, description = "ETag of the client's copy: 304 while it is current")),
    responses((status = 200, description = "The product; `ETag` names its version", body = crate::openapi::Envelope<ProductView>),
        (status = 304, description = "Not modified: the client's copy (If-None-Match) is current"),
        (status = 400, description = "Invalid product ID format", body = crate::openapi::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product not found", body = crate::openapi::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth.require("products:view")?;
    let id = product_id(&id)?;
    let store = &state.store;
    let failed = || ApiError::internal("Failed to fetch product");
    let product = store
        .product(auth.id(), id)
        .await
        .map_err(failed())?
        .ok_or_else(not_found)?;
    let etag = Version::of(&product).etag();
    if conditional::not_modified(&headers, &etag) {
        return Ok(conditional::not_modified_response(&etag));
    }
    let (category, shop) = futures::try_join!(
        store.category_by_id(product.category),
        store.shop_by_id(product.shop)
    )
    .map_err(failed())?;
    Ok(Reply::data(Product::populated(product, category, shop))
        .etag(etag)
        .into_response())
}

/// The patch of an update with its references resolved and a changed SKU checked to be free.
async fn resolved_patch(
    state: &AppState,
    auth: &AuthTenant,
    id: ObjectId,
    fields: ProductFields,
) -> Result<ProductPatch, ApiError> {
    let mut patch = fields.patch;
    if let Some(c) = fields.category {
        patch.category = Some(resolve_category(state, &c).await?);
    }
    if let Some(s) = fields.shop {
        patch.shop = Some(resolve_shop(state, auth.id(), Some(s)).await?);
    }
    if let Some(sku) = &patch.sku
        && state
            .store
            .sku_taken(sku.as_str(), Some(id))
            .await
            .map_err(ApiError::internal("Failed to update product"))?
    {
        return Err(sku_taken());
    }
    Ok(patch)
}

/// Update the fields sent; omitted fields (including `status`) keep their values.
#[utoipa::path(put, path = "/api/merchant/products/{id}", tag = "products", security(("bearer" = [])), request_body = ProductInput,
    params(("id" = String, Path, description = "Product id"),
        ("If-Match" = Option<String>, Header, description = "ETag the update applies to: 412 when the product has changed since")),
    responses((status = 200, description = "Updated; `data.product`; `ETag` names the new version", body = crate::openapi::Envelope<UpdatedProduct>),
        (status = 412, description = "If-Match names an older version (`currentRevision`, `etag`)", body = crate::openapi::ErrorBody),
        (status = 400, description = "Validation failed, SKU taken, unknown category or store", body = crate::openapi::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product not found", body = crate::openapi::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path(id): Path<String>,
    headers: HeaderMap,
    request_id: Option<axum::Extension<crate::middleware::RequestId>>,
    AppJson(body): AppJson<ProductInput>,
) -> Result<Reply<UpdatedProduct>, ApiError> {
    auth.require("products:edit")?;
    let id = product_id(&id)?;
    let fields = body.validate(false)?;
    let before = state
        .store
        .product(auth.id(), id)
        .await
        .map_err(ApiError::internal("Failed to update product"))?
        .ok_or_else(not_found)?;
    let version = Version::of(&before);
    let guarded = conditional::require_match(&headers, &version)?;
    let patch = resolved_patch(&state, &auth, id, fields).await?;
    let write = &state.store;
    let failed = || on_duplicate_key(sku_taken, "Failed to update product");
    let changed = if guarded {
        applied(
            write
                .update_product_at(auth.id(), id, &patch, &before, &version)
                .await
                .map_err(failed())?,
        )?
    } else {
        write
            .update_product(auth.id(), id, &patch, &before)
            .await
            .map_err(failed())?
            .ok_or_else(not_found)?
    };
    let (before, product) = (changed.before, changed.after);
    // The stock the write replaced, not the one read above: concurrent updates see each
    // crossing once.
    let mv = patch
        .stock
        .applied_to(before.stock_line(before.inventory.stock));
    crate::notifications::stock_changed(&state.store, &product, None, mv).await;
    let stocks = (before.inventory.stock, product.inventory.stock);
    super::inventory::record_update(&state, &auth, request_id, (&product, None), stocks).await;
    let change = crate::audit::AuditChange::action("product.updated")
        .resource("product", product.id)
        // Flat structs of text and numbers: the conversion cannot fail.
        .diff(
            serde_json::to_value(AuditSummary::of(&before)).unwrap_or_default(),
            serde_json::to_value(AuditSummary::of(&product)).unwrap_or_default(),
        );
    let etag = Version::of(&product).etag();
    Ok(Reply::data(UpdatedProduct {
        product: Product::new(product),
    })
    .message("Product updated successfully")
    .audit(change)
    .etag(etag))
}

/// What a write guarded by `If-Match` did: the result, 412 at another version, or 404.
fn applied<T>(outcome: Guarded<T>) -> Result<T, ApiError> {
    match outcome {
        Guarded::Applied(done) => Ok(done),
        Guarded::Stale(now) => Err(conditional::precondition_failed(&Version::of(&now))),
        Guarded::Gone => Err(not_found()),
    }
}

/// Delete one of the merchant's products.
#[utoipa::path(delete, path = "/api/merchant/products/{id}", tag = "products", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id"),
        ("If-Match" = Option<String>, Header, description = "ETag the delete applies to: 412 when the product has changed since")),
    responses((status = 200, description = "Deleted", body = crate::openapi::Done),
        (status = 412, description = "If-Match names an older version (`currentRevision`, `etag`)", body = crate::openapi::ErrorBody),
        (status = 400, description = "Invalid product ID format", body = crate::openapi::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product not found", body = crate::openapi::ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Reply<()>, ApiError> {
    auth.require("products:delete")?;
    let id = product_id(&id)?;
    let failed = || ApiError::internal("Failed to delete product");
    let store = &state.store;
    let product = if headers.contains_key(header::IF_MATCH) {
        let current = store
            .product(auth.id(), id)
            .await
            .map_err(failed())?
            .ok_or_else(not_found)?;
        let version = Version::of(&current);
        conditional::require_match(&headers, &version)?;
        applied(
            store
                .take_product_at(auth.id(), id, &version)
                .await
                .map_err(failed())?,
        )?
    } else {
        store
            .take_product(auth.id(), id)
            .await
            .map_err(failed())?
            .ok_or_else(not_found)?
    };
    // The product's stored images go with it; a failed file delete is logged, not returned.
    super::uploads::remove_product_files(&state, &product).await;
    tracing::info!(merchant = %auth.id(), product = %id, "product.deleted");
    Ok(Reply::empty().message("Product and all related data deleted successfully"))
}

/// Active categories as `{label, value, id}`.
#[utoipa::path(get, path = "/api/merchant/products/categories", tag = "products", security(("bearer" = [])),
    responses((status = 200, description = "Categories", body = crate::openapi::Envelope<CategoryList>),
        (status = 401, description = "Not authenticated", body = crate::openapi::ErrorBody)))]
pub async fn categories(
    State(state): State<AppState>,
    auth: AuthTenant,
) -> Result<Reply<CategoryList>, ApiError> {
    auth.require("products:view")?;
    let list = state
        .store
        .active_categories()
        .await
        .map_err(ApiError::internal("Failed to fetch categories"))?;
    let categories = list
        .into_iter()
        .map(|c| CategoryOption {
            id: c.id.to_hex(),
            label: c.name,
            value: c.slug,
        })
        .collect();
    Ok(Reply::data(CategoryList { categories }))
}
