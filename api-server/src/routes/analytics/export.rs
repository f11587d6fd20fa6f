//! Analytics exports: `POST /export` builds a CSV or JSON file synchronously (daily sales,
//! product sales or customers of the range), stores it for 24 hours in `analyticsexports`, and
//! `GET /export/:exportId` downloads it. `GET /export` is the contract's fixed 404.

use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{
    Ctx,
    math::{ratio, round2},
    query::{AnalyticsQuery, bson_date, iso, one_of},
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

type Rows = Vec<Vec<Value>>;

fn header(names: &[&str]) -> Vec<Value> {
    names.iter().map(|n| Value::from(*n)).collect()
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
        .product_sales(c.scope().sales_lines(), false, MAX_ROWS)
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
/// spreadsheet would run as a formula gets a leading `'` (`tabular::neutralise`).
fn csv_field(v: &Value) -> String {
    let text = match v {
        Value::String(s) => crate::tabular::neutralise(s).into_owned(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn render(format: &str, rows: &[Vec<Value>]) -> String {
    if format == "json" {
        let header = rows.first().cloned().unwrap_or_default();
        let objects: Vec<Value> = rows[1.min(rows.len())..]
            .iter()
            .map(|r| {
                Value::Object(
                    header
                        .iter()
                        .zip(r)
                        .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v.clone()))
                        .collect(),
                )
            })
            .collect();
        return Value::Array(objects).to_string();
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
) -> Result<Value, ApiError> {
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
    Ok(json!({
        "exportId": export_id, "status": "completed", "format": format, "type": kind,
        "recordCount": records, "size": size,
        "downloadUrl": format!("/api/merchant/analytics/export/{export_id}"),
        "createdAt": iso(now), "expiresAt": iso(expires), "period": c.range.json(),
    }))
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

    #[test]
    fn csv_quotes_only_fields_that_need_it() {
        let rows = vec![
            vec![json!("name"), json!("n")],
            vec![json!("a, \"b\""), json!(2)],
        ];
        assert_eq!(render("csv", &rows), "name,n\r\n\"a, \"\"b\"\"\",2\r\n");
        assert_eq!(render("json", &rows), r#"[{"name":"a, \"b\"","n":2}]"#);
    }

    #[test]
    fn csv_text_that_would_run_as_a_formula_is_neutralised() {
        let rows = vec![vec![
            json!("=HYPERLINK(\"http://evil.example\")"),
            json!("@SUM(1)"),
            json!(-2),
        ]];
        assert_eq!(
            render("csv", &rows),
            "\"'=HYPERLINK(\"\"http://evil.example\"\")\",'@SUM(1),-2\r\n"
        );
    }
}
