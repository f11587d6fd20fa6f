//! Analytics query parameters: the date range (explicit dates or a preset, contract §2.10),
//! bounded numbers, and the store every analytics read is scoped to.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::types::ReportRange;
use crate::{
    error::ApiError,
    extract::AuthMerchant,
    state::AppState,
    store::{ObjectId, analytics::Scope},
};

/// Presets accepted by `preset` / `period`.
pub const PRESETS: [&str; 11] = [
    "7d",
    "14d",
    "30d",
    "90d",
    "1y",
    "today",
    "yesterday",
    "week",
    "month",
    "quarter",
    "year",
];

/// Query parameters shared by the analytics routes (each route reads the ones it documents;
/// unknown keys are ignored). Serialised, it is the cache key of a result.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// An owned store (default: the merchant's first store).
    pub store_id: Option<String>,
    /// Range start (ISO date or date-time); needs `endDate`.
    pub start_date: Option<String>,
    /// Range end (a date includes the whole day).
    pub end_date: Option<String>,
    /// 7d|14d|30d|90d|1y|today|yesterday|week|month|quarter|year (default 30d).
    pub preset: Option<String>,
    /// Same as `preset`, except on `/sales/trends` where it is daily|weekly|monthly.
    pub period: Option<String>,
    /// Trends: days of history (default 30). Forecast: days ahead (default 7).
    pub days: Option<String>,
    /// Forecast: days ahead (alias of `days`).
    pub forecast_days: Option<String>,
    /// Rows to return.
    pub limit: Option<String>,
    /// Page (customers list).
    pub page: Option<String>,
    /// revenue|quantity.
    pub sort_by: Option<String>,
    /// Seasonal: monthly|weekly|daily.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Seasonal: revenue|orders.
    pub data_type: Option<String>,
}

/// A resolved `[start, end)` range in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// Inclusive.
    pub start: DateTime<Utc>,
    /// Exclusive.
    pub end: DateTime<Utc>,
}

impl DateRange {
    /// The range of the same length just before this one.
    pub fn previous(&self) -> Self {
        let len = self.end - self.start;
        Self {
            start: self.start - len,
            end: self.start,
        }
    }

    /// The order scope of this range in a store.
    pub fn scope(&self, store: ObjectId) -> Scope {
        Scope {
            shop: store,
            start: bson_date(self.start),
            end: bson_date(self.end),
        }
    }

    /// Calendar days the range touches, oldest first.
    pub fn days(&self) -> Vec<NaiveDate> {
        let mut days = Vec::new();
        let mut day = self.start.date_naive();
        let last = (self.end - Duration::milliseconds(1)).date_naive();
        while day <= last && days.len() < 3700 {
            days.push(day);
            day += Duration::days(1);
        }
        days
    }

    /// `{start, end}` as ISO strings.
    pub fn view(&self) -> ReportRange {
        ReportRange {
            start: iso(self.start),
            end: iso(self.end),
        }
    }
}

/// A chrono instant as a stored date.
pub fn bson_date(t: DateTime<Utc>) -> crate::store::DateTime {
    crate::store::DateTime::from_millis(t.timestamp_millis())
}

/// ISO-8601 with milliseconds and `Z` (contract §1.4).
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN))
}

fn bad(field: &str, text: String) -> ApiError {
    ApiError::field("Query validation failed", field, text)
}

/// The range a preset names, ending `now`.
pub fn preset_range(preset: &str, now: DateTime<Utc>) -> Option<DateRange> {
    let today = midnight(now.date_naive());
    let days = |n| Some(now - Duration::days(n));
    let start = match preset {
        "7d" => days(7),
        "14d" => days(14),
        "30d" => days(30),
        "90d" => days(90),
        "1y" => days(365),
        "today" => Some(today),
        "yesterday" => {
            return Some(DateRange {
                start: today - Duration::days(1),
                end: today,
            });
        }
        "week" => Some(today - Duration::days(i64::from(now.weekday().num_days_from_monday()))),
        "month" => now.date_naive().with_day(1).map(midnight),
        "quarter" => {
            NaiveDate::from_ymd_opt(now.year(), (now.month0() / 3) * 3 + 1, 1).map(midnight)
        }
        "year" => NaiveDate::from_ymd_opt(now.year(), 1, 1).map(midnight),
        _ => None,
    }?;
    Some(DateRange { start, end: now })
}

fn parse_instant(field: &str, raw: &str, end: bool) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        // A bare end date includes that whole day.
        Ok(d) if end => Ok(midnight(d) + Duration::days(1)),
        Ok(d) => Ok(midnight(d)),
        Err(_) => Err(bad(field, format!("\"{field}\" must be a valid ISO date"))),
    }
}

impl AnalyticsQuery {
    /// The date range: `startDate`+`endDate`, else `preset` (or `period` when `period_is_preset`),
    /// else `default` (a preset).
    pub fn range(
        &self,
        now: DateTime<Utc>,
        period_is_preset: bool,
        default: &str,
    ) -> Result<DateRange, ApiError> {
        match (&self.start_date, &self.end_date) {
            (Some(s), Some(e)) => {
                let range = DateRange {
                    start: parse_instant("startDate", s, false)?,
                    end: parse_instant("endDate", e, true)?,
                };
                if range.end <= range.start {
                    return Err(bad(
                        "endDate",
                        "\"endDate\" must be after \"startDate\"".into(),
                    ));
                }
                Ok(range)
            }
            (Some(_), None) => Err(bad(
                "endDate",
                "\"endDate\" is required with \"startDate\"".into(),
            )),
            (None, Some(_)) => Err(bad(
                "startDate",
                "\"startDate\" is required with \"endDate\"".into(),
            )),
            (None, None) => {
                let (field, preset) = match (&self.preset, &self.period) {
                    (Some(p), _) => ("preset", p.as_str()),
                    (None, Some(p)) if period_is_preset => ("period", p.as_str()),
                    _ => ("preset", default),
                };
                preset_range(preset, now).ok_or_else(|| {
                    bad(
                        field,
                        format!("\"{field}\" must be one of [{}]", PRESETS.join(", ")),
                    )
                })
            }
        }
    }

    /// `limit` in `1..=max` (default `default`).
    pub fn limit(&self, default: i64, max: i64) -> Result<i64, ApiError> {
        int_in("limit", self.limit.as_deref(), default, 1, max)
    }

    /// `sortBy` revenue (default) | quantity: true for quantity.
    pub fn by_quantity(&self) -> Result<bool, ApiError> {
        one_of("sortBy", self.sort_by.as_deref(), &["revenue", "quantity"])
            .map(|v| v == Some("quantity"))
    }
}

/// An optional integer parameter in `min..=max`.
pub fn int_in(
    field: &str,
    raw: Option<&str>,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ApiError> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(_) => Err(bad(
            field,
            format!("\"{field}\" must be between {min} and {max}"),
        )),
        Err(_) => Err(bad(field, format!("\"{field}\" must be an integer"))),
    }
}

/// An optional parameter from a fixed list.
pub fn one_of<'a>(
    field: &str,
    raw: Option<&'a str>,
    allowed: &[&str],
) -> Result<Option<&'a str>, ApiError> {
    match raw {
        None => Ok(None),
        Some(v) if allowed.contains(&v) => Ok(Some(v)),
        Some(_) => Err(bad(
            field,
            format!("\"{field}\" must be one of [{}]", allowed.join(", ")),
        )),
    }
}

/// The store analytics read: `storeId` when the caller owns it (403 otherwise), else the
/// merchant's first store (404 when it has none).
pub async fn resolve_shop(
    state: &AppState,
    auth: &AuthMerchant,
    store_id: Option<&str>,
) -> Result<ObjectId, ApiError> {
    let forbidden =
        || ApiError::Forbidden("Store not found or you do not have access to this store".into());
    let found = match store_id.filter(|s| !s.is_empty()) {
        Some(raw) => {
            let id = ObjectId::parse_str(raw).map_err(|_| forbidden())?;
            let store = state.store.owned_shop(auth.id(), id).await;
            return store
                .map_err(ApiError::internal("Failed to resolve store"))?
                .map(|s| s.id)
                .ok_or_else(forbidden);
        }
        None => state.store.default_shop(auth.id()).await,
    };
    found
        .map_err(ApiError::internal("Failed to resolve store"))?
        .map(|s| s.id)
        .ok_or_else(|| ApiError::NotFound("Store not found for merchant".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("date")
            .with_timezone(&Utc)
    }

    #[test]
    fn presets_resolve_against_now() {
        let now = at("2026-11-25T12:30:00Z"); // a Wednesday
        let r = |p| preset_range(p, now).expect(p);
        assert_eq!(r("7d").start, at("2026-11-18T12:30:00Z"));
        assert_eq!(r("today").start, at("2026-11-25T00:00:00Z"));
        assert_eq!(
            r("yesterday"),
            DateRange {
                start: at("2026-11-24T00:00:00Z"),
                end: at("2026-11-25T00:00:00Z")
            }
        );
        assert_eq!(r("week").start, at("2026-11-23T00:00:00Z"));
        assert_eq!(r("month").start, at("2026-11-01T00:00:00Z"));
        assert_eq!(r("quarter").start, at("2026-10-01T00:00:00Z"));
        assert_eq!(r("year").start, at("2026-01-01T00:00:00Z"));
        assert!(preset_range("2w", now).is_none());
    }

    #[test]
    fn explicit_dates_include_the_end_day_and_must_be_ordered() {
        let q = AnalyticsQuery {
            start_date: Some("2026-11-01".into()),
            end_date: Some("2026-11-02".into()),
            ..Default::default()
        };
        let r = q.range(Utc::now(), true, "30d").expect("range");
        assert_eq!(
            (r.start, r.end),
            (at("2026-11-01T00:00:00Z"), at("2026-11-03T00:00:00Z"))
        );
        assert_eq!(r.days().len(), 2);
        let q = AnalyticsQuery {
            start_date: Some("2026-11-05".into()),
            end_date: Some("2026-11-01".into()),
            ..Default::default()
        };
        assert!(q.range(Utc::now(), true, "30d").is_err());
        let q = AnalyticsQuery {
            preset: Some("fortnight".into()),
            ..Default::default()
        };
        assert!(q.range(Utc::now(), true, "30d").is_err());
    }
}
