//! Validation of each onboarding step's body (contract §2.3) into the domain's [`StepData`].
//! GST, PAN and IFSC formats are only enforced in production.

use serde::Deserialize;
use serde_json::Value;

use crate::{
    domain::onboarding::{
        BankDetails, BusinessInfo, DOCUMENT_TYPES, ShopAddress, ShopDetails, StepData,
        VerificationDocument,
    },
    error::ApiError,
    extract::from_value,
    validate::{Len, Validator},
};

/// A step's request body: any JSON object, read as the input of the step the path names (so a
/// bad body gets that step's field errors).
pub(super) type StepBody = Value;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BusinessInput {
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
struct ShopInput {
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
struct BankInput {
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

fn step1(body: Value, production: bool) -> Result<BusinessInfo, ApiError> {
    let b: BusinessInput = from_value(body)?;
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
    Ok(BusinessInfo {
        company_name: company,
        business_type: kind,
        registration_number: b.registration_number,
        gst_number: gst,
        pan_number: pan,
    })
}

fn step2(body: Value) -> Result<ShopDetails, ApiError> {
    let s: ShopInput = from_value(body)?;
    let mut v = Validator::new();
    let name = v.text("storeName", s.store_name, Len(1, 100));
    let category = v.text("category", s.category.or(s.store_category), Len(1, 100));
    let a = s.address.or(s.store_address).unwrap_or_default();
    let street = v.text("address.street", a.street, Len(1, 200));
    let city = v.text("address.city", a.city, Len(1, 100));
    v.finish()?;
    let address = ShopAddress {
        street,
        city,
        state: a.state,
        zip_code: a.zip_code,
        country: a.country,
        landmark: a.landmark,
    };
    Ok(ShopDetails {
        shop_name: name,
        description: s.description,
        category,
        logo_url: s.logo_url,
        banner_url: s.banner_url,
        address,
    })
}

fn step3(body: Value, production: bool) -> Result<BankDetails, ApiError> {
    let b: BankInput = from_value(body)?;
    let mut v = Validator::new();
    let account = v.text("accountNumber", b.account_number, Len(1, 34));
    let ifsc = upper(Some(v.text("ifscCode", b.ifsc_code, Len(1, 20)))).unwrap_or_default();
    let holder = v.text("accountHolderName", b.account_holder_name, Len(1, 100));
    if production {
        matches(is_ifsc(&ifsc), &mut v, "ifscCode", &Some(ifsc.clone()));
    }
    v.finish()?;
    Ok(BankDetails {
        account_number: account,
        ifsc_code: ifsc,
        account_holder_name: holder,
        bank_name: b.bank_name,
        branch_name: b.branch_name,
    })
}

fn step5(body: Value) -> Result<Vec<VerificationDocument>, ApiError> {
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
    let mut out = Vec::new();
    for (i, d) in docs.into_iter().enumerate() {
        let kind = v.one_of(
            &format!("documents.{i}.type"),
            Some(d.kind.unwrap_or_default()),
            DOCUMENT_TYPES,
        );
        let url = v.text(&format!("documents.{i}.url"), d.url, Len(1, 2000));
        if let Some(kind) = kind {
            out.push(VerificationDocument::pending(kind.into(), url, None));
        }
    }
    v.finish()?;
    Ok(out)
}

/// Validate the body of `step` (1..5).
pub(super) fn step_data(step: i32, body: Value, production: bool) -> Result<StepData, ApiError> {
    Ok(match step {
        1 => StepData::Business(step1(body, production)?),
        2 => StepData::Shop(step2(body)?),
        3 => StepData::Bank(step3(body, production)?),
        4 => StepData::Products,
        _ => StepData::Documents(step5(body)?),
    })
}
