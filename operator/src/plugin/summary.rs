//! `kubectl merchant status`: a MerchantBackend's state as a person reads it. Pure: objects in,
//! text out.

use std::fmt::Write;

use crate::crd::{MerchantBackend, MerchantBackendStatus, MerchantBackup};

/// The summary of `mb` and its recent MerchantBackups (newest first).
pub fn status(mb: &MerchantBackend, backups: &[MerchantBackup]) -> String {
    let mut out = String::new();
    let name = mb.metadata.name.as_deref().unwrap_or("?");
    let namespace = mb.metadata.namespace.as_deref().unwrap_or("default");
    let s = mb.status.clone().unwrap_or_default();
    let _ = writeln!(out, "MerchantBackend {namespace}/{name}");
    let _ = writeln!(out, "  image:     {}", mb.spec.image);
    let _ = writeln!(
        out,
        "  pods:      {} ready of {} ({} on the current template)",
        s.ready_replicas.unwrap_or(0),
        s.replicas.unwrap_or(0),
        s.updated_replicas.unwrap_or(0)
    );
    if mb.metadata.generation != s.observed_generation {
        let _ = writeln!(
            out,
            "  note:      the operator has not acted on the latest spec yet (generation {:?}, observed {:?})",
            mb.metadata.generation, s.observed_generation
        );
    }
    for e in &s.endpoints {
        let _ = writeln!(out, "  endpoint:  {e}");
    }
    conditions(&mut out, &s);
    rollout(&mut out, &s);
    backups_section(&mut out, &s, backups);
    out
}

fn conditions(out: &mut String, s: &MerchantBackendStatus) {
    let _ = writeln!(out, "\nConditions");
    if s.conditions.is_empty() {
        let _ = writeln!(out, "  (none yet: the operator has not reported)");
    }
    // Reconciling repeats Progressing for kstatus readers: one line says it.
    for c in s.conditions.iter().filter(|c| c.type_ != "Reconciling") {
        let mark = match (c.type_.as_str(), c.status.as_str()) {
            ("Degraded" | "Stalled" | "Paused", "True") => "!!",
            ("Degraded" | "Stalled" | "Paused", _) => "ok",
            (_, "True") => "ok",
            _ => "!!",
        };
        let _ = write!(out, "  {mark} {:<15} {:<6} {}", c.type_, c.status, c.reason);
        if !c.message.is_empty() {
            let _ = write!(out, ": {}", c.message);
        }
        let _ = writeln!(out);
    }
}

fn rollout(out: &mut String, s: &MerchantBackendStatus) {
    let Some(r) = &s.rollout else { return };
    let _ = writeln!(out, "\nRollout");
    let _ = writeln!(out, "  phase:     {}", r.phase);
    if let Some(stable) = &r.stable_revision {
        let _ = writeln!(out, "  stable:    {stable}");
    }
    if let Some(canary) = &r.canary_revision {
        let step = r.step.map(|s| format!(" (step {s})")).unwrap_or_default();
        let _ = writeln!(out, "  new:       {canary}{step}");
    }
    if let Some(m) = &r.message {
        let _ = writeln!(out, "  message:   {m}");
    }
    for a in &r.analysis {
        let value = a
            .last_value
            .map(|v| format!("{v}"))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "  analysis:  {} last {value}, {} taken, {} failed, {} inconclusive",
            a.name, a.taken, a.failed, a.inconclusive
        );
    }
    if !s.history.is_empty() {
        let _ = writeln!(out, "\nHistory (newest first)");
        for h in s.history.iter().take(5) {
            let _ = writeln!(
                out,
                "  {:<10} {:<16} {:<9} {} {}",
                h.revision, h.outcome, h.strategy, h.started, h.image
            );
        }
    }
}

fn backups_section(out: &mut String, s: &MerchantBackendStatus, backups: &[MerchantBackup]) {
    let scheduled = s.backup.as_ref();
    if scheduled.is_none() && backups.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nBackups");
    if let Some(b) = scheduled {
        if let Some(last) = &b.last_successful_backup {
            let _ = writeln!(
                out,
                "  last good: {} {}",
                last.time,
                last.location.as_deref().unwrap_or("")
            );
        }
        if let Some(v) = &b.last_verified_backup {
            let _ = writeln!(out, "  verified:  {}", v.time);
        }
    }
    for b in backups.iter().take(5) {
        let name = b.metadata.name.as_deref().unwrap_or("?");
        let phase = b
            .status
            .as_ref()
            .and_then(|s| s.phase.as_ref())
            .map(|p| format!("{p:?}"))
            .unwrap_or_else(|| "Pending".into());
        let _ = writeln!(out, "  {name:<30} {phase}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(status: serde_json::Value) -> MerchantBackend {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "merchant.rezapp.com/v1alpha1",
            "kind": "MerchantBackend",
            "metadata": {"name": "shop", "namespace": "prod", "generation": 3},
            "spec": {"image": "api:2"},
            "status": status,
        }))
        .expect("backend")
    }

    #[test]
    fn a_rolled_back_release_shows_why_and_the_history() {
        let mb = backend(serde_json::json!({
            "observedGeneration": 3, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Available", "message": "2 of 2 pods ready", "lastTransitionTime": "2026-12-07T05:00:00Z"},
                {"type": "RolloutHealthy", "status": "False", "reason": "RolledBack", "message": "revision b failed: pod x cannot start", "lastTransitionTime": "2026-12-07T05:00:00Z"}
            ],
            "rollout": {"phase": "RolledBack", "stableRevision": "a", "canaryRevision": "b", "message": "revision b failed: pod x cannot start"},
            "history": [{"revision": "b", "image": "api:2", "configHash": "c", "strategy": "RollingUpdate", "started": "2026-12-07T05:00:00Z", "outcome": "RolledBack"}],
        }));
        let text = status(&mb, &[]);
        assert!(text.contains("MerchantBackend prod/shop"), "{text}");
        assert!(text.contains("2 ready of 2"), "{text}");
        assert!(
            text.contains("!! RolloutHealthy  False  RolledBack: revision b failed"),
            "{text}"
        );
        assert!(text.contains("ok Ready"), "{text}");
        assert!(text.contains("phase:     RolledBack"), "{text}");
        assert!(text.contains("b          RolledBack"), "{text}");
        assert!(!text.contains("not acted"), "{text}");
    }

    #[test]
    fn a_backend_the_operator_has_not_seen_says_so() {
        let mb = backend(serde_json::Value::Null);
        let text = status(&mb, &[]);
        assert!(text.contains("has not acted on the latest spec"), "{text}");
        assert!(text.contains("(none yet"), "{text}");
    }
}
