//! Timeline views of the audit trail: records bucketed by day, today, recent, critical, a
//! period summary and an hour-of-day heatmap (the last two are aggregation pipelines).

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::query::{self, LogQuery, counts_object, failed};
use crate::{
    error::ApiError,
    extract::{AppQuery, AuthMerchant},
    routes::{Reply, params},
    state::AppState,
    store::{
        DateTime,
        audit::AuditFilter,
        audit_views::{ActorCount, AuditGroup},
        json::iso,
    },
    validate::Validator,
};

/// The UTC day of a rendered record (its ISO timestamp starts with `YYYY-MM-DD`).
fn day_of(record: &Value) -> String {
    record["timestamp"]
        .as_str()
        .and_then(|t| t.get(..10))
        .unwrap_or_default()
        .to_string()
}

/// The latest `limit` (default 100) matching records grouped by UTC day, newest day first.
#[utoipa::path(get, path = "/api/merchant/audit/timeline", tag = "audit", security(("bearer" = [])), params(LogQuery),
    responses((status = 200, description = "`data` is `[{date, activities, count}]`", body = crate::openapi::AnyEnvelope)))]
pub async fn timeline(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(mut q): AppQuery<LogQuery>,
) -> Result<Reply, ApiError> {
    auth.require("logs:view")?;
    let mut v = Validator::new();
    let filter = query::filter(&mut v, &mut q);
    let limit = params::int(&mut v, "limit", q.limit, 1, 1000, 100);
    v.finish_as("Query validation failed")?;
    let found = query::page(&state, auth.id(), &filter, 1, limit).await?;
    let mut days: Vec<(String, Vec<Value>)> = Vec::new();
    for record in found.logs {
        let day = day_of(&record);
        match days.last_mut() {
            Some((last, items)) if *last == day => items.push(record),
            _ => days.push((day, vec![record])),
        }
    }
    let data: Vec<Value> = days
        .into_iter()
        .map(|(date, activities)| json!({ "date": date, "count": activities.len(), "activities": activities }))
        .collect();
    Ok(Reply::data(Value::Array(data)))
}

/// Today's (UTC) records.
#[utoipa::path(get, path = "/api/merchant/audit/timeline/today", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "`{date, activities, count}`", body = crate::openapi::AnyEnvelope)))]
pub async fn today(State(state): State<AppState>, auth: AuthMerchant) -> Result<Reply, ApiError> {
    auth.require("logs:view")?;
    let date = params::day(DateTime::now());
    let filter = AuditFilter {
        start: params::parse_date(&date, false),
        ..AuditFilter::default()
    };
    let found = query::page(&state, auth.id(), &filter, 1, 100).await?;
    Ok(Reply::data(json!({
        "date": date,
        "count": found.total,
        "activities": found.logs,
    })))
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
) -> Result<Reply, ApiError> {
    auth.require("logs:view")?;
    let mut v = Validator::new();
    let limit = params::int(&mut v, "limit", limit, 1, 100, default);
    v.finish_as("Query validation failed")?;
    let found = query::page(state, auth.id(), &filter, 1, limit).await?;
    Ok(Reply::data(json!({
        "count": found.logs.len(),
        "activities": found.logs,
    })))
}

/// The latest records (default 20).
#[utoipa::path(get, path = "/api/merchant/audit/timeline/recent", tag = "audit", security(("bearer" = [])), params(LimitQuery),
    responses((status = 200, description = "`{activities, count}`", body = crate::openapi::AnyEnvelope)))]
pub async fn recent(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<LimitQuery>,
) -> Result<Reply, ApiError> {
    latest(&state, &auth, AuditFilter::default(), q.limit, 20).await
}

/// The latest error and critical records (default 50).
#[utoipa::path(get, path = "/api/merchant/audit/timeline/critical", tag = "audit", security(("bearer" = [])), params(LimitQuery),
    responses((status = 200, description = "`{activities, count}`", body = crate::openapi::AnyEnvelope)))]
pub async fn critical(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<LimitQuery>,
) -> Result<Reply, ApiError> {
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

fn by_user_json(rows: Vec<ActorCount>, owner: &str) -> Vec<Value> {
    rows.into_iter()
        .map(|a| {
            let name = a.name.unwrap_or_else(|| owner.to_string());
            json!({ "userId": a.user.map(|u| u.to_hex()), "userName": name, "count": a.count })
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
    responses((status = 200, description = "`{period, summary}`", body = crate::openapi::AnyEnvelope)))]
pub async fn summary(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<PeriodQuery>,
) -> Result<Reply, ApiError> {
    auth.require("logs:view")?;
    let (start, end) = period(q)?;
    let filter = &period_filter(start, end);
    let (store, merchant) = (&state.store, auth.id());
    let counts = |by| async move {
        store
            .audit_counts(merchant, filter, by, None)
            .await
            .map_err(failed)
    };
    let (by_action, by_type, by_severity, daily, by_user) = futures::try_join!(
        counts(AuditGroup::Action),
        counts(AuditGroup::ResourceType),
        counts(AuditGroup::Severity),
        counts(AuditGroup::Day),
        async { store.audit_by_actor(merchant, filter).await.map_err(failed) },
    )?;
    let total: i64 = by_severity.iter().map(|(_, n)| n).sum();
    let daily: Vec<Value> = daily
        .into_iter()
        .map(|(date, count)| json!({ "date": date, "count": count }))
        .collect();
    Ok(Reply::data(json!({
        "period": { "start": iso(start), "end": iso(end) },
        "summary": {
            "totalActivities": total,
            "byAction": counts_object(&by_action),
            "byResourceType": counts_object(&by_type),
            "bySeverity": counts_object(&by_severity),
            "byUser": by_user_json(by_user, &auth.merchant.owner_name),
            "dailyBreakdown": daily,
        },
    })))
}

/// Record counts per UTC day and hour over a period.
#[utoipa::path(get, path = "/api/merchant/audit/timeline/heatmap", tag = "audit", security(("bearer" = [])), params(PeriodQuery),
    responses((status = 200, description = "`{period, heatmap:[{date,hour,count}]}`", body = crate::openapi::AnyEnvelope)))]
pub async fn heatmap(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<PeriodQuery>,
) -> Result<Reply, ApiError> {
    auth.require("logs:view")?;
    let (start, end) = period(q)?;
    let rows = state
        .store
        .audit_heatmap(auth.id(), &period_filter(start, end))
        .await
        .map_err(failed)?;
    Ok(Reply::data(json!({
        "period": { "start": iso(start), "end": iso(end) },
        "heatmap": rows,
    })))
}
