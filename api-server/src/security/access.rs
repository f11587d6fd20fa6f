//! A short-lived, per-process cache of authorization decisions: "merchant M (team member U) is
//! active and holds these permissions". Routes that need only the tenant id and permissions
//! (products, variants, stock: the hot paths) use it through `extract::AuthTenant`, which saves
//! one or two database reads per request; routes that read the merchant document itself keep
//! loading it fresh (`AuthMerchant`).
//!
//! Only successful checks are cached, for at most `AUTH_CACHE_TTL_MS` (default 2 s): a merchant
//! deactivated or a member suspended on any replica is refused within that time, and at once on
//! the replica that calls [`AccessCache::invalidate_merchant`]. Failures are never cached.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::{error::ApiError, store::ObjectId};

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
}

/// A team member's role and effective permissions (role defaults already applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAccess {
    /// Role name.
    pub role: String,
    /// Effective permissions.
    pub permissions: Vec<String>,
}

impl Access {
    /// `owner`, or the member's role.
    pub fn role(&self) -> &str {
        self.member.as_ref().map_or("owner", |m| m.role.as_str())
    }

    /// Owners hold every permission; members hold their effective list.
    pub fn can(&self, permission: &str) -> bool {
        debug_assert!(
            crate::domain::PERMISSIONS.contains(&permission),
            "unknown permission {permission}"
        );
        self.member
            .as_ref()
            .is_none_or(|m| m.permissions.iter().any(|p| p == permission))
    }

    /// `Ok` when the caller holds `permission`, else the contract's 403 naming it.
    pub fn require(&self, permission: &'static str) -> Result<(), ApiError> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(ApiError::PermissionDenied {
                required: permission,
                user_role: self.role().to_string(),
            })
        }
    }
}

/// Cache key: merchant and, for team logins, the member.
pub type Principal = (ObjectId, Option<ObjectId>);

/// Upper bound on entries; past it expired entries are dropped, then everything.
const CAPACITY: usize = 10_000;

/// TTL cache of [`Access`] by [`Principal`]; a zero TTL disables it.
#[derive(Debug)]
pub struct AccessCache {
    ttl: Duration,
    entries: Mutex<HashMap<Principal, (Instant, Access)>>,
}

impl AccessCache {
    /// A cache whose entries live `ttl` (zero: nothing is cached).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Principal, (Instant, Access)>> {
        // A panic while holding the lock cannot leave the map half-updated: recover it.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached decision, if still fresh.
    pub fn get(&self, key: &Principal) -> Option<Access> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries();
        let (stored, access) = entries.get(key)?;
        (stored.elapsed() < self.ttl).then(|| access.clone())
    }

    /// Remember a successful check.
    pub fn put(&self, key: Principal, access: Access) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= CAPACITY {
            let ttl = self.ttl;
            entries.retain(|_, (stored, _)| stored.elapsed() < ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), access));
    }

    /// Forget every decision about `merchant` (call after deactivating it or changing a member's
    /// status, role or permissions).
    pub fn invalidate_merchant(&self, merchant: ObjectId) {
        self.entries().retain(|(m, _), _| *m != merchant);
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
        }
    }

    #[test]
    fn entries_expire_and_invalidation_is_per_merchant() {
        let cache = AccessCache::new(Duration::from_millis(50));
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
    fn a_zero_ttl_caches_nothing() {
        let cache = AccessCache::new(Duration::ZERO);
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
            }),
            session_version: 0,
        };
        assert_eq!(access.role(), "staff");
        assert!(access.can("products:view"));
        assert!(!access.can("products:delete"));
        assert!(owner(ObjectId::new()).can("products:delete"));
    }
}
