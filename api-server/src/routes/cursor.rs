//! Cursor pagination, opt-in on every list (`docs/api.md`, "Cursor pagination"): the
//! `cursor` and `includeTotal` query parameters ([`Paging`]), the opaque signed cursor tokens
//! and the RFC 8288 `Link` header. A request with neither parameter is the contract's
//! `page`/`limit` list, unchanged. The MongoDB side (keyset filter, sort, count) is
//! `store::keyset`; this module does not query.
//!
//! A cursor is `base64url(BSON {v: last sort value, i: last _id, f: filter tag} ‖ MAC)`, the MAC
//! being HMAC-SHA256 (truncated to 128 bits) over the merchant id, the list's path and the
//! BSON, under a key derived from `JWT_MERCHANT_SECRET`. The filter tag is the first 8 bytes of
//! a SHA-256 over the request's other query parameters except `page` and `limit`, so a cursor
//! continues only the list (merchant, route, filters, sort) that issued it; `limit` may change
//! between pages.

use axum::{
    extract::{FromRequestParts, OriginalUri},
    http::request::Parts,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::Mac;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::IntoParams;

use crate::{
    security::cursor_key::CursorKey,
    store::{
        ObjectId,
        keyset::{Listing, Position, Window},
    },
    validate::Validator,
};

/// The query parameters that control paging, never part of a cursor's filter binding.
const PAGING_KEYS: &[&str] = &["cursor", "includeTotal", "page", "limit"];

/// The `cursor` value that starts a walk (an empty `cursor=` does too).
pub const FIRST: &str = "first";

/// Bytes of the truncated MAC at the end of a cursor.
const MAC_LEN: usize = 16;

/// Bytes of the filter tag inside a cursor.
const TAG_LEN: usize = 8;

/// The paging parameters every list accepts (documented here for the OpenAPI document;
/// [`Paging`] reads them).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct CursorParams {
    /// Cursor pagination: `first` (or empty) starts at the top of the list, then pass each
    /// response's `nextCursor`. Keep the other query parameters as they were (only `limit`
    /// may change). Not with `page`.
    pub cursor: Option<String>,
    /// `false` skips counting the matches (the total keys are then left out). Default `true`.
    pub include_total: Option<String>,
}

/// How one list request wants its items: the contract's pages, or a cursor walk.
#[derive(Debug, Clone)]
pub struct Paging {
    cursor: Option<String>,
    include_total: Option<String>,
    page_given: bool,
    /// The request's path (as the client sent it, before routers nest).
    path: String,
    /// The other query parameters, in order (kept in `Link` URLs).
    kept: Vec<(String, String)>,
    /// SHA-256 of the sorted filter and sort parameters.
    binding: [u8; 32],
}

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(&parts.uri, |o| &o.0);
        let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map(|q| q.0)
            .unwrap_or_default();
        Ok(Self::new(uri.path(), pairs))
    }
}

impl Paging {
    fn new(path: &str, pairs: Vec<(String, String)>) -> Self {
        let find = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let mut bound: Vec<&(String, String)> = pairs
            .iter()
            .filter(|(k, _)| !PAGING_KEYS.contains(&k.as_str()))
            .collect();
        bound.sort();
        let mut hash = Sha256::new();
        for (k, v) in bound {
            // Length-prefixed, so `a=b&c` and `a=b%26c` differ.
            for part in [k, v] {
                hash.update((part.len() as u64).to_be_bytes());
                hash.update(part.as_bytes());
            }
        }
        Self {
            cursor: find("cursor"),
            include_total: find("includeTotal"),
            page_given: pairs.iter().any(|(k, _)| k == "page"),
            path: path.to_string(),
            kept: pairs
                .iter()
                .filter(|(k, _)| k != "cursor" && k != "page")
                .cloned()
                .collect(),
            binding: hash.finalize().into(),
        }
    }

    /// True when the request walks by cursor.
    pub fn is_cursor(&self) -> bool {
        self.cursor.is_some()
    }

    /// The window to read (`page` in page mode) and whether to count; problems with `cursor`,
    /// `includeTotal` or `page` are recorded on `v` as field errors.
    pub fn window(
        &self,
        v: &mut Validator,
        key: &CursorKey,
        merchant: ObjectId,
        page: u64,
    ) -> (Window, bool) {
        let count = v.one_of(
            "includeTotal",
            self.include_total.clone(),
            &["true", "false"],
        ) != Some("false");
        let Some(cursor) = self.cursor.as_deref().map(str::trim) else {
            return (Window::Page(page), count);
        };
        if self.page_given {
            v.error(
                "page",
                "\"page\" is not allowed together with \"cursor\"",
                None,
            );
        }
        if cursor.is_empty() || cursor == FIRST {
            return (Window::After(None), count);
        }
        match self.open(key, merchant, cursor) {
            Ok(position) => (Window::After(Some(position)), count),
            Err(message) => {
                v.error("cursor", message, Some(cursor.into()));
                (Window::After(None), count)
            }
        }
    }

    /// The position a cursor holds, or why it is refused.
    fn open(
        &self,
        key: &CursorKey,
        merchant: ObjectId,
        cursor: &str,
    ) -> Result<Position, &'static str> {
        const INVALID: &str = "\"cursor\" is not a cursor this server issued for this list";
        let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| INVALID)?;
        if raw.len() <= MAC_LEN {
            return Err(INVALID);
        }
        let (payload, tag) = raw.split_at(raw.len() - MAC_LEN);
        key.mac(merchant, &self.path, payload)
            .verify_truncated_left(tag)
            .map_err(|_| INVALID)?;
        // Signed by us for this merchant and route: what remains is whether the filters match.
        let (position, filter) = Position::from_bytes(payload).ok_or(INVALID)?;
        if filter != self.binding[..TAG_LEN] {
            return Err(
                "\"cursor\" was issued for different filters or sort; send the same query parameters (only limit may change)",
            );
        }
        Ok(position)
    }

    /// The cursor continuing after `position`.
    fn seal(&self, key: &CursorKey, merchant: ObjectId, position: &Position) -> String {
        let mut raw = position.to_bytes(&self.binding[..TAG_LEN]);
        let tag = key.mac(merchant, &self.path, &raw).finalize().into_bytes();
        raw.extend_from_slice(&tag[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// What a cursor-mode response adds after reading `listing`: `nextCursor` (null at the
    /// end) and the `Link` header. A page-mode request gets neither.
    pub fn continuation<T>(
        &self,
        key: &CursorKey,
        merchant: ObjectId,
        listing: &Listing<T>,
    ) -> Continuation {
        if !self.is_cursor() {
            return Continuation::default();
        }
        let next = listing
            .last
            .as_ref()
            .filter(|_| listing.more)
            .map(|p| self.seal(key, merchant, p));
        let mut links = Vec::new();
        if let Some(next) = &next {
            links.push(format!("<{}>; rel=\"next\"", self.url(next)));
        }
        links.push(format!("<{}>; rel=\"first\"", self.url(FIRST)));
        Continuation {
            next_cursor: Some(next),
            link: Some(links.join(", ")),
        }
    }

    /// This list's URL (path-absolute) with `cursor`.
    fn url(&self, cursor: &str) -> String {
        const QUERY: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'_')
            .remove(b'.')
            .remove(b'~');
        let mut url = self.path.clone();
        let mut sep = '?';
        let pairs = self
            .kept
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(std::iter::once(("cursor", cursor)));
        for (k, v) in pairs {
            url.push(sep);
            url.push_str(&utf8_percent_encode(k, QUERY).to_string());
            url.push('=');
            url.push_str(&utf8_percent_encode(v, QUERY).to_string());
            sep = '&';
        }
        url
    }
}

/// The cursor a list at `path` (with the filter and sort parameters `query`) would issue after
/// `position` for `merchant`: how a benchmark starts a walk deep in a list without walking to
/// it (`examples/bench_cursor.rs`). Anyone holding the key can mint cursors; it never leaves
/// the server.
pub fn issue(
    key: &CursorKey,
    merchant: ObjectId,
    path: &str,
    query: &[(&str, &str)],
    position: &Position,
) -> String {
    let pairs = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Paging::new(path, pairs).seal(key, merchant, position)
}

/// Where a list response stands, derived once for every list (each names the keys its own
/// way): `page` is left out in cursor mode, the totals with `includeTotal=false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The 1-based page (page mode only).
    pub page: Option<u64>,
    /// Matching items over all pages (when counted).
    pub total: Option<u64>,
    /// Number of pages (when counted).
    pub pages: Option<u64>,
    /// A later page or window exists.
    pub has_next: bool,
    /// An earlier page or window exists.
    pub has_previous: bool,
}

impl Standing {
    /// The standing of `window` (of `limit` items) after reading `listing`.
    pub fn of<T>(window: &Window, limit: u64, listing: &Listing<T>) -> Self {
        let pages = listing.total.map(|t| t.div_ceil(limit));
        let (page, has_next, has_previous) = match window {
            Window::Page(n) => (
                Some(*n),
                pages.map_or(listing.more, |pages| *n < pages),
                *n > 1,
            ),
            Window::After(after) => (None, listing.more, after.is_some()),
        };
        Self {
            page,
            total: listing.total,
            pages,
            has_next,
            has_previous,
        }
    }
}

/// The cursor-mode additions to a list response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Continuation {
    /// `None` in page mode (no key); `Some(None)` at the end of a walk (`nextCursor: null`).
    pub next_cursor: Option<Option<String>>,
    /// The `Link` header value.
    pub link: Option<String>,
}

#[cfg(test)]
mod tests {
    use mongodb::bson::Bson;

    use super::*;

    fn paging(query: &[(&str, &str)]) -> Paging {
        Paging::new(
            "/api/merchant/products",
            query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn position() -> Position {
        Position {
            value: Bson::DateTime(mongodb::bson::DateTime::from_millis(1_767_312_000_000)),
            id: ObjectId::new(),
        }
    }

    #[test]
    fn a_sealed_cursor_opens_to_its_position_under_the_same_binding_only() {
        let key = CursorKey::derive(b"a-secret-of-at-least-thirty-two-bytes!!");
        let merchant = ObjectId::new();
        let p = position();
        let first = paging(&[("sortBy", "name"), ("cursor", "first"), ("limit", "5")]);
        let cursor = first.seal(&key, merchant, &p);
        // Parameter order and `limit` do not matter; the filters do.
        let same = paging(&[("limit", "50"), ("cursor", &cursor), ("sortBy", "name")]);
        assert_eq!(same.open(&key, merchant, &cursor), Ok(p.clone()));
        let other_filter = paging(&[("sortBy", "price"), ("cursor", &cursor)]);
        assert!(
            other_filter
                .open(&key, merchant, &cursor)
                .expect_err("other filters")
                .contains("different filters")
        );
        assert!(
            same.open(&key, ObjectId::new(), &cursor)
                .expect_err("other merchant")
                .contains("not a cursor")
        );
        let other_key = CursorKey::derive(b"another-secret-of-thirty-two-bytes!!!!");
        assert!(same.open(&other_key, merchant, &cursor).is_err());
        let mut tampered = URL_SAFE_NO_PAD.decode(&cursor).expect("base64");
        tampered[10] ^= 1;
        assert!(
            same.open(&key, merchant, &URL_SAFE_NO_PAD.encode(tampered))
                .is_err()
        );
        assert!(same.open(&key, merchant, "!!garbage!!").is_err());
    }

    #[test]
    fn links_keep_the_filters_and_replace_the_cursor() {
        let key = CursorKey::derive(b"k");
        let walk = paging(&[("query", "a b&c"), ("cursor", "first"), ("limit", "2")]);
        let listing = Listing::<()> {
            items: vec![],
            total: None,
            more: true,
            last: Some(position()),
        };
        let c = walk.continuation(&key, ObjectId::new(), &listing);
        let next = c.next_cursor.clone().flatten().expect("more follow");
        assert_eq!(
            c.link.as_deref(),
            Some(
                format!(
                    "</api/merchant/products?query=a%20b%26c&limit=2&cursor={next}>; rel=\"next\", \
                     </api/merchant/products?query=a%20b%26c&limit=2&cursor=first>; rel=\"first\""
                )
                .as_str()
            )
        );
        let end = Listing {
            more: false,
            ..listing
        };
        assert_eq!(
            walk.continuation(&key, ObjectId::new(), &end).next_cursor,
            Some(None)
        );
        let page = paging(&[("page", "2")]);
        assert_eq!(
            page.continuation(&key, ObjectId::new(), &end),
            Continuation::default()
        );
    }

    fn listing(total: Option<u64>, more: bool) -> Listing<()> {
        Listing {
            items: Vec::new(),
            total,
            more,
            last: None,
        }
    }

    #[test]
    fn a_standing_counts_pages_when_counted_and_follows_the_read_otherwise() {
        let counted = Standing::of(&Window::Page(2), 20, &listing(Some(45), true));
        assert_eq!(
            counted,
            Standing {
                page: Some(2),
                total: Some(45),
                pages: Some(3),
                has_next: true,
                has_previous: true,
            }
        );
        let last = Standing::of(&Window::Page(3), 20, &listing(Some(45), false));
        assert!(!last.has_next);
        let uncounted = Standing::of(&Window::Page(1), 20, &listing(None, true));
        assert_eq!((uncounted.total, uncounted.pages), (None, None));
        assert!(uncounted.has_next && !uncounted.has_previous);
        let first = Standing::of(&Window::After(None), 20, &listing(None, true));
        assert_eq!(first.page, None, "no page in cursor mode");
        assert!(first.has_next && !first.has_previous);
        let later = Standing::of(
            &Window::After(Some(Position {
                value: Bson::Null,
                id: ObjectId::new(),
            })),
            20,
            &listing(None, false),
        );
        assert!(!later.has_next && later.has_previous);
    }
}
