//! `POST /api/merchant/auth/sessions/revoke-all`: end every token issued so far. The owner's
//! call ends the owner's and every team member's tokens (ours and the older deployment's, which
//! carry no session version and count as version 0); a member's call ends that member's. Access
//! tokens are refused from the next request on this replica, and on others within
//! `AUTH_CACHE_TTL_MS` (`middleware::invalidate_caches` drops this replica's cached checks after
//! the call, as after any write); refresh tokens of the ended sessions cannot be exchanged. Signing in
//! again issues tokens under the new version.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    audit::AuditChange, error::ApiError, extract::AuthMerchant, routes::Reply, state::AppState,
};

/// `data` of a revoke-all.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokedSessions {
    /// `merchant` (the owner ended every token of the account and its team) or `member` (a team
    /// member ended their own).
    pub scope: &'static str,
    /// Refresh sessions ended.
    pub revoked_sessions: u64,
    /// Team members whose tokens were ended.
    pub team_members: u64,
}

/// End every earlier token of the caller's account (the owner's: also the team's).
#[utoipa::path(post, path = "/api/merchant/auth/sessions/revoke-all", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Every earlier token is refused from now on, the caller's included: sign in again", body = crate::openapi::Envelope<RevokedSessions>),
        (status = 401, description = "Not authenticated", body = crate::openapi::ErrorBody),
        (status = 403, description = "Called with an API key (revoke the key instead)", body = crate::openapi::ErrorBody)))]
pub async fn revoke_all(
    State(state): State<AppState>,
    auth: AuthMerchant,
) -> Result<Reply<RevokedSessions>, ApiError> {
    if auth.identity.api_key.is_some() {
        return Err(ApiError::Forbidden(
            "API keys have no sessions; revoke the key instead".into(),
        ));
    }
    let failed = || ApiError::internal("Failed to revoke sessions");
    let merchant = auth.id();
    // The versions first: they are what refuses access tokens; the refresh sessions after.
    let data = match &auth.member {
        None => {
            state
                .store
                .raise_owner_session_version(merchant)
                .await
                .map_err(failed())?;
            let team_members = state
                .store
                .raise_member_session_versions(merchant, None)
                .await
                .map_err(failed())?;
            let owner = state
                .store
                .revoke_owner_sessions(merchant)
                .await
                .map_err(failed())?;
            let team = state
                .store
                .revoke_member_sessions(merchant, None)
                .await
                .map_err(failed())?;
            RevokedSessions {
                scope: "merchant",
                revoked_sessions: owner + team,
                team_members,
            }
        }
        Some(member) => {
            state
                .store
                .raise_member_session_versions(merchant, Some(member.id))
                .await
                .map_err(failed())?;
            let revoked_sessions = state
                .store
                .revoke_member_sessions(merchant, Some(member.id))
                .await
                .map_err(failed())?;
            RevokedSessions {
                scope: "member",
                revoked_sessions,
                team_members: 1,
            }
        }
    };
    tracing::info!(%merchant, scope = data.scope, sessions = data.revoked_sessions, "auth.sessions_revoked");
    let subject = auth.member.as_ref().map_or(merchant, |m| m.id);
    Ok(Reply::data(data)
        .message("All sessions revoked; sign in again")
        .audit(AuditChange::action("auth.sessions_revoked").resource("auth", subject)))
}
