//! Reading a multipart body field by field; text parts become a small map. File parts are
//! either streamed to storage as they arrive ([`store_form`]: media and documents; only the
//! file's first bytes are held, to tell its type and read its header) or, for the sheets bulk
//! import parses whole, collected in memory ([`read_form`]). Either way a file is refused as
//! soon as it passes its limit, and a refused or failed file leaves nothing in storage.
//! Rejections use the contract's 400 messages; a body over the route's limit is a 413.

use std::collections::HashMap;

use axum::extract::{
    Multipart,
    multipart::{Field, MultipartError, MultipartRejection},
};
use bytes::{Bytes, BytesMut};
use object_store::WriteMultipart;

use super::{
    FileStore, ObjectKey,
    sniff::{self, Accept, Mp4Boxes, Sniffed},
};
use crate::{error::ApiError, store::ObjectId};

/// Longest accepted text part.
const MAX_TEXT: usize = 16 * 1024;
/// Bytes of a streamed file held to tell its type and read its header (image size).
pub const HEAD_BYTES: usize = 1024 * 1024;
/// Parts of one streamed file in flight to storage at once (5 MiB each).
const PARTS_IN_FLIGHT: usize = 2;

/// Limits of one upload route.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Name of the file field (`image`, `images`, `document`…).
    pub field: &'static str,
    /// Most files accepted.
    pub max_files: usize,
    /// Largest file in bytes.
    pub max_bytes: usize,
    /// Message when a file is too large.
    pub too_large: &'static str,
    /// Request body limit of the route (413 above it), see [`Limits::new`].
    pub max_body: usize,
}

impl Limits {
    /// Limits whose body limit is every file at its maximum plus 1 MiB of form overhead.
    pub const fn new(
        field: &'static str,
        max_files: usize,
        max_bytes: usize,
        too_large: &'static str,
    ) -> Self {
        Self {
            field,
            max_files,
            max_bytes,
            too_large,
            max_body: max_files * max_bytes + 1024 * 1024,
        }
    }

    /// The request body limit of the route.
    pub fn body_limit(&self) -> usize {
        self.max_body
    }
}

/// One received file.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The client's file name (informational only).
    pub file_name: Option<String>,
    /// Content.
    pub bytes: Bytes,
}

/// A parsed form: its files (in memory, or [`StoredUpload`]s already in storage) and text fields.
#[derive(Debug)]
pub struct Form<F = Upload> {
    /// Files of the file field, in order.
    pub files: Vec<F>,
    /// Text fields.
    pub text: HashMap<String, String>,
}

impl<F> Default for Form<F> {
    fn default() -> Self {
        Self {
            files: Vec::new(),
            text: HashMap::new(),
        }
    }
}

impl<F> Form<F> {
    /// The first file, or the contract's 400 when none was sent.
    pub fn one_file(&self) -> Result<&F, ApiError> {
        self.files
            .first()
            .ok_or_else(|| ApiError::BadRequest("No file uploaded".into()))
    }

    /// A non-empty text field.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.text
            .get(name)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }
}

/// Map the extractor's rejection (not multipart, no boundary) to a 400.
pub fn rejected(e: MultipartRejection) -> ApiError {
    tracing::debug!(error = %e, "multipart rejected");
    ApiError::BadRequest("Request must be multipart/form-data".into())
}

fn broken(e: MultipartError, limits: &Limits) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        // The whole body passed the route's limit (a body without `Content-Length`; a declared
        // one is refused before reading by `body_limit::limit`).
        crate::body_limit::too_large(limits.max_body)
    } else {
        tracing::debug!(error = %e, "malformed multipart body");
        ApiError::BadRequest("Malformed multipart body".into())
    }
}

/// How every upload route starts: `allowed` is the caller's permission check (e.g.
/// `auth.require("products:edit")`), answered before the body is read; then the form is read
/// within `limits`.
pub async fn authorized_form(
    allowed: Result<(), ApiError>,
    multipart: Result<Multipart, MultipartRejection>,
    limits: &Limits,
) -> Result<Form, ApiError> {
    allowed?;
    read_form(multipart.map_err(rejected)?, limits).await
}

/// Read every part of the body within `limits`, files in memory.
pub async fn read_form(mut multipart: Multipart, limits: &Limits) -> Result<Form, ApiError> {
    let mut form = Form::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| broken(e, limits))?
    {
        let Some(field) = text_or_file(field, limits, &mut form.text, form.files.len()).await?
        else {
            continue;
        };
        let file_name = field.file_name().map(str::to_string);
        let bytes = read_limited(field, limits.max_bytes, limits.too_large, limits).await?;
        form.files.push(Upload { file_name, bytes });
    }
    Ok(form)
}

/// A text part goes into `text` (`None` returned); a file part of the expected field, when
/// there is room for one more, is returned to be read.
async fn text_or_file<'a>(
    field: Field<'a>,
    limits: &Limits,
    text: &mut HashMap<String, String>,
    files: usize,
) -> Result<Option<Field<'a>>, ApiError> {
    let name = field.name().unwrap_or_default().to_string();
    if field.file_name().is_none() && name != limits.field {
        let value = read_limited(field, MAX_TEXT, "Form field too large", limits).await?;
        let value = String::from_utf8(value.to_vec())
            .map_err(|_| ApiError::BadRequest(format!("Field \"{name}\" must be text")))?;
        text.insert(name, value);
        return Ok(None);
    }
    if name != limits.field {
        return Err(ApiError::BadRequest(format!(
            "Unexpected field \"{name}\": send the file as \"{}\"",
            limits.field
        )));
    }
    if files == limits.max_files {
        return Err(ApiError::BadRequest(format!(
            "Too many files. Maximum is {}.",
            limits.max_files
        )));
    }
    Ok(Some(field))
}

/// Where the files of a [`store_form`] go and what they must be.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Owning merchant.
    pub merchant: ObjectId,
    /// Served only to the owner (documents).
    pub private: bool,
    /// Accepted types (by magic bytes).
    pub accept: Accept,
}

/// A file streamed to storage.
#[derive(Debug, Clone)]
pub struct StoredUpload {
    /// The client's file name (informational only).
    pub file_name: Option<String>,
    /// Where it was stored.
    pub key: ObjectKey,
    /// Size in bytes.
    pub size: u64,
    /// Its real type.
    pub sniffed: Sniffed,
    /// Width and height read from an image's header (`None`: not an image or corrupt header).
    pub dimensions: Option<(u64, u64)>,
    /// Duration in seconds of an MP4/QuickTime video.
    pub duration: Option<f64>,
}

/// A form whose files are in storage.
pub type StoredForm = Form<StoredUpload>;

impl StoredForm {
    /// Keys of every stored file.
    pub fn keys(&self) -> Vec<ObjectKey> {
        self.files.iter().map(|f| f.key.clone()).collect()
    }
}

/// Like [`authorized_form`], streaming each file to `files` under `target` as it arrives.
pub async fn authorized_store_form(
    allowed: Result<(), ApiError>,
    multipart: Result<Multipart, MultipartRejection>,
    limits: &Limits,
    files: &FileStore,
    target: Target,
) -> Result<StoredForm, ApiError> {
    allowed?;
    let mut multipart = multipart.map_err(rejected)?;
    let mut form = StoredForm::default();
    let read = async {
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| broken(e, limits))?
        {
            let Some(field) = text_or_file(field, limits, &mut form.text, form.files.len()).await?
            else {
                continue;
            };
            let stored = stream_file(field, limits, files, target).await?;
            form.files.push(stored);
        }
        Ok::<_, ApiError>(())
    }
    .await;
    match read {
        Ok(()) => Ok(form),
        Err(e) => {
            // Files stored before a later part failed.
            for key in form.keys() {
                if let Err(error) = files.delete(&key).await {
                    tracing::warn!(%error, file = %key.name, "failed to delete a stored file");
                }
            }
            Err(e)
        }
    }
}

/// Stream one file part to storage: its first [`HEAD_BYTES`] tell its type (refused before
/// anything is stored when it is not one `target` accepts); the rest goes to storage in parts
/// as it arrives, and the file is aborted (nothing left behind) when it passes its limit or
/// the body breaks off.
async fn stream_file(
    mut field: Field<'_>,
    limits: &Limits,
    files: &FileStore,
    target: Target,
) -> Result<StoredUpload, ApiError> {
    let file_name = field.file_name().map(str::to_string);
    let (head, ended) = read_head(&mut field, limits).await?;
    let sniffed = sniff::sniff(&head, target.accept)
        .ok_or_else(|| ApiError::BadRequest(target.accept.rejection().into()))?;
    let dimensions = match target.accept {
        Accept::Image => sniff::image_size(&head),
        _ => None,
    };
    let mut boxes = matches!(sniffed.ext, "mp4" | "mov").then(Mp4Boxes::default);
    if let Some(b) = boxes.as_mut() {
        b.feed(&head);
    }
    let key = ObjectKey::new(target.merchant, target.private, sniffed.ext);
    let head = head.freeze();
    let size = if ended {
        // Small enough to have arrived whole: one request to storage.
        let size = head.len() as u64;
        files
            .put(&key, head)
            .await
            .map_err(storage_failed("Failed to upload file"))?;
        size
    } else {
        store_in_parts(&mut field, head, limits, files, &key, boxes.as_mut()).await?
    };
    Ok(StoredUpload {
        file_name,
        key,
        size,
        sniffed,
        dimensions,
        duration: boxes.and_then(|b| b.duration()),
    })
}

/// Read up to [`HEAD_BYTES`] of the file; `true` when that was all of it.
async fn read_head(field: &mut Field<'_>, limits: &Limits) -> Result<(BytesMut, bool), ApiError> {
    let mut head = BytesMut::new();
    while head.len() < HEAD_BYTES {
        match field.chunk().await.map_err(|e| broken(e, limits))? {
            Some(chunk) => {
                if (head.len() + chunk.len()) as u64 > limits.max_bytes as u64 {
                    return Err(ApiError::BadRequest(limits.too_large.into()));
                }
                head.extend_from_slice(&chunk);
            }
            None => return Ok((head, true)),
        }
    }
    Ok((head, false))
}

/// Store a file larger than its head in parts, starting with the head; returns its size.
/// Aborts the upload (nothing left behind) when the rest fails.
async fn store_in_parts(
    field: &mut Field<'_>,
    head: Bytes,
    limits: &Limits,
    files: &FileStore,
    key: &ObjectKey,
    boxes: Option<&mut Mp4Boxes>,
) -> Result<u64, ApiError> {
    let size = head.len() as u64;
    let mut writer = files
        .writer(key)
        .await
        .map_err(storage_failed("Failed to upload file"))?;
    writer.put(head);
    match write_rest(field, &mut writer, size, limits, boxes).await {
        Ok(size) => {
            writer
                .finish()
                .await
                .map_err(storage_failed("Failed to upload file"))?;
            Ok(size)
        }
        Err(e) => {
            if let Err(error) = writer.abort().await {
                tracing::warn!(%error, file = %key.name, "failed to abort a partial upload");
            }
            Err(e)
        }
    }
}

/// Hand the rest of the file to the writer as it arrives, refusing it past its limit;
/// returns the file's size (`size` is what was written before).
async fn write_rest(
    field: &mut Field<'_>,
    writer: &mut WriteMultipart,
    mut size: u64,
    limits: &Limits,
    mut boxes: Option<&mut Mp4Boxes>,
) -> Result<u64, ApiError> {
    while let Some(chunk) = field.chunk().await.map_err(|e| broken(e, limits))? {
        size += chunk.len() as u64;
        if size > limits.max_bytes as u64 {
            return Err(ApiError::BadRequest(limits.too_large.into()));
        }
        if let Some(b) = boxes.as_mut() {
            b.feed(&chunk);
        }
        writer
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .map_err(storage_failed("Failed to upload file"))?;
        writer.put(chunk);
    }
    Ok(size)
}

fn storage_failed(message: &'static str) -> impl FnOnce(object_store::Error) -> ApiError {
    move |e| ApiError::Internal {
        message,
        source: Box::new(e),
    }
}

async fn read_limited(
    mut field: Field<'_>,
    max: usize,
    too_large: &str,
    limits: &Limits,
) -> Result<Bytes, ApiError> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| broken(e, limits))? {
        if buf.len() + chunk.len() > max {
            return Err(ApiError::BadRequest(too_large.into()));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}
