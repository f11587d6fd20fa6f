//! Events that tell a person what the operator did on its own initiative: a hand edit reverted,
//! an uploads claim kept. (Condition flips are published by `status`.) A failed publish is
//! logged and never fails the reconcile.

use k8s_openapi::{api::core::v1::ObjectReference, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use kube::runtime::events::{Event, EventType};
use tracing::warn;

use super::{Context, build::names, validate::ValidatedBackend};
use crate::crd::status::reason;

/// events.k8s.io limits `note` to 1 kB.
const NOTE_LIMIT: usize = 1024;

/// Reference to the MerchantBackend behind `b`, for Events about it.
pub fn backend_ref(b: &ValidatedBackend) -> ObjectReference {
    let owner = b.owner.as_ref();
    ObjectReference {
        api_version: owner.map(|o| o.api_version.clone()),
        kind: owner.map(|o| o.kind.clone()),
        name: Some(b.name.clone()),
        namespace: Some(b.namespace.clone()),
        uid: owner.map(|o| o.uid.clone()),
        ..Default::default()
    }
}

/// Cut `text` to at most `limit` bytes on a character boundary, marking the cut.
pub fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

async fn publish(
    ctx: &Context,
    regarding: &ObjectReference,
    type_: EventType,
    why: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: why.to_owned(),
        note: Some(truncate(&note, NOTE_LIMIT)),
        action: "Reconcile".to_owned(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, regarding).await {
        warn!(error = %error, reason = why, "failed to publish event");
    }
}

/// The text of a `DriftReverted` Event: which fields, why, and where the change belongs.
pub fn drift_note(kind: &str, name: &str, fields: &[String]) -> String {
    let template = kind == "Deployment" && fields.iter().any(|f| f.starts_with("spec.template"));
    let what = if template {
        "the pod template was changed by another field manager (kubectl rollout undo, set image, \
         edit or patch)"
    } else {
        "fields were changed by another field manager (kubectl edit, scale or patch)"
    };
    let fields = if fields.iter().any(|f| f == "*") {
        "the whole object".to_owned()
    } else {
        fields.join(", ")
    };
    format!(
        "{kind}/{name}: {what}; reverted to the MerchantBackend spec, which is the source of \
         truth: {fields}. Make the change in the MerchantBackend spec instead (kubectl rollout \
         restart is not reverted)."
    )
}

/// Warning: someone else's change to a child was reverted to the spec.
pub async fn drift_reverted(
    ctx: &Context,
    b: &ValidatedBackend,
    kind: &str,
    name: &str,
    mut fields: Vec<String>,
) {
    fields.sort();
    fields.dedup();
    let note = drift_note(kind, name, &fields);
    publish(
        ctx,
        &backend_ref(b),
        EventType::Warning,
        reason::DRIFT_REVERTED,
        note,
    )
    .await;
}

/// Whether this process has not yet announced `what` about the claim with this uid, marking it
/// announced. Keeps a settled reconcile free of Event writes.
fn first_announcement(ctx: &Context, what: &str, uid: Option<&str>) -> bool {
    let Some(uid) = uid else { return false };
    let mut announced = ctx
        .announced
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    announced.insert(format!("{what}/{uid}"))
}

fn delete_hint(namespace: &str, name: &str) -> String {
    format!("delete it when the data is no longer needed: kubectl delete pvc {name} -n {namespace}")
}

/// A rollout step: started, a step done, promoted, aborted, rolled back (warning), blocked.
pub async fn rollout(ctx: &Context, b: &ValidatedBackend, warning: bool, why: &str, note: String) {
    let type_ = if warning {
        EventType::Warning
    } else {
        EventType::Normal
    };
    publish(ctx, &backend_ref(b), type_, why, note).await;
}

/// Normal, once per claim: uploads were disabled but the retained claim (and its data) was kept.
pub async fn claim_retained(ctx: &Context, b: &ValidatedBackend, claim: &ObjectMeta) {
    if !first_announcement(ctx, "disabled", claim.uid.as_deref()) {
        return;
    }
    let name = names::uploads(&b.name);
    let note = format!(
        "PersistentVolumeClaim {}/{name} was kept with its data although spec.uploads is \
         disabled (spec.uploads.retainOnDelete is true); {}",
        b.namespace,
        delete_hint(&b.namespace, &name)
    );
    publish(
        ctx,
        &backend_ref(b),
        EventType::Normal,
        reason::UPLOADS_RETAINED,
        note,
    )
    .await;
}

/// Normal, once per claim, on the claim itself (its MerchantBackend is gone): it was kept.
pub async fn claim_outlived_backend(ctx: &Context, backend: &str, claim: &ObjectMeta) {
    if !first_announcement(ctx, "deleted", claim.uid.as_deref()) {
        return;
    }
    let namespace = claim.namespace.clone().unwrap_or_default();
    let name = claim.name.clone().unwrap_or_default();
    let regarding = ObjectReference {
        api_version: Some("v1".to_owned()),
        kind: Some("PersistentVolumeClaim".to_owned()),
        name: Some(name.clone()),
        namespace: Some(namespace.clone()),
        uid: claim.uid.clone(),
        ..Default::default()
    };
    let note = format!(
        "kept with its data after MerchantBackend {namespace}/{backend} was deleted \
         (spec.uploads.retainOnDelete is true; a MerchantBackend of the same name adopts it \
         again); {}",
        delete_hint(&namespace, &name)
    );
    publish(
        ctx,
        &regarding,
        EventType::Normal,
        reason::UPLOADS_RETAINED,
        note,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reverted_rollout_undo_names_the_pod_template_and_the_spec() {
        let note = drift_note(
            "Deployment",
            "shop",
            &["spec.template.spec.containers[api].image".to_owned()],
        );
        assert!(note.contains("pod template was changed by another field manager"));
        assert!(note.contains("containers[api].image"));
        assert!(note.contains("MerchantBackend spec instead"));
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let text = "é".repeat(600);
        let cut = truncate(&text, NOTE_LIMIT);
        assert!(cut.len() <= NOTE_LIMIT);
        assert!(cut.ends_with("..."));
    }
}
