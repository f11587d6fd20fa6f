//! Response bodies of the team routes: members as the contract's MerchantUser JSON (`id`, never
//! `_id`, password or tokens), invitations, permissions, and the summaries the audit records
//! keep of a member.

use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    routes::audit::views::{AuditLogPage, AuditRecord},
    store::json::{hex, iso_text, opt_iso_text},
    store::{DateTime, ObjectId, users::MerchantUserDoc},
};

/// Who invited a member (a team member; the owner is not described).
#[derive(Debug, Serialize, ToSchema)]
pub struct InviterView<'a> {
    /// Team member id (24 hex).
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String)]
    pub id: &'a ObjectId,
    /// Name.
    pub name: &'a str,
    /// E-mail.
    pub email: &'a str,
}

/// A team member.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberView<'a> {
    /// Team member id (24 hex).
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String)]
    pub id: &'a ObjectId,
    /// The merchant (24 hex).
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String)]
    pub merchant_id: &'a ObjectId,
    /// E-mail.
    pub email: &'a str,
    /// Name.
    pub name: &'a str,
    /// owner | admin | manager | staff.
    pub role: &'a str,
    /// `resource:action` permissions.
    pub permissions: &'a [String],
    /// active | inactive (invited) | suspended.
    pub status: &'a str,
    /// The inviting team member; null when the owner invited.
    pub invited_by: Option<InviterView<'a>>,
    /// When invited (null for members not invited through the API).
    #[serde(serialize_with = "opt_iso_text")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub invited_at: Option<DateTime>,
    /// When the invitation was accepted.
    #[serde(serialize_with = "opt_iso_text")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub accepted_at: Option<DateTime>,
    /// Last successful login.
    #[serde(serialize_with = "opt_iso_text")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_login_at: Option<DateTime>,
    /// Created.
    #[serde(serialize_with = "iso_text")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: &'a DateTime,
    /// Last change (the creation instant when never changed).
    #[serde(serialize_with = "iso_text")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: &'a DateTime,
}

impl<'a> MemberView<'a> {
    /// `m` with `inviter` as `invitedBy` (none when the owner invited, since the stored id is
    /// then the merchant's).
    pub fn of(m: &'a MerchantUserDoc, inviter: Option<&'a MerchantUserDoc>) -> Self {
        Self {
            id: &m.id,
            merchant_id: &m.merchant_id,
            email: &m.email,
            name: &m.name,
            role: &m.role,
            permissions: &m.permissions,
            status: &m.status,
            invited_by: inviter.map(|i| InviterView {
                id: &i.id,
                name: &i.name,
                email: &i.email,
            }),
            invited_at: m.invited_at,
            accepted_at: m.accepted_at,
            last_login_at: m.last_login_at,
            created_at: &m.created_at,
            updated_at: m.updated_at.as_ref().unwrap_or(&m.created_at),
        }
    }
}

/// `data` of the team list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamList<'a> {
    /// Members, newest first.
    pub team_members: Vec<MemberView<'a>>,
    /// Number of members (left out with `includeTotal=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Cursor mode only: the cursor of the next window, `null` at the end of the team.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<&'a Option<String>>,
}

/// Members owning their inviters: serialised as a list of [`MemberView`].
#[derive(Debug)]
pub struct Members {
    /// The members.
    pub members: Vec<MerchantUserDoc>,
    /// The team members who invited them.
    pub inviters: Vec<MerchantUserDoc>,
}

impl Members {
    /// The view of each member, `invitedBy` populated from the inviters.
    pub fn views(&self) -> Vec<MemberView<'_>> {
        self.members
            .iter()
            .map(|m| {
                let inviter = m
                    .invited_by
                    .and_then(|by| self.inviters.iter().find(|i| i.id == by));
                MemberView::of(m, inviter)
            })
            .collect()
    }
}

/// The team list owning its members: serialised as [`TeamList`].
#[derive(Debug)]
pub struct Team {
    /// The members of the list or window, with their inviters.
    pub members: Members,
    /// Number of members (when counted).
    pub total: Option<u64>,
    /// As `Paging::continuation` gave it.
    pub next_cursor: Option<Option<String>>,
}

impl Serialize for Team {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        TeamList {
            team_members: self.members.views(),
            total: self.total,
            next_cursor: self.next_cursor.as_ref(),
        }
        .serialize(s)
    }
}

/// One member owning its inviter: serialised as [`MemberView`].
#[derive(Debug)]
pub struct Member {
    /// The member.
    pub member: MerchantUserDoc,
    /// The team member who invited it.
    pub inviter: Option<MerchantUserDoc>,
}

impl Serialize for Member {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MemberView::of(&self.member, self.inviter.as_ref()).serialize(s)
    }
}

/// `data` of `GET /team/me/permissions`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyPermissions {
    /// owner | admin | manager | staff.
    pub role: String,
    /// What the role may do.
    pub role_description: &'static str,
    /// Number of permissions.
    pub permission_count: usize,
    /// `resource:action` permissions.
    pub permissions: Vec<String>,
}

/// `data` of an invitation (sent or resent).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationSent {
    /// The pending member's id (24 hex).
    pub invitation_id: String,
    /// When the invitation expires.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// The accept token (development servers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation_token: Option<String>,
    /// The accept link (development servers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation_url: Option<String>,
}

/// An invitation as its invitee sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationView {
    /// Invitee's name.
    pub name: String,
    /// Invitee's e-mail.
    pub email: String,
    /// Role offered.
    pub role: String,
    /// The inviting merchant's business name (empty when unknown).
    pub business_name: String,
    /// When the invitation expires.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// `data` of `GET /team-public/validate-invitation/{token}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidInvitation {
    /// Always true (an invalid token is a 400).
    pub valid: bool,
    /// The invitation.
    pub invitation: InvitationView,
}

/// Who a member is: `data` of an accepted invitation, and the audit summary of an invitation
/// or a removal.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberIdentity {
    /// E-mail.
    pub email: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
}

impl MemberIdentity {
    /// The identity of `m`.
    pub fn of(m: MerchantUserDoc) -> Self {
        Self {
            email: m.email,
            name: m.name,
            role: m.role,
        }
    }
}

/// The audit summary of who a member is.
#[derive(Debug, Serialize)]
pub struct IdentitySummary<'a> {
    /// E-mail.
    pub email: &'a str,
    /// Name.
    pub name: &'a str,
    /// Role.
    pub role: &'a str,
}

impl<'a> IdentitySummary<'a> {
    /// The summary of `m`.
    pub fn of(m: &'a MerchantUserDoc) -> Self {
        Self {
            email: &m.email,
            name: &m.name,
            role: &m.role,
        }
    }
}

/// Audit summary of a role change.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleSummary<'a> {
    /// Role.
    pub role: &'a str,
    /// Number of permissions.
    pub permission_count: usize,
}

impl<'a> RoleSummary<'a> {
    /// The summary of `m`.
    pub fn of(m: &'a MerchantUserDoc) -> Self {
        Self {
            role: &m.role,
            permission_count: m.permissions.len(),
        }
    }
}

/// Audit summary of a status change.
#[derive(Debug, Serialize)]
pub struct StatusSummary<'a> {
    /// Status.
    pub status: &'a str,
}

/// `data` of the team activity feed: the audit log's page (`GET /audit/logs`) with its records
/// under `activities`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamActivityData {
    /// Audit records, newest first, as the audit log lists them.
    pub activities: Vec<AuditRecord>,
    /// Records matching (left out with `includeTotal=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// 1-based page (left out in cursor mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    /// Number of pages (left out with `includeTotal=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_pages: Option<u64>,
    /// Cursor mode only: the cursor of the next window, `null` at the end of the feed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<Option<String>>,
}

impl From<AuditLogPage> for TeamActivityData {
    fn from(page: AuditLogPage) -> Self {
        let AuditLogPage {
            logs,
            total,
            page,
            total_pages,
            next_cursor,
        } = page;
        Self {
            activities: logs,
            total,
            page,
            total_pages,
            next_cursor,
        }
    }
}
