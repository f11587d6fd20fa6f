//! Request parameters shared by the business-area routes: [`StrictQuery`] (unknown query keys are
//! a 400 naming each key, as the orders, cashback and notifications validators of contract §1.3
//! do), pages, limits and dates (ISO-8601 instants or `YYYY-MM-DD`) recorded as field errors on a
//! [`Validator`], and [`error_meta`], which adds the `meta.timestamp` those validators put on
//! their error bodies.

use std::collections::BTreeMap;

use axum::{
    body::Body,
    extract::{FromRequestParts, Request},
    http::{StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{
    error::{ApiError, FieldError},
    store::{DateTime, json::iso},
    validate::Validator,
};

/// Query parameters of a route that accepts only the keys it knows.
pub trait KnownKeys {
    /// The accepted keys.
    const KEYS: &'static [&'static str];
}

/// Query string deserialised into `T` after checking every key is in `T::KEYS`.
#[derive(Debug, Clone, Default)]
pub struct StrictQuery<T>(pub T);

fn query_error(errors: Vec<FieldError>) -> ApiError {
    ApiError::Validation {
        message: "Query validation failed",
        errors,
    }
}

impl<T: DeserializeOwned + KnownKeys, S: Send + Sync> FromRequestParts<S> for StrictQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = url_pairs(raw);
        let unknown: Vec<FieldError> = pairs
            .iter()
            .filter(|(k, _)| !T::KEYS.contains(&k.as_str()))
            .map(|(k, v)| {
                FieldError::new(
                    k.clone(),
                    format!("\"{k}\" is not allowed"),
                    Some(v.clone().into()),
                )
            })
            .collect();
        if !unknown.is_empty() {
            return Err(query_error(unknown));
        }
        let mut map: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in pairs {
            if map.insert(k.clone(), v).is_some() {
                return Err(query_error(vec![FieldError::new(
                    k.clone(),
                    format!("\"{k}\" must be given once"),
                    None,
                )]));
            }
        }
        let value = serde_json::to_value(map).unwrap_or_default();
        serde_json::from_value(value).map(StrictQuery).map_err(|e| {
            query_error(vec![FieldError {
                code: "malformed",
                ..FieldError::new("query", e.to_string(), None)
            }])
        })
    }
}

/// Decode `a=1&b=x%20y` into pairs (`+` is a space).
fn url_pairs(raw: &str) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{raw}").parse().unwrap_or_default(),
    )
    .map(|q| q.0)
    .unwrap_or_default()
}

/// A date query value: RFC 3339, or `YYYY-MM-DD` (the start of that day, or its last
/// millisecond when `end_of_day`).
pub fn parse_date(raw: &str, end_of_day: bool) -> Option<DateTime> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw.trim()) {
        return Some(DateTime::from_millis(t.timestamp_millis()));
    }
    let day = chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok()?;
    let start = day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
    Some(DateTime::from_millis(if end_of_day {
        start + 86_400_000 - 1
    } else {
        start
    }))
}

/// An integer query value within `[min, max]`, `default` when absent.
pub fn int(
    v: &mut Validator,
    field: &str,
    raw: Option<String>,
    min: i64,
    max: i64,
    default: i64,
) -> i64 {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return default;
    };
    match raw.trim().parse::<i64>() {
        Ok(n) => v.opt_int(field, Some(n), min, max).unwrap_or(default),
        Err(_) => {
            v.error(
                field,
                format!("\"{field}\" must be a number"),
                Some(raw.into()),
            );
            default
        }
    }
}

/// `(page, limit)` with the contract's bounds (page ≥ 1, limit 1..=100).
pub fn page_limit(
    v: &mut Validator,
    page: Option<String>,
    limit: Option<String>,
    default_limit: i64,
) -> (u64, i64) {
    let page = int(v, "page", page, 1, 1_000_000, 1) as u64;
    let limit = int(v, "limit", limit, 1, 100, default_limit);
    (page, limit)
}

/// An optional date query value.
pub fn date(
    v: &mut Validator,
    field: &str,
    raw: Option<String>,
    end_of_day: bool,
) -> Option<DateTime> {
    let raw = raw.filter(|r| !r.trim().is_empty())?;
    let parsed = parse_date(&raw, end_of_day);
    if parsed.is_none() {
        v.error(
            field,
            format!("\"{field}\" must be in ISO 8601 date format"),
            Some(raw.into()),
        );
    }
    parsed
}

/// `startDate` and `endDate` (the end inclusive to the end of its day), each optional; bad
/// values become field errors on `v`.
pub fn date_range(
    v: &mut Validator,
    start: Option<String>,
    end: Option<String>,
) -> (Option<DateTime>, Option<DateTime>) {
    (
        date(v, "startDate", start, false),
        date(v, "endDate", end, true),
    )
}

/// [`date_range`] with the missing bounds defaulted to the last `days` days up to now.
pub fn date_range_or_last(
    v: &mut Validator,
    start: Option<String>,
    end: Option<String>,
    days: i64,
) -> (DateTime, DateTime) {
    let (start, end) = date_range(v, start, end);
    (
        start.unwrap_or_else(|| days_ago(days)),
        end.unwrap_or_else(DateTime::now),
    )
}

/// `now - days`.
pub fn days_ago(days: i64) -> DateTime {
    DateTime::from_millis(DateTime::now().timestamp_millis() - days * 86_400_000)
}

/// `YYYY-MM-DD` (UTC) of an instant.
pub fn day(dt: DateTime) -> String {
    chrono::TimeZone::timestamp_millis_opt(&chrono::Utc, dt.timestamp_millis())
        .single()
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Just enough of a JSON body to recognise the error envelope (other keys are ignored).
#[derive(Deserialize)]
struct Outcome {
    success: bool,
}

/// The `meta` added to an error body.
#[derive(Serialize)]
struct Meta {
    timestamp: String,
}

/// `body` (a JSON object) with `"meta": meta` added as its last key.
fn with_meta(body: &[u8], meta: &Meta) -> Option<Vec<u8>> {
    let end = body.iter().rposition(|b| *b == b'}')?;
    let meta = serde_json::to_vec(meta).ok()?;
    let mut out = Vec::with_capacity(body.len() + meta.len() + 8);
    out.extend_from_slice(&body[..end]);
    out.extend_from_slice(b",\"meta\":");
    out.extend_from_slice(&meta);
    out.extend_from_slice(&body[end..]);
    Some(out)
}

/// Add `meta: {timestamp}` to JSON error bodies (`{success:false, …}`), except rate-limit ones.
pub async fn error_meta(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (status, "").into_response();
    };
    let is_error = serde_json::from_slice::<Outcome>(&bytes).is_ok_and(|o| !o.success);
    let meta = Meta {
        timestamp: iso(DateTime::now()),
    };
    let body = match is_error.then(|| with_meta(&bytes, &meta)).flatten() {
        Some(body) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            body
        }
        None => bytes.to_vec(),
    };
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_or_whole_days() {
        assert_eq!(
            parse_date("2026-01-02", false).map(|d| d.timestamp_millis()),
            Some(1_767_312_000_000)
        );
        assert_eq!(
            parse_date("2026-01-02", true).map(|d| d.timestamp_millis()),
            Some(1_767_398_399_999)
        );
        assert!(parse_date("2026-01-02T03:04:05.000Z", false).is_some());
        assert!(parse_date("yesterday", false).is_none());
    }

    #[test]
    fn meta_is_added_as_the_last_key_of_the_error_object() {
        let meta = Meta {
            timestamp: "2026-01-02T03:04:05.000Z".into(),
        };
        let body = br#"{"success":false,"message":"x","errors":[{"field":"a"}]}"#;
        let out = with_meta(body, &meta).expect("object");
        let parsed: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(
            parsed,
            serde_json::json!({
                "success": false, "message": "x", "errors": [{ "field": "a" }],
                "meta": { "timestamp": "2026-01-02T03:04:05.000Z" },
            })
        );
        assert!(serde_json::from_slice::<Outcome>(b"[1]").is_err());
        assert!(serde_json::from_slice::<Outcome>(br#"{"success":"no"}"#).is_err());
    }

    #[test]
    fn pairs_are_percent_decoded() {
        assert_eq!(
            url_pairs("search=a%20b&x=1+2"),
            vec![("search".into(), "a b".into()), ("x".into(), "1 2".into())]
        );
    }
}
