//! Serving stored files back: public media at `GET /uploads/{merchantId}/{name}` (names are 128
//! random bits, so URLs are unguessable; storefronts embed them cross-origin) and the caller's
//! private documents at `GET /api/merchant/uploads/private/{name}` (Bearer token).
//! Responses carry the sniffed `Content-Type`, `Content-Length`, `ETag` (304 on a match),
//! `Last-Modified`, `Cache-Control` and `X-Content-Type-Options: nosniff`; a single
//! `Range: bytes=…` gets a 206 (browsers seek in videos that way), an unsatisfiable one a 416.

use axum::{
    Router,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

use object_store::ObjectMeta;

use crate::{
    error::ApiError,
    extract::AuthMerchant,
    state::AppState,
    store::ObjectId,
    uploads::{ObjectKey, sniff::mime_of_ext},
};

/// Names never change content, so public files may be cached for a year.
const PUBLIC_CACHE: &str = "public, max-age=31536000, immutable";
/// Documents: only the owner, revalidated each time.
const PRIVATE_CACHE: &str = "private, no-cache";

/// The public file route (outside `/api/merchant`, no token).
pub fn public_router() -> Router<AppState> {
    Router::new().route("/uploads/{merchant}/{name}", get(public))
}

fn not_found() -> ApiError {
    ApiError::NotFound("File not found".into())
}

/// A public file.
pub async fn public(
    State(state): State<AppState>,
    Path((merchant, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let merchant = ObjectId::parse_str(&merchant).map_err(|_| not_found())?;
    let key = ObjectKey::parse(merchant, false, &name).ok_or_else(not_found)?;
    serve(&state, &key, &headers, PUBLIC_CACHE).await
}

/// One of the caller's private files (onboarding documents).
#[utoipa::path(get, path = "/api/merchant/uploads/private/{name}", tag = "uploads", security(("bearer" = [])),
    params(("name" = String, Path, description = "File name from the document URL")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 403, description = "Missing profile:view", body = crate::openapi::ErrorBody),
        (status = 404, description = "File not found", body = crate::openapi::ErrorBody)))]
pub async fn private(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth.require("profile:view")?;
    // Private files are verification (KYC) documents.
    auth.require(crate::domain::KYC_PERMISSION)?;
    let key = ObjectKey::parse(auth.id(), true, &name).ok_or_else(not_found)?;
    serve(&state, &key, &headers, PRIVATE_CACHE).await
}

/// `"tag"` whatever the backend returned (S3 quotes its ETags, the local store does not).
fn quoted(tag: &str) -> String {
    if tag.starts_with('"') || tag.starts_with("W/") {
        tag.to_string()
    } else {
        format!("\"{tag}\"")
    }
}

/// RFC 9110 weak comparison of an `If-None-Match` list against our tag.
fn none_match(header: &HeaderValue, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header.to_str().is_ok_and(|list| {
        list.split(',')
            .any(|t| t.trim() == "*" || strip(t) == strip(etag))
    })
}

fn read_failed(e: object_store::Error) -> ApiError {
    match e {
        object_store::Error::NotFound { .. } => not_found(),
        e => ApiError::Internal {
            message: "Failed to read file",
            source: Box::new(e),
        },
    }
}

/// Headers every answer about the file carries (200, 206, 304, 416).
fn file_headers(meta: &ObjectMeta, cache: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(tag) = meta.e_tag.as_deref().map(quoted)
        && let Ok(v) = HeaderValue::from_str(&tag)
    {
        h.insert(header::ETAG, v);
    }
    let modified = meta
        .last_modified
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    if let Ok(v) = HeaderValue::from_str(&modified) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if cache == PUBLIC_CACHE {
        h.insert(
            "cross-origin-resource-policy",
            HeaderValue::from_static("cross-origin"),
        );
    }
    h
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    /// The whole file (no header, or one we do not serve partially: multiple ranges, other units).
    All,
    /// Bytes `start..end`.
    Part(u64, u64),
    /// Nothing that exists (416).
    Unsatisfiable,
}

fn wanted(range: Option<&HeaderValue>, size: u64) -> Wanted {
    let Some(spec) = range
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
        .filter(|v| !v.contains(','))
    else {
        return Wanted::All;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return Wanted::All;
    };
    let (first, last) = (first.trim(), last.trim());
    let parsed = match (first.parse::<u64>().ok(), last.parse::<u64>().ok()) {
        // bytes=-N: the last N bytes.
        (None, Some(n)) if first.is_empty() => (n > 0).then(|| (size.saturating_sub(n), size)),
        (Some(a), None) if last.is_empty() => Some((a, size)),
        (Some(a), Some(b)) if a <= b => Some((a, (b + 1).min(size))),
        _ => return Wanted::All,
    };
    match parsed {
        Some((a, b)) if a < b && a < size => Wanted::Part(a, b),
        _ => Wanted::Unsatisfiable,
    }
}

/// The 416 of a range outside the file.
fn unsatisfiable(mut h: HeaderMap, size: u64) -> Response {
    h.remove(header::CONTENT_TYPE);
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
        h.insert(header::CONTENT_RANGE, v);
    }
    (StatusCode::RANGE_NOT_SATISFIABLE, h).into_response()
}

/// The 206 of bytes `a..b` of a file of `size` bytes.
async fn partial(
    state: &AppState,
    key: &ObjectKey,
    mut h: HeaderMap,
    (a, b): (u64, u64),
    size: u64,
) -> Result<Response, ApiError> {
    let got = state
        .files
        .get_range(key, a..b)
        .await
        .map_err(read_failed)?;
    if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{}/{size}", b - 1)) {
        h.insert(header::CONTENT_RANGE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(b - a));
    let body = Body::from_stream(got.into_stream());
    Ok((StatusCode::PARTIAL_CONTENT, h, body).into_response())
}

async fn serve(
    state: &AppState,
    key: &ObjectKey,
    headers: &HeaderMap,
    cache: &'static str,
) -> Result<Response, ApiError> {
    let range = headers.get(header::RANGE);
    let (meta, full) = match range {
        // Without a Range header one request gives both the metadata and the bytes.
        None => {
            let got = state.files.get(key).await.map_err(read_failed)?;
            (got.meta.clone(), Some(got))
        }
        Some(_) => (state.files.head(key).await.map_err(read_failed)?, None),
    };
    let mut h = file_headers(&meta, cache);
    let etag = h
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let (Some(tag), Some(inm)) = (&etag, headers.get(header::IF_NONE_MATCH))
        && none_match(inm, tag)
    {
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(mime_of_ext(key.ext())),
    );
    let size = meta.size;
    let (status, body) = match (full, wanted(range, size)) {
        (Some(got), _) => (StatusCode::OK, Body::from_stream(got.into_stream())),
        (None, Wanted::Unsatisfiable) => return Ok(unsatisfiable(h, size)),
        (None, Wanted::All) => {
            let got = state.files.get(key).await.map_err(read_failed)?;
            (StatusCode::OK, Body::from_stream(got.into_stream()))
        }
        (None, Wanted::Part(a, b)) => return partial(state, key, h, (a, b), size).await,
    };
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    Ok((status, h, body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert!(none_match(&v("\"a\", \"b\""), "\"b\""));
        assert!(none_match(&v("W/\"b\""), "\"b\""));
        assert!(none_match(&v("*"), "\"b\""));
        assert!(!none_match(&v("\"c\""), "\"b\""));
        assert_eq!(quoted("abc"), "\"abc\"");
        assert_eq!(quoted("\"abc\""), "\"abc\"");
    }

    #[test]
    fn single_byte_ranges_are_honoured_and_others_served_whole() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(wanted(None, 10), Wanted::All);
        assert_eq!(wanted(Some(&v("bytes=0-3")), 10), Wanted::Part(0, 4));
        assert_eq!(wanted(Some(&v("bytes=4-")), 10), Wanted::Part(4, 10));
        assert_eq!(wanted(Some(&v("bytes=-3")), 10), Wanted::Part(7, 10));
        assert_eq!(wanted(Some(&v("bytes=5-100")), 10), Wanted::Part(5, 10));
        assert_eq!(wanted(Some(&v("bytes=10-")), 10), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some(&v("bytes=0-1,4-5")), 10), Wanted::All);
        assert_eq!(wanted(Some(&v("items=0-1")), 10), Wanted::All);
        assert_eq!(wanted(Some(&v("bytes=3-1")), 10), Wanted::All);
    }
}
