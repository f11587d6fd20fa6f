//! Sales reports: overview, trends, by hour, by weekday, payment methods, revenue breakdown,
//! period comparison, real-time figures, coupons, forecast and seasonal trends. Each builds
//! the contract's `data` from server-side aggregations.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde_json::{Value, json};

use super::{
    Ctx,
    math::{fit, growth, percentages, ratio, round2},
    query::{DateRange, int_in, iso, one_of},
};
use crate::{
    error::ApiError,
    store::analytics::{Bucket, BucketKey, PeriodComparison, TOTAL_FIELDS, TimeKey},
};

type Res = Result<Value, ApiError>;

fn db(e: crate::store::Error) -> ApiError {
    ApiError::internal("Failed to fetch analytics")(e)
}

const DAY_NAMES: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `GET /sales/overview`.
pub async fn overview(c: Ctx) -> Res {
    let prev = c.range.previous();
    let (now, before) = c
        .state
        .store
        .sales_totals_pair(c.scope(), prev.scope(c.shop))
        .await
        .map_err(db)?;
    Ok(json!({
        "totalRevenue": round2(now.revenue),
        "totalOrders": now.orders,
        "averageOrderValue": round2(ratio(now.revenue, now.orders as f64)),
        "totalItems": now.items,
        "previousPeriodRevenue": round2(before.revenue),
        "previousPeriodOrders": before.orders,
        "revenueGrowth": growth(now.revenue, before.revenue),
        "ordersGrowth": growth(now.orders as f64, before.orders as f64),
        "period": c.range.json(),
    }))
}

fn bucket_json(date: String, b: &Bucket) -> Value {
    json!({
        "date": date, "revenue": round2(b.revenue), "orders": b.orders, "items": b.items,
        "averageOrderValue": round2(ratio(b.revenue, b.orders as f64)),
    })
}

/// The Monday of an ISO week as `YYYY-MM-DD`.
fn week_start(key: &BucketKey) -> String {
    match key {
        BucketKey::Week { year, week } => NaiveDate::from_isoywd_opt(*year, *week, Weekday::Mon)
            .map_or_else(String::new, |d| d.to_string()),
        _ => String::new(),
    }
}

/// `GET /sales/trends`: `period` daily|weekly|monthly over the last `days` (or a range).
pub async fn trends(c: Ctx) -> Res {
    let q = &c.query;
    let granularity = one_of(
        "period",
        q.period.as_deref(),
        &["daily", "weekly", "monthly"],
    )?
    .unwrap_or("daily");
    let range = if q.start_date.is_some() || q.end_date.is_some() || q.preset.is_some() {
        c.range
    } else {
        let days = int_in("days", q.days.as_deref(), 30, 1, 730)?;
        DateRange {
            start: c.now - Duration::days(days),
            end: c.now,
        }
    };
    let key = match granularity {
        "weekly" => TimeKey::IsoWeek,
        "monthly" => TimeKey::Month,
        _ => TimeKey::Day,
    };
    let rows = c
        .state
        .store
        .sales_buckets(range.scope(c.shop), key)
        .await
        .map_err(db)?;
    let mut out: Vec<(String, &Bucket)> = rows
        .iter()
        .map(|b| {
            let date = match key {
                TimeKey::IsoWeek => week_start(&b.key),
                _ => b.key.as_text().unwrap_or_default().to_string(),
            };
            (date, b)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Value::Array(
        out.into_iter().map(|(d, b)| bucket_json(d, b)).collect(),
    ))
}

/// `GET /sales/by-time`: hours (UTC) with orders.
pub async fn by_time(c: Ctx) -> Res {
    let rows = c
        .state
        .store
        .sales_buckets(c.scope(), TimeKey::Hour)
        .await
        .map_err(db)?;
    Ok(rows
        .iter()
        .map(
            |b| json!({ "hour": b.key.number(), "revenue": round2(b.revenue), "orders": b.orders }),
        )
        .collect())
}

/// `GET /sales/by-day`: weekdays with orders (1 = Sunday).
pub async fn by_day(c: Ctx) -> Res {
    let rows = c
        .state
        .store
        .sales_buckets(c.scope(), TimeKey::DayOfWeek)
        .await
        .map_err(db)?;
    Ok(rows
        .iter()
        .map(|b| {
            let d = b.key.number();
            let name = DAY_NAMES.get((d - 1).max(0) as usize).copied().unwrap_or_default();
            json!({ "dayOfWeek": d, "dayName": name, "revenue": round2(b.revenue), "orders": b.orders })
        })
        .collect())
}

/// `GET /payments/breakdown`: revenue per payment method, percentages of revenue summing to 100.
pub async fn payments(c: Ctx) -> Res {
    let rows = c
        .state
        .store
        .sales_by_field(c.scope(), "payment.method")
        .await
        .map_err(db)?;
    let shares = percentages(&rows.iter().map(|(_, b, _)| b.revenue).collect::<Vec<_>>());
    Ok(rows
        .iter()
        .zip(shares)
        .map(|((m, b, _), p)| json!({ "method": m, "revenue": round2(b.revenue), "orders": b.orders, "percentage": p }))
        .collect())
}

/// `GET /offers/top`: coupon codes by revenue.
pub async fn offers(c: Ctx) -> Res {
    let limit = c.query.limit(10, 100)? as usize;
    let rows = c
        .state
        .store
        .sales_by_field(c.scope(), "couponCode")
        .await
        .map_err(db)?;
    Ok(rows
        .iter()
        .take(limit)
        .map(|(code, b, discount)| {
            json!({ "code": code, "orders": b.orders, "revenue": round2(b.revenue), "totalDiscount": round2(*discount),
                "averageOrderValue": round2(ratio(b.revenue, b.orders as f64)) })
        })
        .collect())
}

/// `GET /revenue/breakdown`: sums of the order totals' components.
pub async fn revenue_breakdown(c: Ctx) -> Res {
    let d = c
        .state
        .store
        .totals_breakdown(c.scope())
        .await
        .map_err(db)?;
    let num = |f: &str| d.get(f).copied().unwrap_or(0.0);
    let mut out = serde_json::Map::new();
    for f in TOTAL_FIELDS {
        out.insert(f.to_string(), json!(round2(num(f))));
    }
    let gross = num("subtotal");
    let fee = num("platformFee");
    out.insert(
        "netRevenue".into(),
        json!(round2(num("total") - num("refundAmount"))),
    );
    out.insert("merchantPayout".into(), json!(round2(num("total") - fee)));
    out.insert(
        "discountRate".into(),
        json!(round2(ratio(num("discount"), gross) * 100.0)),
    );
    out.insert("orders".into(), json!(num("orders") as i64));
    out.insert("period".into(), c.range.json());
    Ok(Value::Object(out))
}

/// `GET /comparison`: this period against the previous one of the same length.
pub async fn comparison(c: Ctx) -> Res {
    let prev = c.range.previous();
    let PeriodComparison {
        totals: (a, b),
        customers: (ca, cb),
    } = c
        .state
        .store
        .period_comparison(c.scope(), prev.scope(c.shop))
        .await
        .map_err(db)?;
    let metric = |now: f64, before: f64| json!({ "current": round2(now), "previous": round2(before), "change": growth(now, before) });
    Ok(json!({
        "current": c.range.json(),
        "previous": prev.json(),
        "metrics": {
            "revenue": metric(a.revenue, b.revenue),
            "orders": metric(a.orders as f64, b.orders as f64),
            "averageOrderValue": metric(ratio(a.revenue, a.orders as f64), ratio(b.revenue, b.orders as f64)),
            "items": metric(a.items as f64, b.items as f64),
            "customers": metric(ca as f64, cb as f64),
        },
    }))
}

/// `GET /realtime`: today (UTC) and the last hour, plus the latest orders (never cached long:
/// the cache TTL bounds its staleness).
pub async fn realtime(c: Ctx) -> Res {
    let today = super::query::preset_range("today", c.now).unwrap_or(c.range);
    let hour = DateRange {
        start: c.now - Duration::hours(1),
        end: c.now,
    };
    let store = &c.state.store;
    let stores = [c.shop];
    let (t, h, recent, pending) = tokio::try_join!(
        store.sales_totals(today.scope(c.shop)),
        store.sales_totals(hour.scope(c.shop)),
        store.recent_orders(&stores, 10),
        store.count_orders_with_status(c.shop, "placed"),
    )
    .map_err(db)?;
    let recent: Vec<Value> = recent
        .iter()
        .map(|o| {
            json!({
                "id": o.id.to_hex(), "orderNumber": o.order_number, "status": o.status,
                "total": round2(o.totals.total), "createdAt": o.created_at.try_to_rfc3339_string().ok(),
            })
        })
        .collect();
    Ok(json!({
        "todayRevenue": round2(t.revenue), "todayOrders": t.orders,
        "lastHourRevenue": round2(h.revenue), "lastHourOrders": h.orders,
        "pendingOrders": pending, "recentOrders": recent, "timestamp": iso(c.now),
    }))
}

/// Zero-filled daily revenue and orders over the range.
async fn daily_series(c: &Ctx, range: &DateRange) -> Result<Vec<(NaiveDate, f64, f64)>, ApiError> {
    let rows = c
        .state
        .store
        .sales_buckets(range.scope(c.shop), TimeKey::Day)
        .await
        .map_err(db)?;
    Ok(range
        .days()
        .into_iter()
        .map(|d| {
            let key = d.to_string();
            let b = rows.iter().find(|b| b.key.as_text() == Some(key.as_str()));
            (
                d,
                b.map_or(0.0, |b| b.revenue),
                b.map_or(0.0, |b| b.orders as f64),
            )
        })
        .collect())
}

/// `GET /forecast/sales`: a least-squares line through the daily revenue (and orders) of the
/// history range (default 30 days), extended `days` ahead with a 95 % prediction interval.
pub async fn forecast(c: Ctx) -> Res {
    let q = &c.query;
    let ahead = int_in(
        "days",
        q.forecast_days.as_deref().or(q.days.as_deref()),
        7,
        1,
        90,
    )?;
    let series = daily_series(&c, &c.range).await?;
    let revenue: Vec<f64> = series.iter().map(|s| s.1).collect();
    let orders: Vec<f64> = series.iter().map(|s| s.2).collect();
    let (rf, of) = (fit(&revenue), fit(&orders));
    let n = series.len() as f64;
    let mean = ratio(revenue.iter().sum(), n);
    let last = series.last().map_or(c.now.date_naive(), |s| s.0);
    let forecast: Vec<Value> = (1..=ahead)
        .map(|i| {
            let x = n - 1.0 + i as f64;
            let (p, m) = (rf.at(x).max(0.0), rf.margin(x));
            json!({
                "date": (last + Duration::days(i)).to_string(),
                "predictedRevenue": round2(p),
                "predictedOrders": round2(of.at(x).max(0.0)),
                "confidenceLower": round2((p - m).max(0.0)),
                "confidenceUpper": round2(p + m),
            })
        })
        .collect();
    let total: f64 = forecast
        .iter()
        .map(|f| f["predictedRevenue"].as_f64().unwrap_or(0.0))
        .sum();
    let historical: Vec<Value> = series
        .iter()
        .map(|(d, r, o)| json!({ "date": d.to_string(), "revenue": round2(*r), "orders": o }))
        .collect();
    Ok(json!({
        "forecast": forecast, "forecastDays": ahead, "historical": historical,
        "totalPredictedRevenue": round2(total), "averageDailyRevenue": round2(mean),
        "trend": rf.trend(mean), "accuracy": round2(rf.r2), "method": "linear_regression",
        "model": { "slope": round2(rf.slope), "intercept": round2(rf.intercept), "r2": round2(rf.r2),
            "residualStdDev": round2(rf.residual_sd), "historyDays": series.len() },
        "methodology": "Least-squares line through zero-filled daily revenue of the history range; \
            accuracy is its R² (share of daily variance the line explains); bounds are a 95 % prediction interval.",
        "timeRange": c.range.json(),
    }))
}

/// Calendar occurrences of each seasonal bucket in the range (e.g. how many Mondays).
fn occurrences(range: &DateRange, kind: &str) -> Vec<(i64, f64)> {
    let mut counts = std::collections::BTreeMap::<i64, f64>::new();
    let mut months = std::collections::BTreeSet::new();
    for d in range.days() {
        let key = match kind {
            "weekly" => i64::from(d.weekday().num_days_from_sunday()) + 1,
            "daily" => i64::from(d.day()),
            _ => {
                // Months count once per (year, month) present.
                if !months.insert((d.year(), d.month())) {
                    continue;
                }
                i64::from(d.month())
            }
        };
        *counts.entry(key).or_default() += 1.0;
    }
    counts.into_iter().collect()
}

/// `GET /trends/seasonal`: `type` monthly (month of year, default range 1y) | weekly (weekday)
/// | daily (day of month); each bucket's average per occurrence and its index against the mean
/// of the buckets (1 = average), by `dataType` revenue|orders.
pub async fn seasonal(c: Ctx) -> Res {
    let q = &c.query;
    let kind =
        one_of("type", q.kind.as_deref(), &["monthly", "weekly", "daily"])?.unwrap_or("monthly");
    let data_type =
        one_of("dataType", q.data_type.as_deref(), &["revenue", "orders"])?.unwrap_or("revenue");
    let explicit = q.start_date.is_some() || q.preset.is_some() || q.period.is_some();
    let range = if explicit {
        c.range
    } else {
        super::query::preset_range("1y", c.now).unwrap_or(c.range)
    };
    let key = match kind {
        "weekly" => TimeKey::DayOfWeek,
        "daily" => TimeKey::DayOfMonth,
        _ => TimeKey::MonthOfYear,
    };
    let rows = c
        .state
        .store
        .sales_buckets(range.scope(c.shop), key)
        .await
        .map_err(db)?;
    let occ = occurrences(&range, kind);
    let buckets: Vec<(i64, f64, f64)> = occ
        .iter()
        .map(|(k, n)| {
            let b = rows.iter().find(|b| b.key.number() == *k);
            (
                *k,
                b.map_or(0.0, |b| b.revenue) / n,
                b.map_or(0.0, |b| b.orders as f64) / n,
            )
        })
        .collect();
    let metric = |b: &(i64, f64, f64)| if data_type == "orders" { b.2 } else { b.1 };
    let mean = ratio(buckets.iter().map(metric).sum(), buckets.len() as f64);
    let label = |k: i64| match kind {
        "weekly" => DAY_NAMES
            .get((k - 1) as usize)
            .copied()
            .unwrap_or_default()
            .to_string(),
        "daily" => format!("Day {k}"),
        _ => MONTH_NAMES
            .get((k - 1) as usize)
            .copied()
            .unwrap_or_default()
            .to_string(),
    };
    let trends: Vec<Value> = buckets
        .iter()
        .map(|b| json!({ "period": label(b.0), "key": b.0, "averageRevenue": round2(b.1), "averageOrders": round2(b.2),
            "index": round2(ratio(metric(b), mean)) }))
        .collect();
    let peak = buckets
        .iter()
        .max_by(|a, b| metric(a).total_cmp(&metric(b)));
    let trough = buckets
        .iter()
        .min_by(|a, b| metric(a).total_cmp(&metric(b)));
    let mut insights = Vec::new();
    if let (Some(p), Some(t)) = (peak, trough)
        && mean > 0.0
    {
        insights.push(format!(
            "{} is the strongest {} ({:.0}% of average {data_type})",
            label(p.0),
            unit(kind),
            ratio(metric(p), mean) * 100.0
        ));
        insights.push(format!(
            "{} is the weakest {} ({:.0}% of average {data_type})",
            label(t.0),
            unit(kind),
            ratio(metric(t), mean) * 100.0
        ));
    }
    Ok(json!({
        "trends": trends, "type": kind, "dataType": data_type, "period": range.json(),
        "peaks": peak.map(|p| vec![label(p.0)]).unwrap_or_default(),
        "troughs": trough.map(|t| vec![label(t.0)]).unwrap_or_default(),
        "insights": insights,
    }))
}

fn unit(kind: &str) -> &'static str {
    match kind {
        "weekly" => "weekday",
        "daily" => "day of the month",
        _ => "month",
    }
}
