//! Every index the queries need, in one list: created at start-up (idempotent) and by
//! migration 2, dropped by its `down`.

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
}

fn spec(collection: &'static str, name: &'static str, keys: Document, unique: bool) -> IndexSpec {
    IndexSpec {
        collection,
        name,
        keys,
        unique,
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
    ]
}

impl Store {
    /// Create every catalogue index (no-op for existing ones).
    pub async fn ensure_indexes(&self) -> mongodb::error::Result<()> {
        for s in catalogue() {
            let options = IndexOptions::builder()
                .name(s.name.to_string())
                .unique(s.unique.then_some(true))
                .build();
            let model = IndexModel::builder().keys(s.keys).options(options).build();
            self.db()
                .collection::<Document>(s.collection)
                .create_index(model)
                .await?;
        }
        Ok(())
    }

    /// Drop every catalogue index that exists.
    pub async fn drop_indexes(&self) -> mongodb::error::Result<()> {
        for s in catalogue() {
            let coll = self.db().collection::<Document>(s.collection);
            let names = coll.list_index_names().await.unwrap_or_default();
            if names.iter().any(|n| n == s.name) {
                coll.drop_index(s.name).await?;
            }
        }
        Ok(())
    }
}
