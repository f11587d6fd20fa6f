//! Audit trail: [`Auditor`] (a bounded queue drained by one background writer, so recording never
//! fails or slows a request), [`AuditChange`] (what a handler adds to its response to enrich the
//! automatic record) and the [`layer`] middleware that writes one record per successful mutating
//! request. Reading the trail lives in `store::audit` and `routes::audit`.

pub mod layer;
pub mod shadow;

use mongodb::bson::oid::ObjectId;
use serde_json::Value;
use tokio::{sync::mpsc, task::JoinHandle};

use crate::store::{
    DateTime, Store,
    audit::{AuditDetails, AuditLogDoc},
};

/// Severity of an audit record (contract §3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Normal activity.
    Info,
    /// Deletions, failed logins.
    Warning,
    /// Failed operations.
    Error,
    /// Security-relevant events (account lock).
    Critical,
}

impl Severity {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
        }
    }

    /// Every stored name.
    pub const ALL: &'static [&'static str] = &["info", "warning", "error", "critical"];
}

/// Who acted: the merchant and, for team logins, the team member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// Tenant.
    pub merchant: ObjectId,
    /// Team member, if a team member acted.
    pub member: Option<ObjectId>,
}

/// Enrichment of the automatic audit record, put in the response extensions by a handler
/// (`Reply::audit`). Every field is optional; unset ones are derived from the request.
#[derive(Debug, Clone, Default)]
pub struct AuditChange {
    /// Action name overriding the one derived from the route (e.g. `team.role_change`).
    pub action: Option<&'static str>,
    /// Resource type overriding the derived one.
    pub resource_type: Option<&'static str>,
    /// Resource id overriding the last id in the path (e.g. a created document's id).
    pub resource_id: Option<ObjectId>,
    /// Summary of the resource before the change.
    pub before: Option<Value>,
    /// Summary after the change.
    pub after: Option<Value>,
    /// Extra facts.
    pub metadata: Option<Value>,
    /// Severity overriding the default.
    pub severity: Option<Severity>,
    /// Actor, for routes without a Bearer token (e.g. accepting an invitation).
    pub actor: Option<Actor>,
    /// The handler wrote its own record(s); the middleware writes nothing.
    pub handled: bool,
}

impl AuditChange {
    /// A change named `action`.
    pub fn action(action: &'static str) -> Self {
        Self {
            action: Some(action),
            ..Self::default()
        }
    }

    /// Marks a response whose handler recorded explicitly.
    pub fn handled() -> Self {
        Self {
            handled: true,
            ..Self::default()
        }
    }

    /// Set the resource.
    pub fn resource(mut self, kind: &'static str, id: ObjectId) -> Self {
        self.resource_type = Some(kind);
        self.resource_id = Some(id);
        self
    }

    /// Set before/after summaries (any serialisable summaries).
    pub fn diff(self, before: impl serde::Serialize, after: impl serde::Serialize) -> Self {
        self.before(before).after(after)
    }

    /// Set the summary of the resource before the change (e.g. of a deleted one).
    pub fn before(mut self, before: impl serde::Serialize) -> Self {
        self.before = snapshot(&before);
        self
    }

    /// Set the summary of the resource after the change (e.g. of a created one).
    pub fn after(mut self, after: impl serde::Serialize) -> Self {
        self.after = snapshot(&after);
        self
    }

    /// Set before/after summaries from typed values (stored as their JSON).
    pub fn diff_of<T: serde::Serialize>(self, before: &T, after: &T) -> Self {
        let json = |v: &T| serde_json::to_value(v).unwrap_or(Value::Null);
        self.diff(json(before), json(after))
    }

    /// Set the extra facts from a typed value (stored as its JSON object).
    pub fn facts<T: serde::Serialize>(mut self, facts: &T) -> Self {
        self.metadata = serde_json::to_value(facts).ok();
        self
    }

    /// Set the actor.
    pub fn by(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }
}

/// The JSON an audit record keeps of a summary (`None` only if it cannot be serialised).
pub fn snapshot(summary: &impl serde::Serialize) -> Option<Value> {
    serde_json::to_value(summary).ok()
}

/// Request facts every record carries.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    /// Correlation id.
    pub request_id: Option<String>,
    /// Client IP.
    pub ip: String,
    /// `User-Agent`, or `unknown`.
    pub user_agent: String,
}

impl RequestFacts {
    /// Facts of a handler's request: the resolved client IP and the request headers (the
    /// correlation id is on them once the request-id layer ran).
    pub fn from_headers(ip: String, headers: &axum::http::HeaderMap) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Self {
            request_id: text("x-correlation-id").map(str::to_string),
            ip,
            user_agent: text("user-agent")
                .unwrap_or("unknown")
                .chars()
                .take(512)
                .collect(),
        }
    }
}

/// An explicit event (login, failed login…) recorded by a handler.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// Who.
    pub actor: Actor,
    /// Action name.
    pub action: &'static str,
    /// Resource type.
    pub resource_type: &'static str,
    /// Resource id.
    pub resource_id: Option<ObjectId>,
    /// Severity.
    pub severity: Severity,
    /// Extra facts.
    pub metadata: Option<Value>,
}

/// Top-level keys whose values differ between two JSON objects, as `{field, before, after}`.
pub fn changes(before: &Value, after: &Value) -> Vec<Value> {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .map(|k| serde_json::json!({ "field": k, "before": b.get(k), "after": a.get(k) }))
        .collect()
}

/// Build the stored document of one record.
pub fn record_doc(
    actor: Actor,
    action: String,
    resource_type: String,
    resource_id: Option<ObjectId>,
    details: AuditDetails,
    severity: Severity,
    facts: RequestFacts,
) -> AuditLogDoc {
    let now = DateTime::now();
    AuditLogDoc {
        id: ObjectId::new(),
        merchant_id: actor.merchant,
        merchant_user_id: actor.member,
        action,
        resource_type,
        resource_id,
        details,
        ip_address: facts.ip,
        user_agent: facts.user_agent,
        request_id: facts.request_id,
        timestamp: now,
        severity: severity.as_str().to_string(),
        created_at: now,
        updated_at: now,
    }
}

/// Capacity of the audit queue; beyond it records are dropped (and counted in the logs) rather
/// than making requests wait.
const QUEUE: usize = 4096;
/// Records written per `insertMany`.
const BATCH: usize = 200;

/// Handle for recording audit events (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Auditor {
    tx: Option<mpsc::Sender<AuditLogDoc>>,
}

impl Auditor {
    /// Start the writer over `store`.
    pub fn start(store: Store) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Self { tx: Some(tx) }, tokio::spawn(write_loop(store, rx)))
    }

    /// Queue a record; never blocks.
    pub fn push(&self, doc: AuditLogDoc) {
        let Some(tx) = &self.tx else { return };
        if let Err(e) = tx.try_send(doc) {
            tracing::warn!(error = %e, "audit queue full or closed; record dropped");
        }
    }

    /// Queue an explicit event.
    pub fn event(&self, event: AuditEvent, facts: RequestFacts) {
        let details = AuditDetails {
            metadata: event.metadata,
            ..AuditDetails::default()
        };
        self.push(record_doc(
            event.actor,
            event.action.to_string(),
            event.resource_type.to_string(),
            event.resource_id,
            details,
            event.severity,
            facts,
        ));
    }
}

/// Drain the queue in batches until every sender is gone.
async fn write_loop(store: Store, mut rx: mpsc::Receiver<AuditLogDoc>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(doc) => batch.push(doc),
                Err(_) => break,
            }
        }
        let n = batch.len();
        if let Err(e) = store.insert_audit_logs(batch).await {
            tracing::error!(error = %e, records = n, "failed to write audit records");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_lists_only_fields_that_differ() {
        let c = changes(
            &json!({ "name": "a", "price": 1, "gone": true }),
            &json!({ "name": "a", "price": 2, "new": 1 }),
        );
        let fields: Vec<&str> = c.iter().filter_map(|v| v["field"].as_str()).collect();
        assert_eq!(fields, ["gone", "new", "price"]);
        assert_eq!(c[2]["before"], json!(1));
        assert_eq!(c[2]["after"], json!(2));
    }
}
