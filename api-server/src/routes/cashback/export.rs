//! Cashback export: CSV (or XLSX for `format=excel`) returned inline as the contract's data URL.
//! The peer queued a background job above 1000 rows; here every export is produced inline, up to
//! [`MAX_ROWS`] (beyond that the client narrows the range: 400).

use axum::extract::State;
use base64::Engine;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::{range_filter, views::CashbackExport};
use crate::{
    error::ApiError,
    extract::{AppQuery, AuthMerchant},
    routes::Reply,
    state::AppState,
    store::{DateTime, cashback::CashbackDoc, json::iso},
    tabular::{self, Cell},
    validate::Validator,
};

/// Most rows one export returns.
pub const MAX_ROWS: u64 = 10_000;

/// `encodeURIComponent`'s unreserved set.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

const HEADERS: [&str; 13] = [
    "Request Number",
    "Customer Name",
    "Customer Email",
    "Order Number",
    "Requested Amount",
    "Approved Amount",
    "Status",
    "Priority",
    "Risk Score",
    "Payment Method",
    "Payment Reference",
    "Created At",
    "Paid At",
];

/// Query of the export.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// From (ISO date).
    pub start_date: Option<String>,
    /// Until (ISO date, inclusive).
    pub end_date: Option<String>,
    /// Status filter.
    pub status: Option<String>,
    /// csv (default) | excel.
    pub format: Option<String>,
}

fn row(c: &CashbackDoc) -> Vec<Cell> {
    let text = |t: Option<&str>| Cell::opt(t.map(str::to_string));
    vec![
        c.request_number.clone().into(),
        text(c.customer_text("name")),
        text(c.customer_text("email")),
        text(c.order_text("orderNumber")),
        c.requested_amount.into(),
        c.approved_amount
            .map_or(Cell::Text(String::new()), Cell::Num),
        c.status.clone().into(),
        c.priority.clone().into(),
        c.risk_score.into(),
        Cell::opt(c.payment_method.clone()),
        Cell::opt(c.payment_reference.clone()),
        iso(c.created_at).into(),
        Cell::opt(c.paid_at.map(iso)),
    ]
}

fn render(excel: bool, rows: &[Vec<Cell>]) -> Result<String, tabular::TableError> {
    Ok(if excel {
        let bytes = tabular::xlsx("Cashback", &HEADERS, rows)?;
        format!(
            "data:application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    } else {
        let bytes = tabular::csv(&HEADERS, rows)?;
        let text = String::from_utf8_lossy(&bytes);
        format!(
            "data:text/csv;charset=utf-8,{}",
            utf8_percent_encode(&text, URI_COMPONENT)
        )
    })
}

/// Export the merchant's requests as a data URL.
#[utoipa::path(get, path = "/api/merchant/cashback/export", tag = "cashback", security(("bearer" = [])), params(ExportQuery),
    responses((status = 200, description = "The export as a data URL", body = crate::openapi::Envelope<CashbackExport>),
        (status = 400, description = "Query validation failed or too many rows", body = crate::openapi::ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<ExportQuery>,
) -> Result<Reply<CashbackExport>, ApiError> {
    auth.require("orders:export")?;
    let mut v = Validator::new();
    let filter = range_filter(&mut v, q.start_date, q.end_date, q.status);
    let format = v
        .one_of("format", q.format, &["csv", "excel"])
        .unwrap_or("csv");
    v.finish_as("Query validation failed")?;
    let items = state
        .store
        .cashback_export(auth.id(), &filter, MAX_ROWS as i64 + 1)
        .await
        .map_err(ApiError::internal("Failed to export cashback requests"))?;
    if items.len() as u64 > MAX_ROWS {
        return Err(ApiError::BadRequest(format!(
            "More than {MAX_ROWS} cashback requests match; narrow the date range"
        )));
    }
    let rows: Vec<Vec<Cell>> = items.iter().map(row).collect();
    let url = render(format == "excel", &rows).map_err(|e| ApiError::Internal {
        message: "Failed to export cashback requests",
        source: Box::new(e),
    })?;
    let expires = DateTime::from_millis(DateTime::now().timestamp_millis() + 3_600_000);
    Ok(Reply::data(CashbackExport {
        download_url: url,
        expires_at: iso(expires),
        record_count: rows.len(),
        format,
    })
    .message("Export ready for download"))
}
