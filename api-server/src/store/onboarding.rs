//! The onboarding wizard's writes to `merchants.onboarding` (save a step, complete it, move
//! back, submit, add or remove a verification document) and reads of its stored step data.

use super::{
    DateTime, Result, Store,
    json::StoredJson,
    merchants::{MerchantDoc, Onboarding},
};
use crate::domain::{
    KYC_BUSINESS_FIELDS, SensitiveAccess,
    onboarding::{StepData, VerificationDocument},
};
use mongodb::{
    bson::{Bson, Document, doc, oid::ObjectId},
    options::ReturnDocument,
};

const DOCUMENTS: &str = "onboarding.stepData.verification.documents";

/// A value known to serialise (plain structs of strings, numbers, ids and dates).
fn bson<T: serde::Serialize>(value: &T) -> Result<Bson> {
    Ok(mongodb::bson::to_bson(value)?)
}

/// The update of saving `data`; `None` when nothing is stored (step 4).
fn step_update(data: &StepData) -> Result<Option<Document>> {
    let set =
        |key: &str, value: Bson| doc! { "$set": { format!("onboarding.stepData.{key}"): value } };
    Ok(Some(match data {
        StepData::Business(b) => set("businessInfo", bson(b)?),
        StepData::Shop(s) => set("storeDetails", bson(s)?),
        StepData::Bank(b) => set("bankDetails", bson(b)?),
        StepData::Products => return Ok(None),
        StepData::Documents(d) => doc! { "$push": { DOCUMENTS: { "$each": bson(d)? } } },
    }))
}

impl Onboarding {
    /// The saved step data without the bank details and KYC fields `access` may not read.
    pub fn visible_step_data(&self, access: SensitiveAccess) -> StoredJson<'_> {
        if access.bank && access.kyc {
            return StoredJson::Document(&self.step_data);
        }
        let mut steps = self.step_data.clone();
        if !access.bank {
            steps.remove("bankDetails");
        }
        if !access.kyc {
            steps.remove("verification");
            if let Ok(info) = steps.get_document_mut("businessInfo") {
                for field in KYC_BUSINESS_FIELDS {
                    info.remove(field);
                }
            }
        }
        StoredJson::Owned(steps)
    }

    fn document_list(&self) -> &[Bson] {
        self.step_data
            .get_document("verification")
            .and_then(|v| v.get_array("documents"))
            .map_or(&[], Vec::as_slice)
    }

    /// The verification documents, as stored.
    pub fn documents(&self) -> StoredJson<'_> {
        StoredJson::Array(self.document_list())
    }

    /// Id and URL of the document at `index`.
    pub fn document_at(&self, index: usize) -> Option<(ObjectId, Option<&str>)> {
        let entry = self.document_list().get(index)?.as_document()?;
        let id = entry.get_object_id("_id").ok()?;
        Some((id, entry.get_str("url").ok()))
    }

    /// `verification.verificationStatus` (`pending` until a reviewer sets it).
    pub fn verification_status(&self) -> &str {
        self.step_data
            .get_document("verification")
            .and_then(|v| v.get_str("verificationStatus"))
            .unwrap_or("pending")
    }

    /// True when the data needed to complete `step` has been saved.
    pub fn has_step_data(&self, step: i32) -> bool {
        let key = match step {
            1 => "businessInfo",
            2 => "storeDetails",
            3 => "bankDetails",
            4 => return true,
            _ => return !self.document_list().is_empty(),
        };
        self.step_data.get_document(key).is_ok()
    }
}

impl Store {
    async fn update_onboarding(
        &self,
        merchant: ObjectId,
        mut update: Document,
    ) -> Result<Option<MerchantDoc>> {
        let mut set = update.get_document("$set").cloned().unwrap_or_default();
        set.insert("updatedAt", DateTime::now());
        update.insert("$set", set);
        self.merchants()
            .find_one_and_update(doc! { "_id": merchant }, update)
            .return_document(ReturnDocument::After)
            .await
    }

    /// Save a step's data; the first save (`starting`) also moves the wizard to in_progress.
    pub async fn save_onboarding_step(
        &self,
        merchant: ObjectId,
        data: &StepData,
        starting: bool,
    ) -> Result<Option<MerchantDoc>> {
        let mut update = step_update(data)?.unwrap_or_default();
        if starting {
            let mut set = update.get_document("$set").cloned().unwrap_or_default();
            set.insert("onboarding.status", "in_progress");
            set.insert("onboarding.startedAt", DateTime::now());
            update.insert("$set", set);
        }
        self.update_onboarding(merchant, update).await
    }

    /// Mark `step` complete and make `next` the current step.
    pub async fn complete_onboarding_step(
        &self,
        merchant: ObjectId,
        step: i32,
        next: i32,
    ) -> Result<Option<MerchantDoc>> {
        let update = doc! {
            "$addToSet": { "onboarding.completedSteps": step },
            "$set": { "onboarding.currentStep": next },
        };
        self.update_onboarding(merchant, update).await
    }

    /// Make `step` the current step.
    pub async fn set_onboarding_step(&self, merchant: ObjectId, step: i32) -> Result<()> {
        let update = doc! { "$set": { "onboarding.currentStep": step } };
        self.update_onboarding(merchant, update).await.map(drop)
    }

    /// Mark the wizard submitted (completed now).
    pub async fn submit_onboarding(&self, merchant: ObjectId) -> Result<()> {
        let set =
            doc! { "onboarding.status": "completed", "onboarding.completedAt": DateTime::now() };
        self.update_onboarding(merchant, doc! { "$set": set })
            .await
            .map(drop)
    }

    /// Append a verification document.
    pub async fn add_verification_document(
        &self,
        merchant: ObjectId,
        document: &VerificationDocument,
    ) -> Result<Option<MerchantDoc>> {
        let update = doc! { "$push": { DOCUMENTS: bson(document)? } };
        self.update_onboarding(merchant, update).await
    }

    /// Remove the verification document with this id.
    pub async fn remove_verification_document(
        &self,
        merchant: ObjectId,
        id: ObjectId,
    ) -> Result<()> {
        let update = doc! { "$pull": { DOCUMENTS: { "_id": id } } };
        self.update_onboarding(merchant, update).await.map(drop)
    }
}
