//! The request's Bearer token, checked once: [`TokenCheck::of`] verifies it and parses the ids it
//! names; `middleware::authenticate` stores the outcome in the request's extensions, where the
//! auth extractors, the audit record and analytics-cache invalidation read it. Loading the
//! merchant and deciding permissions is not done here (see `extract` and `security::access`);
//! whether a password reset has since ended the token's sessions is ([`Identity::check_session`]),
//! against the account's session version the extractors load (fresh, or cached briefly).

use std::sync::Arc;

use axum::http::{HeaderMap, header};

use super::{
    access::Principal,
    api_key::{KeyCache, KeyGrant},
    jwt::{AuthKeys, Claims, TokenError},
};
use crate::store::ObjectId;

/// Who a verified access token speaks for: its claims, with the ids parsed once.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The verified claims.
    pub claims: Claims,
    /// `merchantId`, or `None` when the claim is not an ObjectId (refused when used).
    pub merchant: Option<ObjectId>,
    /// `merchantUserId`, or `None` when absent or not an ObjectId (`claims` tells which).
    /// For an API key: the team member who made it.
    pub member: Option<ObjectId>,
    /// Set when the caller presented an API key instead of a login's token.
    pub api_key: Option<Arc<KeyGrant>>,
}

impl Identity {
    /// Parse the ids of verified claims.
    pub fn from_claims(claims: Claims) -> Self {
        let merchant = ObjectId::parse_str(&claims.merchant_id).ok();
        let member = claims
            .merchant_user_id
            .as_deref()
            .and_then(|m| ObjectId::parse_str(m).ok());
        Self {
            claims,
            merchant,
            member,
            api_key: None,
        }
    }

    /// The identity of an accepted API key: its merchant, and the member who made it (whose
    /// account must still be active, and whose permissions bound the key's).
    pub fn from_api_key(grant: Arc<KeyGrant>) -> Self {
        let claims = Claims {
            merchant_user_id: grant.created_by.map(|m| m.to_hex()),
            ..Claims::for_merchant(grant.merchant.to_hex())
        };
        Self {
            claims,
            merchant: Some(grant.merchant),
            member: grant.created_by,
            api_key: Some(grant),
        }
    }

    /// True for a team member's token (whether or not its user id parses).
    pub fn is_member(&self) -> bool {
        self.claims.merchant_user_id.is_some()
    }

    /// The account's session version the token was issued under (0 for older tokens).
    pub fn session_version(&self) -> i64 {
        self.claims.sv.unwrap_or(0)
    }

    /// The session (refresh-token family) the token belongs to, when it names one.
    pub fn session(&self) -> Option<ObjectId> {
        self.claims
            .sid
            .as_deref()
            .and_then(|s| ObjectId::parse_str(s).ok())
    }

    /// Refuse a token issued before its account's session version became what it is now: the
    /// owner's `owner` (a password reset or revoke-all raised it), a team member's `member`
    /// (the member's or the owner's revoke-all). API keys end by revocation instead.
    pub fn check_session(&self, owner: i64, member: Option<i64>) -> Result<(), TokenRejection> {
        let stale = match (&self.api_key, self.is_member()) {
            (Some(_), _) => false,
            (None, false) => self.session_version() < owner,
            (None, true) => self.claims.mv.unwrap_or(0) < member.unwrap_or(0),
        };
        if stale {
            return Err(TokenRejection::Revoked);
        }
        Ok(())
    }

    /// The access-cache key, when every id the token names parses. An API key is its own
    /// principal (its grant is narrower than its creator's).
    pub fn key(&self) -> Option<Principal> {
        if let Some(grant) = &self.api_key {
            return Some((grant.merchant, Some(grant.id)));
        }
        let member = if self.is_member() {
            Some(self.member?)
        } else {
            None
        };
        Some((self.merchant?, member))
    }
}

/// Why a request carries no usable access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// No `Authorization: Bearer …` header.
    #[error("no bearer token")]
    Missing,
    /// Signature valid, expiry passed.
    #[error("token has expired")]
    Expired,
    /// Malformed, wrong key or algorithm, or not an access token.
    #[error("token is not valid")]
    Invalid,
    /// Valid, but issued before a password reset or revoke-all ended the account's sessions;
    /// or a revoked API key.
    #[error("token has been revoked")]
    Revoked,
    /// An API key could not be looked up (database unavailable).
    #[error("credentials cannot be checked now")]
    Unavailable,
}

/// The outcome of checking a request's Bearer token (a request extension).
#[derive(Debug, Clone)]
pub struct TokenCheck(pub Result<Arc<Identity>, TokenRejection>);

impl TokenCheck {
    /// Verify the Bearer token of `headers` as an access token.
    pub fn of(keys: &AuthKeys, headers: &HeaderMap) -> Self {
        let verified = bearer(headers)
            .ok_or(TokenRejection::Missing)
            .and_then(|token| {
                keys.verify_access(token).map_err(|e| match e {
                    TokenError::Expired => TokenRejection::Expired,
                    _ => TokenRejection::Invalid,
                })
            });
        Self(verified.map(|claims| Arc::new(Identity::from_claims(claims))))
    }

    /// Check an API key (see `security::api_key`).
    pub async fn of_api_key(keys: &KeyCache, store: &crate::store::Store, key: &str) -> Self {
        let grant = keys.check(store, key).await;
        Self(grant.map(|g| Arc::new(Identity::from_api_key(g))))
    }

    /// The verified identity, if any.
    pub fn identity(&self) -> Option<&Arc<Identity>> {
        self.0.as_ref().ok()
    }
}

/// The raw Bearer token, if the header has the exact `Bearer ` prefix.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::HeaderValue;

    use super::*;

    fn keys() -> AuthKeys {
        AuthKeys::new(
            &"a".repeat(32).into(),
            &"b".repeat(32).into(),
            Duration::from_secs(60),
            Duration::from_secs(60),
        )
    }

    fn claims(merchant: &str, member: Option<&str>) -> Claims {
        Claims {
            merchant_user_id: member.map(str::to_string),
            ..Claims::for_merchant(merchant)
        }
    }

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header value"),
        );
        h
    }

    #[test]
    fn a_verified_token_yields_its_parsed_ids_and_a_bad_one_its_reason() {
        let k = keys();
        let (m, u) = (ObjectId::new(), ObjectId::new());
        let token = k
            .sign_access(claims(&m.to_hex(), Some(&u.to_hex())))
            .expect("sign");
        let check = TokenCheck::of(&k, &headers(&format!("Bearer {token}")));
        let identity = check.identity().expect("verified");
        assert_eq!((identity.merchant, identity.member), (Some(m), Some(u)));
        assert_eq!(identity.key(), Some((m, Some(u))));
        let missing = TokenCheck::of(&k, &HeaderMap::new()).0;
        assert_eq!(missing.err(), Some(TokenRejection::Missing));
        let basic = TokenCheck::of(&k, &headers(&format!("Basic {token}"))).0;
        assert_eq!(basic.err(), Some(TokenRejection::Missing));
        let garbage = TokenCheck::of(&k, &headers("Bearer garbage")).0;
        assert_eq!(garbage.err(), Some(TokenRejection::Invalid));
    }

    #[test]
    fn owner_tokens_older_than_the_accounts_session_version_are_revoked() {
        let m = ObjectId::new().to_hex();
        let mut owner = claims(&m, None);
        owner.sv = Some(2);
        let owner = Identity::from_claims(owner);
        assert_eq!(owner.check_session(2, None), Ok(()));
        assert_eq!(owner.check_session(3, None), Err(TokenRejection::Revoked));
        let legacy = Identity::from_claims(claims(&m, None));
        assert_eq!(legacy.check_session(0, None), Ok(()));
        assert_eq!(legacy.check_session(1, None), Err(TokenRejection::Revoked));
        // A member's token answers to the member's version, not the owner's.
        let member = Identity::from_claims(claims(&m, Some(&ObjectId::new().to_hex())));
        assert_eq!(member.check_session(5, Some(0)), Ok(()));
        assert_eq!(
            member.check_session(0, Some(1)),
            Err(TokenRejection::Revoked)
        );
        let mut current = claims(&m, Some(&ObjectId::new().to_hex()));
        current.mv = Some(1);
        assert_eq!(
            Identity::from_claims(current).check_session(9, Some(1)),
            Ok(())
        );
    }

    #[test]
    fn a_token_naming_an_unparsable_member_has_no_cache_key() {
        let m = ObjectId::new().to_hex();
        let member = Identity::from_claims(claims(&m, Some("nope")));
        assert!(member.is_member());
        assert_eq!(member.key(), None);
        let owner = Identity::from_claims(claims(&m, None));
        assert_eq!(owner.key().map(|k| k.1), Some(None));
        assert_eq!(Identity::from_claims(claims("nope", None)).key(), None);
    }
}
