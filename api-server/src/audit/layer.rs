//! The audit middleware: after a successful POST/PUT/PATCH/DELETE it derives who (the token
//! `middleware::authenticate` verified, or the handler's [`AuditChange::actor`]), what (action and resource from the
//! matched route, enriched by the handler's [`AuditChange`]) and request facts, and queues one
//! record. It reads the response only after it is produced and never changes it.

use axum::{
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::Response,
};
use mongodb::bson::oid::ObjectId;

use super::{Actor, AuditChange, RequestFacts, Severity, changes, record_doc};
use crate::{
    config::ProxyTrust,
    extract::ClientIp,
    middleware::RequestId,
    security::identity::TokenCheck,
    state::AppState,
    store::audit::{AuditDetails, AuditLogDoc},
};

/// Path segments that name a sub-collection: the resource becomes its singular.
const COLLECTIONS: &[&str] = &["variants", "documents", "products"];

fn singular(word: &str) -> String {
    match word {
        "team" => "team_member".into(),
        "cashback" | "onboarding" | "auth" | "audit" | "bulk" => word.into(),
        w => w.strip_suffix('s').unwrap_or(w).replace('-', "_"),
    }
}

fn verb(method: &Method) -> &'static str {
    match *method {
        Method::POST => "created",
        Method::DELETE => "deleted",
        _ => "updated",
    }
}

/// `(action, resourceType)` for a matched route such as `/api/merchant/products/{id}`:
/// `product.updated`; `/cashback/{id}/approve` gives `cashback.approve`.
pub fn derive(method: &Method, matched: &str) -> (String, String) {
    let segments: Vec<&str> = matched
        .trim_start_matches("/api/merchant")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let Some(area) = segments.first() else {
        return (format!("request.{}", verb(method)), "request".into());
    };
    let area = singular(area);
    let statics: Vec<&str> = segments[1..]
        .iter()
        .copied()
        .filter(|s| !s.starts_with('{'))
        .collect();
    let ends_with_param = segments.last().is_some_and(|s| s.starts_with('{'));
    match statics.last() {
        None => (format!("{area}.{}", verb(method)), area),
        Some(last) if COLLECTIONS.contains(last) && (ends_with_param || statics.len() == 1) => {
            let resource = singular(last);
            (format!("{resource}.{}", verb(method)), resource)
        }
        Some(_) => {
            let what: Vec<String> = statics.iter().map(|s| s.replace('-', "_")).collect();
            (format!("{area}.{}", what.join(".")), area)
        }
    }
}

/// The last ObjectId among the path parameters (aligned with the matched route).
fn path_resource_id(matched: &str, path: &str) -> Option<ObjectId> {
    let pattern: Vec<&str> = matched.split('/').collect();
    let actual: Vec<&str> = path.split('/').collect();
    pattern
        .iter()
        .zip(actual.iter())
        .filter(|(p, _)| p.starts_with('{'))
        .filter_map(|(_, a)| ObjectId::parse_str(a).ok())
        .next_back()
}

fn facts(req: &Request, trust_proxy: &ProxyTrust) -> RequestFacts {
    let ip = ClientIp::resolve(req.headers(), req.extensions(), trust_proxy).0;
    RequestFacts {
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        ..RequestFacts::from_headers(ip, req.headers())
    }
}

/// The caller named by the token `middleware::authenticate` verified.
fn token_actor(req: &Request) -> Option<Actor> {
    let identity = req.extensions().get::<TokenCheck>()?.identity()?;
    Some(Actor {
        merchant: identity.merchant?,
        member: identity.member,
    })
}

/// The API key the caller presented, if it did.
fn token_api_key(req: &Request) -> Option<ObjectId> {
    let identity = req.extensions().get::<TokenCheck>()?.identity()?;
    identity.api_key.as_ref().map(|k| k.id)
}

/// Record successful mutating requests (see the module docs).
pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(matched) = mutating_route(&req) else {
        return next.run(req).await;
    };
    let method = req.method().clone();
    let path = crate::middleware::loggable_path(Some(&matched), req.uri().path()).into_owned();
    let facts = facts(&req, &state.settings.trust_proxy);
    let actor = token_actor(&req);
    let api_key = token_api_key(&req);
    let response = next.run(req).await;
    if !response.status().is_success() {
        return response;
    }
    let change = response
        .extensions()
        .get::<AuditChange>()
        .cloned()
        .unwrap_or_default();
    if change.handled {
        return response;
    }
    let Some(actor) = change.actor.or(actor) else {
        return response;
    };
    let request = Recorded {
        method,
        matched,
        path,
        api_key,
    };
    state.audit.push(request.record(actor, &change, facts));
    response
}

/// The matched route of a mutating request (POST, PUT, PATCH, DELETE); `None` otherwise.
fn mutating_route(req: &Request) -> Option<String> {
    let mutating = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    req.extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .filter(|_| mutating)
}

/// A successful mutating request about to be recorded.
struct Recorded {
    method: Method,
    /// The matched route template.
    matched: String,
    /// The path as logged.
    path: String,
    /// The API key the caller presented, if any (`details.metadata.apiKeyId`).
    api_key: Option<ObjectId>,
}

impl Recorded {
    /// Its audit record: what the handler said of the change wins over what the route says.
    fn record(self, actor: Actor, change: &AuditChange, facts: RequestFacts) -> AuditLogDoc {
        let Self {
            method,
            matched,
            path,
            api_key,
        } = self;
        let (action, resource_type) = derive(&method, &matched);
        let (resource_id, parent) = resource_ids(&matched, &path);
        let default_severity = if method == Method::DELETE {
            Severity::Warning
        } else {
            Severity::Info
        };
        let mut metadata =
            serde_json::json!({ "method": method.as_str(), "path": path, "route": matched });
        if let Some(p) = parent {
            metadata["parentId"] = serde_json::json!(p.to_hex());
        }
        if let Some(k) = api_key {
            metadata["apiKeyId"] = serde_json::json!(k.to_hex());
        }
        record_doc(
            actor,
            change.action.map_or(action, str::to_string),
            change.resource_type.map_or(resource_type, str::to_string),
            change.resource_id.or(resource_id),
            details(change, metadata),
            change.severity.unwrap_or(default_severity),
            facts,
        )
    }
}

/// `(resourceId, parentId)` from the path: `POST /products/{id}/variants` creates a variant,
/// so the path's id is the parent's, not the resource's.
fn resource_ids(matched: &str, path: &str) -> (Option<ObjectId>, Option<ObjectId>) {
    let id = path_resource_id(matched, path);
    if creates_in_collection(matched) {
        (None, id)
    } else {
        (id, None)
    }
}

/// Before/after/changes from the handler, and the request metadata merged with its own.
fn details(change: &AuditChange, metadata: serde_json::Value) -> AuditDetails {
    AuditDetails {
        changes: match (&change.before, &change.after) {
            (Some(b), Some(a)) => Some(changes(b, a).into()),
            _ => None,
        },
        before: change.before.clone(),
        after: change.after.clone(),
        metadata: Some(merge(metadata, change.metadata.clone())),
    }
}

/// True when the route ends with a sub-collection segment (`…/{id}/variants`).
fn creates_in_collection(matched: &str) -> bool {
    matched
        .rsplit('/')
        .next()
        .is_some_and(|last| COLLECTIONS.contains(&last))
}

fn merge(mut base: serde_json::Value, extra: Option<serde_json::Value>) -> serde_json::Value {
    if let (Some(b), Some(serde_json::Value::Object(e))) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_derived_from_the_matched_route() {
        let cases = [
            (
                Method::POST,
                "/api/merchant/products",
                "product.created",
                "product",
            ),
            (
                Method::PUT,
                "/api/merchant/products/{id}",
                "product.updated",
                "product",
            ),
            (
                Method::DELETE,
                "/api/merchant/products/{id}",
                "product.deleted",
                "product",
            ),
            (
                Method::POST,
                "/api/merchant/products/{id}/variants",
                "variant.created",
                "variant",
            ),
            (
                Method::PUT,
                "/api/merchant/products/{id}/variants/{variant_id}",
                "variant.updated",
                "variant",
            ),
            (
                Method::POST,
                "/api/merchant/products/{id}/stock",
                "product.stock",
                "product",
            ),
            (
                Method::POST,
                "/api/merchant/cashback/{id}/approve",
                "cashback.approve",
                "cashback",
            ),
            (
                Method::PUT,
                "/api/merchant/cashback/{id}/mark-paid",
                "cashback.mark_paid",
                "cashback",
            ),
            (
                Method::DELETE,
                "/api/merchant/team/{userId}",
                "team_member.deleted",
                "team_member",
            ),
            (
                Method::DELETE,
                "/api/merchant/onboarding/documents/{index}",
                "document.deleted",
                "document",
            ),
            (
                Method::POST,
                "/api/merchant/onboarding/submit",
                "onboarding.submit",
                "onboarding",
            ),
        ];
        for (method, route, action, resource) in cases {
            assert_eq!(
                derive(&method, route),
                (action.to_string(), resource.to_string()),
                "{route}"
            );
        }
    }

    #[test]
    fn a_create_in_a_sub_collection_names_the_parent_not_the_resource() {
        let p = "0123456789abcdef01234567";
        let parent = resource_ids(
            "/api/merchant/products/{id}/variants",
            &format!("/api/merchant/products/{p}/variants"),
        );
        assert_eq!(
            (parent.0, parent.1.map(|i| i.to_hex())),
            (None, Some(p.to_string()))
        );
        assert!(!creates_in_collection(
            "/api/merchant/products/{id}/variants/{variant_id}"
        ));
        assert!(!creates_in_collection("/api/merchant/products/{id}/stock"));
    }

    #[test]
    fn the_resource_id_is_the_last_object_id_in_the_path() {
        let p = "0123456789abcdef01234567";
        let v = "89abcdef0123456789abcdef";
        let id = path_resource_id(
            "/api/merchant/products/{id}/variants/{variant_id}",
            &format!("/api/merchant/products/{p}/variants/{v}"),
        );
        assert_eq!(id.map(|i| i.to_hex()).as_deref(), Some(v));
        assert_eq!(path_resource_id("/a/{index}", "/a/3"), None);
    }
}
