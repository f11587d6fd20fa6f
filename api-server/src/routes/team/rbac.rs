//! `/api/merchant/team/rbac-mode`: whether team members' missing permissions are refused
//! (`enforce`, the default) or let through and recorded as `rbac.shadow_denied` audit records
//! (`shadow`), so an owner can narrow roles and watch who would be refused before enforcing.
//! API keys are enforced in both modes. Only the owner changes it.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    audit::AuditChange,
    domain::{RBAC_ENFORCE, RBAC_SHADOW},
    error::ApiError,
    extract::{AppJson, AuthMerchant},
    routes::Reply,
    state::AppState,
    store::merchants::MerchantDoc,
    validate::Validator,
};

/// The mode.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RbacMode {
    /// enforce | shadow.
    pub rbac_mode: &'static str,
}

/// A mode change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RbacModeBody {
    /// enforce | shadow.
    pub rbac_mode: Option<String>,
}

fn mode_of(merchant: &MerchantDoc) -> &'static str {
    match merchant.rbac_mode.as_deref() {
        Some(RBAC_SHADOW) => RBAC_SHADOW,
        _ => RBAC_ENFORCE,
    }
}

/// The merchant's `rbacMode`.
#[utoipa::path(get, path = "/api/merchant/team/rbac-mode", tag = "team", security(("bearer" = [])),
    responses((status = 200, description = "`data.rbacMode`", body = crate::openapi::Envelope<RbacMode>),
        (status = 403, description = "`team:view` missing", body = crate::openapi::ErrorBody)))]
pub async fn rbac_mode(auth: AuthMerchant) -> Result<Reply<RbacMode>, ApiError> {
    auth.require("team:view")?;
    Ok(Reply::data(RbacMode {
        rbac_mode: mode_of(&auth.merchant),
    }))
}

/// Set the merchant's `rbacMode` (the owner's login only).
#[utoipa::path(put, path = "/api/merchant/team/rbac-mode", tag = "team", security(("bearer" = [])), request_body = RbacModeBody,
    responses((status = 200, description = "Set", body = crate::openapi::Envelope<RbacMode>),
        (status = 400, description = "`rbacMode` missing or not enforce | shadow", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not the owner's login", body = crate::openapi::ErrorBody)))]
pub async fn set_rbac_mode(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppJson(body): AppJson<RbacModeBody>,
) -> Result<Reply<RbacMode>, ApiError> {
    if !auth.is_owner_login() {
        return Err(ApiError::Forbidden(
            "Only the account owner can change rbacMode".into(),
        ));
    }
    let mut v = Validator::new();
    if body.rbac_mode.is_none() {
        v.error("rbacMode", "\"rbacMode\" is required", None);
    }
    let mode = v.one_of("rbacMode", body.rbac_mode, &[RBAC_ENFORCE, RBAC_SHADOW]);
    v.finish()?;
    let mode = mode.unwrap_or(RBAC_ENFORCE);
    let before = mode_of(&auth.merchant);
    state
        .store
        .set_rbac_mode(auth.id(), mode)
        .await
        .map_err(ApiError::internal("Failed to set rbacMode"))?
        .ok_or_else(|| ApiError::NotFound("Merchant not found".into()))?;
    tracing::info!(merchant = %auth.id(), before, after = mode, "team.rbac_mode");
    let audit = AuditChange::action("team.rbac_mode_changed")
        .resource("merchant", auth.id())
        .diff(RbacMode { rbac_mode: before }, RbacMode { rbac_mode: mode });
    Ok(Reply::data(RbacMode { rbac_mode: mode })
        .message(format!("rbacMode is now {mode}"))
        .audit(audit))
}
