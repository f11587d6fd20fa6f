//! Login for owners and team members (lockout after 5 failures, bcrypt→Argon2id rehash) and
//! token refresh.

use std::time::Duration;

use axum::{extract::State, http::HeaderMap};
use secrecy::SecretString;
use serde::Serialize;

use super::{
    Grant, invalid_token, issue_tokens, new_jti, owner_claims, refresh_expiry, start_session,
    types::{LoginBody, RefreshBody},
    views::{LoginEnvelope, Session, SessionData},
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
        password::Verified,
    },
    state::AppState,
    store::{
        DateTime, ObjectId,
        json::iso,
        merchants::MerchantDoc,
        sessions::Rotation,
        users::{AccountKind, LoginAttempt, MerchantUserDoc},
    },
};

const MAX_FAILURES: i32 = 5;
const LOCK_FOR: Duration = Duration::from_secs(30 * 60);

/// The account a login matched.
struct Account {
    kind: AccountKind,
    id: ObjectId,
    hash: Option<String>,
}

fn invalid() -> ApiError {
    ApiError::unauthorized("Invalid credentials")
}

/// The 423 of a locked account.
pub(crate) fn locked(until: DateTime) -> ApiError {
    let minutes =
        (until.timestamp_millis() - DateTime::now().timestamp_millis()).div_euclid(60_000) + 1;
    ApiError::Locked {
        message: format!(
            "Account is locked due to too many failed login attempts. Please try again in {} minutes or reset your password.",
            minutes.max(1)
        ),
        locked_until: iso(until),
    }
}

/// Count an attempt at `account`'s password before it is checked (the lockout's budget cannot
/// be outrun by parallel guesses): the number of consecutive attempts so far, and when the
/// account locks if this is the last one allowed. Locked accounts are refused unchecked.
pub(crate) async fn count_attempt(
    state: &AppState,
    kind: AccountKind,
    id: ObjectId,
) -> Result<(i32, Option<DateTime>), ApiError> {
    let attempt = state
        .store
        .begin_login_attempt(kind, id, MAX_FAILURES, LOCK_FOR)
        .await
        .map_err(ApiError::internal("Login failed"))?;
    match attempt {
        LoginAttempt::Counted(n) => Ok((n, None)),
        LoginAttempt::Last(until) => Ok((MAX_FAILURES, Some(until))),
        LoginAttempt::Locked(until) => Err(locked(until)),
    }
}

/// Verify the password of a matched account, the attempt counted first; returns a new hash to
/// store when the old one must be upgraded.
async fn authenticate(
    state: &AppState,
    account: &Account,
    password: SecretString,
) -> Result<Option<String>, ApiError> {
    let (attempts, locks_at) = count_attempt(state, account.kind, account.id).await?;
    let verified = state
        .hasher
        .verify(password.clone(), account.hash.clone())
        .await
        .map_err(super::hash_failed)?;
    match verified {
        Verified::Yes { rehash: false } => Ok(None),
        Verified::Yes { rehash: true } => Ok(state.hasher.hash(password).await.ok()),
        Verified::No => Err(match locks_at {
            None => {
                let n = MAX_FAILURES - attempts;
                ApiError::Unauthorized {
                    message: format!("Invalid credentials. {n} attempts remaining before account lock."),
                    extra: Some([("attemptsRemaining".to_string(), n.into())].into_iter().collect()),
                }
            }
            Some(until) => ApiError::Locked {
                message: "Account is locked due to too many failed login attempts. Please try again in 30 minutes or reset your password.".into(),
                locked_until: iso(until),
            },
        }),
    }
}

fn member_claims(member: &MerchantUserDoc) -> Claims {
    Claims {
        role: Some(member.role.clone()),
        permissions: Some(role_permissions(&member.role)),
        merchant_user_id: Some(member.id.to_hex()),
        mv: (member.session_version != 0).then_some(member.session_version),
        ..Claims::for_merchant(member.merchant_id.to_hex())
    }
}

fn session_data(
    state: &AppState,
    claims: Claims,
    grant: &Grant,
    merchant: MerchantDoc,
    member: Option<MerchantUserDoc>,
) -> Result<Session, ApiError> {
    let role = claims.role.clone().unwrap_or_else(|| "owner".into());
    let permissions = claims.permissions.clone().unwrap_or_default();
    let (token, refresh_token) = issue_tokens(state, claims, grant)?;
    Ok(Session {
        token,
        refresh_token,
        expires_in: state.auth.access_ttl.as_secs(),
        role,
        permissions,
        merchant,
        member,
    })
}

/// Log in as an owner or a team member.
#[utoipa::path(post, path = "/api/merchant/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, description = "Logged in (`warning` while the e-mail is unverified)", body = LoginEnvelope),
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
) -> Result<Reply<Session>, ApiError> {
    let facts = RequestFacts::from_headers(ip.clone(), &headers);
    let (email, password) = body.validate()?;
    let password = SecretString::from(password);
    let mut refused = None;
    for (merchant, member) in candidates(&state, &email, &password).await? {
        let account = account_of(&merchant, member.as_ref());
        let actor = Actor {
            merchant: merchant.id,
            member: member.as_ref().map(|m| m.id),
        };
        match authenticate(&state, &account, password.clone()).await {
            Ok(rehashed) => {
                let signed_in = SignedIn {
                    merchant,
                    member,
                    account,
                    actor,
                    rehashed,
                };
                return signed_in.reply(&state, &ip, facts).await;
            }
            Err(e) => {
                audit_failure(&state, actor, &e, facts.clone());
                refused.get_or_insert(e);
            }
        }
    }
    Err(refused.unwrap_or_else(invalid))
}

/// An account whose password matched.
struct SignedIn {
    merchant: MerchantDoc,
    member: Option<MerchantUserDoc>,
    account: Account,
    actor: Actor,
    rehashed: Option<String>,
}

impl SignedIn {
    /// Record the login, start the session and answer with its tokens.
    async fn reply(
        self,
        state: &AppState,
        ip: &str,
        facts: RequestFacts,
    ) -> Result<Reply<Session>, ApiError> {
        let Self {
            merchant,
            member,
            account,
            actor,
            rehashed,
        } = self;
        if !merchant.is_active {
            return Err(ApiError::unauthorized("Merchant account is deactivated"));
        }
        state
            .store
            .record_login(account.kind, account.id, ip, rehashed)
            .await
            .map_err(ApiError::internal("Login failed"))?;
        tracing::info!(merchant = %merchant.id, "auth.login");
        audit_success(state, actor, account.id, facts);
        let claims = member
            .as_ref()
            .map_or_else(|| owner_claims(merchant.id, true), member_claims);
        let grant = start_session(state, &merchant, member.as_ref().map(|m| m.id), None).await?;
        let verified = merchant.email_verified;
        let data = session_data(state, claims, &grant, merchant, member)?;
        // Recorded above with the account as actor; the middleware must not add a second record.
        let reply = Reply::data(data)
            .message("Login successful")
            .audit(AuditChange::handled());
        Ok(if verified {
            reply
        } else {
            reply.warning("Please verify your email to access all features.")
        })
    }
}

/// The accounts this address may sign in to, in the order their passwords are tried: the owner
/// account first, then the address's accepted memberships of other merchants (so registering an
/// address never locks its invitations out). Each is tried with its attempt counted first, so
/// several accounts never buy extra guesses. A lone membership that is not active is refused
/// before any check; an unknown address still costs one password hash, so timing does not tell
/// accounts apart.
async fn candidates(
    state: &AppState,
    email: &Email,
    password: &SecretString,
) -> Result<Vec<(MerchantDoc, Option<MerchantUserDoc>)>, ApiError> {
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
    let accepted = |m: &MerchantUserDoc| m.status == "active" && m.password.is_some();
    let mut found: Vec<_> = owner.into_iter().map(|o| (o, None)).collect();
    let tried: Vec<MerchantUserDoc> = if found.is_empty() && !members.iter().any(accepted) {
        // The contract's single-membership path: its status decides before the password.
        members.into_iter().take(1).collect()
    } else {
        members.into_iter().filter(|m| accepted(m)).collect()
    };
    for member in tried {
        if member.status != "active" {
            return Err(ApiError::Forbidden(format!(
                "Account is {}. Please contact your administrator.",
                member.status
            )));
        }
        if let Some(merchant) = store.merchant(member.merchant_id).await.map_err(failed())? {
            found.push((merchant, Some(member)));
        }
    }
    if found.is_empty() {
        state
            .hasher
            .verify_dummy(password.clone())
            .await
            .map_err(super::hash_failed)?;
        return Err(invalid());
    }
    Ok(found)
}

/// The credentials and lockout state of the account logging in.
fn account_of(merchant: &MerchantDoc, member: Option<&MerchantUserDoc>) -> Account {
    match member {
        None => Account {
            kind: AccountKind::Owner,
            id: merchant.id,
            hash: Some(merchant.password.clone()),
        },
        Some(m) => Account {
            kind: AccountKind::Member,
            id: m.id,
            hash: m.password.clone(),
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

/// What the record of a refused login keeps.
#[derive(Serialize)]
struct FailureReason {
    reason: String,
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
            metadata: crate::audit::snapshot(&FailureReason {
                reason: error.to_string(),
            }),
        },
        facts,
    );
}

/// The token `/refresh` was given and what kind it is.
struct Presented {
    claims: Claims,
    /// A refresh token (else an access token, as older clients send).
    refresh: bool,
    raw: String,
}

fn presented(
    state: &AppState,
    headers: &HeaderMap,
    body: RefreshBody,
) -> Result<Presented, ApiError> {
    let invalid = |_: TokenError| invalid_token();
    if let Some(raw) = body.refresh_token.filter(|t| !t.is_empty()) {
        // Older clients (the contract's server had no refresh tokens) send their access token
        // here too.
        return match state.auth.verify_refresh(&raw) {
            Ok(claims) => Ok(Presented {
                claims,
                refresh: true,
                raw,
            }),
            Err(_) => state
                .auth
                .verify_access_for_refresh(&raw)
                .map(|claims| Presented {
                    claims,
                    refresh: false,
                    raw: raw.clone(),
                })
                .map_err(invalid),
        };
    }
    let raw = bearer(headers).ok_or_else(|| ApiError::unauthorized("No token provided"))?;
    let claims = state.auth.verify_access_for_refresh(raw).map_err(invalid)?;
    Ok(Presented {
        claims,
        refresh: false,
        raw: raw.to_string(),
    })
}

/// The session the new tokens are issued in: the presented refresh token's family rotated
/// (a spent token ends it), an access token's live session given a new refresh token, or, for a
/// token without a session (older releases), a new session it is exchanged into once.
async fn next_grant(
    state: &AppState,
    presented: &Presented,
    principal: &crate::extract::AuthMerchant,
) -> Result<Grant, ApiError> {
    let failed = || ApiError::internal("Failed to refresh token");
    let version = principal.merchant.session_version;
    let Some(family) = principal.identity.session() else {
        let origin = crate::security::token::digest(&presented.raw);
        let member = principal.member.as_ref().map(|m| m.id);
        return start_session(state, &principal.merchant, member, Some(origin)).await;
    };
    let next = new_jti();
    let expires = refresh_expiry(state);
    if !presented.refresh {
        let live = state
            .store
            .reissue_session(family, principal.id(), &next, expires)
            .await
            .map_err(failed())?;
        return live
            .then_some(Grant {
                family,
                jti: next,
                version,
            })
            .ok_or_else(invalid_token);
    }
    let jti = presented.claims.jti.as_deref().ok_or_else(invalid_token)?;
    match state
        .store
        .rotate_session(family, jti, &next, expires)
        .await
        .map_err(failed())?
    {
        Rotation::Rotated => Ok(Grant {
            family,
            jti: next,
            version,
        }),
        Rotation::Reused => {
            tracing::warn!(merchant = %principal.id(), session = %family, "auth.refresh_reuse: a spent refresh token was presented again; its session is revoked");
            Err(invalid_token())
        }
        Rotation::Gone => Err(invalid_token()),
    }
}

/// Exchange a refresh token (body) or a recently expired access token (header) for new tokens.
/// Refresh tokens rotate: each is exchanged once, and presenting a spent one ends its session.
#[utoipa::path(post, path = "/api/merchant/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses((status = 200, description = "New tokens", body = crate::openapi::Envelope<SessionData>),
        (status = 401, description = "Missing, invalid, spent or revoked token", body = crate::openapi::ErrorBody),
        (status = 404, description = "Merchant not found", body = crate::openapi::ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppJson(body): AppJson<RefreshBody>,
) -> Result<Reply<Session>, ApiError> {
    let presented = presented(&state, &headers, body)?;
    let identity = std::sync::Arc::new(Identity::from_claims(presented.claims.clone()));
    let principal = load_principal(&state, identity)
        .await
        .map_err(|e| match e {
            ApiError::Unauthorized { message, .. } if message.ends_with("merchant not found") => {
                ApiError::NotFound("Merchant not found".into())
            }
            other => other,
        })?;
    let grant = next_grant(&state, &presented, &principal).await?;
    let claims = principal
        .member
        .as_deref()
        .map_or_else(|| owner_claims(principal.id(), true), member_claims);
    let merchant = std::sync::Arc::unwrap_or_clone(principal.merchant);
    let member = principal.member.map(std::sync::Arc::unwrap_or_clone);
    let data = session_data(&state, claims, &grant, merchant, member)?;
    Ok(Reply::data(data).message("Token refreshed successfully"))
}
