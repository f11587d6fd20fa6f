//! The `merchants` collection: owner accounts, their credentials state and profile. The
//! onboarding wizard state lives inside the same document (see `store::onboarding` types here).

use mongodb::{
    bson::{Document, doc, oid::ObjectId},
    options::ReturnDocument,
};
use serde::{Deserialize, Serialize};

use super::{DateTime, Store, WriteError};
use crate::domain::ProfilePatch;

/// Postal address of the business.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// Street.
    pub street: String,
    /// City.
    pub city: String,
    /// State or region.
    pub state: String,
    /// Postal code.
    pub zip_code: String,
    /// Country.
    pub country: String,
}

/// A merchant (store owner) account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MerchantDoc {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Business name.
    pub business_name: String,
    /// Owner's name.
    pub owner_name: String,
    /// Lower-cased e-mail (unique).
    pub email: String,
    /// Argon2id (or legacy bcrypt) hash.
    pub password: String,
    /// Phone.
    pub phone: String,
    /// Address.
    #[serde(default)]
    pub business_address: Address,
    /// pending | verified | rejected.
    #[serde(default = "pending")]
    pub verification_status: String,
    /// false rejects every token.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// E-mail confirmed.
    #[serde(default)]
    pub email_verified: bool,
    /// SHA-256 of the verification token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verification_token: Option<String>,
    /// Verification token expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verification_expiry: Option<DateTime>,
    /// SHA-256 of the reset token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_password_token: Option<String>,
    /// Reset token expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_password_expiry: Option<DateTime>,
    /// Consecutive failed logins.
    #[serde(default)]
    pub failed_login_attempts: i32,
    /// Locked until this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_locked_until: Option<DateTime>,
    /// Raised by a password reset: the owner's tokens issued under a lower version (absent: 0)
    /// are refused, and its sessions were revoked.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub session_version: i64,
    /// `shadow`: team members' missing permissions are recorded, not refused, while staff
    /// migrate to narrower roles (absent: `enforce`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rbac_mode: Option<String>,
    /// Last successful login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<DateTime>,
    /// IP of the last successful login.
    #[serde(
        default,
        rename = "lastLoginIP",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_login_ip: Option<String>,
    /// Website URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Logo URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    /// Description (≤500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Onboarding wizard state.
    #[serde(default)]
    pub onboarding: Onboarding,
    /// Created.
    pub created_at: DateTime,
    /// Updated.
    pub updated_at: DateTime,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn pending() -> String {
    "pending".into()
}

fn yes() -> bool {
    true
}

/// Onboarding wizard state (`merchants.onboarding`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Onboarding {
    /// pending | in_progress | completed | rejected.
    pub status: String,
    /// 1..5.
    pub current_step: i32,
    /// Steps marked complete.
    #[serde(default)]
    pub completed_steps: Vec<i32>,
    /// Saved step data (`businessInfo`, `storeDetails`, `bankDetails`, `verification`).
    #[serde(default)]
    pub step_data: Document,
    /// First save.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime>,
    /// Submission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime>,
    /// Why it was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
}

impl Default for Onboarding {
    fn default() -> Self {
        Self {
            status: "pending".into(),
            current_step: 1,
            completed_steps: Vec::new(),
            step_data: Document::new(),
            started_at: None,
            completed_at: None,
            rejection_reason: None,
        }
    }
}

/// Who a new merchant account is; everything else starts in its initial state.
pub struct NewMerchantAccount {
    /// Business name.
    pub business_name: String,
    /// Owner's name.
    pub owner_name: String,
    /// Login e-mail (already normalised).
    pub email: String,
    /// Password hash.
    pub password: String,
    /// Phone number.
    pub phone: String,
    /// Business address.
    pub business_address: Address,
}

impl MerchantDoc {
    /// A new, active account with no logins, no lock and onboarding not started; the caller
    /// sets verification state afterwards.
    pub fn new_account(account: NewMerchantAccount) -> Self {
        let NewMerchantAccount {
            business_name,
            owner_name,
            email,
            password,
            phone,
            business_address,
        } = account;
        let now = DateTime::now();
        Self {
            id: ObjectId::new(),
            business_name,
            owner_name,
            email,
            password,
            phone,
            business_address,
            verification_status: "pending".into(),
            is_active: true,
            email_verified: false,
            email_verification_token: None,
            email_verification_expiry: None,
            reset_password_token: None,
            reset_password_expiry: None,
            failed_login_attempts: 0,
            account_locked_until: None,
            session_version: 0,
            rbac_mode: None,
            last_login_at: None,
            last_login_ip: None,
            website: None,
            logo: None,
            description: None,
            onboarding: Onboarding::default(),
            created_at: now,
            updated_at: now,
        }
    }
}

impl Store {
    /// Insert a new merchant (E11000 on a taken e-mail).
    pub async fn insert_merchant(&self, merchant: &MerchantDoc) -> Result<(), WriteError> {
        self.merchants().insert_one(merchant).await?;
        Ok(())
    }

    /// Merchant by id.
    pub async fn merchant(&self, id: ObjectId) -> mongodb::error::Result<Option<MerchantDoc>> {
        self.merchants().find_one(doc! { "_id": id }).await
    }

    /// Merchant by normalised e-mail.
    pub async fn merchant_by_email(
        &self,
        email: &str,
    ) -> mongodb::error::Result<Option<MerchantDoc>> {
        self.merchants().find_one(doc! { "email": email }).await
    }

    /// Apply a profile patch (address parts merged into the stored address) and return the
    /// updated merchant.
    pub async fn update_profile(
        &self,
        id: ObjectId,
        patch: &ProfilePatch,
    ) -> mongodb::error::Result<Option<MerchantDoc>> {
        let mut set = Document::new();
        let a = &patch.address;
        let fields = [
            ("phone", &patch.phone),
            ("businessName", &patch.business_name),
            ("ownerName", &patch.owner_name),
            ("description", &patch.description),
            ("logo", &patch.logo),
            ("website", &patch.website),
            ("businessAddress.street", &a.street),
            ("businessAddress.city", &a.city),
            ("businessAddress.state", &a.state),
            ("businessAddress.zipCode", &a.zip_code),
            ("businessAddress.country", &a.country),
        ];
        for (key, value) in fields {
            if let Some(v) = value {
                set.insert(key, v);
            }
        }
        set.insert("updatedAt", DateTime::now());
        self.merchants()
            .find_one_and_update(doc! { "_id": id }, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .await
    }

    /// Replace the password hash and clear lockout and reset state.
    pub async fn set_merchant_password(
        &self,
        id: ObjectId,
        hash: String,
    ) -> mongodb::error::Result<()> {
        self.merchants()
            .update_one(
                doc! { "_id": id },
                doc! {
                    "$set": { "password": hash, "failedLoginAttempts": 0, "updatedAt": DateTime::now() },
                    "$unset": { "accountLockedUntil": "", "resetPasswordToken": "", "resetPasswordExpiry": "" },
                },
            )
            .await
            .map(drop)
    }

    /// Consume an unexpired reset token (single use): set the new hash, clear lockout and raise
    /// the session version (ending every token issued before). Returns the updated merchant.
    pub async fn reset_merchant_password(
        &self,
        digest: &str,
        hash: String,
    ) -> mongodb::error::Result<Option<MerchantDoc>> {
        self.merchants()
            .find_one_and_update(
                doc! { "resetPasswordToken": digest, "resetPasswordExpiry": { "$gt": DateTime::now() } },
                doc! {
                    "$set": { "password": hash, "failedLoginAttempts": 0, "updatedAt": DateTime::now() },
                    "$unset": { "accountLockedUntil": "", "resetPasswordToken": "", "resetPasswordExpiry": "" },
                    "$inc": { "sessionVersion": 1 },
                },
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .await
    }

    /// Store a reset-token digest for the merchant with this e-mail, if any.
    pub async fn set_reset_token(
        &self,
        email: &str,
        digest: &str,
        expiry: DateTime,
    ) -> mongodb::error::Result<Option<MerchantDoc>> {
        self.merchants()
            .find_one_and_update(
                doc! { "email": email },
                doc! { "$set": { "resetPasswordToken": digest, "resetPasswordExpiry": expiry } },
            )
            .await
    }

    /// Store a new verification-token digest.
    pub async fn set_verification_token(
        &self,
        id: ObjectId,
        digest: &str,
        expiry: DateTime,
    ) -> mongodb::error::Result<()> {
        self.merchants()
            .update_one(
                doc! { "_id": id },
                doc! { "$set": { "emailVerificationToken": digest, "emailVerificationExpiry": expiry } },
            )
            .await
            .map(drop)
    }

    /// Mark the merchant holding this unexpired verification token as verified. Returns the
    /// document as it was before, so callers can tell "already verified".
    pub async fn verify_email(&self, digest: &str) -> mongodb::error::Result<Option<MerchantDoc>> {
        self.merchants()
            .find_one_and_update(
                doc! { "emailVerificationToken": digest, "emailVerificationExpiry": { "$gt": DateTime::now() } },
                doc! { "$set": { "emailVerified": true, "updatedAt": DateTime::now() } },
            )
            .await
    }

    /// End every token of the owner account issued so far (revoke-all): raise its session
    /// version. The merchant as it now is.
    pub async fn raise_owner_session_version(
        &self,
        merchant: ObjectId,
    ) -> mongodb::error::Result<Option<MerchantDoc>> {
        self.merchants()
            .find_one_and_update(
                doc! { "_id": merchant },
                doc! { "$inc": { "sessionVersion": 1 }, "$set": { "updatedAt": DateTime::now() } },
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .await
    }

    /// Set the merchant's `rbacMode` (`enforce` or `shadow`).
    pub async fn set_rbac_mode(
        &self,
        merchant: ObjectId,
        mode: &str,
    ) -> mongodb::error::Result<Option<MerchantDoc>> {
        self.merchants()
            .find_one_and_update(
                doc! { "_id": merchant },
                doc! { "$set": { "rbacMode": mode, "updatedAt": DateTime::now() } },
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .await
    }
}
