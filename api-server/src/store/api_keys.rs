//! The `apikeys` collection: a merchant's scoped API keys. Only the SHA-256 digest of a key is
//! stored (unique index), with the permissions it holds, who made it, when it expires, when it
//! was last used and, once rotated or revoked, what ended it.

use mongodb::bson::{doc, oid::ObjectId};
use serde::{Deserialize, Serialize};

use super::{
    DateTime, Store, WriteError,
    keyset::{self, Listing, Sort, Window},
};

/// Keys listed at most outside cursor mode (a merchant has a handful; the list has no pages).
pub const LIST_LIMIT: i64 = 200;

/// Newest first (index `apikeys.merchant_created_id`).
const KEY_ORDER: Sort = Sort::desc("createdAt");

/// One API key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyDoc {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The merchant it acts for.
    pub merchant_id: ObjectId,
    /// A label for people.
    pub name: String,
    /// The key's first characters (`mk_live_` and 4 more), to recognise it in lists and logs.
    pub prefix: String,
    /// SHA-256 hex of the whole key (unique).
    pub key_digest: String,
    /// The permission strings it holds (never more than its creator held).
    pub permissions: Vec<String>,
    /// The team member who made it; `None` when the owner did. A member's key holds at most
    /// what that member still holds, and stops when the member does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<ObjectId>,
    /// Made.
    pub created_at: DateTime,
    /// Refused from this instant (none: never expires).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime>,
    /// Last accepted (recorded at most once a minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime>,
    /// Revoked (refused from then on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime>,
    /// The key that replaced this one; this one then works until its `expiresAt` (the grace
    /// window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_to: Option<ObjectId>,
}

impl ApiKeyDoc {
    /// `revoked`, `expired` or `active` at `now`.
    pub fn status(&self, now: DateTime) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        }
    }
}

impl Store {
    fn api_keys(&self) -> mongodb::Collection<ApiKeyDoc> {
        self.db().collection("apikeys")
    }

    /// Store a new key.
    pub async fn insert_api_key(&self, key: &ApiKeyDoc) -> Result<(), WriteError> {
        self.api_keys().insert_one(key).await?;
        Ok(())
    }

    /// The key whose digest is `digest`, whatever its state (the caller decides).
    pub async fn api_key_by_digest(
        &self,
        digest: &str,
    ) -> mongodb::error::Result<Option<ApiKeyDoc>> {
        self.api_keys().find_one(doc! { "keyDigest": digest }).await
    }

    /// One key of a merchant.
    pub async fn api_key(
        &self,
        merchant: ObjectId,
        id: ObjectId,
    ) -> mongodb::error::Result<Option<ApiKeyDoc>> {
        self.api_keys()
            .find_one(doc! { "_id": id, "merchantId": merchant })
            .await
    }

    /// A window of a merchant's keys, newest first: the first [`LIST_LIMIT`] outside cursor
    /// mode. Never counted (the list has no total).
    pub async fn api_keys_of(
        &self,
        merchant: ObjectId,
        window: &Window,
        limit: i64,
    ) -> mongodb::error::Result<Listing<ApiKeyDoc>> {
        let f = doc! { "merchantId": merchant };
        keyset::list(&self.api_keys(), f, KEY_ORDER, window, limit, false).await
    }

    /// Revoke a live key; the key as it now is, or `None` when it is unknown or already revoked.
    pub async fn revoke_api_key(
        &self,
        merchant: ObjectId,
        id: ObjectId,
    ) -> mongodb::error::Result<Option<ApiKeyDoc>> {
        self.api_keys()
            .find_one_and_update(
                doc! { "_id": id, "merchantId": merchant, "revokedAt": null },
                doc! { "$set": { "revokedAt": DateTime::now() } },
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .await
    }

    /// Mark `old` as replaced by `new`, working until `until` at the latest. `None` when `old`
    /// was revoked or rotated meanwhile (the caller then removes `new`).
    pub async fn retire_api_key(
        &self,
        merchant: ObjectId,
        old: &ApiKeyDoc,
        new: ObjectId,
        until: DateTime,
    ) -> mongodb::error::Result<Option<ApiKeyDoc>> {
        let until = old.expires_at.map_or(until, |e| e.min(until));
        self.api_keys()
            .find_one_and_update(
                doc! { "_id": old.id, "merchantId": merchant, "revokedAt": null, "rotatedTo": null },
                doc! { "$set": { "rotatedTo": new, "expiresAt": until } },
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .await
    }

    /// Remove a key nobody was given (a rotation that lost a race).
    pub async fn delete_api_key(&self, id: ObjectId) -> mongodb::error::Result<()> {
        self.api_keys()
            .delete_one(doc! { "_id": id })
            .await
            .map(drop)
    }

    /// Record a use, unless one was recorded since `since` (one write a minute at most).
    pub async fn touch_api_key(&self, id: ObjectId, since: DateTime) -> mongodb::error::Result<()> {
        self.api_keys()
            .update_one(
                doc! { "_id": id, "$or": [ { "lastUsedAt": null }, { "lastUsedAt": { "$lt": since } } ] },
                doc! { "$set": { "lastUsedAt": DateTime::now() } },
            )
            .await
            .map(drop)
    }
}
