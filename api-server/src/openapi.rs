//! The OpenAPI 3 document (utoipa), served at `/openapi.json` and printed by
//! `merchant-api openapi`. Every route module's handlers are listed here.

use serde::Serialize;
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::{
        ContentBuilder, Ref, RefOr, Response, ResponseBuilder,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::{error::FieldError, routes};

/// The success envelope with its typed `data` (`body = Envelope<T>` in a handler's
/// `#[utoipa::path]`; utoipa inlines it per operation with `data` referring to `T`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always true.
    pub success: bool,
    /// Human-readable outcome.
    #[schema(required = false)]
    pub message: Option<String>,
    /// The payload.
    pub data: T,
}

/// The success envelope of a list whose `data` is an array: in cursor mode `nextCursor` stands
/// beside `data` (`null` at the end of the list).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListEnvelope<T> {
    /// Always true.
    pub success: bool,
    /// Human-readable outcome.
    #[schema(required = false)]
    pub message: Option<String>,
    /// The items.
    pub data: T,
    /// Cursor mode only: the cursor of the next window, `null` at the end of the list.
    #[schema(required = false)]
    pub next_cursor: Option<String>,
}

/// The success envelope of an operation that returns no `data`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    /// Always true.
    pub success: bool,
    /// Human-readable outcome.
    #[schema(required = false)]
    pub message: Option<String>,
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

/// Responses every operation of a kind can give, added where a handler did not list them: 401
/// (and 403) on secured operations, 400 where a body, path or query parameter is parsed, 413
/// with a body, 429 on the rate-limited `/api/merchant` routes.
struct CommonResponses;

fn error_response(description: &str) -> RefOr<Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content("application/json", content)
            .build(),
    )
}

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                let mut add = |code: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(code.to_string())
                        .or_insert_with(|| error_response(description));
                };
                let has_query =
                    op.parameters.iter().flatten().any(|p| {
                        matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)
                    });
                let parses_input = op.request_body.is_some() || path.contains('{') || has_query;
                if parses_input {
                    add("400", "Invalid input");
                }
                if op.request_body.is_some() {
                    add("413", "Request body too large");
                }
                if op.security.is_some() {
                    add("401", "Not authenticated");
                    add(
                        "403",
                        "Forbidden: Insufficient permissions (names `required` and `userRole`)",
                    );
                }
                if path.starts_with("/api/merchant") {
                    add("429", "Rate limit exceeded");
                }
            }
        }
    }
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
    info(title = "Merchant API", description = "Merchant e-commerce API: auth, onboarding, products, variants, stock, team, cashback and audit."),
    modifiers(&BearerAuth, &CommonResponses),
    paths(
        routes::health::health, routes::health::live, routes::health::ready, routes::health::openapi,
        routes::auth::register, routes::auth::login, routes::auth::me, routes::auth::update_profile,
        routes::auth::change_password, routes::auth::forgot_password, routes::auth::reset_password_with_token,
        routes::auth::reset_password, routes::auth::verify_email_with_token, routes::auth::verify_email,
        routes::auth::resend_verification, routes::auth::refresh, routes::auth::logout, routes::auth::revoke_all, routes::auth::auth_test,
        routes::onboarding::status, routes::onboarding::save_step, routes::onboarding::complete_step,
        routes::onboarding::previous_step, routes::onboarding::submit, routes::onboarding::documents,
        routes::onboarding::delete_document, routes::onboarding::upload_document,
        routes::products::list, routes::products::create, routes::products::show, routes::products::update,
        routes::products::remove, routes::products::categories, routes::products::reviews::reviews,
        routes::variants::list, routes::variants::show, routes::variants::create, routes::variants::update,
        routes::variants::remove,
        routes::stock::adjust, routes::stock::adjust_variant, routes::stock::low_stock, routes::stock::dashboard_low_stock,
        routes::inventory::adjust, routes::inventory::adjust_variant, routes::inventory::ledger, routes::inventory::variant_ledger,
        routes::reservations::reserve, routes::reservations::commit, routes::reservations::release, routes::reservations::list,
        routes::team::list, routes::team::show, routes::team::my_permissions, routes::team::invite,
        routes::team::resend_invite, routes::team::change_role, routes::team::change_status, routes::team::remove,
        routes::team::activity, routes::team::validate_invitation, routes::team::accept_invitation,
        routes::team::rbac_mode, routes::team::set_rbac_mode,
        routes::api_keys::create, routes::api_keys::list, routes::api_keys::show, routes::api_keys::revoke, routes::api_keys::rotate,
        routes::cashback::list, routes::cashback::stats, routes::cashback::pending_count, routes::cashback::show,
        routes::cashback::create, routes::cashback::approve, routes::cashback::approve_post, routes::cashback::reject, routes::cashback::reject_post, routes::cashback::mark_paid,
        routes::cashback::bulk_action, routes::cashback::export, routes::cashback::analytics, routes::cashback::metrics,
        routes::audit::logs, routes::audit::stats, routes::audit::search, routes::audit::activity,
        routes::audit::timeline, routes::audit::today, routes::audit::recent, routes::audit::summary,
        routes::audit::critical, routes::audit::heatmap, routes::audit::retention_stats, routes::audit::compliance,
        routes::audit::cleanup, routes::audit::export, routes::audit::resource, routes::audit::user,
        routes::orders::list, routes::orders::show, routes::orders::update_status, routes::orders::bulk_action,
        routes::orders::refund, routes::orders::analytics::analytics,
        routes::notifications::list, routes::notifications::unread, routes::notifications::archived,
        routes::notifications::unread_count, routes::notifications::stats, routes::notifications::actions::mark_all_read,
        routes::notifications::actions::mark_multiple_read, routes::notifications::actions::delete_multiple, routes::notifications::actions::clear_all,
        routes::notifications::show, routes::notifications::actions::mark_read, routes::notifications::actions::archive,
        routes::notifications::actions::remove, routes::notifications::preferences::show, routes::notifications::preferences::save,
        routes::dashboard::overview, routes::dashboard::metrics, routes::dashboard::activity,
        routes::dashboard::top_products, routes::dashboard::sales_data,
        routes::uploads::product_image, routes::uploads::product_images, routes::uploads::image,
        routes::uploads::store_logo, routes::uploads::store_banner, routes::uploads::video, routes::uploads::remove,
        routes::uploads::serve::private,
        routes::bulk::template, routes::bulk::export, routes::bulk::validate, routes::bulk::import, routes::bulk::bulk_update,
        routes::analytics::overview, routes::analytics::sales_overview, routes::analytics::sales_trends,
        routes::analytics::sales_by_time, routes::analytics::sales_by_day, routes::analytics::top_selling,
        routes::analytics::products_performance, routes::analytics::categories_performance,
        routes::analytics::customer_insights, routes::analytics::customer_segments, routes::analytics::customer_list,
        routes::analytics::inventory_status, routes::analytics::stockout_prediction, routes::analytics::payments_breakdown,
        routes::analytics::sales_forecast, routes::analytics::forecast_stockout, routes::analytics::forecast_demand,
        routes::analytics::seasonal_trends, routes::analytics::revenue_breakdown, routes::analytics::comparison,
        routes::analytics::realtime, routes::analytics::top_offers, routes::analytics::cache_stats,
        routes::analytics::cache_invalidate, routes::analytics::cache_warm_up, routes::analytics::export_get,
        routes::analytics::export_create, routes::analytics::export_download,
    ),
    components(schemas(Done, ErrorBody, FieldError, routes::analytics::ExportBody)),
    tags((name = "health"), (name = "auth"), (name = "onboarding"), (name = "products"), (name = "variants"), (name = "stock"), (name = "team"), (name = "api-keys"), (name = "cashback"), (name = "audit"), (name = "orders"), (name = "notifications"), (name = "dashboard"), (name = "uploads"), (name = "bulk"), (name = "analytics"))
)]
struct ApiDoc;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

/// The document as pretty JSON, as `scripts/generate` writes it to `docs/openapi.json`
/// (`cargo run -p merchant-api --example openapi`).
pub fn to_json() -> String {
    document().to_pretty_json().unwrap_or_default()
}

/// The committed `docs/openapi.json`, which the server serves and `merchant-api openapi`
/// prints. The binary carries these bytes rather than the code that builds the document (that
/// code is only linked into the generator and the tests); `scripts/generate --check` and the API
/// tests keep the two equal.
pub const COMMITTED: &str = include_str!("../../docs/openapi.json");

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Fields whose content is free-form JSON by design, as `Schema.field` (or a whole
    /// response, as `METHOD path status`), each with why.
    const FREE_FORM: &[(&str, &str)] = &[
        ("GET /openapi.json 200", "the OpenAPI document itself"),
        (
            "AuditFieldChange.after",
            "a changed field's new value: any JSON type",
        ),
        (
            "AuditFieldChange.before",
            "a changed field's old value: any JSON type",
        ),
        (
            "AuditRecordDetails.after",
            "a resource summary: each resource type has its own",
        ),
        (
            "AuditRecordDetails.before",
            "a resource summary: each resource type has its own",
        ),
        (
            "Envelope_NotificationView.data.relatedEntityData",
            "a stored snapshot whose keys depend on the entity type (order number, stock, …)",
        ),
        (
            "NotificationView.relatedEntityData",
            "a stored snapshot whose keys depend on the entity type (order number, stock, …)",
        ),
        (
            "OrderDelivery.trackingInfo",
            "carrier data as the client sent it with mark-shipped, stored as is",
        ),
        (
            "OrderPayment.coinsUsed",
            "written by the consumer app in a shape it does not fix",
        ),
    ];

    /// Every JSON success response documents its `data`: no operation uses the untyped
    /// envelope, and nothing reachable from a response is an untyped `{}` (other than the
    /// free-form fields listed above), so generated clients get real types, not `any`.
    #[test]
    fn every_operation_documents_typed_data() {
        let doc = serde_json::to_value(super::document()).expect("document serialises");
        let mut problems = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                for (code, response) in op["responses"].as_object().into_iter().flatten() {
                    if !code.starts_with('2') {
                        continue;
                    }
                    let Some(schema) = response.pointer("/content/application~1json/schema") else {
                        continue; // files, CSV, redirects
                    };
                    let at = format!("{} {path} {code}", method.to_uppercase());
                    if FREE_FORM.iter().any(|(free, _)| *free == at) {
                        continue;
                    }
                    untyped(&doc, schema, &at, &mut Vec::new(), &mut problems);
                }
            }
        }
        problems.sort();
        problems.dedup();
        assert!(
            problems.is_empty(),
            "{} untyped response parts:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }

    fn component<'a>(doc: &'a Value, reference: &str) -> (&'a Value, String) {
        let name = reference.trim_start_matches("#/components/schemas/");
        let schema = doc
            .pointer(&format!("/components/schemas/{name}"))
            .unwrap_or_else(|| panic!("dangling reference {reference}"));
        (schema, name.to_string())
    }

    /// Record in `problems` every untyped part of `schema` (`at` says where it was reached).
    fn untyped(
        doc: &Value,
        schema: &Value,
        at: &str,
        seen: &mut Vec<String>,
        problems: &mut Vec<String>,
    ) {
        if let Some(reference) = schema["$ref"].as_str() {
            let (target, name) = component(doc, reference);
            if seen.contains(&name) {
                return;
            }
            seen.push(name.clone());
            untyped(doc, target, &name, seen, problems);
            return;
        }
        let mut typed = false;
        for key in ["allOf", "oneOf", "anyOf"] {
            for part in schema[key].as_array().into_iter().flatten() {
                typed = true;
                untyped(doc, part, at, seen, problems);
            }
        }
        if let Some(properties) = schema["properties"].as_object() {
            typed = true;
            for (field, part) in properties {
                let name = format!("{at}.{field}");
                if FREE_FORM.iter().any(|(free, _)| *free == name) {
                    continue;
                }
                untyped(doc, part, &name, seen, problems);
            }
        }
        if let Some(items) = schema.get("items") {
            typed = true;
            untyped(doc, items, &format!("{at}[]"), seen, problems);
        }
        if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            typed = true;
            untyped(doc, values, &format!("{at}{{}}"), seen, problems);
        }
        let kind = schema["type"].as_str().or_else(|| {
            schema["type"].as_array().and_then(|kinds| {
                kinds
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|k| *k != "null")
            })
        });
        // `null` too: the other branch of a nullable reference (`oneOf: [null, $ref]`).
        typed |= matches!(kind, Some("string" | "number" | "integer" | "boolean"))
            || schema["type"] == "null";
        typed |= schema.get("enum").is_some() || schema.get("const").is_some();
        if !typed {
            problems.push(format!("{at}: untyped"));
        }
    }
}
