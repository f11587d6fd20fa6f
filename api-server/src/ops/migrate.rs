//! `merchant-api migrate up|down [N]|status`: versioned migrations recorded in the `migrations`
//! collection as `{name, version, appliedAt}` (contract §6). A lock document in
//! `migrations_lock` keeps concurrent runs (replicas, Jobs) apart; each data migration runs in a
//! transaction with its record when the server supports transactions, and every step is
//! idempotent so a rerun after a crash is safe either way.

use std::time::Duration;

use futures::TryStreamExt;
use mongodb::{
    ClientSession, Collection,
    bson::{Document, doc},
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::identity::{self, IdentityMismatch};
use crate::{
    backup::report,
    cli::MigrateAction,
    config::DatabaseSettings,
    startup::{StartupError, connect_store},
    store::{DateTime, Store, is_duplicate_key},
};

/// A migration run failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Could not connect.
    #[error("failed to connect to MongoDB")]
    Connect(#[from] StartupError),
    /// Another run held the lock for too long.
    #[error("timed out waiting for the migration lock held by {owner}")]
    LockTimeout {
        /// Holder.
        owner: String,
    },
    /// Bookkeeping failed.
    #[error("failed to read or write migration records")]
    Records(#[source] mongodb::error::Error),
    /// The database is not the expected one.
    #[error(transparent)]
    Identity(#[from] IdentityMismatch),
    /// One migration failed (earlier ones stay applied).
    #[error("migration {version} ({name}) failed")]
    Step {
        /// Version.
        version: i32,
        /// Name.
        name: &'static str,
        /// Cause.
        #[source]
        source: mongodb::error::Error,
    },
}

/// A record in `migrations`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationRecord {
    /// Name.
    pub name: String,
    /// Version.
    pub version: i32,
    /// When applied.
    pub applied_at: DateTime,
}

/// When a step may run relative to a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Backward compatible (adds fields, indexes, defaults): the old version keeps working,
    /// so it runs before the new version serves.
    Expand,
    /// Destructive (drops, renames, tightens): runs only after the new version is healthy and
    /// its rollback window has closed.
    Contract,
}

/// One known migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version (ascending).
    pub version: i32,
    /// Name (the contract's).
    pub name: &'static str,
    /// Runs inside a transaction (false for index builds).
    transactional: bool,
    /// Expand or contract.
    pub phase: Phase,
    /// `down` restores the previous shape without losing data.
    pub reversible: bool,
}

/// The contract's five migrations, rewritten for this data model.
pub const MIGRATIONS: [Migration; 5] = [
    Migration {
        version: 1,
        name: "add-onboarding-to-merchants",
        transactional: true,
        phase: Phase::Expand,
        reversible: true,
    },
    Migration {
        version: 2,
        name: "add-indexes",
        transactional: false,
        phase: Phase::Expand,
        reversible: true,
    },
    Migration {
        version: 3,
        name: "add-product-variants",
        transactional: true,
        phase: Phase::Expand,
        reversible: true,
    },
    Migration {
        version: 4,
        name: "add-merchant-analytics",
        transactional: true,
        phase: Phase::Expand,
        reversible: true,
    },
    Migration {
        version: 5,
        name: "add-product-stock-tracking",
        transactional: true,
        phase: Phase::Expand,
        reversible: true,
    },
];

/// `(collection, filter, update)` steps of a data migration.
type Steps = Vec<(&'static str, Document, Document)>;

fn up_steps(version: i32) -> Steps {
    match version {
        1 => vec![(
            "merchants",
            doc! { "onboarding": { "$exists": false } },
            doc! { "$set": { "onboarding": { "status": "pending", "currentStep": 1, "completedSteps": [], "stepData": {} } } },
        )],
        3 => vec![(
            "products",
            doc! { "inventory.variants": { "$exists": false } },
            doc! { "$set": { "inventory.variants": [] } },
        )],
        4 => vec![(
            "merchants",
            doc! { "analytics": { "$exists": false } },
            doc! { "$set": { "analytics": { "totalOrders": 0, "totalRevenue": 0, "totalProducts": 0, "averageRating": 0, "totalReviews": 0 } } },
        )],
        5 => vec![
            (
                "products",
                doc! { "inventory.trackInventory": { "$exists": false } },
                doc! { "$set": { "inventory.trackInventory": true } },
            ),
            (
                "products",
                doc! { "inventory.lowStockThreshold": { "$exists": false } },
                doc! { "$set": { "inventory.lowStockThreshold": 5_i64 } },
            ),
        ],
        _ => Vec::new(),
    }
}

// Each `down` removes only values equal to what `up` wrote (the application reads them as
// defaults when absent), so reverting never loses data a merchant entered.
fn down_steps(version: i32) -> Steps {
    match version {
        1 => vec![(
            "merchants",
            doc! { "onboarding.status": "pending", "onboarding.completedSteps": { "$size": 0 }, "onboarding.stepData": {} },
            doc! { "$unset": { "onboarding": "" } },
        )],
        3 => vec![(
            "products",
            doc! { "inventory.variants": { "$size": 0 } },
            doc! { "$unset": { "inventory.variants": "" } },
        )],
        4 => vec![(
            "merchants",
            doc! { "analytics.totalOrders": 0, "analytics.totalRevenue": 0, "analytics.totalProducts": 0, "analytics.averageRating": 0, "analytics.totalReviews": 0 },
            doc! { "$unset": { "analytics": "" } },
        )],
        5 => vec![
            (
                "products",
                doc! { "inventory.trackInventory": true },
                doc! { "$unset": { "inventory.trackInventory": "" } },
            ),
            (
                "products",
                doc! { "inventory.lowStockThreshold": 5_i64 },
                doc! { "$unset": { "inventory.lowStockThreshold": "" } },
            ),
        ],
        _ => Vec::new(),
    }
}

fn records(store: &Store) -> Collection<MigrationRecord> {
    store.db().collection("migrations")
}

/// Applied records, oldest version first.
pub async fn applied(store: &Store) -> mongodb::error::Result<Vec<MigrationRecord>> {
    records(store)
        .find(doc! {})
        .sort(doc! { "version": 1 })
        .await?
        .try_collect()
        .await
}

async fn supports_transactions(store: &Store) -> bool {
    let hello = store.db().run_command(doc! { "hello": 1 }).await;
    hello.is_ok_and(|h| h.contains_key("setName") || h.get_str("msg") == Ok("isdbgrid"))
}

async fn run_steps(
    store: &Store,
    steps: &Steps,
    mut session: Option<&mut ClientSession>,
) -> mongodb::error::Result<()> {
    for (collection, filter, update) in steps {
        let coll = store.db().collection::<Document>(collection);
        match session.as_deref_mut() {
            Some(s) => {
                coll.update_many(filter.clone(), update.clone())
                    .session(s)
                    .await?
            }
            None => coll.update_many(filter.clone(), update.clone()).await?,
        };
    }
    Ok(())
}

/// Run one direction of a migration together with its record change.
async fn apply(
    store: &Store,
    m: Migration,
    up: bool,
    transactions: bool,
) -> mongodb::error::Result<()> {
    let steps = if up {
        up_steps(m.version)
    } else {
        down_steps(m.version)
    };
    if m.version == 2 {
        if up {
            store.ensure_indexes().await?
        } else {
            store.drop_indexes().await?
        }
    }
    let record = MigrationRecord {
        name: m.name.into(),
        version: m.version,
        applied_at: DateTime::now(),
    };
    if transactions && m.transactional {
        let mut session = store.client().start_session().await?;
        session.start_transaction().await?;
        run_steps(store, &steps, Some(&mut session)).await?;
        if up {
            records(store)
                .insert_one(&record)
                .session(&mut session)
                .await?;
        } else {
            records(store)
                .delete_one(doc! { "version": m.version })
                .session(&mut session)
                .await?;
        }
        return session.commit_transaction().await;
    }
    run_steps(store, &steps, None).await?;
    if up {
        records(store).insert_one(&record).await.map(drop)
    } else {
        records(store)
            .delete_one(doc! { "version": m.version })
            .await
            .map(drop)
    }
}

const LOCK_ID: &str = "migrate";
const LOCK_TTL: Duration = Duration::from_secs(600);
const LOCK_WAIT: Duration = Duration::from_secs(300);

/// Holds the migration lock until released.
struct Lock<'a> {
    store: &'a Store,
    owner: String,
}

impl<'a> Lock<'a> {
    async fn acquire(store: &'a Store) -> Result<Self, MigrateError> {
        let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4());
        let locks = store.db().collection::<Document>("migrations_lock");
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        loop {
            let now = DateTime::now();
            let expires =
                DateTime::from_millis(now.timestamp_millis() + LOCK_TTL.as_millis() as i64);
            match locks
                .insert_one(
                    doc! { "_id": LOCK_ID, "owner": &owner, "lockedAt": now, "expiresAt": expires },
                )
                .await
            {
                Ok(_) => return Ok(Self { store, owner }),
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(MigrateError::Records(e)),
            }
            // A crashed holder's lock expires; take it over.
            locks
                .delete_one(doc! { "_id": LOCK_ID, "expiresAt": { "$lt": now } })
                .await
                .map_err(MigrateError::Records)?;
            if tokio::time::Instant::now() > deadline {
                let holder = locks.find_one(doc! { "_id": LOCK_ID }).await.ok().flatten();
                let owner = holder
                    .and_then(|d| d.get_str("owner").ok().map(str::to_string))
                    .unwrap_or_default();
                return Err(MigrateError::LockTimeout { owner });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn release(self) -> Result<(), MigrateError> {
        let locks = self.store.db().collection::<Document>("migrations_lock");
        locks
            .delete_one(doc! { "_id": LOCK_ID, "owner": &self.owner })
            .await
            .map(drop)
            .map_err(MigrateError::Records)
    }
}

async fn with_lock<T>(
    store: &Store,
    work: impl AsyncFnOnce(&Store) -> Result<T, MigrateError>,
) -> Result<T, MigrateError> {
    let lock = Lock::acquire(store).await?;
    let result = work(store).await;
    lock.release().await?;
    result
}

/// Apply every migration not yet recorded, in version order. Returns the versions applied.
pub async fn up(store: &Store) -> Result<Vec<i32>, MigrateError> {
    up_phase(store, None).await
}

/// Apply the pending migrations of `phase` (all when `None`), in version order. Expand steps
/// never depend on contract steps, so `expand` may pass over a pending contract step.
pub async fn up_phase(store: &Store, phase: Option<Phase>) -> Result<Vec<i32>, MigrateError> {
    with_lock(store, async |store| {
        let done: Vec<i32> = applied(store)
            .await
            .map_err(MigrateError::Records)?
            .iter()
            .map(|r| r.version)
            .collect();
        let transactions = supports_transactions(store).await;
        let mut ran = Vec::new();
        for m in MIGRATIONS
            .into_iter()
            .filter(|m| !done.contains(&m.version) && phase.is_none_or(|p| m.phase == p))
        {
            apply(store, m, true, transactions)
                .await
                .map_err(|source| MigrateError::Step {
                    version: m.version,
                    name: m.name,
                    source,
                })?;
            tracing::info!(version = m.version, name = m.name, "migration applied");
            ran.push(m.version);
        }
        Ok(ran)
    })
    .await
}

/// Revert the newest `steps` applied migrations. Returns the versions reverted.
pub async fn down(store: &Store, steps: u32) -> Result<Vec<i32>, MigrateError> {
    with_lock(store, async |store| {
        let done = applied(store).await.map_err(MigrateError::Records)?;
        let transactions = supports_transactions(store).await;
        let mut reverted = Vec::new();
        for record in done.iter().rev().take(steps as usize) {
            let Some(m) = MIGRATIONS.iter().find(|m| m.version == record.version) else {
                continue;
            };
            apply(store, *m, false, transactions)
                .await
                .map_err(|source| MigrateError::Step {
                    version: m.version,
                    name: m.name,
                    source,
                })?;
            tracing::info!(version = m.version, name = m.name, "migration reverted");
            reverted.push(m.version);
        }
        Ok(reverted)
    })
    .await
}

/// `(version, name, applied_at)` for every known migration.
pub async fn status(
    store: &Store,
) -> Result<Vec<(i32, &'static str, Option<DateTime>)>, MigrateError> {
    let done = applied(store).await.map_err(MigrateError::Records)?;
    Ok(MIGRATIONS
        .iter()
        .map(|m| {
            (
                m.version,
                m.name,
                done.iter()
                    .find(|r| r.version == m.version)
                    .map(|r| r.applied_at),
            )
        })
        .collect())
}

/// One pending step of a plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedStep {
    /// Version.
    pub version: i32,
    /// Name.
    pub name: &'static str,
    /// Expand or contract.
    pub phase: Phase,
    /// Whether `down` can undo it.
    pub reversible: bool,
}

/// What `migrate up` would do against this database with this binary.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Highest applied version (0: none).
    pub current: i32,
    /// Highest version this binary knows.
    pub target: i32,
    /// Database identity, if marked.
    pub identity: Option<String>,
    /// Steps not yet applied, in order.
    pub pending: Vec<PlannedStep>,
    /// Applied versions this binary does not know (the database is ahead of the image).
    pub unknown_applied: Vec<i32>,
}

/// The plan. Reads only.
pub async fn plan(store: &Store) -> Result<Plan, MigrateError> {
    let done: Vec<i32> = applied(store)
        .await
        .map_err(MigrateError::Records)?
        .iter()
        .map(|r| r.version)
        .collect();
    let identity = identity::read(store.db())
        .await
        .map_err(MigrateError::Records)?;
    Ok(plan_from(&done, identity))
}

fn plan_from(done: &[i32], identity: Option<String>) -> Plan {
    Plan {
        current: done.iter().copied().max().unwrap_or(0),
        target: MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0),
        identity,
        pending: MIGRATIONS
            .iter()
            .filter(|m| !done.contains(&m.version))
            .map(|m| PlannedStep {
                version: m.version,
                name: m.name,
                phase: m.phase,
                reversible: m.reversible,
            })
            .collect(),
        unknown_applied: done
            .iter()
            .copied()
            .filter(|v| !MIGRATIONS.iter().any(|m| m.version == *v))
            .collect(),
    }
}

/// The `migrate` subcommand; `--report` gets its outcome either way.
pub async fn run(settings: &DatabaseSettings, action: MigrateAction) -> Result<(), MigrateError> {
    let report_path = action.report_path().map(std::path::Path::to_path_buf);
    let outcome = async {
        let store = connect_store(settings, None).await?;
        let result = run_action(&store, action).await;
        store.client().clone().shutdown().immediate(true).await;
        result
    }
    .await;
    match &outcome {
        Ok(Some(report)) => report::write(report_path.as_deref(), report.clone()),
        Ok(None) => {}
        Err(e) => report::write(
            report_path.as_deref(),
            json!({"command": "migrate", "result": "Failed", "error": crate::error::chain(e)}),
        ),
    }
    outcome.map(drop)
}

async fn check_identity(store: &Store, expected: Option<&str>) -> Result<String, MigrateError> {
    let actual = identity::read(store.db())
        .await
        .map_err(MigrateError::Records)?;
    identity::check(expected, actual.as_deref())?;
    identity::ensure(store.db())
        .await
        .map_err(MigrateError::Records)
}

async fn current(store: &Store) -> Result<i32, MigrateError> {
    Ok(applied(store)
        .await
        .map_err(MigrateError::Records)?
        .iter()
        .map(|r| r.version)
        .max()
        .unwrap_or(0))
}

async fn run_action(
    store: &Store,
    action: MigrateAction,
) -> Result<Option<serde_json::Value>, MigrateError> {
    match action {
        MigrateAction::Up {
            phase,
            expect_identity,
            ..
        } => {
            let identity = check_identity(store, expect_identity.as_deref()).await?;
            let ran = up_phase(store, phase.into()).await?;
            println!("applied: {ran:?}");
            Ok(Some(json!({
                "command": "migrate", "result": "Succeeded", "applied": ran,
                "current": current(store).await?, "identity": identity,
            })))
        }
        MigrateAction::Down {
            steps,
            expect_identity,
            ..
        } => {
            let identity = check_identity(store, expect_identity.as_deref()).await?;
            let reverted = down(store, steps).await?;
            println!("reverted: {reverted:?}");
            Ok(Some(json!({
                "command": "migrate", "result": "Succeeded", "reverted": reverted,
                "current": current(store).await?, "identity": identity,
            })))
        }
        MigrateAction::Plan { json, .. } => plan_report(store, json).await.map(Some),
        MigrateAction::Status => {
            for (version, name, at) in status(store).await? {
                let state = at.map_or_else(|| "pending".to_string(), crate::store::json::iso);
                println!("{version:>3}  {name:<30} {state}");
            }
            Ok(None)
        }
    }
}

/// `migrate plan`: print what would run (as JSON with `--json`); the report either way.
async fn plan_report(store: &Store, json: bool) -> Result<serde_json::Value, MigrateError> {
    let plan = plan(store).await?;
    let mut report = serde_json::to_value(&plan).unwrap_or_default();
    report["command"] = json!("migrate-plan");
    report["result"] = json!("Succeeded");
    if json {
        println!("{report}");
    } else {
        print_plan(&plan);
    }
    Ok(report)
}

/// The plan as a table: one line per pending migration.
fn print_plan(plan: &Plan) {
    println!("current {} -> target {}", plan.current, plan.target);
    for step in &plan.pending {
        let phase = serde_json::to_value(step.phase).unwrap_or_default();
        let undo = if step.reversible {
            "reversible"
        } else {
            "irreversible"
        };
        println!(
            "{:>3}  {:<30} {} {undo}",
            step.version,
            step.name,
            phase.as_str().unwrap_or_default()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_lists_what_is_pending_in_order_and_flags_unknown_versions() {
        let fresh = plan_from(&[], None);
        assert_eq!((fresh.current, fresh.target), (0, 5));
        assert_eq!(fresh.pending.len(), 5);
        assert!(
            fresh
                .pending
                .iter()
                .all(|s| s.phase == Phase::Expand && s.reversible)
        );
        let partial = plan_from(&[1, 2, 4], Some("id".into()));
        assert_eq!(partial.current, 4);
        let pending: Vec<i32> = partial.pending.iter().map(|s| s.version).collect();
        assert_eq!(pending, [3, 5]);
        let ahead = plan_from(&[1, 2, 3, 4, 5, 6], None);
        assert!(ahead.pending.is_empty());
        assert_eq!(ahead.unknown_applied, [6]);
        let json = serde_json::to_value(&partial).expect("should succeed");
        assert_eq!(json["pending"][0]["phase"], "expand");
    }
}
