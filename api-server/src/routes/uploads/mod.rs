//! `/api/merchant/uploads` (contract §2.12): multipart uploads of product images, store logo and
//! banner, generic images and videos, and deleting them; `serve` hands the files back. Files are
//! typed by their magic bytes and stored under the caller's merchant (see `crate::uploads`).

pub mod serve;

use axum::{
    Router,
    extract::{Multipart, Path, State, multipart::MultipartRejection},
    routing::{delete, get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use self::serve::public_router;
use super::Reply;
use crate::{
    body_limit::limit,
    error::ApiError,
    extract::{AppQuery, AuthMerchant},
    state::AppState,
    store::{ObjectId, products::ProductDoc},
    uploads::{
        ObjectKey,
        multipart::{Limits, StoredForm, StoredUpload, Target, authorized_store_form},
        sniff::{self, Accept, Sniffed},
    },
};

/// Largest image or video (contract: 50 MB per file).
pub const MEDIA_MAX_BYTES: usize = 50 * 1024 * 1024;
const MEDIA_TOO_LARGE: &str = "File too large. Maximum size is 50MB.";

const fn media(field: &'static str, max_files: usize) -> Limits {
    Limits::new(field, max_files, MEDIA_MAX_BYTES, MEDIA_TOO_LARGE)
}

const IMAGE: Limits = media("image", 1);
// Ten files of up to 50 MB each, but at most two files' worth per request body, so one request
// never holds more than ~100 MB in memory.
const IMAGES: Limits = Limits {
    max_body: 2 * MEDIA_MAX_BYTES + 1024 * 1024,
    ..media("images", 10)
};
const LOGO: Limits = media("logo", 1);
const BANNER: Limits = media("banner", 1);
const VIDEO: Limits = media("video", 1);

/// Upload routes (below `/api/merchant/uploads`).
pub fn router() -> Router<AppState> {
    let limited = |route, l: Limits| limit(route, l.body_limit());
    Router::new()
        .route("/product-image", limited(post(product_image), IMAGE))
        .route("/product-images", limited(post(product_images), IMAGES))
        .route("/image", limited(post(image), IMAGE))
        .route("/store-logo", limited(post(store_logo), LOGO))
        .route("/store-banner", limited(post(store_banner), BANNER))
        .route("/video", limited(post(video), VIDEO))
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

/// The multipart form of an upload route, its files streamed to storage under the caller's
/// merchant as they arrive (`allowed` is answered before the body is read).
pub(crate) async fn stored_form(
    state: &AppState,
    merchant: ObjectId,
    allowed: Result<(), ApiError>,
    multipart: Result<Multipart, MultipartRejection>,
    limits: &Limits,
    private: bool,
    accept: Accept,
) -> Result<StoredForm, ApiError> {
    let target = Target {
        merchant,
        private,
        accept,
    };
    let form = authorized_store_form(allowed, multipart, limits, &state.files, target).await?;
    for f in &form.files {
        tracing::info!(%merchant, file = %f.key.name, mime = f.sniffed.mime, size = f.size, "file.stored");
    }
    Ok(form)
}

/// Run the rest of an upload request; when it fails, the files of its form are removed.
pub(crate) async fn keep_if_ok<T>(
    state: &AppState,
    form: &StoredForm,
    rest: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let result = rest.await;
    if result.is_err() {
        discard(state, form.keys()).await;
    }
    result
}

/// The stored file as the handlers describe it.
pub(crate) fn stored(state: &AppState, upload: &StoredUpload) -> Stored {
    Stored {
        url: state.files.url(&upload.key),
        key: upload.key.clone(),
        sniffed: upload.sniffed,
    }
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

/// A stored image with its header-read dimensions (400 for a corrupt header).
fn stored_image(state: &AppState, upload: &StoredUpload) -> Result<(Stored, u64, u64), ApiError> {
    let (w, h) = upload
        .dimensions
        .ok_or_else(|| ApiError::BadRequest("Invalid or corrupt image file".into()))?;
    Ok((stored(state, upload), w, h))
}

/// An uploaded image.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadedImage {
    /// Where it is served.
    pub url: String,
    /// Its name, for `DELETE /uploads/delete/{publicId}`.
    pub public_id: String,
    /// Width in pixels.
    pub width: u64,
    /// Height in pixels.
    pub height: u64,
    /// jpg | png | gif | webp.
    pub format: &'static str,
}

impl UploadedImage {
    fn new(s: &Stored, width: u64, height: u64) -> Self {
        Self {
            url: s.url.clone(),
            public_id: s.key.name.clone(),
            width,
            height,
            format: s.sniffed.ext,
        }
    }
}

/// `data` of `POST /uploads/product-images`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedImages {
    /// The images, in the order sent.
    pub images: Vec<UploadedImage>,
}

/// `data` of `POST /uploads/image`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeneralImage {
    /// Where it is served.
    pub url: String,
    /// Its name, for `DELETE /uploads/delete/{publicId}`.
    pub public_id: String,
    /// The client's file name, else `publicId`.
    pub filename: String,
    /// Bytes.
    pub size: u64,
    /// Width in pixels.
    pub width: u64,
    /// Height in pixels.
    pub height: u64,
}

/// `data` of the store logo and banner uploads.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShopMedia {
    /// Where it is served.
    pub url: String,
    /// Its name, for `DELETE /uploads/delete/{publicId}`.
    pub public_id: String,
    /// The store now showing it (24-hex).
    pub store_id: String,
}

/// `data` of `POST /uploads/video`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadedVideo {
    /// Where it is served.
    pub url: String,
    /// Its name, for `DELETE /uploads/delete/{publicId}`.
    pub public_id: String,
    /// Seconds (`null` when the container has no mvhd).
    pub duration: Option<f64>,
    /// mp4 | mov | avi | wmv | webm.
    pub format: &'static str,
}

/// The product named by the form's `productId`, checked to be the caller's.
async fn target_product(
    state: &AppState,
    auth: &AuthMerchant,
    form: &StoredForm,
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
    responses((status = 200, description = "`data`: {url, publicId, width, height, format}", body = crate::openapi::Envelope<UploadedImage>),
        (status = 400, description = "No file, bad type, too large", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing products:edit", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product not found", body = crate::openapi::ErrorBody)))]
pub async fn product_image(
    State(state): State<AppState>,
    auth: AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Reply<UploadedImage>, ApiError> {
    let allowed = auth.require("products:edit");
    let form = stored_form(
        &state,
        auth.id(),
        allowed,
        multipart,
        &IMAGE,
        false,
        Accept::Image,
    )
    .await?;
    keep_if_ok(&state, &form, async {
        let product = target_product(&state, &auth, &form).await?;
        let (stored, w, h) = stored_image(&state, form.one_file()?)?;
        attach(&state, &auth, product, std::slice::from_ref(&stored)).await?;
        Ok(Reply::data(UploadedImage::new(&stored, w, h)).message("Image uploaded successfully"))
    })
    .await
}

/// Upload up to ten product images (field `images`; optional `productId`).
#[utoipa::path(post, path = "/api/merchant/uploads/product-images", tag = "uploads", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data", description = "1..10 `images` files (≤ 50 MB each, ≤ 100 MB per request), optional `productId`"),
    responses((status = 200, description = "`data.images[]`: {url, publicId, width, height, format}", body = crate::openapi::Envelope<UploadedImages>),
        (status = 400, description = "No files, too many, bad type, too large", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing products:edit", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product not found", body = crate::openapi::ErrorBody)))]
pub async fn product_images(
    State(state): State<AppState>,
    auth: AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Reply<UploadedImages>, ApiError> {
    let allowed = auth.require("products:edit");
    let form = stored_form(
        &state,
        auth.id(),
        allowed,
        multipart,
        &IMAGES,
        false,
        Accept::Image,
    )
    .await?;
    // A bad third file removes the two stored before it.
    keep_if_ok(&state, &form, async {
        if form.files.is_empty() {
            return Err(ApiError::BadRequest("No files uploaded".into()));
        }
        if form.files.iter().any(|f| f.dimensions.is_none()) {
            return Err(ApiError::BadRequest(Accept::Image.rejection().into()));
        }
        let product = target_product(&state, &auth, &form).await?;
        let mut stored = Vec::new();
        let mut images = Vec::new();
        for f in &form.files {
            let (s, w, h) = stored_image(&state, f)?;
            images.push(UploadedImage::new(&s, w, h));
            stored.push(s);
        }
        attach(&state, &auth, product, &stored).await?;
        Ok(Reply::data(UploadedImages { images }).message("Images uploaded successfully"))
    })
    .await
}

/// Upload a general image (field `image`).
#[utoipa::path(post, path = "/api/merchant/uploads/image", tag = "uploads", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data", description = "`image` file (jpeg/png/gif/webp ≤ 50 MB)"),
    responses((status = 200, description = "`data`: {url, publicId, filename, size, width, height}", body = crate::openapi::Envelope<GeneralImage>),
        (status = 400, description = "No file, bad type, too large", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing products:edit", body = crate::openapi::ErrorBody)))]
pub async fn image(
    State(state): State<AppState>,
    auth: AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Reply<GeneralImage>, ApiError> {
    let allowed = auth.require("products:edit");
    let form = stored_form(
        &state,
        auth.id(),
        allowed,
        multipart,
        &IMAGE,
        false,
        Accept::Image,
    )
    .await?;
    keep_if_ok(&state, &form, async {
        let upload = form.one_file()?;
        let (stored, w, h) = stored_image(&state, upload)?;
        let filename = upload
            .file_name
            .clone()
            .unwrap_or_else(|| stored.key.name.clone());
        Ok(Reply::data(GeneralImage {
            url: stored.url,
            public_id: stored.key.name,
            filename,
            size: upload.size,
            width: w,
            height: h,
        })
        .message("Image uploaded successfully"))
    })
    .await
}

/// Store a logo or banner and point the store at it; the replaced file is removed.
async fn shop_media(
    state: &AppState,
    auth: &AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
    limits: &Limits,
    field: &'static str,
) -> Result<Reply<ShopMedia>, ApiError> {
    let allowed = auth.require("settings:edit_basic");
    let form = stored_form(
        state,
        auth.id(),
        allowed,
        multipart,
        limits,
        false,
        Accept::Image,
    )
    .await?;
    let (stored, store_id) = keep_if_ok(state, &form, async {
        let store_id = form
            .text("storeId")
            .map(|s| crate::extract::object_id(s, "Invalid store ID format"))
            .transpose()?;
        let (stored, _, _) = stored_image(state, form.one_file()?)?;
        Ok((stored, store_id))
    })
    .await?;
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
    Ok(Reply::data(ShopMedia {
        url: stored.url,
        public_id: stored.key.name,
        store_id: store.to_hex(),
    })
    .message(format!("Store {field} uploaded successfully")))
}

/// Upload the store logo (field `logo`; optional `storeId`, default the merchant's store).
#[utoipa::path(post, path = "/api/merchant/uploads/store-logo", tag = "uploads", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data", description = "`logo` image, optional `storeId`"),
    responses((status = 200, description = "`data`: {url, publicId, storeId}", body = crate::openapi::Envelope<ShopMedia>),
        (status = 400, description = "No file, bad type, too large", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing settings:edit_basic", body = crate::openapi::ErrorBody),
        (status = 404, description = "Store not found", body = crate::openapi::ErrorBody)))]
pub async fn store_logo(
    State(state): State<AppState>,
    auth: AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Reply<ShopMedia>, ApiError> {
    shop_media(&state, &auth, multipart, &LOGO, "logo").await
}

/// Upload the store banner (field `banner`; optional `storeId`).
#[utoipa::path(post, path = "/api/merchant/uploads/store-banner", tag = "uploads", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data", description = "`banner` image, optional `storeId`"),
    responses((status = 200, description = "`data`: {url, publicId, storeId}", body = crate::openapi::Envelope<ShopMedia>),
        (status = 400, description = "No file, bad type, too large", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing settings:edit_basic", body = crate::openapi::ErrorBody),
        (status = 404, description = "Store not found", body = crate::openapi::ErrorBody)))]
pub async fn store_banner(
    State(state): State<AppState>,
    auth: AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Reply<ShopMedia>, ApiError> {
    shop_media(&state, &auth, multipart, &BANNER, "banner").await
}

/// Upload a video (field `video`; body `type` product|store).
#[utoipa::path(post, path = "/api/merchant/uploads/video", tag = "uploads", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data", description = "`video` file (mp4/mov/avi/wmv/webm ≤ 50 MB), `type` product|store"),
    responses((status = 200, description = "`data`: {url, publicId, duration (s; null when the container has no mvhd), format}", body = crate::openapi::Envelope<UploadedVideo>),
        (status = 400, description = "No file, bad type or `type`, too large", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing products:edit (settings:edit_basic for type=store)", body = crate::openapi::ErrorBody)))]
pub async fn video(
    State(state): State<AppState>,
    auth: AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Reply<UploadedVideo>, ApiError> {
    let allowed = auth.require("products:edit");
    let form = stored_form(
        &state,
        auth.id(),
        allowed,
        multipart,
        &VIDEO,
        false,
        Accept::Video,
    )
    .await?;
    keep_if_ok(&state, &form, async {
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
        let stored = stored(&state, upload);
        Ok(Reply::data(UploadedVideo {
            url: stored.url,
            public_id: stored.key.name,
            duration: upload.duration,
            format: stored.sniffed.ext,
        })
        .message("Video uploaded successfully"))
    })
    .await
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
    responses((status = 200, description = "File deleted successfully", body = crate::openapi::Done),
        (status = 400, description = "Bad type", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing products:edit", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such file of this merchant", body = crate::openapi::ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(public_id): Path<String>,
    AppQuery(q): AppQuery<DeleteQuery>,
) -> Result<Reply<()>, ApiError> {
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
