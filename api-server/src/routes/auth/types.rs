//! Request bodies of the auth routes and their validation into typed values.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::{
    domain::{AddressPatch, Email, Password, Phone, ProfilePatch},
    error::ApiError,
    validate::{Len, Validator},
};

/// Address as sent by clients (all parts required on register, optional on profile).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddressInput {
    /// Street.
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    pub street: Option<String>,
    /// City.
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    pub city: Option<String>,
    /// State.
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    pub state: Option<String>,
    /// Postal code.
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    pub zip_code: Option<String>,
    /// Country.
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    pub country: Option<String>,
}

/// `POST /register`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBody {
    /// 2..100 characters.
    #[schema(required = true, value_type = String, min_length = 2, max_length = 100)]
    pub business_name: Option<String>,
    /// 2..50 characters.
    #[schema(required = true, value_type = String, min_length = 2, max_length = 50)]
    pub owner_name: Option<String>,
    /// E-mail (lower-cased).
    #[schema(required = true, value_type = String, format = Email, example = "owner@shop.example")]
    pub email: Option<String>,
    /// At least 6 characters.
    #[schema(required = true, value_type = String, min_length = 6, max_length = 128)]
    pub password: Option<String>,
    /// Phone.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 30)]
    pub phone: Option<String>,
    /// Business address.
    #[schema(required = true, value_type = AddressInput)]
    pub business_address: Option<AddressInput>,
}

/// A validated registration.
#[derive(Debug)]
pub struct NewMerchant {
    /// Business name.
    pub business_name: String,
    /// Owner.
    pub owner_name: String,
    /// E-mail.
    pub email: Email,
    /// Password.
    pub password: Password,
    /// Phone.
    pub phone: String,
    /// Address.
    pub address: crate::store::merchants::Address,
}

impl RegisterBody {
    /// Validate every field.
    pub fn validate(self) -> Result<NewMerchant, ApiError> {
        let mut v = Validator::new();
        let business_name = v.text("businessName", self.business_name, Len(2, 100));
        let owner_name = v.text("ownerName", self.owner_name, Len(2, 50));
        let email = v.parse("email", self.email, Email::parse);
        let password = v.parse("password", self.password, Password::parse);
        let phone = v.text("phone", self.phone, Len(1, 30));
        let address = match self.business_address {
            None => {
                v.error("businessAddress", "\"businessAddress\" is required", None);
                Default::default()
            }
            Some(a) => crate::store::merchants::Address {
                street: v.text("businessAddress.street", a.street, Len(1, 200)),
                city: v.text("businessAddress.city", a.city, Len(1, 100)),
                state: v.text("businessAddress.state", a.state, Len(1, 100)),
                zip_code: v.text("businessAddress.zipCode", a.zip_code, Len(1, 20)),
                country: v.text("businessAddress.country", a.country, Len(1, 100)),
            },
        };
        v.finish()?;
        Ok(NewMerchant {
            business_name,
            owner_name,
            email,
            password,
            phone,
            address,
        })
    }
}

/// `POST /login`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct LoginBody {
    /// E-mail.
    #[schema(required = true, value_type = String, format = Email)]
    pub email: Option<String>,
    /// Any non-empty string.
    #[schema(required = true, value_type = String, min_length = 1)]
    pub password: Option<String>,
}

impl LoginBody {
    /// Validate.
    pub fn validate(self) -> Result<(Email, String), ApiError> {
        let mut v = Validator::new();
        let email = v.parse("email", self.email, Email::parse);
        let password = v.text("password", self.password, Len(1, 1024));
        v.finish()?;
        Ok((email, password))
    }
}

/// `{email}` bodies (forgot-password, resend-verification).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct EmailBody {
    /// E-mail.
    #[schema(required = true, value_type = String, format = Email)]
    pub email: Option<String>,
}

impl EmailBody {
    /// Validate.
    pub fn validate(self) -> Result<Email, ApiError> {
        let mut v = Validator::new();
        let email = v.parse("email", self.email, Email::parse);
        v.finish()?;
        Ok(email)
    }
}

/// `PUT /change-password`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordBody {
    /// Current password.
    pub current_password: Option<String>,
    /// New password (≥ 6).
    pub new_password: Option<String>,
    /// Must equal `newPassword`.
    pub confirm_password: Option<String>,
}

fn confirm(v: &mut Validator, password: &Option<String>, confirm: Option<String>) {
    match confirm {
        None => v.error("confirmPassword", "\"confirmPassword\" is required", None),
        Some(c) if Some(&c) != password.as_ref() => {
            v.error("confirmPassword", "Passwords do not match", None)
        }
        Some(_) => {}
    }
}

impl ChangePasswordBody {
    /// Validate.
    pub fn validate(self) -> Result<(String, Password), ApiError> {
        let mut v = Validator::new();
        let current = v.text("currentPassword", self.current_password, Len(1, 1024));
        confirm(&mut v, &self.new_password, self.confirm_password);
        let new = v.parse("newPassword", self.new_password, Password::parse);
        v.finish()?;
        Ok((current, new))
    }
}

/// Reset-password bodies (`token` only in the body variant).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResetPasswordBody {
    /// Token (body variant only).
    pub token: Option<String>,
    /// New password (≥ 6).
    pub password: Option<String>,
    /// Must equal `password`.
    pub confirm_password: Option<String>,
}

impl ResetPasswordBody {
    /// Validate the password pair.
    pub fn validate(self) -> Result<Password, ApiError> {
        let mut v = Validator::new();
        confirm(&mut v, &self.password, self.confirm_password);
        let password = v.parse("password", self.password, Password::parse);
        v.finish()?;
        Ok(password)
    }
}

/// `{token}` body (verify-email variant).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TokenBody {
    /// Token.
    pub token: Option<String>,
}

/// `POST /refresh` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshBody {
    /// A refresh token from login or register.
    pub refresh_token: Option<String>,
}

/// `PUT /profile`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileBody {
    /// 2..100.
    pub business_name: Option<String>,
    /// 2..50.
    pub owner_name: Option<String>,
    /// Digits, `+`, `-`, spaces, parentheses.
    pub phone: Option<String>,
    /// Partial address (merged).
    pub business_address: Option<AddressInput>,
    /// Logo URL.
    pub logo: Option<String>,
    /// Website URL.
    pub website: Option<String>,
    /// ≤ 500.
    pub description: Option<String>,
}

fn uri(raw: &str) -> Result<String, &'static str> {
    let ok = (raw.starts_with("https://") || raw.starts_with("http://"))
        && raw.len() > 8
        && !raw.contains(char::is_whitespace);
    if ok {
        Ok(raw.to_string())
    } else {
        Err("must be a valid uri")
    }
}

impl ProfileBody {
    /// Validate into a profile patch.
    pub fn validate(self) -> Result<ProfilePatch, ApiError> {
        let mut v = Validator::new();
        let phone = match self.phone {
            Some(p) => Some(
                Phone::parse(&p)
                    .map_err(|m| ApiError::BadRequest(m.into()))?
                    .as_str()
                    .to_string(),
            ),
            None => None,
        };
        let mut patch = ProfilePatch {
            phone,
            business_name: v.opt_text("businessName", self.business_name, Len(2, 100)),
            owner_name: v.opt_text("ownerName", self.owner_name, Len(2, 50)),
            description: v.opt_text("description", self.description, Len(0, 500)),
            logo: v.opt_parse("logo", self.logo, uri),
            website: v.opt_parse("website", self.website, uri),
            address: AddressPatch::default(),
        };
        if let Some(a) = self.business_address {
            let mut part = |key: &str, value| {
                v.opt_text(&format!("businessAddress.{key}"), value, Len(1, 200))
            };
            patch.address = AddressPatch {
                street: part("street", a.street),
                city: part("city", a.city),
                state: part("state", a.state),
                zip_code: part("zipCode", a.zip_code),
                country: part("country", a.country),
            };
        }
        v.finish()?;
        Ok(patch)
    }
}
