//! The OpenAPI 3 document (utoipa), served at `/openapi.json` and printed by
//! `merchant-api openapi`. Every route module's handlers are listed here.

use serde::Serialize;
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::{error::FieldError, routes};

/// The success envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope {
    /// Always true.
    pub success: bool,
    /// Human-readable outcome.
    pub message: Option<String>,
    /// Payload.
    #[schema(value_type = Object)]
    pub data: Option<serde_json::Value>,
}

/// The error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always false.
    pub success: bool,
    /// What went wrong.
    pub message: Option<String>,
    /// Field problems (validation errors).
    pub errors: Option<Vec<FieldError>>,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Merchant API", description = "Merchant e-commerce API: auth, onboarding, products, variants and stock."),
    modifiers(&BearerAuth),
    paths(
        routes::health::health, routes::health::live, routes::health::ready, routes::health::metrics, routes::health::openapi,
        routes::auth::register, routes::auth::login, routes::auth::me, routes::auth::update_profile,
        routes::auth::change_password, routes::auth::forgot_password, routes::auth::reset_password_with_token,
        routes::auth::reset_password, routes::auth::verify_email_with_token, routes::auth::verify_email,
        routes::auth::resend_verification, routes::auth::refresh, routes::auth::logout,
        routes::onboarding::status, routes::onboarding::save_step, routes::onboarding::complete_step,
        routes::onboarding::previous_step, routes::onboarding::submit, routes::onboarding::documents,
        routes::onboarding::delete_document,
        routes::products::list, routes::products::create, routes::products::show, routes::products::update,
        routes::products::remove, routes::products::categories,
        routes::variants::list, routes::variants::show, routes::variants::create, routes::variants::update,
        routes::variants::remove,
        routes::stock::adjust, routes::stock::adjust_variant, routes::stock::low_stock, routes::stock::dashboard_low_stock,
    ),
    components(schemas(Envelope, ErrorBody, FieldError)),
    tags((name = "health"), (name = "auth"), (name = "onboarding"), (name = "products"), (name = "variants"), (name = "stock"))
)]
struct ApiDoc;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

/// The document as pretty JSON (what `merchant-api openapi` prints).
pub fn to_json() -> String {
    document().to_pretty_json().unwrap_or_default()
}
