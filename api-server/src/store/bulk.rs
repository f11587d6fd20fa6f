//! Bulk access to the `products` collection for import, update and export: which SKUs are
//! taken, all-or-nothing insertion and update of many products, the merchant's whole
//! catalogue, category names.

use std::collections::{HashMap, HashSet};

use futures::TryStreamExt;
use mongodb::{
    ClientSession,
    bson::{Document, doc, oid::ObjectId},
    error::{Error, ErrorKind},
    options::ReturnDocument,
};

use super::{
    Store,
    product_patch::{STOCK_CAS_ATTEMPTS, update_doc},
    products::ProductDoc,
};
use crate::domain::ProductPatch;

/// IllegalOperation: what a standalone server answers to a transaction.
const ILLEGAL_OPERATION: i32 = 20;

/// True when the deployment cannot run transactions: a standalone MongoDB (IllegalOperation,
/// "Transaction numbers are only allowed on a replica set member or mongos") or a wire-compatible
/// server that does not know the field (FerretDB v1: FailedToParse, unknown `startTransaction`).
fn transactions_unsupported(e: &Error) -> bool {
    match &*e.kind {
        ErrorKind::Command(c) => {
            c.code == ILLEGAL_OPERATION
                || c.message.contains("startTransaction")
                || c.message.contains("Transaction numbers")
        }
        ErrorKind::Transaction { message, .. } => message.contains("not supported"),
        _ => false,
    }
}

impl Store {
    /// The subset of `skus` already used by any product (SKUs are globally unique).
    pub async fn existing_skus(&self, skus: &[String]) -> mongodb::error::Result<HashSet<String>> {
        if skus.is_empty() {
            return Ok(HashSet::new());
        }
        let docs: Vec<Document> = self
            .products()
            .clone_with_type::<Document>()
            .find(doc! { "sku": { "$in": skus } })
            .projection(doc! { "sku": 1, "_id": 0 })
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| d.get_str("sku").ok().map(str::to_string))
            .collect())
    }

    /// Insert every product or none: in a transaction where the deployment supports one (replica
    /// sets, mongos), otherwise by inserting and deleting what was inserted when any insert fails.
    pub async fn insert_products_atomically(
        &self,
        products: &[ProductDoc],
    ) -> Result<(), super::WriteError> {
        Ok(self.insert_all_or_none(products).await?)
    }

    async fn insert_all_or_none(&self, products: &[ProductDoc]) -> mongodb::error::Result<()> {
        if products.is_empty() {
            return Ok(());
        }
        let mut session = self.client().start_session().await?;
        if let Err(e) = session.start_transaction().await {
            return if transactions_unsupported(&e) {
                self.insert_or_compensate(products).await
            } else {
                Err(e)
            };
        }
        let inserted = self
            .products()
            .insert_many(products)
            .session(&mut session)
            .await;
        match inserted {
            Ok(_) => session.commit_transaction().await,
            Err(e) => {
                let _ = session.abort_transaction().await;
                if transactions_unsupported(&e) {
                    self.insert_or_compensate(products).await
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn insert_or_compensate(&self, products: &[ProductDoc]) -> mongodb::error::Result<()> {
        tracing::warn!("transactions unsupported: importing with compensation on failure");
        let Err(e) = self.products().insert_many(products).await else {
            return Ok(());
        };
        let ids: Vec<ObjectId> = products.iter().map(|p| p.id).collect();
        if let Err(cleanup) = self
            .products()
            .delete_many(doc! { "_id": { "$in": ids } })
            .await
        {
            tracing::error!(error = %cleanup, "failed to remove a partial import");
        }
        Err(e)
    }

    /// Every live product of the merchant, oldest first.
    pub async fn all_products(
        &self,
        merchant: ObjectId,
    ) -> mongodb::error::Result<Vec<ProductDoc>> {
        self.products()
            .find(doc! { "merchantId": merchant, "isDeleted": { "$ne": true } })
            .sort(doc! { "createdAt": 1, "_id": 1 })
            .await?
            .try_collect()
            .await
    }

    /// Names of the given categories.
    pub async fn category_names(
        &self,
        ids: &[ObjectId],
    ) -> mongodb::error::Result<HashMap<ObjectId, String>> {
        let found: Vec<super::categories::CategoryDoc> = self
            .categories()
            .find(doc! { "_id": { "$in": ids } })
            .await?
            .try_collect()
            .await?;
        Ok(found.into_iter().map(|c| (c.id, c.name)).collect())
    }
}

impl Store {
    /// The merchant's live products with these SKUs.
    pub async fn products_by_skus(
        &self,
        merchant: ObjectId,
        skus: &[String],
    ) -> mongodb::error::Result<Vec<ProductDoc>> {
        if skus.is_empty() {
            return Ok(Vec::new());
        }
        self.products()
            .find(doc! { "merchantId": merchant, "sku": { "$in": skus }, "isDeleted": { "$ne": true } })
            .await?
            .try_collect()
            .await
    }

    /// Apply every patch (priced against the product's stored pricing) or none: in a transaction where supported, otherwise one by one,
    /// restoring the products' previous documents if any update fails. Returns each updated
    /// product as the write found it (for stock crossings), with its patch's index.
    pub async fn update_products_atomically(
        &self,
        merchant: ObjectId,
        updates: &[(ProductDoc, ProductPatch)],
    ) -> mongodb::error::Result<Vec<(usize, ProductDoc)>> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let mut session = self.client().start_session().await?;
        if let Err(e) = session.start_transaction().await {
            return if transactions_unsupported(&e) {
                self.update_or_restore(merchant, updates).await
            } else {
                Err(e)
            };
        }
        let mut replaced = Vec::with_capacity(updates.len());
        for (i, (before, patch)) in updates.iter().enumerate() {
            let r = self
                .update_row(merchant, before, patch, Some(&mut session))
                .await;
            match r {
                Ok(found) => replaced.extend(found.map(|p| (i, p))),
                Err(e) => {
                    let _ = session.abort_transaction().await;
                    return if transactions_unsupported(&e) {
                        self.update_or_restore(merchant, updates).await
                    } else {
                        Err(e)
                    };
                }
            }
        }
        session.commit_transaction().await?;
        Ok(replaced)
    }

    async fn update_or_restore(
        &self,
        merchant: ObjectId,
        updates: &[(ProductDoc, ProductPatch)],
    ) -> mongodb::error::Result<Vec<(usize, ProductDoc)>> {
        tracing::warn!("transactions unsupported: applying bulk update with rollback on failure");
        let mut replaced = Vec::with_capacity(updates.len());
        for (i, (before, patch)) in updates.iter().enumerate() {
            let r = self.update_row(merchant, before, patch, None).await;
            match r {
                Ok(found) => replaced.extend(found.map(|p| (i, p))),
                Err(e) => {
                    for (done, _) in &updates[..i] {
                        if let Err(restore) = self
                            .products()
                            .replace_one(update_filter(merchant, done), done)
                            .await
                        {
                            tracing::error!(error = %restore, product = %done.id, "failed to restore a product after a failed bulk update");
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(replaced)
    }

    /// Apply one row's patch (in `session` when given). A row that sets the stock writes only
    /// while the stock is still what was read: on a miss it re-reads and retries, and the last
    /// attempt writes unguarded. The document replaced, with the stock the write matched.
    async fn update_row(
        &self,
        merchant: ObjectId,
        before: &ProductDoc,
        patch: &ProductPatch,
        mut session: Option<&mut ClientSession>,
    ) -> mongodb::error::Result<Option<ProductDoc>> {
        let products = self.products();
        let mut expected = before.inventory.stock;
        for attempt in 0..=STOCK_CAS_ATTEMPTS {
            let guarded = patch.stock.stock.is_some() && attempt < STOCK_CAS_ATTEMPTS;
            let update = products
                .find_one_and_update(
                    stock_filter(merchant, before, guarded.then_some(expected)),
                    update_doc(patch, Some(&before.pricing)),
                )
                .return_document(ReturnDocument::Before);
            let found = match session.as_deref_mut() {
                Some(s) => update.session(s).await?,
                None => update.await?,
            };
            if found.is_some() || !guarded {
                return Ok(found.map(|p| replaced_at(p, guarded.then_some(expected))));
            }
            let read = products.find_one(update_filter(merchant, before));
            let now = match session.as_deref_mut() {
                Some(s) => read.session(s).await?,
                None => read.await?,
            };
            match now {
                Some(now) => expected = now.inventory.stock,
                None => return Ok(None),
            }
        }
        Ok(None)
    }
}

fn update_filter(merchant: ObjectId, product: &ProductDoc) -> Document {
    doc! { "_id": product.id, "merchantId": merchant }
}

/// [`update_filter`], matching only while the stock is `expected` when given (a row that sets
/// the stock must know the stock it replaces: see `Store::update_product`).
fn stock_filter(merchant: ObjectId, product: &ProductDoc, expected: Option<i64>) -> Document {
    let mut f = update_filter(merchant, product);
    if let Some(stock) = expected {
        f.insert("inventory.stock", stock);
    }
    f
}

/// The document a guarded write replaced, with the stock its filter matched.
fn replaced_at(mut before: ProductDoc, expected: Option<i64>) -> ProductDoc {
    if let Some(stock) = expected {
        before.inventory.stock = stock;
    }
    before
}
