//! Persistence (the "store"; a merchant's storefront is a *shop*): one module per collection
//! with its `*Doc` types and queries; the only code that knows collections, filters, updates,
//! transactions and indexes (see ARCHITECTURE.md).
//! Every product and shop query takes the caller's merchant id, so tenancy is enforced here.

pub mod analytics;
pub mod analytics_exports;
pub mod api_keys;
pub mod audit;
pub mod audit_views;
pub mod bulk;
pub mod cashback;
pub mod cashback_stats;
pub mod categories;
pub mod dashboard;
pub mod error;
pub mod facet;
pub mod idempotency;
pub mod indexes;
pub mod json;
pub mod keyset;
pub mod merchants;
pub mod notifications;
pub mod onboarding;
pub mod order_analytics;
pub mod order_parts;
pub mod order_updates;
pub mod orders;
pub mod product_patch;
pub mod products;
pub mod reservations;
pub mod reviews;
pub mod rollups;
pub mod sessions;
pub mod shops;
pub mod stock;
pub mod stock_ledger;
pub mod team;
pub mod uploads;
pub mod users;

use mongodb::{
    Client, Collection, Database,
    bson::{Document, doc},
};

pub use error::{WriteError, is_duplicate_key};
pub use mongodb::bson::{DateTime, oid::ObjectId};

/// A failed database operation (callers map it to their own errors; details stay in logs).
pub type Error = mongodb::error::Error;

/// The result of a database operation.
pub type Result<T> = std::result::Result<T, Error>;

/// Handle on the application database (cheap to clone).
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    db: Database,
    /// One sales-rollup refold or catch-up at a time in this process (`rollups`): concurrent
    /// reports wait for the catch-up in flight instead of racing it order by order.
    rollup_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Store {
    /// Wrap a connected client and database.
    pub fn new(client: Client, db: Database) -> Self {
        Self {
            client,
            db,
            rollup_lock: Default::default(),
        }
    }

    /// The database.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The client (sessions, transactions).
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn merchants(&self) -> Collection<merchants::MerchantDoc> {
        self.db.collection("merchants")
    }

    pub(crate) fn users(&self) -> Collection<users::MerchantUserDoc> {
        self.db.collection("merchantusers")
    }

    pub(crate) fn shops(&self) -> Collection<shops::ShopDoc> {
        self.db.collection("stores")
    }

    pub(crate) fn categories(&self) -> Collection<categories::CategoryDoc> {
        self.db.collection("categories")
    }

    pub(crate) fn products(&self) -> Collection<products::ProductDoc> {
        self.db.collection("products")
    }

    /// Round-trip to the server (`ping`).
    pub async fn ping(&self) -> mongodb::error::Result<()> {
        self.db.run_command(doc! { "ping": 1 }).await.map(drop)
    }
}

/// `$match` stages for the order filter `m`, its `status` condition in a stage of its own: the
/// test server (SecantusDB) picks no index for a `$match` holding a `status: {$nin}` beside the
/// indexed `items.store` and `createdAt` (a 30-day report of 2,000 orders took 247 ms instead of
/// 50), while MongoDB merges adjacent `$match` stages into one before planning.
pub(crate) fn match_stages(mut m: Document) -> Vec<Document> {
    match m.remove("status") {
        Some(status) => vec![
            doc! { "$match": m },
            doc! { "$match": { "status": status } },
        ],
        None => vec![doc! { "$match": m }],
    }
}

/// Narrow `m` to `field` within `[start, end]`, for whichever bounds are given (the audit and
/// cashback filters share it).
pub(crate) fn insert_date_range(
    m: &mut Document,
    field: &str,
    start: Option<DateTime>,
    end: Option<DateTime>,
) {
    let mut range = Document::new();
    if let Some(s) = start {
        range.insert("$gte", s);
    }
    if let Some(e) = end {
        range.insert("$lte", e);
    }
    if !range.is_empty() {
        m.insert(field, range);
    }
}
