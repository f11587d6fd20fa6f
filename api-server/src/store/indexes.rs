//! Every index the queries need, in one list: created at start-up (idempotent) and by
//! migration 2, dropped by its `down`.

use std::{collections::BTreeMap, time::Duration};

use mongodb::{
    IndexModel,
    bson::{Document, doc},
    options::IndexOptions,
};

use super::Store;

/// One index of one collection.
#[derive(Debug, Clone)]
pub struct IndexSpec {
    /// Collection.
    pub collection: &'static str,
    /// Index name.
    pub name: &'static str,
    /// Key pattern.
    pub keys: Document,
    /// Unique.
    pub unique: bool,
    /// Only documents matching this filter are indexed (`partialFilterExpression`).
    pub partial: Option<Document>,
    /// A TTL index: documents go this long after the date in the (single) key field.
    pub expire_after: Option<Duration>,
}

/// What kind of index a [`CATALOGUE`] row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A plain index.
    Plain,
    /// Unique.
    Unique,
    /// Unique over the documents where this field exists (`partialFilterExpression`).
    UniqueWhereExists(&'static str),
    /// A TTL index with `expireAfterSeconds: 0` on its single date key: the server deletes a
    /// document once that date has passed (MongoDB's monitor sweeps every 60 s, so reads
    /// still filter).
    ExpiresAt,
}

use Kind::{ExpiresAt, Plain, Unique, UniqueWhereExists};

/// `(collection, name, key fields with directions, kind)`.
type Row = (
    &'static str,
    &'static str,
    &'static [(&'static str, i32)],
    Kind,
);

/// `(collection, name, keys, kind)` of every index. Orders and notifications are shared with
/// the consumer app, whose driver (Mongoose) names indexes `<field>_<dir>…`: the same names
/// make an index both apps declare a no-op instead of an "already exists with a different
/// name" error.
#[rustfmt::skip]
const CATALOGUE: &[Row] = &[
    ("merchants", "email_unique", &[("email", 1)], Unique),
    ("merchants", "reset_token", &[("resetPasswordToken", 1)], Plain),
    ("merchants", "verification_token", &[("emailVerificationToken", 1)], Plain),
    ("merchantusers", "merchant_email_unique", &[("merchantId", 1), ("email", 1)], Unique),
    ("merchantusers", "email", &[("email", 1)], Plain),
    ("merchantusers", "merchant_created", &[("merchantId", 1), ("createdAt", -1)], Plain),
    ("merchantusers", "invitation_token", &[("invitationToken", 1)], Plain),
    ("auditlogs", "merchant_timestamp", &[("merchantId", 1), ("timestamp", -1)], Plain),
    ("auditlogs", "merchant_action_timestamp", &[("merchantId", 1), ("action", 1), ("timestamp", -1)], Plain),
    ("auditlogs", "merchant_resource_timestamp", &[("merchantId", 1), ("resourceType", 1), ("resourceId", 1), ("timestamp", -1)], Plain),
    ("auditlogs", "merchant_user_timestamp", &[("merchantId", 1), ("merchantUserId", 1), ("timestamp", -1)], Plain),
    ("cashbackrequests", "request_number_unique", &[("requestNumber", 1)], Unique),
    ("cashbackrequests", "merchant_status_created", &[("merchantId", 1), ("status", 1), ("createdAt", -1)], Plain),
    ("cashbackrequests", "merchant_created", &[("merchantId", 1), ("createdAt", -1)], Plain),
    ("stores", "slug_unique", &[("slug", 1)], Unique),
    ("stores", "merchant_created", &[("merchantId", 1), ("createdAt", 1)], Plain),
    ("categories", "slug_unique", &[("slug", 1)], Unique),
    ("products", "sku_unique", &[("sku", 1)], Unique),
    ("products", "slug_unique", &[("slug", 1)], Unique),
    ("products", "merchant_created", &[("merchantId", 1), ("createdAt", -1)], Plain),
    ("products", "merchant_stock", &[("merchantId", 1), ("inventory.stock", 1)], Plain),
    ("products", "merchant_category", &[("merchantId", 1), ("category", 1)], Plain),
    // GET /products/{id}/reviews: a shop's reviews, newest first.
    ("reviews", "store_created", &[("store", 1), ("createdAt", -1)], Plain),
    // Orders (written by the consumer app): the merchant scope is `items.store`.
    ("orders", "orderNumber_1", &[("orderNumber", 1)], Unique),
    ("orders", "items.store_1_createdAt_-1", &[("items.store", 1), ("createdAt", -1)], Plain),
    ("orders", "items.store_1_status_1", &[("items.store", 1), ("status", 1)], Plain),
    ("orders", "createdAt_1", &[("createdAt", 1)], Plain),
    // The sales-rollup catch-up (`store::rollups`) reads orders changed since its position.
    ("orders", "updatedAt_1", &[("updatedAt", 1)], Plain),
    // Sales rollups: a report reads one store's rows of one dimension over a bucket range.
    ("salesrollups", "store_dim_grain_time", &[("s", 1), ("d", 1), ("g", 1), ("t", 1)], Plain),
    // Payment, coupon and product rows: reports read one status class of them.
    ("salesrollups", "store_dim_status_grain_time", &[("s", 1), ("d", 1), ("st", 1), ("g", 1), ("t", 1)], Plain),
    // Notifications: the inbox query, and one notification per event key and merchant.
    ("notifications", "user_1_deletedAt_1_isArchived_1_isRead_1_createdAt_-1",
        &[("user", 1), ("deletedAt", 1), ("isArchived", 1), ("isRead", 1), ("createdAt", -1)], Plain),
    ("notifications", "user_1_dedupeKey_1", &[("user", 1), ("dedupeKey", 1)], UniqueWhereExists("dedupeKey")),
    ("notifications", "dedupeKey_1", &[("dedupeKey", 1)], Plain),
    // The contract's TTL on the shared collection (Mongoose's name for it).
    ("notifications", "expiresAt_1", &[("expiresAt", 1)], ExpiresAt),
    ("notificationpreferences", "merchantId_1", &[("merchantId", 1)], Unique),
    // Analytics inventory status: a shop's products by stock.
    ("products", "store_stock", &[("store", 1), ("inventory.stock", 1)], Plain),
    ("analyticsexports", "merchant_export", &[("merchantId", 1), ("exportId", 1)], Unique),
    // Finished exports are kept until their `expiresAt` only.
    ("analyticsexports", "expiresAt_ttl", &[("expiresAt", 1)], ExpiresAt),
    // Login sessions (refresh-token families): gone once their refresh token expired; a
    // stateless token of the older release is exchanged into one session only.
    ("refreshsessions", "expiresAt_ttl", &[("expiresAt", 1)], ExpiresAt),
    ("idempotencykeys", "merchant_key_unique", &[("merchantId", 1), ("key", 1)], Unique),
    ("idempotencykeys", "expiresAt_ttl", &[("expiresAt", 1)], ExpiresAt),
    ("refreshsessions", "origin_unique", &[("origin", 1)], UniqueWhereExists("origin")),
    ("refreshsessions", "merchant_member", &[("merchantId", 1), ("memberId", 1)], Plain),
    // The stock ledger: an operation applies once per merchant; a product's entries newest first.
    ("stockadjustments", "merchant_operation_unique", &[("merchantId", 1), ("operationId", 1)], Unique),
    ("stockadjustments", "merchant_product_created", &[("merchantId", 1), ("productId", 1), ("createdAt", -1)], Plain),
    // Reservations: a product's, newest first; the sweeper's due active holds.
    ("stockreservations", "merchant_product_created", &[("merchantId", 1), ("productId", 1), ("createdAt", -1)], Plain),
    ("stockreservations", "status_expiresAt", &[("status", 1), ("expiresAt", 1)], Plain),
    ("apikeys", "keyDigest_unique", &[("keyDigest", 1)], Unique),
    ("apikeys", "merchant_created", &[("merchantId", 1), ("createdAt", -1)], Plain),
    // Cursor pagination (`store::keyset`): each list's scope, then its sort field and `_id`,
    // so a window after a position is one index range however deep it is.
    ("products", "merchant_created_id", &[("merchantId", 1), ("createdAt", -1), ("_id", -1)], Plain),
    ("products", "merchant_updated_id", &[("merchantId", 1), ("updatedAt", -1), ("_id", -1)], Plain),
    ("products", "merchant_name_id", &[("merchantId", 1), ("name", 1), ("_id", 1)], Plain),
    ("products", "merchant_price_id", &[("merchantId", 1), ("pricing.selling", 1), ("_id", 1)], Plain),
    ("products", "merchant_stock_id", &[("merchantId", 1), ("inventory.stock", 1), ("_id", 1)], Plain),
    ("orders", "items.store_1_createdAt_-1__id_-1", &[("items.store", 1), ("createdAt", -1), ("_id", -1)], Plain),
    ("notifications", "user_1_createdAt_-1__id_-1", &[("user", 1), ("createdAt", -1), ("_id", -1)], Plain),
    ("reviews", "store_created_id", &[("store", 1), ("createdAt", -1), ("_id", -1)], Plain),
    ("cashbackrequests", "merchant_created_id", &[("merchantId", 1), ("createdAt", -1), ("_id", -1)], Plain),
    // The audit log and the team activity feed (a filter on the same records).
    ("auditlogs", "merchant_timestamp_id", &[("merchantId", 1), ("timestamp", -1), ("_id", -1)], Plain),
    ("merchantusers", "merchant_created_id", &[("merchantId", 1), ("createdAt", -1), ("_id", -1)], Plain),
    ("stockadjustments", "merchant_product_created_id", &[("merchantId", 1), ("productId", 1), ("createdAt", -1), ("_id", -1)], Plain),
    ("stockreservations", "merchant_product_created_id", &[("merchantId", 1), ("productId", 1), ("createdAt", -1), ("_id", -1)], Plain),
    ("apikeys", "merchant_created_id", &[("merchantId", 1), ("createdAt", -1), ("_id", -1)], Plain),
];

/// The index catalogue.
pub fn catalogue() -> Vec<IndexSpec> {
    CATALOGUE
        .iter()
        .map(|&(collection, name, keys, kind)| IndexSpec {
            collection,
            name,
            keys: keys
                .iter()
                .map(|&(k, d)| (k.to_string(), d.into()))
                .collect(),
            unique: kind != Plain && kind != ExpiresAt,
            partial: match kind {
                UniqueWhereExists(field) => Some(doc! { field: { "$exists": true } }),
                _ => None,
            },
            expire_after: (kind == ExpiresAt).then_some(Duration::ZERO),
        })
        .collect()
}

fn model(s: IndexSpec) -> IndexModel {
    let options = IndexOptions::builder()
        .name(s.name.to_string())
        .unique(s.unique.then_some(true))
        .partial_filter_expression(s.partial)
        .expire_after(s.expire_after)
        .build();
    IndexModel::builder().keys(s.keys).options(options).build()
}

/// MongoDB's error code 238 (code name "NotImplemented"): what a wire-compatible server answers
/// to an index option it lacks.
const UNSUPPORTED_BY_SERVER: i32 = 238;

/// True when the server does not implement what was asked (an index option, for example).
pub(crate) fn is_not_implemented(e: &mongodb::error::Error) -> bool {
    matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == UNSUPPORTED_BY_SERVER)
}

/// The catalogue grouped by collection.
fn by_collection() -> BTreeMap<&'static str, Vec<IndexSpec>> {
    let mut groups: BTreeMap<&'static str, Vec<IndexSpec>> = BTreeMap::new();
    for s in catalogue() {
        groups.entry(s.collection).or_default().push(s);
    }
    groups
}

impl Store {
    /// Create the catalogue indexes a collection lacks, in one `createIndexes` command.
    async fn ensure_collection_indexes(
        &self,
        name: &str,
        specs: Vec<IndexSpec>,
    ) -> mongodb::error::Result<()> {
        let coll = self.db().collection::<Document>(name);
        // A missing collection has no indexes (listIndexes fails with NamespaceNotFound).
        let existing = coll.list_index_names().await.unwrap_or_default();
        let missing: Vec<IndexModel> = specs
            .into_iter()
            .filter(|s| !existing.iter().any(|n| n == s.name))
            .map(model)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        match coll.create_indexes(missing.clone()).await {
            Err(e) if is_not_implemented(&e) => self.create_supported(name, missing).await,
            other => other.map(drop),
        }
    }

    /// One by one, skipping (with a warning) each index whose options the server does not
    /// implement: FerretDB v1 has no TTL or partial indexes. MongoDB creates them all.
    async fn create_supported(
        &self,
        name: &str,
        models: Vec<IndexModel>,
    ) -> mongodb::error::Result<()> {
        let coll = self.db().collection::<Document>(name);
        for m in models {
            let index = m
                .options
                .as_ref()
                .and_then(|o| o.name.clone())
                .unwrap_or_default();
            match coll.create_index(m).await {
                Err(e) if is_not_implemented(&e) => {
                    tracing::warn!(collection = name, index, error = %e, "index not supported by this server; skipped");
                }
                other => other.map(drop)?,
            }
        }
        Ok(())
    }

    /// Create every catalogue index that does not exist yet; collections are handled
    /// concurrently so start-up costs about two round trips.
    pub async fn ensure_indexes(&self) -> mongodb::error::Result<()> {
        let work = by_collection()
            .into_iter()
            .map(|(name, specs)| self.ensure_collection_indexes(name, specs));
        futures::future::try_join_all(work).await.map(drop)
    }

    /// Drop every catalogue index that exists.
    pub async fn drop_indexes(&self) -> mongodb::error::Result<()> {
        for (name, specs) in by_collection() {
            let coll = self.db().collection::<Document>(name);
            let existing = coll.list_index_names().await.unwrap_or_default();
            for s in specs
                .iter()
                .filter(|s| existing.iter().any(|n| n == s.name))
            {
                coll.drop_index(s.name).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_names_each_index_once_per_collection() {
        let specs = catalogue();
        let mut names: Vec<_> = specs.iter().map(|s| (s.collection, s.name)).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), specs.len());
        let dedupe = specs.iter().find(|s| s.name == "user_1_dedupeKey_1");
        assert!(dedupe.is_some_and(|s| s.unique && s.partial.is_some()));
        let ttl = specs.iter().find(|s| s.name == "expiresAt_ttl");
        assert!(ttl.is_some_and(|s| !s.unique && s.expire_after == Some(Duration::ZERO)));
        let keys = specs
            .iter()
            .find(|s| s.name == "merchant_timestamp")
            .map(|s| s.keys.clone());
        assert_eq!(keys, Some(doc! { "merchantId": 1, "timestamp": -1 }));
    }
}
