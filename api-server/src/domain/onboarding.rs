//! The onboarding wizard (contract §2.3): five steps whose validated data is kept under
//! `onboarding.stepData`, the verification documents, and the step arithmetic (progress, next
//! step, whether everything is complete). Field names are the stored (and returned) ones.

use serde::Serialize;

use super::{DateTime, ObjectId};

/// Number of wizard steps.
pub const TOTAL_STEPS: i32 = 5;

/// Accepted verification document types.
pub const DOCUMENT_TYPES: &[&str] = &[
    "business_license",
    "id_proof",
    "address_proof",
    "gst_certificate",
    "pan_card",
];

/// Step 1: the business.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BusinessInfo {
    /// Company name.
    pub company_name: String,
    /// Business type.
    pub business_type: String,
    /// Registration number.
    pub registration_number: Option<String>,
    /// GST number (upper-cased).
    pub gst_number: Option<String>,
    /// PAN (upper-cased).
    pub pan_number: Option<String>,
}

/// Address of the merchant's shop.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShopAddress {
    /// Street.
    pub street: String,
    /// City.
    pub city: String,
    /// State.
    pub state: Option<String>,
    /// Postal code.
    pub zip_code: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Landmark.
    pub landmark: Option<String>,
}

/// Step 2: the merchant's shop (stored as `storeDetails` with `storeName`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShopDetails {
    /// Shop name.
    #[serde(rename = "storeName")]
    pub shop_name: String,
    /// Description.
    pub description: Option<String>,
    /// Category.
    pub category: String,
    /// Logo URL.
    pub logo_url: Option<String>,
    /// Banner URL.
    pub banner_url: Option<String>,
    /// Address.
    pub address: ShopAddress,
}

/// Step 3: the payout account.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BankDetails {
    /// Account number.
    pub account_number: String,
    /// IFSC (upper-cased).
    pub ifsc_code: String,
    /// Holder.
    pub account_holder_name: String,
    /// Bank.
    pub bank_name: Option<String>,
    /// Branch.
    pub branch_name: Option<String>,
}

/// A file uploaded through this API as a verification document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadedFile {
    /// Name the client gave.
    pub file_name: Option<String>,
    /// Sniffed MIME type.
    pub mime_type: &'static str,
    /// Bytes.
    pub size: i64,
}

/// One verification document (`stepData.verification.documents[]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationDocument {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// One of [`DOCUMENT_TYPES`].
    #[serde(rename = "type")]
    pub kind: String,
    /// Where it is.
    pub url: String,
    /// Review status (`pending` when added).
    pub status: &'static str,
    /// When it was added.
    pub uploaded_at: DateTime,
    /// Upload details, for files sent to this API.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub file: Option<UploadedFile>,
}

impl VerificationDocument {
    /// A pending document added now.
    pub fn pending(kind: String, url: String, file: Option<UploadedFile>) -> Self {
        Self {
            id: ObjectId::new(),
            kind,
            url,
            status: "pending",
            uploaded_at: DateTime::now(),
            file,
        }
    }
}

/// The validated data of one step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepData {
    /// Step 1.
    Business(BusinessInfo),
    /// Step 2.
    Shop(ShopDetails),
    /// Step 3.
    Bank(BankDetails),
    /// Step 4 (products) is accepted but not stored: products are created through `/products`.
    Products,
    /// Step 5: documents appended to the list.
    Documents(Vec<VerificationDocument>),
}

/// Percentage of the steps completed.
pub fn progress(completed: &[i32]) -> i64 {
    (completed.len() as f64 / f64::from(TOTAL_STEPS) * 100.0).round() as i64
}

/// Whether every step is completed (the wizard can be submitted).
pub fn all_complete(completed: &[i32]) -> bool {
    (1..=TOTAL_STEPS).all(|s| completed.contains(&s))
}

/// The current step after completing `step`: the next one, never past the last nor back
/// before `current`.
pub fn step_after(step: i32, current: i32) -> i32 {
    (step + 1).min(TOTAL_STEPS).max(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completing_a_step_moves_forward_but_never_back() {
        assert_eq!(step_after(1, 1), 2);
        assert_eq!(step_after(5, 5), 5);
        assert_eq!(step_after(2, 4), 4);
        assert_eq!(progress(&[1, 2]), 40);
        assert!(all_complete(&[5, 4, 3, 2, 1]));
        assert!(!all_complete(&[1, 2, 3, 4]));
    }
}
