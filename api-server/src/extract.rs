//! Request extractors: [`AppJson`] (typed JSON with field messages instead of axum's plain-text
//! rejections), [`AuthMerchant`] and [`AuthTenant`] (the contract's Bearer-token middleware, on
//! the token `middleware::authenticate` verified), [`ClientIp`] and ObjectId path parsing.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    body::Bytes,
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request},
    http::{Method, request::Parts},
};
use serde::de::DeserializeOwned;

use crate::{
    config::ProxyTrust,
    error::{ApiError, FieldError},
    security::{
        access::{Access, Checked, MemberAccess},
        identity::{Identity, TokenCheck, TokenRejection},
        jwt::AuthKeys,
    },
    state::AppState,
    store::{DateTime, ObjectId, json::iso, merchants::MerchantDoc, users::MerchantUserDoc},
};

/// JSON body deserialised with field paths in its errors. Unknown keys are ignored (the
/// contract's `stripUnknown`); an empty body reads as `{}`; malformed JSON is a 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let max = crate::routes::BODY_LIMIT;
        // Refused on the declared length before a byte is read (`body_limit::finish_unread`
        // discards the body so that the client reads this answer).
        if crate::body_limit::declared_length(req.headers()).is_some_and(|n| n > max as u64) {
            return Err(crate::body_limit::too_large(max));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                crate::body_limit::too_large(max)
            } else {
                ApiError::BadRequest("Failed to read request body".into())
            }
        })?;
        parse_json(&bytes).map(AppJson)
    }
}

/// Parse a JSON body into `T`, mapping syntax and type errors to 400s.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::Validation {
                message: "Invalid JSON in request body",
                errors: vec![FieldError {
                    code: "malformed",
                    ..FieldError::new("body", inner.to_string(), None)
                }],
            };
        }
        let path = e.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        ApiError::Validation {
            message: "Validation failed",
            errors: vec![FieldError::new(
                field.clone(),
                type_message(&field, &inner.to_string()),
                None,
            )],
        }
    })
}

/// Joi-style text for a serde type error: `"price" must be a number`.
fn type_message(field: &str, serde: &str) -> String {
    let serde = serde.split(" at line ").next().unwrap_or_default();
    match serde.split_once(", expected ") {
        Some((_, expected)) => {
            let expected = match expected {
                e if e.contains("i64") || e.contains("u64") || e.contains("integer") => {
                    "an integer"
                }
                e if e.contains("f64") || e.contains("float") => "a number",
                e if e.contains("string") => "a string",
                e if e.contains("bool") => "a boolean",
                e if e.contains("sequence") || e.contains("Vec") => "an array",
                e if e.contains("struct") || e.contains("map") => "an object",
                e => e,
            };
            format!("\"{field}\" must be {expected}")
        }
        None => format!("\"{field}\" {serde}"),
    }
}

/// Query string deserialised into `T`; failures are a 400 `Query validation failed`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| AppQuery(q.0))
            .map_err(|e| ApiError::Validation {
                message: "Query validation failed",
                errors: vec![FieldError {
                    code: "malformed",
                    ..FieldError::new("query", e.body_text(), None)
                }],
            })
    }
}

/// Deserialise a JSON value into `T` with field paths in errors.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        ApiError::Validation {
            message: "Validation failed",
            errors: vec![FieldError::new(
                field.clone(),
                type_message(&field, &e.inner().to_string()),
                None,
            )],
        }
    })
}

/// Parse a 24-hex id from a path segment.
pub fn object_id(raw: &str, message: &str) -> Result<ObjectId, ApiError> {
    ObjectId::parse_str(raw).map_err(|_| ApiError::BadRequest(message.to_string()))
}

/// The caller's IP: the socket peer, or the address the trusted proxies in front of it name
/// in `X-Forwarded-For` (see [`ProxyTrust`]).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl ClientIp {
    /// Resolve from request parts.
    pub fn from_parts(parts: &Parts, trust: &ProxyTrust) -> Self {
        Self::resolve(&parts.headers, &parts.extensions, trust)
    }

    /// Resolve from a request's headers and extensions (usable from middleware).
    pub fn resolve(
        headers: &axum::http::HeaderMap,
        extensions: &axum::http::Extensions,
        trust: &ProxyTrust,
    ) -> Self {
        let Some(peer) = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
        else {
            return Self("unknown".to_string());
        };
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Self(trust.client(peer, forwarded).to_string())
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts, &state.settings.trust_proxy))
    }
}

/// An authenticated merchant (owner or team member) with its documents: loaded from the
/// database for writes, and for reads (GET/HEAD) reused from a check made within
/// `AUTH_CACHE_TTL_MS` (see `security::access`). Loaded at most once per request.
#[derive(Debug, Clone)]
pub struct AuthMerchant {
    /// The merchant the token acts for.
    pub merchant: Arc<MerchantDoc>,
    /// The team member, for team logins.
    pub member: Option<Arc<MerchantUserDoc>>,
    /// The verified token.
    pub identity: Arc<Identity>,
}

impl AuthMerchant {
    /// The tenant id every query is scoped by.
    pub fn id(&self) -> ObjectId {
        self.merchant.id
    }

    /// True for the owner's own login (not a team member's, not an API key): what owner-only
    /// account changes (password, rbacMode) require.
    pub fn is_owner_login(&self) -> bool {
        self.member.is_none() && self.identity.api_key.is_none()
    }

    /// The caller's role: the team member's, or `owner` for the merchant's own token.
    pub fn role(&self) -> &str {
        self.member.as_ref().map_or("owner", |m| m.role.as_str())
    }

    /// The authorization decision (what [`AuthTenant`] uses).
    pub fn access(&self) -> Access {
        Access {
            merchant_id: self.merchant.id,
            member: self.member.as_ref().map(|m| MemberAccess {
                role: m.role.clone(),
                permissions: if m.permissions.is_empty() {
                    crate::domain::role_permissions(&m.role)
                } else {
                    m.permissions.clone()
                },
                session_version: m.session_version,
            }),
            session_version: self.merchant.session_version,
            key: self
                .identity
                .api_key
                .as_ref()
                .map(|k| k.permissions.clone()),
            shadow: self.merchant.rbac_mode.as_deref() == Some(crate::domain::RBAC_SHADOW),
        }
    }

    /// `Ok` when the caller holds `permission`, else the contract's 403 naming it.
    pub fn require(&self, permission: &'static str) -> Result<(), ApiError> {
        self.access().require(permission)
    }

    fn checked(&self) -> Checked {
        Checked {
            access: self.access(),
            merchant: self.merchant.clone(),
            member: self.member.clone(),
        }
    }
}

impl FromRequestParts<AppState> for AuthMerchant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let identity = verified_identity(parts, state)?;
        let reads_only = matches!(parts.method, Method::GET | Method::HEAD);
        if reads_only && let Some(checked) = cached(state, &identity)? {
            return Ok(Self {
                merchant: checked.merchant,
                member: checked.member,
                identity,
            });
        }
        let caller = load_principal(state, identity).await?;
        remember(state, &caller);
        Ok(caller)
    }
}

/// The fresh cached check of `identity`'s principal, if any; an entry older than the token's
/// session is a 401 (a password reset ended the token's sessions).
fn cached(state: &AppState, identity: &Identity) -> Result<Option<Checked>, ApiError> {
    let Some(checked) = identity.key().and_then(|k| state.access_cache.get(&k)) else {
        return Ok(None);
    };
    let member = checked.access.member.as_ref().map(|m| m.session_version);
    identity
        .check_session(checked.access.session_version, member)
        .map_err(|_| revoked())?;
    Ok(Some(checked))
}

/// Cache a successful check (unparsable ids never get this far).
fn remember(state: &AppState, caller: &AuthMerchant) {
    if let Some(key) = caller.identity.key() {
        state.access_cache.put(key, caller.checked());
    }
}

/// The identity `middleware::authenticate` verified, or the contract's 401.
fn verified_identity(parts: &mut Parts, state: &AppState) -> Result<Arc<Identity>, ApiError> {
    token_check(parts, &state.auth).0.map_err(|e| match e {
        TokenRejection::Missing => {
            ApiError::unauthorized("No token provided, authorization denied")
        }
        TokenRejection::Expired => ApiError::unauthorized("Token has expired"),
        TokenRejection::Invalid => ApiError::unauthorized("Token is not valid"),
        TokenRejection::Revoked => revoked(),
        TokenRejection::Unavailable => {
            ApiError::Unavailable("Authentication is temporarily unavailable".into())
        }
    })
}

fn revoked() -> ApiError {
    ApiError::unauthorized("Token has been revoked")
}

/// The request's [`TokenCheck`]: the layer's, or (on a router without the layer, e.g. in
/// extractor tests) one made here and stored, so a request's token is still verified once.
fn token_check(parts: &mut Parts, keys: &AuthKeys) -> TokenCheck {
    if let Some(check) = parts.extensions.get::<TokenCheck>() {
        return check.clone();
    }
    let check = TokenCheck::of(keys, &parts.headers);
    parts.extensions.insert(check.clone());
    check
}

/// An authenticated caller for routes that need only the tenant id and permissions (products,
/// variants, stock). Same checks and errors as [`AuthMerchant`], but a successful check is reused
/// for `AUTH_CACHE_TTL_MS` (see `security::access`) instead of reading the merchant every time.
#[derive(Debug, Clone)]
pub struct AuthTenant {
    /// What the caller may do.
    pub access: Access,
    /// The verified token.
    pub identity: Arc<Identity>,
}

impl AuthTenant {
    /// The tenant id every query is scoped by.
    pub fn id(&self) -> ObjectId {
        self.access.merchant_id
    }

    /// `Ok` when the caller holds `permission`, else the contract's 403 naming it.
    pub fn require(&self, permission: &'static str) -> Result<(), ApiError> {
        self.access.require(permission)
    }
}

impl FromRequestParts<AppState> for AuthTenant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let identity = verified_identity(parts, state)?;
        if let Some(checked) = cached(state, &identity)? {
            return Ok(Self {
                access: checked.access,
                identity,
            });
        }
        // Miss, or unparsable ids (load_principal answers those with the right 401).
        let caller = load_principal(state, identity).await?;
        remember(state, &caller);
        Ok(Self {
            access: caller.access(),
            identity: caller.identity,
        })
    }
}

/// Load and check the merchant (and team member) a verified token names.
pub async fn load_principal(
    state: &AppState,
    identity: Arc<Identity>,
) -> Result<AuthMerchant, ApiError> {
    let id = identity
        .merchant
        .ok_or_else(|| ApiError::unauthorized("Token is not valid"))?;
    let merchant = state
        .store
        .merchant(id)
        .await
        .map_err(ApiError::internal("Authentication error"))?
        .ok_or_else(|| ApiError::unauthorized("Token is not valid - merchant not found"))?;
    if !merchant.is_active {
        return Err(ApiError::unauthorized("Merchant account is deactivated"));
    }
    let member = if identity.is_member() {
        Some(load_member(state, id, identity.member).await?)
    } else {
        None
    };
    identity
        .check_session(
            merchant.session_version,
            member.as_ref().map(|m| m.session_version),
        )
        .map_err(|_| revoked())?;
    Ok(AuthMerchant {
        merchant: Arc::new(merchant),
        member: member.map(Arc::new),
        identity,
    })
}

/// `member` is `None` when the token's user id is not an ObjectId.
async fn load_member(
    state: &AppState,
    merchant: ObjectId,
    member: Option<ObjectId>,
) -> Result<MerchantUserDoc, ApiError> {
    let uid =
        member.ok_or_else(|| ApiError::unauthorized("Token is not valid - user not found"))?;
    let member = state
        .store
        .member(merchant, uid)
        .await
        .map_err(ApiError::internal("Authentication error"))?
        .ok_or_else(|| ApiError::unauthorized("Token is not valid - user not found"))?;
    if member.status != "active" {
        return Err(ApiError::Forbidden(format!(
            "Account is {}. Please contact your administrator.",
            member.status
        )));
    }
    if let Some(until) = member.account_locked_until.filter(|u| *u > DateTime::now()) {
        return Err(ApiError::Locked {
            message: "Account is temporarily locked. Please try again later.".into(),
            locked_until: iso(until),
        });
    }
    Ok(member)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Login {
        #[allow(dead_code)]
        password: Option<String>,
    }

    #[test]
    fn an_operator_object_as_password_is_a_field_error() {
        let Err(ApiError::Validation { errors, .. }) =
            parse_json::<Login>(br#"{"password":{"$gt":""}}"#)
        else {
            panic!("expected a validation error")
        };
        assert_eq!(errors[0].field, "password");
    }

    fn keys() -> AuthKeys {
        AuthKeys::new(
            &"a".repeat(32).into(),
            &"b".repeat(32).into(),
            std::time::Duration::from_secs(60),
            std::time::Duration::from_secs(60),
        )
    }

    fn parts_with_token(keys: &AuthKeys) -> Parts {
        let claims = crate::security::jwt::Claims::for_merchant(ObjectId::new().to_hex());
        let token = keys.sign_access(claims).expect("sign");
        let request = axum::http::Request::get("/")
            .header("authorization", format!("Bearer {token}"))
            .body(())
            .expect("request");
        request.into_parts().0
    }

    #[test]
    fn extractors_use_the_layers_token_check_instead_of_verifying_again() {
        let keys = keys();
        let mut parts = parts_with_token(&keys);
        // The layer's outcome wins even over a valid header: nothing is verified twice.
        parts
            .extensions
            .insert(TokenCheck(Err(TokenRejection::Expired)));
        assert_eq!(
            token_check(&mut parts, &keys).0.err(),
            Some(TokenRejection::Expired)
        );
        // Without the layer the check is made once and kept for the next reader.
        let mut parts = parts_with_token(&keys);
        assert!(token_check(&mut parts, &keys).identity().is_some());
        assert!(parts.extensions.get::<TokenCheck>().is_some());
    }

    #[test]
    fn malformed_json_is_rejected_and_empty_is_an_empty_object() {
        assert!(matches!(
            parse_json::<Login>(b"{\"password\":"),
            Err(ApiError::Validation {
                message: "Invalid JSON in request body",
                ..
            })
        ));
        assert!(parse_json::<Login>(b"").is_ok());
    }
}
