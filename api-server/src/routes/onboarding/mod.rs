//! `/api/merchant/onboarding`: the five-step wizard stored in `merchants.onboarding`
//! (contract §2.3): status, save a step, complete a step, go back, submit, documents.

mod steps;
mod upload;
use axum::{
    Router,
    extract::{DefaultBodyLimit, Path, State},
    routing::{delete, get, post},
};
use mongodb::bson::{Bson, DateTime, doc};
use serde_json::{Value, json};

use self::steps::{step_has_data, step_update};
pub use self::upload::{__path_upload_document, upload_document};
use super::Reply;
use crate::{
    error::ApiError,
    extract::{AppJson, AuthMerchant},
    state::AppState,
    store::{json::bson_to_json, merchants::Onboarding},
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
            post(upload::upload_document)
                .layer(DefaultBodyLimit::max(upload::DOCUMENT.body_limit())),
        )
        .route("/documents/{index}", delete(delete_document))
}

const TOTAL_STEPS: i32 = 5;
const DOCUMENT_TYPES: &[&str] = &[
    "business_license",
    "id_proof",
    "address_proof",
    "gst_certificate",
    "pan_card",
];

fn step_number(raw: &str) -> Result<i32, ApiError> {
    raw.parse::<i32>()
        .ok()
        .filter(|n| (1..=TOTAL_STEPS).contains(n))
        .ok_or_else(|| ApiError::BadRequest("Invalid step number. Must be between 1 and 5.".into()))
}

fn progress(o: &Onboarding) -> i64 {
    (o.completed_steps.len() as f64 / TOTAL_STEPS as f64 * 100.0).round() as i64
}

fn failed() -> impl FnOnce(mongodb::error::Error) -> ApiError {
    ApiError::internal("Failed to update onboarding")
}

/// Current wizard state.
#[utoipa::path(get, path = "/api/merchant/onboarding/status", tag = "onboarding", security(("bearer" = [])),
    responses((status = 200, description = "Status", body = crate::openapi::Envelope),
        (status = 401, description = "Not authenticated", body = crate::openapi::ErrorBody)))]
pub async fn status(auth: AuthMerchant) -> Result<Reply, ApiError> {
    auth.require("profile:view")?;
    let o = &auth.merchant.onboarding;
    let mut data = json!({
        "status": o.status,
        "currentStep": o.current_step,
        "completedSteps": o.completed_steps,
        "totalSteps": TOTAL_STEPS,
        "progressPercentage": progress(o),
        "stepData": bson_to_json(Bson::Document(o.step_data.clone())),
    });
    let dates = [("startedAt", o.started_at), ("completedAt", o.completed_at)];
    for (key, at) in dates {
        if let Some(at) = at {
            data[key] = json!(crate::store::json::iso(at));
        }
    }
    if let Some(r) = &o.rejection_reason {
        data["rejectionReason"] = json!(r);
    }
    Ok(Reply::data(data))
}

/// Auto-save one step's data (does not mark it complete).
#[utoipa::path(post, path = "/api/merchant/onboarding/step/{step}", tag = "onboarding", security(("bearer" = [])),
    params(("step" = String, Path, description = "1..5")), request_body = Object,
    responses((status = 200, description = "Saved; `data` is the whole stepData", body = crate::openapi::Envelope),
        (status = 400, description = "Invalid step, empty body or validation failed", body = crate::openapi::ErrorBody)))]
pub async fn save_step(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(step): Path<String>,
    AppJson(body): AppJson<Value>,
) -> Result<Reply, ApiError> {
    auth.require("profile:edit")?;
    let step = step_number(&step)?;
    if body.as_object().is_none_or(|o| o.is_empty()) {
        return Err(ApiError::BadRequest("Step data is required".into()));
    }
    let mut update = step_update(step, body, state.settings.production)?;
    let o = &auth.merchant.onboarding;
    let mut set = update.get_document("$set").cloned().unwrap_or_default();
    if o.status == "pending" {
        set.insert("onboarding.status", "in_progress");
        set.insert("onboarding.startedAt", DateTime::now());
    }
    set.insert("updatedAt", DateTime::now());
    update.insert("$set", set);
    let merchant = state
        .store
        .modify_merchant(auth.id(), update)
        .await
        .map_err(failed())?
        .ok_or_else(|| ApiError::NotFound("Merchant not found".into()))?;
    let data = bson_to_json(Bson::Document(merchant.onboarding.step_data));
    Ok(Reply::data(data).message(format!("Step {step} data saved successfully")))
}

/// Mark a step complete once its data is saved; advances `currentStep`.
#[utoipa::path(post, path = "/api/merchant/onboarding/step/{step}/complete", tag = "onboarding", security(("bearer" = [])),
    params(("step" = String, Path, description = "1..5")),
    responses((status = 200, description = "Completed", body = crate::openapi::Envelope),
        (status = 400, description = "Invalid step or step data missing", body = crate::openapi::ErrorBody)))]
pub async fn complete_step(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(step): Path<String>,
) -> Result<Reply, ApiError> {
    auth.require("profile:edit")?;
    let step = step_number(&step)?;
    let o = &auth.merchant.onboarding;
    if !step_has_data(o, step) {
        return Err(ApiError::BadRequest(format!(
            "Step {step} data is required before completing it"
        )));
    }
    let next = (step + 1).min(TOTAL_STEPS).max(o.current_step);
    let update = doc! {
        "$addToSet": { "onboarding.completedSteps": step },
        "$set": { "onboarding.currentStep": next, "updatedAt": DateTime::now() },
    };
    let merchant = state
        .store
        .modify_merchant(auth.id(), update)
        .await
        .map_err(failed())?
        .ok_or_else(|| ApiError::NotFound("Merchant not found".into()))?;
    let o = merchant.onboarding;
    let can_submit = (1..=TOTAL_STEPS).all(|s| o.completed_steps.contains(&s));
    Ok(Reply::data(json!({
        "currentStep": o.current_step, "completedSteps": o.completed_steps,
        "progressPercentage": progress(&o), "canSubmit": can_submit,
    }))
    .message(format!("Step {step} completed")))
}

/// Go back to the step before `step`.
#[utoipa::path(post, path = "/api/merchant/onboarding/step/{step}/previous", tag = "onboarding", security(("bearer" = [])),
    params(("step" = String, Path, description = "1..5")),
    responses((status = 200, description = "Moved back", body = crate::openapi::Envelope),
        (status = 400, description = "Invalid step", body = crate::openapi::ErrorBody)))]
pub async fn previous_step(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(step): Path<String>,
) -> Result<Reply, ApiError> {
    auth.require("profile:edit")?;
    let step = step_number(&step)?;
    let current = (step - 1).max(1);
    state
        .store
        .update_merchant(auth.id(), doc! { "onboarding.currentStep": current })
        .await
        .map_err(failed())?;
    Ok(Reply::data(json!({ "currentStep": current })).message(format!("Moved to step {current}")))
}

/// Submit for review once all five steps are complete.
#[utoipa::path(post, path = "/api/merchant/onboarding/submit", tag = "onboarding", security(("bearer" = [])),
    responses((status = 200, description = "Submitted", body = crate::openapi::Envelope),
        (status = 400, description = "All steps must be completed before submission", body = crate::openapi::ErrorBody)))]
pub async fn submit(State(state): State<AppState>, auth: AuthMerchant) -> Result<Reply, ApiError> {
    auth.require("profile:edit")?;
    let o = &auth.merchant.onboarding;
    if !(1..=TOTAL_STEPS).all(|s| o.completed_steps.contains(&s)) {
        return Err(ApiError::BadRequest(
            "All steps must be completed before submission".into(),
        ));
    }
    let set = doc! { "onboarding.status": "completed", "onboarding.completedAt": DateTime::now() };
    state
        .store
        .update_merchant(auth.id(), set)
        .await
        .map_err(failed())?;
    Ok(Reply::data(json!({ "status": "completed" }))
        .message("Onboarding submitted successfully. Your application is under review."))
}

fn document_list(o: &Onboarding) -> Vec<Bson> {
    o.step_data
        .get_document("verification")
        .and_then(|v| v.get_array("documents"))
        .cloned()
        .unwrap_or_default()
}

/// Uploaded verification documents.
#[utoipa::path(get, path = "/api/merchant/onboarding/documents", tag = "onboarding", security(("bearer" = [])),
    responses((status = 200, description = "Documents", body = crate::openapi::Envelope)))]
pub async fn documents(auth: AuthMerchant) -> Result<Reply, ApiError> {
    auth.require("profile:view")?;
    let o = &auth.merchant.onboarding;
    let docs = bson_to_json(Bson::Array(document_list(o)));
    let status = o
        .step_data
        .get_document("verification")
        .and_then(|v| v.get_str("verificationStatus"))
        .unwrap_or("pending");
    Ok(Reply::data(
        json!({ "documents": docs, "verificationStatus": status }),
    ))
}

/// Remove the document at `index` of the list.
#[utoipa::path(delete, path = "/api/merchant/onboarding/documents/{index}", tag = "onboarding", security(("bearer" = [])),
    params(("index" = String, Path, description = "0-based position")),
    responses((status = 200, description = "Deleted", body = crate::openapi::Envelope),
        (status = 404, description = "Document not found", body = crate::openapi::ErrorBody)))]
pub async fn delete_document(
    State(state): State<AppState>,
    auth: AuthMerchant,
    Path(index): Path<String>,
) -> Result<Reply, ApiError> {
    auth.require("profile:edit")?;
    let not_found = || ApiError::NotFound("Document not found".into());
    let i: usize = index.parse().map_err(|_| not_found())?;
    let list = document_list(&auth.merchant.onboarding);
    let entry = list
        .get(i)
        .and_then(Bson::as_document)
        .ok_or_else(not_found)?;
    let id = entry.get_object_id("_id").map_err(|_| not_found())?;
    // Files this API stored for the merchant go with their entry; other URLs are left alone.
    let file = entry
        .get_str("url")
        .ok()
        .and_then(|u| state.files.key_of_url(auth.id(), u));
    state
        .store
        .modify_merchant(
            auth.id(),
            doc! { "$pull": { "onboarding.stepData.verification.documents": { "_id": id } } },
        )
        .await
        .map_err(failed())?;
    crate::routes::uploads::discard(&state, file).await;
    Ok(Reply::empty().message("Document deleted successfully"))
}
