//! Response bodies of the auth routes: the profile (the most used response, a borrowing view
//! serialised straight from the stored account), the session of login and refresh, and the two
//! envelopes with an extra top-level key (login's `warning`, the smoke test's `timestamp`).

use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use crate::store::{
    DateTime, ObjectId,
    json::{hex, iso_text},
    merchants::Address,
    merchants::MerchantDoc,
    users::MerchantUserDoc,
};

/// The merchant's public profile (`toJSON`: `id`, never the password or tokens).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView<'a> {
    /// Merchant id (24 hex).
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String)]
    pub id: &'a ObjectId,
    /// Business name.
    pub business_name: &'a str,
    /// Owner's name.
    pub owner_name: &'a str,
    /// Lower-cased e-mail.
    pub email: &'a str,
    /// Phone.
    pub phone: &'a str,
    /// Business address.
    pub business_address: &'a Address,
    /// pending | verified | rejected.
    pub verification_status: &'a str,
    /// False when the account is deactivated.
    pub is_active: bool,
    /// E-mail confirmed.
    pub email_verified: bool,
    /// Website URL (null when unset).
    pub website: Option<&'a str>,
    /// Logo URL (null when unset).
    pub logo: Option<&'a str>,
    /// Description (null when unset).
    pub description: Option<&'a str>,
    /// Registration instant.
    #[serde(serialize_with = "iso_text")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: &'a DateTime,
}

impl<'a> ProfileView<'a> {
    /// The profile of `m`.
    pub fn of(m: &'a MerchantDoc) -> Self {
        Self {
            id: &m.id,
            business_name: &m.business_name,
            owner_name: &m.owner_name,
            email: &m.email,
            phone: &m.phone,
            business_address: &m.business_address,
            verification_status: &m.verification_status,
            is_active: m.is_active,
            email_verified: m.email_verified,
            website: m.website.as_deref(),
            logo: m.logo.as_deref(),
            description: m.description.as_deref(),
            created_at: &m.created_at,
        }
    }
}

/// `data` of `GET /me` and `PUT /profile`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileData<'a> {
    /// The profile.
    pub merchant: ProfileView<'a>,
}

impl<'a> ProfileData<'a> {
    /// The profile of `m`.
    pub fn of(m: &'a MerchantDoc) -> Self {
        Self {
            merchant: ProfileView::of(m),
        }
    }
}

/// The profile response owning its account: serialised as [`ProfileData`].
#[derive(Debug)]
pub struct Profile(pub std::sync::Arc<MerchantDoc>);

impl Serialize for Profile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ProfileData::of(&self.0).serialize(s)
    }
}

/// The short merchant object of login and refresh responses.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MerchantSummary<'a> {
    /// Merchant id (24 hex).
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String)]
    pub id: &'a ObjectId,
    /// Business name.
    pub business_name: &'a str,
    /// Owner's e-mail.
    pub email: &'a str,
    /// pending | verified | rejected.
    pub verification_status: &'a str,
    /// False when the account is deactivated.
    pub is_active: bool,
    /// E-mail confirmed.
    pub email_verified: bool,
    /// Owner's name (owner sessions only; absent for team members).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_name: Option<&'a str>,
}

impl<'a> MerchantSummary<'a> {
    /// The summary of `m`, with the owner's name when the owner signed in.
    pub fn of(m: &'a MerchantDoc, with_owner: bool) -> Self {
        Self {
            id: &m.id,
            business_name: &m.business_name,
            email: &m.email,
            verification_status: &m.verification_status,
            is_active: m.is_active,
            email_verified: m.email_verified,
            owner_name: with_owner.then_some(m.owner_name.as_str()),
        }
    }
}

/// The team member who signed in.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberSummary<'a> {
    /// Team member id (24 hex).
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String)]
    pub id: &'a ObjectId,
    /// Name.
    pub name: &'a str,
    /// E-mail.
    pub email: &'a str,
    /// admin | manager | staff.
    pub role: &'a str,
    /// active | inactive | suspended.
    pub status: &'a str,
}

impl<'a> MemberSummary<'a> {
    /// The summary of `m`.
    pub fn of(m: &'a MerchantUserDoc) -> Self {
        Self {
            id: &m.id,
            name: &m.name,
            email: &m.email,
            role: &m.role,
            status: &m.status,
        }
    }
}

/// `data` of login and refresh: the tokens and who they are for.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionData<'a> {
    /// Access token (JWT).
    pub token: &'a str,
    /// Refresh token (JWT; each is exchanged once).
    pub refresh_token: &'a str,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
    /// owner | admin | manager | staff.
    pub role: &'a str,
    /// The role's `resource:action` permissions.
    pub permissions: &'a [String],
    /// The merchant.
    pub merchant: MerchantSummary<'a>,
    /// The team member (team sessions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub user: Option<MemberSummary<'a>>,
}

/// A started session owning what it describes: serialised as [`SessionData`].
#[derive(Debug)]
pub struct Session {
    /// Access token.
    pub token: String,
    /// Refresh token.
    pub refresh_token: String,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
    /// Role.
    pub role: String,
    /// Permissions.
    pub permissions: Vec<String>,
    /// The merchant.
    pub merchant: MerchantDoc,
    /// The team member who signed in.
    pub member: Option<MerchantUserDoc>,
}

impl Serialize for Session {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SessionData {
            token: &self.token,
            refresh_token: &self.refresh_token,
            expires_in: self.expires_in,
            role: &self.role,
            permissions: &self.permissions,
            merchant: MerchantSummary::of(&self.merchant, self.member.is_none()),
            user: self.member.as_ref().map(MemberSummary::of),
        }
        .serialize(s)
    }
}

/// The merchant object of a registration.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredMerchant<'a> {
    /// Merchant id (24 hex).
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String)]
    pub id: &'a ObjectId,
    /// Business name.
    pub business_name: &'a str,
    /// Owner's name.
    pub owner_name: &'a str,
    /// E-mail.
    pub email: &'a str,
    /// Always `pending`.
    pub verification_status: &'static str,
    /// Always false.
    pub email_verified: bool,
}

/// `data` of a registration.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registered<'a> {
    /// Access token (JWT).
    pub token: &'a str,
    /// Refresh token (JWT).
    pub refresh_token: &'a str,
    /// The new account.
    pub merchant: RegisteredMerchant<'a>,
}

/// A registration owning its account: serialised as [`Registered`].
#[derive(Debug)]
pub struct Registration {
    /// Access token.
    pub token: String,
    /// Refresh token.
    pub refresh_token: String,
    /// The new account.
    pub merchant: MerchantDoc,
}

impl Serialize for Registration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = &self.merchant;
        Registered {
            token: &self.token,
            refresh_token: &self.refresh_token,
            merchant: RegisteredMerchant {
                id: &m.id,
                business_name: &m.business_name,
                owner_name: &m.owner_name,
                email: &m.email,
                verification_status: "pending",
                email_verified: false,
            },
        }
        .serialize(s)
    }
}

/// `data` of e-mail verification.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailVerified {
    /// Always true.
    pub email_verified: bool,
}

/// The login envelope: [`crate::openapi::Envelope`] with the `warning` of an unverified
/// account.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginEnvelope<'a> {
    /// Always true.
    pub success: bool,
    /// `Login successful`.
    pub message: String,
    /// The session.
    pub data: SessionData<'a>,
    /// Present while the e-mail address is not verified.
    #[schema(required = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// The smoke-test body: no `data`, a top-level `timestamp`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SmokeTestBody {
    /// Always true.
    pub success: bool,
    /// `Merchant auth route is working!`.
    pub message: String,
    /// The server's clock (ISO-8601).
    #[schema(format = DateTime)]
    pub timestamp: String,
}
