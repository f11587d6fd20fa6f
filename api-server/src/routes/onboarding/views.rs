//! Response bodies of the onboarding routes. The saved step data and the document list are
//! returned as stored ([`StoredJson`]: every stored key, ids as 24-hex strings, dates as ISO
//! text); their documented schema is [`StepDataSchema`], what this API stores.

use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    domain::onboarding::{BankDetails, BusinessInfo, ShopDetails, VerificationDocument},
    store::json::{StoredJson, iso},
};

/// A verification document.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentView {
    /// Id (24 hex).
    #[serde(rename = "_id")]
    pub id: String,
    /// business_license | id_proof | address_proof | gst_certificate | pan_card.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where it is.
    pub url: String,
    /// Review status (`pending` when added).
    pub status: String,
    /// When it was added.
    #[schema(format = DateTime)]
    pub uploaded_at: String,
    /// Name the client gave the uploaded file (files sent to this API only; null when it
    /// gave none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, required = false)]
    pub file_name: Option<Option<String>>,
    /// Sniffed MIME type (files sent to this API only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub mime_type: Option<&'static str>,
    /// Bytes (files sent to this API only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub size: Option<i64>,
}

impl DocumentView {
    /// The view of `d`.
    pub fn of(d: &VerificationDocument) -> Self {
        Self {
            id: d.id.to_hex(),
            kind: d.kind.clone(),
            url: d.url.clone(),
            status: d.status.to_string(),
            uploaded_at: iso(d.uploaded_at),
            file_name: d.file.as_ref().map(|f| f.file_name.clone()),
            mime_type: d.file.as_ref().map(|f| f.mime_type),
            size: d.file.as_ref().map(|f| f.size),
        }
    }
}

/// Step 5 as stored.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerificationSchema {
    /// The documents.
    pub documents: Vec<DocumentView>,
    /// Set by a reviewer (pending until then).
    #[schema(required = false, nullable = false)]
    pub verification_status: Option<String>,
}

/// The saved step data (documentation of the stored keys; each step is present once saved,
/// and the bank details and KYC fields only for callers allowed to read them).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepDataSchema {
    /// Step 1 (without `gstNumber`, `panNumber`, `registrationNumber` for callers without
    /// settings:view).
    #[schema(required = false, nullable = false)]
    pub business_info: Option<BusinessInfo>,
    /// Step 2.
    #[schema(required = false, nullable = false)]
    pub store_details: Option<ShopDetails>,
    /// Step 3 (callers with billing:view only).
    #[schema(required = false, nullable = false)]
    pub bank_details: Option<BankDetails>,
    /// Step 5 (callers with settings:view only).
    #[schema(required = false, nullable = false)]
    pub verification: Option<VerificationSchema>,
}

/// `data` of `GET /onboarding/status`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OnboardingStatus<'a> {
    /// pending | in_progress | completed | rejected.
    pub status: &'a str,
    /// 1..5.
    pub current_step: i32,
    /// Steps marked complete.
    pub completed_steps: &'a [i32],
    /// Always 5.
    pub total_steps: i32,
    /// Percentage of the steps completed.
    pub progress_percentage: i64,
    /// The saved step data the caller may read.
    #[schema(value_type = StepDataSchema)]
    pub step_data: StoredJson<'a>,
    /// First save (absent before).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    /// Submission (absent before).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    /// Why it was rejected (absent unless rejected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<&'a str>,
}

/// `data` of completing a step.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepCompleted {
    /// The step now current.
    pub current_step: i32,
    /// Steps marked complete.
    pub completed_steps: Vec<i32>,
    /// Percentage of the steps completed.
    pub progress_percentage: i64,
    /// Every step is complete.
    pub can_submit: bool,
}

/// `data` of going back a step.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentStep {
    /// The step now current.
    pub current_step: i32,
}

/// `data` of the submission.
#[derive(Debug, Serialize, ToSchema)]
pub struct Submitted {
    /// Always `completed`.
    pub status: &'static str,
}

/// `data` of `GET /onboarding/documents`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentList<'a> {
    /// The documents, as stored.
    #[schema(value_type = Vec<DocumentView>)]
    pub documents: StoredJson<'a>,
    /// `verification.verificationStatus` (`pending` until a reviewer sets it).
    pub verification_status: &'a str,
}

/// `data` of a document upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentUploaded<'a> {
    /// The appended document.
    pub document: &'a DocumentView,
    /// Every document, as stored.
    #[schema(value_type = Vec<DocumentView>)]
    pub documents: StoredJson<'a>,
}
