//! `/api/merchant/team` (contract §2.4): list, get, own permissions, role and status changes,
//! removal and the audit-derived activity feed. Invitations live in [`invite`], the public
//! validate/accept routes under `/team-public` in [`public`].

mod invite;
mod public;
mod rbac;
mod types;
pub mod views;

use axum::{
    Router,
    extract::{Path, State},
    routing::{get, post, put},
};
use serde::Deserialize;

pub use invite::{__path_invite, __path_resend_invite, invite, resend_invite};
pub use public::{
    __path_accept_invitation, __path_validate_invitation, accept_invitation, validate_invitation,
};
pub use rbac::{__path_rbac_mode, __path_set_rbac_mode, rbac_mode, set_rbac_mode};
use types::role_description;
use views::{
    IdentitySummary, Member, MemberView, Members, MyPermissions, RoleSummary, StatusSummary, Team,
    TeamActivityData, TeamList,
};

use super::{
    Reply, audit,
    audit::views::AuditLogPage,
    cursor::{CursorParams, Paging},
    params,
};
use crate::{
    audit::AuditChange,
    domain::role_permissions,
    error::ApiError,
    extract::{AppJson, AppQuery, AuthMerchant, object_id},
    state::AppState,
    store::{
        ObjectId,
        audit::{AuditActor, AuditFilter},
        keyset::Listing,
        users::MerchantUserDoc,
    },
    validate::Validator,
};

/// Authenticated team routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list))
        .route("/invite", post(invite))
        .route("/me/permissions", get(my_permissions))
        .route("/activity", get(activity))
        .route("/rbac-mode", get(rbac_mode).put(set_rbac_mode))
        .route("/{user_id}", get(show).delete(remove))
        .route("/{user_id}/resend-invite", post(resend_invite))
        .route("/{user_id}/role", put(change_role))
        .route("/{user_id}/status", put(change_status))
}

/// Public invitation routes (no auth).
pub fn public_router() -> Router<AppState> {
    Router::new()
        .route("/validate-invitation/{token}", get(validate_invitation))
        .route("/accept-invitation/{token}", post(accept_invitation))
}

fn user_id(raw: &str) -> Result<ObjectId, ApiError> {
    object_id(raw, "Invalid user ID format")
}

fn member_not_found() -> ApiError {
    ApiError::NotFound("Team member not found".into())
}

async fn find_member(
    state: &AppState,
    auth: &AuthMerchant,
    raw: &str,
) -> Result<MerchantUserDoc, ApiError> {
    let id = user_id(raw)?;
    state
        .store
        .member(auth.id(), id)
        .await
        .map_err(ApiError::internal("Failed to fetch team member"))?
        .ok_or_else(member_not_found)
}

/// Team members with the team members who invited them (for `invitedBy`).
async fn with_inviters(
    state: &AppState,
    auth: &AuthMerchant,
    members: Vec<MerchantUserDoc>,
) -> Result<Members, ApiError> {
    let inviter_ids: Vec<ObjectId> = members.iter().filter_map(|m| m.invited_by).collect();
    let inviters = state
        .store
        .members_by_ids(auth.id(), inviter_ids)
        .await
        .map_err(ApiError::internal("Failed to fetch team members"))?;
    Ok(Members { members, inviters })
}

/// Query of the team list, read in cursor mode only (the list is otherwise whole).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TeamQuery {
    /// Cursor mode only: members per window, 1..100 (default 20).
    pub limit: Option<String>,
}

/// The merchant's team members, newest first: all of them, or a cursor walk.
#[utoipa::path(get, path = "/api/merchant/team", tag = "team", security(("bearer" = [])), params(TeamQuery, CursorParams),
    responses((status = 200, description = "`data.teamMembers`, `data.total` (cursor mode: `data.nextCursor` and a `Link` header)", body = crate::openapi::Envelope<TeamList>),
        (status = 400, description = "Query validation failed (a tampered, foreign or mismatched `cursor`)", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing team:view", body = crate::openapi::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthMerchant,
    paging: Paging,
    query: Result<AppQuery<TeamQuery>, ApiError>,
) -> Result<Reply<Team>, ApiError> {
    auth.require("team:view")?;
    let mut v = Validator::new();
    let (window, count) = paging.window(&mut v, &state.auth.cursor, auth.id(), 1);
    // The whole list reads no query parameter, as before cursors.
    let limit = if paging.is_cursor() {
        Some(params::int(&mut v, "limit", query?.0.limit, 1, 100, 20))
    } else {
        None
    };
    v.finish_as("Query validation failed")?;
    let store = &state.store;
    let listing = match limit {
        Some(limit) => store.team_window(auth.id(), &window, limit, count).await,
        None => store
            .team_members(auth.id())
            .await
            .map(|all| Listing::whole(all, count)),
    }
    .map_err(ApiError::internal("Failed to fetch team members"))?;
    let more = paging.continuation(&state.auth.cursor, auth.id(), &listing);
    let total = listing.total;
    Ok(Reply::data(Team {
        members: with_inviters(&state, &auth, listing.items).await?,
        total,
        next_cursor: more.next_cursor,
    })
    .link(more.link))
}

/// One team member.
#[utoipa::path(get, path = "/api/merchant/team/{userId}", tag = "team", security(("bearer" = [])),
    params(("userId" = String, Path, description = "Team member id")),
    responses((status = 200, description = "`data` is the member", body = crate::openapi::Envelope<MemberView>),
        (status = 400, description = "Invalid id", body = crate::openapi::ErrorBody),
        (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(raw): Path<String>,
) -> Result<Reply<Member>, ApiError> {
    auth.require("team:view")?;
    let member = find_member(&state, &auth, &raw).await?;
    let Members {
        mut members,
        inviters,
    } = with_inviters(&state, &auth, vec![member]).await?;
    let member = members.remove(0);
    let inviter = inviters
        .into_iter()
        .find(|i| Some(i.id) == member.invited_by);
    Ok(Reply::data(Member { member, inviter }))
}

/// The caller's role and permissions (no permission needed).
#[utoipa::path(get, path = "/api/merchant/team/me/permissions", tag = "team", security(("bearer" = [])),
    responses((status = 200, description = "`data.role`, `data.permissions[]`", body = crate::openapi::Envelope<MyPermissions>)))]
pub async fn my_permissions(auth: AuthMerchant) -> Reply<MyPermissions> {
    let access = auth.access();
    let role = access.role().to_string();
    let permissions = match &auth.member {
        // An API key: what it holds of what its creator holds.
        _ if access.key.is_some() => crate::domain::PERMISSIONS
            .iter()
            .filter(|p| access.can(p))
            .map(|p| p.to_string())
            .collect(),
        Some(m) if !m.permissions.is_empty() => m.permissions.clone(),
        _ => role_permissions(&role),
    };
    Reply::data(MyPermissions {
        role_description: role_description(&role),
        role,
        permission_count: permissions.len(),
        permissions,
    })
}

/// Body of a role change.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RoleBody {
    /// admin | manager | staff.
    pub role: Option<String>,
}

/// Body of a status change.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct StatusBody {
    /// active | suspended.
    pub status: Option<String>,
}

fn required_one_of(
    field: &str,
    value: Option<String>,
    allowed: &[&'static str],
) -> Result<&'static str, ApiError> {
    let mut v = Validator::new();
    let picked = v.one_of(field, value.clone(), allowed);
    if value.is_none() {
        v.error(field, format!("\"{field}\" is required"), None);
    }
    v.finish()?;
    picked.ok_or_else(|| ApiError::BadRequest(format!("\"{field}\" is required")))
}

/// Change a member's role (owner only: `team:change_role`); permissions reset to the role's.
#[utoipa::path(put, path = "/api/merchant/team/{userId}/role", tag = "team", security(("bearer" = [])), request_body = RoleBody,
    params(("userId" = String, Path, description = "Team member id")),
    responses((status = 200, description = "Updated member", body = crate::openapi::Envelope<MemberView>),
        (status = 400, description = "Validation failed", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not the owner, or the target is an owner", body = crate::openapi::ErrorBody),
        (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
pub async fn change_role(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(raw): Path<String>,
    AppJson(body): AppJson<RoleBody>,
) -> Result<Reply<Member>, ApiError> {
    auth.require("team:change_role")?;
    let role = required_one_of("role", body.role, &["admin", "manager", "staff"])?;
    let before = find_member(&state, &auth, &raw).await?;
    if before.role == "owner" {
        return Err(ApiError::Forbidden(
            "Cannot change the role of an owner".into(),
        ));
    }
    let updated = state
        .store
        .set_member_role(auth.id(), before.id, role, role_permissions(role))
        .await
        .map_err(ApiError::internal("Failed to update role"))?
        .ok_or_else(member_not_found)?;
    state.access_cache.invalidate_merchant(auth.id());
    let change = AuditChange::action("team.role_change")
        .resource("team_member", updated.id)
        .diff(RoleSummary::of(&before), RoleSummary::of(&updated));
    Ok(Reply::data(Member {
        member: updated,
        inviter: None,
    })
    .message("Role updated successfully")
    .audit(change))
}

/// The owner and the caller themself cannot be suspended or removed.
fn guard_target(auth: &AuthMerchant, target: &MerchantUserDoc, what: &str) -> Result<(), ApiError> {
    if target.role == "owner" {
        return Err(ApiError::Forbidden(format!("Cannot {what} the owner")));
    }
    if auth.member.as_ref().is_some_and(|m| m.id == target.id) {
        return Err(ApiError::Forbidden(format!("Cannot {what} yourself")));
    }
    Ok(())
}

/// Activate or suspend a member.
#[utoipa::path(put, path = "/api/merchant/team/{userId}/status", tag = "team", security(("bearer" = [])), request_body = StatusBody,
    params(("userId" = String, Path, description = "Team member id")),
    responses((status = 200, description = "Updated member", body = crate::openapi::Envelope<MemberView>),
        (status = 400, description = "Validation failed", body = crate::openapi::ErrorBody),
        (status = 403, description = "Owner or self", body = crate::openapi::ErrorBody),
        (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
pub async fn change_status(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(raw): Path<String>,
    AppJson(body): AppJson<StatusBody>,
) -> Result<Reply<Member>, ApiError> {
    auth.require("team:change_status")?;
    let status = required_one_of("status", body.status, &["active", "suspended"])?;
    let before = find_member(&state, &auth, &raw).await?;
    guard_target(&auth, &before, "change the status of")?;
    if status == "active" && before.password.is_none() {
        return Err(ApiError::BadRequest(
            "The invitation has not been accepted yet".into(),
        ));
    }
    let updated = state
        .store
        .set_member_status(auth.id(), before.id, status)
        .await
        .map_err(ApiError::internal("Failed to update status"))?
        .ok_or_else(member_not_found)?;
    state.access_cache.invalidate_merchant(auth.id());
    let change = AuditChange::action("team.status_change")
        .resource("team_member", updated.id)
        .diff(
            StatusSummary {
                status: &before.status,
            },
            StatusSummary {
                status: &updated.status,
            },
        );
    Ok(Reply::data(Member {
        member: updated,
        inviter: None,
    })
    .message("Status updated successfully")
    .audit(change))
}

/// Remove a member (hard delete).
#[utoipa::path(delete, path = "/api/merchant/team/{userId}", tag = "team", security(("bearer" = [])),
    params(("userId" = String, Path, description = "Team member id")),
    responses((status = 200, description = "Removed", body = crate::openapi::Done),
        (status = 403, description = "Owner or self", body = crate::openapi::ErrorBody),
        (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(raw): Path<String>,
) -> Result<Reply<()>, ApiError> {
    auth.require("team:remove")?;
    let member = find_member(&state, &auth, &raw).await?;
    guard_target(&auth, &member, "remove")?;
    if !state
        .store
        .delete_member(auth.id(), member.id)
        .await
        .map_err(ApiError::internal("Failed to remove team member"))?
    {
        return Err(member_not_found());
    }
    state.access_cache.invalidate_merchant(auth.id());
    let change = AuditChange::action("team.remove")
        .resource("team_member", member.id)
        .before(IdentitySummary::of(&member));
    Ok(Reply::empty()
        .message("Team member removed successfully")
        .audit(change))
}

/// Query of the activity feed.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// Page (≥ 1).
    pub page: Option<String>,
    /// Page size (1..100, default 20).
    pub limit: Option<String>,
    /// Only this team member's actions.
    #[serde(rename = "userId")]
    pub user_id: Option<String>,
}

/// Team activity from the audit trail: actions by team members and changes to the team
/// (pages, or a cursor walk).
#[utoipa::path(get, path = "/api/merchant/team/activity", tag = "team", security(("bearer" = [])), params(ActivityQuery, CursorParams),
    responses((status = 200, description = "`{activities,total,page,totalPages}` (cursor mode: `nextCursor` and a `Link` header; no `page`)", body = crate::openapi::Envelope<TeamActivityData>),
        (status = 400, description = "Query validation failed (also a tampered, foreign or mismatched `cursor`)", body = crate::openapi::ErrorBody)))]
pub async fn activity(
    State(state): State<AppState>,
    auth: AuthMerchant,
    paging: Paging,
    AppQuery(q): AppQuery<ActivityQuery>,
) -> Result<Reply<TeamActivityData>, ApiError> {
    auth.require("team:view")?;
    let mut v = Validator::new();
    let (page, limit) = params::page_limit(&mut v, q.page, q.limit, 20);
    let user = q
        .user_id
        .filter(|u| !u.is_empty())
        .map(|u| ObjectId::parse_str(&u).map_err(|_| u));
    let user = match user {
        Some(Err(raw)) => {
            v.error("userId", "\"userId\" must be a valid id", Some(raw.into()));
            None
        }
        Some(Ok(id)) => Some(id),
        None => None,
    };
    let (window, count) = paging.window(&mut v, &state.auth.cursor, auth.id(), page);
    v.finish_as("Query validation failed")?;
    let filter = AuditFilter {
        actor: user.map_or(AuditActor::Team, AuditActor::Member),
        ..AuditFilter::default()
    };
    let found = audit::query::window(&state, auth.id(), &filter, &window, limit, count).await?;
    let more = paging.continuation(&state.auth.cursor, auth.id(), &found);
    let page = AuditLogPage::new(found, limit, &window, more.next_cursor);
    Ok(Reply::data(TeamActivityData::from(page)).link(more.link))
}
