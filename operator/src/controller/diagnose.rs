//! Why the pods cannot run: the uploads claim and the backend's Pods (from label-selected,
//! pruned caches) turned into one cause, in priority order ClaimPending, Unschedulable,
//! ImagePullFailed, CrashLoop. `diagnose` is pure and deterministic (pods sorted, no times), so
//! an unchanged situation gives the same message and no status write. `gather` collects the
//! evidence: cache reads, plus a StorageClass GET only while the claim is not Bound and a log
//! GET only when a crashing container's restartCount changed.

use std::collections::BTreeMap;

use k8s_openapi::api::{
    core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
        PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimStatus, Pod,
        PodCondition, PodStatus,
    },
    storage::v1::StorageClass,
};
use kube::{Api, ResourceExt, api::LogParams};

use super::{Context, build::names, events::truncate, validate::ValidatedBackend};
use crate::crd::status::reason;

/// Log lines of a crashed container put in the message, at most.
const LOG_LINES: i64 = 5;
/// Bytes of log fetched, at most.
const LOG_BYTES: i64 = 4096;
/// Characters kept of one log line.
const LINE_LIMIT: usize = 200;
/// Characters kept of a message taken from the cluster (scheduler, kubelet).
const MESSAGE_LIMIT: usize = 600;

/// Waiting reasons of a container whose image cannot be pulled.
const PULL_FAILURES: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
];

/// What the storage class of a pending claim turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassState {
    /// The claim names no class (none was the default when it was created).
    Unset,
    /// The class does not exist.
    Missing,
    /// It binds only once a pod using the claim is scheduled: pending is expected until then.
    WaitForFirstConsumer,
    /// It exists and binds immediately.
    Immediate,
    /// It could not be read (e.g. the operator may not read StorageClasses).
    Unknown,
}

/// The uploads claim as far as the status needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimEvidence {
    /// Claim name.
    pub name: String,
    /// status.phase (Pending, Bound, Lost).
    pub phase: String,
    /// spec.storageClassName.
    pub storage_class: Option<String>,
    /// What the class is (only looked up while the claim is not Bound).
    pub class: ClassState,
}

/// Everything `diagnose` reads.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The uploads claim, when uploads are on and it exists.
    pub claim: Option<ClaimEvidence>,
    /// The backend's pods (any order).
    pub pods: Vec<Pod>,
    /// Last log lines of the previous instance of crashing containers, by `pod/container`.
    pub logs: BTreeMap<String, Vec<String>>,
}

/// The crash whose logs were last read for a MerchantBackend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenCrash {
    /// `pod/container`.
    pub key: String,
    /// Its restartCount when the logs were read.
    pub restarts: i32,
    /// The lines read.
    pub lines: Vec<String>,
}

/// A reason and message for Ready=False / Degraded=True.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// Condition reason (reason::CLAIM_PENDING, ...).
    pub reason: &'static str,
    /// Human message.
    pub message: String,
}

/// The cause that keeps the pods from running, or None.
pub fn diagnose(e: &Evidence) -> Option<Cause> {
    let mut pods: Vec<&Pod> = e
        .pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    pods.sort_by_key(|p| p.name_any());
    e.claim
        .as_ref()
        .and_then(claim_pending)
        .or_else(|| unschedulable(&pods))
        .or_else(|| image_pull(&pods))
        .or_else(|| crash_loop(&pods, &e.logs))
}

fn claim_pending(c: &ClaimEvidence) -> Option<Cause> {
    if c.phase == "Bound" || c.class == ClassState::WaitForFirstConsumer {
        return None;
    }
    let why = match (&c.storage_class, &c.class) {
        (None, _) | (_, ClassState::Unset) => "it names no storage class and the cluster had no \
                                               default StorageClass when it was created"
            .to_owned(),
        (Some(class), ClassState::Missing) => format!("storage class {class} does not exist"),
        (Some(class), ClassState::Unknown) => format!(
            "waiting for a volume of storage class {class} (the operator could not read the \
             class to check that it exists)"
        ),
        (Some(class), _) => {
            format!("waiting for the provisioner of storage class {class} to bind a volume")
        }
    };
    Some(Cause {
        reason: reason::CLAIM_PENDING,
        message: format!(
            "uploads claim {} is {}: {why}",
            c.name,
            if c.phase.is_empty() {
                "Pending"
            } else {
                &c.phase
            }
        ),
    })
}

/// "pod X" or "pod X (and N more)" for the first of `n` affected pods.
fn pods_phrase(first: &Pod, n: usize) -> String {
    match n {
        0 | 1 => format!("pod {}", first.name_any()),
        _ => format!("pod {} (and {} more)", first.name_any(), n - 1),
    }
}

fn conditions(p: &Pod) -> &[PodCondition] {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
}

fn containers(p: &Pod) -> &[ContainerStatus] {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default()
}

fn waiting(c: &ContainerStatus) -> Option<&ContainerStateWaiting> {
    c.state.as_ref().and_then(|s| s.waiting.as_ref())
}

fn unschedulable(pods: &[&Pod]) -> Option<Cause> {
    let stuck: Vec<(&Pod, &PodCondition)> = pods
        .iter()
        .filter_map(|p| {
            conditions(p)
                .iter()
                .find(|c| {
                    c.type_ == "PodScheduled"
                        && c.status == "False"
                        && c.reason.as_deref() == Some("Unschedulable")
                })
                .map(|c| (*p, c))
        })
        .collect();
    let (pod, condition) = stuck.first()?;
    Some(Cause {
        reason: reason::UNSCHEDULABLE,
        message: format!(
            "{} cannot be scheduled: {}",
            pods_phrase(pod, stuck.len()),
            truncate(
                condition.message.as_deref().unwrap_or("no reason given"),
                MESSAGE_LIMIT
            )
        ),
    })
}

fn image_pull(pods: &[&Pod]) -> Option<Cause> {
    let failing: Vec<(&Pod, &ContainerStatus, &ContainerStateWaiting)> = pods
        .iter()
        .flat_map(|p| containers(p).iter().map(move |c| (*p, c)))
        .filter_map(|(p, c)| {
            waiting(c)
                .filter(|w| PULL_FAILURES.contains(&w.reason.as_deref().unwrap_or_default()))
                .map(|w| (p, c, w))
        })
        .collect();
    let (pod, container, w) = failing.first()?;
    Some(Cause {
        reason: reason::IMAGE_PULL_FAILED,
        message: format!(
            "{}: container {} cannot pull image {} ({}): {}",
            pods_phrase(pod, failing.len()),
            container.name,
            container.image,
            w.reason.as_deref().unwrap_or_default(),
            truncate(w.message.as_deref().unwrap_or_default(), MESSAGE_LIMIT)
        ),
    })
}

/// The first crashing container (pods sorted by name): waiting in CrashLoopBackOff, or
/// restarted and not ready after exiting. Returns (pod, container status).
pub fn crashing<'a>(pods: &[&'a Pod]) -> Option<(&'a Pod, &'a ContainerStatus)> {
    pods.iter()
        .flat_map(|p| containers(p).iter().map(move |c| (*p, c)))
        .find(|(_, c)| {
            let backoff = waiting(c).and_then(|w| w.reason.as_deref()) == Some("CrashLoopBackOff");
            backoff || (c.restart_count > 0 && !c.ready && last_exit(c).is_some())
        })
}

/// The last termination of a container: the current state if terminated, else the previous one.
fn last_exit(c: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    fn terminated(s: Option<&ContainerState>) -> Option<&ContainerStateTerminated> {
        s.and_then(|s| s.terminated.as_ref())
    }
    terminated(c.state.as_ref()).or_else(|| terminated(c.last_state.as_ref()))
}

/// `pod/container`, the key of `Evidence::logs`.
pub fn log_key(pod: &str, container: &str) -> String {
    format!("{pod}/{container}")
}

fn crash_loop(pods: &[&Pod], logs: &BTreeMap<String, Vec<String>>) -> Option<Cause> {
    let (pod, c) = crashing(pods)?;
    let n = pods.iter().filter(|p| crashing(&[**p]).is_some()).count();
    let exit = match last_exit(c) {
        Some(t) => format!(
            "exit code {}{}",
            t.exit_code,
            t.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        None => "exit code unknown".to_owned(),
    };
    let lines = logs
        .get(&log_key(&pod.name_any(), &c.name))
        .filter(|l| !l.is_empty())
        .map(|l| format!("; last log lines: {}", l.join(" | ")))
        .unwrap_or_default();
    Some(Cause {
        reason: reason::CRASH_LOOP,
        message: format!(
            "{}: container {} keeps exiting, {exit}{lines}",
            pods_phrase(pod, n),
            c.name
        ),
    })
}

/// At most the last `LOG_LINES` non-empty lines, each cut to `LINE_LIMIT` bytes.
pub fn tail(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let skip = lines
        .len()
        .saturating_sub(usize::try_from(LOG_LINES).unwrap_or(5));
    lines[skip..]
        .iter()
        .map(|l| truncate(l.trim(), LINE_LIMIT))
        .collect()
}

/// Pod cache pruning: metadata (name, namespace, uid, labels, deletion) and the status fields
/// `diagnose` reads; the spec and everything else is dropped to keep memory small.
pub fn prune_pod(p: &mut Pod) {
    p.spec = None;
    let meta = &mut p.metadata;
    meta.annotations = None;
    meta.managed_fields = None;
    meta.owner_references = None;
    meta.generate_name = None;
    let Some(status) = p.status.take() else {
        return;
    };
    let conditions = status.conditions.map(|cs| {
        cs.into_iter()
            .map(|c| PodCondition {
                type_: c.type_,
                status: c.status,
                reason: c.reason,
                message: c.message,
                ..Default::default()
            })
            .collect()
    });
    let terminated = |t: ContainerStateTerminated| ContainerStateTerminated {
        exit_code: t.exit_code,
        reason: t.reason,
        message: t.message.map(|m| truncate(&m, MESSAGE_LIMIT)),
        ..Default::default()
    };
    let state = move |s: ContainerState| ContainerState {
        waiting: s.waiting,
        terminated: s.terminated.map(terminated),
        running: None,
    };
    let container_statuses = status.container_statuses.map(|cs| {
        cs.into_iter()
            .map(|c| ContainerStatus {
                name: c.name,
                image: c.image,
                ready: c.ready,
                restart_count: c.restart_count,
                state: c.state.map(state),
                last_state: c.last_state.map(state),
                ..Default::default()
            })
            .collect()
    });
    p.status = Some(PodStatus {
        phase: status.phase,
        conditions,
        container_statuses,
        ..Default::default()
    });
}

/// Claim cache pruning: metadata, storageClassName and phase (the rest is never read).
pub fn prune_claim(c: &mut PersistentVolumeClaim) {
    c.spec = c.spec.take().map(|s| PersistentVolumeClaimSpec {
        storage_class_name: s.storage_class_name,
        ..Default::default()
    });
    c.status = c.status.take().map(|s| PersistentVolumeClaimStatus {
        phase: s.phase,
        ..Default::default()
    });
}

/// Collect the evidence for `b` (only called while the Deployment is not Ready).
pub async fn gather(ctx: &Context, b: &ValidatedBackend) -> Evidence {
    // Every pod of the stack, data-tool pods included: a release waiting on a plan Job whose pod
    // cannot be scheduled is explained by that pod (real_pods::status_names_the_cause...).
    let pods = ctx.caches.pods.with_instance(&b.namespace, &b.name);
    let claim = match &b.uploads {
        Some(_) => claim_evidence(ctx, b).await,
        None => None,
    };
    let logs = crash_logs(ctx, b, &pods).await;
    Evidence { claim, pods, logs }
}

async fn claim_evidence(ctx: &Context, b: &ValidatedBackend) -> Option<ClaimEvidence> {
    let name = names::uploads(&b.name);
    let live = ctx.caches.pvcs.get(&b.namespace, &name)?;
    let phase = live
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    let storage_class = live
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.clone());
    let class = match (&storage_class, phase.as_str()) {
        (_, "Bound") => ClassState::Immediate,
        (None, _) => ClassState::Unset,
        // Only while the claim is not Bound, so a settled backend never asks.
        (Some(class), _) => {
            match Api::<StorageClass>::all(ctx.client.clone())
                .get_opt(class)
                .await
            {
                Ok(None) => ClassState::Missing,
                Ok(Some(sc))
                    if sc.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer") =>
                {
                    ClassState::WaitForFirstConsumer
                }
                Ok(Some(_)) => ClassState::Immediate,
                Err(_) => ClassState::Unknown,
            }
        }
    };
    Some(ClaimEvidence {
        name,
        phase,
        storage_class,
        class,
    })
}

/// Log tail of the first crashing container, fetched only when its restartCount differs from
/// the one remembered for this backend (one crash, one GET; none in a steady state).
async fn crash_logs(
    ctx: &Context,
    b: &ValidatedBackend,
    pods: &[Pod],
) -> BTreeMap<String, Vec<String>> {
    let backend = format!("{}/{}", b.namespace, b.name);
    let mut sorted: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    sorted.sort_by_key(|p| p.name_any());
    let Some((pod, c)) = crashing(&sorted) else {
        forget(ctx, &backend);
        return BTreeMap::new();
    };
    let key = log_key(&pod.name_any(), &c.name);
    let lines = match remembered_lines(ctx, &backend, &key, c.restart_count) {
        Some(lines) => lines,
        None => {
            let lines = previous_log_tail(ctx, &b.namespace, &pod.name_any(), &c.name).await;
            ctx.crash_logs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(
                    backend,
                    SeenCrash {
                        key: key.clone(),
                        restarts: c.restart_count,
                        lines: lines.clone(),
                    },
                );
            lines
        }
    };
    BTreeMap::from([(key, lines)])
}

/// The log lines remembered for this crash (same container, same restartCount), if any.
fn remembered_lines(ctx: &Context, backend: &str, key: &str, restarts: i32) -> Option<Vec<String>> {
    let seen = ctx
        .crash_logs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    seen.get(backend)
        .filter(|seen| seen.key == key && seen.restarts == restarts)
        .map(|seen| seen.lines.clone())
}

/// The last lines the previous instance of a container logged.
async fn previous_log_tail(
    ctx: &Context,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Vec<String> {
    let params = LogParams {
        container: Some(container.to_owned()),
        previous: true,
        tail_lines: Some(LOG_LINES),
        limit_bytes: Some(LOG_BYTES),
        ..Default::default()
    };
    // No previous instance yet, or no permission: the message goes without lines.
    let text = Api::<Pod>::namespaced(ctx.client.clone(), namespace)
        .logs(pod, &params)
        .await
        .unwrap_or_default();
    tail(&text)
}

/// Drop what is remembered about `backend`'s crashes.
fn forget(ctx: &Context, backend: &str) {
    ctx.crash_logs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(backend);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "prod"},
            "status": status,
        }))
        .expect("pod fixture")
    }

    fn unschedulable_pod(name: &str) -> Pod {
        pod(
            name,
            serde_json::json!({"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint."
            }]}),
        )
    }

    fn waiting_pod(name: &str, reason: &str, message: &str) -> Pod {
        pod(
            name,
            serde_json::json!({"phase": "Pending", "containerStatuses": [{
                "name": "api", "image": "registry.invalid/api:9", "imageID": "",
                "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": reason, "message": message}}
            }]}),
        )
    }

    fn crashing_pod(name: &str) -> Pod {
        pod(
            name,
            serde_json::json!({"phase": "Running", "containerStatuses": [{
                "name": "api", "image": "a:1", "imageID": "", "ready": false, "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}
            }]}),
        )
    }

    fn claim(phase: &str, class: Option<&str>, state: ClassState) -> ClaimEvidence {
        ClaimEvidence {
            name: "shop-uploads".into(),
            phase: phase.into(),
            storage_class: class.map(Into::into),
            class: state,
        }
    }

    #[test]
    fn a_pending_claim_with_a_missing_class_comes_first_and_says_so() {
        let e = Evidence {
            claim: Some(claim("Pending", Some("fast"), ClassState::Missing)),
            pods: vec![unschedulable_pod("shop-1")],
            ..Default::default()
        };
        let cause = diagnose(&e).expect("cause");
        assert_eq!(cause.reason, "ClaimPending");
        assert_eq!(
            cause.message,
            "uploads claim shop-uploads is Pending: storage class fast does not exist"
        );
    }

    #[test]
    fn a_claim_waiting_for_its_first_consumer_is_not_the_cause() {
        let e = Evidence {
            claim: Some(claim(
                "Pending",
                Some("local"),
                ClassState::WaitForFirstConsumer,
            )),
            pods: vec![unschedulable_pod("shop-1")],
            ..Default::default()
        };
        assert_eq!(diagnose(&e).expect("cause").reason, "Unschedulable");
    }

    #[test]
    fn an_unschedulable_pod_carries_the_scheduler_message() {
        let e = Evidence {
            pods: vec![unschedulable_pod("shop-b"), unschedulable_pod("shop-a")],
            ..Default::default()
        };
        let cause = diagnose(&e).expect("cause");
        assert_eq!(cause.reason, "Unschedulable");
        assert_eq!(
            cause.message,
            "pod shop-a (and 1 more) cannot be scheduled: 0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint."
        );
    }

    #[test]
    fn an_image_pull_failure_names_the_image_and_the_kubelet_message() {
        let e = Evidence {
            pods: vec![
                crashing_pod("shop-z"),
                waiting_pod(
                    "shop-a",
                    "ImagePullBackOff",
                    "Back-off pulling image \"registry.invalid/api:9\"",
                ),
            ],
            ..Default::default()
        };
        let cause = diagnose(&e).expect("cause");
        assert_eq!(
            cause.reason, "ImagePullFailed",
            "pull failures rank above crashes"
        );
        assert_eq!(
            cause.message,
            "pod shop-a: container api cannot pull image registry.invalid/api:9 (ImagePullBackOff): Back-off pulling image \"registry.invalid/api:9\""
        );
    }

    #[test]
    fn a_crash_loop_gives_the_exit_code_and_the_last_log_lines() {
        let logs = BTreeMap::from([(
            log_key("shop-a", "api"),
            tail("starting\n\nconfig error: MONGODB_URI is not set\n"),
        )]);
        let e = Evidence {
            pods: vec![crashing_pod("shop-a")],
            logs,
            ..Default::default()
        };
        let cause = diagnose(&e).expect("cause");
        assert_eq!(cause.reason, "CrashLoop");
        assert_eq!(
            cause.message,
            "pod shop-a: container api keeps exiting, exit code 1 (Error); last log lines: starting | config error: MONGODB_URI is not set"
        );
    }

    #[test]
    fn log_tails_keep_five_lines_and_cut_long_ones() {
        let text: String =
            (0..8).map(|i| format!("line {i}\n")).collect::<String>() + &"x".repeat(1000);
        let lines = tail(&text);
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], "line 4");
        assert!(lines[4].len() <= LINE_LIMIT);
    }

    #[test]
    fn healthy_or_starting_pods_have_no_cause() {
        let e = Evidence {
            pods: vec![waiting_pod("shop-a", "ContainerCreating", "")],
            claim: Some(claim("Bound", Some("fast"), ClassState::Immediate)),
            ..Default::default()
        };
        assert_eq!(diagnose(&e), None);
    }

    #[test]
    fn pruning_keeps_what_the_diagnosis_reads() {
        let mut p = crashing_pod("shop-a");
        p.metadata.annotations = Some([("a".to_owned(), "b".to_owned())].into());
        let before = diagnose(&Evidence {
            pods: vec![p.clone()],
            ..Default::default()
        });
        prune_pod(&mut p);
        assert_eq!(p.metadata.annotations, None);
        let after = diagnose(&Evidence {
            pods: vec![p],
            ..Default::default()
        });
        assert_eq!(before, after);
    }
}
