//! Response types of the audit views: one record as clients read it, the pages and lists of
//! records, and the counts of the stats, summary, heatmap and retention views.

use serde::{Serialize, Serializer};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        RefOr, Type,
        schema::{Schema, SchemaType},
    },
};

use crate::{
    routes::cursor::Standing,
    store::{
        DateTime,
        audit::{AuditFacts, AuditFieldChange, AuditLogDoc, Snapshot},
        audit_views::{AuditEntry, AuditHeatCell, AuditMember, AuditMonthCount},
        json::iso,
        keyset::{Listing, Window},
    },
};

/// The team member who made a record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditUser {
    /// Team member id (24-hex).
    pub id: String,
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Role.
    pub role: String,
}

/// What a record stores about the change.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct AuditRecordDetails {
    /// Summary of the resource before the change (free-form: each resource type has its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub before: Option<Snapshot>,
    /// Summary after the change (free-form, like `before`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub after: Option<Snapshot>,
    /// The top-level fields that differ between `before` and `after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub changes: Option<Vec<AuditFieldChange>>,
    /// Request and handler facts.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub metadata: Option<AuditFacts>,
}

/// One audit record (contract §3.8, plus `requestId`), with the acting team member.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Record id (24-hex).
    #[serde(rename = "_id")]
    pub id: String,
    /// Merchant (24-hex).
    pub merchant_id: String,
    /// Acting team member (24-hex; absent when the owner acted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_user_id: Option<String>,
    /// `product.updated`, `auth.login`…
    pub action: String,
    /// `product`, `auth`, `team_member`…
    pub resource_type: String,
    /// Affected document (24-hex), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Before/after/changes/metadata.
    pub details: AuditRecordDetails,
    /// Client IP.
    pub ip_address: String,
    /// Client user agent.
    pub user_agent: String,
    /// Correlation id of the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// When (ISO-8601).
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// info | warning | error | critical.
    pub severity: String,
    /// Created (ISO-8601).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Updated (ISO-8601).
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// The acting team member; `null` for the owner (or a removed member).
    #[schema(schema_with = nullable_user)]
    pub user: Option<AuditUser>,
}

/// [`AuditUser`]'s schema inline with `null` allowed: `type: [object, null]` rather than a
/// `oneOf` with a bare `null` branch.
fn nullable_user() -> RefOr<Schema> {
    let mut schema = <AuditUser as PartialSchema>::schema();
    if let RefOr::T(Schema::Object(object)) = &mut schema {
        object.schema_type = SchemaType::from_iter([Type::Object, Type::Null]);
        object.description =
            Some("The acting team member; `null` for the owner (or a removed member).".into());
    }
    schema
}

impl From<AuditMember> for AuditUser {
    fn from(m: AuditMember) -> Self {
        Self {
            id: m.id.to_hex(),
            name: m.name,
            email: m.email,
            role: m.role,
        }
    }
}

impl From<AuditEntry> for AuditRecord {
    fn from(entry: AuditEntry) -> Self {
        let AuditLogDoc {
            id,
            merchant_id,
            merchant_user_id,
            action,
            resource_type,
            resource_id,
            details,
            ip_address,
            user_agent,
            request_id,
            timestamp,
            severity,
            created_at,
            updated_at,
        } = entry.record;
        let (changes, metadata) = (details.field_changes(), details.facts());
        Self {
            id: id.to_hex(),
            merchant_id: merchant_id.to_hex(),
            merchant_user_id: merchant_user_id.map(|u| u.to_hex()),
            action,
            resource_type,
            resource_id: resource_id.map(|r| r.to_hex()),
            details: AuditRecordDetails {
                before: details.before,
                after: details.after,
                changes,
                metadata,
            },
            ip_address,
            user_agent,
            request_id,
            timestamp: iso(timestamp),
            severity,
            created_at: iso(created_at),
            updated_at: iso(updated_at),
            user: entry.user.map(AuditUser::from),
        }
    }
}

impl AuditRecord {
    /// The UTC day of the record (`YYYY-MM-DD`).
    pub fn day(&self) -> &str {
        self.timestamp.get(..10).unwrap_or_default()
    }
}

/// Records matching a filter, newest first, and the total.
#[derive(Debug, Default)]
pub struct AuditRecords {
    /// Newest first.
    pub logs: Vec<AuditRecord>,
    /// Records matching the filter.
    pub total: u64,
}

/// A page of records.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogPage {
    /// Records, newest first.
    pub logs: Vec<AuditRecord>,
    /// Records matching the filter (left out with `includeTotal=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Page (≥ 1; left out in cursor mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    /// Pages of the filter (left out with `includeTotal=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_pages: Option<u64>,
    /// Cursor mode only: the cursor of the next window, `null` at the end of the list.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<Option<String>>,
}

impl AuditLogPage {
    /// The records of a window of `limit` and where it stands; `next_cursor` as
    /// `Paging::continuation` gave it.
    pub fn new(
        listing: Listing<AuditRecord>,
        limit: i64,
        window: &Window,
        next_cursor: Option<Option<String>>,
    ) -> Self {
        let at = Standing::of(window, limit as u64, &listing);
        Self {
            logs: listing.items,
            total: at.total,
            page: at.page,
            total_pages: at.pages,
            next_cursor,
        }
    }
}

/// `{label: count}` of grouped counts, in the order counted (most frequent first).
#[derive(Debug, Clone, Default)]
pub struct AuditCounts(pub Vec<(String, i64)>);

impl Serialize for AuditCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, n)| (k, n)))
    }
}

/// Totals by action and severity, and the latest records.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditStats {
    /// Records matching the filter.
    pub total_logs: u64,
    /// Records per action (the 10 most frequent).
    #[schema(value_type = std::collections::HashMap<String, i64>)]
    pub logs_by_action: AuditCounts,
    /// Records per severity.
    #[schema(value_type = std::collections::HashMap<String, i64>)]
    pub logs_by_severity: AuditCounts,
    /// The 10 latest records.
    pub recent_activity: Vec<AuditRecord>,
}

/// Records whose action or resource type contains a term.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditSearch {
    /// The term searched for.
    pub search_term: String,
    /// Results returned (at most 100).
    pub count: usize,
    /// Matching records, newest first.
    pub results: Vec<AuditRecord>,
}

/// The records of one UTC day.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditDay {
    /// Day (`YYYY-MM-DD`).
    pub date: String,
    /// Records of the day.
    pub count: usize,
    /// The day's records, newest first.
    pub activities: Vec<AuditRecord>,
}

/// Today's (UTC) records.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditToday {
    /// Today (`YYYY-MM-DD`).
    pub date: String,
    /// Records of today.
    pub count: u64,
    /// Up to 100 of them, newest first.
    pub activities: Vec<AuditRecord>,
}

/// The latest records of a kind.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLatest {
    /// Records returned.
    pub count: usize,
    /// Newest first.
    pub activities: Vec<AuditRecord>,
}

/// A period (ISO-8601 bounds).
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPeriod {
    /// From.
    #[schema(format = DateTime)]
    pub start: String,
    /// Until.
    #[schema(format = DateTime)]
    pub end: String,
}

impl AuditPeriod {
    /// The bounds as ISO text.
    pub fn new(start: DateTime, end: DateTime) -> Self {
        Self {
            start: iso(start),
            end: iso(end),
        }
    }
}

/// Records of one actor.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditUserCount {
    /// Team member id (24-hex); `null` for the owner.
    pub user_id: Option<String>,
    /// The member's name, or the owner's.
    pub user_name: String,
    /// Records.
    pub count: i64,
}

/// Records of one UTC day.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditDayCount {
    /// Day (`YYYY-MM-DD`).
    pub date: String,
    /// Records.
    pub count: i64,
}

/// Totals of a period.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditTotals {
    /// Records of the period.
    pub total_activities: i64,
    /// Records per action.
    #[schema(value_type = std::collections::HashMap<String, i64>)]
    pub by_action: AuditCounts,
    /// Records per resource type.
    #[schema(value_type = std::collections::HashMap<String, i64>)]
    pub by_resource_type: AuditCounts,
    /// Records per severity.
    #[schema(value_type = std::collections::HashMap<String, i64>)]
    pub by_severity: AuditCounts,
    /// Records per actor, most active first.
    pub by_user: Vec<AuditUserCount>,
    /// Records per day, in date order.
    pub daily_breakdown: Vec<AuditDayCount>,
}

/// The period summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditSummary {
    /// The period.
    pub period: AuditPeriod,
    /// Its totals.
    pub summary: AuditTotals,
}

/// Records per UTC day and hour of a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditHeatmap {
    /// The period.
    pub period: AuditPeriod,
    /// Non-empty hours, in time order.
    pub heatmap: Vec<AuditHeatCell>,
}

/// How much of the trail is stored.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditRetentionStats {
    /// Records stored.
    pub total_logs: i64,
    /// Oldest record (ISO-8601); `null` when there is none.
    #[schema(format = DateTime)]
    pub oldest_log: Option<String>,
    /// Newest record (ISO-8601); `null` when there is none.
    #[schema(format = DateTime)]
    pub newest_log: Option<String>,
    /// Size estimate (1 KB per record), in MB with two decimals.
    #[serde(rename = "estimatedSizeMB")]
    pub estimated_size_mb: f64,
    /// The latest 12 months with records, newest first.
    pub by_month: Vec<AuditMonthCount>,
}

/// Whether the trail complies with the configured retention.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditCompliance {
    /// Merchant (24-hex).
    pub merchant_id: String,
    /// Records stored.
    pub total_logs: i64,
    /// Configured retention.
    pub retention_period_days: i64,
    /// Oldest record (ISO-8601); `null` when there is none.
    #[schema(format = DateTime)]
    pub oldest_log: Option<String>,
    /// Records past the retention.
    pub logs_to_be_deleted: i64,
    /// Next automatic cleanup (ISO-8601).
    #[schema(format = DateTime)]
    pub next_cleanup_date: String,
    /// compliant | warning | non-compliant.
    pub compliance_status: &'static str,
    /// What to do about it.
    pub recommendations: Vec<String>,
}

/// Result of an explicit cleanup.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditCleanup {
    /// Records deleted.
    pub deleted_count: u64,
    /// Records older than this were deleted (ISO-8601).
    #[schema(format = DateTime)]
    pub cutoff_date: String,
    /// Days kept.
    pub retention_days: i64,
}

/// The records of a period, as JSON.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditExport {
    /// Up to 1000 records, newest first.
    pub logs: Vec<AuditRecord>,
    /// Records of the period.
    pub total: u64,
    /// From (ISO-8601).
    #[schema(format = DateTime)]
    pub start_date: String,
    /// Until (ISO-8601).
    #[schema(format = DateTime)]
    pub end_date: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::{ObjectId, audit::AuditDetails};

    #[test]
    fn counts_render_as_an_object_in_counted_order() {
        let counts = AuditCounts(vec![("b".into(), 3), ("a".into(), 1)]);
        let text = serde_json::to_string(&counts).expect("json");
        assert_eq!(text, r#"{"b":3,"a":1}"#);
    }

    #[test]
    fn an_owner_record_has_a_null_user_and_no_unset_optional_keys() {
        let now = DateTime::now();
        let record = AuditLogDoc {
            id: ObjectId::new(),
            merchant_id: ObjectId::new(),
            merchant_user_id: None,
            action: "product.updated".into(),
            resource_type: "product".into(),
            resource_id: None,
            details: AuditDetails {
                changes: Some(json!([{ "field": "price", "before": 1, "after": 2.5 }])),
                metadata: Some(json!({ "method": "PUT", "requested": 2 })),
                ..AuditDetails::default()
            },
            ip_address: "127.0.0.1".into(),
            user_agent: "test".into(),
            request_id: None,
            timestamp: now,
            severity: "info".into(),
            created_at: now,
            updated_at: now,
        };
        let view = AuditRecord::from(AuditEntry { record, user: None });
        let v = serde_json::to_value(&view).expect("json");
        assert_eq!(v["user"], json!(null));
        for absent in ["merchantUserId", "resourceId", "requestId"] {
            assert!(v.get(absent).is_none(), "{absent}");
        }
        assert_eq!(
            v["details"],
            json!({
                "changes": [{ "field": "price", "before": 1, "after": 2.5 }],
                "metadata": { "method": "PUT", "requested": 2 },
            })
        );
        assert_eq!(view.day(), &iso(now)[..10]);
    }
}
