//! The `idempotencykeys` collection: one document per (merchant, `Idempotency-Key`). Inserting
//! it claims the key (a unique index makes concurrent claims race to one winner); the winner
//! runs the request and stores its response, which later requests with the key replay. A TTL
//! index on `expiresAt` forgets keys after [`KEY_LIFETIME`].

use std::time::Duration;

use mongodb::bson::{Binary, doc, oid::ObjectId, spec::BinarySubtype};
use serde::{Deserialize, Serialize};

use super::{DateTime, Store, WriteError};

/// How long a key is remembered (the IETF draft suggests at least 24 hours).
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// A response kept for replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, when the response had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `Location`, when the response had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// `ETag`, when the response had one (a replayed write names the version it made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The body.
    pub body: Binary,
}

impl StoredResponse {
    /// A response to keep: its status, the headers a replay repeats, its body.
    pub fn new(status: u16, headers: [Option<String>; 3], body: Vec<u8>) -> Self {
        let [content_type, location, etag] = headers;
        Self {
            status,
            content_type,
            location,
            etag,
            body: Binary {
                subtype: BinarySubtype::Generic,
                bytes: body,
            },
        }
    }
}

/// One claimed key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyDoc {
    /// Id of this claim.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The merchant whose key it is (keys of two merchants never meet).
    pub merchant_id: ObjectId,
    /// The client's key.
    pub key: String,
    /// SHA-256 of method, path and body of the request that claimed it, once it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The response, once the request finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<StoredResponse>,
    /// Claimed.
    pub created_at: DateTime,
    /// An unfinished claim older than this was abandoned (its process died) and may be taken.
    pub locked_until: DateTime,
    /// Forgotten after this (TTL index; reads check it too).
    pub expires_at: DateTime,
}

/// What claiming a key found.
#[derive(Debug, Clone)]
pub enum Claim {
    /// The key is ours now (the claim's id): run the request.
    Claimed(ObjectId),
    /// Another request with the key is still running.
    InFlight,
    /// A request with the key finished: its fingerprint and response.
    Finished {
        /// What the first request was.
        fingerprint: String,
        /// What it answered.
        response: StoredResponse,
    },
}

impl Store {
    fn idempotency_keys(&self) -> mongodb::Collection<KeyDoc> {
        self.db().collection("idempotencykeys")
    }

    /// Claim `key` for `merchant`, or say who holds it. An expired key, or a claim abandoned
    /// past its lock, is removed and claimed again (a few tries: racing claimants all retry,
    /// one wins).
    pub async fn claim_idempotency_key(
        &self,
        merchant: ObjectId,
        key: &str,
        lock: Duration,
    ) -> Result<Claim, mongodb::error::Error> {
        for _ in 0..3 {
            let now = DateTime::now();
            let claim = KeyDoc {
                id: ObjectId::new(),
                merchant_id: merchant,
                key: key.to_owned(),
                fingerprint: None,
                response: None,
                created_at: now,
                locked_until: later(now, lock),
                expires_at: later(now, KEY_LIFETIME),
            };
            let id = claim.id;
            match self.idempotency_keys().insert_one(&claim).await {
                Ok(_) => return Ok(Claim::Claimed(id)),
                Err(e) if super::is_duplicate_key(&e) => {}
                Err(e) => return Err(e),
            }
            let filter = doc! { "merchantId": merchant, "key": key };
            let Some(held) = self.idempotency_keys().find_one(filter).await? else {
                continue; // removed meanwhile: claim again
            };
            let stale =
                held.expires_at < now || (held.response.is_none() && held.locked_until < now);
            if stale {
                self.idempotency_keys()
                    .delete_one(doc! { "_id": held.id, "lockedUntil": held.locked_until })
                    .await?;
                continue;
            }
            return Ok(match (held.fingerprint, held.response) {
                (Some(fingerprint), Some(response)) => Claim::Finished {
                    fingerprint,
                    response,
                },
                _ => Claim::InFlight,
            });
        }
        Ok(Claim::InFlight)
    }

    /// Store the response of the request that holds claim `id`.
    pub async fn finish_idempotency_key(
        &self,
        id: ObjectId,
        fingerprint: &str,
        response: &StoredResponse,
    ) -> Result<(), WriteError> {
        let response = mongodb::bson::to_bson(response)
            .map_err(|e| WriteError::Database(mongodb::error::Error::custom(e)))?;
        self.idempotency_keys()
            .update_one(
                doc! { "_id": id },
                doc! { "$set": { "fingerprint": fingerprint, "response": response } },
            )
            .await?;
        Ok(())
    }

    /// Give claim `id` up: the request's outcome is not worth replaying (a server error, an
    /// authentication failure), so a retry with the key runs again.
    pub async fn release_idempotency_key(&self, id: ObjectId) -> Result<(), WriteError> {
        self.idempotency_keys()
            .delete_one(doc! { "_id": id, "response": { "$exists": false } })
            .await?;
        Ok(())
    }
}

fn later(now: DateTime, by: Duration) -> DateTime {
    let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
    DateTime::from_millis(now.timestamp_millis().saturating_add(millis))
}
