//! Team management queries on `merchantusers`: invitations (hashed token, expiry), listing,
//! role/status changes and removal, all scoped to the merchant. Login bookkeeping stays in
//! `users.rs`.

use futures::TryStreamExt;
use mongodb::{
    bson::{doc, oid::ObjectId},
    options::ReturnDocument,
};

use super::{
    DateTime, Store,
    keyset::{self, Listing, Sort, Window},
    users::MerchantUserDoc,
};

/// The team, newest first (index `merchantusers.merchant_created_id`).
const TEAM_ORDER: Sort = Sort::desc("createdAt");

/// A new invitation.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    /// Tenant.
    pub merchant: ObjectId,
    /// Normalised e-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// admin | manager | staff.
    pub role: String,
    /// Role defaults.
    pub permissions: Vec<String>,
    /// Inviting member, or the merchant id for the owner.
    pub invited_by: ObjectId,
    /// Token digest.
    pub token_digest: String,
    /// Expiry.
    pub expires_at: DateTime,
}

impl NewInvitation {
    /// The pending (inactive) member document.
    pub fn into_doc(self) -> MerchantUserDoc {
        let now = DateTime::now();
        MerchantUserDoc {
            id: ObjectId::new(),
            merchant_id: self.merchant,
            email: self.email,
            password: None,
            name: self.name,
            role: self.role,
            permissions: self.permissions,
            status: "inactive".into(),
            failed_login_attempts: 0,
            account_locked_until: None,
            last_login_at: None,
            created_at: now,
            invited_by: Some(self.invited_by),
            invited_at: Some(now),
            invitation_token: Some(self.token_digest),
            invitation_expiry: Some(self.expires_at),
            accepted_at: None,
            updated_at: Some(now),
            session_version: 0,
        }
    }
}

impl Store {
    /// The merchant's whole team, newest first.
    pub async fn team_members(
        &self,
        merchant: ObjectId,
    ) -> mongodb::error::Result<Vec<MerchantUserDoc>> {
        self.users()
            .find(doc! { "merchantId": merchant })
            .sort(TEAM_ORDER.document())
            .await?
            .try_collect()
            .await
    }

    /// A keyset window of the merchant's team, newest first, counted when asked.
    pub async fn team_window(
        &self,
        merchant: ObjectId,
        window: &Window,
        limit: i64,
        count: bool,
    ) -> mongodb::error::Result<Listing<MerchantUserDoc>> {
        let f = doc! { "merchantId": merchant };
        keyset::list(&self.users(), f, TEAM_ORDER, window, limit, count).await
    }

    /// Team members by id within a merchant (inviter look-ups).
    pub async fn members_by_ids(
        &self,
        merchant: ObjectId,
        ids: Vec<ObjectId>,
    ) -> mongodb::error::Result<Vec<MerchantUserDoc>> {
        self.users()
            .find(doc! { "merchantId": merchant, "_id": { "$in": ids } })
            .await?
            .try_collect()
            .await
    }

    /// A member of this merchant by normalised e-mail.
    pub async fn member_with_email(
        &self,
        merchant: ObjectId,
        email: &str,
    ) -> mongodb::error::Result<Option<MerchantUserDoc>> {
        self.users()
            .find_one(doc! { "merchantId": merchant, "email": email })
            .await
    }

    /// Replace a pending member's invitation token (resend); `None` unless still inactive.
    pub async fn renew_invitation(
        &self,
        merchant: ObjectId,
        id: ObjectId,
        digest: &str,
        expires_at: DateTime,
    ) -> mongodb::error::Result<Option<MerchantUserDoc>> {
        let now = DateTime::now();
        self.users()
            .find_one_and_update(
                doc! { "_id": id, "merchantId": merchant, "status": "inactive" },
                doc! { "$set": {
                    "invitationToken": digest, "invitationExpiry": expires_at,
                    "invitedAt": now, "updatedAt": now,
                } },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    /// The pending member holding an unexpired invitation token digest.
    pub async fn member_by_invitation(
        &self,
        digest: &str,
    ) -> mongodb::error::Result<Option<MerchantUserDoc>> {
        self.users()
            .find_one(doc! {
                "invitationToken": digest,
                "status": "inactive",
                "invitationExpiry": { "$gt": DateTime::now() },
            })
            .await
    }

    /// Consume an invitation: set the password hash, activate, clear the token. Conditional on
    /// the token still being valid, so a token is used once.
    pub async fn accept_invitation(
        &self,
        digest: &str,
        hash: String,
    ) -> mongodb::error::Result<Option<MerchantUserDoc>> {
        let now = DateTime::now();
        self.users()
            .find_one_and_update(
                doc! {
                    "invitationToken": digest,
                    "status": "inactive",
                    "invitationExpiry": { "$gt": now },
                },
                doc! {
                    "$set": { "password": hash, "status": "active", "acceptedAt": now, "updatedAt": now },
                    "$unset": { "invitationToken": "", "invitationExpiry": "" },
                },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    /// Change a member's role and permissions; returns the updated member.
    pub async fn set_member_role(
        &self,
        merchant: ObjectId,
        id: ObjectId,
        role: &str,
        permissions: Vec<String>,
    ) -> mongodb::error::Result<Option<MerchantUserDoc>> {
        self.users()
            .find_one_and_update(
                doc! { "_id": id, "merchantId": merchant },
                doc! { "$set": { "role": role, "permissions": permissions, "updatedAt": DateTime::now() } },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    /// Change a member's status; returns the updated member.
    pub async fn set_member_status(
        &self,
        merchant: ObjectId,
        id: ObjectId,
        status: &str,
    ) -> mongodb::error::Result<Option<MerchantUserDoc>> {
        self.users()
            .find_one_and_update(
                doc! { "_id": id, "merchantId": merchant },
                doc! { "$set": { "status": status, "updatedAt": DateTime::now() } },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    /// Hard-delete a member; true when one was removed.
    pub async fn delete_member(
        &self,
        merchant: ObjectId,
        id: ObjectId,
    ) -> mongodb::error::Result<bool> {
        self.users()
            .delete_one(doc! { "_id": id, "merchantId": merchant })
            .await
            .map(|r| r.deleted_count == 1)
    }

    /// End every token issued so far to one team member (`Some`) or to the whole team: raise
    /// their session versions. How many members that was.
    pub async fn raise_member_session_versions(
        &self,
        merchant: ObjectId,
        member: Option<ObjectId>,
    ) -> mongodb::error::Result<u64> {
        let mut filter = doc! { "merchantId": merchant };
        if let Some(member) = member {
            filter.insert("_id", member);
        }
        let r = self
            .users()
            .update_many(filter, doc! { "$inc": { "sessionVersion": 1 } })
            .await?;
        Ok(r.modified_count)
    }
}
