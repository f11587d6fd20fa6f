//! Keeping the rollups true: refolding one order, the catch-up over orders changed since the
//! last pass, the full rebuild and the background task that runs them.

use std::{collections::HashMap, time::Duration};

use futures::{FutureExt, TryStreamExt};
use mongodb::{
    ClientSession, Collection,
    bson::{Bson, DateTime, Document, doc, oid::ObjectId},
};

use super::{
    META, ROLLUPS, STATES,
    fold::{self, Key, Row, Snapshot},
};
use crate::store::{Store, error::transactions_unsupported, is_duplicate_key};

/// The one meta document.
const META_ID: &str = "orders";
/// How far back the background catch-up re-reads: a change committed with an `updatedAt` (or
/// an `_id`) older than the position already read is still found within this window.
const LAG_MS: i64 = 120_000;
/// Orders read per catch-up query.
const BATCH: i64 = 2_000;
/// Catch-up queries per pass (a larger backlog continues on the next pass).
const PASSES: usize = 10;
/// A build whose heartbeat is older than this is taken over by another replica.
const STALE_BUILD_MS: i64 = 600_000;
/// Rows and states written per `insert_many` of a rebuild.
const INSERT_BATCH: usize = 1_000;
/// Attempts of one refold that lost a race on the order's state.
const ATTEMPTS: usize = 5;

/// Another refold of the same order committed first: retry from its result.
#[derive(Debug)]
struct Conflict;

fn conflict() -> mongodb::error::Error {
    mongodb::error::Error::custom(Conflict)
}

fn is_conflict(e: &mongodb::error::Error) -> bool {
    e.get_custom::<Conflict>().is_some()
}

/// Which catch-up: before a report (exact position, by `updatedAt`) or the background one
/// (a lag window back, by `updatedAt` and by `_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Report,
    Background,
}

/// How long a build waits after claiming before it clears the rollups (refolds of other
/// replicas that started before the claim commit well within it).
const BUILD_SETTLE: Duration = Duration::from_secs(2);
/// Orders a report refolds itself before reading the rollups; more go to the background pass.
const REPORT_REFOLDS: usize = 64;
/// How long a report waits for another catch-up before it aggregates the orders instead.
const REPORT_WAIT: Duration = Duration::from_millis(250);

/// How a catch-up ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaughtUp {
    /// The rollups count every change found (this many orders refolded).
    Current(usize),
    /// Not current: not ready, too many changes for a report, or busy.
    Behind,
}

/// What a rebuild counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    /// Orders read.
    pub orders: u64,
    /// Rollup rows written.
    pub rows: u64,
}

/// What `merchant-api rollups status` shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollupStatus {
    /// `missing`, `building` or `ready`.
    pub state: String,
    /// When the last build finished.
    pub built_at: Option<String>,
    /// Orders the last build read.
    pub orders: i64,
    /// Rows the last build wrote.
    pub rows: i64,
}

/// The meta document's view of the rollups.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Never built.
    Missing,
    /// A replica is building them (heartbeat in ms).
    Building { heartbeat: i64 },
    /// Readable; the catch-up position (`updatedAt` and `_id` time, ms).
    Ready { since: i64, since_id: i64 },
}

fn millis(d: &Document, key: &str) -> i64 {
    d.get_datetime(key).map_or(0, |t| t.timestamp_millis())
}

/// The smallest ObjectId of a second (a lower bound for `_id`s made at or after `ms`).
fn object_id_at(ms: i64) -> ObjectId {
    let secs = (ms.max(0) / 1000) as u32;
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&secs.to_be_bytes());
    ObjectId::from_bytes(bytes)
}

impl Store {
    fn rollup_rows(&self) -> Collection<Document> {
        self.db.collection(ROLLUPS)
    }

    fn rollup_states(&self) -> Collection<Document> {
        self.db.collection(STATES)
    }

    fn rollup_meta(&self) -> Collection<Document> {
        self.db.collection(META)
    }

    async fn rollup_phase(&self) -> mongodb::error::Result<Phase> {
        let meta = self.rollup_meta().find_one(doc! { "_id": META_ID }).await?;
        Ok(match meta {
            None => Phase::Missing,
            Some(m) if m.get_str("state") == Ok("ready") => Phase::Ready {
                since: millis(&m, "since"),
                since_id: millis(&m, "sinceId"),
            },
            Some(m) => Phase::Building {
                heartbeat: millis(&m, "heartbeat"),
            },
        })
    }

    /// The build state, for operators.
    pub async fn rollup_status(&self) -> mongodb::error::Result<RollupStatus> {
        let meta = self
            .rollup_meta()
            .find_one(doc! { "_id": META_ID })
            .await?
            .unwrap_or_default();
        Ok(RollupStatus {
            state: meta.get_str("state").unwrap_or("missing").to_string(),
            built_at: meta
                .get_datetime("builtAt")
                .ok()
                .and_then(|t| t.try_to_rfc3339_string().ok()),
            orders: meta.get_i64("orders").unwrap_or(0),
            rows: meta.get_i64("rows").unwrap_or(0),
        })
    }

    /// Forget the rollups (rows, states, readiness): reports aggregate the orders again until
    /// the next build (benchmarks compare the two).
    pub async fn drop_rollups(&self) -> mongodb::error::Result<()> {
        self.rollup_meta().delete_many(doc! {}).await?;
        self.rollup_rows().delete_many(doc! {}).await?;
        self.rollup_states().delete_many(doc! {}).await?;
        Ok(())
    }

    /// Whether reports may read the rollups (else they aggregate the orders).
    pub async fn rollups_ready(&self) -> mongodb::error::Result<bool> {
        Ok(matches!(self.rollup_phase().await?, Phase::Ready { .. }))
    }

    /// Refold one order this API just changed, so the next report counts it as it is now. A
    /// no-op while the rollups are not ready (the build reads the order itself).
    pub async fn refold_order(&self, id: ObjectId) -> mongodb::error::Result<()> {
        if !self.rollups_ready().await? {
            return Ok(());
        }
        // A build or a long catch-up holds the rollups: they will count the change.
        let Ok(_one_at_a_time) = tokio::time::timeout(REPORT_WAIT, self.rollup_lock.lock()).await
        else {
            return Ok(());
        };
        self.refold(id).await.map(drop)
    }

    /// Before a report: refold every order whose `updatedAt` moved since the catch-up position
    /// (exactly: no lag window) and say whether the rollups are now current. They are not (the
    /// report then aggregates the orders) when they are not ready, when more than
    /// [`REPORT_REFOLDS`] orders changed (a bulk change is the background pass's work: a report
    /// never waits for it), or when another catch-up holds them for longer than
    /// [`REPORT_WAIT`]. Inserts that back-date `updatedAt` as well (imports) are left to the
    /// background pass, which also reads by `_id` (an `_id` range is a full scan on the test
    /// server).
    pub async fn sync_rollups(&self) -> mongodb::error::Result<bool> {
        Ok(matches!(
            self.catch_up(Pass::Report).await?,
            CaughtUp::Current(_)
        ))
    }

    /// The background pass, as [`maintain_forever`] runs it: a lag window back, by
    /// `updatedAt` and by `_id`; a backlog of a whole batch or more is rebuilt instead.
    pub async fn sweep_rollups(&self) -> mongodb::error::Result<usize> {
        Ok(match self.catch_up(Pass::Background).await? {
            CaughtUp::Current(n) => n,
            CaughtUp::Behind => 0,
        })
    }

    async fn catch_up(&self, pass: Pass) -> mongodb::error::Result<CaughtUp> {
        let lag_ms = match pass {
            Pass::Report => 0,
            Pass::Background => LAG_MS,
        };
        let mut refolded = 0;
        for _ in 0..PASSES {
            let Phase::Ready { since, since_id } = self.rollup_phase().await? else {
                return Ok(CaughtUp::Behind);
            };
            let guard = match pass {
                Pass::Report => {
                    match tokio::time::timeout(REPORT_WAIT, self.rollup_lock.lock()).await {
                        Ok(guard) => guard,
                        Err(_) => return Ok(CaughtUp::Behind),
                    }
                }
                Pass::Background => self.rollup_lock.lock().await,
            };
            let by_id = (pass == Pass::Background).then_some(since_id - lag_ms);
            let (changed, read, full) = self.changed_orders(since - lag_ms, by_id).await?;
            match pass {
                Pass::Report if full || changed.len() > REPORT_REFOLDS => {
                    return Ok(CaughtUp::Behind);
                }
                Pass::Background if full => {
                    drop(guard);
                    tracing::info!("sales rollups: a whole batch of orders changed; rebuilding");
                    self.rebuild_rollups().await?;
                    return Ok(CaughtUp::Current(refolded));
                }
                _ => {}
            }
            for id in &changed {
                self.refold(*id).await?;
            }
            refolded += changed.len();
            let now = DateTime::now().timestamp_millis();
            let position = (read.0.min(now).max(since), read.1.min(now).max(since_id));
            // No write when nothing moved (every report runs a catch-up first).
            if position != (since, since_id) {
                self.rollup_meta()
                    .update_one(
                        doc! { "_id": META_ID, "state": "ready" },
                        doc! { "$max": {
                            "since": DateTime::from_millis(position.0),
                            "sinceId": DateTime::from_millis(position.1),
                        } },
                    )
                    .await?;
            }
            if !full {
                break;
            }
        }
        Ok(CaughtUp::Current(refolded))
    }

    /// The orders changed (by `updatedAt`) or inserted (by `_id` time, when `since_id` is
    /// given) since the given positions whose counted fields differ from their stored
    /// snapshot; the furthest positions read (0 for a query not run); whether a query was cut
    /// at [`BATCH`].
    async fn changed_orders(
        &self,
        since: i64,
        since_id: Option<i64>,
    ) -> mongodb::error::Result<(Vec<ObjectId>, (i64, i64), bool)> {
        let orders = self.db.collection::<Document>("orders");
        let mut projection = fold::projection();
        projection.insert("updatedAt", 1);
        let mut seen: HashMap<ObjectId, Document> = HashMap::new();
        let mut position = (0, 0);
        let mut full = false;
        let mut queries = vec![(
            doc! { "updatedAt": { "$gte": DateTime::from_millis(since) } },
            doc! { "updatedAt": 1 },
        )];
        if let Some(since_id) = since_id {
            queries.push((
                doc! { "_id": { "$gte": object_id_at(since_id) } },
                doc! { "_id": 1 },
            ));
        }
        for (i, (filter, sort)) in queries.into_iter().enumerate() {
            let batch: Vec<Document> = orders
                .find(filter)
                .projection(projection.clone())
                .sort(sort)
                .limit(BATCH)
                .await?
                .try_collect()
                .await?;
            full |= batch.len() as i64 == BATCH;
            for o in batch {
                let Ok(id) = o.get_object_id("_id") else {
                    continue;
                };
                if i == 0 {
                    position.0 = position.0.max(millis(&o, "updatedAt"));
                } else {
                    position.1 = position.1.max(id.timestamp().timestamp_millis());
                }
                seen.insert(id, o);
            }
        }
        let ids: Vec<ObjectId> = seen.keys().copied().collect();
        let stored: HashMap<ObjectId, Snapshot> = self
            .rollup_states()
            .find(doc! { "_id": { "$in": ids } })
            .await?
            .try_collect::<Vec<Document>>()
            .await?
            .into_iter()
            .filter_map(|s| {
                let snap = s.get_document("snap").ok()?.clone();
                Some((s.get_object_id("_id").ok()?, Snapshot::stored(snap)))
            })
            .collect();
        let mut changed: Vec<ObjectId> = seen
            .iter()
            .filter(|(id, o)| Snapshot::of(o).as_ref() != stored.get(id))
            .map(|(id, _)| *id)
            .collect();
        changed.sort();
        Ok((changed, position, full))
    }

    /// Refold one order in a transaction (retried when a concurrent refold of the same order
    /// won); without transaction support, the state's compare-and-set alone picks the winner.
    async fn refold(&self, id: ObjectId) -> mongodb::error::Result<bool> {
        for _ in 0..ATTEMPTS {
            let mut session = self.client.start_session().await?;
            let outcome = session
                .start_transaction()
                .and_run((self, id), |session, (store, id)| {
                    let id = *id;
                    async move { store.refold_in(session, id).await }.boxed()
                })
                .await;
            match outcome {
                Err(e) if transactions_unsupported(&e) => {
                    return self.refold_in(&mut session, id).await;
                }
                Err(e) if is_conflict(&e) => continue,
                other => return other,
            }
        }
        Err(conflict())
    }

    /// Fold the order out as its state last counted it and in as it is now (nothing while a
    /// build holds the rollups: it reads the order itself).
    async fn refold_in(
        &self,
        session: &mut ClientSession,
        id: ObjectId,
    ) -> mongodb::error::Result<bool> {
        let ready = self
            .rollup_meta()
            .find_one(doc! { "_id": META_ID, "state": "ready" })
            .session(&mut *session)
            .await?;
        if ready.is_none() {
            return Ok(false);
        }
        let order = self
            .db
            .collection::<Document>("orders")
            .find_one(doc! { "_id": id })
            .projection(fold::projection())
            .session(&mut *session)
            .await?;
        let state = self
            .rollup_states()
            .find_one(doc! { "_id": id })
            .session(&mut *session)
            .await?;
        let after = order.as_ref().and_then(Snapshot::of);
        let before = state
            .as_ref()
            .and_then(|s| s.get_document("snap").ok().cloned())
            .map(Snapshot::stored);
        if before == after {
            return Ok(false);
        }
        let version = state.as_ref().and_then(|s| s.get_i64("v").ok());
        // The state first: its compare-and-set decides which of two racing refolds applies.
        self.swap_state(session, id, version, after.as_ref())
            .await?;
        let delta = fold::delta(before.as_ref(), after.as_ref());
        self.apply_delta(session, &delta).await?;
        Ok(true)
    }

    async fn swap_state(
        &self,
        session: &mut ClientSession,
        id: ObjectId,
        version: Option<i64>,
        after: Option<&Snapshot>,
    ) -> mongodb::error::Result<()> {
        let states = self.rollup_states();
        let won =
            match (version, after) {
                (Some(v), Some(a)) => states
                    .update_one(
                        doc! { "_id": id, "v": v },
                        doc! { "$set": { "snap": a.document().clone() }, "$inc": { "v": 1_i64 } },
                    )
                    .session(&mut *session)
                    .await?
                    .matched_count
                    == 1,
                (Some(v), None) => {
                    states
                        .delete_one(doc! { "_id": id, "v": v })
                        .session(&mut *session)
                        .await?
                        .deleted_count
                        == 1
                }
                (None, Some(a)) => {
                    let insert = states
                        .insert_one(doc! { "_id": id, "v": 1_i64, "snap": a.document().clone() })
                        .session(&mut *session)
                        .await;
                    match insert {
                        Ok(_) => true,
                        Err(e) if is_duplicate_key(&e) => false,
                        Err(e) => return Err(e),
                    }
                }
                (None, None) => true,
            };
        if won { Ok(()) } else { Err(conflict()) }
    }

    async fn apply_delta(
        &self,
        session: &mut ClientSession,
        delta: &std::collections::BTreeMap<Key, Row>,
    ) -> mongodb::error::Result<()> {
        let rows = self.rollup_rows();
        let mut emptied = Vec::new();
        for (key, row) in delta {
            let id = key.document();
            let inc: Document = row
                .figures
                .iter()
                .filter(|(_, v)| **v != 0.0)
                .map(|(f, v)| (f.to_string(), Bson::Double(*v)))
                .collect();
            let mut update = doc! { "$inc": inc, "$setOnInsert": id.clone() };
            if let Some((name, image)) = &row.label {
                update.insert(
                    "$set",
                    doc! { "name": name.clone(), "image": image.clone() },
                );
            }
            rows.update_one(doc! { "_id": id.clone() }, update)
                .upsert(true)
                .session(&mut *session)
                .await?;
            if row.figures.get("n").copied().unwrap_or(0.0) < 0.0 {
                emptied.push(id);
            }
        }
        if !emptied.is_empty() {
            // A row no order counts any more (its sums are zero, up to rounding) goes.
            rows.delete_many(doc! { "_id": { "$in": emptied }, "n": { "$lte": 0 } })
                .session(&mut *session)
                .await?;
        }
        Ok(())
    }

    /// Count every order from scratch: claims the build (one replica at a time; a build
    /// whose heartbeat stopped 10 minutes ago is taken over), replaces rows and states, and
    /// marks the rollups ready with the catch-up position at the build's start, so changes
    /// made during the build are refolded by the next catch-up. `Ok(None)`: another replica
    /// is building.
    pub async fn rebuild_rollups(&self) -> mongodb::error::Result<Option<Rebuilt>> {
        let started = DateTime::now();
        if !self.claim_build(started).await? {
            return Ok(None);
        }
        // Refolds check the state inside their transaction: none starts from now on. Let this
        // process's finish (the lock) and other replicas' in flight commit before clearing.
        let _no_refolds = self.rollup_lock.lock().await;
        tokio::time::sleep(BUILD_SETTLE).await;
        self.rollup_rows().delete_many(doc! {}).await?;
        self.rollup_states().delete_many(doc! {}).await?;
        let mut cursor = self
            .db
            .collection::<Document>("orders")
            .find(doc! {})
            .projection(fold::projection())
            .batch_size(INSERT_BATCH as u32)
            .await?;
        let mut totals: std::collections::BTreeMap<Key, Row> = Default::default();
        let mut states = Vec::with_capacity(INSERT_BATCH);
        let mut orders = 0_u64;
        while let Some(order) = cursor.try_next().await? {
            orders += 1;
            let (Ok(id), Some(snap)) = (order.get_object_id("_id"), Snapshot::of(&order)) else {
                continue;
            };
            for (key, row) in fold::rows(&snap) {
                add_row(&mut totals, key, row);
            }
            states.push(doc! { "_id": id, "v": 1_i64, "snap": snap.document().clone() });
            if states.len() == INSERT_BATCH {
                self.rollup_states()
                    .insert_many(std::mem::take(&mut states))
                    .await?;
                self.heartbeat(orders).await?;
            }
        }
        if !states.is_empty() {
            self.rollup_states().insert_many(states).await?;
        }
        let rows = totals.len() as u64;
        let docs: Vec<Document> = totals.iter().map(|(k, r)| row_document(k, r)).collect();
        for chunk in docs.chunks(INSERT_BATCH) {
            self.rollup_rows().insert_many(chunk.to_vec()).await?;
        }
        self.rollup_meta()
            .update_one(
                doc! { "_id": META_ID },
                doc! { "$set": {
                    "state": "ready", "since": started, "sinceId": started,
                    "builtAt": DateTime::now(), "orders": orders as i64, "rows": rows as i64,
                } },
            )
            .await?;
        Ok(Some(Rebuilt { orders, rows }))
    }

    async fn claim_build(&self, now: DateTime) -> mongodb::error::Result<bool> {
        let stale = DateTime::from_millis(now.timestamp_millis() - STALE_BUILD_MS);
        let claim = self
            .rollup_meta()
            .update_one(
                doc! { "_id": META_ID, "$or": [
                    { "state": { "$ne": "building" } }, { "heartbeat": { "$lt": stale } },
                ] },
                doc! { "$set": { "state": "building", "heartbeat": now } },
            )
            .upsert(true)
            .await;
        match claim {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn heartbeat(&self, orders: u64) -> mongodb::error::Result<()> {
        tracing::info!(orders, "rollup rebuild progress");
        self.rollup_meta()
            .update_one(
                doc! { "_id": META_ID, "state": "building" },
                doc! { "$set": { "heartbeat": DateTime::now() } },
            )
            .await
            .map(drop)
    }
}

fn add_row(totals: &mut std::collections::BTreeMap<Key, Row>, key: Key, row: Row) {
    let sum = totals.entry(key).or_insert_with(|| Row {
        figures: Default::default(),
        label: None,
    });
    for (f, v) in row.figures {
        *sum.figures.entry(f).or_default() += v;
    }
    if row.label.is_some() {
        sum.label = row.label;
    }
}

fn row_document(key: &Key, row: &Row) -> Document {
    let id = key.document();
    let mut d = id.clone();
    d.insert("_id", id);
    for (f, v) in &row.figures {
        d.insert(*f, *v);
    }
    if let Some((name, image)) = &row.label {
        d.insert("name", name.clone());
        d.insert("image", image.clone());
    }
    d
}

/// The background task: builds the rollups when they were never built (or a build stalled),
/// then catches up every `every`, re-reading a lag window for late commits.
pub async fn maintain_forever(store: Store, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = maintain_once(&store).await {
            tracing::warn!(error = %e, "sales rollup maintenance failed");
        }
    }
}

async fn maintain_once(store: &Store) -> mongodb::error::Result<()> {
    let now = DateTime::now().timestamp_millis();
    match store.rollup_phase().await? {
        Phase::Ready { .. } => {
            let refolded = store.sweep_rollups().await?;
            if refolded > 0 {
                tracing::debug!(refolded, "sales rollups caught up");
            }
        }
        Phase::Building { heartbeat } if now - heartbeat < STALE_BUILD_MS => {}
        Phase::Missing | Phase::Building { .. } => {
            if let Some(built) = store.rebuild_rollups().await? {
                tracing::info!(
                    orders = built.orders,
                    rows = built.rows,
                    "sales rollups built"
                );
            }
        }
    }
    Ok(())
}
