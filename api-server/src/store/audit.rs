//! The `auditlogs` collection: record type, batched inserts, filtered pages, the aggregation
//! pipelines behind the audit views, and retention (a TTL index on `timestamp` whose age comes
//! from `AUDIT_RETENTION_DAYS`, plus explicit cleanup). Every query takes the merchant id.

use futures::TryStreamExt;
use mongodb::{
    IndexModel,
    bson::{Document, doc, oid::ObjectId},
    options::IndexOptions,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DateTime, Store};

/// `details` of a record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditDetails {
    /// Summary before the change.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "json_bson")]
    pub before: Option<Value>,
    /// Summary after the change.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "json_bson")]
    pub after: Option<Value>,
    /// `[{field, before, after}]` of the top-level fields that changed.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "json_bson")]
    pub changes: Option<Value>,
    /// Extra facts (method, path, route…).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "json_bson")]
    pub metadata: Option<Value>,
}

/// A free-form JSON value kept as the handler gave it (a before/after summary of a resource).
pub type Snapshot = Value;

/// One changed top-level field of a record's `details.changes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditFieldChange {
    /// Field name.
    pub field: String,
    /// Value before the change (`null` when the field was absent).
    #[serde(default)]
    pub before: Snapshot,
    /// Value after the change (`null` when the field was removed).
    #[serde(default)]
    pub after: Snapshot,
}

/// `details.metadata` of a record: the request's facts (absent for explicit events) and the
/// handler's extra facts (a failed login's `reason`, a bulk decision's `action`, `requested`,
/// `processed`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditFacts {
    /// HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Matched route (`/api/merchant/products/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Parent resource of a created sub-resource (a new variant's product, 24-hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Why an event happened (failed login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The decision of a bulk action (`approve`, `reject`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Items a bulk action asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<i64>,
    /// Items a bulk action processed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed: Option<i64>,
}

impl AuditDetails {
    /// The stored `changes` as typed rows (`None` when absent or not `[{field, before, after}]`).
    pub fn field_changes(&self) -> Option<Vec<AuditFieldChange>> {
        serde_json::from_value(self.changes.clone()?).ok()
    }

    /// The stored `metadata` as typed facts (`None` when absent or not an object).
    pub fn facts(&self) -> Option<AuditFacts> {
        serde_json::from_value(self.metadata.clone()?).ok()
    }
}

/// JSON values stored as plain BSON (not extended JSON strings).
mod json_bson {
    use mongodb::bson::Bson;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;

    pub fn serialize<S: Serializer>(v: &Option<Value>, s: S) -> Result<S::Ok, S::Error> {
        v.as_ref()
            .map(|v| Bson::try_from(v.clone()).unwrap_or(Bson::Null))
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
        Ok(Option::<Bson>::deserialize(d)?.map(crate::store::json::bson_to_json))
    }
}

/// One audit record (contract §3.8, plus `requestId`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogDoc {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Tenant.
    pub merchant_id: ObjectId,
    /// Acting team member (absent for the owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_user_id: Option<ObjectId>,
    /// `product.updated`, `auth.login`…
    pub action: String,
    /// `product`, `auth`, `team_member`…
    pub resource_type: String,
    /// Affected document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<ObjectId>,
    /// Before/after/changes/metadata.
    #[serde(default)]
    pub details: AuditDetails,
    /// Client IP.
    pub ip_address: String,
    /// Client user agent.
    pub user_agent: String,
    /// Correlation id of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// When (TTL key).
    pub timestamp: DateTime,
    /// info | warning | error | critical.
    pub severity: String,
    /// Created.
    pub created_at: DateTime,
    /// Updated.
    pub updated_at: DateTime,
}

/// Filters of the log views; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact action.
    pub action: Option<String>,
    /// Exact resource type.
    pub resource_type: Option<String>,
    /// Resource id.
    pub resource_id: Option<ObjectId>,
    /// Who acted.
    pub actor: AuditActor,
    /// Severities (any of).
    pub severities: Vec<String>,
    /// From (inclusive).
    pub start: Option<DateTime>,
    /// To (inclusive).
    pub end: Option<DateTime>,
    /// Case-insensitive substring of action or resource type.
    pub search: Option<String>,
}

/// Whose records a filter selects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuditActor {
    /// Anyone's.
    #[default]
    Anyone,
    /// The owner's (records without a team member).
    Owner,
    /// One team member's.
    Member(ObjectId),
    /// Team activity: any team member's, or about a team member.
    Team,
}

impl AuditFilter {
    /// The `$match` document for a merchant.
    pub fn to_match(&self, merchant: ObjectId) -> Document {
        let mut m = doc! { "merchantId": merchant };
        if let Some(a) = &self.action {
            m.insert("action", a);
        }
        if let Some(r) = &self.resource_type {
            m.insert("resourceType", r);
        }
        if let Some(r) = self.resource_id {
            m.insert("resourceId", r);
        }
        match self.actor {
            AuditActor::Anyone => {}
            AuditActor::Owner => {
                m.insert("merchantUserId", doc! { "$exists": false });
            }
            AuditActor::Member(u) => {
                m.insert("merchantUserId", u);
            }
            AuditActor::Team => {
                m.insert(
                    "$or",
                    vec![
                        doc! { "merchantUserId": { "$exists": true } },
                        doc! { "resourceType": "team_member" },
                    ],
                );
            }
        }
        if !self.severities.is_empty() {
            m.insert("severity", doc! { "$in": &self.severities });
        }
        super::insert_date_range(&mut m, "timestamp", self.start, self.end);
        if let Some(q) = &self.search {
            let re = doc! { "$regex": super::products::escape_regex(q), "$options": "i" };
            let or = vec![doc! { "action": re.clone() }, doc! { "resourceType": re }];
            // A team filter already uses `$or`: both must hold.
            match m.remove("$or") {
                Some(team) => m.insert("$and", vec![doc! { "$or": team }, doc! { "$or": or }]),
                None => m.insert("$or", or),
            };
        }
        m
    }
}

/// The TTL index name.
pub const TTL_INDEX: &str = "timestamp_ttl";

impl Store {
    pub(super) fn audit_logs(&self) -> mongodb::Collection<AuditLogDoc> {
        self.db().collection("auditlogs")
    }

    fn audit_raw(&self) -> mongodb::Collection<Document> {
        self.db().collection("auditlogs")
    }

    /// Insert a batch (unordered: one bad record does not block the rest).
    pub async fn insert_audit_logs(&self, docs: Vec<AuditLogDoc>) -> mongodb::error::Result<()> {
        self.audit_logs()
            .insert_many(docs)
            .ordered(false)
            .await
            .map(drop)
    }

    /// Delete the merchant's records older than `before`; returns how many.
    pub async fn delete_audit_before(
        &self,
        merchant: ObjectId,
        before: DateTime,
    ) -> mongodb::error::Result<u64> {
        self.audit_raw()
            .delete_many(doc! { "merchantId": merchant, "timestamp": { "$lt": before } })
            .await
            .map(|r| r.deleted_count)
    }

    /// Create the TTL index with `days`, or change its age in place (`collMod`) when it exists
    /// with another one. Kept out of the static catalogue because its option is configured.
    pub async fn ensure_audit_ttl(&self, days: u32) -> mongodb::error::Result<()> {
        let seconds = i64::from(days) * 86_400;
        let coll = self.audit_raw();
        let existing: Vec<IndexModel> = match coll.list_indexes().await {
            Ok(cursor) => cursor.try_collect().await?,
            Err(_) => Vec::new(),
        };
        let current = existing
            .iter()
            .find(|i| i.options.as_ref().and_then(|o| o.name.as_deref()) == Some(TTL_INDEX));
        match current.and_then(|i| i.options.as_ref()?.expire_after) {
            Some(age) if age.as_secs() as i64 == seconds => Ok(()),
            Some(_) => self
                .db()
                .run_command(doc! {
                    "collMod": "auditlogs",
                    "index": { "name": TTL_INDEX, "expireAfterSeconds": seconds },
                })
                .await
                .map(drop),
            None => {
                let options = IndexOptions::builder()
                    .name(TTL_INDEX.to_string())
                    .expire_after(std::time::Duration::from_secs(seconds as u64))
                    .build();
                let created = coll
                    .create_index(
                        IndexModel::builder()
                            .keys(doc! { "timestamp": 1 })
                            .options(options)
                            .build(),
                    )
                    .await;
                match created {
                    // FerretDB v1 has no TTL indexes: run without one (retention is not enforced).
                    Err(e) if super::indexes::is_not_implemented(&e) => {
                        tracing::warn!(error = %e, "audit TTL index not supported by this server; skipped");
                        Ok(())
                    }
                    other => other.map(drop),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filter_is_scoped_to_the_merchant() {
        let m = ObjectId::new();
        let f = AuditFilter {
            search: Some("product".into()),
            severities: vec!["critical".into(), "error".into()],
            ..AuditFilter::default()
        };
        let matched = f.to_match(m);
        assert_eq!(matched.get_object_id("merchantId"), Ok(m));
        assert_eq!(matched.get_array("$or").map(Vec::len), Ok(2));
        assert!(AuditFilter::default().to_match(m).len() == 1);
    }
}
