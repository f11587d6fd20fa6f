//! Per-key async locks: requests that write one hot document (a best-selling product's stock)
//! take turns here, one at a time per replica, instead of racing into the database where all
//! but one transaction would lose a write conflict and start over.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError, Weak},
};

use mongodb::bson::oid::ObjectId;
use tokio::sync::OwnedMutexGuard;

/// Lanes keyed by document id; a lane lives while someone holds or waits for it.
#[derive(Debug, Default)]
pub struct Lanes {
    lanes: Mutex<HashMap<ObjectId, Weak<tokio::sync::Mutex<()>>>>,
}

/// Lanes kept before the idle ones are dropped.
const PRUNE_AT: usize = 1024;

impl Lanes {
    /// Wait for the turn of `key`; the turn ends when the guard drops.
    pub async fn enter(&self, key: ObjectId) -> OwnedMutexGuard<()> {
        let lane = {
            let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
            if lanes.len() >= PRUNE_AT {
                lanes.retain(|_, lane| lane.strong_count() > 0);
            }
            match lanes.get(&key).and_then(Weak::upgrade) {
                Some(lane) => lane,
                None => {
                    let lane = Arc::new(tokio::sync::Mutex::new(()));
                    lanes.insert(key, Arc::downgrade(&lane));
                    lane
                }
            }
        };
        lane.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_key_takes_turns_and_other_keys_do_not_wait() {
        let lanes = Arc::new(Lanes::default());
        let (a, b) = (ObjectId::new(), ObjectId::new());
        let held = lanes.enter(a).await;
        let waiting = tokio::spawn({
            let lanes = lanes.clone();
            async move { drop(lanes.enter(a).await) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "a second writer of `a` waits");
        drop(lanes.enter(b).await);
        drop(held);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("turn passed on")
            .expect("task");
    }

    #[tokio::test]
    async fn idle_lanes_are_dropped() {
        let lanes = Lanes::default();
        for _ in 0..=PRUNE_AT {
            drop(lanes.enter(ObjectId::new()).await);
        }
        assert!(lanes.lanes.lock().expect("lock").len() <= 1);
    }
}
