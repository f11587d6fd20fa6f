//! A validated change to a merchant's profile: `None` keeps the stored value; address parts
//! change one by one (merged into the stored address).

/// Address parts to change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPatch {
    /// Street.
    pub street: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State.
    pub state: Option<String>,
    /// Postal code.
    pub zip_code: Option<String>,
    /// Country.
    pub country: Option<String>,
}

/// Profile fields to change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfilePatch {
    /// Normalised phone number.
    pub phone: Option<String>,
    /// Business name.
    pub business_name: Option<String>,
    /// Owner name.
    pub owner_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Logo URL.
    pub logo: Option<String>,
    /// Website URL.
    pub website: Option<String>,
    /// Business address parts.
    pub address: AddressPatch,
}
