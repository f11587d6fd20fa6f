//! The `merchantusers` collection (team members who log in on behalf of a merchant) and the
//! lockout bookkeeping shared by owner and team accounts.

use std::time::Duration;

use futures::TryStreamExt;
use mongodb::bson::{Document, doc, oid::ObjectId};
use serde::{Deserialize, Serialize};

use super::{DateTime, Store};

/// A team member.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MerchantUserDoc {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Merchant the member works for.
    pub merchant_id: ObjectId,
    /// Lower-cased e-mail (unique per merchant).
    pub email: String,
    /// Hash; absent until the invitation is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Display name.
    pub name: String,
    /// admin | manager | staff.
    pub role: String,
    /// Granted permissions.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// active | inactive | suspended.
    pub status: String,
    /// Consecutive failed logins.
    #[serde(default)]
    pub failed_login_attempts: i32,
    /// Locked until.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_locked_until: Option<DateTime>,
    /// Last login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<DateTime>,
    /// Created.
    pub created_at: DateTime,
    /// Inviter: a team member's id, or the merchant id when the owner invited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_by: Option<ObjectId>,
    /// Invitation sent (last resend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_at: Option<DateTime>,
    /// SHA-256 hex of the pending invitation token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_token: Option<String>,
    /// Invitation expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_expiry: Option<DateTime>,
    /// Invitation accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<DateTime>,
    /// Last change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime>,
    /// Raised by a revoke-all (the member's or the owner's): the member's tokens issued under
    /// a lower version (claim `mv`, absent: 0) are refused.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub session_version: i64,
}

/// Which collection an account lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    /// `merchants`.
    Owner,
    /// `merchantusers`.
    Member,
}

impl AccountKind {
    fn collection(self) -> &'static str {
        match self {
            Self::Owner => "merchants",
            Self::Member => "merchantusers",
        }
    }
}

/// A login attempt, counted before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAttempt {
    /// The n-th consecutive attempt (below the maximum).
    Counted(i32),
    /// The last attempt allowed: the account is now locked until this instant (a right password
    /// still logs in and clears the lock).
    Last(DateTime),
    /// Locked: the password must not be checked.
    Locked(DateTime),
}

fn int(doc: &Document, key: &str) -> Option<i64> {
    doc.get_i32(key)
        .map(i64::from)
        .or_else(|_| doc.get_i64(key))
        .ok()
}

impl Store {
    /// Team members of any merchant with this normalised e-mail, the ones that can log in
    /// first: active with a password, then other accepted ones (suspended), then pending
    /// invitations; oldest first within each. So an invitation one merchant sends (and that
    /// is never accepted) cannot shadow the address's membership of another merchant.
    pub async fn members_by_email(
        &self,
        email: &str,
    ) -> mongodb::error::Result<Vec<MerchantUserDoc>> {
        let mut found: Vec<MerchantUserDoc> = self
            .users()
            .find(doc! { "email": email })
            .sort(doc! { "createdAt": 1, "_id": 1 })
            .limit(50)
            .await?
            .try_collect()
            .await?;
        found.sort_by_key(|m| match (m.status.as_str(), m.password.is_some()) {
            ("active", true) => 0,
            (_, true) => 1,
            _ => 2,
        });
        Ok(found)
    }

    /// Team member by id within a merchant.
    pub async fn member(
        &self,
        merchant: ObjectId,
        id: ObjectId,
    ) -> mongodb::error::Result<Option<MerchantUserDoc>> {
        self.users()
            .find_one(doc! { "_id": id, "merchantId": merchant })
            .await
    }

    /// Insert a team member (used by seed and tests until the team routes exist).
    pub async fn insert_member(&self, member: &MerchantUserDoc) -> Result<(), super::WriteError> {
        self.users().insert_one(member).await?;
        Ok(())
    }

    fn accounts(&self, kind: AccountKind) -> mongodb::Collection<Document> {
        self.db().collection(kind.collection())
    }

    /// Count a login attempt atomically *before* its password is checked, so parallel guesses
    /// cannot all be checked before any is counted: the `max`-th consecutive attempt locks the
    /// account for `lock_for`, later ones are refused as locked. A successful login resets the
    /// count ([`Store::record_login`]).
    pub async fn begin_login_attempt(
        &self,
        kind: AccountKind,
        id: ObjectId,
        max: i32,
        lock_for: Duration,
    ) -> mongodb::error::Result<LoginAttempt> {
        let now = DateTime::now();
        let until = DateTime::from_millis(
            now.timestamp_millis() + i64::try_from(lock_for.as_millis()).unwrap_or(i64::MAX / 2),
        );
        let unlocked = doc! {
            "_id": id,
            "$or": [{ "accountLockedUntil": null }, { "accountLockedUntil": { "$lte": now } }],
        };
        let after = self
            .accounts(kind)
            .find_one_and_update(unlocked, doc! { "$inc": { "failedLoginAttempts": 1 } })
            .return_document(mongodb::options::ReturnDocument::After)
            .await?;
        let Some(after) = after else {
            let locked = self
                .accounts(kind)
                .find_one(doc! { "_id": id })
                .projection(doc! { "accountLockedUntil": 1 })
                .await?
                .and_then(|d| d.get_datetime("accountLockedUntil").ok().copied())
                .filter(|u| *u > now);
            return Ok(LoginAttempt::Locked(locked.unwrap_or(until)));
        };
        let attempts = int(&after, "failedLoginAttempts").unwrap_or(i64::from(max));
        if attempts < i64::from(max) {
            return Ok(LoginAttempt::Counted(attempts as i32));
        }
        if attempts > i64::from(max) {
            // Another attempt reached the maximum and is locking the account.
            return Ok(LoginAttempt::Locked(until));
        }
        self.accounts(kind)
            .update_one(
                doc! { "_id": id },
                doc! { "$set": { "accountLockedUntil": until, "failedLoginAttempts": 0 } },
            )
            .await?;
        Ok(LoginAttempt::Last(until))
    }

    /// Reset lockout state after a successful login, record it, and store a rehashed password.
    pub async fn record_login(
        &self,
        kind: AccountKind,
        id: ObjectId,
        ip: &str,
        rehashed: Option<String>,
    ) -> mongodb::error::Result<()> {
        let now = DateTime::now();
        let mut set = doc! { "failedLoginAttempts": 0, "lastLoginAt": now, "lastLoginIP": ip };
        if kind == AccountKind::Owner {
            set.insert("lastLogin", now);
        }
        if let Some(hash) = rehashed {
            set.insert("password", hash);
        }
        self.accounts(kind)
            .update_one(
                doc! { "_id": id },
                doc! { "$set": set, "$unset": { "accountLockedUntil": "" } },
            )
            .await
            .map(drop)
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}
