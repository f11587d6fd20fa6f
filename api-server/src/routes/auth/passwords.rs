//! Password flows: change (authenticated), forgot (e-mails a reset link) and reset by token.

use axum::extract::{Path, State};
use secrecy::SecretString;

use super::{
    hash_failed, link,
    types::{ChangePasswordBody, EmailBody, ResetPasswordBody},
};
use crate::{
    error::ApiError,
    extract::{AppJson, AuthMerchant},
    mail,
    routes::Reply,
    security::{password::Verified, token},
    state::AppState,
    store::{DateTime, users::AccountKind},
};

const RESET_TTL_MS: i64 = 3600 * 1000;

/// Change the owner's password (requires the current one). Existing tokens stay valid.
#[utoipa::path(put, path = "/api/merchant/auth/change-password", tag = "auth", security(("bearer" = [])), request_body = ChangePasswordBody,
    responses((status = 200, description = "Changed", body = crate::openapi::Done),
        (status = 400, description = "Validation failed", body = crate::openapi::ErrorBody),
        (status = 401, description = "Current password is incorrect", body = crate::openapi::ErrorBody),
        (status = 403, description = "Team members cannot change the owner's password", body = crate::openapi::ErrorBody),
        (status = 423, description = "Locked after too many wrong passwords", body = crate::openapi::ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppJson(body): AppJson<ChangePasswordBody>,
) -> Result<Reply<()>, ApiError> {
    let (current, new) = body.validate()?;
    if !auth.is_owner_login() {
        return Err(ApiError::Forbidden(
            "Only the account owner can change the account password".into(),
        ));
    }
    let merchant = &auth.merchant;
    // Guesses at the current password (a stolen token) count like failed logins, before the
    // check, so parallel requests cannot outrun the lockout.
    let (_, locks_at) =
        super::login::count_attempt(&state, AccountKind::Owner, merchant.id).await?;
    let verified = state
        .hasher
        .verify(SecretString::from(current), Some(merchant.password.clone()))
        .await
        .map_err(hash_failed)?;
    if verified == Verified::No {
        return Err(match locks_at {
            Some(until) => super::login::locked(until),
            None => ApiError::unauthorized("Current password is incorrect"),
        });
    }
    let hash = state.hasher.hash(new.0).await.map_err(hash_failed)?;
    state
        .store
        .set_merchant_password(merchant.id, hash)
        .await
        .map_err(ApiError::internal("Failed to change password"))?;
    state.mailer.send(mail::password_changed(
        &merchant.email,
        &merchant.owner_name,
    ));
    Ok(Reply::empty()
        .message("Password changed successfully. You can now login with your new password.")
        .audit(
            crate::audit::AuditChange::action("auth.password_changed")
                .resource("auth", merchant.id),
        ))
}

/// Always 200; e-mails a 1-hour reset link when the account exists.
#[utoipa::path(post, path = "/api/merchant/auth/forgot-password", tag = "auth", request_body = EmailBody,
    responses((status = 200, description = "Accepted", body = crate::openapi::Done),
        (status = 400, description = "Validation failed", body = crate::openapi::ErrorBody),
        (status = 429, description = "Password-reset limit", body = crate::openapi::ErrorBody)))]
pub async fn forgot_password(
    State(state): State<AppState>,
    AppJson(body): AppJson<EmailBody>,
) -> Result<Reply<()>, ApiError> {
    let email = body.validate()?;
    let reset = token::generate();
    let expiry = DateTime::from_millis(DateTime::now().timestamp_millis() + RESET_TTL_MS);
    let merchant = state
        .store
        .set_reset_token(email.as_str(), &reset.digest, expiry)
        .await
        .map_err(ApiError::internal(
            "Failed to process password reset request",
        ))?;
    if let Some(m) = merchant {
        state.mailer.send(mail::password_reset(
            &m.email,
            &m.owner_name,
            &link(&state, "reset-password", &reset.plain),
        ));
    }
    Ok(Reply::empty()
        .message("If an account with that email exists, a password reset link has been sent."))
}

async fn reset(
    state: &AppState,
    raw_token: &str,
    body: ResetPasswordBody,
) -> Result<Reply<()>, ApiError> {
    let password = body.validate()?;
    let invalid = || ApiError::BadRequest("Invalid or expired reset token".into());
    if raw_token.is_empty() {
        return Err(invalid());
    }
    let hash = state.hasher.hash(password.0).await.map_err(hash_failed)?;
    let merchant = state
        .store
        .reset_merchant_password(&token::digest(raw_token), hash)
        .await
        .map_err(ApiError::internal("Failed to reset password"))?
        .ok_or_else(invalid)?;
    // The recovery path after a compromise: the raised session version already refuses every
    // token issued before; revoking the sessions also ends their refresh tokens in the store,
    // and dropping the cached access check applies it here at once.
    state.access_cache.invalidate_merchant(merchant.id);
    match state.store.revoke_owner_sessions(merchant.id).await {
        Ok(n) => {
            tracing::info!(merchant = %merchant.id, sessions = n, "auth.password_reset: sessions revoked")
        }
        Err(e) => {
            tracing::error!(merchant = %merchant.id, error = %e, "auth.password_reset: revoking sessions failed (their tokens are refused by session version)")
        }
    }
    // No Bearer token here: the audit actor is the account whose token was used.
    let actor = crate::audit::Actor {
        merchant: merchant.id,
        member: None,
    };
    Ok(Reply::empty()
        .message("Password reset successful. You can now login with your new password.")
        .audit(
            crate::audit::AuditChange::action("auth.password_reset")
                .resource("auth", merchant.id)
                .by(actor),
        ))
}

/// Set a new password with the e-mailed token (path variant).
#[utoipa::path(post, path = "/api/merchant/auth/reset-password/{token}", tag = "auth", request_body = ResetPasswordBody,
    params(("token" = String, Path, description = "Token from the e-mail")),
    responses((status = 200, description = "Reset", body = crate::openapi::Done),
        (status = 400, description = "Invalid token or validation failed", body = crate::openapi::ErrorBody),
        (status = 429, description = "Password-reset limit", body = crate::openapi::ErrorBody)))]
pub async fn reset_password_with_token(
    State(state): State<AppState>,
    Path(token): Path<String>,
    AppJson(body): AppJson<ResetPasswordBody>,
) -> Result<Reply<()>, ApiError> {
    reset(&state, &token, body).await
}

/// Set a new password with the e-mailed token (body variant).
#[utoipa::path(post, path = "/api/merchant/auth/reset-password", tag = "auth", request_body = ResetPasswordBody,
    responses((status = 200, description = "Reset", body = crate::openapi::Done),
        (status = 400, description = "Invalid token or validation failed", body = crate::openapi::ErrorBody)))]
pub async fn reset_password(
    State(state): State<AppState>,
    AppJson(mut body): AppJson<ResetPasswordBody>,
) -> Result<Reply<()>, ApiError> {
    let token = body.token.take().unwrap_or_default();
    reset(&state, &token, body).await
}
