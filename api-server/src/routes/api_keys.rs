//! `/api/merchant/api-keys`: scoped API keys for integrations (`Authorization: Bearer
//! mk_live_…`). A key holds a subset of the permission strings, never more than its creator
//! holds (checked when made, and again on every use: a member's key narrows with the member and
//! stops with them); it may expire; its last use is recorded; rotation issues a successor and
//! keeps the old key working for a grace window. The plain key is in the creating (or rotating)
//! response only: the server keeps its SHA-256 digest. Keys cannot manage keys.

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    Reply,
    cursor::{CursorParams, Paging},
    params,
};
use crate::{
    audit::AuditChange,
    domain::PERMISSIONS,
    error::ApiError,
    extract::{AppJson, AppQuery, AuthMerchant, object_id},
    security::api_key,
    state::AppState,
    store::{
        DateTime, ObjectId,
        api_keys::{ApiKeyDoc, LIST_LIMIT},
        json::{hex, iso, iso_text},
    },
    validate::{Len, Validator},
};

/// Longest life a key can be given, in days (2 years).
const MAX_DAYS: i64 = 730;
/// Grace window of a rotation when none is sent (24 hours), and the longest (7 days).
const DEFAULT_GRACE_SECS: i64 = 24 * 3600;
const MAX_GRACE_SECS: i64 = 7 * 24 * 3600;

/// API-key routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/{key_id}", get(show).delete(revoke))
        .route("/{key_id}/rotate", post(rotate))
}

/// A new key.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateKeyBody {
    /// A label (1 to 100 characters).
    pub name: Option<String>,
    /// The permission strings it holds (at least one; each one you hold yourself).
    pub permissions: Option<Vec<String>>,
    /// Days until it expires, 1 to 730 (none: it does not expire).
    pub expires_in_days: Option<i64>,
}

/// A rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotateKeyBody {
    /// Seconds the old key keeps working, 0 to 604800 (default 86400).
    pub grace_seconds: Option<i64>,
}

/// An API key as listed (never the key itself).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    /// Id (24-hex).
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String)]
    pub id: ObjectId,
    /// Label.
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    /// Permission strings it holds.
    pub permissions: Vec<String>,
    /// active | expired | revoked.
    pub status: &'static str,
    /// The team member who made it (24-hex); null when the owner did.
    #[schema(value_type = Option<String>)]
    pub created_by: Option<String>,
    /// Made (ISO 8601).
    #[serde(serialize_with = "iso_text")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime,
    /// Refused from (ISO 8601); null: never expires.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<String>,
    /// Last accepted (ISO 8601, recorded at most once a minute).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<String>,
    /// Revoked (ISO 8601).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<String>,
    /// The key that replaced it (24-hex), after a rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub rotated_to: Option<String>,
}

impl From<ApiKeyDoc> for ApiKeyView {
    fn from(k: ApiKeyDoc) -> Self {
        Self {
            status: k.status(DateTime::now()),
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            permissions: k.permissions,
            created_by: k.created_by.map(|m| m.to_hex()),
            created_at: k.created_at,
            expires_at: k.expires_at.map(iso),
            last_used_at: k.last_used_at.map(iso),
            revoked_at: k.revoked_at.map(iso),
            rotated_to: k.rotated_to.map(|r| r.to_hex()),
        }
    }
}

/// `data` of a created or rotated key: the key itself, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedKey {
    /// The key (`mk_live_…`): store it now; it is not shown again.
    pub key: String,
    /// The key's record.
    pub api_key: ApiKeyView,
    /// After a rotation: the old key, working until its `expiresAt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<ApiKeyView>,
}

/// `data` of the list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyList {
    /// Newest first (at most 200; a window in cursor mode).
    pub api_keys: Vec<ApiKeyView>,
    /// Cursor mode only: the cursor of the next window, `null` at the end of the list.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<Option<String>>,
}

/// A person's login, not a key: keys cannot make, rotate or revoke keys (a leaked key could
/// otherwise outlive its revocation through a successor).
fn require_login(auth: &AuthMerchant) -> Result<(), ApiError> {
    if auth.identity.api_key.is_some() {
        return Err(ApiError::Forbidden(
            "API keys cannot manage API keys; sign in to do this".into(),
        ));
    }
    Ok(())
}

fn key_id(raw: &str) -> Result<ObjectId, ApiError> {
    object_id(raw, "Invalid API key ID format")
}

fn not_found() -> ApiError {
    ApiError::NotFound("API key not found".into())
}

/// Validate the permissions asked for: known, not repeated, each held by the caller.
fn granted_permissions(
    v: &mut Validator,
    auth: &AuthMerchant,
    asked: Option<Vec<String>>,
) -> Vec<String> {
    let Some(asked) = asked.filter(|p| !p.is_empty()) else {
        v.error(
            "permissions",
            "\"permissions\" must hold at least one permission",
            None,
        );
        return Vec::new();
    };
    let access = auth.access();
    let mut granted: Vec<String> = Vec::new();
    for (i, p) in asked.into_iter().enumerate() {
        let field = format!("permissions[{i}]");
        if !PERMISSIONS.contains(&p.as_str()) {
            v.error(&field, format!("\"{p}\" is not a permission"), None);
        } else if !access.can(&p) {
            v.error(
                &field,
                format!("\"{p}\" is not yours to grant: a key holds only permissions you hold"),
                None,
            );
        } else if !granted.contains(&p) {
            granted.push(p);
        }
    }
    granted
}

/// Make a key.
#[utoipa::path(post, path = "/api/merchant/api-keys", tag = "api-keys", security(("bearer" = [])), request_body = CreateKeyBody,
    responses((status = 201, description = "Made: `data.key` is shown this once", body = crate::openapi::Envelope<IssuedKey>),
        (status = 400, description = "Validation failed (a permission unknown or not held names its index)", body = crate::openapi::ErrorBody),
        (status = 403, description = "`api:manage_keys` missing, or called with an API key", body = crate::openapi::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppJson(body): AppJson<CreateKeyBody>,
) -> Result<Reply<IssuedKey>, ApiError> {
    require_login(&auth)?;
    auth.require("api:manage_keys")?;
    let mut v = Validator::new();
    let name = v.text("name", body.name, Len(1, 100));
    let permissions = granted_permissions(&mut v, &auth, body.permissions);
    let days = v.opt_int("expiresInDays", body.expires_in_days, 1, MAX_DAYS);
    v.finish()?;
    let expires_at = days.map(|d| after_secs(d * 24 * 3600));
    let (plain, doc) = new_key(&auth, name, permissions, expires_at);
    state
        .store
        .insert_api_key(&doc)
        .await
        .map_err(|e| ApiError::internal("Failed to create API key")(e.into_source()))?;
    let audit = AuditChange::action("api_key.created")
        .resource("api_key", doc.id)
        .after(summary(&doc));
    Ok(Reply::data(IssuedKey {
        key: plain,
        api_key: doc.into(),
        previous: None,
    })
    .message("API key created; store it now, it is not shown again")
    .status(StatusCode::CREATED)
    .audit(audit))
}

/// Query of the key list, read in cursor mode only (the list is otherwise its first 200).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyListQuery {
    /// Cursor mode only: keys per window, 1..100 (default 20).
    pub limit: Option<String>,
}

/// The merchant's keys, newest first: the first 200, or a cursor walk.
#[utoipa::path(get, path = "/api/merchant/api-keys", tag = "api-keys", security(("bearer" = [])), params(KeyListQuery, CursorParams),
    responses((status = 200, description = "Keys, newest first (cursor mode: `data.nextCursor` and a `Link` header)", body = crate::openapi::Envelope<ApiKeyList>),
        (status = 400, description = "Query validation failed (a tampered, foreign or mismatched `cursor`)", body = crate::openapi::ErrorBody),
        (status = 403, description = "`api:manage_keys` missing", body = crate::openapi::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthMerchant,
    paging: Paging,
    query: Result<AppQuery<KeyListQuery>, ApiError>,
) -> Result<Reply<ApiKeyList>, ApiError> {
    auth.require("api:manage_keys")?;
    let mut v = Validator::new();
    // No pages and no total: outside cursor mode the first window of LIST_LIMIT, no query read.
    let (window, _) = paging.window(&mut v, &state.auth.cursor, auth.id(), 1);
    let limit = if paging.is_cursor() {
        params::int(&mut v, "limit", query?.0.limit, 1, 100, 20)
    } else {
        LIST_LIMIT
    };
    v.finish_as("Query validation failed")?;
    let keys = state
        .store
        .api_keys_of(auth.id(), &window, limit)
        .await
        .map_err(ApiError::internal("Failed to fetch API keys"))?;
    let more = paging.continuation(&state.auth.cursor, auth.id(), &keys);
    Ok(Reply::data(ApiKeyList {
        api_keys: keys.items.into_iter().map(ApiKeyView::from).collect(),
        next_cursor: more.next_cursor,
    })
    .link(more.link))
}

/// One key.
#[utoipa::path(get, path = "/api/merchant/api-keys/{key_id}", tag = "api-keys", security(("bearer" = [])),
    params(("key_id" = String, Path, description = "API key id")),
    responses((status = 200, description = "The key's record", body = crate::openapi::Envelope<ApiKeyView>),
        (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(raw): Path<String>,
) -> Result<Reply<ApiKeyView>, ApiError> {
    auth.require("api:manage_keys")?;
    let key = state
        .store
        .api_key(auth.id(), key_id(&raw)?)
        .await
        .map_err(ApiError::internal("Failed to fetch API key"))?
        .ok_or_else(not_found)?;
    Ok(Reply::data(key.into()))
}

/// Revoke a key: refused from now on (on other replicas within `AUTH_CACHE_TTL_MS`).
#[utoipa::path(delete, path = "/api/merchant/api-keys/{key_id}", tag = "api-keys", security(("bearer" = [])),
    params(("key_id" = String, Path, description = "API key id")),
    responses((status = 200, description = "Revoked", body = crate::openapi::Envelope<ApiKeyView>),
        (status = 403, description = "`api:manage_keys` missing, or called with an API key", body = crate::openapi::ErrorBody),
        (status = 404, description = "Not found or already revoked", body = crate::openapi::ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(raw): Path<String>,
) -> Result<Reply<ApiKeyView>, ApiError> {
    require_login(&auth)?;
    auth.require("api:manage_keys")?;
    let key = state
        .store
        .revoke_api_key(auth.id(), key_id(&raw)?)
        .await
        .map_err(ApiError::internal("Failed to revoke API key"))?
        .ok_or_else(not_found)?;
    state.api_keys.forget(&key.key_digest);
    let audit = AuditChange::action("api_key.revoked").resource("api_key", key.id);
    Ok(Reply::data(key.into())
        .message("API key revoked")
        .audit(audit))
}

/// Rotate a key: a successor with the same name, permissions and expiry; the old key works
/// for the grace window, then is refused.
#[utoipa::path(post, path = "/api/merchant/api-keys/{key_id}/rotate", tag = "api-keys", security(("bearer" = [])), request_body = RotateKeyBody,
    params(("key_id" = String, Path, description = "API key id")),
    responses((status = 201, description = "Rotated: `data.key` is the successor, shown this once; `data.previous` the old key", body = crate::openapi::Envelope<IssuedKey>),
        (status = 400, description = "Validation failed", body = crate::openapi::ErrorBody),
        (status = 404, description = "Not found", body = crate::openapi::ErrorBody),
        (status = 409, description = "`KEY_NOT_ROTATABLE`: revoked, expired or already rotated", body = crate::openapi::ErrorBody)))]
pub async fn rotate(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(raw): Path<String>,
    AppJson(body): AppJson<RotateKeyBody>,
) -> Result<Reply<IssuedKey>, ApiError> {
    require_login(&auth)?;
    auth.require("api:manage_keys")?;
    let mut v = Validator::new();
    let grace = v
        .opt_int("graceSeconds", body.grace_seconds, 0, MAX_GRACE_SECS)
        .unwrap_or(DEFAULT_GRACE_SECS);
    v.finish()?;
    let failed = || ApiError::internal("Failed to rotate API key");
    let old = state
        .store
        .api_key(auth.id(), key_id(&raw)?)
        .await
        .map_err(failed())?
        .ok_or_else(not_found)?;
    if old.status(DateTime::now()) != "active" || old.rotated_to.is_some() {
        return Err(not_rotatable());
    }
    let (plain, new) = new_key(
        &auth,
        old.name.clone(),
        old.permissions.clone(),
        old.expires_at,
    );
    state
        .store
        .insert_api_key(&new)
        .await
        .map_err(|e| failed()(e.into_source()))?;
    let retired = state
        .store
        .retire_api_key(auth.id(), &old, new.id, after_secs(grace))
        .await
        .map_err(failed())?;
    let Some(previous) = retired else {
        // Revoked or rotated meanwhile: nobody gets the successor.
        state.store.delete_api_key(new.id).await.map_err(failed())?;
        return Err(not_rotatable());
    };
    state.api_keys.forget(&previous.key_digest);
    let audit = AuditChange::action("api_key.rotated")
        .resource("api_key", new.id)
        .before(summary(&previous))
        .after(summary(&new));
    Ok(Reply::data(IssuedKey {
        key: plain,
        api_key: new.into(),
        previous: Some(previous.into()),
    })
    .message("API key rotated; store the new key now, it is not shown again")
    .status(StatusCode::CREATED)
    .audit(audit))
}

fn not_rotatable() -> ApiError {
    ApiError::Protocol {
        status: StatusCode::CONFLICT,
        code: "KEY_NOT_ROTATABLE",
        message: "Only an active key that was not rotated yet can be rotated".into(),
        extra: None,
    }
}

/// A new key of the caller's: the plain value and its record.
fn new_key(
    auth: &AuthMerchant,
    name: String,
    permissions: Vec<String>,
    expires_at: Option<DateTime>,
) -> (String, ApiKeyDoc) {
    let key = api_key::generate();
    let doc = ApiKeyDoc {
        id: ObjectId::new(),
        merchant_id: auth.id(),
        name,
        prefix: key.prefix,
        key_digest: key.digest,
        permissions,
        created_by: auth.member.as_ref().map(|m| m.id),
        created_at: DateTime::now(),
        expires_at,
        last_used_at: None,
        revoked_at: None,
        rotated_to: None,
    };
    (key.plain, doc)
}

/// What the audit trail keeps of a key (never its digest).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeySummary<'a> {
    name: &'a str,
    prefix: &'a str,
    permissions: &'a [String],
    expires_at: Option<String>,
}

fn summary(k: &ApiKeyDoc) -> KeySummary<'_> {
    KeySummary {
        name: &k.name,
        prefix: &k.prefix,
        permissions: &k.permissions,
        expires_at: k.expires_at.map(iso),
    }
}

fn after_secs(secs: i64) -> DateTime {
    DateTime::from_millis(DateTime::now().timestamp_millis() + secs * 1000)
}
