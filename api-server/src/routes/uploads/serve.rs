//! Serving stored files back: public media at `GET /uploads/{merchantId}/{name}` (names are 128
//! random bits, so URLs are unguessable; storefronts embed them cross-origin) and the caller's
//! private documents at `GET /api/merchant/uploads/private/{name}` (Bearer token).
//! Responses carry the sniffed `Content-Type`, `Content-Length`, `ETag` (304 on a match),
//! `Last-Modified`, `Cache-Control` and `X-Content-Type-Options: nosniff`.

use axum::{
    Router,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

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

async fn serve(
    state: &AppState,
    key: &ObjectKey,
    headers: &HeaderMap,
    cache: &'static str,
) -> Result<Response, ApiError> {
    let got = match state.files.get(key).await {
        Ok(g) => g,
        Err(object_store::Error::NotFound { .. }) => return Err(not_found()),
        Err(e) => {
            return Err(ApiError::Internal {
                message: "Failed to read file",
                source: Box::new(e),
            });
        }
    };
    let meta = got.meta.clone();
    let etag = meta.e_tag.as_deref().map(quoted);
    let mut common = HeaderMap::new();
    common.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    common.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(tag) = etag.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
        common.insert(header::ETAG, tag);
    }
    let modified = meta
        .last_modified
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    if let Ok(v) = HeaderValue::from_str(&modified) {
        common.insert(header::LAST_MODIFIED, v);
    }
    if cache == PUBLIC_CACHE {
        common.insert(
            "cross-origin-resource-policy",
            HeaderValue::from_static("cross-origin"),
        );
    }
    if let (Some(tag), Some(inm)) = (&etag, headers.get(header::IF_NONE_MATCH))
        && none_match(inm, tag)
    {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    common.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(mime_of_ext(key.ext())),
    );
    common.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.size));
    let body = Body::from_stream(got.into_stream());
    Ok((StatusCode::OK, common, body).into_response())
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
}
