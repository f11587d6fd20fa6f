//! `update_status`: conditions computed from the observed children (never from the spec),
//! `observedGeneration`, lastTransitionTime kept unless a status flips, sorted endpoints; written
//! with SSA on /status only when it differs from what the object already shows. Condition flips
//! that need a human become Events.

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentCondition},
        core::v1::Service,
        networking::v1::Ingress,
    },
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::events::{Event, EventType},
};
use tracing::warn;

use super::{
    Context, build::names, diagnose::Cause, ownership::Refusal, secrets::SecretsState,
    validate::ValidatedBackend,
};
use crate::{
    crd::{
        APPLIED_HASH_ANNOTATION, FIELD_MANAGER, MerchantBackend, MerchantBackendStatus,
        rollout::{RevisionRecord, RolloutStatus},
        status::{
            BackupStatus, DEGRADED, PAUSED, PROGRESSING, READY, RECONCILING, STALLED, reason,
        },
    },
    error::{Error, Result},
};

/// Children as observed in the caches, for status computation.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    /// The live Deployment.
    pub deployment: Option<Deployment>,
    /// applied-hash the Deployment should carry (None when held).
    pub desired_deployment_hash: Option<String>,
    /// The live public Service.
    pub public_service: Option<Service>,
    /// The live Ingress.
    pub ingress: Option<Ingress>,
    /// HPA minimum: the Deployment is not Ready below it (it starts at 1 until the HPA scales).
    pub min_replicas: Option<i32>,
    /// Children left alone because they are not ours.
    pub refused: Vec<Refusal>,
    /// `Kind/name: message` of a child the API server refused.
    pub apply_failure: Option<String>,
    /// Why the pods cannot run, when the Deployment is not Ready.
    pub cause: Option<Cause>,
    /// Backup runs recorded so far (None: not observed in this reconcile, status keeps its own).
    pub backup: Option<BackupStatus>,
    /// The release gate's decision (None: not run in this reconcile, status keeps its own).
    pub gate: Option<super::release::Gate>,
    /// The unfinished in-place MerchantRestore holding the API at zero replicas.
    pub restore_hold: Option<String>,
    /// status.rollout and status.history as decided (None: not run, status keeps its own).
    pub rollout: Option<(RolloutStatus, Vec<RevisionRecord>)>,
}

/// What the reconcile concluded, the input of the conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// spec.paused.
    Paused,
    /// The spec was refused (field: reason).
    Invalid(String),
    /// Children applied; Secrets as checked.
    Applied(SecretsState),
}

/// One condition (type, status, reason, message) before timestamps are attached.
pub(crate) type Draft = (&'static str, bool, &'static str, String);

fn deployment_conditions(observed: &Observed) -> Vec<Draft> {
    let Some(d) = &observed.deployment else {
        return deployment_missing();
    };
    let applied = runs_applied_spec(observed, d);
    let spec_replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let want = spec_replicas.max(observed.min_replicas.unwrap_or(0));
    let s = d.status.clone().unwrap_or_default();
    let seen = s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    let rolled = seen
        && s.updated_replicas.unwrap_or(0) >= want
        && s.ready_replicas.unwrap_or(0) >= want
        && s.replicas.unwrap_or(0) == spec_replicas;
    let failed = rollout_failure(s.conditions);
    let ready = applied && rolled;
    let progress = format!(
        "{}/{} pods ready, {} updated",
        s.ready_replicas.unwrap_or(0),
        want,
        s.updated_replicas.unwrap_or(0)
    );
    let mut drafts = vec![
        if ready {
            (READY, true, reason::AVAILABLE, progress.clone())
        } else {
            (READY, false, reason::ROLLING_OUT, progress.clone())
        },
        if ready {
            (PROGRESSING, false, reason::UP_TO_DATE, String::new())
        } else {
            (PROGRESSING, true, reason::ROLLING_OUT, progress)
        },
    ];
    drafts.push(match failed {
        Some(c) => (
            DEGRADED,
            true,
            reason::ROLLOUT_FAILED,
            c.message.unwrap_or_default(),
        ),
        None => (DEGRADED, false, reason::HEALTHY, String::new()),
    });
    drafts.push((STALLED, false, reason::HEALTHY, String::new()));
    drafts
}

fn deployment_missing() -> Vec<Draft> {
    let msg = "waiting for the Deployment to be created".to_owned();
    vec![
        (READY, false, reason::DEPLOYMENT_MISSING, msg.clone()),
        (PROGRESSING, true, reason::DEPLOYMENT_MISSING, msg),
        (DEGRADED, false, reason::HEALTHY, String::new()),
        (STALLED, false, reason::HEALTHY, String::new()),
    ]
}

/// The live Deployment carries the hash of the spec last applied (or none was expected).
fn runs_applied_spec(observed: &Observed, d: &Deployment) -> bool {
    let current = d
        .meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(APPLIED_HASH_ANNOTATION));
    observed.desired_deployment_hash.is_none()
        || current == observed.desired_deployment_hash.as_ref()
}

/// The Deployment condition saying its rollout failed, if any.
fn rollout_failure(conditions: Option<Vec<DeploymentCondition>>) -> Option<DeploymentCondition> {
    conditions.unwrap_or_default().into_iter().find(|c| {
        (c.type_ == "Progressing" && c.status == "False")
            || (c.type_ == "ReplicaFailure" && c.status == "True")
    })
}

fn held_for_restore(restore: &str) -> Vec<Draft> {
    let message =
        format!("scaled to zero while MerchantRestore {restore} restores the database in place");
    vec![
        (READY, false, reason::RESTORE_IN_PROGRESS, message.clone()),
        (PROGRESSING, true, reason::RESTORE_IN_PROGRESS, message),
        (DEGRADED, false, reason::HEALTHY, String::new()),
        (STALLED, false, reason::HEALTHY, String::new()),
    ]
}

fn stalled(why: &'static str, message: &str) -> Vec<Draft> {
    vec![
        (READY, false, why, message.to_owned()),
        (PROGRESSING, false, why, message.to_owned()),
        (DEGRADED, true, why, message.to_owned()),
        (STALLED, true, why, message.to_owned()),
    ]
}

/// Whether the Deployment runs every wanted pod on the current template (then no cause is
/// looked for).
pub fn ready(observed: &Observed) -> bool {
    deployment_conditions(observed)
        .first()
        .is_some_and(|(_, status, _, _)| *status)
}

/// The rollout's conditions with Ready=False and Degraded=True for `why`.
fn degraded(mut drafts: Vec<Draft>, why: &'static str, message: &str) -> Vec<Draft> {
    for draft in &mut drafts {
        if draft.0 == READY {
            *draft = (READY, false, why, message.to_owned());
        } else if draft.0 == DEGRADED {
            *draft = (DEGRADED, true, why, message.to_owned());
        }
    }
    drafts
}

fn holding(observed: &Observed) -> Option<(&'static str, &String, bool)> {
    let (why, message, failed) = observed.gate.as_ref()?.holding.as_ref()?;
    Some((*why, message, *failed))
}

/// A release in progress: not Ready for the current spec, Progressing for `why`.
fn releasing(mut drafts: Vec<Draft>, why: &'static str, message: &str) -> Vec<Draft> {
    for draft in &mut drafts {
        if draft.0 == READY {
            *draft = (READY, false, why, message.to_owned());
        } else if draft.0 == PROGRESSING {
            *draft = (PROGRESSING, true, why, message.to_owned());
        }
    }
    drafts
}

/// Sentences of every refusal of one kind (sorted, so the message is stable).
fn refusals(observed: &Observed, conflict: bool) -> Option<String> {
    let mut messages: Vec<String> = observed
        .refused
        .iter()
        .filter(|r| r.backend.is_some() == conflict)
        .map(Refusal::message)
        .collect();
    messages.sort();
    messages.dedup();
    (!messages.is_empty()).then(|| messages.join("; "))
}

/// Conditions in priority order: a refused spec, a name conflict and missing Secrets stall; a
/// child not ours, a refused apply and a cause found on the pods degrade the rollout's view.
fn drafts(verdict: &Verdict, observed: &Observed) -> Vec<Draft> {
    let conflict = refusals(observed, true);
    let mut drafts = match (verdict, conflict) {
        (Verdict::Invalid(message), _) => stalled(reason::INVALID_SPEC, message),
        (_, Some(message)) => stalled(reason::NAME_CONFLICT, &message),
        (Verdict::Applied(secrets @ SecretsState::Missing(_)), None) => stalled(
            reason::SECRET_MISSING,
            &secrets.message().unwrap_or_default(),
        ),
        (Verdict::Paused | Verdict::Applied(SecretsState::Ready { .. }), None) => {
            let rollout = match &observed.restore_hold {
                Some(restore) => held_for_restore(restore),
                None => deployment_conditions(observed),
            };
            if let Some(message) = refusals(observed, false) {
                degraded(rollout, reason::NOT_OWNED, &message)
            } else if let Some(message) = &observed.apply_failure {
                degraded(rollout, reason::APPLY_FAILED, message)
            } else if let Some((why, message, true)) = holding(observed) {
                degraded(rollout, why, message)
            } else if let Some(cause) = &observed.cause {
                degraded(rollout, cause.reason, &cause.message)
            } else if let Some((why, message, false)) = holding(observed) {
                releasing(rollout, why, message)
            } else {
                rollout
            }
        }
    };
    drafts.push(match verdict {
        Verdict::Paused => (
            PAUSED,
            true,
            reason::PAUSED,
            "spec.paused is true: children are left as they are".to_owned(),
        ),
        _ => (PAUSED, false, reason::RECONCILING, String::new()),
    });
    drafts
}

/// kstatus's reading for generic tools (Flux without health expressions, cli-utils, `kpt live
/// status`), which look only at Reconciling and Stalled: Reconciling is Progressing, or True
/// while a rollout is in flight; a rollout that ended rolled back, aborted or blocked stalls
/// (only a new spec or the `retry` annotation moves it on).
fn with_kstatus_view(mut drafts: Vec<Draft>, rollout: Option<&RolloutStatus>) -> Vec<Draft> {
    use super::rollout::machine::phase;
    let Some(progressing) = drafts.iter().find(|d| d.0 == PROGRESSING).cloned() else {
        return drafts;
    };
    let rollout_reason = |r: &RolloutStatus| {
        let (_, _, why, message) = super::rollout::health(r);
        (why, message)
    };
    let reconciling = match rollout {
        Some(r) if !progressing.1 && phase::in_flight_or_queued(&r.phase) => {
            let (why, message) = rollout_reason(r);
            (RECONCILING, true, why, message)
        }
        _ => (RECONCILING, progressing.1, progressing.2, progressing.3),
    };
    if let Some(r) = rollout.filter(|r| phase::ended_badly(&r.phase)) {
        let (why, message) = rollout_reason(r);
        for draft in &mut drafts {
            if draft.0 == STALLED && !draft.1 {
                *draft = (STALLED, true, why, message.clone());
            }
        }
    }
    drafts.push(reconciling);
    drafts
}

/// Conditions with timestamps: an existing condition keeps its lastTransitionTime unless its
/// status flips.
pub(crate) fn conditions(
    drafts: Vec<Draft>,
    previous: &[Condition],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    drafts
        .into_iter()
        .map(|(type_, status, reason, message)| {
            let status = if status { "True" } else { "False" }.to_owned();
            let old = previous.iter().find(|c| c.type_ == type_);
            let last_transition_time = match old {
                Some(c) if c.status == status => c.last_transition_time.clone(),
                _ => Time(now),
            };
            Condition {
                type_: type_.to_owned(),
                status,
                reason: reason.to_owned(),
                message,
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

fn endpoints(b: &ValidatedBackend, observed: &Observed) -> Vec<String> {
    let mut out = vec![format!(
        "http://{}.{}.svc:{}",
        names::internal_service(&b.name),
        b.namespace,
        b.port
    )];
    let lb = observed
        .public_service
        .as_ref()
        .and_then(|s| s.status.as_ref())
        .and_then(|s| s.load_balancer.as_ref());
    for ingress in lb.and_then(|l| l.ingress.clone()).unwrap_or_default() {
        if let Some(host) = ingress.hostname.or(ingress.ip) {
            out.push(format!("http://{host}:{}", b.service.port));
        }
    }
    if let (Some(spec), Some(_)) = (&b.ingress, &observed.ingress) {
        let scheme = if spec.tls_secret_name.is_some() {
            "https"
        } else {
            "http"
        };
        out.push(format!("{scheme}://{}", spec.host));
    }
    out.sort();
    out.dedup();
    out
}

/// The status a MerchantBackend should show. Pure; `now` is used only for flipped conditions.
pub fn compute(
    mb: &MerchantBackend,
    b: Option<&ValidatedBackend>,
    verdict: &Verdict,
    observed: &Observed,
    now: Timestamp,
) -> MerchantBackendStatus {
    let previous = mb
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let generation = mb.metadata.generation;
    let ds = observed.deployment.as_ref().and_then(|d| d.status.clone());
    let image = observed
        .deployment
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.clone());
    let old = mb.status.clone().unwrap_or_default();
    // Backups disabled: their record goes; not observed this time: it stays as it was.
    let backup = match b.map(|b| b.backup.is_some()) {
        Some(false) => None,
        _ => observed.backup.clone().or(old.backup),
    };
    let mut drafts = drafts(verdict, observed);
    if let (Some(spec), Some(recorded)) = (b.and_then(|b| b.backup.as_ref()), &backup) {
        drafts.push(super::backups::health(spec, recorded, now));
    }
    let (rollout, history) = match &observed.rollout {
        Some((rollout, history)) => (Some(rollout.clone()), history.clone()),
        None => (old.rollout, old.history),
    };
    if let Some(r) = &rollout {
        drafts.push(super::rollout::health(r));
    }
    let drafts = with_kstatus_view(drafts, rollout.as_ref());
    MerchantBackendStatus {
        observed_generation: generation,
        conditions: conditions(drafts, previous, generation, now),
        replicas: ds.as_ref().map(|s| s.replicas.unwrap_or(0)),
        ready_replicas: ds.as_ref().map(|s| s.ready_replicas.unwrap_or(0)),
        updated_replicas: ds.as_ref().map(|s| s.updated_replicas.unwrap_or(0)),
        image,
        endpoints: b.map(|b| endpoints(b, observed)).unwrap_or_default(),
        backup,
        database: match &observed.gate {
            Some(gate) => gate.database.clone(),
            None => old.database,
        },
        release: match &observed.gate {
            Some(gate) => gate.release.clone(),
            None => old.release,
        },
        rollout,
        history,
    }
}

/// Write `status` with SSA on /status unless the object already shows it; publish Events for
/// conditions that flipped. Returns whether a write was issued.
///
/// # Errors
/// `PatchStatus` when the write fails.
pub async fn update(
    ctx: &Context,
    mb: &MerchantBackend,
    status: MerchantBackendStatus,
) -> Result<bool> {
    if mb.status.as_ref() == Some(&status) {
        return Ok(false);
    }
    let namespace = mb.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let api: Api<MerchantBackend> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = serde_json::json!({
        "apiVersion": MerchantBackend::api_version(&()),
        "kind": MerchantBackend::kind(&()),
        "status": status,
    });
    api.patch_status(
        &mb.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(Error::PatchStatus)?;
    publish_flips(ctx, mb, &status).await;
    Ok(true)
}

/// Events for conditions that just became True and matter to a human.
async fn publish_flips(ctx: &Context, mb: &MerchantBackend, status: &MerchantBackendStatus) {
    let previous = mb
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    for c in &status.conditions {
        let was_true = previous
            .iter()
            .any(|p| p.type_ == c.type_ && p.status == "True");
        if c.status != "True" || was_true {
            continue;
        }
        let type_ = match c.type_.as_str() {
            STALLED | DEGRADED => EventType::Warning,
            READY => EventType::Normal,
            _ => continue,
        };
        if c.type_ == DEGRADED
            && status
                .conditions
                .iter()
                .any(|s| s.type_ == STALLED && s.status == "True")
        {
            continue; // the Stalled event already says it
        }
        let event = Event {
            type_,
            reason: c.reason.clone(),
            note: Some(c.message.clone()).filter(|m| !m.is_empty()),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(error) = ctx.recorder.publish(&event, &mb.object_ref(&())).await {
            warn!(error = %error, reason = %c.reason, "failed to publish event");
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::DeploymentStatus;

    use super::*;
    use crate::{controller::validate::validate, fixtures::backend};

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).expect("valid timestamp")
    }

    fn deployment(replicas: i32, ready: i32, hash: &str) -> Deployment {
        let mut d = Deployment::default();
        d.metadata.generation = Some(1);
        d.metadata.annotations =
            Some([(APPLIED_HASH_ANNOTATION.to_owned(), hash.to_owned())].into());
        d.spec = Some(k8s_openapi::api::apps::v1::DeploymentSpec {
            replicas: Some(replicas),
            ..Default::default()
        });
        d.status = Some(DeploymentStatus {
            observed_generation: Some(1),
            replicas: Some(replicas),
            updated_replicas: Some(replicas),
            ready_replicas: Some(ready),
            ..Default::default()
        });
        d
    }

    fn condition<'a>(s: &'a MerchantBackendStatus, type_: &str) -> &'a Condition {
        s.conditions
            .iter()
            .find(|c| c.type_ == type_)
            .expect("condition present")
    }

    fn ready_verdict() -> Verdict {
        Verdict::Applied(SecretsState::Ready { hash: "h".into() })
    }

    #[test]
    fn all_pods_ready_on_the_current_template_is_ready() {
        let mb = backend("image: a:1");
        let v = validate(&mb).expect("valid");
        let observed = Observed {
            deployment: Some(deployment(3, 3, "x")),
            desired_deployment_hash: Some("x".into()),
            ..Default::default()
        };
        let s = compute(&mb, Some(&v), &ready_verdict(), &observed, now());
        assert_eq!(condition(&s, READY).status, "True");
        assert_eq!(condition(&s, PROGRESSING).status, "False");
        assert_eq!(s.ready_replicas, Some(3));
        assert_eq!(
            s.endpoints,
            vec!["http://shop-internal.prod.svc:5001".to_owned()]
        );
    }

    #[test]
    fn a_stale_template_is_not_ready_even_with_ready_pods() {
        let mb = backend("image: a:1");
        let observed = Observed {
            deployment: Some(deployment(3, 3, "old")),
            desired_deployment_hash: Some("new".into()),
            ..Default::default()
        };
        let s = compute(&mb, None, &ready_verdict(), &observed, now());
        assert_eq!(condition(&s, READY).status, "False");
        assert_eq!(condition(&s, PROGRESSING).status, "True");
    }

    #[test]
    fn reconciling_repeats_progressing_for_kstatus_readers() {
        let mb = backend("image: a:1");
        let settled = Observed {
            deployment: Some(deployment(3, 3, "x")),
            desired_deployment_hash: Some("x".into()),
            ..Default::default()
        };
        let rolling = Observed {
            deployment: Some(deployment(3, 1, "x")),
            desired_deployment_hash: Some("x".into()),
            ..Default::default()
        };
        let invalid = Verdict::Invalid("spec.image: must not be empty".into());
        for (verdict, observed, want) in [
            (ready_verdict(), &settled, "False"),
            (ready_verdict(), &rolling, "True"),
            (invalid, &settled, "False"),
        ] {
            let s = compute(&mb, None, &verdict, observed, now());
            let (p, r) = (condition(&s, PROGRESSING), condition(&s, RECONCILING));
            assert_eq!(r.status, want, "{verdict:?}");
            assert_eq!(
                (&r.status, &r.reason, &r.message),
                (&p.status, &p.reason, &p.message)
            );
        }
    }

    #[test]
    fn kstatus_sees_a_queued_rollout_in_progress_and_a_rolled_back_one_stalled() {
        let mb = backend("image: a:1");
        let with_rollout = |phase: &str| Observed {
            deployment: Some(deployment(3, 3, "x")),
            desired_deployment_hash: Some("x".into()),
            rollout: Some((
                RolloutStatus {
                    phase: phase.into(),
                    message: Some(format!("the rollout is {phase}")),
                    ..Default::default()
                },
                vec![],
            )),
            ..Default::default()
        };
        let s = compute(&mb, None, &ready_verdict(), &with_rollout("Queued"), now());
        assert_eq!(condition(&s, PROGRESSING).status, "False");
        let r = condition(&s, RECONCILING);
        assert_eq!(
            (r.status.as_str(), r.message.as_str()),
            ("True", "the rollout is Queued")
        );
        assert_eq!(condition(&s, STALLED).status, "False");

        let s = compute(
            &mb,
            None,
            &ready_verdict(),
            &with_rollout("RolledBack"),
            now(),
        );
        assert_eq!(condition(&s, RECONCILING).status, "False");
        let stalled = condition(&s, STALLED);
        assert_eq!(
            (
                stalled.status.as_str(),
                stalled.reason.as_str(),
                stalled.message.as_str()
            ),
            ("True", "RolledBack", "the rollout is RolledBack")
        );

        let s = compute(&mb, None, &ready_verdict(), &with_rollout("Healthy"), now());
        assert_eq!(condition(&s, RECONCILING).status, "False");
        assert_eq!(condition(&s, STALLED).status, "False");
    }

    #[test]
    fn a_missing_secret_stalls_and_names_it() {
        let mb = backend("image: a:1");
        let missing = SecretsState::Missing(vec![crate::controller::secrets::MissingSecret {
            name: "db-secrets".into(),
            key: None,
            env: "MONGODB_URI",
        }]);
        let s = compute(
            &mb,
            None,
            &Verdict::Applied(missing),
            &Observed::default(),
            now(),
        );
        let stalled = condition(&s, STALLED);
        assert_eq!(
            (stalled.status.as_str(), stalled.reason.as_str()),
            ("True", "SecretMissing")
        );
        assert!(stalled.message.contains("db-secrets"));
        assert_eq!(condition(&s, DEGRADED).status, "True");
    }

    fn reason_of(s: &MerchantBackendStatus, type_: &str) -> (String, String) {
        let c = condition(s, type_);
        (c.status.clone(), c.reason.clone())
    }

    #[test]
    fn a_name_conflict_stalls_and_a_foreign_object_outranks_failures_and_pod_causes() {
        let mb = backend("image: a:1");
        let refusal = |backend: Option<&str>| Refusal {
            kind: "Service",
            namespace: "prod".into(),
            name: "shop-internal".into(),
            backend: backend.map(Into::into),
        };
        let cause = Cause {
            reason: reason::UNSCHEDULABLE,
            message: "pod p cannot be scheduled".into(),
        };
        let mut observed = Observed {
            deployment: Some(deployment(3, 0, "x")),
            refused: vec![refusal(None)],
            apply_failure: Some("Service/shop: denied".into()),
            cause: Some(cause),
            ..Default::default()
        };
        let s = compute(&mb, None, &ready_verdict(), &observed, now());
        assert_eq!(reason_of(&s, READY), ("False".into(), "NotOwned".into()));
        assert_eq!(reason_of(&s, DEGRADED), ("True".into(), "NotOwned".into()));
        assert_eq!(reason_of(&s, STALLED), ("False".into(), "Healthy".into()));
        observed.refused.clear();
        let s = compute(&mb, None, &ready_verdict(), &observed, now());
        assert_eq!(
            reason_of(&s, DEGRADED),
            ("True".into(), "ApplyFailed".into())
        );
        assert_eq!(condition(&s, READY).message, "Service/shop: denied");
        observed.apply_failure = None;
        let s = compute(&mb, None, &ready_verdict(), &observed, now());
        assert_eq!(
            reason_of(&s, READY),
            ("False".into(), "Unschedulable".into())
        );
        observed.refused = vec![refusal(Some("x"))];
        let s = compute(&mb, None, &ready_verdict(), &observed, now());
        assert_eq!(
            reason_of(&s, STALLED),
            ("True".into(), "NameConflict".into())
        );
    }

    #[test]
    fn transition_time_moves_only_when_a_status_flips() {
        let mut mb = backend("image: a:1");
        let observed = Observed {
            deployment: Some(deployment(3, 1, "x")),
            desired_deployment_hash: Some("x".into()),
            ..Default::default()
        };
        let first = compute(&mb, None, &ready_verdict(), &observed, now());
        mb.status = Some(first.clone());
        let later = Timestamp::from_second(1_900_000_000).expect("valid timestamp");
        let again = compute(&mb, None, &ready_verdict(), &observed, later);
        assert_eq!(first, again, "same observation, same status, no write");
        let ready = Observed {
            deployment: Some(deployment(3, 3, "x")),
            ..observed
        };
        let flipped = compute(&mb, None, &ready_verdict(), &ready, later);
        assert_eq!(condition(&flipped, READY).last_transition_time, Time(later));
        assert_eq!(
            condition(&flipped, STALLED).last_transition_time,
            Time(now())
        );
    }
}
