//! Shared pieces of the audit views: the query parameters, their parsing into an
//! [`AuditFilter`], and pages of records with the acting team member's name attached.

use mongodb::bson::{Bson, Document, doc};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    audit::Severity,
    error::ApiError,
    routes::params,
    state::AppState,
    store::{ObjectId, audit::AuditFilter, json::bson_to_json},
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
                Some(Value::String(raw)),
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
        user_id: opt_id(v, "userId", q.user_id.take()),
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
pub fn failed(e: mongodb::error::Error) -> ApiError {
    ApiError::internal("Failed to fetch audit logs")(e)
}

/// One record as JSON, with `user` `{id,name,email,role}` when a team member acted.
pub fn log_json(mut d: Document) -> Value {
    let user = match d.remove("user") {
        Some(Bson::Array(mut users)) if !users.is_empty() => match users.swap_remove(0) {
            Bson::Document(u) => Some(doc! {
                "id": u.get("_id").cloned().unwrap_or(Bson::Null),
                "name": u.get_str("name").unwrap_or_default(),
                "email": u.get_str("email").unwrap_or_default(),
                "role": u.get_str("role").unwrap_or_default(),
            }),
            _ => None,
        },
        _ => None,
    };
    d.insert("user", user.map_or(Bson::Null, Bson::Document));
    bson_to_json(Bson::Document(d))
}

/// Records matching `matched` (which names the merchant), newest first, paged, each with its
/// acting team member as `user` (one look-up for the page, name/e-mail/role only); and the total.
pub async fn with_users(
    state: &AppState,
    matched: Document,
    page: u64,
    limit: i64,
) -> Result<(Vec<Document>, u64), ApiError> {
    let store = &state.store;
    let merchant = matched
        .get_object_id("merchantId")
        .map_err(|e| ApiError::Internal {
            message: "Failed to fetch audit logs",
            source: Box::new(e),
        })?;
    let skip = (page - 1) * limit as u64;
    let (total, mut rows) = futures::try_join!(
        store.audit_count(matched.clone()),
        store.audit_find(matched, skip, limit)
    )
    .map_err(failed)?;
    let mut ids: Vec<ObjectId> = rows
        .iter()
        .filter_map(|d| d.get_object_id("merchantUserId").ok())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok((rows, total));
    }
    let users = store.members_by_ids(merchant, ids).await.map_err(failed)?;
    for row in &mut rows {
        let by = row.get_object_id("merchantUserId").ok();
        let user = users.iter().find(|u| Some(u.id) == by).map(|u| {
            doc! { "_id": u.id, "name": &u.name, "email": &u.email, "role": &u.role }
        });
        row.insert(
            "user",
            user.map_or_else(Vec::new, |u| vec![Bson::Document(u)]),
        );
    }
    Ok((rows, total))
}

/// `{label: count}` from `$group` rows whose `_id` is a string.
pub fn counts_object(rows: &[Document]) -> Value {
    let map = rows
        .iter()
        .filter_map(|d| {
            let key = d.get_str("_id").ok()?.to_string();
            Some((key, bson_to_json(d.get("count")?.clone())))
        })
        .collect::<serde_json::Map<_, _>>();
    Value::Object(map)
}
