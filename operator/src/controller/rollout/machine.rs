//! The rollout state machine. Pure: what was recorded (status), what the caches show (the
//! Deployments, the new revision's pods), the user's annotations and the clock in; the next
//! status, which pod template each Deployment runs, and the Events to publish out.
//!
//! Every strategy walks the same phases: Progressing (steps run), Paused (a pause step or the
//! pause annotation), Promoting (the stable Deployment takes the new revision), then Healthy;
//! or RolledBack / Aborted (the stable revision serves again, held until the spec changes or
//! the retry annotation), or RollbackBlocked (an irreversible migration ran: going back needs a
//! restore). Queued waits for a slot under the operator's fleet cap.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::super::{
    analysis::Verdict as AnalysisVerdict,
    validate::{Rollout, Step},
};
use crate::crd::{
    rollout::{RevisionRecord, RolloutStatus, RolloutStrategy},
    status::reason,
};

/// Phases as status spells them.
pub mod phase {
    /// The revision the spec asks for serves; nothing in progress.
    pub const HEALTHY: &str = "Healthy";
    /// A new revision is rolling out.
    pub const PROGRESSING: &str = "Progressing";
    /// Waiting for the promote annotation, a pause step, or held by the pause annotation.
    pub const PAUSED: &str = "Paused";
    /// The stable Deployment takes the new revision (BlueGreen after the switch, Canary after
    /// its last step).
    pub const PROMOTING: &str = "Promoting";
    /// Waiting for a slot under the fleet cap; nothing changed yet.
    pub const QUEUED: &str = "Queued";
    /// The new revision failed; the stable one serves again.
    pub const ROLLED_BACK: &str = "RolledBack";
    /// Stopped by the abort annotation; the stable revision serves.
    pub const ABORTED: &str = "Aborted";
    /// The new revision failed after an irreversible migration: it keeps serving.
    pub const ROLLBACK_BLOCKED: &str = "RollbackBlocked";

    /// Phases that hold a fleet slot.
    pub fn in_flight(phase: &str) -> bool {
        matches!(phase, PROGRESSING | PAUSED | PROMOTING)
    }

    /// Phases of a rollout not finished yet, in flight or waiting for a slot.
    pub fn in_flight_or_queued(phase: &str) -> bool {
        in_flight(phase) || phase == QUEUED
    }

    /// Phases of a rollout that ended without serving its revision (or, blocked, serving a
    /// failed one): nothing moves until the spec changes or the retry annotation.
    pub fn ended_badly(phase: &str) -> bool {
        matches!(phase, ROLLED_BACK | ABORTED | ROLLBACK_BLOCKED)
    }
}

/// Outcomes of a history record.
pub mod outcome {
    /// Still rolling out.
    pub const IN_PROGRESS: &str = "InProgress";
    /// Became the stable revision.
    pub const SUCCEEDED: &str = "Succeeded";
    /// Failed and rolled back.
    pub const ROLLED_BACK: &str = "RolledBack";
    /// Aborted by the annotation.
    pub const ABORTED: &str = "Aborted";
    /// The spec changed to another revision before this one finished.
    pub const SUPERSEDED: &str = "Superseded";
    /// Failed, but an irreversible migration forbids going back.
    pub const ROLLBACK_BLOCKED: &str = "RollbackBlocked";
}

/// Records kept in status.history.
pub const HISTORY_LIMIT: usize = 10;
/// Canary pods at most per stable pod (a 75% share): higher weights are capped until promotion.
const CANARY_PER_STABLE: i32 = 3;

/// The revision the spec asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Revision id.
    pub revision: String,
    /// API image.
    pub image: String,
    /// Configuration hash.
    pub config_hash: String,
}

/// A Deployment as the machine reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// Revision of its pod template.
    pub revision: Option<String>,
    /// Every wanted pod runs that template and is available.
    pub rolled_out: bool,
    /// Pods available.
    pub available: i32,
}

/// The annotations a person set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Controls {
    /// `promote` (Some(true): value `full`).
    pub promote: Option<bool>,
    /// `abort`.
    pub abort: bool,
    /// `retry`.
    pub retry: bool,
    /// `pause`.
    pub pause: bool,
}

/// Everything one decision reads.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// Resolved spec.rollout.
    pub rollout: &'a Rollout,
    /// status.rollout as recorded.
    pub previous: Option<&'a RolloutStatus>,
    /// status.history as recorded.
    pub history: &'a [RevisionRecord],
    /// The revision the spec asks for.
    pub candidate: &'a Candidate,
    /// The main Deployment.
    pub main: Option<Seen>,
    /// The second Deployment (canary or preview).
    pub second: Option<Seen>,
    /// Why the new revision's pods are failing (restarts over the limit, an image that can
    /// never start), if they are.
    pub failing: Option<String>,
    /// Annotations.
    pub controls: Controls,
    /// A slot under the fleet cap is free (or already held).
    pub slot: bool,
    /// Why going back is impossible (an irreversible migration ran for this revision).
    pub irreversible: Option<String>,
    /// Verdict of the current step's analysis (None: not an analysis step or not measured).
    pub analysis: Option<AnalysisVerdict>,
    /// Stable pods: the canary's share is counted against them.
    pub stable_replicas: i32,
    /// Schema version of the database, for the history.
    pub schema_version: Option<i64>,
    /// Now.
    pub now: Timestamp,
}

/// Which pod template the main Deployment runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// The stable revision's.
    Stable,
    /// The new revision's.
    Candidate,
}

/// What the Services select, beyond the backend's pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selects {
    /// Every revision (RollingUpdate, Canary: share by pod count).
    All,
    /// Only the stable revision's pods (BlueGreen before the switch).
    Stable,
    /// Only the new revision's pods (BlueGreen after the switch).
    Candidate,
}

/// Where each revision runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The main Deployment's template.
    pub main: Template,
    /// Pods of the second Deployment (new revision); None: no second Deployment.
    pub second: Option<i32>,
    /// The main and internal Services' selection.
    pub selects: Selects,
}

/// An Event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Warning (else Normal).
    pub warning: bool,
    /// Reason.
    pub reason: &'static str,
    /// Text.
    pub message: String,
}

/// The decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// status.rollout.
    pub status: RolloutStatus,
    /// status.history.
    pub history: Vec<RevisionRecord>,
    /// Where the revisions run.
    pub layout: Layout,
    /// Events.
    pub notes: Vec<Note>,
    /// When to look again (a deadline, a pause's end), if something is timed.
    pub requeue: Option<Duration>,
    /// Annotations acted on, to remove.
    pub consumed: Vec<&'static str>,
}

/// Decide.
pub fn decide(input: &Inputs<'_>) -> Decision {
    let mut m = Machine::new(input);
    m.run();
    m.finish()
}

struct Machine<'a> {
    i: &'a Inputs<'a>,
    status: RolloutStatus,
    history: Vec<RevisionRecord>,
    layout: Layout,
    notes: Vec<Note>,
    requeue: Option<Duration>,
    consumed: Vec<&'static str>,
}

impl<'a> Machine<'a> {
    fn new(i: &'a Inputs<'a>) -> Self {
        let status = i.previous.cloned().unwrap_or_default();
        Self {
            i,
            status,
            history: i.history.to_vec(),
            layout: Layout {
                main: Template::Stable,
                second: None,
                selects: Selects::All,
            },
            notes: Vec::new(),
            requeue: None,
            consumed: Vec::new(),
        }
    }

    fn finish(mut self) -> Decision {
        self.history.truncate(HISTORY_LIMIT);
        // BlueGreen Services select one revision, once one is known good (an upgrade from an
        // operator without revisions keeps serving the unlabelled pods meanwhile).
        if self.i.rollout.strategy == RolloutStrategy::BlueGreen
            && self.status.stable_revision.is_some()
            && self.layout.selects == Selects::All
        {
            self.layout.selects = match self.layout.main {
                Template::Stable => Selects::Stable,
                Template::Candidate => Selects::Candidate,
            };
        }
        Decision {
            status: self.status,
            history: self.history,
            layout: self.layout,
            notes: self.notes,
            requeue: self.requeue,
            consumed: self.consumed,
        }
    }

    fn candidate(&self) -> &str {
        &self.i.candidate.revision
    }

    fn run(&mut self) {
        let stable = self.status.stable_revision.clone();
        match stable {
            None => self.first_revision(),
            Some(s) if s == self.candidate() => self.settled(),
            Some(_) => self.changing(),
        }
    }

    /// No revision was ever good: the first one goes straight to the main Deployment.
    fn first_revision(&mut self) {
        self.layout.main = Template::Candidate;
        if self.status.canary_revision.as_deref() != Some(self.candidate()) {
            self.start(false);
        }
        if self.main_runs_candidate() {
            self.succeed();
            return;
        }
        if let Some(why) = self.i.failing.clone().or_else(|| self.past_deadline()) {
            self.status.message = Some(format!(
                "{why}; there is no earlier revision to roll back to: fix the spec"
            ));
        }
    }

    /// The spec asks for the stable revision.
    fn settled(&mut self) {
        self.layout.main = Template::Stable;
        let unfinished = self
            .status
            .canary_revision
            .clone()
            .filter(|c| c != self.candidate());
        let open = phase::in_flight_or_queued(&self.status.phase);
        if let Some(other) = unfinished.filter(|_| open) {
            self.close(
                &other,
                outcome::SUPERSEDED,
                "the spec went back to the stable revision",
            );
        }
        self.status.phase = phase::HEALTHY.to_owned();
        self.status.canary_revision = None;
        self.status.step = None;
        self.status.step_started = None;
        self.status.promoted_at = None;
        self.status.analysis.clear();
        self.status.message = None;
        self.consume_all();
    }

    /// The spec asks for a revision that is not the stable one.
    fn changing(&mut self) {
        let same = self.status.canary_revision.as_deref() == Some(self.candidate());
        if !same {
            let open = phase::in_flight(&self.status.phase);
            if let Some(other) = self.status.canary_revision.clone().filter(|_| open) {
                self.close(&other, outcome::SUPERSEDED, "replaced by a newer revision");
            }
            self.admit();
            return;
        }
        match self.status.phase.as_str() {
            phase::ROLLED_BACK | phase::ABORTED => self.held_back(),
            phase::ROLLBACK_BLOCKED => {
                self.layout.main = Template::Candidate;
            }
            phase::QUEUED => self.admit(),
            _ => self.progress(),
        }
    }

    /// Start the rollout if the fleet cap lets it.
    fn admit(&mut self) {
        if !self.i.slot {
            self.status.phase = phase::QUEUED.to_owned();
            self.status.canary_revision = Some(self.candidate().to_owned());
            self.status.message =
                Some("waiting for a rollout slot: the operator's fleet cap is reached".to_owned());
            self.requeue_in(Duration::from_secs(5));
            return;
        }
        self.start(true);
        self.progress();
    }

    fn held_back(&mut self) {
        if self.i.controls.retry {
            self.consumed.push(crate::crd::RETRY_ANNOTATION);
            self.admit();
            return;
        }
        self.layout.main = Template::Stable;
    }

    fn start(&mut self, note: bool) {
        let c = self.i.candidate;
        self.status.phase = phase::PROGRESSING.to_owned();
        self.status.canary_revision = Some(c.revision.clone());
        self.status.step = Some(0);
        self.status.step_started = Some(self.i.now.to_string());
        self.status.promoted_at = None;
        self.status.analysis.clear();
        self.status.message = Some(format!("rolling out {} ({})", c.revision, c.image));
        self.history.insert(
            0,
            RevisionRecord {
                revision: c.revision.clone(),
                image: c.image.clone(),
                config_hash: c.config_hash.clone(),
                schema_version: self.i.schema_version,
                strategy: format!("{:?}", self.i.rollout.strategy),
                started: self.i.now.to_string(),
                finished: None,
                outcome: outcome::IN_PROGRESS.to_owned(),
                message: None,
            },
        );
        if note {
            self.note(
                false,
                reason::ROLLOUT_STARTED,
                format!(
                    "rolling out revision {} ({}) with {:?}",
                    c.revision, c.image, self.i.rollout.strategy
                ),
            );
        }
    }

    /// One reconcile of a rollout in flight.
    fn progress(&mut self) {
        if self.i.controls.abort {
            self.consumed.push(crate::crd::ABORT_ANNOTATION);
            self.abort();
            return;
        }
        if let Some(why) = self.i.failing.clone() {
            self.fail(&why);
            return;
        }
        if self.i.controls.pause && self.status.phase != phase::PROMOTING {
            self.hold_paused();
            return;
        }
        self.resume_if_paused();
        match self.i.rollout.strategy {
            RolloutStrategy::RollingUpdate => self.rolling(),
            RolloutStrategy::BlueGreen => self.blue_green(),
            RolloutStrategy::Canary => self.canary(),
        }
    }

    /// The pause annotation: keep everything where it is; the step's clock stops.
    fn hold_paused(&mut self) {
        self.keep_layout();
        if self.status.paused_at.is_none() {
            self.status.paused_at = Some(self.i.now.to_string());
        }
        self.status.phase = phase::PAUSED.to_owned();
        self.status.message = Some(format!(
            "held by the {} annotation",
            crate::crd::PAUSE_ANNOTATION
        ));
    }

    /// Back from the pause annotation: the paused time does not count against the deadline.
    fn resume_if_paused(&mut self) {
        let Some(paused_at) = self.status.paused_at.take() else {
            return;
        };
        let held = parse(&paused_at).map_or(0, |t| seconds_between(t, self.i.now));
        if let Some(started) = self.status.step_started.as_deref().and_then(parse) {
            let shifted = started
                .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(held))
                .unwrap_or(started);
            self.status.step_started = Some(shifted.to_string());
        }
        self.status.phase = phase::PROGRESSING.to_owned();
    }

    /// The layout of the current step, unchanged (paused).
    fn keep_layout(&mut self) {
        match self.i.rollout.strategy {
            RolloutStrategy::RollingUpdate => self.layout.main = Template::Candidate,
            RolloutStrategy::BlueGreen => self.blue_green_layout(self.step()),
            RolloutStrategy::Canary => self.canary_layout(),
        }
    }

    fn rolling(&mut self) {
        self.layout.main = Template::Candidate;
        if self.main_runs_candidate() {
            self.succeed();
            return;
        }
        self.check_deadline();
    }

    /// BlueGreen steps: 0 preview up, 1 analysis, 2 switch, 3 scale-down delay, 4 fold.
    fn blue_green(&mut self) {
        let step = self.step();
        self.blue_green_layout(step);
        match step {
            0 => {
                if self.second_ready(self.i.stable_replicas) {
                    let next = if self.i.rollout.queries.is_empty() {
                        2
                    } else {
                        1
                    };
                    self.next_step(next, "the preview is ready");
                    self.blue_green();
                } else {
                    self.check_deadline();
                }
            }
            1 => self.analysis_step(|m| {
                m.next_step(2, "the preview passed its analysis");
                m.blue_green();
            }),
            2 => self.switch_or_wait(),
            3 => {
                let promoted = self.status.promoted_at.as_deref().and_then(parse);
                let waited = promoted.map_or(0, |t| seconds_between(t, self.i.now));
                let delay = self.i.rollout.scale_down_delay_seconds;
                if waited >= delay {
                    self.next_step(4, "the scale-down delay passed");
                    self.blue_green();
                } else {
                    self.requeue_in(secs(delay - waited));
                }
            }
            _ => {
                if self.main_runs_candidate() {
                    self.succeed();
                } else {
                    self.check_deadline();
                }
            }
        }
    }

    fn blue_green_layout(&mut self, step: i32) {
        self.layout.second = Some(self.i.stable_replicas);
        (self.layout.main, self.layout.selects) = match step {
            0..=2 => (Template::Stable, Selects::Stable),
            3 => (Template::Stable, Selects::Candidate),
            _ => (Template::Candidate, Selects::Candidate),
        };
        if step >= 3 {
            self.status.phase = phase::PROMOTING.to_owned();
        }
    }

    fn switch_or_wait(&mut self) {
        let promote = self.i.controls.promote.is_some();
        if !(self.i.rollout.auto_promotion || promote) {
            self.status.phase = phase::PAUSED.to_owned();
            self.status.message = Some(format!(
                "the preview of {} is ready: promote with the {} annotation",
                self.candidate(),
                crate::crd::PROMOTE_ANNOTATION
            ));
            return;
        }
        if promote {
            self.consumed.push(crate::crd::PROMOTE_ANNOTATION);
        }
        self.status.promoted_at = Some(self.i.now.to_string());
        self.note(
            false,
            reason::PROMOTED,
            format!("the Services now select revision {}", self.candidate()),
        );
        self.next_step(3, "switched the Services to the new revision");
        self.blue_green();
    }

    fn canary(&mut self) {
        let steps = &self.i.rollout.steps;
        let index = usize::try_from(self.step()).unwrap_or(0);
        self.canary_layout();
        let Some(step) = steps.get(index) else {
            self.promote_canary();
            return;
        };
        match step {
            Step::Weight(w) if *w >= 100 => self.skip_to_promotion(),
            Step::Weight(_) => {
                let wanted = self.layout.second.unwrap_or(1);
                if self.second_ready(wanted) {
                    self.next_step(self.step() + 1, &format!("step {index} done"));
                    self.canary();
                } else {
                    self.check_deadline();
                }
            }
            Step::Pause(duration) => self.pause_step(*duration),
            Step::Analysis(_) => self.analysis_step(|m| {
                m.next_step(m.step() + 1, "the canary passed its analysis");
                m.canary();
            }),
        }
    }

    /// The canary Deployment's size for the last weight set so far; the main Deployment keeps
    /// the stable revision until promotion.
    fn canary_layout(&mut self) {
        let index = usize::try_from(self.step()).unwrap_or(0);
        let steps = &self.i.rollout.steps;
        let weight = steps[..index.min(steps.len())]
            .iter()
            .chain(steps.get(index))
            .filter_map(|s| match s {
                Step::Weight(w) => Some(*w),
                _ => None,
            })
            .next_back()
            .unwrap_or(0);
        self.layout.main = Template::Stable;
        self.layout.second = Some(canary_pods(self.i.stable_replicas, weight));
        if index >= steps.len() {
            self.layout.main = Template::Candidate;
            self.status.phase = phase::PROMOTING.to_owned();
        }
    }

    fn pause_step(&mut self, duration: Option<i64>) {
        let promote = self.i.controls.promote;
        if let Some(full) = promote {
            self.consumed.push(crate::crd::PROMOTE_ANNOTATION);
            if full {
                self.skip_to_promotion();
            } else {
                self.next_step(self.step() + 1, "promoted past the pause");
                self.canary();
            }
            return;
        }
        let Some(duration) = duration else {
            self.status.phase = phase::PAUSED.to_owned();
            self.status.message = Some(format!(
                "paused at step {}: promote with the {} annotation",
                self.step(),
                crate::crd::PROMOTE_ANNOTATION
            ));
            return;
        };
        let waited = self.step_age();
        if waited >= duration {
            self.next_step(self.step() + 1, &format!("paused {duration} s"));
            self.canary();
        } else {
            self.requeue_in(secs(duration - waited));
        }
    }

    fn skip_to_promotion(&mut self) {
        let last = i32::try_from(self.i.rollout.steps.len()).unwrap_or(i32::MAX);
        self.next_step(last, "promoted to every pod");
        self.canary();
    }

    fn promote_canary(&mut self) {
        if self.status.promoted_at.is_none() {
            self.status.promoted_at = Some(self.i.now.to_string());
            self.note(
                false,
                reason::PROMOTED,
                format!(
                    "every canary step passed: the stable Deployment takes revision {}",
                    self.candidate()
                ),
            );
        }
        if self.main_runs_candidate() {
            self.succeed();
        } else {
            self.check_deadline();
        }
    }

    fn analysis_step(&mut self, passed: impl FnOnce(&mut Self)) {
        match self.i.analysis.clone() {
            Some(AnalysisVerdict::Passed) => passed(self),
            Some(AnalysisVerdict::Failed { reason }) => {
                self.fail(&format!("analysis failed: {reason}"))
            }
            Some(AnalysisVerdict::Running { next_in }) => {
                self.status.message = Some(format!("analysing revision {}", self.candidate()));
                self.requeue_in(next_in);
            }
            None => self.requeue_in(Duration::from_secs(1)),
        }
    }

    fn next_step(&mut self, step: i32, why: &str) {
        self.status.step = Some(step);
        self.status.step_started = Some(self.i.now.to_string());
        self.status.analysis.clear();
        if self.status.phase != phase::PROMOTING {
            self.status.phase = phase::PROGRESSING.to_owned();
        }
        self.status.message = Some(format!("{why}; at step {step}"));
        self.note(
            false,
            reason::ROLLOUT_STEP,
            format!("revision {}: {why}; now at step {step}", self.candidate()),
        );
    }

    fn succeed(&mut self) {
        let revision = self.candidate().to_owned();
        self.close(&revision, outcome::SUCCEEDED, "serving on every pod");
        self.note(
            false,
            reason::ROLLOUT_SUCCEEDED,
            format!("revision {revision} ({}) serves", self.i.candidate.image),
        );
        self.status.stable_revision = Some(revision);
        self.status.phase = phase::HEALTHY.to_owned();
        self.status.canary_revision = None;
        self.status.step = None;
        self.status.step_started = None;
        self.status.promoted_at = None;
        self.status.analysis.clear();
        self.status.message = None;
        self.layout = Layout {
            main: Template::Candidate,
            second: None,
            selects: Selects::All,
        };
        self.consume_all();
    }

    fn abort(&mut self) {
        let revision = self.candidate().to_owned();
        let message = format!(
            "aborted by the {} annotation: revision {} serves again",
            crate::crd::ABORT_ANNOTATION,
            self.stable()
        );
        self.go_back(phase::ABORTED, reason::ROLLOUT_ABORTED, &message);
        self.close(&revision, outcome::ABORTED, &message);
    }

    fn fail(&mut self, why: &str) {
        let revision = self.candidate().to_owned();
        if let Some(blocked) = self.i.irreversible.clone() {
            let message = format!("{why}; not rolled back: {blocked}");
            self.status.phase = phase::ROLLBACK_BLOCKED.to_owned();
            self.status.message = Some(message.clone());
            self.layout.main = Template::Candidate;
            self.layout.second = None;
            self.note(true, reason::ROLLBACK_BLOCKED, message.clone());
            self.close(&revision, outcome::ROLLBACK_BLOCKED, &message);
            return;
        }
        let message = format!(
            "revision {revision} failed: {why}; revision {} serves again",
            self.stable()
        );
        self.go_back(phase::ROLLED_BACK, reason::ROLLED_BACK, &message);
        self.close(&revision, outcome::ROLLED_BACK, &message);
    }

    fn go_back(&mut self, phase: &str, why: &'static str, message: &str) {
        self.status.phase = phase.to_owned();
        self.status.message = Some(message.to_owned());
        self.status.step_started = None;
        self.status.paused_at = None;
        self.layout = Layout {
            main: Template::Stable,
            second: None,
            selects: Selects::All,
        };
        self.note(true, why, message.to_owned());
    }

    fn stable(&self) -> String {
        self.status.stable_revision.clone().unwrap_or_default()
    }

    fn check_deadline(&mut self) {
        if let Some(why) = self.past_deadline() {
            if self.status.stable_revision.is_some() {
                self.fail(&why);
            }
            return;
        }
        let left = self.i.rollout.progress_deadline_seconds - self.step_age();
        self.requeue_in(secs(left.max(1)));
    }

    fn past_deadline(&self) -> Option<String> {
        let deadline = self.i.rollout.progress_deadline_seconds;
        (self.step_age() >= deadline)
            .then(|| format!("not ready within the progress deadline ({deadline} s)"))
    }

    /// Close the history record of `revision`.
    fn close(&mut self, revision: &str, outcome: &str, message: &str) {
        let now = self.i.now.to_string();
        if let Some(record) = self
            .history
            .iter_mut()
            .find(|r| r.revision == revision && r.finished.is_none())
        {
            record.finished = Some(now);
            record.outcome = outcome.to_owned();
            record.message = Some(message.to_owned());
            if record.schema_version.is_none() {
                record.schema_version = self.i.schema_version;
            }
        }
    }

    /// Annotations that mean nothing once settled are dropped, so they cannot act on the next
    /// rollout by surprise.
    fn consume_all(&mut self) {
        let c = &self.i.controls;
        if c.promote.is_some() {
            self.consumed.push(crate::crd::PROMOTE_ANNOTATION);
        }
        if c.abort {
            self.consumed.push(crate::crd::ABORT_ANNOTATION);
        }
        if c.retry {
            self.consumed.push(crate::crd::RETRY_ANNOTATION);
        }
    }

    fn main_runs_candidate(&self) -> bool {
        self.i
            .main
            .as_ref()
            .is_some_and(|m| m.rolled_out && m.revision.as_deref() == Some(self.candidate()))
    }

    fn second_ready(&self, wanted: i32) -> bool {
        self.i.second.as_ref().is_some_and(|s| {
            s.rolled_out && s.available >= wanted && s.revision.as_deref() == Some(self.candidate())
        })
    }

    fn step(&self) -> i32 {
        self.status.step.unwrap_or(0)
    }

    fn step_age(&self) -> i64 {
        self.status
            .step_started
            .as_deref()
            .and_then(parse)
            .map_or(0, |t| seconds_between(t, self.i.now))
    }

    fn requeue_in(&mut self, after: Duration) {
        self.requeue = Some(self.requeue.map_or(after, |r| r.min(after)));
    }

    fn note(&mut self, warning: bool, reason: &'static str, message: String) {
        self.notes.push(Note {
            warning,
            reason,
            message,
        });
    }
}

/// Canary pods giving `weight` percent of the pods beside `stable` unchanged stable pods:
/// c = ceil(stable * w / (100 - w)), at least 1, at most `CANARY_PER_STABLE` per stable pod.
pub fn canary_pods(stable: i32, weight: i32) -> i32 {
    if weight <= 0 {
        return 0;
    }
    let stable = stable.max(1);
    let cap = stable.saturating_mul(CANARY_PER_STABLE);
    if weight >= 100 {
        return cap;
    }
    let c = (stable * weight + (100 - weight) - 1) / (100 - weight);
    c.clamp(1, cap)
}

fn parse(text: &str) -> Option<Timestamp> {
    text.parse().ok()
}

fn seconds_between(from: Timestamp, to: Timestamp) -> i64 {
    to.as_second() - from.as_second()
}

fn secs(n: i64) -> Duration {
    Duration::from_secs(u64::try_from(n).unwrap_or(0))
}
