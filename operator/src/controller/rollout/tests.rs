//! The state machine, step by step, with the clock and the Deployments in the test's hands.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::machine::{
    Candidate, Controls, Decision, Inputs, Seen, Selects, Template, canary_pods, decide, outcome,
    phase,
};
use crate::{
    controller::{
        analysis::{Query, Verdict},
        validate::{Rollout, Step},
    },
    crd::{
        rollout::{RevisionRecord, RolloutStatus, RolloutStrategy},
        status::reason,
    },
};

fn settings(strategy: RolloutStrategy) -> Rollout {
    Rollout {
        strategy,
        progress_deadline_seconds: 30,
        max_restarts: 0,
        auto_promotion: true,
        scale_down_delay_seconds: 30,
        steps: vec![
            Step::Weight(25),
            Step::Pause(Some(60)),
            Step::Analysis(vec![0]),
            Step::Weight(50),
            Step::Pause(None),
        ],
        prometheus_url: Some("http://prometheus:9090".into()),
        queries: vec![Query {
            name: "error-ratio".into(),
            promql: "x".into(),
            max_value: 0.05,
            interval: Duration::from_secs(10),
            count: 3,
            failure_limit: 0,
        }],
    }
}

fn candidate(rev: &str) -> Candidate {
    Candidate {
        revision: rev.into(),
        image: format!("api:{rev}"),
        config_hash: format!("cfg-{rev}"),
    }
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000)
        .expect("valid")
        .checked_add(SignedDuration::from_secs(seconds))
        .expect("valid")
}

fn running(rev: &str, available: i32) -> Seen {
    Seen {
        revision: Some(rev.into()),
        rolled_out: true,
        available,
    }
}

fn starting(rev: &str) -> Seen {
    Seen {
        revision: Some(rev.into()),
        rolled_out: false,
        available: 0,
    }
}

/// One reconcile: everything but what the test sets is quiet.
struct World {
    rollout: Rollout,
    status: Option<RolloutStatus>,
    history: Vec<RevisionRecord>,
    main: Option<Seen>,
    second: Option<Seen>,
    failing: Option<String>,
    controls: Controls,
    slot: bool,
    irreversible: Option<String>,
    analysis: Option<Verdict>,
}

impl World {
    fn stable(strategy: RolloutStrategy, rev: &str) -> Self {
        Self {
            rollout: settings(strategy),
            status: Some(RolloutStatus {
                phase: phase::HEALTHY.into(),
                stable_revision: Some(rev.into()),
                ..RolloutStatus::default()
            }),
            history: Vec::new(),
            main: Some(running(rev, 2)),
            second: None,
            failing: None,
            controls: Controls::default(),
            slot: true,
            irreversible: None,
            analysis: None,
        }
    }

    fn step(&mut self, rev: &str, now: i64) -> Decision {
        let c = candidate(rev);
        let d = decide(&Inputs {
            rollout: &self.rollout,
            previous: self.status.as_ref(),
            history: &self.history,
            candidate: &c,
            main: self.main.clone(),
            second: self.second.clone(),
            failing: self.failing.clone(),
            controls: self.controls.clone(),
            slot: self.slot,
            irreversible: self.irreversible.clone(),
            analysis: self.analysis.clone(),
            stable_replicas: 2,
            schema_version: Some(7),
            now: at(now),
        });
        self.status = Some(d.status.clone());
        self.history = d.history.clone();
        self.controls = Controls::default();
        d
    }
}

fn reasons(d: &Decision) -> Vec<&'static str> {
    d.notes.iter().map(|n| n.reason).collect()
}

#[test]
fn a_rolling_update_that_becomes_ready_makes_the_new_revision_stable() {
    let mut w = World::stable(RolloutStrategy::RollingUpdate, "a");
    let d = w.step("b", 0);
    assert_eq!(d.status.phase, phase::PROGRESSING);
    assert_eq!(d.layout.main, Template::Candidate);
    assert_eq!(d.status.canary_revision.as_deref(), Some("b"));
    assert_eq!(reasons(&d), vec![reason::ROLLOUT_STARTED]);
    assert_eq!(
        d.requeue,
        Some(Duration::from_secs(30)),
        "looks again at the deadline"
    );
    assert_eq!(d.history[0].outcome, outcome::IN_PROGRESS);

    w.main = Some(running("b", 2));
    let d = w.step("b", 12);
    assert_eq!(d.status.phase, phase::HEALTHY);
    assert_eq!(d.status.stable_revision.as_deref(), Some("b"));
    assert_eq!(d.status.canary_revision, None);
    assert_eq!(d.history[0].outcome, outcome::SUCCEEDED);
    assert_eq!(d.history[0].schema_version, Some(7));
    assert_eq!(reasons(&d), vec![reason::ROLLOUT_SUCCEEDED]);

    // Settled: the same inputs decide the same status, no Event, no timer.
    let again = w.step("b", 500);
    assert_eq!(again.status, d.status);
    assert!(again.notes.is_empty() && again.requeue.is_none());
}

#[test]
fn a_rolling_update_not_ready_by_the_deadline_goes_back_to_the_stable_template() {
    let mut w = World::stable(RolloutStrategy::RollingUpdate, "a");
    w.step("b", 0);
    w.main = Some(starting("b"));
    let d = w.step("b", 29);
    assert_eq!(d.status.phase, phase::PROGRESSING);
    let d = w.step("b", 30);
    assert_eq!(d.status.phase, phase::ROLLED_BACK);
    assert_eq!(d.layout.main, Template::Stable);
    assert!(d.notes[0].warning);
    assert_eq!(reasons(&d), vec![reason::ROLLED_BACK]);
    let message = d.status.message.clone().unwrap_or_default();
    assert!(message.contains("progress deadline (30 s)"), "{message}");
    assert_eq!(d.history[0].outcome, outcome::ROLLED_BACK);

    // Held back until the spec changes or the retry annotation.
    let d = w.step("b", 400);
    assert_eq!(d.status.phase, phase::ROLLED_BACK);
    assert_eq!(d.layout.main, Template::Stable);
    w.controls.retry = true;
    let d = w.step("b", 401);
    assert_eq!(d.status.phase, phase::PROGRESSING);
    assert_eq!(d.consumed, vec![crate::crd::RETRY_ANNOTATION]);
    assert_eq!(d.history.len(), 2, "the retry is a new record");
}

#[test]
fn pods_that_can_never_start_fail_the_rollout_at_once() {
    let mut w = World::stable(RolloutStrategy::RollingUpdate, "a");
    w.step("b", 0);
    w.failing = Some("pod shop-x cannot start: ErrImageNeverPull".into());
    let d = w.step("b", 3);
    assert_eq!(d.status.phase, phase::ROLLED_BACK);
    assert!(
        d.status
            .message
            .unwrap_or_default()
            .contains("ErrImageNeverPull")
    );
}

#[test]
fn an_irreversible_migration_blocks_the_rollback_and_says_how_to_restore() {
    let mut w = World::stable(RolloutStrategy::RollingUpdate, "a");
    w.step("b", 0);
    w.irreversible =
        Some("migration 8 drop_x is irreversible and ran; roll back with a restore".into());
    let d = w.step("b", 31);
    assert_eq!(d.status.phase, phase::ROLLBACK_BLOCKED);
    assert_eq!(
        d.layout.main,
        Template::Candidate,
        "the new revision keeps serving"
    );
    assert!(d.status.message.unwrap_or_default().contains("restore"));
    assert_eq!(d.history[0].outcome, outcome::ROLLBACK_BLOCKED);
}

#[test]
fn a_canary_walks_its_steps_and_promotes() {
    let mut w = World::stable(RolloutStrategy::Canary, "a");
    let d = w.step("b", 0);
    assert_eq!(d.layout.main, Template::Stable);
    assert_eq!(
        d.layout.second,
        Some(1),
        "25% beside 2 stable pods: 1 canary pod"
    );
    assert_eq!(d.layout.selects, Selects::All);

    w.second = Some(running("b", 1));
    let d = w.step("b", 5);
    assert_eq!(
        d.status.step,
        Some(1),
        "the weight is reached: the pause starts"
    );
    assert_eq!(d.requeue, Some(Duration::from_secs(60)));
    assert_eq!(d.layout.second, Some(1), "the pause keeps the last weight");

    let d = w.step("b", 65);
    assert_eq!(d.status.step, Some(2), "paused 60 s: analysis");
    w.analysis = Some(Verdict::Passed);
    let d = w.step("b", 70);
    assert_eq!(d.status.step, Some(3));
    assert_eq!(
        d.layout.second,
        Some(2),
        "50%: as many canary pods as stable ones"
    );

    w.analysis = None;
    w.second = Some(running("b", 2));
    let d = w.step("b", 80);
    assert_eq!(d.status.step, Some(4));
    assert_eq!(
        d.status.phase,
        phase::PAUSED,
        "waits for the promote annotation"
    );

    w.controls.promote = Some(false);
    let d = w.step("b", 9000);
    assert_eq!(d.status.phase, phase::PROMOTING);
    assert_eq!(d.layout.main, Template::Candidate);
    assert_eq!(
        d.layout.second,
        Some(2),
        "canary pods serve until the stable side is new"
    );
    assert!(reasons(&d).contains(&reason::PROMOTED));

    w.main = Some(running("b", 2));
    let d = w.step("b", 9010);
    assert_eq!(d.status.phase, phase::HEALTHY);
    assert_eq!(d.layout.second, None);
    assert_eq!(d.status.stable_revision.as_deref(), Some("b"));
}

#[test]
fn a_failed_analysis_aborts_the_canary() {
    let mut w = World::stable(RolloutStrategy::Canary, "a");
    w.rollout.steps = vec![Step::Weight(50), Step::Analysis(vec![0])];
    w.step("b", 0);
    w.second = Some(running("b", 2));
    w.step("b", 5);
    w.analysis = Some(Verdict::Failed {
        reason: "error-ratio = 0.4 > 0.05".into(),
    });
    let d = w.step("b", 20);
    assert_eq!(d.status.phase, phase::ROLLED_BACK);
    assert_eq!(d.layout.second, None, "the canary Deployment goes");
    assert_eq!(d.layout.main, Template::Stable);
    assert!(
        d.status
            .message
            .unwrap_or_default()
            .contains("error-ratio = 0.4")
    );
}

#[test]
fn the_abort_annotation_puts_the_stable_revision_back() {
    let mut w = World::stable(RolloutStrategy::Canary, "a");
    w.step("b", 0);
    w.controls.abort = true;
    let d = w.step("b", 3);
    assert_eq!(d.status.phase, phase::ABORTED);
    assert_eq!(d.consumed, vec![crate::crd::ABORT_ANNOTATION]);
    assert_eq!(d.layout.second, None);
    assert_eq!(d.history[0].outcome, outcome::ABORTED);
}

#[test]
fn the_pause_annotation_stops_the_clock() {
    let mut w = World::stable(RolloutStrategy::RollingUpdate, "a");
    w.step("b", 0);
    w.main = Some(starting("b"));
    w.controls.pause = true;
    let d = w.step("b", 20);
    assert_eq!(d.status.phase, phase::PAUSED);
    w.controls.pause = true;
    w.step("b", 100);
    // 80 s paused do not count: 20 s were used before, so 10 s are left at 110.
    let d = w.step("b", 110);
    assert_eq!(d.status.phase, phase::PROGRESSING);
    let d = w.step("b", 119);
    assert_eq!(d.status.phase, phase::PROGRESSING);
    let d = w.step("b", 121);
    assert_eq!(d.status.phase, phase::ROLLED_BACK);
}

#[test]
fn blue_green_switches_the_services_then_folds_after_the_delay() {
    let mut w = World::stable(RolloutStrategy::BlueGreen, "a");
    w.rollout.queries.clear();
    let d = w.step("b", 0);
    assert_eq!(d.layout.second, Some(2), "a full-size preview");
    assert_eq!(d.layout.selects, Selects::Stable);

    w.second = Some(running("b", 2));
    let d = w.step("b", 8);
    assert_eq!(
        d.layout.selects,
        Selects::Candidate,
        "auto promotion switches"
    );
    assert_eq!(
        d.layout.main,
        Template::Stable,
        "the old side stays for the delay"
    );
    assert_eq!(d.status.phase, phase::PROMOTING);
    assert!(reasons(&d).contains(&reason::PROMOTED));
    assert_eq!(d.requeue, Some(Duration::from_secs(30)));

    let d = w.step("b", 38);
    assert_eq!(
        d.layout.main,
        Template::Candidate,
        "after the delay the main side folds"
    );
    assert_eq!(d.layout.second, Some(2));
    w.main = Some(running("b", 2));
    let d = w.step("b", 45);
    assert_eq!(d.status.phase, phase::HEALTHY);
    assert_eq!(d.layout.second, None);
    assert_eq!(d.layout.selects, Selects::Candidate);
}

#[test]
fn blue_green_without_auto_promotion_waits_then_can_roll_back_by_one_switch() {
    let mut w = World::stable(RolloutStrategy::BlueGreen, "a");
    w.rollout.queries.clear();
    w.rollout.auto_promotion = false;
    w.step("b", 0);
    w.second = Some(running("b", 2));
    let d = w.step("b", 8);
    assert_eq!(d.status.phase, phase::PAUSED);
    assert_eq!(d.layout.selects, Selects::Stable);
    w.controls.promote = Some(false);
    let d = w.step("b", 100);
    assert_eq!(d.layout.selects, Selects::Candidate);
    assert_eq!(d.consumed, vec![crate::crd::PROMOTE_ANNOTATION]);
    w.failing = Some("pod shop-preview-x restarted 2 times".into());
    let d = w.step("b", 110);
    assert_eq!(d.status.phase, phase::ROLLED_BACK);
    assert_eq!(
        d.layout.selects,
        Selects::Stable,
        "one selector switch back"
    );
    assert_eq!(d.layout.second, None);
}

#[test]
fn without_a_slot_the_change_waits_queued_and_touches_nothing() {
    let mut w = World::stable(RolloutStrategy::RollingUpdate, "a");
    w.slot = false;
    let d = w.step("b", 0);
    assert_eq!(d.status.phase, phase::QUEUED);
    assert_eq!(d.layout.main, Template::Stable);
    assert!(d.history.is_empty());
    w.slot = true;
    let d = w.step("b", 10);
    assert_eq!(d.status.phase, phase::PROGRESSING);
    assert_eq!(d.layout.main, Template::Candidate);
}

#[test]
fn a_spec_changed_mid_rollout_supersedes_the_unfinished_revision() {
    let mut w = World::stable(RolloutStrategy::RollingUpdate, "a");
    w.step("b", 0);
    let d = w.step("c", 5);
    assert_eq!(d.status.canary_revision.as_deref(), Some("c"));
    assert_eq!(d.history[1].outcome, outcome::SUPERSEDED);
    let d = w.step("a", 6);
    assert_eq!(d.status.phase, phase::HEALTHY);
    assert_eq!(d.history[0].outcome, outcome::SUPERSEDED);
}

#[test]
fn the_first_revision_has_nothing_to_roll_back_to() {
    let mut w = World::stable(RolloutStrategy::RollingUpdate, "a");
    w.status = None;
    w.main = Some(starting("a"));
    let d = w.step("a", 0);
    assert_eq!(d.layout.main, Template::Candidate);
    let d = w.step("a", 100);
    assert_eq!(d.status.phase, phase::PROGRESSING);
    assert!(
        d.status
            .message
            .unwrap_or_default()
            .contains("no earlier revision")
    );
    w.main = Some(running("a", 2));
    let d = w.step("a", 101);
    assert_eq!(d.status.phase, phase::HEALTHY);
    assert_eq!(d.status.stable_revision.as_deref(), Some("a"));
}

#[test]
fn history_keeps_the_last_ten() {
    let mut w = World::stable(RolloutStrategy::RollingUpdate, "a");
    for i in 0..12 {
        let rev = format!("r{i}");
        w.step(&rev, i * 100);
        w.main = Some(running(&rev, 2));
        w.step(&rev, i * 100 + 5);
    }
    assert_eq!(w.history.len(), 10);
    assert_eq!(w.history[0].revision, "r11");
}

#[test]
fn canary_weights_count_against_unchanged_stable_pods() {
    assert_eq!(canary_pods(2, 10), 1);
    assert_eq!(canary_pods(2, 25), 1);
    assert_eq!(canary_pods(2, 50), 2);
    assert_eq!(canary_pods(2, 75), 6);
    assert_eq!(canary_pods(2, 90), 6, "capped at three per stable pod");
    assert_eq!(canary_pods(10, 10), 2);
    assert_eq!(canary_pods(3, 0), 0);
}

mod pod_failures {
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateWaiting, ContainerStatus, Pod, PodStatus,
    };

    use super::super::pod_failure;

    fn waiting(reason: &str, message: &str, restarts: i32) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some("shop-x".into());
        p.status = Some(PodStatus {
            container_statuses: Some(vec![ContainerStatus {
                name: "api".into(),
                restart_count: restarts,
                state: Some(ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some(reason.into()),
                        message: Some(message.into()),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        });
        p
    }

    #[test]
    fn a_missing_key_or_image_is_a_verdict() {
        let missing = waiting(
            "CreateContainerConfigError",
            "couldn't find key MONGODB_URI in Secret shop/db",
            0,
        );
        let why = pod_failure(&missing, 0).expect("a missing key never heals");
        assert!(why.contains("couldn't find key MONGODB_URI"), "{why}");
        let image = waiting("ErrImageNeverPull", "image not present", 0);
        assert!(
            pod_failure(&image, 0)
                .expect("an image that is never pulled never starts")
                .contains("ErrImageNeverPull")
        );
    }

    #[test]
    fn what_the_kubelet_retries_is_left_to_the_deadline() {
        // Seen in CI on a loaded node: the next try started the container.
        let unsynced = waiting(
            "CreateContainerConfigError",
            "failed to sync configmap cache: timed out waiting for the condition",
            0,
        );
        assert_eq!(pod_failure(&unsynced, 0), None);
        let reserved = waiting(
            "CreateContainerError",
            "failed to reserve container name \"api_shop-x\": name is reserved",
            0,
        );
        assert_eq!(pod_failure(&reserved, 0), None);
        assert_eq!(pod_failure(&waiting("ContainerCreating", "", 0), 0), None);
    }

    #[test]
    fn restarts_over_the_limit_fail_whatever_the_state() {
        let p = waiting("CrashLoopBackOff", "back-off 10s", 2);
        assert_eq!(pod_failure(&p, 2), None);
        let why = pod_failure(&p, 1).expect("over the restart limit");
        assert!(why.contains("restarted 2 times"), "{why}");
    }
}
