//! Scoped API keys: `Authorization: Bearer mk_live_…` instead of a login's token. A key is 32
//! random bytes shown once at creation; only its SHA-256 digest is stored (`store::api_keys`).
//! A presented key is looked up by digest, and what it grants is kept for the access cache's
//! TTL (`AUTH_CACHE_TTL_MS`), so a key costs one database read per TTL, not per request; a
//! revocation on this replica drops the entry at once.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use super::{identity::TokenRejection, token};
use crate::store::{DateTime, ObjectId, Store, api_keys::ApiKeyDoc};

/// What every key starts with (a secret scanner's pattern, and how the token check tells a key
/// from a JWT).
pub const PREFIX: &str = "mk_live_";
/// Characters of a key kept in clear (`prefix`): the marker and 4 more.
const SHOWN: usize = PREFIX.len() + 4;
/// A key's use is recorded at most this often.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A freshly made key: the plain value (shown once) and what is stored of it.
#[derive(Debug)]
pub struct NewKey {
    /// `mk_live_` and 64 hex characters; never stored or logged.
    pub plain: String,
    /// SHA-256 hex of `plain`.
    pub digest: String,
    /// `plain`'s first characters.
    pub prefix: String,
}

/// Make a new key.
pub fn generate() -> NewKey {
    let plain = format!("{PREFIX}{}", token::generate().plain);
    NewKey {
        digest: token::digest(&plain),
        prefix: plain[..SHOWN].to_string(),
        plain,
    }
}

/// True when a Bearer token is an API key rather than a JWT.
pub fn is_api_key(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// What an accepted key grants.
#[derive(Debug)]
pub struct KeyGrant {
    /// The key's id.
    pub id: ObjectId,
    /// The merchant it acts for.
    pub merchant: ObjectId,
    /// The team member who made it (`None`: the owner).
    pub created_by: Option<ObjectId>,
    /// Its permissions.
    pub permissions: Vec<String>,
    expires_at: Option<DateTime>,
    revoked: bool,
    /// Last recorded use (ms since epoch), to write it at most once a minute.
    last_touch: AtomicI64,
}

/// Grants are the same when they are of the same key.
impl PartialEq for KeyGrant {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl From<ApiKeyDoc> for KeyGrant {
    fn from(k: ApiKeyDoc) -> Self {
        Self {
            id: k.id,
            merchant: k.merchant_id,
            created_by: k.created_by,
            permissions: k.permissions,
            expires_at: k.expires_at,
            revoked: k.revoked_at.is_some(),
            last_touch: AtomicI64::new(k.last_used_at.map_or(0, |t| t.timestamp_millis())),
        }
    }
}

impl KeyGrant {
    /// Refuse a revoked or expired key.
    fn usable(&self, now: DateTime) -> Result<(), TokenRejection> {
        if self.revoked {
            Err(TokenRejection::Revoked)
        } else if self.expires_at.is_some_and(|e| e <= now) {
            Err(TokenRejection::Expired)
        } else {
            Ok(())
        }
    }

    /// True (once a minute) when this use should be recorded.
    fn due_for_touch(&self, now: DateTime) -> bool {
        let now = now.timestamp_millis();
        let last = self.last_touch.load(Ordering::Relaxed);
        now - last >= TOUCH_EVERY.as_millis() as i64
            && self
                .last_touch
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// Accepted keys by digest, for a short TTL (none when the TTL is zero).
#[derive(Debug)]
pub struct KeyCache {
    grants: Option<moka::sync::Cache<String, Arc<KeyGrant>>>,
}

impl KeyCache {
    /// Keys are reused for `ttl` (the access cache's).
    pub fn new(ttl: Duration) -> Self {
        let grants = (!ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build()
        });
        Self { grants }
    }

    /// What the presented key grants, or why it is refused.
    pub async fn check(&self, store: &Store, key: &str) -> Result<Arc<KeyGrant>, TokenRejection> {
        let digest = token::digest(key);
        let grant = match self.grants.as_ref().and_then(|c| c.get(&digest)) {
            Some(grant) => grant,
            None => {
                let found = store.api_key_by_digest(&digest).await.map_err(|e| {
                    tracing::error!(error = %e, "api key lookup failed");
                    TokenRejection::Unavailable
                })?;
                let grant = Arc::new(KeyGrant::from(found.ok_or(TokenRejection::Invalid)?));
                if let Some(cache) = &self.grants {
                    cache.insert(digest, grant.clone());
                }
                grant
            }
        };
        let now = DateTime::now();
        grant.usable(now)?;
        if grant.due_for_touch(now) {
            let (store, id) = (store.clone(), grant.id);
            let since =
                DateTime::from_millis(now.timestamp_millis() - TOUCH_EVERY.as_millis() as i64);
            tokio::spawn(async move {
                if let Err(e) = store.touch_api_key(id, since).await {
                    tracing::warn!(error = %e, key = %id, "recording an api key's use failed");
                }
            });
        }
        Ok(grant)
    }

    /// Forget a key on this replica (revoked or rotated): its next use reads it again.
    pub fn forget(&self, digest: &str) {
        if let Some(cache) = &self.grants {
            cache.invalidate(digest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(expires_at: Option<DateTime>) -> ApiKeyDoc {
        ApiKeyDoc {
            id: ObjectId::new(),
            merchant_id: ObjectId::new(),
            name: "n".into(),
            prefix: "mk_live_abcd".into(),
            key_digest: "d".into(),
            permissions: vec!["products:view".into()],
            created_by: None,
            created_at: DateTime::now(),
            expires_at,
            last_used_at: None,
            revoked_at: None,
            rotated_to: None,
        }
    }

    #[test]
    fn keys_carry_the_prefix_and_are_stored_as_their_digest() {
        let key = generate();
        assert!(is_api_key(&key.plain));
        assert_eq!(key.plain.len(), PREFIX.len() + 64);
        assert!(key.plain.starts_with(&key.prefix));
        assert_eq!(key.prefix.len(), SHOWN);
        assert_eq!(token::digest(&key.plain), key.digest);
        assert!(!is_api_key("eyJhbGciOiJIUzI1NiJ9.e30.x"));
    }

    #[test]
    fn revoked_and_expired_keys_are_refused() {
        let now = DateTime::now();
        assert_eq!(KeyGrant::from(doc(None)).usable(now), Ok(()));
        let past = DateTime::from_millis(now.timestamp_millis() - 1);
        assert_eq!(
            KeyGrant::from(doc(Some(past))).usable(now),
            Err(TokenRejection::Expired)
        );
        let mut revoked = doc(None);
        revoked.revoked_at = Some(now);
        assert_eq!(
            KeyGrant::from(revoked).usable(now),
            Err(TokenRejection::Revoked)
        );
    }

    #[test]
    fn a_use_is_recorded_once_a_minute() {
        let grant = KeyGrant::from(doc(None));
        let now = DateTime::now();
        assert!(grant.due_for_touch(now));
        assert!(!grant.due_for_touch(now), "just recorded");
        let later = DateTime::from_millis(now.timestamp_millis() + 61_000);
        assert!(grant.due_for_touch(later));
    }
}
