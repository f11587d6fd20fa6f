//! The fleet cap: at most N MerchantBackends mid-rollout or mid-migration at once (operator
//! flag `--max-concurrent-rollouts`), so one bad image pushed to every stack cannot take them
//! all down together. A slot is taken when a backend starts a change and given back when the
//! change ends; backends another operator process started count through their status.

use std::{collections::HashSet, sync::Mutex};

use kube::{ResourceExt, runtime::reflector::Store};

use super::machine::phase;
use crate::crd::MerchantBackend;

/// Release phases during which the database is being changed.
const MIGRATING: &[&str] = &["Planning", "Migrating"];

/// Slots in use.
#[derive(Debug, Default)]
pub struct Fleet {
    /// Most backends changing at once; None: no cap.
    cap: Option<usize>,
    /// `namespace/name` of the backends this process let start.
    holding: Mutex<HashSet<String>>,
}

impl Fleet {
    /// A fleet with this cap (None or 0: no cap).
    pub fn new(cap: Option<usize>) -> Self {
        Self {
            cap: cap.filter(|c| *c > 0),
            holding: Mutex::default(),
        }
    }

    /// Take a slot for `key` if it holds none and one is free; true when it holds one now.
    pub fn take(&self, backends: &Store<MerchantBackend>, key: &str) -> bool {
        let Some(cap) = self.cap else { return true };
        let mut holding = self
            .holding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if holding.contains(key) {
            return true;
        }
        let mut busy: HashSet<String> = backends
            .state()
            .iter()
            .filter(|mb| changing(mb))
            .map(|mb| key_of(mb))
            .collect();
        busy.extend(holding.iter().cloned());
        busy.remove(key);
        if busy.len() >= cap {
            return false;
        }
        holding.insert(key.to_owned());
        true
    }

    /// Give `key`'s slot back.
    pub fn give_back(&self, key: &str) {
        self.holding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }
}

/// The status shows a rollout or a migration in progress.
fn changing(mb: &MerchantBackend) -> bool {
    let Some(s) = &mb.status else { return false };
    let rolling = s
        .rollout
        .as_ref()
        .is_some_and(|r| phase::in_flight(&r.phase));
    let migrating = s
        .release
        .as_ref()
        .is_some_and(|r| MIGRATING.contains(&r.phase.as_str()));
    rolling || migrating
}

/// `namespace/name`.
pub fn key_of(mb: &MerchantBackend) -> String {
    format!("{}/{}", mb.namespace().unwrap_or_default(), mb.name_any())
}
