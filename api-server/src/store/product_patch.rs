//! Product writes from a domain [`ProductPatch`]: the document of a new product, and the `$set`
//! of an update (only the fields the patch names, stock settings as individual paths so variants
//! and reservations are untouched, derived pricing, `isActive` and `isFeatured`).

use mongodb::{
    bson::{Bson, Document, doc, oid::ObjectId},
    options::ReturnDocument,
};

use super::{
    DateTime, Store,
    products::{Inventory, ProductDoc, REVISION, Seo, scope},
};
use crate::domain::{Cashback, Pricing, ProductPatch, ProductPlacement, ProductStatus, Visibility};

impl ProductDoc {
    /// A new product: the patch's fields over the defaults (draft, public, 0 % cashback).
    pub fn new(patch: ProductPatch, at: ProductPlacement) -> Self {
        let status = patch.status.unwrap_or(ProductStatus::Draft);
        let visibility = patch.visibility.unwrap_or(Visibility::Public);
        let now = DateTime::now();
        let (pricing, inventory) = (patch.prices.new_pricing(), new_inventory(&patch));
        Self {
            id: ObjectId::new(),
            name: patch.name.unwrap_or_default(),
            slug: at.slug,
            description: patch.description.unwrap_or_default(),
            short_description: patch.short_description,
            product_type: "product".into(),
            category: at.category,
            subcategory: patch.subcategory,
            shop: at.shop,
            merchant_id: at.merchant,
            brand: patch.brand,
            sku: at.sku.into_string(),
            barcode: patch.barcode,
            images: patch.images.unwrap_or_default(),
            pricing,
            inventory,
            cashback: patch.cashback.unwrap_or(Cashback {
                percentage: 0.0,
                max_amount: None,
                min_purchase: 0.0,
                is_active: true,
            }),
            tags: patch.tags.unwrap_or_default(),
            search_keywords: patch.search_keywords.unwrap_or_default(),
            attributes: patch.attributes.unwrap_or_default(),
            specifications: patch.specifications.unwrap_or_default(),
            seo: Seo {
                title: patch.seo_title,
                description: patch.seo_description,
                keywords: Vec::new(),
            },
            weight: patch.weight,
            dimensions: patch.dimensions,
            status: status.as_str().into(),
            visibility: visibility.as_str().into(),
            is_active: status == ProductStatus::Active,
            is_featured: visibility == Visibility::Featured,
            is_digital: false,
            is_deleted: false,
            created_at: now,
            updated_at: now,
            revision: 1,
        }
    }
}

fn new_inventory(patch: &ProductPatch) -> Inventory {
    let s = &patch.stock;
    Inventory {
        stock: s.stock.unwrap_or(0),
        low_stock_threshold: s.low_stock_threshold.unwrap_or(5),
        track_inventory: s.track_inventory.unwrap_or(true),
        allow_backorder: s.allow_backorder.unwrap_or(false),
        unlimited: s.unlimited.unwrap_or(false),
        reserved_stock: 0,
        variants: Vec::new(),
    }
}

fn put(set: &mut Document, key: &str, value: Option<impl Into<Bson>>) {
    if let Some(v) = value {
        set.insert(key, v.into());
    }
}

fn put_serialized<T: serde::Serialize>(set: &mut Document, key: &str, value: Option<&T>) {
    // Plain structs of numbers and strings: serialising them cannot fail.
    if let Some(v) = value.and_then(|v| mongodb::bson::to_bson(v).ok()) {
        set.insert(key, v);
    }
}

/// The `$set` of an update (without `updatedAt`). `current` is the stored pricing, needed
/// when the patch changes the selling or list price.
pub(crate) fn update_set(patch: &ProductPatch, current: Option<&Pricing>) -> Document {
    let mut set = Document::new();
    let p = patch;
    put(&mut set, "name", p.name.clone());
    put(&mut set, "description", p.description.clone());
    put(&mut set, "shortDescription", p.short_description.clone());
    put(&mut set, "sku", p.sku.as_ref().map(|s| s.as_str()));
    put(&mut set, "barcode", p.barcode.clone());
    put(&mut set, "category", p.category);
    put(&mut set, "subcategory", p.subcategory.clone());
    put(&mut set, "brand", p.brand.clone());
    put(&mut set, "store", p.shop);
    put(&mut set, "status", p.status.map(ProductStatus::as_str));
    put(&mut set, "isActive", p.is_active());
    put(&mut set, "visibility", p.visibility.map(Visibility::as_str));
    put(&mut set, "isFeatured", p.is_featured());
    put(&mut set, "weight", p.weight);
    put(&mut set, "seo.title", p.seo_title.clone());
    put(&mut set, "seo.description", p.seo_description.clone());
    put(&mut set, "tags", p.tags.clone());
    put(&mut set, "searchKeywords", p.search_keywords.clone());
    put(&mut set, "images", p.images.clone());
    put_serialized(&mut set, "dimensions", p.dimensions.as_ref());
    put_serialized(&mut set, "cashback", p.cashback.as_ref());
    put_serialized(&mut set, "attributes", p.attributes.as_ref());
    put_serialized(&mut set, "specifications", p.specifications.as_ref());
    stock_set(&mut set, patch);
    pricing_set(&mut set, patch, current);
    set
}

fn stock_set(set: &mut Document, patch: &ProductPatch) {
    let s = &patch.stock;
    put(set, "inventory.stock", s.stock);
    put(set, "inventory.lowStockThreshold", s.low_stock_threshold);
    put(set, "inventory.trackInventory", s.track_inventory);
    put(set, "inventory.allowBackorder", s.allow_backorder);
    put(set, "inventory.unlimited", s.unlimited);
}

fn pricing_set(set: &mut Document, patch: &ProductPatch, current: Option<&Pricing>) {
    let p = patch.prices.patch(current);
    put(set, "pricing.selling", p.selling);
    put(set, "pricing.original", p.original);
    put(set, "pricing.discount", p.discount);
    put(set, "pricing.cost", p.cost);
    put(set, "pricing.currency", p.currency);
}

/// The whole update document of a patch, stamped `updatedAt`.
pub(crate) fn update_doc(patch: &ProductPatch, current: Option<&Pricing>) -> Document {
    let mut set = update_set(patch, current);
    set.insert("updatedAt", DateTime::now());
    doc! { "$set": set, "$inc": { REVISION: 1 } }
}

/// A product before and after one write: `before` is the document the write replaced
/// (atomically), `after` the document read back right after it.
#[derive(Debug, Clone)]
pub struct Changed {
    /// As the write found it.
    pub before: ProductDoc,
    /// As it is now.
    pub after: ProductDoc,
}

/// The outcome of a write guarded by the client's `If-Match` version.
#[derive(Debug, Clone)]
pub enum Guarded<T> {
    /// Written.
    Applied(T),
    /// The product is at another version now (this one).
    Stale(Box<ProductDoc>),
    /// Not the merchant's product (or deleted meanwhile).
    Gone,
}

/// Compare-and-set attempts of a stock-changing write before it applies unguarded.
pub(crate) const STOCK_CAS_ATTEMPTS: usize = 8;

impl Store {
    /// Apply `patch` to one of the merchant's products; `None` when it is not theirs. `current`
    /// is the product as read (its pricing prices the patch, see [`update_set`]). A patch
    /// that sets the stock only applies while the stock is still the one expected (re-read and
    /// retried otherwise), so [`Changed::before`] holds the stock the write really replaced
    /// and concurrent writers never report the same stock crossing. E11000 on a taken SKU.
    pub async fn update_product(
        &self,
        merchant: ObjectId,
        id: ObjectId,
        patch: &ProductPatch,
        current: &ProductDoc,
    ) -> Result<Option<Changed>, super::WriteError> {
        let mut expected = current.inventory.stock;
        for attempt in 0..=STOCK_CAS_ATTEMPTS {
            let mut f = scope(merchant, id);
            let guarded = patch.stock.stock.is_some() && attempt < STOCK_CAS_ATTEMPTS;
            if guarded {
                f.insert("inventory.stock", expected);
            }
            let before = self
                .products()
                .find_one_and_update(f, update_doc(patch, Some(&current.pricing)))
                .return_document(ReturnDocument::Before)
                .await?;
            if before.is_some() || !guarded {
                let mut changed = self.read_back(before).await?;
                if let Some(c) = changed.as_mut().filter(|_| guarded) {
                    // The filter matched only at this stock.
                    c.before.inventory.stock = expected;
                }
                return Ok(changed);
            }
            match self.product(merchant, id).await? {
                Some(now) => expected = now.inventory.stock,
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Apply `patch` only while the product is still at `version` (the client's `If-Match`):
    /// one attempt, no stock retry, since any other write makes the client's copy stale.
    pub async fn update_product_at(
        &self,
        merchant: ObjectId,
        id: ObjectId,
        patch: &ProductPatch,
        current: &ProductDoc,
        version: &crate::conditional::Version,
    ) -> Result<Guarded<Changed>, super::WriteError> {
        let mut f = scope(merchant, id);
        f.extend(version.filter());
        let before = self
            .products()
            .find_one_and_update(f, update_doc(patch, Some(&current.pricing)))
            .return_document(ReturnDocument::Before)
            .await?;
        if let Some(changed) = self.read_back(before).await? {
            return Ok(Guarded::Applied(changed));
        }
        Ok(self.why_not(merchant, id).await?)
    }

    /// Delete one of the merchant's products only while it is at `version`.
    pub async fn take_product_at(
        &self,
        merchant: ObjectId,
        id: ObjectId,
        version: &crate::conditional::Version,
    ) -> mongodb::error::Result<Guarded<ProductDoc>> {
        let mut f = scope(merchant, id);
        f.extend(version.filter());
        match self.products().find_one_and_delete(f).await? {
            Some(taken) => Ok(Guarded::Applied(taken)),
            None => self.why_not(merchant, id).await,
        }
    }

    /// Why a guarded write matched nothing: the product moved on, or it is gone.
    async fn why_not<T>(
        &self,
        merchant: ObjectId,
        id: ObjectId,
    ) -> mongodb::error::Result<Guarded<T>> {
        Ok(match self.product(merchant, id).await? {
            Some(now) => Guarded::Stale(Box::new(now)),
            None => Guarded::Gone,
        })
    }

    /// Pair the document a write replaced with the document as it is now.
    pub(crate) async fn read_back(
        &self,
        before: Option<ProductDoc>,
    ) -> mongodb::error::Result<Option<Changed>> {
        let Some(before) = before else {
            return Ok(None);
        };
        let after = self.products().find_one(doc! { "_id": before.id }).await?;
        Ok(after.map(|after| Changed { before, after }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PriceInput, StockPatch};

    #[test]
    fn an_update_sets_only_the_fields_sent_and_what_follows_from_them() {
        let patch = ProductPatch {
            status: Some(ProductStatus::Active),
            visibility: Some(Visibility::Featured),
            stock: StockPatch {
                stock: Some(3),
                ..StockPatch::default()
            },
            ..ProductPatch::default()
        };
        let set = update_set(&patch, None);
        assert_eq!(set.get_str("status"), Ok("active"));
        assert_eq!(set.get_bool("isActive"), Ok(true));
        assert_eq!(set.get_bool("isFeatured"), Ok(true));
        assert_eq!(set.get_i64("inventory.stock"), Ok(3));
        assert_eq!(set.len(), 5);
    }

    #[test]
    fn a_new_product_takes_the_defaults_for_what_was_not_sent() {
        let patch = ProductPatch {
            name: Some("Tee".into()),
            prices: PriceInput {
                selling: Some(5.0),
                ..PriceInput::default()
            },
            ..ProductPatch::default()
        };
        let at = ProductPlacement {
            merchant: ObjectId::new(),
            shop: ObjectId::new(),
            category: ObjectId::new(),
            sku: crate::domain::Sku::parse("TEE-1").unwrap_or_default(),
            slug: "tee".into(),
        };
        let p = ProductDoc::new(patch, at);
        assert_eq!(
            (p.status.as_str(), p.visibility.as_str()),
            ("draft", "public")
        );
        assert!(!p.is_active && !p.is_featured);
        assert_eq!(p.inventory.low_stock_threshold, 5);
        assert_eq!(p.pricing.original, 5.0);
    }
}
