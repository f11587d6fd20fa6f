//! `/api/merchant/onboarding`: the five-step wizard stored in `merchants.onboarding`
//! (contract §2.3): status, save a step, complete a step, go back, submit, documents.

use axum::{
    Router,
    extract::{Path, State},
    routing::{delete, get, post},
};
use mongodb::bson::{Bson, DateTime, Document, doc, oid::ObjectId};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Reply;
use crate::{
    error::ApiError,
    extract::{AppJson, AuthMerchant, from_value},
    state::AppState,
    store::{json::bson_to_json, merchants::Onboarding},
    validate::{Len, Validator},
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
pub async fn status(auth: AuthMerchant) -> Reply {
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
    Reply::data(data)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BusinessInfo {
    company_name: Option<String>,
    business_name: Option<String>,
    business_type: Option<String>,
    registration_number: Option<String>,
    gst_number: Option<String>,
    pan_number: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddressInput {
    street: Option<String>,
    city: Option<String>,
    state: Option<String>,
    zip_code: Option<String>,
    country: Option<String>,
    landmark: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoreDetails {
    store_name: Option<String>,
    description: Option<String>,
    category: Option<String>,
    store_category: Option<String>,
    logo_url: Option<String>,
    banner_url: Option<String>,
    address: Option<AddressInput>,
    store_address: Option<AddressInput>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BankDetails {
    account_number: Option<String>,
    ifsc_code: Option<String>,
    account_holder_name: Option<String>,
    bank_name: Option<String>,
    branch_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DocumentInput {
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Verification {
    documents: Option<Vec<DocumentInput>>,
}

fn matches(pattern_ok: bool, v: &mut Validator, field: &str, value: &Option<String>) {
    if value.as_deref().is_some_and(|s| !s.is_empty()) && !pattern_ok {
        v.error(
            field,
            format!("\"{field}\" has an invalid format"),
            value.clone().map(Value::String),
        );
    }
}

fn is_gst(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 15
        && b[..2].iter().all(u8::is_ascii_digit)
        && b[2..7].iter().all(u8::is_ascii_uppercase)
        && b[7..11].iter().all(u8::is_ascii_digit)
        && b[11].is_ascii_uppercase()
        && (b[12].is_ascii_uppercase() || (b'1'..=b'9').contains(&b[12]))
        && b[13] == b'Z'
        && (b[14].is_ascii_uppercase() || b[14].is_ascii_digit())
}

fn is_pan(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[..5].iter().all(u8::is_ascii_uppercase)
        && b[5..9].iter().all(u8::is_ascii_digit)
        && b[9].is_ascii_uppercase()
}

fn is_ifsc(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11
        && b[..4].iter().all(u8::is_ascii_uppercase)
        && b[4] == b'0'
        && b[5..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn upper(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_uppercase())
}

fn step1(body: Value, production: bool) -> Result<Document, ApiError> {
    let b: BusinessInfo = from_value(body)?;
    let mut v = Validator::new();
    let company = v.text(
        "companyName",
        b.company_name.or(b.business_name),
        Len(1, 200),
    );
    let kind = v.text("businessType", b.business_type, Len(1, 100));
    let (gst, pan) = (upper(b.gst_number), upper(b.pan_number));
    if production {
        matches(
            gst.as_deref().is_some_and(is_gst),
            &mut v,
            "gstNumber",
            &gst,
        );
        matches(
            pan.as_deref().is_some_and(is_pan),
            &mut v,
            "panNumber",
            &pan,
        );
    }
    v.finish()?;
    Ok(
        doc! { "companyName": company, "businessType": kind, "registrationNumber": b.registration_number, "gstNumber": gst, "panNumber": pan },
    )
}

fn step2(body: Value) -> Result<Document, ApiError> {
    let s: StoreDetails = from_value(body)?;
    let mut v = Validator::new();
    let name = v.text("storeName", s.store_name, Len(1, 100));
    let category = v.text("category", s.category.or(s.store_category), Len(1, 100));
    let a = s.address.or(s.store_address).unwrap_or_default();
    let street = v.text("address.street", a.street, Len(1, 200));
    let city = v.text("address.city", a.city, Len(1, 100));
    v.finish()?;
    let address = doc! { "street": street, "city": city, "state": a.state, "zipCode": a.zip_code, "country": a.country, "landmark": a.landmark };
    Ok(
        doc! { "storeName": name, "description": s.description, "category": category, "logoUrl": s.logo_url, "bannerUrl": s.banner_url, "address": address },
    )
}

fn step3(body: Value, production: bool) -> Result<Document, ApiError> {
    let b: BankDetails = from_value(body)?;
    let mut v = Validator::new();
    let account = v.text("accountNumber", b.account_number, Len(1, 34));
    let ifsc = upper(Some(v.text("ifscCode", b.ifsc_code, Len(1, 20)))).unwrap_or_default();
    let holder = v.text("accountHolderName", b.account_holder_name, Len(1, 100));
    if production {
        matches(is_ifsc(&ifsc), &mut v, "ifscCode", &Some(ifsc.clone()));
    }
    v.finish()?;
    Ok(
        doc! { "accountNumber": account, "ifscCode": ifsc, "accountHolderName": holder, "bankName": b.bank_name, "branchName": b.branch_name },
    )
}

fn step5(body: Value) -> Result<Vec<Bson>, ApiError> {
    let input: Verification = from_value(body)?;
    let mut v = Validator::new();
    let docs = input.documents.unwrap_or_default();
    if docs.is_empty() {
        v.error(
            "documents",
            "\"documents\" must contain at least 1 item",
            None,
        );
    }
    let now = DateTime::now();
    let mut out = Vec::new();
    for (i, d) in docs.into_iter().enumerate() {
        let kind = v.one_of(
            &format!("documents.{i}.type"),
            Some(d.kind.unwrap_or_default()),
            DOCUMENT_TYPES,
        );
        let url = v.text(&format!("documents.{i}.url"), d.url, Len(1, 2000));
        if let Some(kind) = kind {
            out.push(Bson::Document(doc! { "_id": ObjectId::new(), "type": kind, "url": url, "status": "pending", "uploadedAt": now }));
        }
    }
    v.finish()?;
    Ok(out)
}

/// The `$set`/`$push` of saving a step.
fn step_update(step: i32, body: Value, production: bool) -> Result<Document, ApiError> {
    let set = |key: &str, d: Document| doc! { "$set": { format!("onboarding.stepData.{key}"): d } };
    Ok(match step {
        1 => set("businessInfo", step1(body, production)?),
        2 => set("storeDetails", step2(body)?),
        3 => set("bankDetails", step3(body, production)?),
        // Step 4 (products) is accepted but not stored: products are created through /products.
        4 => doc! {},
        _ => {
            doc! { "$push": { "onboarding.stepData.verification.documents": { "$each": step5(body)? } } }
        }
    })
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

fn step_has_data(o: &Onboarding, step: i32) -> bool {
    let data = &o.step_data;
    match step {
        1 => data.get_document("businessInfo").is_ok(),
        2 => data.get_document("storeDetails").is_ok(),
        3 => data.get_document("bankDetails").is_ok(),
        4 => true,
        _ => data
            .get_document("verification")
            .and_then(|v| v.get_array("documents"))
            .is_ok_and(|d| !d.is_empty()),
    }
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
pub async fn documents(auth: AuthMerchant) -> Reply {
    let o = &auth.merchant.onboarding;
    let docs = bson_to_json(Bson::Array(document_list(o)));
    let status = o
        .step_data
        .get_document("verification")
        .and_then(|v| v.get_str("verificationStatus"))
        .unwrap_or("pending");
    Reply::data(json!({ "documents": docs, "verificationStatus": status }))
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
    let not_found = || ApiError::NotFound("Document not found".into());
    let i: usize = index.parse().map_err(|_| not_found())?;
    let list = document_list(&auth.merchant.onboarding);
    let id = list
        .get(i)
        .and_then(Bson::as_document)
        .and_then(|d| d.get_object_id("_id").ok())
        .ok_or_else(not_found)?;
    state
        .store
        .modify_merchant(
            auth.id(),
            doc! { "$pull": { "onboarding.stepData.verification.documents": { "_id": id } } },
        )
        .await
        .map_err(failed())?;
    Ok(Reply::empty().message("Document deleted successfully"))
}
