//! Retention views: how much is stored (by month), whether the trail complies with the
//! configured retention (`AUDIT_RETENTION_DAYS`, enforced by the TTL index), and an explicit
//! cleanup of the merchant's records older than a given age.

use axum::extract::State;
use serde::Deserialize;

use super::{
    query::failed,
    views::{AuditCleanup, AuditCompliance, AuditRetentionStats},
};
use crate::{
    error::ApiError,
    extract::{AppJson, AuthMerchant},
    routes::{Reply, params},
    state::AppState,
    store::{DateTime, audit_views::AuditExtent, json::iso},
    validate::Validator,
};

/// Size estimate per record (the contract's 1 KB).
const BYTES_PER_LOG: f64 = 1024.0;

/// Count, oldest and newest record of the merchant, and how many are older than `cutoff`.
async fn extent(
    state: &AppState,
    auth: &AuthMerchant,
    cutoff: DateTime,
) -> Result<AuditExtent, ApiError> {
    state
        .store
        .audit_extent(auth.id(), cutoff)
        .await
        .map_err(failed)
}

fn size_mb(total: i64) -> f64 {
    (total as f64 * BYTES_PER_LOG / 1_048_576.0 * 100.0).round() / 100.0
}

/// Totals, extent, size estimate and the latest 12 months' counts.
#[utoipa::path(get, path = "/api/merchant/audit/retention/stats", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "Totals, extent, size estimate and months", body = crate::openapi::Envelope<AuditRetentionStats>)))]
pub async fn retention_stats(
    State(state): State<AppState>,
    auth: AuthMerchant,
) -> Result<Reply<AuditRetentionStats>, ApiError> {
    auth.require("logs:view")?;
    let AuditExtent {
        total,
        oldest,
        newest,
        ..
    } = extent(&state, &auth, DateTime::now()).await?;
    let by_month = state
        .store
        .audit_by_month(auth.id())
        .await
        .map_err(failed)?;
    Ok(Reply::data(AuditRetentionStats {
        total_logs: total,
        oldest_log: oldest.map(iso),
        newest_log: newest.map(iso),
        estimated_size_mb: size_mb(total),
        by_month,
    }))
}

/// The compliance verdict and its reasons.
fn verdict(
    total: i64,
    oldest: Option<DateTime>,
    expired: i64,
    days: i64,
) -> (&'static str, Vec<String>) {
    let mut recs = Vec::new();
    let twice = params::days_ago(2 * days);
    let status = if total == 0 {
        recs.push("No audit records exist yet: check that audit logging is working.".to_string());
        "non-compliant"
    } else if oldest.is_some_and(|o| o < twice) {
        recs.push(format!(
            "Records older than twice the {days}-day retention exist: run a cleanup."
        ));
        "non-compliant"
    } else if expired > 1000 || size_mb(total) > 100.0 {
        recs.push(format!(
            "{expired} records are past the {days}-day retention: run a cleanup."
        ));
        "warning"
    } else {
        "compliant"
    };
    if expired > 0 && status == "compliant" {
        recs.push(format!(
            "{expired} records are past retention and will be removed automatically."
        ));
    }
    (status, recs)
}

/// Whether the trail complies with the configured retention.
#[utoipa::path(get, path = "/api/merchant/audit/retention/compliance", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "The compliance verdict", body = crate::openapi::Envelope<AuditCompliance>)))]
pub async fn compliance(
    State(state): State<AppState>,
    auth: AuthMerchant,
) -> Result<Reply<AuditCompliance>, ApiError> {
    auth.require("logs:view")?;
    let days = i64::from(state.settings.audit_retention_days);
    let AuditExtent {
        total,
        oldest,
        expired,
        ..
    } = extent(&state, &auth, params::days_ago(days)).await?;
    let (status, recommendations) = verdict(total, oldest, expired, days);
    let next = DateTime::from_millis(DateTime::now().timestamp_millis() + 7 * 86_400_000);
    Ok(Reply::data(AuditCompliance {
        merchant_id: auth.id().to_hex(),
        total_logs: total,
        retention_period_days: days,
        oldest_log: oldest.map(iso),
        logs_to_be_deleted: expired,
        next_cleanup_date: iso(next),
        compliance_status: status,
        recommendations,
    }))
}

/// Body of a cleanup.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CleanupBody {
    /// Keep this many days (1..36500; default the configured retention).
    pub retention_days: Option<i64>,
    /// Archiving before deletion is not offered; `true` is rejected (export first).
    pub auto_archive: Option<bool>,
}

/// Delete the merchant's records older than `retentionDays` (owner: `settings:edit`).
#[utoipa::path(post, path = "/api/merchant/audit/retention/cleanup", tag = "audit", security(("bearer" = [])), request_body = CleanupBody,
    responses((status = 200, description = "What was deleted", body = crate::openapi::Envelope<AuditCleanup>),
        (status = 400, description = "Validation failed", body = crate::openapi::ErrorBody)))]
pub async fn cleanup(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppJson(body): AppJson<CleanupBody>,
) -> Result<Reply<AuditCleanup>, ApiError> {
    auth.require("settings:edit")?;
    let mut v = Validator::new();
    let days = v
        .opt_int("retentionDays", body.retention_days, 1, 36_500)
        .unwrap_or(i64::from(state.settings.audit_retention_days));
    if body.auto_archive == Some(true) {
        v.error(
            "autoArchive",
            "\"autoArchive\" is not supported: export the logs (GET /audit/export) before cleaning up",
            Some(true.into()),
        );
    }
    v.finish()?;
    let cutoff = params::days_ago(days);
    let deleted = state
        .store
        .delete_audit_before(auth.id(), cutoff)
        .await
        .map_err(ApiError::internal("Failed to clean up audit logs"))?;
    Ok(Reply::data(AuditCleanup {
        deleted_count: deleted,
        cutoff_date: iso(cutoff),
        retention_days: days,
    })
    .message("Audit log cleanup completed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compliance_follows_the_contract_rules() {
        assert_eq!(verdict(0, None, 0, 365).0, "non-compliant");
        assert_eq!(verdict(10, Some(DateTime::now()), 0, 365).0, "compliant");
        assert_eq!(
            verdict(10, Some(params::days_ago(800)), 10, 365).0,
            "non-compliant"
        );
        assert_eq!(
            verdict(5000, Some(params::days_ago(400)), 1500, 365).0,
            "warning"
        );
    }
}
