//! Customer reports from one aggregated row per customer (`orders.user`, lifetime up to the
//! range end): insights (new, active, churned, LTV, retention cohorts), segments and a paged
//! list. Definitions: *active* ordered inside the range; *new* first ordered inside it;
//! *churned* no order in the 90 days before the range end; *at risk* last order 45–90 days
//! before it; *high value* lifetime revenue ≥ twice the average.

use std::collections::BTreeMap;

use super::{
    Ctx,
    math::{percentages, ratio, round2},
    query::int_in,
    types::{
        ChurnPrediction, CustomerChurn, CustomerCohort, CustomerInsights, CustomerList,
        CustomerLtv, CustomerPagination, CustomerRetention, CustomerSegments, CustomerSummary,
        CustomerView, SegmentCounts, SegmentStats,
    },
};
use crate::{
    error::ApiError,
    store::{DateTime, analytics::CustomerRow},
};

type Res<T> = Result<T, ApiError>;

const DAY_MS: i64 = 86_400_000;

fn db(e: crate::store::Error) -> ApiError {
    ApiError::internal("Failed to fetch analytics")(e)
}

fn iso(d: DateTime) -> String {
    d.try_to_rfc3339_string().unwrap_or_default()
}

/// Classification thresholds of one report.
struct Classes {
    start: i64,
    end: i64,
    average: f64,
}

impl Classes {
    fn new(c: &Ctx, rows: &[CustomerRow]) -> Self {
        let s = c.scope();
        Self {
            start: s.start.timestamp_millis(),
            end: s.end.timestamp_millis(),
            average: ratio(rows.iter().map(|r| r.revenue).sum(), rows.len() as f64),
        }
    }
    fn threshold(&self) -> f64 {
        self.average * 2.0
    }
    fn is_new(&self, r: &CustomerRow) -> bool {
        r.first.timestamp_millis() >= self.start
    }
    fn churned(&self, r: &CustomerRow) -> bool {
        r.last.timestamp_millis() < self.end - 90 * DAY_MS
    }
    fn at_risk(&self, r: &CustomerRow) -> bool {
        let last = r.last.timestamp_millis();
        last < self.end - 45 * DAY_MS && !self.churned(r)
    }
    fn high_value(&self, r: &CustomerRow) -> bool {
        r.revenue > 0.0 && r.revenue >= self.threshold()
    }
    /// One segment per customer, in priority order.
    fn segment(&self, r: &CustomerRow) -> &'static str {
        if self.churned(r) {
            "dormant"
        } else if self.high_value(r) {
            "highValue"
        } else if self.is_new(r) {
            "new"
        } else if r.revenue >= self.average {
            "mediumValue"
        } else {
            "lowValue"
        }
    }
}

const SEGMENTS: [&str; 5] = ["highValue", "mediumValue", "lowValue", "dormant", "new"];

fn cohorts(rows: &[CustomerRow]) -> Vec<CustomerCohort> {
    let mut by_month: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in rows {
        let month = iso(r.first).get(..7).unwrap_or_default().to_string();
        let e = by_month.entry(month).or_default();
        e.0 += 1;
        e.1 += i64::from(r.orders > 1);
    }
    by_month
        .into_iter()
        .rev()
        .take(6)
        .map(|(m, (n, repeat))| CustomerCohort {
            cohort: m,
            customers: n,
            returned: repeat,
            retention_rate: round2(ratio(repeat as f64, n as f64) * 100.0),
        })
        .collect()
}

/// `GET /customers/insights`.
pub async fn insights(c: Ctx) -> Res<CustomerInsights> {
    let rows = c
        .state
        .store
        .customer_rows(c.scope(), None)
        .await
        .map_err(db)?;
    let k = Classes::new(&c, &rows);
    let total = rows.len() as i64;
    let count = |f: &dyn Fn(&CustomerRow) -> bool| rows.iter().filter(|r| f(r)).count() as i64;
    let active = count(&|r| r.orders_in_range > 0);
    let churned = count(&|r| k.churned(r));
    let recent: Vec<&CustomerRow> = rows
        .iter()
        .filter(|r| r.first.timestamp_millis() >= k.end - 90 * DAY_MS)
        .collect();
    let revenue: f64 = rows.iter().map(|r| r.revenue).sum();
    let orders: i64 = rows.iter().map(|r| r.orders).sum();
    Ok(CustomerInsights {
        time_range: c.range.view(),
        total_customers: total,
        new_customers: count(&|r| k.is_new(r)),
        active_customers: active,
        inactive_customers: total - active,
        churned_customers: churned,
        ltv: CustomerLtv {
            average_ltv: round2(k.average),
            high_value_count: count(&|r| k.high_value(r)),
            high_value_threshold: round2(k.threshold()),
            ltv_90_days: round2(ratio(
                recent.iter().map(|r| r.revenue).sum(),
                recent.len() as f64,
            )),
        },
        retention: retention(&rows, &k),
        churn: churn(&rows, &k, churned),
        segments: segment_counts(&rows, &k),
        summary: CustomerSummary {
            total_revenue: round2(revenue),
            total_orders: orders,
            average_orders_per_customer: round2(ratio(orders as f64, total as f64)),
            average_order_value: round2(ratio(revenue, orders as f64)),
        },
    })
}

/// Repeat customers, returning customers active in the range and the latest cohorts.
fn retention(rows: &[CustomerRow], k: &Classes) -> CustomerRetention {
    let count = |f: &dyn Fn(&CustomerRow) -> bool| rows.iter().filter(|r| f(r)).count() as i64;
    let repeat = count(&|r| r.orders > 1);
    let returning_base = count(&|r| !k.is_new(r));
    let retained = count(&|r| !k.is_new(r) && r.orders_in_range > 0);
    CustomerRetention {
        overall_retention_rate: round2(ratio(retained as f64, returning_base as f64) * 100.0),
        cohorts: cohorts(rows),
        repeat_customer_rate: round2(ratio(repeat as f64, rows.len() as f64) * 100.0),
        repeat_customer_count: repeat,
    }
}

/// The churn rate and the ten most valuable customers at risk.
fn churn(rows: &[CustomerRow], k: &Classes, churned: i64) -> CustomerChurn {
    let mut at_risk: Vec<&CustomerRow> = rows.iter().filter(|r| k.at_risk(r)).collect();
    at_risk.sort_by(|a, b| b.revenue.total_cmp(&a.revenue));
    let predictions = at_risk
        .iter()
        .take(10)
        .map(|r| ChurnPrediction {
            customer_id: r.user.clone(),
            last_order_date: iso(r.last),
            days_since_last_order: (k.end - r.last.timestamp_millis()) / DAY_MS,
            lifetime_value: round2(r.revenue),
            risk: "medium",
        })
        .collect();
    CustomerChurn {
        churn_rate: round2(ratio(churned as f64, rows.len() as f64) * 100.0),
        churned_count: churned,
        at_risk_count: at_risk.len(),
        predictions,
    }
}

/// Customers per segment.
fn segment_counts(rows: &[CustomerRow], k: &Classes) -> SegmentCounts {
    let mut counts = SegmentCounts::default();
    for r in rows {
        let slot = match k.segment(r) {
            "highValue" => &mut counts.high_value,
            "mediumValue" => &mut counts.medium_value,
            "lowValue" => &mut counts.low_value,
            "dormant" => &mut counts.dormant,
            _ => &mut counts.new,
        };
        *slot += 1;
    }
    counts
}

/// `GET /customers/segments`: customers and revenue per segment (shares sum to 100).
pub async fn segments(c: Ctx) -> Res<CustomerSegments> {
    let rows = c
        .state
        .store
        .customer_rows(c.scope(), None)
        .await
        .map_err(db)?;
    let k = Classes::new(&c, &rows);
    let stats: Vec<(i64, f64)> = SEGMENTS
        .iter()
        .map(|s| {
            let members = rows.iter().filter(|r| k.segment(r) == *s);
            members.fold((0, 0.0), |(n, rev), r| (n + 1, rev + r.revenue))
        })
        .collect();
    let shares = percentages(&stats.iter().map(|s| s.0 as f64).collect::<Vec<_>>());
    let segments = SEGMENTS
        .iter()
        .zip(stats.iter().zip(shares))
        .map(|(s, ((n, rev), share))| SegmentStats {
            segment: s,
            customers: *n,
            revenue: round2(*rev),
            average_ltv: round2(ratio(*rev, *n as f64)),
            percentage: share,
        })
        .collect();
    Ok(CustomerSegments {
        segments,
        total_customers: rows.len(),
        high_value_threshold: round2(k.threshold()),
        time_range: c.range.view(),
    })
}

/// `GET /customers/list`: customers by lifetime revenue, `page`/`limit` (20, ≤100).
pub async fn list(c: Ctx) -> Res<CustomerList> {
    let page = int_in("page", c.query.page.as_deref(), 1, 1, 100_000)?;
    let limit = c.query.limit(20, 100)?;
    let skip = ((page - 1) * limit) as u64;
    let (rows, total) = c
        .state
        .store
        .customer_page(c.scope(), skip, limit)
        .await
        .map_err(db)?;
    let customers = rows
        .into_iter()
        .map(|r| CustomerView {
            total_orders: r.orders,
            orders_in_range: r.orders_in_range,
            total_spent: round2(r.revenue),
            average_order_value: round2(ratio(r.revenue, r.orders as f64)),
            first_order_date: iso(r.first),
            last_order_date: iso(r.last),
            customer_id: r.user,
        })
        .collect();
    Ok(CustomerList {
        customers,
        pagination: CustomerPagination {
            page,
            limit,
            total,
            total_pages: (total + limit - 1) / limit,
        },
    })
}
