//! Which parts of a date range the rollups answer: whole UTC days from day rows, whole hours
//! from hour rows, and the partial hours at either end from the orders themselves (an indexed
//! range of at most an hour each), so a rollup-backed report equals the raw aggregation for any
//! `[start, end)` while reading O(days + 46 hours) rows.

use super::fold::Grain;

/// The parts of one `[start, end)` range (milliseconds since the epoch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Ranges read from the orders.
    pub raw: Vec<(i64, i64)>,
    /// Ranges read from rollup rows of a grain (bucket-aligned).
    pub rows: Vec<(Grain, i64, i64)>,
}

/// Split `[start, end)`. With `hours_only` (reports keyed by hour of day) no day rows are used.
pub fn plan(start: i64, end: i64, hours_only: bool) -> Plan {
    let mut p = Plan::default();
    if end <= start {
        return p;
    }
    let (h0, h1) = (Grain::Hour.ceil(start), Grain::Hour.floor(end));
    if h0 >= h1 {
        p.raw.push((start, end));
        return p;
    }
    if start < h0 {
        p.raw.push((start, h0));
    }
    if h1 < end {
        p.raw.push((h1, end));
    }
    let (d0, d1) = (Grain::Day.ceil(h0), Grain::Day.floor(h1));
    if hours_only || d0 >= d1 {
        p.rows.push((Grain::Hour, h0, h1));
        return p;
    }
    p.rows.push((Grain::Day, d0, d1));
    if h0 < d0 {
        p.rows.push((Grain::Hour, h0, d0));
    }
    if d1 < h1 {
        p.rows.push((Grain::Hour, d1, h1));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::rollups::fold::{DAY_MS, HOUR_MS};

    /// Every millisecond of the range is covered exactly once.
    fn covers_once(p: &Plan, start: i64, end: i64) -> bool {
        let mut parts: Vec<(i64, i64)> = p.raw.clone();
        parts.extend(p.rows.iter().map(|(_, a, b)| (*a, *b)));
        parts.sort();
        let mut at = start;
        for (a, b) in parts {
            if a != at || b <= a {
                return false;
            }
            at = b;
        }
        at == end
    }

    #[test]
    fn a_thirty_day_range_off_the_hour_reads_days_hours_and_two_raw_slivers() {
        let start = 10 * DAY_MS + 5 * HOUR_MS + 1234;
        let end = 40 * DAY_MS + 7 * HOUR_MS + 99;
        let p = plan(start, end, false);
        assert!(covers_once(&p, start, end));
        assert_eq!(p.raw.len(), 2);
        assert_eq!(p.rows[0], (Grain::Day, 11 * DAY_MS, 40 * DAY_MS));
        assert_eq!(p.rows.len(), 3);
    }

    #[test]
    fn short_aligned_and_hour_keyed_ranges() {
        let p = plan(HOUR_MS + 5, 2 * HOUR_MS - 5, false);
        assert_eq!(p.raw, vec![(HOUR_MS + 5, 2 * HOUR_MS - 5)]);
        assert!(p.rows.is_empty());
        let p = plan(DAY_MS, 3 * DAY_MS, false);
        assert_eq!(p.rows, vec![(Grain::Day, DAY_MS, 3 * DAY_MS)]);
        assert!(p.raw.is_empty());
        let p = plan(DAY_MS + 1, 3 * DAY_MS, true);
        assert!(covers_once(&p, DAY_MS + 1, 3 * DAY_MS));
        assert!(p.rows.iter().all(|r| r.0 == Grain::Hour));
        assert_eq!(plan(5, 5, false), Plan::default());
    }

    #[test]
    fn any_range_is_covered_exactly_once() {
        let mut x: i64 = 0x2545_F491;
        for _ in 0..2000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let start = (x >> 20).rem_euclid(60 * DAY_MS);
            let len = (x >> 7).rem_euclid(9 * DAY_MS);
            for hours_only in [false, true] {
                let p = plan(start, start + len, hours_only);
                assert!(
                    covers_once(&p, start, start + len) || len == 0,
                    "{start} {len}"
                );
            }
        }
    }
}
