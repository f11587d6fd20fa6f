//! Audit export: JSON in the envelope by default, or a CSV/XLSX attachment named
//! `audit_logs_<merchantId>_<epoch>.<ext>` with `download=true`.

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::query;
use crate::{
    error::ApiError,
    extract::{AppQuery, AuthMerchant},
    routes::{Reply, params},
    state::AppState,
    store::{DateTime, audit::AuditFilter, json::iso},
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

fn row(v: &Value) -> Vec<Cell> {
    let s = |p: &str| {
        Cell::Text(
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        )
    };
    let user = v
        .pointer("/user/name")
        .and_then(Value::as_str)
        .unwrap_or("owner");
    let changes = v
        .pointer("/details/changes")
        .map(Value::to_string)
        .unwrap_or_default();
    vec![
        s("/timestamp"),
        s("/action"),
        s("/resourceType"),
        s("/resourceId"),
        user.into(),
        s("/severity"),
        s("/ipAddress"),
        s("/userAgent"),
        s("/requestId"),
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
    responses((status = 200, description = "`{logs,total,startDate,endDate}`, or a CSV/XLSX attachment", body = crate::openapi::AnyEnvelope),
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
        return Ok(Reply::data(
            json!({ "logs": logs, "total": total, "startDate": iso(start), "endDate": iso(end) }),
        )
        .message("Export data retrieved successfully")
        .into_response());
    }
    let table: Vec<Vec<Cell>> = logs.iter().map(row).collect();
    let name = format!(
        "audit_logs_{}_{}.{format}",
        auth.id().to_hex(),
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
