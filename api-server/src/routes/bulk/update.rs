//! Rows of `POST /bulk/products/bulk-update`: each row names one of the merchant's products by
//! `sku` and changes only the cells it fills, with the validation of `PUT /products/{id}`
//! (an exported file, edited, is a valid update file). Every row is checked before anything is
//! written; `imageUrl` is not an update column (images are managed through uploads).

use std::collections::HashMap;

use super::{
    rows::{RowError, column_of, columns, present, resolve_references, row_body, validate_body},
    sheet::Table,
};
use crate::{
    domain::{ProductPatch, Sku},
    error::ApiError,
    routes::products::types::ProductFields,
    state::AppState,
    store::{ObjectId, products::ProductDoc},
};

/// Outcome of checking an update file.
#[derive(Debug, Default)]
pub struct UpdatePlan {
    /// Data rows.
    pub total: usize,
    /// Rows without errors.
    pub valid: usize,
    /// Problems by row.
    pub errors: Vec<RowError>,
    /// (row, product before the change, its patch), only when `errors` is empty.
    pub updates: Vec<(usize, ProductDoc, ProductPatch)>,
}

struct Checked {
    row: usize,
    sku: String,
    fields: ProductFields,
}

fn check_row(
    cols: &HashMap<&'static str, usize>,
    row: usize,
    cells: &[String],
) -> Result<Checked, Vec<RowError>> {
    let mut cells = present(cols, cells);
    let Some(raw_sku) = cells.remove("sku") else {
        return Err(vec![RowError::new(row, "sku", "\"sku\" is required")]);
    };
    let sku =
        Sku::parse(raw_sku).map_err(|e| vec![RowError::new(row, "sku", format!("\"sku\" {e}"))])?;
    cells.remove("imageUrl");
    if cells.is_empty() {
        return Err(vec![RowError::new(
            row,
            "row",
            "Nothing to update: fill at least one column besides sku",
        )]);
    }
    let (body, mut errors) = row_body(&cells, row);
    match validate_body(body, false, row, &mut errors) {
        Some(fields) => Ok(Checked {
            row,
            sku: sku.into_string(),
            fields,
        }),
        None => Err(errors),
    }
}

/// A valid row as the product it changes and its patch with the category resolved; or its one
/// problem: no product with its SKU, a SKU used on an earlier row, an unknown category.
fn resolve_row(
    c: Checked,
    products: &HashMap<String, ProductDoc>,
    categories: &HashMap<String, ObjectId>,
    first_use: &mut HashMap<String, usize>,
) -> Result<(usize, ProductDoc, ProductPatch), RowError> {
    let Some(product) = products.get(&c.sku) else {
        return Err(RowError::new(c.row, "sku", "Product not found"));
    };
    if let Some(first) = first_use.insert(c.sku.clone(), c.row) {
        return Err(RowError::new(
            c.row,
            "sku",
            format!("Duplicate SKU in file (first used on row {first})"),
        ));
    }
    let category = match c.fields.category.as_deref() {
        None => None,
        Some(r) => match categories.get(r) {
            Some(id) => Some(*id),
            None => {
                return Err(RowError::new(
                    c.row,
                    column_of("category"),
                    format!("Category \"{r}\" not found. Please use a valid category name or ID."),
                ));
            }
        },
    };
    let mut patch = c.fields.patch;
    patch.category = category;
    Ok((c.row, product.clone(), patch))
}

/// Check every row; when all are valid, compute each product's patch (priced, like
/// `PUT /products/{id}`, against the product's stored pricing).
pub async fn plan(
    state: &AppState,
    merchant: ObjectId,
    table: &Table,
) -> Result<UpdatePlan, ApiError> {
    let cols = columns(&table.header, &["sku"])?;
    let mut plan = UpdatePlan {
        total: table.rows.len(),
        ..UpdatePlan::default()
    };
    let mut checked = Vec::new();
    for (row, cells) in &table.rows {
        match check_row(&cols, *row, cells) {
            Ok(c) => checked.push(c),
            Err(e) => plan.errors.extend(e),
        }
    }
    let skus: Vec<String> = checked.iter().map(|c| c.sku.clone()).collect();
    let products: HashMap<String, ProductDoc> = state
        .store
        .products_by_skus(merchant, &skus)
        .await
        .map_err(ApiError::internal("Failed to update products"))?
        .into_iter()
        .map(|p| (p.sku.clone(), p))
        .collect();
    let categories = resolve_references(
        state,
        checked.iter().filter_map(|c| c.fields.category.as_deref()),
    )
    .await?;
    let mut first_use: HashMap<String, usize> = HashMap::new();
    let mut good = Vec::new();
    for c in checked {
        match resolve_row(c, &products, &categories, &mut first_use) {
            Ok(update) => good.push(update),
            Err(e) => plan.errors.push(e),
        }
    }
    plan.valid = good.len();
    plan.errors.sort_by_key(|e| e.row);
    if plan.errors.is_empty() {
        plan.updates = good;
    }
    Ok(plan)
}
