//! Customer reports from one aggregated row per customer (`orders.user`, lifetime up to the
//! range end): insights (new, active, churned, LTV, retention cohorts), segments and a paged
//! list. Definitions: *active* ordered inside the range; *new* first ordered inside it;
//! *churned* no order in the 90 days before the range end; *at risk* last order 45–90 days
//! before it; *high value* lifetime revenue ≥ twice the average.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{
    Ctx,
    math::{percentages, ratio, round2},
    query::int_in,
};
use crate::{
    error::ApiError,
    store::{DateTime, analytics::CustomerRow},
};

type Res = Result<Value, ApiError>;

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

fn cohorts(rows: &[CustomerRow]) -> Vec<Value> {
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
        .map(|(m, (n, repeat))| json!({ "cohort": m, "customers": n, "returned": repeat, "retentionRate": round2(ratio(repeat as f64, n as f64) * 100.0) }))
        .collect()
}

/// `GET /customers/insights`.
pub async fn insights(c: Ctx) -> Res {
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
    let repeat = count(&|r| r.orders > 1);
    let returning_base = count(&|r| !k.is_new(r));
    let retained = count(&|r| !k.is_new(r) && r.orders_in_range > 0);
    let recent: Vec<&CustomerRow> = rows
        .iter()
        .filter(|r| r.first.timestamp_millis() >= k.end - 90 * DAY_MS)
        .collect();
    let mut at_risk: Vec<&CustomerRow> = rows.iter().filter(|r| k.at_risk(r)).collect();
    at_risk.sort_by(|a, b| b.revenue.total_cmp(&a.revenue));
    let predictions: Vec<Value> = at_risk
        .iter()
        .take(10)
        .map(|r| json!({ "customerId": r.user, "lastOrderDate": iso(r.last),
            "daysSinceLastOrder": (k.end - r.last.timestamp_millis()) / DAY_MS, "lifetimeValue": round2(r.revenue), "risk": "medium" }))
        .collect();
    let mut segments = serde_json::Map::new();
    for s in SEGMENTS {
        segments.insert(s.into(), json!(count(&|r| k.segment(r) == s)));
    }
    let revenue: f64 = rows.iter().map(|r| r.revenue).sum();
    let orders: i64 = rows.iter().map(|r| r.orders).sum();
    Ok(json!({
        "timeRange": c.range.json(),
        "totalCustomers": total, "newCustomers": count(&|r| k.is_new(r)), "activeCustomers": active,
        "inactiveCustomers": total - active, "churnedCustomers": churned,
        "ltv": {
            "averageLTV": round2(k.average), "highValueCount": count(&|r| k.high_value(r)),
            "highValueThreshold": round2(k.threshold()),
            "ltv90Days": round2(ratio(recent.iter().map(|r| r.revenue).sum(), recent.len() as f64)),
        },
        "retention": {
            "overallRetentionRate": round2(ratio(retained as f64, returning_base as f64) * 100.0),
            "cohorts": cohorts(&rows),
            "repeatCustomerRate": round2(ratio(repeat as f64, total as f64) * 100.0),
            "repeatCustomerCount": repeat,
        },
        "churn": {
            "churnRate": round2(ratio(churned as f64, total as f64) * 100.0), "churnedCount": churned,
            "atRiskCount": at_risk.len(), "predictions": predictions,
        },
        "segments": segments,
        "summary": {
            "totalRevenue": round2(revenue), "totalOrders": orders,
            "averageOrdersPerCustomer": round2(ratio(orders as f64, total as f64)),
            "averageOrderValue": round2(ratio(revenue, orders as f64)),
        },
    }))
}

/// `GET /customers/segments`: customers and revenue per segment (shares sum to 100).
pub async fn segments(c: Ctx) -> Res {
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
    let segments: Vec<Value> = SEGMENTS
        .iter()
        .zip(stats.iter().zip(shares))
        .map(|(s, ((n, rev), share))| {
            json!({ "segment": s, "customers": n, "revenue": round2(*rev),
            "averageLTV": round2(ratio(*rev, *n as f64)), "percentage": share })
        })
        .collect();
    Ok(
        json!({ "segments": segments, "totalCustomers": rows.len(), "highValueThreshold": round2(k.threshold()),
        "timeRange": c.range.json() }),
    )
}

/// `GET /customers/list`: customers by lifetime revenue, `page`/`limit` (20, ≤100).
pub async fn list(c: Ctx) -> Res {
    let page = int_in("page", c.query.page.as_deref(), 1, 1, 100_000)?;
    let limit = c.query.limit(20, 100)?;
    let skip = ((page - 1) * limit) as u64;
    let (rows, total) = c
        .state
        .store
        .customer_page(c.scope(), skip, limit)
        .await
        .map_err(db)?;
    let customers: Vec<Value> = rows
        .iter()
        .map(|r| json!({ "customerId": r.user, "totalOrders": r.orders, "ordersInRange": r.orders_in_range,
            "totalSpent": round2(r.revenue), "averageOrderValue": round2(ratio(r.revenue, r.orders as f64)),
            "firstOrderDate": iso(r.first), "lastOrderDate": iso(r.last) }))
        .collect();
    Ok(json!({
        "customers": customers,
        "pagination": { "page": page, "limit": limit, "total": total, "totalPages": (total + limit - 1) / limit },
    }))
}
