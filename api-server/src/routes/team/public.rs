//! `/api/merchant/team-public`: validating and accepting an invitation by its e-mailed token
//! (no auth). Accepting sets the password and activates the member.

use axum::extract::{Path, State};
use secrecy::SecretString;
use serde::Deserialize;

use super::views::{InvitationView, MemberIdentity, ValidInvitation};
use crate::{
    audit::{Actor, AuditChange},
    domain::Password,
    error::ApiError,
    extract::AppJson,
    notifications::{NewNotification, notify_quietly},
    routes::Reply,
    security::token,
    state::AppState,
    store::json::iso,
    validate::Validator,
};

fn invalid() -> ApiError {
    ApiError::BadRequest("Invalid or expired invitation".into())
}

/// Check an invitation token and describe the invitation.
#[utoipa::path(get, path = "/api/merchant/team-public/validate-invitation/{token}", tag = "team",
    params(("token" = String, Path, description = "Token from the e-mail")),
    responses((status = 200, description = "`data.valid`, `data.invitation`", body = crate::openapi::Envelope<ValidInvitation>),
        (status = 400, description = "Invalid or expired", body = crate::openapi::ErrorBody)))]
pub async fn validate_invitation(
    State(state): State<AppState>,
    Path(plain): Path<String>,
) -> Result<Reply<ValidInvitation>, ApiError> {
    let member = state
        .store
        .member_by_invitation(&token::digest(&plain))
        .await
        .map_err(ApiError::internal("Failed to validate invitation"))?
        .ok_or_else(invalid)?;
    let business = state
        .store
        .merchant(member.merchant_id)
        .await
        .map_err(ApiError::internal("Failed to validate invitation"))?
        .map(|m| m.business_name)
        .unwrap_or_default();
    Ok(Reply::data(ValidInvitation {
        valid: true,
        invitation: InvitationView {
            expires_at: member.invitation_expiry.map(iso),
            name: member.name,
            email: member.email,
            role: member.role,
            business_name: business,
        },
    }))
}

/// Body of an acceptance.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcceptBody {
    /// New password (6..128).
    pub password: Option<String>,
    /// Must equal `password`.
    pub confirm_password: Option<String>,
}

fn validate(body: AcceptBody) -> Result<SecretString, ApiError> {
    let mut v = Validator::new();
    let password = match body.password {
        None => {
            v.error("password", "\"password\" is required", None);
            None
        }
        Some(raw) => Password::parse(&raw)
            .map_err(|e| v.error("password", format!("\"password\" {e}"), None))
            .ok(),
    };
    let matches = match (&body.confirm_password, &password) {
        (Some(c), Some(p)) => secrecy::ExposeSecret::expose_secret(&p.0) == c,
        _ => false,
    };
    if body.confirm_password.is_none() {
        v.error("confirmPassword", "\"confirmPassword\" is required", None);
    } else if password.is_some() && !matches {
        v.error(
            "confirmPassword",
            "\"confirmPassword\" must match password",
            None,
        );
    }
    v.finish()?;
    password.map(|p| p.0).ok_or_else(invalid)
}

/// Accept an invitation: set the password and activate the member.
#[utoipa::path(post, path = "/api/merchant/team-public/accept-invitation/{token}", tag = "team", request_body = AcceptBody,
    params(("token" = String, Path, description = "Token from the e-mail")),
    responses((status = 200, description = "`data.email`, `data.name`, `data.role`", body = crate::openapi::Envelope<MemberIdentity>),
        (status = 400, description = "Validation failed, invalid or expired", body = crate::openapi::ErrorBody)))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    Path(plain): Path<String>,
    AppJson(body): AppJson<AcceptBody>,
) -> Result<Reply<MemberIdentity>, ApiError> {
    let secret = validate(body)?;
    let digest = token::digest(&plain);
    // Check first so an invalid token costs no hashing.
    state
        .store
        .member_by_invitation(&digest)
        .await
        .map_err(ApiError::internal("Failed to accept invitation"))?
        .ok_or_else(invalid)?;
    let hash = state
        .hasher
        .hash(secret)
        .await
        .map_err(crate::routes::auth::hash_failed)?;
    let member = state
        .store
        .accept_invitation(&digest, hash)
        .await
        .map_err(ApiError::internal("Failed to accept invitation"))?
        .ok_or_else(invalid)?;
    let raised = NewNotification::invitation_accepted(member.id, &member.name, &member.role);
    notify_quietly(&state.store, member.merchant_id, raised).await;
    let actor = Actor {
        merchant: member.merchant_id,
        member: Some(member.id),
    };
    let change = AuditChange::action("team.invitation_accepted")
        .resource("team_member", member.id)
        .by(actor);
    Ok(Reply::data(MemberIdentity::of(member))
        .message("Invitation accepted successfully. You can now log in.")
        .audit(change))
}
