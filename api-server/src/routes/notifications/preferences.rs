//! `GET`/`PUT /notifications/preferences`: which events the merchant wants to hear about.

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::{
    error::ApiError,
    extract::{AppJson, AuthMerchant},
    routes::Reply,
    state::AppState,
    store::notifications::{EVENTS, Preferences},
    validate::Validator,
};

/// Preference changes (omitted keys keep their value).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreferencesBody {
    /// In-app notifications at all.
    pub in_app: Option<bool>,
    /// E-mail copies.
    pub email: Option<bool>,
    /// Push copies.
    pub push: Option<bool>,
    /// SMS copies.
    pub sms: Option<bool>,
    /// Per-event switches (newOrder, orderCancelled, lowStock, outOfStock, cashbackRequest, teamInvitationAccepted).
    pub events: Option<std::collections::BTreeMap<String, bool>>,
}

/// The merchant's notification preferences.
#[utoipa::path(get, path = "/api/merchant/notifications/preferences", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, description = "`{inApp, email, push, sms, events}`", body = crate::openapi::Envelope<Preferences>)))]
pub async fn show(
    State(state): State<AppState>,
    auth: AuthMerchant,
) -> Result<Reply<Preferences>, ApiError> {
    auth.require("notifications:view")?;
    let p = state
        .store
        .preferences(auth.id())
        .await
        .map_err(ApiError::internal("Failed to fetch preferences"))?;
    Ok(Reply::data(p).message("Preferences retrieved successfully"))
}

/// Change some preferences.
#[utoipa::path(put, path = "/api/merchant/notifications/preferences", tag = "notifications", security(("bearer" = [])), request_body = PreferencesBody,
    responses((status = 200, description = "The saved preferences", body = crate::openapi::Envelope<Preferences>),
        (status = 400, description = "Validation failed (unknown event)", body = crate::openapi::ErrorBody)))]
pub async fn save(
    State(state): State<AppState>,
    auth: AuthMerchant,
    AppJson(body): AppJson<PreferencesBody>,
) -> Result<Reply<Preferences>, ApiError> {
    auth.require("notifications:view")?;
    let mut v = Validator::new();
    for key in body.events.iter().flat_map(|e| e.keys()) {
        if !EVENTS.contains(&key.as_str()) {
            v.error(
                &format!("events.{key}"),
                format!(
                    "\"events.{key}\" is not allowed (events: {})",
                    EVENTS.join(", ")
                ),
                None,
            );
        }
    }
    v.finish()?;
    let mut p: Preferences = state
        .store
        .preferences(auth.id())
        .await
        .map_err(ApiError::internal("Failed to save preferences"))?;
    p.in_app = body.in_app.unwrap_or(p.in_app);
    p.email = body.email.unwrap_or(p.email);
    p.push = body.push.unwrap_or(p.push);
    p.sms = body.sms.unwrap_or(p.sms);
    p.events.extend(body.events.unwrap_or_default());
    state
        .store
        .save_preferences(auth.id(), &p)
        .await
        .map_err(ApiError::internal("Failed to save preferences"))?;
    Ok(Reply::data(p).message("Preferences updated successfully"))
}
