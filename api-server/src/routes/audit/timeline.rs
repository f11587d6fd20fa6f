//! Timeline views of the audit trail: records bucketed by day, today, recent, critical, a
//! period summary and an hour-of-day heatmap (the last two are aggregation pipelines).

use axum::extract::State;
use mongodb::bson::{Bson, Document, doc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::query::{self, LogQuery, counts_object, failed, log_json, with_users};
use crate::{
    error::ApiError,
    extract::{AppQuery, AuthMerchant},
    routes::{Reply, params},
    state::AppState,
    store::{
        DateTime,
        audit::{AuditFilter, day_expr, group_by},
        json::{bson_to_json, iso},
    },
    validate::Validator,
};

fn day_of(d: &Document) -> String {
    d.get_datetime("timestamp")
        .map(|t| params::day(*t))
        .unwrap_or_default()
}

/// The latest `limit` (default 100) matching records grouped by UTC day, newest day first.
#[utoipa::path(get, path = "/api/merchant/audit/timeline", tag = "audit", security(("bearer" = [])), params(LogQuery),
    responses((status = 200, description = "`data` is `[{date, activities, count}]`", body = crate::openapi::Envelope)))]
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
    let (rows, _) = with_users(&state, filter.to_match(auth.id()), 1, limit).await?;
    let mut days: Vec<(String, Vec<Value>)> = Vec::new();
    for d in rows {
        let day = day_of(&d);
        match days.last_mut() {
            Some((last, items)) if *last == day => items.push(log_json(d)),
            _ => days.push((day, vec![log_json(d)])),
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
    responses((status = 200, description = "`{date, activities, count}`", body = crate::openapi::Envelope)))]
pub async fn today(State(state): State<AppState>, auth: AuthMerchant) -> Result<Reply, ApiError> {
    auth.require("logs:view")?;
    let date = params::day(DateTime::now());
    let filter = AuditFilter {
        start: params::parse_date(&date, false),
        ..AuditFilter::default()
    };
    let (rows, total) = with_users(&state, filter.to_match(auth.id()), 1, 100).await?;
    Ok(Reply::data(json!({
        "date": date,
        "count": total,
        "activities": rows.into_iter().map(log_json).collect::<Vec<_>>(),
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
    let (rows, _) = with_users(state, filter.to_match(auth.id()), 1, limit).await?;
    Ok(Reply::data(json!({
        "count": rows.len(),
        "activities": rows.into_iter().map(log_json).collect::<Vec<_>>(),
    })))
}

/// The latest records (default 20).
#[utoipa::path(get, path = "/api/merchant/audit/timeline/recent", tag = "audit", security(("bearer" = [])), params(LimitQuery),
    responses((status = 200, description = "`{activities, count}`", body = crate::openapi::Envelope)))]
pub async fn recent(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<LimitQuery>,
) -> Result<Reply, ApiError> {
    latest(&state, &auth, AuditFilter::default(), q.limit, 20).await
}

/// The latest error and critical records (default 50).
#[utoipa::path(get, path = "/api/merchant/audit/timeline/critical", tag = "audit", security(("bearer" = [])), params(LimitQuery),
    responses((status = 200, description = "`{activities, count}`", body = crate::openapi::Envelope)))]
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

fn by_user_pipeline(m: Document) -> Vec<Document> {
    vec![
        doc! { "$match": m },
        doc! { "$group": { "_id": "$merchantUserId", "count": { "$sum": 1 } } },
        doc! { "$lookup": { "from": "merchantusers", "localField": "_id", "foreignField": "_id", "as": "user" } },
        doc! { "$sort": { "count": -1 } },
    ]
}

fn by_user_json(rows: Vec<Document>, owner: &str) -> Vec<Value> {
    rows.into_iter()
        .map(|d| {
            let id = d.get("_id").cloned().unwrap_or(Bson::Null);
            let name = d
                .get_array("user")
                .ok()
                .and_then(|u| u.first())
                .and_then(Bson::as_document)
                .and_then(|u| u.get_str("name").ok())
                .map_or_else(|| owner.to_string(), str::to_string);
            json!({ "userId": bson_to_json(id), "userName": name, "count": bson_to_json(d.get("count").cloned().unwrap_or(Bson::Int32(0))) })
        })
        .collect()
}

/// Totals of a period by action, resource type, severity, user and day.
#[utoipa::path(get, path = "/api/merchant/audit/timeline/summary", tag = "audit", security(("bearer" = [])), params(PeriodQuery),
    responses((status = 200, description = "`{period, summary}`", body = crate::openapi::Envelope)))]
pub async fn summary(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<PeriodQuery>,
) -> Result<Reply, ApiError> {
    auth.require("logs:view")?;
    let (start, end) = period(q)?;
    let m = AuditFilter {
        start: Some(start),
        end: Some(end),
        ..AuditFilter::default()
    }
    .to_match(auth.id());
    let store = &state.store;
    let run = |p: Vec<Document>| async move { store.audit_aggregate(p).await.map_err(failed) };
    let (by_action, by_type, by_severity, by_user, daily) = futures::try_join!(
        run(group_by(m.clone(), "$action".into(), true, None)),
        run(group_by(m.clone(), "$resourceType".into(), true, None)),
        run(group_by(m.clone(), "$severity".into(), true, None)),
        run(by_user_pipeline(m.clone())),
        run(group_by(m.clone(), day_expr(), false, None)),
    )?;
    let total: i64 = by_severity
        .iter()
        .filter_map(|d| d.get("count"))
        .filter_map(|c| c.as_i32().map(i64::from).or_else(|| c.as_i64()))
        .sum();
    let daily: Vec<Value> = daily
        .into_iter()
        .map(|d| json!({ "date": d.get_str("_id").unwrap_or_default(), "count": bson_to_json(d.get("count").cloned().unwrap_or(Bson::Int32(0))) }))
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
    responses((status = 200, description = "`{period, heatmap:[{date,hour,count}]}`", body = crate::openapi::Envelope)))]
pub async fn heatmap(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<PeriodQuery>,
) -> Result<Reply, ApiError> {
    auth.require("logs:view")?;
    let (start, end) = period(q)?;
    let m = AuditFilter {
        start: Some(start),
        end: Some(end),
        ..AuditFilter::default()
    }
    .to_match(auth.id());
    let pipeline = vec![
        doc! { "$match": m },
        doc! { "$group": { "_id": { "date": day_expr(), "hour": { "$hour": "$timestamp" } }, "count": { "$sum": 1 } } },
        doc! { "$project": { "_id": 0, "date": "$_id.date", "hour": "$_id.hour", "count": 1 } },
        doc! { "$sort": { "date": 1, "hour": 1 } },
    ];
    let rows = state
        .store
        .audit_aggregate(pipeline)
        .await
        .map_err(failed)?;
    Ok(Reply::data(json!({
        "period": { "start": iso(start), "end": iso(end) },
        "heatmap": rows.into_iter().map(|d| bson_to_json(d.into())).collect::<Vec<_>>(),
    })))
}
