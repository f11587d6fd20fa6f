//! Query-parameter parsing shared by the team, cashback and audit views: pages, limits and
//! dates (ISO-8601 instants or `YYYY-MM-DD`), each recorded as a field error on a [`Validator`].

use chrono::{DateTime as ChronoDateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::{store::DateTime, validate::Validator};

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
                Some(Value::String(raw)),
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

/// Parse an instant: RFC 3339 or a calendar date. `end_of_day` makes a bare date inclusive.
pub fn parse_date(raw: &str, end_of_day: bool) -> Option<DateTime> {
    let raw = raw.trim();
    if let Ok(dt) = ChronoDateTime::parse_from_rfc3339(raw) {
        return Some(DateTime::from_millis(
            dt.with_timezone(&Utc).timestamp_millis(),
        ));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    let time = if end_of_day {
        day.and_hms_milli_opt(23, 59, 59, 999)?
    } else {
        day.and_hms_opt(0, 0, 0)?
    };
    Some(DateTime::from_millis(time.and_utc().timestamp_millis()))
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
            format!("\"{field}\" must be a valid date"),
            Some(Value::String(raw)),
        );
    }
    parsed
}

/// `now - days`.
pub fn days_ago(days: i64) -> DateTime {
    DateTime::from_millis(DateTime::now().timestamp_millis() - days * 86_400_000)
}

/// `YYYY-MM-DD` (UTC) of an instant.
pub fn day(dt: DateTime) -> String {
    chrono::TimeZone::timestamp_millis_opt(&Utc, dt.timestamp_millis())
        .single()
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Escape regex metacharacters of user text for a `$regex` match.
pub fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_accept_instants_and_days_with_an_inclusive_end() {
        let start = parse_date("2026-01-02", false).map(DateTime::timestamp_millis);
        let end = parse_date("2026-01-02", true).map(DateTime::timestamp_millis);
        assert_eq!(end.zip(start).map(|(e, s)| e - s), Some(86_399_999));
        assert!(parse_date("2026-01-02T03:04:05Z", false).is_some());
        assert!(parse_date("yesterday", false).is_none());
    }

    #[test]
    fn regex_text_is_escaped() {
        assert_eq!(regex_escape("a.b*"), "a\\.b\\*");
    }
}
