//! HS256 JSON Web Tokens: access tokens with the contract's claims (`merchantId`, `role`,
//! `permissions`, `merchantUserId`, `iat`, `exp`) and refresh tokens under a separate key.
//! Tokens also name their session (`sid`, see `store::sessions`) and the account's session
//! version (`sv`); refresh tokens carry their own id (`jti`). Tokens of the older deployment
//! (`{merchantId, exp}` only, no `iat`) verify too: they have no session and version 0.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Claims of access and refresh tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    /// The merchant (tenant) the token acts for.
    pub merchant_id: String,
    /// `owner` or the team member's role (informational; re-derived from the database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Permissions at issue time (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    /// Present for team-member logins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_user_id: Option<String>,
    /// `refresh` on refresh tokens, absent on access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// Session (refresh-token family) the token belongs to; absent on older tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Refresh-token id (refresh tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The account's session version at issue time (absent: 0). A password reset raises the
    /// account's version, which ends every token issued before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sv: Option<i64>,
    /// A team member's session version at issue time (absent: 0): the member's revoke-all, or
    /// the owner's, raises it and ends every token issued before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mv: Option<i64>,
    /// Issued at (s since epoch); 0 on tokens of the older deployment, which had none.
    #[serde(default)]
    pub iat: u64,
    /// Expires at (s since epoch).
    pub exp: u64,
}

impl Claims {
    /// Claims acting for `merchant_id` and nothing else: no role, member or session, times set
    /// when signed. Callers fill in what their token carries.
    pub fn for_merchant(merchant_id: impl Into<String>) -> Self {
        Self {
            merchant_id: merchant_id.into(),
            role: None,
            permissions: None,
            merchant_user_id: None,
            typ: None,
            sid: None,
            jti: None,
            sv: None,
            mv: None,
            iat: 0,
            exp: 0,
        }
    }
}

/// Why a token was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Signature valid but `exp` passed.
    #[error("token has expired")]
    Expired,
    /// Malformed, wrong key, wrong algorithm, wrong kind.
    #[error("token is not valid")]
    Invalid,
    /// Signing failed.
    #[error("token could not be signed")]
    Sign,
}

/// Keys and lifetimes, built once at start-up.
pub struct AuthKeys {
    access_enc: EncodingKey,
    access_dec: DecodingKey,
    refresh_enc: EncodingKey,
    refresh_dec: DecodingKey,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Refresh-token lifetime (also the grace period for refreshing an expired access token).
    pub refresh_ttl: Duration,
    /// Signs list cursors (`routes::cursor`); derived from the access secret.
    pub cursor: super::cursor_key::CursorKey,
}

impl std::fmt::Debug for AuthKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthKeys")
            .field("access_ttl", &self.access_ttl)
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

impl AuthKeys {
    /// Keys from the two secrets.
    pub fn new(
        access: &SecretString,
        refresh: &SecretString,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Self {
        let a = access.expose_secret().as_bytes();
        let r = refresh.expose_secret().as_bytes();
        Self {
            access_enc: EncodingKey::from_secret(a),
            access_dec: DecodingKey::from_secret(a),
            refresh_enc: EncodingKey::from_secret(r),
            refresh_dec: DecodingKey::from_secret(r),
            access_ttl,
            refresh_ttl,
            cursor: super::cursor_key::CursorKey::derive(a),
        }
    }

    /// Sign an access token for `claims` (its `iat`/`exp`/`typ`/`jti` are overwritten).
    pub fn sign_access(&self, mut claims: Claims) -> Result<String, TokenError> {
        claims.iat = now();
        claims.exp = claims.iat + self.access_ttl.as_secs();
        claims.typ = None;
        claims.jti = None;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.access_enc)
            .map_err(|_| TokenError::Sign)
    }

    /// Sign a refresh token carrying the same identity.
    pub fn sign_refresh(&self, mut claims: Claims) -> Result<String, TokenError> {
        claims.iat = now();
        claims.exp = claims.iat + self.refresh_ttl.as_secs();
        claims.typ = Some("refresh".into());
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.refresh_enc)
            .map_err(|_| TokenError::Sign)
    }

    /// Verify an access token (HS256 only, no leeway).
    pub fn verify_access(&self, token: &str) -> Result<Claims, TokenError> {
        let claims = decode(token, &self.access_dec, true)?;
        if claims.typ.is_some() {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }

    /// Verify an access token whose expiry may have passed less than `refresh_ttl` ago.
    pub fn verify_access_for_refresh(&self, token: &str) -> Result<Claims, TokenError> {
        let claims = decode(token, &self.access_dec, false)?;
        if claims.typ.is_some() || claims.exp + self.refresh_ttl.as_secs() < now() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// Verify a refresh token.
    pub fn verify_refresh(&self, token: &str) -> Result<Claims, TokenError> {
        let claims = decode(token, &self.refresh_dec, true)?;
        if claims.typ.as_deref() != Some("refresh") {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

fn decode(token: &str, key: &DecodingKey, validate_exp: bool) -> Result<Claims, TokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.validate_exp = validate_exp;
    jsonwebtoken::decode::<Claims>(token, key, &validation)
        .map(|d| d.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ttl: u64) -> AuthKeys {
        AuthKeys::new(
            &"a".repeat(32).into(),
            &"b".repeat(32).into(),
            Duration::from_secs(ttl),
            Duration::from_secs(3600),
        )
    }

    fn claims() -> Claims {
        Claims::for_merchant("m1")
    }

    #[test]
    fn tokens_of_the_older_deployment_without_iat_verify() {
        let k = keys(60);
        let exp = now() + 60;
        let legacy = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({ "merchantId": "m1", "exp": exp }),
            &EncodingKey::from_secret("a".repeat(32).as_bytes()),
        )
        .expect("sign");
        let claims = k.verify_access(&legacy).expect("legacy verifies");
        assert_eq!((claims.iat, claims.sid, claims.sv), (0, None, None));
        assert!(k.verify_access_for_refresh(&legacy).is_ok());
    }

    #[test]
    fn access_tokens_round_trip_and_refresh_tokens_are_not_access_tokens() {
        let k = keys(60);
        let t = k.sign_access(claims()).expect("sign");
        assert_eq!(k.verify_access(&t).expect("verify").merchant_id, "m1");
        let r = k.sign_refresh(claims()).expect("sign");
        assert_eq!(k.verify_access(&r), Err(TokenError::Invalid));
        assert_eq!(k.verify_refresh(&r).expect("refresh").merchant_id, "m1");
        assert_eq!(k.verify_refresh(&t), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_signed_with_another_key_or_alg_none_is_invalid() {
        let t = keys(60).sign_access(claims()).expect("sign");
        let other = AuthKeys::new(
            &"c".repeat(32).into(),
            &"d".repeat(32).into(),
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        assert_eq!(other.verify_access(&t), Err(TokenError::Invalid));
        let payload = t.split('.').nth(1).expect("payload");
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(keys(60).verify_access(&none), Err(TokenError::Invalid));
    }
}
