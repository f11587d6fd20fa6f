//! Request extractors: [`AppJson`] (typed JSON with field messages instead of axum's plain-text
//! rejections), [`AuthMerchant`] (the contract's Bearer-token middleware), [`ClientIp`] and
//! ObjectId path parsing.

use std::net::SocketAddr;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};
use serde::de::DeserializeOwned;

use crate::{
    error::{ApiError, FieldError},
    security::{
        access::{Access, MemberAccess},
        jwt::{Claims, TokenError},
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
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("Request body too large. Maximum size is 50kb.".into())
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
                    field: "body".into(),
                    message: inner.to_string(),
                    value: None,
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
            errors: vec![FieldError {
                field: field.clone(),
                message: type_message(&field, &inner.to_string()),
                value: None,
            }],
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
                    field: "query".into(),
                    message: e.body_text(),
                    value: None,
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
            errors: vec![FieldError {
                field: field.clone(),
                message: type_message(&field, &e.inner().to_string()),
                value: None,
            }],
        }
    })
}

/// Parse a 24-hex id from a path segment.
pub fn object_id(raw: &str, message: &str) -> Result<ObjectId, ApiError> {
    ObjectId::parse_str(raw).map_err(|_| ApiError::BadRequest(message.to_string()))
}

/// The caller's IP: the socket peer, or the first `X-Forwarded-For` hop when `TRUST_PROXY`.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl ClientIp {
    /// Resolve from request parts.
    pub fn from_parts(parts: &Parts, trust_proxy: bool) -> Self {
        Self::resolve(&parts.headers, &parts.extensions, trust_proxy)
    }

    /// Resolve from a request's headers and extensions (usable from middleware).
    pub fn resolve(
        headers: &axum::http::HeaderMap,
        extensions: &axum::http::Extensions,
        trust_proxy: bool,
    ) -> Self {
        let forwarded = trust_proxy
            .then(|| headers.get("x-forwarded-for"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        let peer = || {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string())
        };
        Self(forwarded.unwrap_or_else(peer))
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts, state.settings.trust_proxy))
    }
}

/// An authenticated merchant (owner or team member), loaded fresh from the database.
#[derive(Debug, Clone)]
pub struct AuthMerchant {
    /// The merchant the token acts for.
    pub merchant: MerchantDoc,
    /// The team member, for team logins.
    pub member: Option<MerchantUserDoc>,
    /// The verified claims.
    pub claims: Claims,
}

impl AuthMerchant {
    /// The tenant id every query is scoped by.
    pub fn id(&self) -> ObjectId {
        self.merchant.id
    }

    /// The caller's role: the team member's, or `owner` for the merchant's own token.
    pub fn role(&self) -> &str {
        self.member.as_ref().map_or("owner", |m| m.role.as_str())
    }

    /// The authorization decision (what [`AuthTenant`] caches).
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
            }),
        }
    }

    /// `Ok` when the caller holds `permission`, else the contract's 403 naming it.
    pub fn require(&self, permission: &'static str) -> Result<(), ApiError> {
        self.access().require(permission)
    }
}

/// The raw Bearer token, if the header has the exact `Bearer ` prefix.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for AuthMerchant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        load_principal(state, verified_claims(parts, state)?).await
    }
}

/// The Bearer token's verified claims, or the contract's 401.
fn verified_claims(parts: &Parts, state: &AppState) -> Result<Claims, ApiError> {
    let token = bearer(&parts.headers)
        .ok_or_else(|| ApiError::unauthorized("No token provided, authorization denied"))?;
    state.auth.verify_access(token).map_err(|e| match e {
        TokenError::Expired => ApiError::unauthorized("Token has expired"),
        _ => ApiError::unauthorized("Token is not valid"),
    })
}

/// An authenticated caller for routes that need only the tenant id and permissions (products,
/// variants, stock). Same checks and errors as [`AuthMerchant`], but a successful check is reused
/// for `AUTH_CACHE_TTL_MS` (see `security::access`) instead of reading the merchant every time.
#[derive(Debug, Clone)]
pub struct AuthTenant {
    /// What the caller may do.
    pub access: Access,
    /// The verified claims.
    pub claims: Claims,
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
        let claims = verified_claims(parts, state)?;
        let key = ObjectId::parse_str(&claims.merchant_id).ok().zip(
            claims
                .merchant_user_id
                .as_deref()
                .map(ObjectId::parse_str)
                .transpose()
                .ok(),
        );
        if let Some(access) = key.and_then(|k| state.access_cache.get(&k)) {
            return Ok(Self { access, claims });
        }
        // Miss, or unparsable ids (load_principal answers those with the right 401).
        let principal = load_principal(state, claims).await?;
        let access = principal.access();
        if let Some(key) = key {
            state.access_cache.put(key, access.clone());
        }
        Ok(Self {
            access,
            claims: principal.claims,
        })
    }
}

/// Load and check the merchant (and team member) named by verified claims.
pub async fn load_principal(state: &AppState, claims: Claims) -> Result<AuthMerchant, ApiError> {
    let id = ObjectId::parse_str(&claims.merchant_id)
        .map_err(|_| ApiError::unauthorized("Token is not valid"))?;
    let merchant = state
        .store
        .merchant(id)
        .await
        .map_err(ApiError::internal("Authentication error"))?
        .ok_or_else(|| ApiError::unauthorized("Token is not valid - merchant not found"))?;
    if !merchant.is_active {
        return Err(ApiError::unauthorized("Merchant account is deactivated"));
    }
    let member = match &claims.merchant_user_id {
        None => None,
        Some(raw) => Some(load_member(state, id, raw).await?),
    };
    Ok(AuthMerchant {
        merchant,
        member,
        claims,
    })
}

async fn load_member(
    state: &AppState,
    merchant: ObjectId,
    raw: &str,
) -> Result<MerchantUserDoc, ApiError> {
    let uid = ObjectId::parse_str(raw)
        .map_err(|_| ApiError::unauthorized("Token is not valid - user not found"))?;
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
