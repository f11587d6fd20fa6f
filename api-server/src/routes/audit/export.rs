//! Audit export: JSON in the envelope by default, or a CSV/XLSX attachment named
//! `audit_logs_<merchantId>_<epoch>.<ext>` with `download=true`.

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{
    query,
    views::{AuditExport, AuditRecord},
};
use crate::{
    error::ApiError,
    extract::{AppQuery, AuthMerchant},
    routes::{Reply, params},
    state::AppState,
    store::{DateTime, ObjectId, audit::AuditFilter, json::iso},
    tabular::{self, Cell},
    validate::Validator,
};

/// Most records one export returns.
const MAX_ROWS: i64 = 1000;

const HEADERS: [&str; 10] = [
    "Timestamp",
    "Action",
    "Resource Type",
    "Resource ID",
    "User",
    "Severity",
    "IP Address",
    "User Agent",
    "Request ID",
    "Changes",
];

/// Query of the export.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// From (default 30 days ago).
    pub start_date: Option<String>,
    /// Until (default now).
    pub end_date: Option<String>,
    /// json (default) | csv | xlsx.
    pub format: Option<String>,
    /// `true` returns a file attachment (csv or xlsx).
    pub download: Option<String>,
}

/// One record as a table row; the owner's records name the user `owner`.
fn row(r: &AuditRecord) -> Vec<Cell> {
    let text = |t: &str| Cell::Text(t.to_string());
    let user = r.user.as_ref().map_or("owner", |u| u.name.as_str());
    let changes = r
        .details
        .changes
        .as_ref()
        .and_then(|c| serde_json::to_string(c).ok())
        .unwrap_or_default();
    vec![
        text(&r.timestamp),
        text(&r.action),
        text(&r.resource_type),
        text(r.resource_id.as_deref().unwrap_or_default()),
        user.into(),
        text(&r.severity),
        text(&r.ip_address),
        text(&r.user_agent),
        text(r.request_id.as_deref().unwrap_or_default()),
        changes.into(),
    ]
}

fn attachment(bytes: Vec<u8>, mime: &'static str, name: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// Export up to 1000 records of a period (default: the last 30 days).
#[utoipa::path(get, path = "/api/merchant/audit/export", tag = "audit", security(("bearer" = [])), params(ExportQuery),
    responses((status = 200, description = "The records as JSON, or a CSV/XLSX attachment", body = crate::openapi::Envelope<AuditExport>),
        (status = 400, description = "Query validation failed", body = crate::openapi::ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    auth.require("logs:export")?;
    let mut v = Validator::new();
    let (start, end) = params::date_range_or_last(&mut v, q.start_date, q.end_date, 30);
    let format = v
        .one_of("format", q.format, &["json", "csv", "xlsx"])
        .unwrap_or("json");
    let download = v.one_of("download", q.download, &["true", "false"]) == Some("true");
    v.finish_as("Query validation failed")?;
    let filter = AuditFilter {
        start: Some(start),
        end: Some(end),
        ..AuditFilter::default()
    };
    let found = query::page(&state, auth.id(), &filter, 1, MAX_ROWS).await?;
    let (logs, total) = (found.logs, found.total);
    if !download || format == "json" {
        let data = AuditExport {
            logs,
            total,
            start_date: iso(start),
            end_date: iso(end),
        };
        return Ok(Reply::data(data)
            .message("Export data retrieved successfully")
            .into_response());
    }
    attachment_of(auth.id(), format, &logs)
}

/// The records as a CSV or XLSX attachment.
fn attachment_of(
    merchant: ObjectId,
    format: &str,
    logs: &[AuditRecord],
) -> Result<Response, ApiError> {
    let table: Vec<Vec<Cell>> = logs.iter().map(row).collect();
    let name = format!(
        "audit_logs_{}_{}.{format}",
        merchant.to_hex(),
        DateTime::now().timestamp_millis() / 1000
    );
    let rendered = if format == "csv" {
        tabular::csv(&HEADERS, &table).map(|b| attachment(b, "text/csv; charset=utf-8", name))
    } else {
        tabular::xlsx("Audit logs", &HEADERS, &table).map(|b| {
            attachment(
                b,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                name,
            )
        })
    };
    rendered.map_err(|e| ApiError::Internal {
        message: "Failed to export audit logs",
        source: Box::new(e),
    })
}
