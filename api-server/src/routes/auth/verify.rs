//! E-mail verification: consume the e-mailed token, or send a fresh one.

use axum::extract::{Path, State};

use super::{
    link,
    types::{EmailBody, TokenBody},
    views::EmailVerified,
};
use crate::{
    error::ApiError, extract::AppJson, mail, routes::Reply, security::token, state::AppState,
    store::DateTime,
};

const VERIFY_TTL_MS: i64 = 24 * 3600 * 1000;

async fn verify(state: &AppState, raw: &str) -> Result<Reply<EmailVerified>, ApiError> {
    let before = state
        .store
        .verify_email(&token::digest(raw))
        .await
        .map_err(ApiError::internal("Email verification failed"))?
        .ok_or_else(|| {
            ApiError::BadRequest(
                "Invalid or expired verification token. Please request a new verification email."
                    .into(),
            )
        })?;
    if before.email_verified {
        return Ok(Reply::data(EmailVerified {
            email_verified: true,
        })
        .message("Email is already verified")
        .audit(crate::audit::AuditChange::handled()));
    }
    tracing::info!(merchant = %before.id, "auth.email_verified");
    // Changed without the merchant's login, so the write did not drop its cached documents.
    state.access_cache.invalidate_merchant(before.id);
    let change = crate::audit::AuditChange::action("auth.email_verified")
        .resource("auth", before.id)
        .by(crate::audit::Actor {
            merchant: before.id,
            member: None,
        });
    Ok(Reply::data(EmailVerified {
        email_verified: true,
    })
    .message("Email verified successfully! You now have full access to your account.")
    .audit(change))
}

/// Verify the e-mail address with the token from the e-mail (path variant).
#[utoipa::path(post, path = "/api/merchant/auth/verify-email/{token}", tag = "auth",
    params(("token" = String, Path, description = "Token from the e-mail")),
    responses((status = 200, description = "Verified", body = crate::openapi::Envelope<EmailVerified>),
        (status = 400, description = "Invalid or expired token", body = crate::openapi::ErrorBody)))]
pub async fn verify_email_with_token(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Reply<EmailVerified>, ApiError> {
    verify(&state, &token).await
}

/// Verify the e-mail address (body variant `{token}`).
#[utoipa::path(post, path = "/api/merchant/auth/verify-email", tag = "auth", request_body = TokenBody,
    responses((status = 200, description = "Verified", body = crate::openapi::Envelope<EmailVerified>),
        (status = 400, description = "Invalid or expired token", body = crate::openapi::ErrorBody)))]
pub async fn verify_email(
    State(state): State<AppState>,
    AppJson(body): AppJson<TokenBody>,
) -> Result<Reply<EmailVerified>, ApiError> {
    verify(&state, body.token.as_deref().unwrap_or_default()).await
}

/// Send a new verification e-mail; 200 whether or not the account exists.
#[utoipa::path(post, path = "/api/merchant/auth/resend-verification", tag = "auth", request_body = EmailBody,
    responses((status = 200, description = "Accepted", body = crate::openapi::Done),
        (status = 400, description = "Validation failed or already verified", body = crate::openapi::ErrorBody),
        (status = 429, description = "Auth limit", body = crate::openapi::ErrorBody)))]
pub async fn resend_verification(
    State(state): State<AppState>,
    AppJson(body): AppJson<EmailBody>,
) -> Result<Reply<()>, ApiError> {
    let email = body.validate()?;
    let store = &state.store;
    let merchant = store
        .merchant_by_email(email.as_str())
        .await
        .map_err(ApiError::internal("Failed to resend verification"))?;
    if let Some(m) = merchant {
        if m.email_verified {
            return Err(ApiError::BadRequest("Email is already verified".into()));
        }
        let fresh = token::generate();
        let expiry = DateTime::from_millis(DateTime::now().timestamp_millis() + VERIFY_TTL_MS);
        store
            .set_verification_token(m.id, &fresh.digest, expiry)
            .await
            .map_err(ApiError::internal("Failed to resend verification"))?;
        state.mailer.send(mail::verification(
            &m.email,
            &m.owner_name,
            &link(&state, "verify-email", &fresh.plain),
        ));
    }
    Ok(Reply::empty()
        .message("If an account with that email exists, a verification email has been sent."))
}
