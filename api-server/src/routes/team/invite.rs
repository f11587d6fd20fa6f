//! Inviting team members: a pending (inactive) member with a hashed 24 h token, the accept link
//! e-mailed through the mail queue; re-inviting a pending address resends.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use serde::Deserialize;

use super::{
    find_member,
    types::role_description,
    views::{IdentitySummary, InvitationSent},
};
use crate::{
    audit::AuditChange,
    domain::{Email, role_permissions},
    error::{ApiError, on_duplicate_key},
    extract::{AppJson, AuthMerchant},
    mail,
    routes::Reply,
    security::token,
    state::AppState,
    store::{DateTime, json::iso, team::NewInvitation, users::MerchantUserDoc},
    validate::{Len, Validator},
};

/// Invitation lifetime.
const INVITATION_HOURS: i64 = 24;

/// Body of an invitation (unknown keys such as `permissions` are ignored).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct InviteBody {
    /// E-mail of the invitee.
    pub email: Option<String>,
    /// Name (2..100).
    pub name: Option<String>,
    /// admin | manager | staff.
    pub role: Option<String>,
}

struct Invitee {
    email: Email,
    name: String,
    role: &'static str,
}

fn validate(body: InviteBody) -> Result<Invitee, ApiError> {
    let mut v = Validator::new();
    let email = v.parse("email", body.email, |raw| {
        Email::parse(raw).map_err(|_| "must be a valid email")
    });
    let name = v.text("name", body.name, Len(2, 100));
    let role = v.one_of("role", body.role.clone(), &["admin", "manager", "staff"]);
    if body.role.is_none() {
        v.error("role", "\"role\" is required", None);
    }
    v.finish()?;
    Ok(Invitee {
        email,
        name: name.trim().to_string(),
        role: role.unwrap_or("staff"),
    })
}

fn expiry() -> DateTime {
    DateTime::from_millis(DateTime::now().timestamp_millis() + INVITATION_HOURS * 3_600_000)
}

/// Queue the invitation e-mail with the accept link.
fn send_invitation(state: &AppState, auth: &AuthMerchant, member: &MerchantUserDoc, plain: &str) {
    let link = crate::routes::auth::link(state, "accept-invitation", plain);
    state.mailer.send(mail::invitation(
        &member.email,
        &member.name,
        &auth.merchant.business_name,
        role_description(&member.role),
        &link,
    ));
}

fn invitation_data(state: &AppState, member: &MerchantUserDoc, plain: &str) -> InvitationSent {
    // Like the peer, only development servers reveal the token in the response.
    let development = state.settings.development;
    InvitationSent {
        invitation_id: member.id.to_hex(),
        expires_at: member.invitation_expiry.map(iso),
        invitation_token: development.then(|| plain.to_string()),
        invitation_url: development
            .then(|| crate::routes::auth::link(state, "accept-invitation", plain)),
    }
}

/// Resend to a pending member: a fresh token replaces the old one.
async fn resend(
    state: &AppState,
    auth: &AuthMerchant,
    member: &MerchantUserDoc,
) -> Result<Reply<InvitationSent>, ApiError> {
    let fresh = token::generate();
    let renewed = state
        .store
        .renew_invitation(auth.id(), member.id, &fresh.digest, expiry())
        .await
        .map_err(ApiError::internal("Failed to resend invitation"))?
        .ok_or_else(|| ApiError::BadRequest("Invitation already accepted".into()))?;
    send_invitation(state, auth, &renewed, &fresh.plain);
    let change = AuditChange::action("team.resend_invite").resource("team_member", renewed.id);
    Ok(Reply::data(invitation_data(state, &renewed, &fresh.plain))
        .message("Invitation resent successfully")
        .audit(change))
}

/// Invite a team member (201), or resend to a pending one.
#[utoipa::path(post, path = "/api/merchant/team/invite", tag = "team", security(("bearer" = [])), request_body = InviteBody,
    responses((status = 201, description = "`data.invitationId`, `data.expiresAt`", body = crate::openapi::Envelope<InvitationSent>),
        (status = 400, description = "Validation failed or already a member", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing team:invite", body = crate::openapi::ErrorBody)))]
pub async fn invite(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppJson(body): AppJson<InviteBody>,
) -> Result<Reply<InvitationSent>, ApiError> {
    auth.require("team:invite")?;
    let invitee = validate(body)?;
    let email = invitee.email.as_str();
    if email == auth.merchant.email {
        return Err(ApiError::BadRequest(
            "This email belongs to the merchant owner".into(),
        ));
    }
    let existing = state
        .store
        .member_with_email(auth.id(), email)
        .await
        .map_err(ApiError::internal("Failed to send invitation"))?;
    match existing {
        Some(m) if m.status == "inactive" && m.password.is_none() => {
            return Ok(resend(&state, &auth, &m).await?.status(StatusCode::CREATED));
        }
        Some(_) => {
            return Err(ApiError::BadRequest(
                "A team member with this email already exists".into(),
            ));
        }
        None => {}
    }
    create(&state, &auth, invitee).await
}

/// Store a new pending member and e-mail its invitation.
async fn create(
    state: &AppState,
    auth: &AuthMerchant,
    invitee: Invitee,
) -> Result<Reply<InvitationSent>, ApiError> {
    let fresh = token::generate();
    let member = NewInvitation {
        merchant: auth.id(),
        email: invitee.email.as_str().to_string(),
        name: invitee.name,
        role: invitee.role.to_string(),
        permissions: role_permissions(invitee.role),
        invited_by: auth.member.as_ref().map_or(auth.id(), |m| m.id),
        token_digest: fresh.digest,
        expires_at: expiry(),
    }
    .into_doc();
    let taken = || ApiError::BadRequest("A team member with this email already exists".into());
    state
        .store
        .insert_member(&member)
        .await
        .map_err(on_duplicate_key(taken, "Failed to send invitation"))?;
    send_invitation(state, auth, &member, &fresh.plain);
    let change = AuditChange::action("team.invite")
        .resource("team_member", member.id)
        .after(IdentitySummary::of(&member));
    Ok(Reply::data(invitation_data(state, &member, &fresh.plain))
        .message("Invitation sent successfully")
        .status(StatusCode::CREATED)
        .audit(change))
}

/// Resend a pending member's invitation.
#[utoipa::path(post, path = "/api/merchant/team/{userId}/resend-invite", tag = "team", security(("bearer" = [])),
    params(("userId" = String, Path, description = "Team member id")),
    responses((status = 200, description = "Resent", body = crate::openapi::Envelope<InvitationSent>),
        (status = 400, description = "Already accepted", body = crate::openapi::ErrorBody),
        (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
pub async fn resend_invite(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(raw): Path<String>,
) -> Result<Reply<InvitationSent>, ApiError> {
    auth.require("team:invite")?;
    let member = find_member(&state, &auth, &raw).await?;
    if member.status != "inactive" || member.password.is_some() {
        return Err(ApiError::BadRequest("Invitation already accepted".into()));
    }
    resend(&state, &auth, &member).await
}
