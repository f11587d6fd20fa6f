//! `/api/merchant/onboarding`: the five-step wizard stored in `merchants.onboarding`
//! (contract §2.3): status, save a step, complete a step, go back, submit, documents.

mod steps;
mod upload;
pub mod views;

use axum::{
    Router,
    extract::{Path, State},
    routing::{delete, get, post},
};

pub use self::upload::{__path_upload_document, upload_document};
use self::{
    steps::{StepBody, step_data},
    views::{
        CurrentStep, DocumentList, OnboardingStatus, StepCompleted, StepDataSchema, Submitted,
    },
};
use super::Reply;
use crate::{
    domain::{
        KYC_PERMISSION, SensitiveAccess,
        onboarding::{TOTAL_STEPS, all_complete, progress, step_after},
    },
    error::ApiError,
    extract::{AppJson, AuthMerchant},
    state::AppState,
    store::{self, json::StoredJson, merchants::MerchantDoc},
};

/// Onboarding routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/status", get(status))
        .route("/step/{step}", post(save_step))
        .route("/step/{step}/complete", post(complete_step))
        .route("/step/{step}/previous", post(previous_step))
        .route("/submit", post(submit))
        .route("/documents", get(documents))
        .route(
            "/documents/upload",
            crate::body_limit::limit(post(upload::upload_document), upload::DOCUMENT.body_limit()),
        )
        .route("/documents/{index}", delete(delete_document))
}

fn step_number(raw: &str) -> Result<i32, ApiError> {
    raw.parse::<i32>()
        .ok()
        .filter(|n| (1..=TOTAL_STEPS).contains(n))
        .ok_or_else(|| ApiError::BadRequest("Invalid step number. Must be between 1 and 5.".into()))
}

fn failed() -> impl FnOnce(store::Error) -> ApiError {
    ApiError::internal("Failed to update onboarding")
}

/// What of the caller's sensitive records its permissions let it read.
fn sensitive_access(auth: &AuthMerchant) -> SensitiveAccess {
    let access = auth.access();
    SensitiveAccess::of(|p| access.can(p))
}

fn merchant_found(merchant: Option<MerchantDoc>) -> Result<MerchantDoc, ApiError> {
    merchant.ok_or_else(|| ApiError::NotFound("Merchant not found".into()))
}

/// Current wizard state.
#[utoipa::path(get, path = "/api/merchant/onboarding/status", tag = "onboarding", security(("bearer" = [])),
    responses((status = 200, description = "Status", body = crate::openapi::Envelope<OnboardingStatus>),
        (status = 401, description = "Not authenticated", body = crate::openapi::ErrorBody)))]
pub async fn status(auth: AuthMerchant) -> Result<Reply<Status>, ApiError> {
    auth.require("profile:view")?;
    let access = sensitive_access(&auth);
    Ok(Reply::data(Status {
        merchant: auth.merchant,
        access,
    }))
}

/// The wizard state owning its account: serialised as [`OnboardingStatus`].
#[derive(Debug)]
pub struct Status {
    merchant: std::sync::Arc<MerchantDoc>,
    access: SensitiveAccess,
}

impl serde::Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let o = &self.merchant.onboarding;
        let iso = |at: Option<store::DateTime>| at.map(store::json::iso);
        OnboardingStatus {
            status: &o.status,
            current_step: o.current_step,
            completed_steps: &o.completed_steps,
            total_steps: TOTAL_STEPS,
            progress_percentage: progress(&o.completed_steps),
            step_data: o.visible_step_data(self.access),
            started_at: iso(o.started_at),
            completed_at: iso(o.completed_at),
            rejection_reason: o.rejection_reason.as_deref(),
        }
        .serialize(s)
    }
}

/// The saved step data the caller may read, owning its account: serialised as
/// [`StepDataSchema`].
#[derive(Debug)]
pub struct VisibleStepData {
    merchant: MerchantDoc,
    access: SensitiveAccess,
}

impl serde::Serialize for VisibleStepData {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let steps: StoredJson<'_> = self.merchant.onboarding.visible_step_data(self.access);
        steps.serialize(s)
    }
}

/// Auto-save one step's data (does not mark it complete).
#[utoipa::path(post, path = "/api/merchant/onboarding/step/{step}", tag = "onboarding", security(("bearer" = [])),
    params(("step" = String, Path, description = "1..5")), request_body = Object,
    responses((status = 200, description = "Saved; `data` is the whole stepData", body = crate::openapi::Envelope<StepDataSchema>),
        (status = 400, description = "Invalid step, empty body or validation failed", body = crate::openapi::ErrorBody)))]
pub async fn save_step(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(step): Path<String>,
    AppJson(body): AppJson<StepBody>,
) -> Result<Reply<VisibleStepData>, ApiError> {
    auth.require("profile:edit")?;
    let step = step_number(&step)?;
    if body.as_object().is_none_or(|o| o.is_empty()) {
        return Err(ApiError::BadRequest("Step data is required".into()));
    }
    let data = step_data(step, body, state.settings.production)?;
    let starting = auth.merchant.onboarding.status == "pending";
    let merchant = state
        .store
        .save_onboarding_step(auth.id(), &data, starting)
        .await
        .map_err(failed())
        .and_then(merchant_found)?;
    let data = VisibleStepData {
        merchant,
        access: sensitive_access(&auth),
    };
    Ok(Reply::data(data).message(format!("Step {step} data saved successfully")))
}

/// Mark a step complete once its data is saved; advances `currentStep`.
#[utoipa::path(post, path = "/api/merchant/onboarding/step/{step}/complete", tag = "onboarding", security(("bearer" = [])),
    params(("step" = String, Path, description = "1..5")),
    responses((status = 200, description = "Completed", body = crate::openapi::Envelope<StepCompleted>),
        (status = 400, description = "Invalid step or step data missing", body = crate::openapi::ErrorBody)))]
pub async fn complete_step(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(step): Path<String>,
) -> Result<Reply<StepCompleted>, ApiError> {
    auth.require("profile:edit")?;
    let step = step_number(&step)?;
    let o = &auth.merchant.onboarding;
    if !o.has_step_data(step) {
        return Err(ApiError::BadRequest(format!(
            "Step {step} data is required before completing it"
        )));
    }
    let next = step_after(step, o.current_step);
    let merchant = state
        .store
        .complete_onboarding_step(auth.id(), step, next)
        .await
        .map_err(failed())
        .and_then(merchant_found)?;
    let o = merchant.onboarding;
    let can_submit = all_complete(&o.completed_steps);
    Ok(Reply::data(StepCompleted {
        current_step: o.current_step,
        progress_percentage: progress(&o.completed_steps),
        completed_steps: o.completed_steps,
        can_submit,
    })
    .message(format!("Step {step} completed")))
}

/// Go back to the step before `step`.
#[utoipa::path(post, path = "/api/merchant/onboarding/step/{step}/previous", tag = "onboarding", security(("bearer" = [])),
    params(("step" = String, Path, description = "1..5")),
    responses((status = 200, description = "Moved back", body = crate::openapi::Envelope<CurrentStep>),
        (status = 400, description = "Invalid step", body = crate::openapi::ErrorBody)))]
pub async fn previous_step(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(step): Path<String>,
) -> Result<Reply<CurrentStep>, ApiError> {
    auth.require("profile:edit")?;
    let step = step_number(&step)?;
    let current = (step - 1).max(1);
    state
        .store
        .set_onboarding_step(auth.id(), current)
        .await
        .map_err(failed())?;
    Ok(Reply::data(CurrentStep {
        current_step: current,
    })
    .message(format!("Moved to step {current}")))
}

/// Submit for review once all five steps are complete.
#[utoipa::path(post, path = "/api/merchant/onboarding/submit", tag = "onboarding", security(("bearer" = [])),
    responses((status = 200, description = "Submitted", body = crate::openapi::Envelope<Submitted>),
        (status = 400, description = "All steps must be completed before submission", body = crate::openapi::ErrorBody)))]
pub async fn submit(
    State(state): State<AppState>,
    auth: AuthMerchant,
) -> Result<Reply<Submitted>, ApiError> {
    auth.require("profile:edit")?;
    let o = &auth.merchant.onboarding;
    if !all_complete(&o.completed_steps) {
        return Err(ApiError::BadRequest(
            "All steps must be completed before submission".into(),
        ));
    }
    state
        .store
        .submit_onboarding(auth.id())
        .await
        .map_err(failed())?;
    Ok(Reply::data(Submitted {
        status: "completed",
    })
    .message("Onboarding submitted successfully. Your application is under review."))
}

/// Uploaded verification documents (KYC: team members need settings:view).
#[utoipa::path(get, path = "/api/merchant/onboarding/documents", tag = "onboarding", security(("bearer" = [])),
    responses((status = 200, description = "Documents", body = crate::openapi::Envelope<DocumentList>),
        (status = 403, description = "Missing profile:view or settings:view", body = crate::openapi::ErrorBody)))]
pub async fn documents(auth: AuthMerchant) -> Result<Reply<Documents>, ApiError> {
    auth.require("profile:view")?;
    auth.require(KYC_PERMISSION)?;
    Ok(Reply::data(Documents(auth.merchant)))
}

/// The documents owning their account: serialised as [`DocumentList`].
#[derive(Debug)]
pub struct Documents(std::sync::Arc<MerchantDoc>);

impl serde::Serialize for Documents {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let o = &self.0.onboarding;
        DocumentList {
            documents: o.documents(),
            verification_status: o.verification_status(),
        }
        .serialize(s)
    }
}

/// Remove the document at `index` of the list.
#[utoipa::path(delete, path = "/api/merchant/onboarding/documents/{index}", tag = "onboarding", security(("bearer" = [])),
    params(("index" = String, Path, description = "0-based position")),
    responses((status = 200, description = "Deleted", body = crate::openapi::Done),
        (status = 404, description = "Document not found", body = crate::openapi::ErrorBody)))]
pub async fn delete_document(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(index): Path<String>,
) -> Result<Reply<()>, ApiError> {
    auth.require("profile:edit")?;
    let not_found = || ApiError::NotFound("Document not found".into());
    let i: usize = index.parse().map_err(|_| not_found())?;
    let (id, url) = auth
        .merchant
        .onboarding
        .document_at(i)
        .ok_or_else(not_found)?;
    // Files this API stored for the merchant go with their entry; other URLs are left alone.
    let file = url.and_then(|u| state.files.key_of_url(auth.id(), u));
    state
        .store
        .remove_verification_document(auth.id(), id)
        .await
        .map_err(failed())?;
    crate::routes::uploads::discard(&state, file).await;
    Ok(Reply::empty().message("Document deleted successfully"))
}
