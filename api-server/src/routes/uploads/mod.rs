//! `/api/merchant/uploads` (contract §2.12): multipart uploads of product images, store logo and
//! banner, generic images and videos, and deleting them; `serve` hands the files back. Files are
//! typed by their magic bytes and stored under the caller's merchant (see `crate::uploads`).

pub mod serve;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Multipart, Path, State, multipart::MultipartRejection},
    routing::{delete, get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

pub use self::serve::public_router;
use super::Reply;
use crate::{
    error::ApiError,
    extract::{AppQuery, AuthMerchant},
    state::AppState,
    store::{ObjectId, products::ProductDoc},
    uploads::{
        ObjectKey,
        multipart::{Form, Limits, Upload, authorized_form},
        sniff::{self, Accept, Sniffed},
    },
};

/// Largest image or video (contract: 50 MB per file).
pub const MEDIA_MAX_BYTES: usize = 50 * 1024 * 1024;
const MEDIA_TOO_LARGE: &str = "File too large. Maximum size is 50MB.";

const fn media(field: &'static str, max_files: usize) -> Limits {
    Limits {
        field,
        max_files,
        max_bytes: MEDIA_MAX_BYTES,
        too_large: MEDIA_TOO_LARGE,
    }
}

const IMAGE: Limits = media("image", 1);
// Ten files of up to 50 MB each, but at most two files' worth per request body, so one request
// never holds more than ~100 MB in memory.
const IMAGES: Limits = media("images", 10);
const IMAGES_BODY_LIMIT: usize = 2 * MEDIA_MAX_BYTES + 1024 * 1024;
const LOGO: Limits = media("logo", 1);
const BANNER: Limits = media("banner", 1);
const VIDEO: Limits = media("video", 1);

/// Upload routes (below `/api/merchant/uploads`).
pub fn router() -> Router<AppState> {
    let limited = |l: Limits| DefaultBodyLimit::max(l.body_limit());
    Router::new()
        .route("/product-image", post(product_image).layer(limited(IMAGE)))
        .route(
            "/product-images",
            post(product_images).layer(DefaultBodyLimit::max(IMAGES_BODY_LIMIT)),
        )
        .route("/image", post(image).layer(limited(IMAGE)))
        .route("/store-logo", post(store_logo).layer(limited(LOGO)))
        .route("/store-banner", post(store_banner).layer(limited(BANNER)))
        .route("/video", post(video).layer(limited(VIDEO)))
        .route("/delete/{public_id}", delete(remove))
        .route("/private/{name}", get(serve::private))
}

/// A file that was stored.
pub(crate) struct Stored {
    pub key: ObjectKey,
    pub url: String,
    pub sniffed: Sniffed,
}

fn storage_failed(message: &'static str) -> impl FnOnce(object_store::Error) -> ApiError {
    move |e| ApiError::Internal {
        message,
        source: Box::new(e),
    }
}

/// Check the file's real type and store it under the merchant.
pub(crate) async fn store_file(
    state: &AppState,
    merchant: ObjectId,
    private: bool,
    upload: &Upload,
    accept: Accept,
) -> Result<Stored, ApiError> {
    let sniffed = sniff::sniff(&upload.bytes, accept)
        .ok_or_else(|| ApiError::BadRequest(accept.rejection().into()))?;
    let key = ObjectKey::new(merchant, private, sniffed.ext);
    state
        .files
        .put(&key, upload.bytes.clone())
        .await
        .map_err(storage_failed("Failed to upload file"))?;
    tracing::info!(%merchant, file = %key.name, mime = sniffed.mime, size = upload.bytes.len(), "file.stored");
    Ok(Stored {
        url: state.files.url(&key),
        key,
        sniffed,
    })
}

/// Delete stored files, logging (not returning) failures: used to clean up after a failed
/// request and when a product goes.
pub(crate) async fn discard(state: &AppState, keys: impl IntoIterator<Item = ObjectKey>) {
    let deletes = keys.into_iter().map(|key| async move {
        if let Err(e) = state.files.delete(&key).await {
            tracing::warn!(error = %e, file = %key.name, merchant = %key.merchant, "failed to delete stored file");
        }
    });
    futures::future::join_all(deletes).await;
}

/// Remove the stored files of a deleted product (its and its variants' images that this API
/// stored for the merchant; foreign URLs are left alone).
pub(crate) async fn remove_product_files(state: &AppState, product: &ProductDoc) {
    let merchant = product.merchant_id;
    let urls = product.images.iter().chain(
        product
            .inventory
            .variants
            .iter()
            .flat_map(|v| v.images.iter()),
    );
    let keys: Vec<ObjectKey> = urls
        .filter_map(|u| state.files.key_of_url(merchant, u))
        .collect();
    discard(state, keys).await;
}

/// An image stored with its header-read dimensions.
async fn store_image(
    state: &AppState,
    merchant: ObjectId,
    upload: &Upload,
) -> Result<(Stored, u64, u64), ApiError> {
    if sniff::sniff(&upload.bytes, Accept::Image).is_none() {
        return Err(ApiError::BadRequest(Accept::Image.rejection().into()));
    }
    let (w, h) = sniff::image_size(&upload.bytes)
        .ok_or_else(|| ApiError::BadRequest("Invalid or corrupt image file".into()))?;
    let stored = store_file(state, merchant, false, upload, Accept::Image).await?;
    Ok((stored, w, h))
}

fn image_json(s: &Stored, w: u64, h: u64) -> Value {
    json!({ "url": s.url, "publicId": s.key.name, "width": w, "height": h, "format": s.sniffed.ext })
}

/// The product named by the form's `productId`, checked to be the caller's.
async fn target_product(
    state: &AppState,
    auth: &AuthMerchant,
    form: &Form,
) -> Result<Option<ObjectId>, ApiError> {
    let Some(raw) = form.text("productId") else {
        return Ok(None);
    };
    let id = super::products::product_id(raw)?;
    state
        .store
        .product(auth.id(), id)
        .await
        .map_err(ApiError::internal("Failed to upload image"))?
        .ok_or_else(super::products::not_found)?;
    Ok(Some(id))
}

/// Attach stored images to the product, removing the files again if that fails.
async fn attach(
    state: &AppState,
    auth: &AuthMerchant,
    product: Option<ObjectId>,
    stored: &[Stored],
) -> Result<(), ApiError> {
    let Some(id) = product else { return Ok(()) };
    let urls: Vec<String> = stored.iter().map(|s| s.url.clone()).collect();
    let result = state.store.add_product_images(auth.id(), id, &urls).await;
    match result {
        Ok(Some(_)) => Ok(()),
        other => {
            discard(state, stored.iter().map(|s| s.key.clone())).await;
            match other {
                Err(e) => Err(ApiError::internal("Failed to upload image")(e)),
                _ => Err(super::products::not_found()),
            }
        }
    }
}

/// Upload one product image (field `image`; optional `productId` appends it to the product).
#[utoipa::path(post, path = "/api/merchant/uploads/product-image", tag = "uploads", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data", description = "`image` file (jpeg/png/gif/webp ≤ 50 MB), optional `productId`"),
    responses((status = 200, description = "`data`: {url, publicId, width, height, format}", body = crate::openapi::Envelope),
        (status = 400, description = "No file, bad type, too large", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing products:edit", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product not found", body = crate::openapi::ErrorBody)))]
pub async fn product_image(
    State(state): State<AppState>,
    auth: AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Reply, ApiError> {
    let form = authorized_form(auth.require("products:edit"), multipart, &IMAGE).await?;
    let product = target_product(&state, &auth, &form).await?;
    let (stored, w, h) = store_image(&state, auth.id(), form.one_file()?).await?;
    attach(&state, &auth, product, std::slice::from_ref(&stored)).await?;
    Ok(Reply::data(image_json(&stored, w, h)).message("Image uploaded successfully"))
}

/// Upload up to ten product images (field `images`; optional `productId`).
#[utoipa::path(post, path = "/api/merchant/uploads/product-images", tag = "uploads", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data", description = "1..10 `images` files (≤ 50 MB each, ≤ 100 MB per request), optional `productId`"),
    responses((status = 200, description = "`data.images[]`: {url, publicId, width, height, format}", body = crate::openapi::Envelope),
        (status = 400, description = "No files, too many, bad type, too large", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing products:edit", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product not found", body = crate::openapi::ErrorBody)))]
pub async fn product_images(
    State(state): State<AppState>,
    auth: AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Reply, ApiError> {
    let form = authorized_form(auth.require("products:edit"), multipart, &IMAGES).await?;
    if form.files.is_empty() {
        return Err(ApiError::BadRequest("No files uploaded".into()));
    }
    // Check every file before storing any, so a bad third file leaves nothing behind.
    for f in &form.files {
        if sniff::sniff(&f.bytes, Accept::Image).is_none() || sniff::image_size(&f.bytes).is_none()
        {
            return Err(ApiError::BadRequest(Accept::Image.rejection().into()));
        }
    }
    let product = target_product(&state, &auth, &form).await?;
    let mut stored = Vec::new();
    let mut images = Vec::new();
    for f in &form.files {
        match store_image(&state, auth.id(), f).await {
            Ok((s, w, h)) => {
                images.push(image_json(&s, w, h));
                stored.push(s);
            }
            Err(e) => {
                discard(&state, stored.into_iter().map(|s| s.key)).await;
                return Err(e);
            }
        }
    }
    attach(&state, &auth, product, &stored).await?;
    Ok(Reply::data(json!({ "images": images })).message("Images uploaded successfully"))
}

/// Upload a general image (field `image`).
#[utoipa::path(post, path = "/api/merchant/uploads/image", tag = "uploads", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data", description = "`image` file (jpeg/png/gif/webp ≤ 50 MB)"),
    responses((status = 200, description = "`data`: {url, publicId, filename, size, width, height}", body = crate::openapi::Envelope),
        (status = 400, description = "No file, bad type, too large", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing products:edit", body = crate::openapi::ErrorBody)))]
pub async fn image(
    State(state): State<AppState>,
    auth: AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Reply, ApiError> {
    let form = authorized_form(auth.require("products:edit"), multipart, &IMAGE).await?;
    let upload = form.one_file()?;
    let (stored, w, h) = store_image(&state, auth.id(), upload).await?;
    let filename = upload
        .file_name
        .clone()
        .unwrap_or_else(|| stored.key.name.clone());
    Ok(Reply::data(json!({
        "url": stored.url, "publicId": stored.key.name, "filename": filename,
        "size": upload.bytes.len(), "width": w, "height": h,
    }))
    .message("Image uploaded successfully"))
}

/// Store a logo or banner and point the store at it; the replaced file is removed.
async fn shop_media(
    state: &AppState,
    auth: &AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
    limits: &Limits,
    field: &'static str,
) -> Result<Reply, ApiError> {
    let form = authorized_form(auth.require("settings:edit_basic"), multipart, limits).await?;
    let store_id = form
        .text("storeId")
        .map(|s| crate::extract::object_id(s, "Invalid store ID format"))
        .transpose()?;
    let (stored, _, _) = store_image(state, auth.id(), form.one_file()?).await?;
    let updated = state
        .store
        .set_shop_media(auth.id(), store_id, field, &stored.url)
        .await;
    let (store, previous) = match updated {
        Ok(Some(found)) => found,
        other => {
            discard(state, [stored.key.clone()]).await;
            return Err(match other {
                Err(e) => ApiError::internal("Failed to update store")(e),
                _ => ApiError::NotFound("Store not found".into()),
            });
        }
    };
    let old = previous.and_then(|u| state.files.key_of_url(auth.id(), &u));
    discard(state, old).await;
    Ok(Reply::data(
        json!({ "url": stored.url, "publicId": stored.key.name, "storeId": store.to_hex() }),
    )
    .message(format!("Store {field} uploaded successfully")))
}

/// Upload the store logo (field `logo`; optional `storeId`, default the merchant's store).
#[utoipa::path(post, path = "/api/merchant/uploads/store-logo", tag = "uploads", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data", description = "`logo` image, optional `storeId`"),
    responses((status = 200, description = "`data`: {url, publicId, storeId}", body = crate::openapi::Envelope),
        (status = 400, description = "No file, bad type, too large", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing settings:edit_basic", body = crate::openapi::ErrorBody),
        (status = 404, description = "Store not found", body = crate::openapi::ErrorBody)))]
pub async fn store_logo(
    State(state): State<AppState>,
    auth: AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Reply, ApiError> {
    shop_media(&state, &auth, multipart, &LOGO, "logo").await
}

/// Upload the store banner (field `banner`; optional `storeId`).
#[utoipa::path(post, path = "/api/merchant/uploads/store-banner", tag = "uploads", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data", description = "`banner` image, optional `storeId`"),
    responses((status = 200, description = "`data`: {url, publicId, storeId}", body = crate::openapi::Envelope),
        (status = 400, description = "No file, bad type, too large", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing settings:edit_basic", body = crate::openapi::ErrorBody),
        (status = 404, description = "Store not found", body = crate::openapi::ErrorBody)))]
pub async fn store_banner(
    State(state): State<AppState>,
    auth: AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Reply, ApiError> {
    shop_media(&state, &auth, multipart, &BANNER, "banner").await
}

/// Upload a video (field `video`; body `type` product|store).
#[utoipa::path(post, path = "/api/merchant/uploads/video", tag = "uploads", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data", description = "`video` file (mp4/mov/avi/wmv/webm ≤ 50 MB), `type` product|store"),
    responses((status = 200, description = "`data`: {url, publicId, duration (s; null when the container has no mvhd), format}", body = crate::openapi::Envelope),
        (status = 400, description = "No file, bad type or `type`, too large", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing products:edit (settings:edit_basic for type=store)", body = crate::openapi::ErrorBody)))]
pub async fn video(
    State(state): State<AppState>,
    auth: AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Reply, ApiError> {
    let form = authorized_form(auth.require("products:edit"), multipart, &VIDEO).await?;
    match form.text("type").unwrap_or("product") {
        "product" => {}
        "store" => auth.require("settings:edit_basic")?,
        _ => {
            return Err(ApiError::field(
                "Validation failed",
                "type",
                "\"type\" must be one of [product, store]",
            ));
        }
    }
    let upload = form.one_file()?;
    let stored = store_file(&state, auth.id(), false, upload, Accept::Video).await?;
    let duration = sniff::mp4_duration(&upload.bytes);
    Ok(Reply::data(json!({
        "url": stored.url, "publicId": stored.key.name, "duration": duration, "format": stored.sniffed.ext,
    }))
    .message("Video uploaded successfully"))
}

/// Query of the delete route.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// image (default) | video.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// Delete one of the caller's files (and drop its URL from the caller's products).
#[utoipa::path(delete, path = "/api/merchant/uploads/delete/{public_id}", tag = "uploads", security(("bearer" = [])),
    params(("public_id" = String, Path, description = "publicId returned by the upload"), DeleteQuery),
    responses((status = 200, description = "File deleted successfully", body = crate::openapi::Envelope),
        (status = 400, description = "Bad type", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing products:edit", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such file of this merchant", body = crate::openapi::ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(public_id): Path<String>,
    AppQuery(q): AppQuery<DeleteQuery>,
) -> Result<Reply, ApiError> {
    auth.require("products:edit")?;
    let accept = match q.kind.as_deref().unwrap_or("image") {
        "image" => Accept::Image,
        "video" => Accept::Video,
        _ => {
            return Err(ApiError::field(
                "Query validation failed",
                "type",
                "\"type\" must be one of [image, video]",
            ));
        }
    };
    let not_found = || ApiError::NotFound("File not found".into());
    // The key is built from the caller's id: another merchant's file is simply not found.
    let key = ObjectKey::parse(auth.id(), false, &public_id)
        .filter(|k| sniff::ext_is(k.ext(), accept))
        .ok_or_else(not_found)?;
    let deleted = state
        .files
        .delete(&key)
        .await
        .map_err(storage_failed("Failed to delete file"))?;
    if !deleted {
        return Err(not_found());
    }
    let url = state.files.url(&key);
    if let Err(e) = state.store.pull_product_image(auth.id(), &url).await {
        tracing::warn!(error = %e, file = %key.name, "deleted file still listed on products");
    }
    tracing::info!(merchant = %auth.id(), file = %key.name, "file.deleted");
    Ok(Reply::empty().message("File deleted successfully"))
}
