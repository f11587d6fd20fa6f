//! `/api/merchant/audit` (contract §2.11): logs, stats, search, per-resource and per-user
//! trails, plus the timeline ([`timeline`]), retention ([`retention`]) and export
//! ([`export`]) views. Reads need `logs:view`, export `logs:export`; every query is scoped to
//! the caller's merchant.

mod export;
pub mod query;
mod retention;
mod timeline;
pub mod views;

use axum::{
    Router,
    extract::{Path, State},
    routing::{get, post},
};
use serde::Deserialize;

pub use export::{__path_export, export};
use query::{LogQuery, failed};
pub use retention::{
    __path_cleanup, __path_compliance, __path_retention_stats, cleanup, compliance, retention_stats,
};
pub use timeline::{
    __path_critical, __path_heatmap, __path_recent, __path_summary, __path_timeline, __path_today,
    critical, heatmap, recent, summary, timeline, today,
};

use super::{
    Reply,
    cursor::{CursorParams, Paging},
    params,
};
use crate::{
    error::ApiError,
    extract::{AppQuery, AuthMerchant, object_id},
    state::AppState,
    store::{
        ObjectId,
        audit::{AuditActor, AuditFilter},
        audit_views::AuditGroup,
        keyset::Window,
    },
    validate::Validator,
};
use views::{AuditCounts, AuditLogPage, AuditRecord, AuditSearch, AuditStats};

/// Audit routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/logs", get(logs))
        .route("/stats", get(stats))
        .route("/search", get(search))
        .route("/activity", get(activity))
        .route("/timeline", get(timeline))
        .route("/timeline/today", get(today))
        .route("/timeline/recent", get(recent))
        .route("/timeline/summary", get(summary))
        .route("/timeline/critical", get(critical))
        .route("/timeline/heatmap", get(heatmap))
        .route("/retention/stats", get(retention_stats))
        .route("/retention/compliance", get(compliance))
        .route("/retention/cleanup", post(cleanup))
        .route("/export", get(export))
        .route("/resource/{resource_type}/{resource_id}", get(resource))
        .route("/user/{user_id}", get(user))
}

/// `{logs, total, page, totalPages}` of a filter.
async fn page_of(
    state: &AppState,
    merchant: ObjectId,
    filter: &AuditFilter,
    page: u64,
    limit: i64,
) -> Result<Reply<AuditLogPage>, ApiError> {
    let window = Window::Page(page);
    let found = query::window(state, merchant, filter, &window, limit, true).await?;
    Ok(Reply::data(AuditLogPage::new(found, limit, &window, None)))
}

/// Filtered audit records (default 50 per page), newest first: pages, or a cursor walk.
#[utoipa::path(get, path = "/api/merchant/audit/logs", tag = "audit", security(("bearer" = [])), params(LogQuery, CursorParams),
    responses((status = 200, description = "A page of records (cursor mode: `data.nextCursor` and a `Link` header; no `page`)", body = crate::openapi::Envelope<AuditLogPage>),
        (status = 400, description = "Query validation failed (also a tampered, foreign or mismatched `cursor`)", body = crate::openapi::ErrorBody)))]
pub async fn logs(
    State(state): State<AppState>,
    auth: AuthMerchant,
    paging: Paging,
    AppQuery(mut q): AppQuery<LogQuery>,
) -> Result<Reply<AuditLogPage>, ApiError> {
    auth.require("logs:view")?;
    let mut v = Validator::new();
    let filter = query::filter(&mut v, &mut q);
    let (page, limit) = params::page_limit(&mut v, q.page, q.limit, 50);
    let (window, count) = paging.window(&mut v, &state.auth.cursor, auth.id(), page);
    v.finish_as("Query validation failed")?;
    let found = query::window(&state, auth.id(), &filter, &window, limit, count).await?;
    let more = paging.continuation(&state.auth.cursor, auth.id(), &found);
    Ok(Reply::data(AuditLogPage::new(found, limit, &window, more.next_cursor)).link(more.link))
}

/// Totals by action (top 10) and severity, and the 10 latest records.
#[utoipa::path(get, path = "/api/merchant/audit/stats", tag = "audit", security(("bearer" = [])), params(LogQuery),
    responses((status = 200, description = "Totals and the latest records", body = crate::openapi::Envelope<AuditStats>)))]
pub async fn stats(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(mut q): AppQuery<LogQuery>,
) -> Result<Reply<AuditStats>, ApiError> {
    auth.require("logs:view")?;
    let mut v = Validator::new();
    let filter = query::filter(&mut v, &mut q);
    v.finish_as("Query validation failed")?;
    let store = &state.store;
    let (by_action, by_severity, recent) = futures::try_join!(
        async {
            store
                .audit_counts(auth.id(), &filter, AuditGroup::Action, Some(10))
                .await
                .map_err(failed)
        },
        async {
            store
                .audit_counts(auth.id(), &filter, AuditGroup::Severity, None)
                .await
                .map_err(failed)
        },
        query::page(&state, auth.id(), &filter, 1, 10),
    )?;
    Ok(Reply::data(AuditStats {
        total_logs: recent.total,
        logs_by_action: AuditCounts(by_action),
        logs_by_severity: AuditCounts(by_severity),
        recent_activity: recent.logs,
    }))
}

/// Query of the search.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Text matched case-insensitively against action and resource type.
    pub q: Option<String>,
    /// Resource type.
    pub resource_type: Option<String>,
    /// From.
    pub start_date: Option<String>,
    /// Until (inclusive).
    pub end_date: Option<String>,
}

/// Up to 100 records whose action or resource type contains the term.
#[utoipa::path(get, path = "/api/merchant/audit/search", tag = "audit", security(("bearer" = [])), params(SearchQuery),
    responses((status = 200, description = "Matching records", body = crate::openapi::Envelope<AuditSearch>),
        (status = 400, description = "Search term is required", body = crate::openapi::ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<SearchQuery>,
) -> Result<Reply<AuditSearch>, ApiError> {
    auth.require("logs:view")?;
    let term = q.q.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    let Some(term) = term else {
        return Err(ApiError::BadRequest("Search term is required".into()));
    };
    let mut v = Validator::new();
    let (start, end) = params::date_range(&mut v, q.start_date, q.end_date);
    let filter = AuditFilter {
        resource_type: q.resource_type.filter(|r| !r.is_empty()),
        start,
        end,
        search: Some(term.clone()),
        ..AuditFilter::default()
    };
    v.finish_as("Query validation failed")?;
    let found = query::page(&state, auth.id(), &filter, 1, 100).await?;
    Ok(Reply::data(AuditSearch {
        search_term: term,
        count: found.logs.len(),
        results: found.logs,
    }))
}

/// The 50 latest records as a plain array.
#[utoipa::path(get, path = "/api/merchant/audit/activity", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "`data` is an array of records", body = crate::openapi::Envelope<Vec<AuditRecord>>)))]
pub async fn activity(
    State(state): State<AppState>,
    auth: AuthMerchant,
) -> Result<Reply<Vec<AuditRecord>>, ApiError> {
    auth.require("logs:view")?;
    let found = query::page(&state, auth.id(), &AuditFilter::default(), 1, 50).await?;
    Ok(Reply::data(found.logs))
}

/// Query with paging only.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page (≥ 1).
    pub page: Option<String>,
    /// Page size (1..100, default 50).
    pub limit: Option<String>,
}

/// The trail of one resource.
#[utoipa::path(get, path = "/api/merchant/audit/resource/{resourceType}/{resourceId}", tag = "audit", security(("bearer" = [])),
    params(("resourceType" = String, Path, description = "Resource type"), ("resourceId" = String, Path, description = "Resource id"), PageQuery),
    responses((status = 200, description = "A page of records", body = crate::openapi::Envelope<AuditLogPage>),
        (status = 400, description = "Invalid id", body = crate::openapi::ErrorBody)))]
pub async fn resource(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path((kind, raw)): Path<(String, String)>,
    AppQuery(q): AppQuery<PageQuery>,
) -> Result<Reply<AuditLogPage>, ApiError> {
    auth.require("logs:view")?;
    let id = object_id(&raw, "Invalid resource ID format")?;
    let mut v = Validator::new();
    let (page, limit) = params::page_limit(&mut v, q.page, q.limit, 50);
    v.finish_as("Query validation failed")?;
    let filter = AuditFilter {
        resource_type: Some(kind),
        resource_id: Some(id),
        ..AuditFilter::default()
    };
    page_of(&state, auth.id(), &filter, page, limit).await
}

/// Everything one user did; the merchant's own id selects the owner's actions.
#[utoipa::path(get, path = "/api/merchant/audit/user/{userId}", tag = "audit", security(("bearer" = [])),
    params(("userId" = String, Path, description = "Team member id, or the merchant id for the owner"), PageQuery),
    responses((status = 200, description = "A page of records", body = crate::openapi::Envelope<AuditLogPage>),
        (status = 400, description = "Invalid id", body = crate::openapi::ErrorBody)))]
pub async fn user(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(raw): Path<String>,
    AppQuery(q): AppQuery<PageQuery>,
) -> Result<Reply<AuditLogPage>, ApiError> {
    auth.require("logs:view")?;
    let id = object_id(&raw, "Invalid user ID format")?;
    let mut v = Validator::new();
    let (page, limit) = params::page_limit(&mut v, q.page, q.limit, 50);
    v.finish_as("Query validation failed")?;
    let actor = if id == auth.id() {
        AuditActor::Owner
    } else {
        AuditActor::Member(id)
    };
    let filter = AuditFilter {
        actor,
        ..AuditFilter::default()
    };
    page_of(&state, auth.id(), &filter, page, limit).await
}
