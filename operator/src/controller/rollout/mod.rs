//! Progressive delivery: the built children describe the revision the spec asks for; this step
//! decides where it runs beside the stable revision (`machine`), rewrites the children to that
//! (`layout`), keeps every revision's template (`revisions`), holds a slot under the fleet cap
//! (`fleet`), measures the analysis, publishes the Events and removes the annotations it acted
//! on. Reads the caches; writes only when a revision is stored, an annotation consumed, a
//! measurement taken, or a finished rollout's leftovers pruned.

pub mod fleet;
pub mod layout;
pub mod machine;
pub mod revisions;

use std::time::Duration;

use k8s_openapi::{
    api::{apps::v1::Deployment, core::v1::Pod},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
    jiff::Timestamp,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams},
};
use tracing::{debug, warn};

use self::machine::{Candidate, Controls, Decision, Inputs, Seen};
use super::{
    Context,
    analysis::{self, Measurements, Verdict},
    build::{Children, Desired, names},
    events,
    status::Draft,
    validate::{Rollout, Step, ValidatedBackend},
};
use crate::{
    crd::{
        ABORT_ANNOTATION, CONFIG_HASH_ANNOTATION, INSTANCE_LABEL, MerchantBackend,
        PAUSE_ANNOTATION, PROMOTE_ANNOTATION, RETRY_ANNOTATION, REVISION_LABEL,
        rollout::{RevisionRecord, RolloutStatus, RolloutStrategy},
        status::{DatabaseStatus, ROLLOUT_HEALTHY, ReleaseStatus, reason},
    },
    error::{Error, Result},
};

/// What the rollout step decided, for the status and the requeue.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// status.rollout.
    pub status: RolloutStatus,
    /// status.history.
    pub history: Vec<RevisionRecord>,
    /// When to look again.
    pub requeue: Option<Duration>,
    /// Annotations acted on: removed once the status that records their effect is written.
    pub consumed: Vec<&'static str>,
}

/// Waiting reasons after which a container never starts without a spec change: the rollout
/// fails at once instead of waiting for the deadline. `CreateContainerError` is left out: the
/// runtime's reasons for it (a container name still reserved, a slow snapshot) clear on the
/// kubelet's next try, so only the progress deadline judges it.
const NEVER_STARTS: &[&str] = &[
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
];

/// What the kubelet says when its ConfigMap or Secret cache has not synced yet (a loaded node):
/// it retries, so a `CreateContainerConfigError` with this message is not a verdict.
const CACHE_NOT_SYNCED: &str = "failed to sync";

/// The revision the built children run.
pub fn candidate(children: &Children) -> Option<Candidate> {
    let Desired::Present(d) = &children.deployment else {
        return None;
    };
    let template = &d.spec.as_ref()?.template;
    let annotations = template.metadata.as_ref()?.annotations.as_ref()?;
    Some(Candidate {
        revision: annotations.get(REVISION_LABEL)?.clone(),
        image: template
            .spec
            .as_ref()?
            .containers
            .first()?
            .image
            .clone()
            .unwrap_or_default(),
        config_hash: annotations.get(CONFIG_HASH_ANNOTATION)?.clone(),
    })
}

/// Whether the spec asks for a change that needs a fleet slot: a revision other than the
/// stable one that has not already ended (rolled back, aborted, blocked). A first revision
/// needs none: there is nothing serving to protect.
pub fn wants_slot(mb: &MerchantBackend, candidate: &Candidate) -> bool {
    let Some(r) = mb.status.as_ref().and_then(|s| s.rollout.as_ref()) else {
        return false;
    };
    let Some(stable) = &r.stable_revision else {
        return false;
    };
    let release_held = mb
        .status
        .as_ref()
        .and_then(|s| s.release.as_ref())
        .is_some_and(|rel| matches!(rel.phase.as_str(), "Failed" | "Blocked"));
    if release_held {
        return false;
    }
    if *stable == candidate.revision {
        return false;
    }
    let ended = r.canary_revision.as_deref() == Some(candidate.revision.as_str())
        && matches!(
            r.phase.as_str(),
            machine::phase::ROLLED_BACK
                | machine::phase::ABORTED
                | machine::phase::ROLLBACK_BLOCKED
        );
    !ended
}

/// The RolloutHealthy condition.
pub fn health(r: &RolloutStatus) -> Draft {
    use machine::phase;
    let message = r.message.clone().unwrap_or_default();
    let (ok, why) = match r.phase.as_str() {
        phase::HEALTHY => (true, reason::ROLLOUT_SUCCEEDED),
        phase::PROGRESSING | phase::PROMOTING => (true, reason::ROLLOUT_STARTED),
        phase::PAUSED => (true, reason::ROLLOUT_PAUSED),
        phase::QUEUED => (true, reason::ROLLOUT_QUEUED),
        phase::ABORTED => (false, reason::ROLLOUT_ABORTED),
        phase::ROLLBACK_BLOCKED => (false, reason::ROLLBACK_BLOCKED),
        _ => (false, reason::ROLLED_BACK),
    };
    let message = if message.is_empty() && ok {
        format!(
            "revision {} serves",
            r.stable_revision.as_deref().unwrap_or("-")
        )
    } else {
        message
    };
    (ROLLOUT_HEALTHY, ok, why, message)
}

/// What the release step left for the rollout to read.
pub struct Release<'a> {
    /// status.release as the gate decided it.
    pub release: Option<&'a ReleaseStatus>,
    /// status.database.
    pub database: Option<&'a DatabaseStatus>,
}

/// Decide where the revisions run and rewrite `children` to it. None: no Deployment to roll
/// (held: a Secret is missing, or a new backend awaits its first migrations).
///
/// # Errors
/// `ApplyChild` when a revision cannot be stored or read, `SerializeChild` when an edited
/// manifest cannot be hashed.
pub async fn roll(
    ctx: &Context,
    mb: &MerchantBackend,
    b: &ValidatedBackend,
    children: &mut Children,
    release: &Release<'_>,
    slot: bool,
) -> Result<Option<Plan>> {
    let Some(candidate) = candidate(children) else {
        return Ok(None);
    };
    let old = mb.status.clone().unwrap_or_default();
    let mut previous = old.rollout.clone();
    let candidate_template = match &children.deployment {
        Desired::Present(d) => d.spec.clone().unwrap_or_default().template,
        _ => return Ok(None),
    };
    let number = i64::try_from(old.history.len()).unwrap_or(0) + 1;
    let stable_id = previous.as_ref().and_then(|p| p.stable_revision.clone());
    let mut stable_template = None;
    if stable_id.as_deref() != Some(candidate.revision.as_str()) {
        revisions::keep(ctx, b, &candidate.revision, &candidate_template, number).await?;
        if let Some(id) = &stable_id {
            stable_template = revisions::template(ctx, b, id).await?;
            if stable_template.is_none() {
                warn!(revision = %id, "stable revision's template is gone: rolling forward");
                if let Some(p) = previous.as_mut() {
                    p.stable_revision = None;
                }
            }
        }
    }
    let phase_before = previous.as_ref().map(|p| p.phase.clone());
    let analysis = measure(ctx, b, previous.as_mut(), &candidate).await;
    let inputs = Inputs {
        rollout: &b.rollout,
        previous: previous.as_ref(),
        history: &old.history,
        candidate: &candidate,
        main: seen(ctx, b, &b.name),
        second: seen(ctx, b, &second_name(b)),
        failing: failing(ctx, b, &candidate),
        controls: controls(mb),
        slot,
        irreversible: irreversible(release.release, &candidate),
        analysis,
        stable_replicas: stable_replicas(ctx, b),
        schema_version: release.database.and_then(|d| d.migration_version),
        now: Timestamp::now(),
    };
    let decision = machine::decide(&inputs);
    let revs = layout::Revisions {
        stable: stable_id
            .as_deref()
            .zip(stable_template.as_deref())
            .filter(|_| decision.status.stable_revision.is_some()),
        candidate: &candidate.revision,
    };
    layout::arrange(children, b.rollout.strategy, &decision.layout, &revs)?;
    hold_scaling(ctx, b, children, &decision);
    publish(ctx, b, &decision).await;
    if decision.status.phase == machine::phase::HEALTHY
        && phase_before.as_deref() != Some(machine::phase::HEALTHY)
    {
        // A backend's first rollout stored the only revision there is: no LIST needed.
        let first = phase_before.is_none();
        prune(ctx, b, &decision, first).await;
    }
    Ok(Some(Plan {
        status: decision.status,
        history: decision.history,
        requeue: decision.requeue,
        consumed: decision.consumed,
    }))
}

/// HPA settings travel with the revision: while a new one is not yet stable (rolling out,
/// queued, rolled back, aborted), the live HPA keeps the stable revision's settings, so a
/// rollback takes them back with the image and configuration. Turning the HPA on or off is not
/// held: the Deployment's replica field follows it at once.
fn hold_scaling(ctx: &Context, b: &ValidatedBackend, children: &mut Children, d: &Decision) {
    let settled = d.status.phase == machine::phase::HEALTHY;
    let live = ctx.caches.hpas.get(&b.namespace, &b.name).is_some();
    if !settled && live && matches!(children.hpa, Desired::Present(_)) {
        children.hpa = Desired::Hold;
    }
}

/// The canary or preview Deployment's name for the strategy.
fn second_name(b: &ValidatedBackend) -> String {
    match b.rollout.strategy {
        RolloutStrategy::BlueGreen => names::preview(&b.name),
        _ => names::canary(&b.name),
    }
}

/// A cached Deployment as the machine reads it.
fn seen(ctx: &Context, b: &ValidatedBackend, name: &str) -> Option<Seen> {
    let d = ctx.caches.deployments.get(&b.namespace, name)?;
    Some(Seen {
        revision: template_revision(&d),
        rolled_out: rolled_out(&d),
        available: d
            .status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0),
    })
}

fn template_revision(d: &Deployment) -> Option<String> {
    d.spec
        .as_ref()?
        .template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(REVISION_LABEL)
        .cloned()
}

/// Every wanted pod runs the current template and is available.
fn rolled_out(d: &Deployment) -> bool {
    let generation = d.metadata.generation.unwrap_or(0);
    let Some(s) = &d.status else { return false };
    let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    s.observed_generation.unwrap_or(0) >= generation
        && s.updated_replicas.unwrap_or(0) >= wanted
        && s.available_replicas.unwrap_or(0) >= wanted.max(1)
        && s.unavailable_replicas.unwrap_or(0) == 0
        && s.replicas.unwrap_or(0) == s.updated_replicas.unwrap_or(0)
}

/// Stable pods: the fixed count, or what the HPA runs now.
fn stable_replicas(ctx: &Context, b: &ValidatedBackend) -> i32 {
    match &b.autoscaling {
        None => b.replicas,
        Some(a) => ctx
            .caches
            .deployments
            .get(&b.namespace, &b.name)
            .and_then(|d| d.spec.and_then(|s| s.replicas))
            .unwrap_or(a.min_replicas),
    }
}

/// Why the new revision's pods fail, if they do: restarts over the limit, or a container that
/// can never start.
fn failing(ctx: &Context, b: &ValidatedBackend, c: &Candidate) -> Option<String> {
    let pods = ctx.caches.pods.with_instance(&b.namespace, &b.name);
    let mut pods: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.labels().get(REVISION_LABEL) == Some(&c.revision))
        .collect();
    pods.sort_by_key(|p| p.name_any());
    pods.iter()
        .find_map(|p| pod_failure(p, b.rollout.max_restarts))
}

fn pod_failure(p: &Pod, max_restarts: i32) -> Option<String> {
    let statuses = p.status.as_ref()?.container_statuses.as_ref()?;
    statuses.iter().find_map(|c| {
        if c.restart_count > max_restarts {
            return Some(format!(
                "pod {} restarted {} times (spec.rollout.maxRestarts {max_restarts})",
                p.name_any(),
                c.restart_count
            ));
        }
        let waiting = c.state.as_ref()?.waiting.as_ref()?;
        let why = waiting.reason.as_deref()?;
        let message = waiting.message.as_deref().unwrap_or("");
        (NEVER_STARTS.contains(&why) && !message.contains(CACHE_NOT_SYNCED)).then(|| {
            format!(
                "pod {} cannot start: {why}: {}",
                p.name_any(),
                events::truncate(message, 300)
            )
        })
    })
}

fn controls(mb: &MerchantBackend) -> Controls {
    let a = mb.annotations();
    Controls {
        promote: a.get(PROMOTE_ANNOTATION).map(|v| v.trim() == "full"),
        abort: a.contains_key(ABORT_ANNOTATION),
        retry: a.contains_key(RETRY_ANNOTATION),
        pause: a.contains_key(PAUSE_ANNOTATION),
    }
}

/// Why going back from `c` is impossible: its release ran an irreversible migration.
fn irreversible(release: Option<&ReleaseStatus>, c: &Candidate) -> Option<String> {
    let r = release.filter(|r| r.image == c.image)?;
    if !matches!(r.phase.as_str(), "Released" | "Contracting") {
        return None;
    }
    let step = r.pending.iter().find(|m| !m.reversible)?;
    let restore = match &r.backup {
        Some(backup) => format!(
            "roll back with a restore: apply a MerchantRestore with backup {backup} and inPlace: true, then set spec.image to the previous image"
        ),
        None => "no pre-migration backup is linked to this release".to_owned(),
    };
    Some(format!(
        "migration {} {} is irreversible and ran; {restore}",
        step.version, step.name
    ))
}

/// The analysis step the recorded status is at (the queries to run), if any.
fn analysis_queries<'a>(
    rollout: &'a Rollout,
    r: &RolloutStatus,
) -> Option<Vec<&'a analysis::Query>> {
    if r.phase != machine::phase::PROGRESSING {
        return None;
    }
    let step = usize::try_from(r.step.unwrap_or(0)).ok()?;
    let picked: Vec<usize> = match rollout.strategy {
        RolloutStrategy::Canary => match rollout.steps.get(step)? {
            Step::Analysis(q) => q.clone(),
            _ => return None,
        },
        RolloutStrategy::BlueGreen if step == 1 => (0..rollout.queries.len()).collect(),
        _ => return None,
    };
    Some(
        picked
            .iter()
            .filter_map(|i| rollout.queries.get(*i))
            .collect(),
    )
}

/// Take the measurements that are due (writing them into `r.analysis`) and judge the step.
async fn measure(
    ctx: &Context,
    b: &ValidatedBackend,
    r: Option<&mut RolloutStatus>,
    c: &Candidate,
) -> Option<Verdict> {
    let r = r?;
    if r.canary_revision.as_deref() != Some(c.revision.as_str()) {
        return None;
    }
    let queries = analysis_queries(&b.rollout, r)?;
    let base = b.rollout.prometheus_url.clone().unwrap_or_default();
    let now = Timestamp::now();
    let mut verdicts = Vec::new();
    let mut took = false;
    for q in queries {
        let q = analysis::Query {
            promql: q.promql.replace("{{revision}}", &c.revision),
            ..q.clone()
        };
        let index = match r.analysis.iter().position(|m| m.name == q.name) {
            Some(i) => i,
            None => {
                r.analysis.push(Measurements {
                    name: q.name.clone(),
                    ..Measurements::default()
                });
                r.analysis.len() - 1
            }
        };
        let m = &mut r.analysis[index];
        let taken = m.taken;
        verdicts.push(analysis::measure(&ctx.http, &base, &q, m, now).await);
        took |= m.taken != taken;
    }
    if took && let Some(failure) = health_checks(ctx, b, c).await {
        return Some(Verdict::Failed { reason: failure });
    }
    Some(combine(verdicts))
}

/// Every query passed: passed; one failed: failed; else running until the soonest is due.
fn combine(verdicts: Vec<Verdict>) -> Verdict {
    let mut next: Option<Duration> = None;
    for v in verdicts {
        match v {
            Verdict::Failed { .. } => return v,
            Verdict::Running { next_in } => next = Some(next.map_or(next_in, |n| n.min(next_in))),
            Verdict::Passed => {}
        }
    }
    match next {
        Some(next_in) => Verdict::Running { next_in },
        None => Verdict::Passed,
    }
}

/// The built-in check beside the queries: every pod of the new revision answers its own
/// `/health/ready` (one pod list, one request per pod, each bounded).
async fn health_checks(ctx: &Context, b: &ValidatedBackend, c: &Candidate) -> Option<String> {
    let selector = format!(
        "{INSTANCE_LABEL}={},{REVISION_LABEL}={}",
        b.name, c.revision
    );
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &b.namespace)
        .list(&ListParams::default().labels(&selector))
        .await;
    let pods = match pods {
        Ok(list) => list.items,
        Err(error) => return Some(format!("could not list the new revision's pods: {error}")),
    };
    for p in pods {
        let Some(ip) = p.status.as_ref().and_then(|s| s.pod_ip.clone()) else {
            return Some(format!("pod {} has no IP yet", p.name_any()));
        };
        let url = format!("http://{ip}:{}/health/ready", b.port);
        let answer = ctx
            .http
            .get(&url)
            .timeout(Duration::from_secs(3))
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                return Some(format!(
                    "pod {}: /health/ready answered {}",
                    p.name_any(),
                    r.status()
                ));
            }
            Err(error) => {
                return Some(format!("pod {}: /health/ready: {error}", p.name_any()));
            }
        }
    }
    None
}

async fn publish(ctx: &Context, b: &ValidatedBackend, d: &Decision) {
    for note in &d.notes {
        events::rollout(ctx, b, note.warning, note.reason, note.message.clone()).await;
    }
}

/// Remove the annotations acted on (a merge patch of the metadata: nothing else is touched).
/// After the status write: if that failed, the annotation is still there and the next
/// reconcile, deciding from the same recorded status, acts on it once again.
///
/// # Errors
/// `ApplyChild` when the patch fails.
pub async fn consume(ctx: &Context, mb: &MerchantBackend, keys: &[&'static str]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let annotations: serde_json::Map<String, serde_json::Value> = keys
        .iter()
        .map(|k| ((*k).to_owned(), serde_json::Value::Null))
        .collect();
    let patch = serde_json::json!({"metadata": {"annotations": annotations}});
    let namespace = mb.namespace().unwrap_or_default();
    Api::<MerchantBackend>::namespaced(ctx.client.clone(), &namespace)
        .patch(
            &mb.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(|source| Error::ApplyChild {
            kind: "MerchantBackend",
            name: mb.name_any(),
            source,
        })?;
    debug!(?keys, "rollout annotations consumed");
    Ok(())
}

/// After a rollout ends, drop the revisions (ControllerRevisions, ConfigMaps) no record needs.
/// A failure is logged: leftovers cost nothing and the next rollout's end tries again. After
/// the `first` rollout only ConfigMaps are looked at (from the cache: an older operator's
/// unrevisioned one may be left).
async fn prune(ctx: &Context, b: &ValidatedBackend, d: &Decision, first: bool) {
    let mut keep: Vec<String> = d.history.iter().map(|r| r.revision.clone()).collect();
    keep.extend(d.status.stable_revision.clone());
    if !first && let Err(error) = revisions::prune(ctx, b, &keep).await {
        warn!(error = %crate::telemetry::chain(&error), "pruning old revisions failed");
    }
    let configs: Vec<String> = d
        .history
        .iter()
        .map(|r| names::config_revision(&b.name, &r.config_hash))
        .collect();
    prune_config_maps(ctx, b, &configs).await;
}

async fn prune_config_maps(ctx: &Context, b: &ValidatedBackend, keep: &[String]) {
    let api =
        Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(ctx.client.clone(), &b.namespace);
    let legacy = names::config_map(&b.name);
    let prefix = format!("{legacy}-");
    let cached = ctx.caches.config_maps.with_instance(&b.namespace, &b.name);
    for cm in cached {
        let name = cm.name_any();
        // The current configuration's ConfigMap is applied every reconcile; only older ones go.
        let revisioned = name.starts_with(&prefix) || name == legacy;
        if !revisioned || keep.contains(&name) || !ours(&cm.metadata) {
            continue;
        }
        if let Err(error) = api.delete(&name, &DeleteParams::background()).await {
            warn!(k8s.name = %name, error = %error, "deleting an old ConfigMap failed");
        }
    }
}

fn ours(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get("app.kubernetes.io/managed-by"))
        .is_some_and(|v| v == crate::crd::MANAGED_BY)
}

#[cfg(test)]
mod tests;
