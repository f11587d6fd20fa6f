//! `/api/merchant/auth`: registration, login, tokens, profile and password flows (contract §2.1
//! and §4). Submodules hold the flows; this file holds the router and the simple handlers.

mod login;
mod passwords;
mod sessions;
pub mod types;
mod verify;
pub mod views;

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    middleware::from_fn_with_state,
    routing::{get, post, put},
};

pub use login::{__path_login, __path_refresh, login, refresh};
pub use passwords::{
    __path_change_password, __path_forgot_password, __path_reset_password,
    __path_reset_password_with_token, change_password, forgot_password, reset_password,
    reset_password_with_token,
};
pub use sessions::{__path_revoke_all, revoke_all};
pub use verify::{
    __path_resend_verification, __path_verify_email, __path_verify_email_with_token,
    resend_verification, verify_email, verify_email_with_token,
};

use self::{
    types::{NewMerchant, ProfileBody, RegisterBody},
    views::{Profile, ProfileData, Registered, Registration, SmokeTestBody},
};
use super::Reply;
use crate::{
    error::{ApiError, on_duplicate_key},
    extract::{AppJson, AuthMerchant},
    mail,
    ratelimit::{Limit, enforce},
    security::{jwt::Claims, password, token},
    state::AppState,
    store::{
        DateTime, ObjectId,
        merchants::{MerchantDoc, NewMerchantAccount},
        sessions::SessionDoc,
    },
};

/// Auth routes with their limiters.
pub fn router(state: &AppState) -> Router<AppState> {
    let limit = |l: Limit| from_fn_with_state((state.clone(), l), enforce);
    Router::new()
        .route("/register", post(register).layer(limit(Limit::Register)))
        .route("/login", post(login).layer(limit(Limit::Auth)))
        .route("/refresh", post(refresh).layer(limit(Limit::Auth)))
        .route(
            "/resend-verification",
            post(resend_verification).layer(limit(Limit::Auth)),
        )
        .route(
            "/forgot-password",
            post(forgot_password).layer(limit(Limit::PasswordReset)),
        )
        .route(
            "/reset-password/{token}",
            post(reset_password_with_token).layer(limit(Limit::PasswordReset)),
        )
        .route("/reset-password", post(reset_password))
        .route("/verify-email/{token}", post(verify_email_with_token))
        .route("/verify-email", post(verify_email))
        .route("/me", get(me))
        .route("/profile", put(update_profile))
        .route("/change-password", put(change_password))
        .route("/logout", post(logout))
        .route("/sessions/revoke-all", post(revoke_all))
        .route("/test", get(auth_test))
}

/// Claims of an owner token.
pub(crate) fn owner_claims(merchant: ObjectId, with_permissions: bool) -> Claims {
    Claims {
        role: with_permissions.then(|| "owner".to_string()),
        permissions: with_permissions.then(|| crate::domain::role_permissions("owner")),
        ..Claims::for_merchant(merchant.to_hex())
    }
}

/// The session a pair of tokens is issued in: its family, the id of its (only) live refresh
/// token, and the owner account's session version.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub family: ObjectId,
    pub jti: String,
    pub version: i64,
}

/// When a refresh token issued now expires.
pub(crate) fn refresh_expiry(state: &AppState) -> DateTime {
    let ttl = i64::try_from(state.auth.refresh_ttl.as_millis()).unwrap_or(i64::MAX / 2);
    DateTime::from_millis(DateTime::now().timestamp_millis().saturating_add(ttl))
}

/// A new id for a refresh token.
pub(crate) fn new_jti() -> String {
    token::generate().plain
}

/// The refresh-token refusal of the contract.
pub(crate) fn invalid_token() -> ApiError {
    ApiError::unauthorized("Invalid token")
}

/// Start a session (a new refresh-token family) for the merchant's owner or `member`.
/// `origin`: the digest of a stateless token of the older release being exchanged; each is
/// exchanged once, and presenting it again ends the session it became.
pub(crate) async fn start_session(
    state: &AppState,
    merchant: &MerchantDoc,
    member: Option<ObjectId>,
    origin: Option<String>,
) -> Result<Grant, ApiError> {
    let session = SessionDoc {
        id: ObjectId::new(),
        merchant_id: merchant.id,
        member_id: member,
        current: new_jti(),
        origin: origin.clone(),
        revoked_at: None,
        created_at: DateTime::now(),
        expires_at: refresh_expiry(state),
    };
    match state.store.start_session(&session).await {
        Ok(()) => Ok(Grant {
            family: session.id,
            jti: session.current,
            version: merchant.session_version,
        }),
        Err(e) if e.is_duplicate_key() => {
            if let Some(origin) = origin {
                tracing::warn!(merchant = %merchant.id, "auth.refresh_reuse: a spent stateless token was presented again; its session is revoked");
                state
                    .store
                    .revoke_session_from(&origin)
                    .await
                    .map_err(ApiError::internal("Failed to refresh token"))?;
            }
            Err(invalid_token())
        }
        Err(e) => Err(ApiError::internal("Failed to issue token")(e.into_source())),
    }
}

/// Access and refresh tokens for claims, in the session `grant`.
pub(crate) fn issue_tokens(
    state: &AppState,
    mut claims: Claims,
    grant: &Grant,
) -> Result<(String, String), ApiError> {
    let sign_failed = |_| ApiError::Internal {
        message: "Failed to issue token",
        source: "signing failed".into(),
    };
    claims.sid = Some(grant.family.to_hex());
    claims.sv = (grant.version != 0).then_some(grant.version);
    let access = state
        .auth
        .sign_access(claims.clone())
        .map_err(sign_failed)?;
    claims.jti = Some(grant.jti.clone());
    let refresh = state.auth.sign_refresh(claims).map_err(sign_failed)?;
    Ok((access, refresh))
}

/// A link into the merchant front end.
pub(crate) fn link(state: &AppState, path: &str, token: &str) -> String {
    format!("{}/{path}/{token}", state.settings.frontend_url)
}

pub(crate) fn hash_failed(e: password::PasswordError) -> ApiError {
    match e {
        password::PasswordError::Busy => ApiError::Busy {
            message: "Server busy. Please try again shortly.",
            retry_after: 1,
        },
        e => ApiError::Internal {
            message: "Failed to process password",
            source: Box::new(e),
        },
    }
}

fn new_merchant_doc(input: NewMerchant, hash: String, verification_digest: String) -> MerchantDoc {
    let mut merchant = MerchantDoc::new_account(NewMerchantAccount {
        business_name: input.business_name,
        owner_name: input.owner_name,
        email: input.email.as_str().to_string(),
        password: hash,
        phone: input.phone,
        business_address: input.address,
    });
    merchant.email_verification_token = Some(verification_digest);
    merchant.email_verification_expiry = Some(DateTime::from_millis(
        merchant.created_at.timestamp_millis() + 24 * 3600 * 1000,
    ));
    merchant
}

fn email_taken() -> ApiError {
    ApiError::BadRequest("Merchant with this email already exists".into())
}

/// Register a merchant, auto-create its store and e-mail a verification link.
#[utoipa::path(post, path = "/api/merchant/auth/register", tag = "auth", request_body = RegisterBody,
    responses((status = 201, description = "Registered", body = crate::openapi::Envelope<Registered>),
        (status = 400, description = "Validation failed or e-mail taken", body = crate::openapi::ErrorBody),
        (status = 429, description = "Registration limit", body = crate::openapi::ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    AppJson(body): AppJson<RegisterBody>,
) -> Result<Reply<Registration>, ApiError> {
    let input = body.validate()?;
    let store = &state.store;
    if store
        .merchant_by_email(input.email.as_str())
        .await
        .map_err(ApiError::internal("Registration failed"))?
        .is_some()
    {
        return Err(email_taken());
    }
    let hash = state
        .hasher
        .hash(input.password.0.clone())
        .await
        .map_err(hash_failed)?;
    let verification = token::generate();
    let merchant = new_merchant_doc(input, hash, verification.digest);
    store
        .insert_merchant(&merchant)
        .await
        .map_err(on_duplicate_key(email_taken, "Registration failed"))?;
    create_store(&state, &merchant).await;
    let grant = start_session(&state, &merchant, None, None).await?;
    state.mailer.send(mail::verification(
        &merchant.email,
        &merchant.owner_name,
        &link(&state, "verify-email", &verification.plain),
    ));
    let (token, refresh_token) = issue_tokens(&state, owner_claims(merchant.id, false), &grant)?;
    let data = Registration {
        token,
        refresh_token,
        merchant,
    };
    Ok(Reply::data(data)
        .message(
            "Merchant registered successfully. Please check your email to verify your account.",
        )
        .status(StatusCode::CREATED))
}

/// Best-effort store creation (the contract ignores failures; they are logged).
async fn create_store(state: &AppState, merchant: &MerchantDoc) {
    let result = async {
        let category = state.store.ensure_category("General").await?;
        state.store.create_default_shop(merchant, category).await
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, merchant = %merchant.id, "failed to auto-create the merchant's store");
    }
}

/// The authenticated merchant's profile.
#[utoipa::path(get, path = "/api/merchant/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Profile", body = crate::openapi::Envelope<ProfileData>),
        (status = 401, description = "Not authenticated", body = crate::openapi::ErrorBody)))]
pub async fn me(auth: AuthMerchant) -> Result<Reply<Profile>, ApiError> {
    auth.require("profile:view")?;
    Ok(Reply::data(Profile(auth.merchant)))
}

/// Update profile fields (address parts are merged).
#[utoipa::path(put, path = "/api/merchant/auth/profile", tag = "auth", security(("bearer" = [])), request_body = ProfileBody,
    responses((status = 200, description = "Updated profile", body = crate::openapi::Envelope<ProfileData>),
        (status = 400, description = "Validation failed", body = crate::openapi::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::openapi::ErrorBody)))]
pub async fn update_profile(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppJson(body): AppJson<ProfileBody>,
) -> Result<Reply<Profile>, ApiError> {
    auth.require("profile:edit")?;
    let patch = body.validate()?;
    let merchant = state
        .store
        .update_profile(auth.id(), &patch)
        .await
        .map_err(ApiError::internal("Failed to update profile"))?
        .ok_or_else(|| ApiError::NotFound("Merchant not found".into()))?;
    Ok(Reply::data(Profile(std::sync::Arc::new(merchant))).message("Profile updated successfully"))
}

/// The peer's smoke-test route (contract §2.1): no auth, no database.
#[utoipa::path(get, path = "/api/merchant/auth/test", tag = "auth",
    responses((status = 200, description = "`{success, message, timestamp}`", body = SmokeTestBody)))]
pub async fn auth_test() -> Reply<()> {
    Reply::empty()
        .message("Merchant auth route is working!")
        .timestamp(crate::store::json::iso(DateTime::now()))
}

/// Log out: the session's refresh token is revoked; the presented access token stays valid
/// until it expires (contract §2.1: clients keep using it).
#[utoipa::path(post, path = "/api/merchant/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Logged out", body = crate::openapi::Done),
        (status = 401, description = "Not authenticated", body = crate::openapi::ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    auth: AuthMerchant,
) -> Result<Reply<()>, ApiError> {
    tracing::info!(merchant = %auth.id(), "auth.logout");
    if let Some(family) = auth.identity.session() {
        state
            .store
            .revoke_session(family, auth.id())
            .await
            .map_err(ApiError::internal("Logout failed"))?;
    }
    let subject = auth.member.as_ref().map_or(auth.id(), |m| m.id);
    Ok(Reply::empty()
        .message("Logout successful")
        .audit(crate::audit::AuditChange::action("auth.logout").resource("auth", subject)))
}
