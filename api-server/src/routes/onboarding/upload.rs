//! `POST /onboarding/documents/upload`: a verification document as a multipart file (field
//! `document`, jpeg/png/gif/pdf ≤ 10 MB by magic bytes, `documentType` from the step-5 enum),
//! stored privately under the merchant and appended to `stepData.verification.documents`.

use axum::extract::{Multipart, State, multipart::MultipartRejection};

use super::{
    failed,
    views::{DocumentUploaded, DocumentView},
};
use crate::{
    domain::onboarding::{DOCUMENT_TYPES, UploadedFile, VerificationDocument},
    error::ApiError,
    extract::AuthMerchant,
    routes::{
        Reply,
        uploads::{keep_if_ok, stored, stored_form},
    },
    state::AppState,
    store::merchants::MerchantDoc,
    uploads::{
        multipart::{Limits, StoredForm},
        sniff::Accept,
    },
};

/// Field and size limit of document uploads.
pub(super) const DOCUMENT: Limits = Limits::new(
    "document",
    1,
    10 * 1024 * 1024,
    "File too large. Maximum size is 10MB.",
);

/// Upload one verification document.
#[utoipa::path(post, path = "/api/merchant/onboarding/documents/upload", tag = "onboarding", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data", description = "`document` file (jpeg/png/gif/pdf ≤ 10 MB) and `documentType` (business_license|id_proof|address_proof|gst_certificate|pan_card)"),
    responses((status = 201, description = "`data.document` (the appended entry) and `data.documents` (all)", body = crate::openapi::Envelope<DocumentUploaded>),
        (status = 400, description = "No file, bad type, too large or bad documentType", body = crate::openapi::ErrorBody),
        (status = 403, description = "Missing profile:edit", body = crate::openapi::ErrorBody)))]
pub async fn upload_document(
    State(state): State<AppState>,
    auth: AuthMerchant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Reply<Uploaded>, ApiError> {
    let allowed = auth.require("profile:edit");
    let form = stored_form(
        &state,
        auth.id(),
        allowed,
        multipart,
        &DOCUMENT,
        true,
        Accept::Document,
    )
    .await?;
    keep_if_ok(&state, &form, record(&state, &auth, &form)).await
}

/// Validate the form's text and append the stored document to the merchant's onboarding.
async fn record(
    state: &AppState,
    auth: &AuthMerchant,
    form: &StoredForm,
) -> Result<Reply<Uploaded>, ApiError> {
    let kind = match form.text("documentType") {
        Some(t) if DOCUMENT_TYPES.contains(&t) => t.to_string(),
        Some(_) => {
            return Err(ApiError::field(
                "Validation failed",
                "documentType",
                format!(
                    "\"documentType\" must be one of [{}]",
                    DOCUMENT_TYPES.join(", ")
                ),
            ));
        }
        None => {
            return Err(ApiError::field(
                "Validation failed",
                "documentType",
                "\"documentType\" is required",
            ));
        }
    };
    let upload = form.one_file()?;
    let stored = stored(state, upload);
    let file = UploadedFile {
        file_name: upload.file_name.clone(),
        mime_type: stored.sniffed.mime,
        size: upload.size as i64,
    };
    let entry = VerificationDocument::pending(kind, stored.url.clone(), Some(file));
    // On failure `keep_if_ok` removes the stored file.
    let merchant = state
        .store
        .add_verification_document(auth.id(), &entry)
        .await
        .map_err(failed())?
        .ok_or_else(|| ApiError::NotFound("Merchant not found".into()))?;
    let data = Uploaded {
        document: DocumentView::of(&entry),
        merchant,
    };
    Ok(Reply::data(data)
        .message("Document uploaded successfully")
        .status(axum::http::StatusCode::CREATED))
}

/// An uploaded document and the account it was added to: serialised as [`DocumentUploaded`].
#[derive(Debug)]
pub struct Uploaded {
    document: DocumentView,
    merchant: MerchantDoc,
}

impl serde::Serialize for Uploaded {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        DocumentUploaded {
            document: &self.document,
            documents: self.merchant.onboarding.documents(),
        }
        .serialize(s)
    }
}
