//! Sales reports: overview, trends, by hour, by weekday, payment methods, revenue breakdown,
//! period comparison, real-time figures, coupons, forecast and seasonal trends. Each builds
//! the contract's `data` from server-side aggregations.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

use super::{
    Ctx,
    math::{Fit, fit, growth, percentages, ratio, round2},
    query::{DateRange, int_in, iso, one_of},
    types::{
        ComparedMetric, ComparedMetrics, ForecastModel, HourSales, OfferSales, PaymentShare,
        PeriodComparisonReport, RealtimeOrder, RealtimeReport, RevenueBreakdown, SalesForecast,
        SalesForecastDay, SalesHistoryDay, SalesOverview, SalesTrendPoint, SeasonalBucket,
        SeasonalTrends, WeekdaySales,
    },
};
use crate::{
    error::ApiError,
    store::analytics::{Bucket, BucketKey, PeriodComparison, TimeKey},
};

type Res<T> = Result<T, ApiError>;

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
pub async fn overview(c: Ctx) -> Res<SalesOverview> {
    let prev = c.range.previous();
    let (now, before) = c
        .state
        .store
        .sales_totals_pair(c.scope(), prev.scope(c.shop))
        .await
        .map_err(db)?;
    Ok(SalesOverview {
        total_revenue: round2(now.revenue),
        total_orders: now.orders,
        average_order_value: round2(ratio(now.revenue, now.orders as f64)),
        total_items: now.items,
        previous_period_revenue: round2(before.revenue),
        previous_period_orders: before.orders,
        revenue_growth: growth(now.revenue, before.revenue),
        orders_growth: growth(now.orders as f64, before.orders as f64),
        period: c.range.view(),
    })
}

fn trend_point(date: String, b: &Bucket) -> SalesTrendPoint {
    SalesTrendPoint {
        date,
        revenue: round2(b.revenue),
        orders: b.orders,
        items: b.items,
        average_order_value: round2(ratio(b.revenue, b.orders as f64)),
    }
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
pub async fn trends(c: Ctx) -> Res<Vec<SalesTrendPoint>> {
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
    Ok(out.into_iter().map(|(d, b)| trend_point(d, b)).collect())
}

/// `GET /sales/by-time`: hours (UTC) with orders.
pub async fn by_time(c: Ctx) -> Res<Vec<HourSales>> {
    let rows = c
        .state
        .store
        .sales_buckets(c.scope(), TimeKey::Hour)
        .await
        .map_err(db)?;
    Ok(rows
        .iter()
        .map(|b| HourSales {
            hour: b.key.number(),
            revenue: round2(b.revenue),
            orders: b.orders,
        })
        .collect())
}

/// `GET /sales/by-day`: weekdays with orders (1 = Sunday).
pub async fn by_day(c: Ctx) -> Res<Vec<WeekdaySales>> {
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
            let name = DAY_NAMES
                .get((d - 1).max(0) as usize)
                .copied()
                .unwrap_or_default();
            WeekdaySales {
                day_of_week: d,
                day_name: name,
                revenue: round2(b.revenue),
                orders: b.orders,
            }
        })
        .collect())
}

/// `GET /payments/breakdown`: revenue per payment method, percentages of revenue summing to 100.
pub async fn payments(c: Ctx) -> Res<Vec<PaymentShare>> {
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
        .map(|((m, b, _), p)| PaymentShare {
            method: m.clone(),
            revenue: round2(b.revenue),
            orders: b.orders,
            percentage: p,
        })
        .collect())
}

/// `GET /offers/top`: coupon codes by revenue.
pub async fn offers(c: Ctx) -> Res<Vec<OfferSales>> {
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
        .map(|(code, b, discount)| OfferSales {
            code: code.clone(),
            orders: b.orders,
            revenue: round2(b.revenue),
            total_discount: round2(*discount),
            average_order_value: round2(ratio(b.revenue, b.orders as f64)),
        })
        .collect())
}

/// `GET /revenue/breakdown`: sums of the order totals' components.
pub async fn revenue_breakdown(c: Ctx) -> Res<RevenueBreakdown> {
    let d = c
        .state
        .store
        .totals_breakdown(c.scope())
        .await
        .map_err(db)?;
    let num = |f: &str| d.get(f).copied().unwrap_or(0.0);
    let sum = |f: &str| round2(num(f));
    Ok(RevenueBreakdown {
        subtotal: sum("subtotal"),
        tax: sum("tax"),
        delivery: sum("delivery"),
        discount: sum("discount"),
        lock_fee_discount: sum("lockFeeDiscount"),
        cashback: sum("cashback"),
        total: sum("total"),
        paid_amount: sum("paidAmount"),
        refund_amount: sum("refundAmount"),
        platform_fee: sum("platformFee"),
        net_revenue: round2(num("total") - num("refundAmount")),
        merchant_payout: round2(num("total") - num("platformFee")),
        discount_rate: round2(ratio(num("discount"), num("subtotal")) * 100.0),
        orders: num("orders") as i64,
        period: c.range.view(),
    })
}

/// `GET /comparison`: this period against the previous one of the same length.
pub async fn comparison(c: Ctx) -> Res<PeriodComparisonReport> {
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
    let metric = |now: f64, before: f64| ComparedMetric {
        current: round2(now),
        previous: round2(before),
        change: growth(now, before),
    };
    let aov = |b: &Bucket| ratio(b.revenue, b.orders as f64);
    Ok(PeriodComparisonReport {
        current: c.range.view(),
        previous: prev.view(),
        metrics: ComparedMetrics {
            revenue: metric(a.revenue, b.revenue),
            orders: metric(a.orders as f64, b.orders as f64),
            average_order_value: metric(aov(&a), aov(&b)),
            items: metric(a.items as f64, b.items as f64),
            customers: metric(ca as f64, cb as f64),
        },
    })
}

/// `GET /realtime`: today (UTC) and the last hour, plus the latest orders (never cached long:
/// the cache TTL bounds its staleness).
pub async fn realtime(c: Ctx) -> Res<RealtimeReport> {
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
    let recent_orders = recent
        .into_iter()
        .map(|o| RealtimeOrder {
            id: o.id.to_hex(),
            total: round2(o.totals.total),
            created_at: o.created_at.try_to_rfc3339_string().ok(),
            order_number: o.order_number,
            status: o.status,
        })
        .collect();
    Ok(RealtimeReport {
        today_revenue: round2(t.revenue),
        today_orders: t.orders,
        last_hour_revenue: round2(h.revenue),
        last_hour_orders: h.orders,
        pending_orders: pending,
        recent_orders,
        timestamp: iso(c.now),
    })
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
pub async fn forecast(c: Ctx) -> Res<SalesForecast> {
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
    let mean = ratio(revenue.iter().sum(), series.len() as f64);
    let last = series.last().map_or(c.now.date_naive(), |s| s.0);
    let forecast = forecast_days(&rf, &of, series.len(), last, ahead);
    let total: f64 = forecast.iter().map(|f| f.predicted_revenue).sum();
    let historical = series
        .iter()
        .map(|(d, r, o)| SalesHistoryDay {
            date: d.to_string(),
            revenue: round2(*r),
            orders: *o,
        })
        .collect();
    Ok(SalesForecast {
        forecast,
        forecast_days: ahead,
        historical,
        total_predicted_revenue: round2(total),
        average_daily_revenue: round2(mean),
        trend: rf.trend(mean),
        accuracy: round2(rf.r2),
        method: "linear_regression",
        model: ForecastModel {
            slope: round2(rf.slope),
            intercept: round2(rf.intercept),
            r2: round2(rf.r2),
            residual_std_dev: round2(rf.residual_sd),
            history_days: series.len(),
        },
        methodology: "Least-squares line through zero-filled daily revenue of the history range; \
            accuracy is its R² (share of daily variance the line explains); bounds are a 95 % prediction interval.",
        time_range: c.range.view(),
    })
}

/// The `ahead` days after `last` on the revenue and orders lines fitted to `n` history days.
fn forecast_days(
    revenue: &Fit,
    orders: &Fit,
    n: usize,
    last: NaiveDate,
    ahead: i64,
) -> Vec<SalesForecastDay> {
    (1..=ahead)
        .map(|i| {
            let x = n as f64 - 1.0 + i as f64;
            let (p, m) = (revenue.at(x).max(0.0), revenue.margin(x));
            SalesForecastDay {
                date: (last + Duration::days(i)).to_string(),
                predicted_revenue: round2(p),
                predicted_orders: round2(orders.at(x).max(0.0)),
                confidence_lower: round2((p - m).max(0.0)),
                confidence_upper: round2(p + m),
            }
        })
        .collect()
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
pub async fn seasonal(c: Ctx) -> Res<SeasonalTrends> {
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
    let season = Season {
        kind,
        by_orders: data_type == "orders",
        buckets: seasonal_averages(&range, kind, &rows),
    };
    let (peaks, troughs, insights) = season.extremes(data_type);
    Ok(SeasonalTrends {
        trends: season.trends(),
        kind: kind.to_string(),
        data_type: data_type.to_string(),
        period: range.view(),
        peaks,
        troughs,
        insights,
    })
}

/// `(key, revenue, orders)` per occurrence of every seasonal bucket the range touches.
fn seasonal_averages(range: &DateRange, kind: &str, rows: &[Bucket]) -> Vec<(i64, f64, f64)> {
    occurrences(range, kind)
        .iter()
        .map(|(k, n)| {
            let b = rows.iter().find(|b| b.key.number() == *k);
            (
                *k,
                b.map_or(0.0, |b| b.revenue) / n,
                b.map_or(0.0, |b| b.orders as f64) / n,
            )
        })
        .collect()
}

/// Seasonal buckets and the metric they are compared by.
struct Season<'a> {
    kind: &'a str,
    by_orders: bool,
    buckets: Vec<(i64, f64, f64)>,
}

impl Season<'_> {
    fn metric(&self, b: &(i64, f64, f64)) -> f64 {
        if self.by_orders { b.2 } else { b.1 }
    }

    /// Mean of the buckets' metric.
    fn mean(&self) -> f64 {
        let sum = self.buckets.iter().map(|b| self.metric(b)).sum();
        ratio(sum, self.buckets.len() as f64)
    }

    fn label(&self, k: i64) -> String {
        let name = |names: &[&str]| {
            names
                .get((k - 1) as usize)
                .copied()
                .unwrap_or_default()
                .to_string()
        };
        match self.kind {
            "weekly" => name(&DAY_NAMES),
            "daily" => format!("Day {k}"),
            _ => name(&MONTH_NAMES),
        }
    }

    fn trends(&self) -> Vec<SeasonalBucket> {
        let mean = self.mean();
        self.buckets
            .iter()
            .map(|b| SeasonalBucket {
                period: self.label(b.0),
                key: b.0,
                average_revenue: round2(b.1),
                average_orders: round2(b.2),
                index: round2(ratio(self.metric(b), mean)),
            })
            .collect()
    }

    /// The peak and trough labels and a sentence about each (none without data).
    fn extremes(&self, data_type: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
        let mean = self.mean();
        let by_metric =
            |a: &&(i64, f64, f64), b: &&(i64, f64, f64)| self.metric(a).total_cmp(&self.metric(b));
        let peak = self.buckets.iter().max_by(by_metric);
        let trough = self.buckets.iter().min_by(by_metric);
        let mut insights = Vec::new();
        if let (Some(p), Some(t)) = (peak, trough)
            && mean > 0.0
        {
            for (b, which) in [(p, "strongest"), (t, "weakest")] {
                insights.push(format!(
                    "{} is the {which} {} ({:.0}% of average {data_type})",
                    self.label(b.0),
                    unit(self.kind),
                    ratio(self.metric(b), mean) * 100.0
                ));
            }
        }
        (
            peak.map(|p| vec![self.label(p.0)]).unwrap_or_default(),
            trough.map(|t| vec![self.label(t.0)]).unwrap_or_default(),
            insights,
        )
    }
}

fn unit(kind: &str) -> &'static str {
    match kind {
        "weekly" => "weekday",
        "daily" => "day of the month",
        _ => "month",
    }
}
