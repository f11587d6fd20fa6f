//! The `analyticsexports` collection: generated analytics files kept for a day. Expired exports
//! of a merchant are removed when it makes a new one (no TTL index needed).

use mongodb::bson::{Document, doc, oid::ObjectId};
use serde::Serialize;

use super::{DateTime, Result, Store};

/// The covered range of an export.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ExportRange {
    /// Start.
    pub start: DateTime,
    /// End.
    pub end: DateTime,
}

/// A generated export.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsExport {
    /// Tenant.
    pub merchant_id: ObjectId,
    /// Public id (a UUID).
    pub export_id: String,
    /// The merchant's shop it covers.
    #[serde(rename = "store")]
    pub shop: ObjectId,
    /// sales | products | customers.
    #[serde(rename = "type")]
    pub kind: String,
    /// csv | json.
    pub format: String,
    /// Data rows (header excluded).
    pub record_count: i64,
    /// The file.
    pub content: String,
    /// Range covered.
    pub range: ExportRange,
    /// Made.
    pub created_at: DateTime,
    /// Downloadable until.
    pub expires_at: DateTime,
}

/// What a download needs of a stored export.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExport {
    /// csv | json.
    pub format: String,
    /// sales | products | customers.
    pub kind: String,
    /// The file.
    pub content: String,
}

impl Store {
    fn analytics_exports(&self) -> mongodb::Collection<Document> {
        self.db().collection("analyticsexports")
    }

    /// Store `export`, first removing the merchant's expired ones.
    pub async fn save_analytics_export(&self, export: &AnalyticsExport) -> Result<()> {
        let expired =
            doc! { "merchantId": export.merchant_id, "expiresAt": { "$lt": DateTime::now() } };
        self.analytics_exports().delete_many(expired).await?;
        let record = mongodb::bson::to_document(export)?;
        self.analytics_exports().insert_one(record).await.map(drop)
    }

    /// An unexpired export of the merchant.
    pub async fn analytics_export(
        &self,
        merchant: ObjectId,
        export_id: &str,
    ) -> Result<Option<StoredExport>> {
        let live = doc! { "merchantId": merchant, "exportId": export_id, "expiresAt": { "$gt": DateTime::now() } };
        let found = self.analytics_exports().find_one(live).await?;
        Ok(found.map(|d| {
            let text = |k: &str| d.get_str(k).unwrap_or_default().to_string();
            StoredExport {
                format: text("format"),
                kind: text("type"),
                content: text("content"),
            }
        }))
    }
}
