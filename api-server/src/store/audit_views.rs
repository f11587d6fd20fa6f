//! The read side of the audit views: pages of records with the acting team member attached,
//! counts grouped by a field or by day, per-user totals, the hour heatmap and the retention
//! extent. Every function takes the merchant id and starts its pipeline by matching it.

use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc, oid::ObjectId};
use serde::{Deserialize, Serialize};

use super::{
    DateTime, Result, Store,
    audit::{AuditFilter, AuditLogDoc},
    keyset::{self, Listing, Sort, Window},
};

/// Records newest first (index `auditlogs.merchant_timestamp_id`).
const AUDIT_ORDER: Sort = Sort::desc("timestamp");

/// The team member who made a record (name, e-mail and role only).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditMember {
    /// Team member id.
    pub id: ObjectId,
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Role.
    pub role: String,
}

/// One record with its acting team member (`None`: the owner, or a member since removed).
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// The stored record.
    pub record: AuditLogDoc,
    /// Who acted, when a team member did.
    pub user: Option<AuditMember>,
}

/// Records of one UTC day and hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditHeatCell {
    /// Day (`YYYY-MM-DD`, UTC).
    pub date: String,
    /// Hour (0..23, UTC).
    pub hour: i64,
    /// Records.
    pub count: i64,
}

/// Records of one month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditMonthCount {
    /// Month (`YYYY-MM`, UTC).
    pub month: String,
    /// Records.
    pub count: i64,
}

/// What audit records are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditGroup {
    /// `action`.
    Action,
    /// `resourceType`.
    ResourceType,
    /// `severity`.
    Severity,
    /// UTC day of `timestamp` (`YYYY-MM-DD`), in date order.
    Day,
}

impl AuditGroup {
    fn key(self) -> Bson {
        match self {
            Self::Action => "$action".into(),
            Self::ResourceType => "$resourceType".into(),
            Self::Severity => "$severity".into(),
            Self::Day => day_expr(),
        }
    }
}

/// Records of one actor: a team member's id (`None`: the owner, who has no member id), with
/// the member's name when the member still exists.
#[derive(Debug, Clone, PartialEq)]
pub struct ActorCount {
    /// Team member id.
    pub user: Option<ObjectId>,
    /// Team member name.
    pub name: Option<String>,
    /// Records.
    pub count: i64,
}

/// How much of the merchant's trail is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AuditExtent {
    /// Records.
    pub total: i64,
    /// Oldest record.
    pub oldest: Option<DateTime>,
    /// Newest record.
    pub newest: Option<DateTime>,
    /// Records older than the cut-off asked for.
    pub expired: i64,
}

/// `YYYY-MM-DD` (UTC) of the record's timestamp, as an aggregation expression.
fn day_expr() -> Bson {
    Bson::Document(doc! { "$dateToString": { "format": "%Y-%m-%d", "date": "$timestamp" } })
}

fn int(d: &Document, key: &str) -> i64 {
    d.get(key)
        .and_then(|c| c.as_i32().map(i64::from).or_else(|| c.as_i64()))
        .unwrap_or(0)
}

impl Store {
    fn audit_docs(&self) -> mongodb::Collection<Document> {
        self.db().collection("auditlogs")
    }

    async fn audit_pipeline(&self, pipeline: Vec<Document>) -> Result<Vec<Document>> {
        self.audit_docs()
            .aggregate(pipeline)
            .await?
            .try_collect()
            .await
    }

    /// The pipeline's rows, each read as a `T`.
    async fn audit_rows<T: serde::de::DeserializeOwned>(
        &self,
        pipeline: Vec<Document>,
    ) -> Result<Vec<T>> {
        let rows = self.audit_pipeline(pipeline).await?;
        rows.into_iter()
            .map(|d| mongodb::bson::from_document(d).map_err(Into::into))
            .collect()
    }

    /// A window of the records matching `filter` (a page or a keyset window), newest first,
    /// each with its acting team member (one look-up for the window, name/e-mail/role only);
    /// counted when asked.
    pub async fn audit_window(
        &self,
        merchant: ObjectId,
        filter: &AuditFilter,
        window: &Window,
        limit: i64,
        count: bool,
    ) -> Result<Listing<AuditEntry>> {
        let m = filter.to_match(merchant);
        let mut listing =
            keyset::list(&self.audit_logs(), m, AUDIT_ORDER, window, limit, count).await?;
        let rows = std::mem::take(&mut listing.items);
        let logs = self.attach_members(merchant, rows).await?;
        Ok(listing.with_items(logs))
    }

    async fn attach_members(
        &self,
        merchant: ObjectId,
        rows: Vec<AuditLogDoc>,
    ) -> Result<Vec<AuditEntry>> {
        let mut ids: Vec<ObjectId> = rows.iter().filter_map(|d| d.merchant_user_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let users = if ids.is_empty() {
            Vec::new()
        } else {
            self.members_by_ids(merchant, ids).await?
        };
        Ok(rows
            .into_iter()
            .map(|record| {
                let user = users
                    .iter()
                    .find(|u| Some(u.id) == record.merchant_user_id)
                    .map(|u| AuditMember {
                        id: u.id,
                        name: u.name.clone(),
                        email: u.email.clone(),
                        role: u.role.clone(),
                    });
                AuditEntry { record, user }
            })
            .collect())
    }

    /// `(label, count)` of the filter's records grouped by `by`: most frequent first (ties by
    /// label), or in date order for [`AuditGroup::Day`]; at most `limit` groups.
    pub async fn audit_counts(
        &self,
        merchant: ObjectId,
        filter: &AuditFilter,
        by: AuditGroup,
        limit: Option<i64>,
    ) -> Result<Vec<(String, i64)>> {
        let sort = if by == AuditGroup::Day {
            doc! { "_id": 1 }
        } else {
            doc! { "count": -1, "_id": 1 }
        };
        let mut pipeline = vec![
            doc! { "$match": filter.to_match(merchant) },
            doc! { "$group": { "_id": by.key(), "count": { "$sum": 1 } } },
            doc! { "$sort": sort },
        ];
        if let Some(l) = limit {
            pipeline.push(doc! { "$limit": l });
        }
        let rows = self.audit_pipeline(pipeline).await?;
        Ok(rows
            .iter()
            .filter_map(|d| Some((d.get_str("_id").ok()?.to_string(), int(d, "count"))))
            .collect())
    }

    /// Records per actor, most active first.
    pub async fn audit_by_actor(
        &self,
        merchant: ObjectId,
        filter: &AuditFilter,
    ) -> Result<Vec<ActorCount>> {
        let pipeline = vec![
            doc! { "$match": filter.to_match(merchant) },
            doc! { "$group": { "_id": "$merchantUserId", "count": { "$sum": 1 } } },
            doc! { "$lookup": { "from": "merchantusers", "localField": "_id", "foreignField": "_id", "as": "user" } },
            doc! { "$sort": { "count": -1 } },
        ];
        let rows = self.audit_pipeline(pipeline).await?;
        Ok(rows
            .iter()
            .map(|d| ActorCount {
                user: d.get_object_id("_id").ok(),
                name: d
                    .get_array("user")
                    .ok()
                    .and_then(|u| u.first())
                    .and_then(Bson::as_document)
                    .and_then(|u| u.get_str("name").ok())
                    .map(str::to_string),
                count: int(d, "count"),
            })
            .collect())
    }

    /// The filter's records per UTC day and hour, in time order.
    pub async fn audit_heatmap(
        &self,
        merchant: ObjectId,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditHeatCell>> {
        let pipeline = vec![
            doc! { "$match": filter.to_match(merchant) },
            doc! { "$group": { "_id": { "date": day_expr(), "hour": { "$hour": "$timestamp" } }, "count": { "$sum": 1 } } },
            doc! { "$project": { "_id": 0, "date": "$_id.date", "hour": "$_id.hour", "count": 1 } },
            doc! { "$sort": { "date": 1, "hour": 1 } },
        ];
        self.audit_rows(pipeline).await
    }

    /// Count, oldest and newest record of the merchant, and how many are older than `cutoff`.
    pub async fn audit_extent(&self, merchant: ObjectId, cutoff: DateTime) -> Result<AuditExtent> {
        let pipeline = vec![
            doc! { "$match": { "merchantId": merchant } },
            doc! { "$group": {
                "_id": null,
                "total": { "$sum": 1 },
                "oldest": { "$min": "$timestamp" },
                "newest": { "$max": "$timestamp" },
                "expired": { "$sum": { "$cond": [{ "$lt": ["$timestamp", cutoff] }, 1, 0] } },
            } },
        ];
        let rows = self.audit_pipeline(pipeline).await?;
        let Some(row) = rows.first() else {
            return Ok(AuditExtent::default());
        };
        let date = |k: &str| row.get_datetime(k).ok().copied();
        Ok(AuditExtent {
            total: int(row, "total"),
            oldest: date("oldest"),
            newest: date("newest"),
            expired: int(row, "expired"),
        })
    }

    /// The merchant's latest 12 months with records, newest first.
    pub async fn audit_by_month(&self, merchant: ObjectId) -> Result<Vec<AuditMonthCount>> {
        let pipeline = vec![
            doc! { "$match": { "merchantId": merchant } },
            doc! { "$group": { "_id": { "$dateToString": { "format": "%Y-%m", "date": "$timestamp" } }, "count": { "$sum": 1 } } },
            doc! { "$sort": { "_id": -1 } },
            doc! { "$limit": 12 },
            doc! { "$project": { "_id": 0, "month": "$_id", "count": 1 } },
        ];
        self.audit_rows(pipeline).await
    }
}
