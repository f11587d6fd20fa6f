//! `/api/merchant/bulk` (contract §2.6): product template and export as CSV or XLSX, and
//! validate/import of a CSV/XLS/XLSX file row by row. Import is all-or-nothing: every row is
//! checked first, and the products are inserted in one transaction (or inserted and removed
//! again on failure where the deployment has no transactions).

mod rows;
pub mod sheet;
mod update;

use std::collections::HashMap;

use axum::{
    Json, Router,
    extract::{Multipart, State, multipart::MultipartRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use self::{
    rows::Plan,
    sheet::{COLUMNS, Cell, Format},
};
use super::Reply;
use crate::{
    body_limit::limit,
    error::{ApiError, on_duplicate_key},
    extract::{AppQuery, AuthMerchant},
    state::AppState,
    store::products::ProductDoc,
    uploads::multipart::{Limits, authorized_form},
};

const FILE: Limits = Limits::new(
    "file",
    1,
    10 * 1024 * 1024,
    "File too large. Maximum size is 10MB.",
);

/// Bulk routes (below `/api/merchant/bulk`).
pub fn router() -> Router<AppState> {
    let limited = |route| limit(route, FILE.body_limit());
    Router::new()
        .route("/products/template", get(template))
        .route("/products/export", get(export))
        .route("/products/validate", limited(post(validate)))
        .route("/products/import", limited(post(import)))
        .route("/products/bulk-update", limited(post(bulk_update)))
}

/// `?format=csv|xlsx|excel`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// csv (default) | xlsx | excel.
    pub format: Option<String>,
}

fn download(format: Format, name: &str, bytes: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{name}.{}\"", format.ext());
    let mut response = (StatusCode::OK, bytes).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.mime()),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// The import template: the header and one example row.
#[utoipa::path(get, path = "/api/merchant/bulk/products/template", tag = "bulk", security(("bearer" = [])), params(FormatQuery),
    responses((status = 200, description = "product-import-template.csv|xlsx", content_type = "text/csv"),
        (status = 400, description = "Invalid format", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing products:export", body = crate::openapi::ErrorBody)))]
pub async fn template(
    auth: AuthMerchant,
    AppQuery(q): AppQuery<FormatQuery>,
) -> Result<Response, ApiError> {
    auth.require("products:export")?;
    let format = Format::parse(q.format.as_deref())?;
    let example = vec![
        text("Classic Cotton T-Shirt"),
        text("Soft 100% cotton t-shirt with a relaxed fit."),
        text("Everyday cotton tee"),
        Cell::Number(19.99),
        Cell::Number(24.99),
        text("General"),
        text("T-Shirts"),
        text("Acme"),
        text("TSHIRT-001"),
        text("0123456789012"),
        Cell::Number(100.0),
        Cell::Number(10.0),
        Cell::Number(0.2),
        text("cotton,summer"),
        text("active"),
        text("public"),
        Cell::Number(5.0),
        text("https://example.com/images/tshirt.jpg"),
    ];
    let bytes = sheet::write(format, &COLUMNS, &[example])?;
    Ok(download(format, "product-import-template", bytes))
}

fn opt_text(s: &Option<String>) -> Cell {
    Cell::Text(s.clone().unwrap_or_default())
}

fn opt_number(n: Option<f64>) -> Cell {
    n.map_or(Cell::Text(String::new()), Cell::Number)
}

/// One export row (the template's columns without `imageUrl`).
fn export_row(p: &ProductDoc, categories: &HashMap<crate::store::ObjectId, String>) -> Vec<Cell> {
    let compare = (p.pricing.original > p.pricing.selling).then_some(p.pricing.original);
    let category = categories
        .get(&p.category)
        .cloned()
        .unwrap_or_else(|| p.category.to_hex());
    vec![
        text(&p.name),
        text(&p.description),
        opt_text(&p.short_description),
        Cell::Number(p.pricing.selling),
        opt_number(compare),
        Cell::Text(category),
        opt_text(&p.subcategory),
        opt_text(&p.brand),
        text(&p.sku),
        opt_text(&p.barcode),
        Cell::Number(p.inventory.stock as f64),
        Cell::Number(p.inventory.low_stock_threshold as f64),
        opt_number(p.weight),
        Cell::Text(p.tags.join(",")),
        text(&p.status),
        text(&p.visibility),
        Cell::Number(p.cashback.percentage),
    ]
}

/// Every product of the caller's merchant as a file.
#[utoipa::path(get, path = "/api/merchant/bulk/products/export", tag = "bulk", security(("bearer" = [])), params(FormatQuery),
    responses((status = 200, description = "products-export-<epoch>.csv|xlsx (17 columns)", content_type = "text/csv"),
        (status = 400, description = "Invalid format", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing products:export", body = crate::openapi::ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppQuery(q): AppQuery<FormatQuery>,
) -> Result<Response, ApiError> {
    auth.require("products:export")?;
    let format = Format::parse(q.format.as_deref())?;
    let failed = || ApiError::internal("Failed to export products");
    let products = state
        .store
        .all_products(auth.id())
        .await
        .map_err(failed())?;
    let mut ids: Vec<_> = products.iter().map(|p| p.category).collect();
    ids.sort();
    ids.dedup();
    let categories = state.store.category_names(&ids).await.map_err(failed())?;
    let rows: Vec<Vec<Cell>> = products
        .iter()
        .map(|p| export_row(p, &categories))
        .collect();
    let bytes = sheet::write(format, &COLUMNS[..COLUMNS.len() - 1], &rows)?;
    let name = format!("products-export-{}", chrono::Utc::now().timestamp_millis());
    tracing::info!(merchant = %auth.id(), rows = rows.len(), format = format.ext(), "products.exported");
    Ok(download(format, &name, bytes))
}

/// Read the uploaded `file` into a table with at least one data row.
async fn read_file(
    auth: &AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<sheet::Table, ApiError> {
    let form = authorized_form(auth.require("products:bulk_import"), multipart, &FILE).await?;
    let file = form.one_file()?;
    let table = sheet::read_off_runtime(file.bytes.clone()).await?;
    if table.rows.is_empty() {
        return Err(ApiError::BadRequest("The file has no product rows".into()));
    }
    Ok(table)
}

/// Read the uploaded `file` and check every row.
async fn check_file(
    state: &AppState,
    auth: &AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Plan, ApiError> {
    let table = read_file(auth, multipart).await?;
    rows::plan(state, auth.id(), &table).await
}

/// A file's per-row validation report.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RowReport<'a> {
    /// No row has an error.
    pub valid: bool,
    /// Data rows in the file.
    pub total_rows: usize,
    /// Rows without errors.
    pub valid_rows: usize,
    /// Rows with errors.
    pub invalid_rows: usize,
    /// Every problem, by row and column.
    pub errors: &'a [rows::RowError],
}

fn report(total: usize, valid: usize, errors: &[rows::RowError]) -> RowReport<'_> {
    RowReport {
        valid: errors.is_empty(),
        total_rows: total,
        valid_rows: valid,
        invalid_rows: total - valid,
        errors,
    }
}

/// The 400 body of a file with invalid rows: the error envelope with the report at `data`.
#[derive(Debug, Serialize)]
struct Rejected<'a> {
    success: bool,
    message: String,
    data: RowReport<'a>,
}

/// The 400 of a file with invalid rows: the report at `data`, nothing written.
fn rows_rejected(what: &str, total: usize, valid: usize, errors: &[rows::RowError]) -> Response {
    let body = Rejected {
        success: false,
        message: format!(
            "{what} failed: {} of {total} rows have errors; nothing was changed",
            total - valid
        ),
        data: report(total, valid, errors),
    };
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// `data` of `POST /bulk/products/import`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportResult {
    /// Products created.
    pub imported: usize,
    /// Data rows in the file.
    pub total_rows: usize,
    /// The products created, by row.
    pub products: Vec<ImportedProduct>,
}

/// A product created from a row.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedProduct {
    /// Row number as the spreadsheet shows it.
    pub row: usize,
    /// Product id (24-hex).
    #[serde(rename = "_id")]
    pub id: String,
    /// SKU.
    pub sku: String,
    /// Name.
    pub name: String,
}

/// `data` of `POST /bulk/products/bulk-update`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkUpdateResult {
    /// Products changed.
    pub updated: usize,
    /// Data rows in the file.
    pub total_rows: usize,
    /// The products changed, by row.
    pub products: Vec<UpdatedRow>,
}

/// A product changed by a row.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdatedRow {
    /// Row number as the spreadsheet shows it.
    pub row: usize,
    /// Product id (24-hex).
    #[serde(rename = "_id")]
    pub id: String,
    /// SKU.
    pub sku: String,
}

/// Check a file without importing it: a per-row error report.
#[utoipa::path(post, path = "/api/merchant/bulk/products/validate", tag = "bulk", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data", description = "`file`: CSV, XLS or XLSX ≤ 10 MB"),
    responses((status = 200, description = "`data`: {valid, totalRows, validRows, invalidRows, errors[{row, column, message}]}", body = crate::openapi::Envelope<RowReport>),
        (status = 400, description = "No file, not a sheet, missing columns, too large", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing products:bulk_import", body = crate::openapi::ErrorBody)))]
pub async fn validate(
    State(state): State<AppState>,
    auth: AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let plan = check_file(&state, &auth, multipart).await?;
    let message = if plan.errors.is_empty() {
        format!("All {} rows are valid", plan.total)
    } else {
        format!(
            "{} of {} rows have errors",
            plan.total - plan.valid,
            plan.total
        )
    };
    // The report borrows the plan: rendered here, before the plan goes.
    Ok(Reply::data(report(plan.total, plan.valid, &plan.errors))
        .message(message)
        .into_response())
}

/// Import every row as a new product, or nothing when any row is invalid.
#[utoipa::path(post, path = "/api/merchant/bulk/products/import", tag = "bulk", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data", description = "`file`: CSV, XLS or XLSX ≤ 10 MB"),
    responses((status = 200, description = "`data`: {imported, totalRows, products[{row, _id, sku, name}]}", body = crate::openapi::Envelope<ImportResult>),
        (status = 400, description = "Invalid rows (`data` is the validation report; nothing imported), no file, not a sheet", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing products:bulk_import", body = crate::openapi::ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    auth: AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let plan = check_file(&state, &auth, multipart).await?;
    if !plan.errors.is_empty() {
        return Ok(rows_rejected(
            "Import",
            plan.total,
            plan.valid,
            &plan.errors,
        ));
    }
    let docs: Vec<ProductDoc> = plan.products.iter().map(|(_, p)| p.clone()).collect();
    state
        .store
        .insert_products_atomically(&docs)
        .await
        .map_err(on_duplicate_key(
            // A SKU taken between the check and the insert: the transaction left nothing.
            || {
                ApiError::BadRequest(
                    "SKU already exists (taken during the import); nothing was imported".into(),
                )
            },
            "Failed to import products",
        ))?;
    let products = plan
        .products
        .into_iter()
        .map(|(row, p)| ImportedProduct {
            row,
            id: p.id.to_hex(),
            sku: p.sku,
            name: p.name,
        })
        .collect();
    tracing::info!(merchant = %auth.id(), imported = docs.len(), "products.imported");
    Ok(Reply::data(ImportResult {
        imported: docs.len(),
        total_rows: plan.total,
        products,
    })
    .message(format!("Imported {} products", docs.len()))
    .into_response())
}

/// Change existing products named by `sku`, all rows or none.
#[utoipa::path(post, path = "/api/merchant/bulk/products/bulk-update", tag = "bulk", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data", description = "`file`: CSV, XLS or XLSX ≤ 10 MB with a `sku` column and any export columns to change (empty cells are left alone)"),
    responses((status = 200, description = "`data`: {updated, totalRows, products[{row, _id, sku}]}", body = crate::openapi::Envelope<BulkUpdateResult>),
        (status = 400, description = "Invalid rows (`data` is the report; nothing changed), no file, not a sheet, no sku column", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing products:bulk_import", body = crate::openapi::ErrorBody)))]
pub async fn bulk_update(
    State(state): State<AppState>,
    auth: AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let table = read_file(&auth, multipart).await?;
    let plan = update::plan(&state, auth.id(), &table).await?;
    if !plan.errors.is_empty() {
        return Ok(rows_rejected(
            "Update",
            plan.total,
            plan.valid,
            &plan.errors,
        ));
    }
    let changes: Vec<_> = plan
        .updates
        .iter()
        .map(|(_, before, patch)| (before.clone(), patch.clone()))
        .collect();
    let replaced = state
        .store
        .update_products_atomically(auth.id(), &changes)
        .await
        .map_err(ApiError::internal("Failed to update products"))?;
    // Stock crossings against what each write replaced, once the whole file is applied.
    for (i, before) in &replaced {
        let mv = changes[*i]
            .1
            .stock
            .applied_to(before.stock_line(before.inventory.stock));
        crate::notifications::stock_changed(&state.store, before, None, mv).await;
    }
    tracing::info!(merchant = %auth.id(), updated = plan.updates.len(), "products.bulk_updated");
    Ok(updated_reply(plan).into_response())
}

/// The reply of an applied bulk update: each changed product by row.
fn updated_reply(plan: update::UpdatePlan) -> Reply<BulkUpdateResult> {
    let products: Vec<UpdatedRow> = plan
        .updates
        .into_iter()
        .map(|(row, p, _)| UpdatedRow {
            row,
            id: p.id.to_hex(),
            sku: p.sku,
        })
        .collect();
    let message = format!("Updated {} products", products.len());
    Reply::data(BulkUpdateResult {
        updated: products.len(),
        total_rows: plan.total,
        products,
    })
    .message(message)
}
