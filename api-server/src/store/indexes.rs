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

fn spec(collection: &'static str, name: &'static str, keys: Document, unique: bool) -> IndexSpec {
    IndexSpec {
        collection,
        name,
        keys,
        unique,
        partial: None,
        expire_after: None,
    }
}

/// A TTL index on `field` with `expireAfterSeconds: 0`: the server deletes a document once the
/// date in `field` has passed (MongoDB's monitor sweeps every 60 s, so reads still filter).
fn expires_at(collection: &'static str, name: &'static str, field: &str) -> IndexSpec {
    IndexSpec {
        expire_after: Some(Duration::ZERO),
        ..spec(collection, name, doc! { field: 1 }, false)
    }
}

/// A unique index over the documents that match `filter` only.
fn partial_unique(
    collection: &'static str,
    name: &'static str,
    keys: Document,
    filter: Document,
) -> IndexSpec {
    IndexSpec {
        partial: Some(filter),
        ..spec(collection, name, keys, true)
    }
}

/// The index catalogue.
pub fn catalogue() -> Vec<IndexSpec> {
    vec![
        spec("merchants", "email_unique", doc! { "email": 1 }, true),
        spec(
            "merchants",
            "reset_token",
            doc! { "resetPasswordToken": 1 },
            false,
        ),
        spec(
            "merchants",
            "verification_token",
            doc! { "emailVerificationToken": 1 },
            false,
        ),
        spec(
            "merchantusers",
            "merchant_email_unique",
            doc! { "merchantId": 1, "email": 1 },
            true,
        ),
        spec("merchantusers", "email", doc! { "email": 1 }, false),
        spec(
            "merchantusers",
            "merchant_created",
            doc! { "merchantId": 1, "createdAt": -1 },
            false,
        ),
        spec(
            "merchantusers",
            "invitation_token",
            doc! { "invitationToken": 1 },
            false,
        ),
        spec(
            "auditlogs",
            "merchant_timestamp",
            doc! { "merchantId": 1, "timestamp": -1 },
            false,
        ),
        spec(
            "auditlogs",
            "merchant_action_timestamp",
            doc! { "merchantId": 1, "action": 1, "timestamp": -1 },
            false,
        ),
        spec(
            "auditlogs",
            "merchant_resource_timestamp",
            doc! { "merchantId": 1, "resourceType": 1, "resourceId": 1, "timestamp": -1 },
            false,
        ),
        spec(
            "auditlogs",
            "merchant_user_timestamp",
            doc! { "merchantId": 1, "merchantUserId": 1, "timestamp": -1 },
            false,
        ),
        spec(
            "cashbackrequests",
            "request_number_unique",
            doc! { "requestNumber": 1 },
            true,
        ),
        spec(
            "cashbackrequests",
            "merchant_status_created",
            doc! { "merchantId": 1, "status": 1, "createdAt": -1 },
            false,
        ),
        spec(
            "cashbackrequests",
            "merchant_created",
            doc! { "merchantId": 1, "createdAt": -1 },
            false,
        ),
        spec("stores", "slug_unique", doc! { "slug": 1 }, true),
        spec(
            "stores",
            "merchant_created",
            doc! { "merchantId": 1, "createdAt": 1 },
            false,
        ),
        spec("categories", "slug_unique", doc! { "slug": 1 }, true),
        spec("products", "sku_unique", doc! { "sku": 1 }, true),
        spec("products", "slug_unique", doc! { "slug": 1 }, true),
        spec(
            "products",
            "merchant_created",
            doc! { "merchantId": 1, "createdAt": -1 },
            false,
        ),
        spec(
            "products",
            "merchant_stock",
            doc! { "merchantId": 1, "inventory.stock": 1 },
            false,
        ),
        spec(
            "products",
            "merchant_category",
            doc! { "merchantId": 1, "category": 1 },
            false,
        ),
        // GET /products/{id}/reviews: a store's reviews, newest first.
        spec(
            "reviews",
            "store_created",
            doc! { "store": 1, "createdAt": -1 },
            false,
        ),
        // Orders and notifications are shared with the consumer app, whose driver (Mongoose)
        // names indexes `<field>_<dir>…`: the same names make an index both apps declare a
        // no-op instead of an "already exists with a different name" error.
        // Orders (written by the consumer app): the merchant scope is `items.store`.
        spec("orders", "orderNumber_1", doc! { "orderNumber": 1 }, true),
        spec(
            "orders",
            "items.store_1_createdAt_-1",
            doc! { "items.store": 1, "createdAt": -1 },
            false,
        ),
        spec(
            "orders",
            "items.store_1_status_1",
            doc! { "items.store": 1, "status": 1 },
            false,
        ),
        spec("orders", "createdAt_1", doc! { "createdAt": 1 }, false),
        // Notifications: the inbox query, and one notification per event key and merchant.
        spec(
            "notifications",
            "user_1_deletedAt_1_isArchived_1_isRead_1_createdAt_-1",
            doc! { "user": 1, "deletedAt": 1, "isArchived": 1, "isRead": 1, "createdAt": -1 },
            false,
        ),
        partial_unique(
            "notifications",
            "user_1_dedupeKey_1",
            doc! { "user": 1, "dedupeKey": 1 },
            doc! { "dedupeKey": { "$exists": true } },
        ),
        spec(
            "notifications",
            "dedupeKey_1",
            doc! { "dedupeKey": 1 },
            false,
        ),
        // The contract's TTL on the shared collection (Mongoose's name for it).
        expires_at("notifications", "expiresAt_1", "expiresAt"),
        spec(
            "notificationpreferences",
            "merchantId_1",
            doc! { "merchantId": 1 },
            true,
        ),
        // Analytics inventory status: a store's products by stock.
        spec(
            "products",
            "store_stock",
            doc! { "store": 1, "inventory.stock": 1 },
            false,
        ),
        spec(
            "analyticsexports",
            "merchant_export",
            doc! { "merchantId": 1, "exportId": 1 },
            true,
        ),
        // Finished exports are kept until their `expiresAt` only.
        expires_at("analyticsexports", "expiresAt_ttl", "expiresAt"),
    ]
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

/// NotImplemented: what a wire-compatible server answers to an index option it lacks.
const NOT_IMPLEMENTED: i32 = 238;

/// True when the server does not implement what was asked (an index option, for example).
pub(crate) fn is_not_implemented(e: &mongodb::error::Error) -> bool {
    matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == NOT_IMPLEMENTED)
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
