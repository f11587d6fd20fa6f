//! Analytics exports: `POST /export` builds a CSV or JSON file synchronously (daily sales,
//! product sales or customers of the range), stores it for 24 hours in `analyticsexports`, and
//! `GET /export/:exportId` downloads it. `GET /export` is the contract's fixed 404.

use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize, Serializer, ser::SerializeMap};
use utoipa::ToSchema;

use super::{
    Ctx,
    math::{ratio, round2},
    query::{AnalyticsQuery, bson_date, iso, one_of},
    types::ExportJob,
};
use crate::{
    error::ApiError,
    store::{
        self, ObjectId,
        analytics_exports::{AnalyticsExport, ExportRange, StoredExport},
    },
};

/// How long an export can be downloaded.
const EXPORT_TTL_HOURS: i64 = 24;
/// Most rows one export holds.
const MAX_ROWS: i64 = 10_000;

/// `POST /export` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportBody {
    /// csv (default) | json.
    pub format: Option<String>,
    /// sales (default, one row per day) | products | customers.
    #[serde(alias = "reportType")]
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// An owned store.
    pub store_id: Option<String>,
    /// Range start.
    pub start_date: Option<String>,
    /// Range end.
    pub end_date: Option<String>,
    /// A range preset.
    pub preset: Option<String>,
}

impl ExportBody {
    /// The query the range and store come from.
    pub fn query(&self) -> AnalyticsQuery {
        AnalyticsQuery {
            store_id: self.store_id.clone(),
            start_date: self.start_date.clone(),
            end_date: self.end_date.clone(),
            preset: self.preset.clone(),
            ..Default::default()
        }
    }

    /// `(format, kind)` validated.
    pub fn choices(&self) -> Result<(&str, &str), ApiError> {
        let format =
            body_choice("format", self.format.as_deref(), &["csv", "json"])?.unwrap_or("csv");
        let kind = body_choice(
            "type",
            self.kind.as_deref(),
            &["sales", "products", "customers"],
        )?
        .unwrap_or("sales");
        Ok((format, kind))
    }
}

/// A body field from a fixed list (400 `Validation failed` naming it).
fn body_choice<'a>(
    field: &str,
    raw: Option<&'a str>,
    allowed: &[&str],
) -> Result<Option<&'a str>, ApiError> {
    one_of(field, raw, allowed).map_err(|_| {
        ApiError::field(
            "Validation failed",
            field,
            format!("\"{field}\" must be one of [{}]", allowed.join(", ")),
        )
    })
}

fn db(e: store::Error) -> ApiError {
    ApiError::internal("Failed to create export")(e)
}

/// One value of an export row.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Text(String),
    Int(i64),
    Num(f64),
}

impl From<String> for Cell {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Self::Num(v)
    }
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Text(v) => serializer.serialize_str(v),
            Self::Int(v) => serializer.serialize_i64(*v),
            // A float that is not finite is `null` (as serde_json writes it).
            Self::Num(v) => serializer.serialize_f64(*v),
        }
    }
}

type Rows = Vec<Vec<Cell>>;

fn header(names: &[&str]) -> Vec<Cell> {
    names.iter().map(|n| Cell::Text(n.to_string())).collect()
}

/// Rows (header first) of an export.
async fn rows(c: &Ctx, kind: &str) -> Result<Rows, ApiError> {
    match kind {
        "products" => product_rows(c).await,
        "customers" => customer_rows(c).await,
        _ => sales_rows(c).await,
    }
}

async fn product_rows(c: &Ctx) -> Result<Rows, ApiError> {
    let mut out = vec![header(&[
        "productId",
        "productName",
        "quantity",
        "revenue",
        "orders",
        "averagePrice",
    ])];
    let sales = c
        .state
        .store
        .shop_product_sales(c.scope(), false, MAX_ROWS)
        .await
        .map_err(db)?;
    for p in sales {
        let avg = round2(ratio(p.revenue, p.quantity as f64));
        out.push(vec![
            p.product.to_hex().into(),
            p.name.into(),
            p.quantity.into(),
            round2(p.revenue).into(),
            p.orders.into(),
            avg.into(),
        ]);
    }
    Ok(out)
}

async fn customer_rows(c: &Ctx) -> Result<Rows, ApiError> {
    let mut out = vec![header(&[
        "customerId",
        "orders",
        "ordersInRange",
        "totalSpent",
        "firstOrderDate",
        "lastOrderDate",
    ])];
    let customers = c
        .state
        .store
        .customer_rows(c.scope(), Some((0, MAX_ROWS)))
        .await
        .map_err(db)?;
    let date = |d: store::DateTime| d.try_to_rfc3339_string().unwrap_or_default();
    for r in customers {
        out.push(vec![
            r.user.into(),
            r.orders.into(),
            r.orders_in_range.into(),
            round2(r.revenue).into(),
            date(r.first).into(),
            date(r.last).into(),
        ]);
    }
    Ok(out)
}

/// One row per day of the range, zeros on days without orders.
async fn sales_rows(c: &Ctx) -> Result<Rows, ApiError> {
    let mut out = vec![header(&[
        "date",
        "orders",
        "revenue",
        "items",
        "averageOrderValue",
    ])];
    let buckets = c
        .state
        .store
        .sales_buckets(c.scope(), crate::store::analytics::TimeKey::Day)
        .await
        .map_err(db)?;
    for day in c.range.days() {
        let key = day.to_string();
        let b = buckets
            .iter()
            .find(|b| b.key.as_text() == Some(key.as_str()));
        let (revenue, orders, items) = b.map_or((0.0, 0, 0), |b| (b.revenue, b.orders, b.items));
        out.push(vec![
            key.into(),
            orders.into(),
            round2(revenue).into(),
            items.into(),
            round2(ratio(revenue, orders as f64)).into(),
        ]);
    }
    Ok(out)
}

/// One CSV field, quoted when it holds a comma, quote or line break (RFC 4180); text that a
/// spreadsheet would run as a formula gets a leading `'` (`tabular::neutralise`). Numbers are
/// written as in JSON (a float keeps its `.0`; one that is not finite is empty).
fn csv_field(v: &Cell) -> String {
    let text = match v {
        Cell::Text(s) => crate::tabular::neutralise(s).into_owned(),
        Cell::Num(n) if !n.is_finite() => String::new(),
        number => serde_json::to_string(number).unwrap_or_default(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// A data row of a JSON export: an object keyed by the header's names.
struct Record<'a> {
    header: &'a [Cell],
    cells: &'a [Cell],
}

impl Serialize for Record<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (name, cell) in self.header.iter().zip(self.cells) {
            let name = match name {
                Cell::Text(name) => name.as_str(),
                _ => "",
            };
            map.serialize_entry(name, cell)?;
        }
        map.end()
    }
}

fn render(format: &str, rows: &[Vec<Cell>]) -> String {
    if format == "json" {
        let header = rows.first().map(Vec::as_slice).unwrap_or_default();
        let records: Vec<Record> = rows[1.min(rows.len())..]
            .iter()
            .map(|cells| Record { header, cells })
            .collect();
        return serde_json::to_string(&records).unwrap_or_default();
    }
    rows.iter()
        .map(|r| r.iter().map(csv_field).collect::<Vec<_>>().join(",") + "\r\n")
        .collect()
}

/// Build, store and describe an export.
pub async fn create(
    c: Ctx,
    format: &str,
    kind: &str,
    merchant: ObjectId,
) -> Result<ExportJob, ApiError> {
    let rows = rows(&c, kind).await?;
    let content = render(format, &rows);
    let export_id = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    let expires = now + Duration::hours(EXPORT_TTL_HOURS);
    let export = AnalyticsExport {
        merchant_id: merchant,
        export_id: export_id.clone(),
        shop: c.shop,
        kind: kind.into(),
        format: format.into(),
        record_count: (rows.len() - 1) as i64,
        content,
        range: ExportRange {
            start: bson_date(c.range.start),
            end: bson_date(c.range.end),
        },
        created_at: bson_date(now),
        expires_at: bson_date(expires),
    };
    c.state
        .store
        .save_analytics_export(&export)
        .await
        .map_err(db)?;
    let (size, records) = (export.content.len(), export.record_count);
    Ok(ExportJob {
        download_url: format!("/api/merchant/analytics/export/{export_id}"),
        export_id,
        status: "completed",
        format: format.into(),
        kind: kind.into(),
        record_count: records,
        size,
        created_at: iso(now),
        expires_at: iso(expires),
        period: c.range.view(),
    })
}

/// A stored, unexpired export of the merchant.
pub async fn fetch(
    state: &crate::state::AppState,
    merchant: ObjectId,
    export_id: &str,
) -> Result<StoredExport, ApiError> {
    state
        .store
        .analytics_export(merchant, export_id)
        .await
        .map_err(ApiError::internal("Failed to fetch export"))?
        .ok_or_else(|| ApiError::NotFound("Export not found".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }

    #[test]
    fn csv_quotes_only_fields_that_need_it() {
        let rows = vec![
            header(&["name", "n", "x"]),
            vec![text("a, \"b\""), Cell::Int(2), Cell::Num(2.0)],
        ];
        assert_eq!(
            render("csv", &rows),
            "name,n,x\r\n\"a, \"\"b\"\"\",2,2.0\r\n"
        );
        assert_eq!(
            render("json", &rows),
            r#"[{"name":"a, \"b\"","n":2,"x":2.0}]"#
        );
    }

    #[test]
    fn csv_text_that_would_run_as_a_formula_is_neutralised() {
        let rows = vec![vec![
            text("=HYPERLINK(\"http://evil.example\")"),
            text("@SUM(1)"),
            Cell::Int(-2),
        ]];
        assert_eq!(
            render("csv", &rows),
            "\"'=HYPERLINK(\"\"http://evil.example\"\")\",'@SUM(1),-2\r\n"
        );
    }
}
