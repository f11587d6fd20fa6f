//! Sheet rows into new products. Each row goes through the validation of `POST /products`
//! (same rules, same messages, renamed to the sheet's columns); then categories are resolved,
//! and SKUs checked for uniqueness within the file and against the catalogue. Every problem is
//! reported with its row number and column; nothing is built unless every row is valid.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use utoipa::ToSchema;

use super::sheet::{COLUMNS, REQUIRED_COLUMNS, Table};
use crate::{
    domain::{ProductPlacement, Sku, slugify},
    error::{ApiError, FieldError},
    routes::products::types::{
        CashbackInput, ImageInput, InventoryInput, ProductFields, ProductInput,
    },
    state::AppState,
    store::{ObjectId, products::ProductDoc},
};

/// One problem in one cell.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RowError {
    /// Row number as the spreadsheet shows it.
    pub row: usize,
    /// Column name.
    pub column: String,
    /// What is wrong.
    pub message: String,
}

impl RowError {
    pub(super) fn new(row: usize, column: &str, message: impl Into<String>) -> Self {
        Self {
            row,
            column: column.into(),
            message: message.into(),
        }
    }
}

/// Outcome of checking a file.
#[derive(Debug, Default)]
pub struct Plan {
    /// Data rows in the file.
    pub total: usize,
    /// Rows without errors.
    pub valid: usize,
    /// Every problem found, by row.
    pub errors: Vec<RowError>,
    /// The products to insert (only when `errors` is empty), with their row numbers.
    pub products: Vec<(usize, ProductDoc)>,
}

/// A validated row waiting for its category and SKU.
struct Checked {
    row: usize,
    fields: ProductFields,
    category: String,
}

/// Position of each known column in the header; 400 when a required one is missing.
pub(super) fn columns(
    header: &[String],
    required: &[&str],
) -> Result<HashMap<&'static str, usize>, ApiError> {
    let found: HashMap<&'static str, usize> = COLUMNS
        .iter()
        .filter_map(|c| {
            header
                .iter()
                .position(|h| h.eq_ignore_ascii_case(c))
                .map(|i| (*c, i))
        })
        .collect();
    let missing: Vec<FieldError> = required
        .iter()
        .filter(|c| !found.contains_key(*c))
        .map(|c| FieldError::new(*c, format!("Column \"{c}\" is required"), None))
        .collect();
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(ApiError::Validation {
            message: "Missing required columns",
            errors: missing,
        })
    }
}

/// The sheet column a validation field belongs to.
pub(super) fn column_of(field: &str) -> &str {
    match field {
        "inventory" | "inventory.stock" => "stock",
        "inventory.lowStockThreshold" => "lowStockThreshold",
        "cashback" | "cashback.percentage" => "cashbackPercentage",
        f if f.starts_with("images") => "imageUrl",
        f => f,
    }
}

/// The product body a row stands for (only the cells it fills, as `POST /products` would read
/// them), plus the cells that are not numbers where numbers belong.
pub(super) fn row_body(
    cells: &HashMap<&'static str, &str>,
    row: usize,
) -> (ProductInput, Vec<RowError>) {
    let (mut body, errors) = row_numbers(cells, row);
    let text = |key: &str| cells.get(key).map(|v| v.to_string());
    body = ProductInput {
        name: text("name"),
        description: text("description"),
        short_description: text("shortDescription"),
        category: text("category"),
        subcategory: text("subcategory"),
        brand: text("brand"),
        sku: text("sku"),
        barcode: text("barcode"),
        status: text("status"),
        visibility: text("visibility"),
        tags: cells.get("tags").map(|tags| {
            tags.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        }),
        images: text("imageUrl").map(|url| vec![ImageInput::Url(url)]),
        ..body
    };
    (body, errors)
}

/// The numeric cells of a row as a product body, plus the cells that are not numbers (or not
/// integers) where they belong.
fn row_numbers(cells: &HashMap<&'static str, &str>, row: usize) -> (ProductInput, Vec<RowError>) {
    let mut errors = Vec::new();
    let mut number = |col: &str, integer: bool| -> Option<f64> {
        let raw = cells.get(col)?;
        match raw.parse::<f64>() {
            Ok(n) if n.is_finite() && (!integer || n.fract() == 0.0) => Some(n),
            _ => {
                let kind = if integer { "an integer" } else { "a number" };
                errors.push(RowError::new(row, col, format!("\"{col}\" must be {kind}")));
                None
            }
        }
    };
    // Parsed in this order so the errors are reported in the order of the earlier releases.
    let price = number("price", false);
    let compare_at_price = number("compareAtPrice", false);
    let weight = number("weight", false);
    let stock = number("stock", true).map(|n| n as i64);
    let low_stock_threshold = number("lowStockThreshold", true).map(|n| n as i64);
    let cashback = number("cashbackPercentage", false).map(|p| CashbackInput {
        percentage: Some(p),
        ..CashbackInput::default()
    });
    let inventory = (stock.is_some() || low_stock_threshold.is_some()).then(|| InventoryInput {
        stock,
        low_stock_threshold,
        ..InventoryInput::default()
    });
    let body = ProductInput {
        price,
        compare_at_price,
        weight,
        inventory,
        cashback,
        ..ProductInput::default()
    };
    (body, errors)
}

/// The non-empty cells of a row by column.
pub(super) fn present<'a>(
    cols: &HashMap<&'static str, usize>,
    cells: &'a [String],
) -> HashMap<&'static str, &'a str> {
    cols.iter()
        .filter_map(|(c, i)| {
            let v = cells.get(*i).map(|s| s.trim()).filter(|s| !s.is_empty())?;
            Some((*c, v))
        })
        .collect()
}

/// Validate a row's body like `POST /products` (`create`) or `PUT /products/{id}` would,
/// adding problems to `errors` under the sheet's column names.
pub(super) fn validate_body(
    body: ProductInput,
    create: bool,
    row: usize,
    errors: &mut Vec<RowError>,
) -> Option<ProductFields> {
    match body.validate(create) {
        Ok(fields) => return errors.is_empty().then_some(fields),
        Err(ApiError::Validation { errors: found, .. }) => {
            for e in found {
                let column = column_of(&e.field);
                // A cell that is not a number is already reported; skip its "is required".
                if errors.iter().any(|x| x.column == column) {
                    continue;
                }
                let message = e
                    .message
                    .replace(&format!("\"{}\"", e.field), &format!("\"{column}\""));
                errors.push(RowError::new(row, column, message));
            }
        }
        Err(other) => errors.push(RowError::new(row, "row", other.to_string())),
    }
    None
}

/// Validate one row like `POST /products` would.
fn check_row(
    cols: &HashMap<&'static str, usize>,
    row: usize,
    cells: &[String],
) -> Result<Checked, Vec<RowError>> {
    let (body, mut errors) = row_body(&present(cols, cells), row);
    match validate_body(body, true, row, &mut errors) {
        Some(fields) => {
            let category = fields.category.clone().unwrap_or_default();
            Ok(Checked {
                row,
                fields,
                category,
            })
        }
        None => Err(errors),
    }
}

/// A valid row's problems with what it refers to: an unknown category, a SKU already in the
/// catalogue or used on an earlier row (`first_use` records the rows that claimed a SKU).
fn reference_errors(
    c: &Checked,
    categories: &HashMap<String, ObjectId>,
    taken: &HashSet<String>,
    first_use: &mut HashMap<String, usize>,
) -> Vec<RowError> {
    let mut errors = Vec::new();
    if !categories.contains_key(&c.category) {
        errors.push(RowError::new(
            c.row,
            "category",
            format!(
                "Category \"{}\" not found. Please use a valid category name or ID.",
                c.category
            ),
        ));
    }
    if let Some(sku) = &c.fields.patch.sku {
        if taken.contains(sku.as_str()) {
            errors.push(RowError::new(c.row, "sku", "SKU already exists"));
        } else if let Some(first) = first_use.get(sku.as_str()) {
            errors.push(RowError::new(
                c.row,
                "sku",
                format!("Duplicate SKU in file (first used on row {first})"),
            ));
        } else {
            first_use.insert(sku.as_str().to_string(), c.row);
        }
    }
    errors
}

/// Check every row of `table` and, when all are valid, build the products for `merchant`.
pub async fn plan(state: &AppState, merchant: ObjectId, table: &Table) -> Result<Plan, ApiError> {
    let cols = columns(&table.header, &REQUIRED_COLUMNS)?;
    let mut plan = Plan {
        total: table.rows.len(),
        ..Plan::default()
    };
    let mut checked = Vec::new();
    for (row, cells) in &table.rows {
        match check_row(&cols, *row, cells) {
            Ok(c) => checked.push(c),
            Err(errors) => plan.errors.extend(errors),
        }
    }
    let categories = resolve_categories(state, &checked).await?;
    let taken = taken_skus(state, &checked).await?;
    let mut first_use: HashMap<String, usize> = HashMap::new();
    let mut good = Vec::new();
    for c in checked {
        let errors = reference_errors(&c, &categories, &taken, &mut first_use);
        if errors.is_empty() {
            good.push(c);
        } else {
            plan.errors.extend(errors);
        }
    }
    plan.valid = good.len();
    plan.errors.sort_by_key(|e| e.row);
    if plan.errors.is_empty() {
        plan.products = build(state, merchant, good, &categories).await?;
    }
    Ok(plan)
}

async fn resolve_categories(
    state: &AppState,
    rows: &[Checked],
) -> Result<HashMap<String, ObjectId>, ApiError> {
    resolve_references(state, rows.iter().map(|c| c.category.as_str())).await
}

/// Category ids of the given references (names, slugs or ids); unresolved ones are absent.
pub(super) async fn resolve_references<'a>(
    state: &AppState,
    references: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, ObjectId>, ApiError> {
    let mut out = HashMap::new();
    let wanted: HashSet<&str> = references.collect();
    for reference in wanted {
        let found = state
            .store
            .resolve_category(reference)
            .await
            .map_err(ApiError::internal("Failed to resolve categories"))?;
        if let Some(id) = found {
            out.insert(reference.to_string(), id);
        }
    }
    Ok(out)
}

async fn taken_skus(state: &AppState, rows: &[Checked]) -> Result<HashSet<String>, ApiError> {
    let skus: Vec<String> = rows
        .iter()
        .filter_map(|c| c.fields.patch.sku.as_ref().map(|s| s.as_str().to_string()))
        .collect();
    state
        .store
        .existing_skus(&skus)
        .await
        .map_err(ApiError::internal("Failed to check SKUs"))
}

/// SKUs for rows that did not bring one: generated, free in the catalogue and in the file.
async fn generated_skus(state: &AppState, rows: &[Checked]) -> Result<Vec<Option<Sku>>, ApiError> {
    let used: HashSet<String> = rows
        .iter()
        .filter_map(|c| c.fields.patch.sku.as_ref().map(|s| s.as_str().to_string()))
        .collect();
    let mut out: Vec<Option<Sku>> = vec![None; rows.len()];
    for _attempt in 0..5 {
        let mut fresh = used.clone();
        for (i, c) in rows.iter().enumerate() {
            if c.fields.patch.sku.is_none() && out[i].is_none() {
                let name = c.fields.patch.name.as_deref().unwrap_or_default();
                let mut sku = Sku::generate(name, rand::random::<u64>());
                while !fresh.insert(sku.as_str().to_string()) {
                    sku = Sku::generate(name, rand::random::<u64>());
                }
                out[i] = Some(sku);
            }
        }
        let mine: Vec<String> = out
            .iter()
            .flatten()
            .map(|s| s.as_str().to_string())
            .collect();
        let clash = state
            .store
            .existing_skus(&mine)
            .await
            .map_err(ApiError::internal("Failed to check SKUs"))?;
        if clash.is_empty() {
            return Ok(out);
        }
        for s in out.iter_mut() {
            if s.as_ref().is_some_and(|s| clash.contains(s.as_str())) {
                *s = None;
            }
        }
    }
    Err(ApiError::Conflict {
        message: "Could not generate unique SKUs; please provide SKUs in the file".into(),
        extra: None,
    })
}

async fn build(
    state: &AppState,
    merchant: ObjectId,
    rows: Vec<Checked>,
    categories: &HashMap<String, ObjectId>,
) -> Result<Vec<(usize, ProductDoc)>, ApiError> {
    let shop = state
        .store
        .default_shop(merchant)
        .await
        .map_err(ApiError::internal("Failed to resolve store"))?
        .ok_or_else(|| ApiError::BadRequest("No store found for this merchant".into()))?;
    let generated = generated_skus(state, &rows).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (c, generated) in rows.into_iter().zip(generated) {
        let Checked {
            row,
            mut fields,
            category,
        } = c;
        let Some(sku) = fields.patch.sku.take().or(generated) else {
            continue;
        };
        let slug = format!(
            "{}-{:08x}",
            slugify(fields.patch.name.as_deref().unwrap_or("product")),
            rand::random::<u32>()
        );
        let placement = ProductPlacement {
            merchant,
            shop: shop.id,
            category: categories[&category],
            sku,
            slug,
        };
        out.push((row, ProductDoc::new(fields.patch, placement)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cols: &[&str]) -> Vec<String> {
        cols.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn missing_required_columns_are_named() {
        let Err(ApiError::Validation { errors, .. }) =
            columns(&header(&["name", "price"]), &REQUIRED_COLUMNS)
        else {
            panic!("expected missing columns");
        };
        let named: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["description", "category", "stock"]);
    }

    #[test]
    fn row_errors_name_the_sheet_column() {
        let cols = columns(&header(&COLUMNS), &REQUIRED_COLUMNS).expect("all columns");
        let mut cells = vec![String::new(); COLUMNS.len()];
        cells[0] = "Mug".into(); // name
        cells[1] = "short".into(); // description < 10
        cells[3] = "ten".into(); // price
        cells[5] = "General".into();
        cells[10] = "-1".into(); // stock
        let errors = check_row(&cols, 7, &cells).err().expect("invalid row");
        let by_column: HashMap<&str, &str> = errors
            .iter()
            .map(|e| (e.column.as_str(), e.message.as_str()))
            .collect();
        assert!(errors.iter().all(|e| e.row == 7));
        assert_eq!(by_column.get("price"), Some(&"\"price\" must be a number"));
        assert!(by_column.contains_key("description"), "{errors:?}");
        assert!(
            by_column
                .get("stock")
                .is_some_and(|m| m.starts_with("\"stock\"")),
            "{errors:?}"
        );
    }
}
