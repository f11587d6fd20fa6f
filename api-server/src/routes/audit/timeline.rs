//! Timeline views of the audit trail: records bucketed by day, today, recent, critical, a
//! period summary and an hour-of-day heatmap (the last two are aggregation pipelines).

use axum::extract::State;
use serde::Deserialize;

use super::{
    query::{self, LogQuery, failed},
    views::{
        AuditCounts, AuditDay, AuditDayCount, AuditHeatmap, AuditLatest, AuditPeriod, AuditRecord,
        AuditSummary, AuditToday, AuditTotals, AuditUserCount,
    },
};
use crate::{
    error::ApiError,
    extract::{AppQuery, AuthMerchant},
    routes::{Reply, params},
    state::AppState,
    store::{
        DateTime,
        audit::AuditFilter,
        audit_views::{ActorCount, AuditGroup},
    },
    validate::Validator,
};

/// Records (newest first) grouped by UTC day, newest day first.
fn by_day(records: Vec<AuditRecord>) -> Vec<AuditDay> {
    let mut days: Vec<AuditDay> = Vec::new();
    for record in records {
        match days.last_mut() {
            Some(last) if last.date == record.day() => last.activities.push(record),
            _ => days.push(AuditDay {
                date: record.day().to_string(),
                count: 0,
                activities: vec![record],
            }),
        }
    }
    for day in &mut days {
        day.count = day.activities.len();
    }
    days
}

/// The latest `limit` (default 100) matching records grouped by UTC day, newest day first.
#[utoipa::path(get, path = "/api/merchant/audit/timeline", tag = "audit", security(("bearer" = [])), params(LogQuery),
    responses((status = 200, description = "Records by day", body = crate::openapi::Envelope<Vec<AuditDay>>)))]
pub async fn timeline(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(mut q): AppQuery<LogQuery>,
) -> Result<Reply<Vec<AuditDay>>, ApiError> {
    auth.require("logs:view")?;
    let mut v = Validator::new();
    let filter = query::filter(&mut v, &mut q);
    let limit = params::int(&mut v, "limit", q.limit, 1, 1000, 100);
    v.finish_as("Query validation failed")?;
    let found = query::page(&state, auth.id(), &filter, 1, limit).await?;
    Ok(Reply::data(by_day(found.logs)))
}

/// Today's (UTC) records.
#[utoipa::path(get, path = "/api/merchant/audit/timeline/today", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "Today's records", body = crate::openapi::Envelope<AuditToday>)))]
pub async fn today(
    State(state): State<AppState>,
    auth: AuthMerchant,
) -> Result<Reply<AuditToday>, ApiError> {
    auth.require("logs:view")?;
    let date = params::day(DateTime::now());
    let filter = AuditFilter {
        start: params::parse_date(&date, false),
        ..AuditFilter::default()
    };
    let found = query::page(&state, auth.id(), &filter, 1, 100).await?;
    Ok(Reply::data(AuditToday {
        date,
        count: found.total,
        activities: found.logs,
    }))
}

/// Query with a limit only.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// How many (1..100).
    pub limit: Option<String>,
}

async fn latest(
    state: &AppState,
    auth: &AuthMerchant,
    filter: AuditFilter,
    limit: Option<String>,
    default: i64,
) -> Result<Reply<AuditLatest>, ApiError> {
    auth.require("logs:view")?;
    let mut v = Validator::new();
    let limit = params::int(&mut v, "limit", limit, 1, 100, default);
    v.finish_as("Query validation failed")?;
    let found = query::page(state, auth.id(), &filter, 1, limit).await?;
    Ok(Reply::data(AuditLatest {
        count: found.logs.len(),
        activities: found.logs,
    }))
}

/// The latest records (default 20).
#[utoipa::path(get, path = "/api/merchant/audit/timeline/recent", tag = "audit", security(("bearer" = [])), params(LimitQuery),
    responses((status = 200, description = "The latest records", body = crate::openapi::Envelope<AuditLatest>)))]
pub async fn recent(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<LimitQuery>,
) -> Result<Reply<AuditLatest>, ApiError> {
    latest(&state, &auth, AuditFilter::default(), q.limit, 20).await
}

/// The latest error and critical records (default 50).
#[utoipa::path(get, path = "/api/merchant/audit/timeline/critical", tag = "audit", security(("bearer" = [])), params(LimitQuery),
    responses((status = 200, description = "The latest records", body = crate::openapi::Envelope<AuditLatest>)))]
pub async fn critical(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<LimitQuery>,
) -> Result<Reply<AuditLatest>, ApiError> {
    let filter = AuditFilter {
        severities: vec!["critical".into(), "error".into()],
        ..AuditFilter::default()
    };
    latest(&state, &auth, filter, q.limit, 50).await
}

/// A date range defaulting to the last 30 days.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// From (default 30 days ago).
    pub start_date: Option<String>,
    /// Until (default now).
    pub end_date: Option<String>,
}

fn period(q: PeriodQuery) -> Result<(DateTime, DateTime), ApiError> {
    let mut v = Validator::new();
    let range = params::date_range_or_last(&mut v, q.start_date, q.end_date, 30);
    v.finish_as("Query validation failed")?;
    Ok(range)
}

/// Per-actor counts, the owner (no member id) named by `owner`.
fn by_user(rows: Vec<ActorCount>, owner: &str) -> Vec<AuditUserCount> {
    rows.into_iter()
        .map(|a| AuditUserCount {
            user_id: a.user.map(|u| u.to_hex()),
            user_name: a.name.unwrap_or_else(|| owner.to_string()),
            count: a.count,
        })
        .collect()
}

fn period_filter(start: DateTime, end: DateTime) -> AuditFilter {
    AuditFilter {
        start: Some(start),
        end: Some(end),
        ..AuditFilter::default()
    }
}

/// Totals of a period by action, resource type, severity, user and day.
#[utoipa::path(get, path = "/api/merchant/audit/timeline/summary", tag = "audit", security(("bearer" = [])), params(PeriodQuery),
    responses((status = 200, description = "The period and its totals", body = crate::openapi::Envelope<AuditSummary>)))]
pub async fn summary(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<PeriodQuery>,
) -> Result<Reply<AuditSummary>, ApiError> {
    auth.require("logs:view")?;
    let (start, end) = period(q)?;
    let totals = totals(&state, &auth, &period_filter(start, end)).await?;
    Ok(Reply::data(AuditSummary {
        period: AuditPeriod::new(start, end),
        summary: totals,
    }))
}

/// The summary's counts, all five queried at once.
async fn totals(
    state: &AppState,
    auth: &AuthMerchant,
    filter: &AuditFilter,
) -> Result<AuditTotals, ApiError> {
    let (store, merchant) = (&state.store, auth.id());
    let counts = |by| async move {
        store
            .audit_counts(merchant, filter, by, None)
            .await
            .map_err(failed)
    };
    let (by_action, by_type, by_severity, daily, actors) = futures::try_join!(
        counts(AuditGroup::Action),
        counts(AuditGroup::ResourceType),
        counts(AuditGroup::Severity),
        counts(AuditGroup::Day),
        async { store.audit_by_actor(merchant, filter).await.map_err(failed) },
    )?;
    Ok(AuditTotals {
        total_activities: by_severity.iter().map(|(_, n)| n).sum(),
        by_action: AuditCounts(by_action),
        by_resource_type: AuditCounts(by_type),
        by_severity: AuditCounts(by_severity),
        by_user: by_user(actors, &auth.merchant.owner_name),
        daily_breakdown: daily
            .into_iter()
            .map(|(date, count)| AuditDayCount { date, count })
            .collect(),
    })
}

/// Record counts per UTC day and hour over a period.
#[utoipa::path(get, path = "/api/merchant/audit/timeline/heatmap", tag = "audit", security(("bearer" = [])), params(PeriodQuery),
    responses((status = 200, description = "Records per day and hour", body = crate::openapi::Envelope<AuditHeatmap>)))]
pub async fn heatmap(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<PeriodQuery>,
) -> Result<Reply<AuditHeatmap>, ApiError> {
    auth.require("logs:view")?;
    let (start, end) = period(q)?;
    let rows = state
        .store
        .audit_heatmap(auth.id(), &period_filter(start, end))
        .await
        .map_err(failed)?;
    Ok(Reply::data(AuditHeatmap {
        period: AuditPeriod::new(start, end),
        heatmap: rows,
    }))
}
