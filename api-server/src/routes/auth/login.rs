//! Login for owners and team members (lockout after 5 failures, bcrypt→Argon2id rehash) and
//! token refresh.

use std::time::Duration;

use axum::{extract::State, http::HeaderMap};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::{
    issue_tokens, owner_claims,
    types::{LoginBody, RefreshBody, summary_json},
};
use crate::{
    audit::{Actor, AuditChange, AuditEvent, RequestFacts, Severity},
    domain::{Email, role_permissions},
    error::ApiError,
    extract::{AppJson, ClientIp, load_principal},
    routes::Reply,
    security::{
        identity::{Identity, bearer},
        jwt::{Claims, TokenError},
        password::{self, Verified},
    },
    state::AppState,
    store::{
        DateTime, ObjectId,
        json::iso,
        merchants::MerchantDoc,
        users::{AccountKind, FailedLogin, MerchantUserDoc},
    },
};

const MAX_FAILURES: i32 = 5;
const LOCK_FOR: Duration = Duration::from_secs(30 * 60);

/// The account a login matched.
struct Account {
    kind: AccountKind,
    id: ObjectId,
    hash: Option<String>,
    locked_until: Option<DateTime>,
}

fn invalid() -> ApiError {
    ApiError::unauthorized("Invalid credentials")
}

fn check_lock(until: Option<DateTime>) -> Result<(), ApiError> {
    let Some(until) = until.filter(|u| *u > DateTime::now()) else {
        return Ok(());
    };
    let minutes =
        (until.timestamp_millis() - DateTime::now().timestamp_millis()).div_euclid(60_000) + 1;
    Err(ApiError::Locked {
        message: format!(
            "Account is locked due to too many failed login attempts. Please try again in {minutes} minutes or reset your password."
        ),
        locked_until: iso(until),
    })
}

/// Verify the password of a matched account, counting failures; returns a new hash to store
/// when the old one must be upgraded.
async fn authenticate(
    state: &AppState,
    account: &Account,
    password: SecretString,
) -> Result<Option<String>, ApiError> {
    check_lock(account.locked_until)?;
    let verified = password::verify(password.clone(), account.hash.clone())
        .await
        .map_err(super::hash_failed)?;
    match verified {
        Verified::Yes { rehash: false } => Ok(None),
        Verified::Yes { rehash: true } => Ok(password::hash(password).await.ok()),
        Verified::No => {
            let failed = state
                .store
                .record_failed_login(account.kind, account.id, MAX_FAILURES, LOCK_FOR)
                .await
                .map_err(ApiError::internal("Login failed"))?;
            Err(match failed {
                FailedLogin::Remaining(n) => ApiError::Unauthorized {
                    message: format!("Invalid credentials. {n} attempts remaining before account lock."),
                    extra: Some([("attemptsRemaining".to_string(), json!(n))].into_iter().collect()),
                },
                FailedLogin::Locked(until) => ApiError::Locked {
                    message: "Account is locked due to too many failed login attempts. Please try again in 30 minutes or reset your password.".into(),
                    locked_until: iso(until),
                },
            })
        }
    }
}

fn member_claims(member: &MerchantUserDoc) -> Claims {
    Claims {
        merchant_id: member.merchant_id.to_hex(),
        role: Some(member.role.clone()),
        permissions: Some(role_permissions(&member.role)),
        merchant_user_id: Some(member.id.to_hex()),
        typ: None,
        iat: 0,
        exp: 0,
    }
}

fn session_data(
    state: &AppState,
    claims: Claims,
    merchant: &MerchantDoc,
    member: Option<&MerchantUserDoc>,
) -> Result<Value, ApiError> {
    let role = claims.role.clone().unwrap_or_else(|| "owner".into());
    let permissions = claims.permissions.clone().unwrap_or_default();
    let (token, refresh_token) = issue_tokens(state, claims)?;
    let mut data = json!({
        "token": token,
        "refreshToken": refresh_token,
        "expiresIn": state.auth.access_ttl.as_secs(),
        "role": role,
        "permissions": permissions,
        "merchant": summary_json(merchant, member.is_none()),
    });
    if let Some(m) = member {
        data["user"] = json!({ "id": m.id.to_hex(), "name": m.name, "email": m.email, "role": m.role, "status": m.status });
    }
    Ok(data)
}

/// Log in as an owner or a team member.
#[utoipa::path(post, path = "/api/merchant/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, description = "Logged in", body = crate::openapi::Envelope),
        (status = 400, description = "Validation failed", body = crate::openapi::ErrorBody),
        (status = 401, description = "Invalid credentials", body = crate::openapi::ErrorBody),
        (status = 403, description = "Team account not active", body = crate::openapi::ErrorBody),
        (status = 423, description = "Account locked", body = crate::openapi::ErrorBody),
        (status = 429, description = "Too many failed attempts", body = crate::openapi::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    AppJson(body): AppJson<LoginBody>,
) -> Result<Reply, ApiError> {
    let facts = RequestFacts::from_headers(ip.clone(), &headers);
    let (email, password) = body.validate()?;
    let password = SecretString::from(password);
    let (merchant, member) = find_account(&state, &email, &password).await?;
    let account = account_of(&merchant, member.as_ref());
    let actor = Actor {
        merchant: merchant.id,
        member: member.as_ref().map(|m| m.id),
    };
    let rehashed = match authenticate(&state, &account, password).await {
        Ok(r) => r,
        Err(e) => {
            audit_failure(&state, actor, &e, facts);
            return Err(e);
        }
    };
    if !merchant.is_active {
        return Err(ApiError::unauthorized("Merchant account is deactivated"));
    }
    state
        .store
        .record_login(account.kind, account.id, &ip, rehashed)
        .await
        .map_err(ApiError::internal("Login failed"))?;
    tracing::info!(merchant = %merchant.id, "auth.login");
    audit_success(&state, actor, account.id, facts);
    let claims = member
        .as_ref()
        .map_or_else(|| owner_claims(merchant.id, true), member_claims);
    let data = session_data(&state, claims, &merchant, member.as_ref())?;
    // Recorded above with the account as actor; the middleware must not add a second record.
    let reply = Reply::data(data)
        .message("Login successful")
        .audit(AuditChange::handled());
    Ok(if merchant.email_verified {
        reply
    } else {
        reply.with(
            "warning",
            json!("Please verify your email to access all features."),
        )
    })
}

/// The owner with this e-mail, else the active team member with it and their merchant. An
/// unknown e-mail still costs one password hash, so timing does not tell accounts apart.
async fn find_account(
    state: &AppState,
    email: &Email,
    password: &SecretString,
) -> Result<(MerchantDoc, Option<MerchantUserDoc>), ApiError> {
    let store = &state.store;
    let failed = || ApiError::internal("Login failed");
    let owner = store
        .merchant_by_email(email.as_str())
        .await
        .map_err(failed())?;
    let members = store
        .members_by_email(email.as_str())
        .await
        .map_err(failed())?;
    if let Some(owner) = owner {
        // The owner account wins unless the password is that of the address's membership of
        // another merchant: registering an address never locks its invitations out.
        let other = members
            .first()
            .is_some_and(|m| m.status == "active" && m.password.is_some());
        if other
            && !matches(password, Some(owner.password.clone())).await?
            && let Some(i) = matching(&members, password).await?
        {
            let member = members.into_iter().nth(i).ok_or_else(invalid)?;
            let merchant = store.merchant(member.merchant_id).await.map_err(failed())?;
            return Ok((merchant.ok_or_else(invalid)?, Some(member)));
        }
        return Ok((owner, None));
    }
    let Some(member) = member_for(members, password).await? else {
        password::verify_dummy(password.clone())
            .await
            .map_err(super::hash_failed)?;
        return Err(invalid());
    };
    let merchant = store
        .merchant(member.merchant_id)
        .await
        .map_err(failed())?
        .ok_or_else(invalid)?;
    if member.status != "active" {
        return Err(ApiError::Forbidden(format!(
            "Account is {}. Please contact your administrator.",
            member.status
        )));
    }
    Ok((merchant, Some(member)))
}

/// Whether `password` matches `hash`.
async fn matches(password: &SecretString, hash: Option<String>) -> Result<bool, ApiError> {
    let verified = password::verify(password.clone(), hash)
        .await
        .map_err(super::hash_failed)?;
    Ok(matches!(verified, Verified::Yes { .. }))
}

/// The index of the active, accepted membership whose password this is.
async fn matching(
    members: &[MerchantUserDoc],
    password: &SecretString,
) -> Result<Option<usize>, ApiError> {
    for (i, m) in members.iter().enumerate() {
        if m.status != "active" || m.password.is_none() {
            break;
        }
        if matches(password, m.password.clone()).await? {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Which of the address's memberships logs in: when several merchants' accepted memberships
/// share it, the one whose password matches; otherwise the first of `members` (already
/// ordered, see `Store::members_by_email`), whose password check then fails or passes as usual.
async fn member_for(
    mut members: Vec<MerchantUserDoc>,
    password: &SecretString,
) -> Result<Option<MerchantUserDoc>, ApiError> {
    let accepted = members
        .iter()
        .take_while(|m| m.status == "active" && m.password.is_some())
        .count();
    if accepted > 1
        && let Some(i) = matching(&members, password).await?
    {
        return Ok(Some(members.swap_remove(i)));
    }
    Ok(members.into_iter().next())
}

/// The credentials and lockout state of the account logging in.
fn account_of(merchant: &MerchantDoc, member: Option<&MerchantUserDoc>) -> Account {
    match member {
        None => Account {
            kind: AccountKind::Owner,
            id: merchant.id,
            hash: Some(merchant.password.clone()),
            locked_until: merchant.account_locked_until,
        },
        Some(m) => Account {
            kind: AccountKind::Member,
            id: m.id,
            hash: m.password.clone(),
            locked_until: m.account_locked_until,
        },
    }
}

/// Record a successful login with the account as actor.
fn audit_success(state: &AppState, actor: Actor, account: ObjectId, facts: RequestFacts) {
    state.audit.event(
        AuditEvent {
            actor,
            action: "auth.login",
            resource_type: "auth",
            resource_id: Some(account),
            severity: Severity::Info,
            metadata: None,
        },
        facts,
    );
}

/// Record a refused login of a known account (wrong password or locked).
fn audit_failure(state: &AppState, actor: Actor, error: &ApiError, facts: RequestFacts) {
    let severity = match error {
        ApiError::Locked { .. } => Severity::Critical,
        ApiError::Unauthorized { .. } => Severity::Warning,
        _ => return,
    };
    state.audit.event(
        AuditEvent {
            actor,
            action: "auth.failed_login",
            resource_type: "auth",
            resource_id: Some(actor.member.unwrap_or(actor.merchant)),
            severity,
            metadata: Some(json!({ "reason": error.to_string() })),
        },
        facts,
    );
}

fn refresh_claims(
    state: &AppState,
    headers: &HeaderMap,
    body: RefreshBody,
) -> Result<Claims, ApiError> {
    let invalid = |_: TokenError| ApiError::unauthorized("Invalid token");
    if let Some(token) = body.refresh_token.filter(|t| !t.is_empty()) {
        return state.auth.verify_refresh(&token).map_err(invalid);
    }
    let token = bearer(headers).ok_or_else(|| ApiError::unauthorized("No token provided"))?;
    state.auth.verify_access_for_refresh(token).map_err(invalid)
}

/// Exchange a refresh token (body) or a recently expired access token (header) for new tokens.
#[utoipa::path(post, path = "/api/merchant/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses((status = 200, description = "New tokens", body = crate::openapi::Envelope),
        (status = 401, description = "Missing or invalid token", body = crate::openapi::ErrorBody),
        (status = 404, description = "Merchant not found", body = crate::openapi::ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppJson(body): AppJson<RefreshBody>,
) -> Result<Reply, ApiError> {
    let claims = refresh_claims(&state, &headers, body)?;
    let identity = std::sync::Arc::new(Identity::from_claims(claims));
    let principal = load_principal(&state, identity)
        .await
        .map_err(|e| match e {
            ApiError::Unauthorized { message, .. } if message.ends_with("merchant not found") => {
                ApiError::NotFound("Merchant not found".into())
            }
            other => other,
        })?;
    let claims = principal
        .member
        .as_ref()
        .map_or_else(|| owner_claims(principal.id(), true), member_claims);
    let data = session_data(
        &state,
        claims,
        &principal.merchant,
        principal.member.as_ref(),
    )?;
    Ok(Reply::data(data).message("Token refreshed successfully"))
}
