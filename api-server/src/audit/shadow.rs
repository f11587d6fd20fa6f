//! `rbacMode: shadow`: while staff migrate to narrower roles, a team member's request that lacks
//! a permission is let through, and each would-be denial is recorded as an audit record
//! `rbac.shadow_denied` (permission, role, route, status) and a warning log line, so the owner
//! can see who would be refused before enforcing. `Access::require` notes the denial in the
//! request's task-local list; [`collect`] writes the records once the response is known.

use std::cell::RefCell;

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};

use super::{Actor, RequestFacts, Severity, record_doc};
use crate::{
    extract::ClientIp, middleware::RequestId, security::identity::TokenCheck, state::AppState,
    store::audit::AuditDetails,
};

/// The audit action of a would-be denial.
pub const ACTION: &str = "rbac.shadow_denied";

tokio::task_local! {
    /// Permissions a shadowed request would have been refused, with the caller's role.
    static DENIALS: RefCell<Vec<(&'static str, String)>>;
}

/// Note that `permission` would have been refused to a caller of `role` (once per request and
/// permission).
pub fn would_deny(permission: &'static str, role: &str) {
    let noted = DENIALS.try_with(|d| {
        let mut d = d.borrow_mut();
        if !d.iter().any(|(p, _)| *p == permission) {
            d.push((permission, role.to_string()));
        }
    });
    if noted.is_err() {
        tracing::warn!(permission, role, "{ACTION} outside a request");
    }
}

/// Run the request with a denial list when its caller is a team member's login (the only
/// caller shadow mode applies to), then record what the list holds.
pub async fn collect(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(actor) = shadowable(&req) else {
        return next.run(req).await;
    };
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let path = crate::middleware::loggable_path(route.as_deref(), req.uri().path()).into_owned();
    let facts = RequestFacts {
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        ..RequestFacts::from_headers(
            ClientIp::resolve(req.headers(), req.extensions(), &state.settings.trust_proxy).0,
            req.headers(),
        )
    };
    let (response, denials) = DENIALS
        .scope(RefCell::new(Vec::new()), async {
            let response = next.run(req).await;
            (response, DENIALS.with(RefCell::take))
        })
        .await;
    for (permission, role) in denials {
        tracing::warn!(merchant = %actor.merchant, member = ?actor.member, permission, role, route = ?route, "{ACTION}");
        let metadata = serde_json::json!({
            "permission": permission, "role": role, "method": method.as_str(),
            "path": path, "route": route, "status": response.status().as_u16(),
        });
        let details = AuditDetails {
            metadata: Some(metadata),
            ..AuditDetails::default()
        };
        state.audit.push(record_doc(
            actor,
            ACTION.to_string(),
            "permission".to_string(),
            None,
            details,
            Severity::Warning,
            facts.clone(),
        ));
    }
    response
}

/// The acting team member of a login token (not an API key), if that is the caller.
fn shadowable(req: &Request) -> Option<Actor> {
    let identity = req.extensions().get::<TokenCheck>()?.identity()?;
    if identity.api_key.is_some() || !identity.is_member() {
        return None;
    }
    Some(Actor {
        merchant: identity.merchant?,
        member: identity.member,
    })
}
