//! Zero-filled sales series: daily rows from the server bucketed into days, ISO weeks
//! (keyed by their Monday) or months, oldest first.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};

use super::{cards::round2, types::SalesPoint};
use crate::store::order_analytics::{Interval, PeriodRow};

/// The bucket key of a day.
fn key(day: NaiveDate, interval: Interval) -> String {
    match interval {
        Interval::Day => day.format("%Y-%m-%d").to_string(),
        Interval::Week => {
            let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
            monday.format("%Y-%m-%d").to_string()
        }
        Interval::Month => day.format("%Y-%m").to_string(),
    }
}

/// One entry per bucket touching the `days` days ending `today`, zero where nothing sold.
pub fn zero_filled(
    rows: &[PeriodRow],
    today: NaiveDate,
    days: i64,
    interval: Interval,
) -> Vec<SalesPoint> {
    let mut buckets: BTreeMap<String, (f64, i64, i64)> = BTreeMap::new();
    for offset in (0..days).rev() {
        buckets
            .entry(key(today - Duration::days(offset), interval))
            .or_default();
    }
    for r in rows {
        let Ok(day) = NaiveDate::parse_from_str(&r.date, "%Y-%m-%d") else {
            continue;
        };
        if let Some(b) = buckets.get_mut(&key(day, interval)) {
            b.0 += r.revenue;
            b.1 += r.orders;
            b.2 += r.items;
        }
    }
    buckets
        .into_iter()
        .map(|(date, (revenue, orders, items))| SalesPoint {
            date,
            revenue: round2(revenue),
            orders,
            items,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(date: &str, revenue: f64) -> SalesPoint {
        SalesPoint {
            date: date.into(),
            revenue,
            orders: 1,
            items: 2,
        }
    }

    fn row(date: &str, revenue: f64) -> PeriodRow {
        PeriodRow {
            date: date.into(),
            orders: 1,
            revenue,
            items: 2,
        }
    }

    #[test]
    fn days_are_zero_filled_oldest_first() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap_or_default();
        let s = zero_filled(&[row("2026-03-09", 5.0)], today, 7, Interval::Day);
        assert_eq!(s.len(), 7);
        assert_eq!(s[0].date, "2026-03-04");
        assert_eq!(s[5], point("2026-03-09", 5.0));
        assert_eq!(s[6].orders, 0);
    }

    #[test]
    fn weeks_are_keyed_by_monday_and_months_by_month() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap_or_default(); // a Tuesday
        let s = zero_filled(
            &[row("2026-03-03", 1.0), row("2026-03-05", 2.0)],
            today,
            14,
            Interval::Week,
        );
        let keys: Vec<_> = s.iter().map(|e| e.date.as_str()).collect();
        assert_eq!(keys, ["2026-02-23", "2026-03-02", "2026-03-09"]);
        assert_eq!(s[1].revenue, 3.0);
        let m = zero_filled(&[row("2026-02-28", 4.0)], today, 30, Interval::Month);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0], point("2026-02", 4.0));
    }
}
