//! Shared pieces of the audit views: the query parameters, their parsing into an
//! [`AuditFilter`], and pages of records with the acting team member's name attached.

use serde::Deserialize;

use super::views::{AuditRecord, AuditRecords};
use crate::{
    audit::Severity,
    error::ApiError,
    routes::params,
    state::AppState,
    store::{
        self, ObjectId,
        audit::{AuditActor, AuditFilter},
        keyset::{Listing, Window},
    },
    validate::Validator,
};

/// Filters and paging of the log views.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Exact action (`product.updated`).
    pub action: Option<String>,
    /// Exact resource type (`product`).
    pub resource_type: Option<String>,
    /// Resource id.
    pub resource_id: Option<String>,
    /// Team member id.
    pub user_id: Option<String>,
    /// info | warning | error | critical.
    pub severity: Option<String>,
    /// From (ISO date).
    pub start_date: Option<String>,
    /// Until (ISO date, inclusive).
    pub end_date: Option<String>,
    /// Page (≥ 1).
    pub page: Option<String>,
    /// Page size (1..100).
    pub limit: Option<String>,
}

fn opt_id(v: &mut Validator, field: &str, raw: Option<String>) -> Option<ObjectId> {
    let raw = raw.filter(|r| !r.is_empty())?;
    ObjectId::parse_str(&raw)
        .map_err(|_| {
            v.error(
                field,
                format!("\"{field}\" must be a valid id"),
                Some(raw.into()),
            )
        })
        .ok()
}

/// Parse the filters (not the paging).
pub fn filter(v: &mut Validator, q: &mut LogQuery) -> AuditFilter {
    let (start, end) = params::date_range(v, q.start_date.take(), q.end_date.take());
    AuditFilter {
        action: q.action.take().filter(|a| !a.is_empty()),
        resource_type: q.resource_type.take().filter(|a| !a.is_empty()),
        resource_id: opt_id(v, "resourceId", q.resource_id.take()),
        actor: opt_id(v, "userId", q.user_id.take()).map_or(AuditActor::Anyone, AuditActor::Member),
        severities: v
            .one_of("severity", q.severity.take(), Severity::ALL)
            .map(|s| vec![s.to_string()])
            .unwrap_or_default(),
        start,
        end,
        search: None,
    }
}

/// Map a store failure to the views' 500.
pub fn failed(e: store::Error) -> ApiError {
    ApiError::internal("Failed to fetch audit logs")(e)
}

/// A page of the merchant's records matching `filter`, with the acting team members, counted.
pub async fn page(
    state: &AppState,
    merchant: ObjectId,
    filter: &AuditFilter,
    page: u64,
    limit: i64,
) -> Result<AuditRecords, ApiError> {
    let found = window(state, merchant, filter, &Window::Page(page), limit, true).await?;
    Ok(AuditRecords {
        total: found.total.unwrap_or_default(),
        logs: found.items,
    })
}

/// A window (a page or a keyset window) of the merchant's records matching `filter`, with the
/// acting team members, counted when asked.
pub async fn window(
    state: &AppState,
    merchant: ObjectId,
    filter: &AuditFilter,
    window: &Window,
    limit: i64,
    count: bool,
) -> Result<Listing<AuditRecord>, ApiError> {
    let found = state
        .store
        .audit_window(merchant, filter, window, limit, count)
        .await
        .map_err(failed)?;
    Ok(found.map_items(AuditRecord::from))
}
