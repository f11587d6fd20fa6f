//! Reading a multipart body field by field: file parts are collected chunk by chunk and the
//! request is refused as soon as a file passes its limit (nothing larger is ever buffered);
//! text parts become a small map. Rejections use the contract's 400 messages.

use std::collections::HashMap;

use axum::extract::{
    Multipart,
    multipart::{Field, MultipartError, MultipartRejection},
};
use bytes::{Bytes, BytesMut};

use crate::error::ApiError;

/// Longest accepted text part.
const MAX_TEXT: usize = 16 * 1024;

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
}

impl Limits {
    /// The request body limit of the route: every file at its maximum plus form overhead.
    pub fn body_limit(&self) -> usize {
        self.max_files * self.max_bytes + 1024 * 1024
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

/// A parsed form.
#[derive(Debug, Default)]
pub struct Form {
    /// Files of the file field, in order.
    pub files: Vec<Upload>,
    /// Text fields.
    pub text: HashMap<String, String>,
}

impl Form {
    /// The first file, or the contract's 400 when none was sent.
    pub fn one_file(&self) -> Result<&Upload, ApiError> {
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
        ApiError::BadRequest(limits.too_large.into())
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

/// Read every part of the body within `limits`.
pub async fn read_form(mut multipart: Multipart, limits: &Limits) -> Result<Form, ApiError> {
    let mut form = Form::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| broken(e, limits))?
    {
        let name = field.name().unwrap_or_default().to_string();
        if field.file_name().is_none() && name != limits.field {
            let value = read_limited(field, MAX_TEXT, "Form field too large", limits).await?;
            let text = String::from_utf8(value.to_vec())
                .map_err(|_| ApiError::BadRequest(format!("Field \"{name}\" must be text")))?;
            form.text.insert(name, text);
            continue;
        }
        if name != limits.field {
            return Err(ApiError::BadRequest(format!(
                "Unexpected field \"{name}\": send the file as \"{}\"",
                limits.field
            )));
        }
        if form.files.len() == limits.max_files {
            return Err(ApiError::BadRequest(format!(
                "Too many files. Maximum is {}.",
                limits.max_files
            )));
        }
        let file_name = field.file_name().map(str::to_string);
        let bytes = read_limited(field, limits.max_bytes, limits.too_large, limits).await?;
        form.files.push(Upload { file_name, bytes });
    }
    Ok(form)
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
