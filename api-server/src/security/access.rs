//! A short-lived, per-process cache of successful token checks: "merchant M (team member U) is
//! active and holds these permissions", with the merchant and member documents that check
//! loaded. `extract::AuthTenant` (products, variants, stock) uses the decision; `AuthMerchant`
//! uses the documents on reads (GET/HEAD) and loads them fresh for writes. Either saves one or
//! two database reads per request.
//!
//! Only successful checks are cached, for at most `AUTH_CACHE_TTL_MS` (default 1 s): a merchant
//! deactivated, a member suspended or a profile changed on another replica shows within that
//! time. On this replica every successful write by a merchant drops its entries
//! (`middleware::invalidate_caches`), as do the token flows that change an account without its
//! login (password reset, e-mail verification). Failures are never cached.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::{
    error::ApiError,
    store::{ObjectId, merchants::MerchantDoc, users::MerchantUserDoc},
};

/// What a verified caller may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The tenant every query is scoped by.
    pub merchant_id: ObjectId,
    /// Team member's role and effective permissions; `None` for the owner.
    pub member: Option<MemberAccess>,
    /// The owner account's session version (a password reset raises it); tokens issued under
    /// an older one are refused, within this cache's TTL on other replicas.
    pub session_version: i64,
    /// The permissions of the API key the caller presented (`None`: a login's token). A key
    /// holds at most these, and at most what its creator holds.
    pub key: Option<Vec<String>>,
    /// The merchant's `rbacMode` is `shadow`: a team member's missing permission is recorded
    /// (`audit::shadow`) instead of refused. API keys are always enforced.
    pub shadow: bool,
}

/// A team member's role and effective permissions (role defaults already applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAccess {
    /// Role name.
    pub role: String,
    /// Effective permissions.
    pub permissions: Vec<String>,
    /// The member's session version (a revoke-all raises it).
    pub session_version: i64,
}

impl Access {
    /// `api_key` for a key, else `owner` or the member's role.
    pub fn role(&self) -> &str {
        if self.key.is_some() {
            return "api_key";
        }
        self.member.as_ref().map_or("owner", |m| m.role.as_str())
    }

    /// Owners hold every permission, members their effective list; a key narrows either to its
    /// own list.
    pub fn can(&self, permission: &str) -> bool {
        self.member_can(permission) && self.key_can(permission)
    }

    fn member_can(&self, permission: &str) -> bool {
        debug_assert!(
            crate::domain::PERMISSIONS.contains(&permission),
            "unknown permission {permission}"
        );
        self.member
            .as_ref()
            .is_none_or(|m| m.permissions.iter().any(|p| p == permission))
    }

    fn key_can(&self, permission: &str) -> bool {
        self.key
            .as_ref()
            .is_none_or(|k| k.iter().any(|p| p == permission))
    }

    /// `Ok` when the caller holds `permission`, else the contract's 403 naming it. In shadow
    /// mode a team member's login is let through and the would-be denial recorded.
    pub fn require(&self, permission: &'static str) -> Result<(), ApiError> {
        if self.can(permission) {
            return Ok(());
        }
        if self.shadow && self.key.is_none() {
            crate::audit::shadow::would_deny(permission, self.role());
            return Ok(());
        }
        Err(ApiError::PermissionDenied {
            required: permission,
            user_role: self.role().to_string(),
        })
    }
}

/// A successful check: the decision and the documents it was made from (what the cache holds).
#[derive(Debug, Clone)]
pub struct Checked {
    /// What the caller may do.
    pub access: Access,
    /// The merchant, as loaded.
    pub merchant: Arc<MerchantDoc>,
    /// The team member, for team logins.
    pub member: Option<Arc<MerchantUserDoc>>,
}

/// Cache key: merchant and, for team logins, the member.
pub type Principal = (ObjectId, Option<ObjectId>);

/// Upper bound on entries; past it expired entries are dropped, then everything.
const CAPACITY: usize = 10_000;

/// Entries of one merchant: by member (`None` for the owner), when stored and what.
type MerchantEntries<V> = HashMap<Option<ObjectId>, (Instant, V)>;

/// TTL cache of successful checks (`V`: the [`Access`] decision, or the loaded caller) by
/// [`Principal`], grouped by merchant so invalidating one is a single removal; a zero TTL
/// disables it.
#[derive(Debug)]
pub struct AccessCache<V = Checked> {
    ttl: Duration,
    entries: Mutex<(usize, HashMap<ObjectId, MerchantEntries<V>>)>,
}

impl<V: Clone> AccessCache<V> {
    /// A cache whose entries live `ttl` (zero: nothing is cached).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new((0, HashMap::new())),
        }
    }

    /// The entry count and the entries.
    fn entries(&self) -> std::sync::MutexGuard<'_, (usize, HashMap<ObjectId, MerchantEntries<V>>)> {
        // A panic while holding the lock cannot leave the map half-updated: recover it.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached value, if still fresh.
    pub fn get(&self, key: &Principal) -> Option<V> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries();
        let (stored, value) = entries.1.get(&key.0)?.get(&key.1)?;
        (stored.elapsed() < self.ttl).then(|| value.clone())
    }

    /// Remember a successful check.
    pub fn put(&self, key: Principal, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut guard = self.entries();
        let (count, entries) = &mut *guard;
        if *count >= CAPACITY {
            let ttl = self.ttl;
            for members in entries.values_mut() {
                members.retain(|_, (stored, _)| stored.elapsed() < ttl);
            }
            entries.retain(|_, members| !members.is_empty());
            *count = entries.values().map(HashMap::len).sum();
            if *count >= CAPACITY {
                entries.clear();
                *count = 0;
            }
        }
        let members = entries.entry(key.0).or_default();
        if members.insert(key.1, (Instant::now(), value)).is_none() {
            *count += 1;
        }
    }

    /// Forget everything about `merchant` (after any write by or about it: a deactivation, a
    /// member's status, role or permissions, the profile).
    pub fn invalidate_merchant(&self, merchant: ObjectId) {
        let mut guard = self.entries();
        let (count, entries) = &mut *guard;
        if let Some(members) = entries.remove(&merchant) {
            *count -= members.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(id: ObjectId) -> Access {
        Access {
            merchant_id: id,
            member: None,
            session_version: 0,
            key: None,
            shadow: false,
        }
    }

    #[test]
    fn entries_expire_and_invalidation_is_per_merchant() {
        let cache: AccessCache<Access> = AccessCache::new(Duration::from_millis(50));
        let (a, b) = (ObjectId::new(), ObjectId::new());
        cache.put((a, None), owner(a));
        cache.put((b, None), owner(b));
        assert_eq!(cache.get(&(a, None)), Some(owner(a)));
        cache.invalidate_merchant(a);
        assert_eq!(cache.get(&(a, None)), None);
        assert_eq!(cache.get(&(b, None)), Some(owner(b)));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(&(b, None)), None, "expired");
    }

    #[test]
    fn invalidating_a_merchant_drops_its_members_too_and_frees_their_room() {
        let cache: AccessCache<u32> = AccessCache::new(Duration::from_secs(60));
        let (a, b, member) = (ObjectId::new(), ObjectId::new(), ObjectId::new());
        cache.put((a, None), 1);
        cache.put((a, Some(member)), 2);
        cache.put((a, Some(member)), 3); // replaced, not counted twice
        cache.put((b, None), 4);
        assert_eq!(cache.entries().0, 3);
        assert_eq!(cache.get(&(a, Some(member))), Some(3));
        cache.invalidate_merchant(a);
        assert_eq!(
            (cache.get(&(a, None)), cache.get(&(a, Some(member)))),
            (None, None)
        );
        assert_eq!(cache.get(&(b, None)), Some(4));
        assert_eq!(cache.entries().0, 1);
    }

    #[test]
    fn a_full_cache_starts_over_rather_than_growing() {
        let cache: AccessCache<u32> = AccessCache::new(Duration::from_secs(60));
        for _ in 0..CAPACITY {
            cache.put((ObjectId::new(), None), 0);
        }
        assert_eq!(cache.entries().0, CAPACITY);
        let last = ObjectId::new();
        cache.put((last, None), 1);
        assert_eq!(cache.entries().0, 1);
        assert_eq!(cache.get(&(last, None)), Some(1));
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache: AccessCache<Access> = AccessCache::new(Duration::ZERO);
        let a = ObjectId::new();
        cache.put((a, None), owner(a));
        assert_eq!(cache.get(&(a, None)), None);
    }

    #[test]
    fn members_hold_only_their_permissions() {
        let access = Access {
            merchant_id: ObjectId::new(),
            member: Some(MemberAccess {
                role: "staff".into(),
                permissions: vec!["products:view".into()],
                session_version: 0,
            }),
            session_version: 0,
            key: None,
            shadow: false,
        };
        assert_eq!(access.role(), "staff");
        assert!(access.can("products:view"));
        assert!(!access.can("products:delete"));
        assert!(owner(ObjectId::new()).can("products:delete"));
    }

    #[test]
    fn a_key_holds_only_its_permissions_and_never_more_than_its_creator() {
        let owners_key = Access {
            key: Some(vec!["products:view".into()]),
            ..owner(ObjectId::new())
        };
        assert_eq!(owners_key.role(), "api_key");
        assert!(owners_key.can("products:view"));
        assert!(matches!(
            owners_key.require("products:edit"),
            Err(ApiError::PermissionDenied {
                required: "products:edit",
                ..
            })
        ));
        let members_key = Access {
            member: Some(MemberAccess {
                role: "staff".into(),
                permissions: vec!["orders:view".into()],
                session_version: 0,
            }),
            key: Some(vec!["orders:view".into(), "products:view".into()]),
            ..owner(ObjectId::new())
        };
        assert!(members_key.can("orders:view"));
        assert!(!members_key.can("products:view"), "the member lost it");
    }

    #[test]
    fn shadow_mode_lets_members_through_but_never_keys() {
        let member = Access {
            member: Some(MemberAccess {
                role: "staff".into(),
                permissions: vec![],
                session_version: 0,
            }),
            shadow: true,
            ..owner(ObjectId::new())
        };
        assert!(member.require("orders:refund").is_ok());
        let key = Access {
            key: Some(vec![]),
            ..member.clone()
        };
        assert!(key.require("orders:refund").is_err());
    }
}
