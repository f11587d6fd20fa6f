//! Conditional requests (RFC 9110 §13) on documents with a `revision`: a strong `ETag` per
//! version, `If-None-Match` on reads (304 when the client's copy is current) and `If-Match` on
//! writes (412 naming the current revision, so a client never overwrites a change it has not
//! seen). Opt-in: without the headers nothing changes.

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};
use mongodb::bson::{Document, doc};
use serde_json::{Map, json};

use crate::{
    error::ApiError,
    store::{
        DateTime,
        products::{ProductDoc, REVISION},
    },
};

/// One version of a document: its revision and the `updatedAt` of the write that made it (so a
/// write by another service that does not count revisions still changes the version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// Writes of this service so far (0: none yet).
    pub revision: i64,
    /// When it was last written.
    pub updated_at: DateTime,
}

impl Version {
    /// The version of a product as read.
    pub fn of(p: &ProductDoc) -> Self {
        Self {
            revision: p.revision,
            updated_at: p.updated_at,
        }
    }

    /// The strong entity tag (opaque to clients).
    pub fn etag(&self) -> String {
        format!(
            "\"{}-{}\"",
            self.revision,
            self.updated_at.timestamp_millis()
        )
    }

    /// The filter that matches the document only while it is at this version.
    pub fn filter(&self) -> Document {
        let revision = match self.revision {
            // Written before revisions existed: the field is absent.
            0 => doc! { REVISION: { "$exists": false } },
            r => doc! { REVISION: r },
        };
        let mut f = revision;
        f.insert("updatedAt", self.updated_at);
        f
    }
}

/// The entity tags listed in a conditional header (`*` stays `*`), weak prefixes removed.
fn tags(value: &HeaderValue) -> Vec<&str> {
    value
        .to_str()
        .unwrap_or_default()
        .split(',')
        .map(|t| t.trim())
        .map(|t| t.strip_prefix("W/").unwrap_or(t))
        .filter(|t| !t.is_empty())
        .collect()
}

/// `If-None-Match` names the current version (or `*`): the client's copy is current.
pub fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| tags(v).iter().any(|t| *t == "*" || *t == etag))
}

/// The 304 answer: no body, the tag the client already holds.
pub fn not_modified_response(etag: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    if let Ok(v) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// Check `If-Match` against the current version: `Ok(true)` when it was sent and matches (the
/// write must then apply only at that version), `Ok(false)` when absent, 412 otherwise. Weak
/// tags never match (strong comparison).
pub fn require_match(headers: &HeaderMap, current: &Version) -> Result<bool, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(false);
    };
    let etag = current.etag();
    let text = value.to_str().unwrap_or_default();
    let matches = text
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == etag);
    if matches {
        Ok(true)
    } else {
        Err(precondition_failed(current))
    }
}

/// 412: the document moved on; the body names the version it is at now.
pub fn precondition_failed(current: &Version) -> ApiError {
    let mut extra = Map::new();
    extra.insert("currentRevision".into(), json!(current.revision));
    extra.insert("etag".into(), json!(current.etag()));
    ApiError::Protocol {
        status: StatusCode::PRECONDITION_FAILED,
        code: "PRECONDITION_FAILED",
        message: "The resource was changed since the If-Match version; read it again and retry"
            .into(),
        extra: Some(extra),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(revision: i64) -> Version {
        Version {
            revision,
            updated_at: DateTime::from_millis(1_000),
        }
    }

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).expect("header"));
        h
    }

    #[test]
    fn if_none_match_compares_weakly_and_accepts_a_list_or_star() {
        let tag = version(3).etag();
        assert_eq!(tag, "\"3-1000\"");
        assert!(not_modified(&headers(header::IF_NONE_MATCH, &tag), &tag));
        assert!(not_modified(
            &headers(header::IF_NONE_MATCH, "\"x\", W/\"3-1000\""),
            &tag
        ));
        assert!(not_modified(&headers(header::IF_NONE_MATCH, "*"), &tag));
        assert!(!not_modified(
            &headers(header::IF_NONE_MATCH, "\"2-1000\""),
            &tag
        ));
        assert!(!not_modified(&HeaderMap::new(), &tag));
    }

    #[test]
    fn if_match_compares_strongly_and_names_the_current_revision() {
        let v = version(3);
        assert_eq!(require_match(&HeaderMap::new(), &v).ok(), Some(false));
        assert_eq!(
            require_match(&headers(header::IF_MATCH, &v.etag()), &v).ok(),
            Some(true)
        );
        assert_eq!(
            require_match(&headers(header::IF_MATCH, "*"), &v).ok(),
            Some(true)
        );
        let weak = format!("W/{}", v.etag());
        let Err(e) = require_match(&headers(header::IF_MATCH, &weak), &v) else {
            panic!("a weak tag must not match");
        };
        assert_eq!(e.code(), "PRECONDITION_FAILED");
        assert_eq!(e.status_code(), StatusCode::PRECONDITION_FAILED);
    }

    #[test]
    fn a_version_before_revisions_filters_on_the_missing_field() {
        let f = version(0).filter();
        assert_eq!(
            f.get_document(REVISION).ok(),
            Some(&doc! { "$exists": false })
        );
        assert_eq!(version(4).filter().get_i64(REVISION).ok(), Some(4));
    }
}
