//! The `refreshsessions` collection: one document per login session (a refresh-token
//! *family*). Only the family's newest refresh token (`current`, its random `jti`) may be
//! exchanged; exchanging it replaces `current` atomically, so a spent token presented again is
//! recognised as reuse and ends the family. Documents go with a TTL index on `expiresAt`.

use mongodb::bson::{doc, oid::ObjectId};
use serde::{Deserialize, Serialize};

use super::{DateTime, Store, WriteError};

/// One session (refresh-token family).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDoc {
    /// The family id (`sid` claim of its tokens).
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The merchant.
    pub merchant_id: ObjectId,
    /// The team member, for team logins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<ObjectId>,
    /// `jti` of the only refresh token that may still be exchanged.
    pub current: String,
    /// SHA-256 hex of the stateless token (older release) this session was exchanged from:
    /// unique, so such a token is exchanged once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Set when logout, reuse or a password reset ended the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime>,
    /// Created.
    pub created_at: DateTime,
    /// When the current refresh token expires (TTL index).
    pub expires_at: DateTime,
}

/// Outcome of exchanging a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// It was the current token; the new one is now current.
    Rotated,
    /// A spent token of a live family: the family is now revoked.
    Reused,
    /// Unknown, expired or already revoked family.
    Gone,
}

impl Store {
    fn sessions(&self) -> mongodb::Collection<SessionDoc> {
        self.db().collection("refreshsessions")
    }

    /// Record a new session whose current refresh token is `jti`. A duplicate `origin`
    /// (the stateless token was already exchanged) is a duplicate-key error.
    pub async fn start_session(&self, session: &SessionDoc) -> Result<(), WriteError> {
        self.sessions().insert_one(session).await?;
        Ok(())
    }

    /// Replace the family's current token `presented` by `next` (valid until `expires`), once.
    /// A validly signed token of the family that is not current was current before: reuse,
    /// which revokes the family.
    pub async fn rotate_session(
        &self,
        family: ObjectId,
        presented: &str,
        next: &str,
        expires: DateTime,
    ) -> mongodb::error::Result<Rotation> {
        let now = DateTime::now();
        let live = doc! { "revokedAt": null, "expiresAt": { "$gt": now } };
        let mut filter = doc! { "_id": family, "current": presented };
        filter.extend(live.clone());
        let rotated = self
            .sessions()
            .update_one(
                filter,
                doc! { "$set": { "current": next, "expiresAt": expires } },
            )
            .await?;
        if rotated.modified_count == 1 {
            return Ok(Rotation::Rotated);
        }
        let mut filter = doc! { "_id": family };
        filter.extend(live);
        let revoked = self
            .sessions()
            .update_one(filter, doc! { "$set": { "revokedAt": now } })
            .await?;
        Ok(if revoked.modified_count == 1 {
            Rotation::Reused
        } else {
            Rotation::Gone
        })
    }

    /// Give a live session a new current token (an access token of the session was refreshed).
    /// False when the session is unknown, expired or revoked.
    pub async fn reissue_session(
        &self,
        family: ObjectId,
        merchant: ObjectId,
        next: &str,
        expires: DateTime,
    ) -> mongodb::error::Result<bool> {
        let filter = doc! {
            "_id": family, "merchantId": merchant,
            "revokedAt": null, "expiresAt": { "$gt": DateTime::now() },
        };
        let r = self
            .sessions()
            .update_one(
                filter,
                doc! { "$set": { "current": next, "expiresAt": expires } },
            )
            .await?;
        Ok(r.matched_count == 1)
    }

    /// End the session that `origin` (a spent stateless token) was exchanged into.
    pub async fn revoke_session_from(&self, origin: &str) -> mongodb::error::Result<()> {
        self.sessions()
            .update_one(
                doc! { "origin": origin, "revokedAt": null },
                doc! { "$set": { "revokedAt": DateTime::now() } },
            )
            .await
            .map(drop)
    }

    /// End one session of a merchant (logout).
    pub async fn revoke_session(
        &self,
        family: ObjectId,
        merchant: ObjectId,
    ) -> mongodb::error::Result<bool> {
        let r = self
            .sessions()
            .update_one(
                doc! { "_id": family, "merchantId": merchant, "revokedAt": null },
                doc! { "$set": { "revokedAt": DateTime::now() } },
            )
            .await?;
        Ok(r.modified_count == 1)
    }

    /// End every session of the merchant's owner account (password reset).
    pub async fn revoke_owner_sessions(&self, merchant: ObjectId) -> mongodb::error::Result<u64> {
        let r = self
            .sessions()
            .update_many(
                doc! { "merchantId": merchant, "memberId": null, "revokedAt": null },
                doc! { "$set": { "revokedAt": DateTime::now() } },
            )
            .await?;
        Ok(r.modified_count)
    }

    /// End the live sessions of one team member (`Some`) or of the whole team (revoke-all).
    pub async fn revoke_member_sessions(
        &self,
        merchant: ObjectId,
        member: Option<ObjectId>,
    ) -> mongodb::error::Result<u64> {
        let member = member.map_or(doc! { "$ne": null }, |m| doc! { "$eq": m });
        let r = self
            .sessions()
            .update_many(
                doc! { "merchantId": merchant, "memberId": member, "revokedAt": null },
                doc! { "$set": { "revokedAt": DateTime::now() } },
            )
            .await?;
        Ok(r.modified_count)
    }
}
