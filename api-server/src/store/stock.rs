//! Stock and variants of `products`: single-document conditional updates (a decrement matches
//! only while enough units remain, unless backorders are allowed), variant array updates through
//! array filters, and the low-stock query.

use futures::TryStreamExt;
use mongodb::{
    bson::{Bson, Document, doc, oid::ObjectId},
    options::ReturnDocument,
};

use super::{
    DateTime, Store,
    product_patch::{Changed, STOCK_CAS_ATTEMPTS},
    products::{ProductDoc, REVISION, VariantDoc, scope},
};
use crate::domain::{Sku, VariantPatch};

/// Outcome of a conditional stock change.
#[derive(Debug)]
pub enum StockChange {
    /// Applied; the product after the change.
    Applied(Box<ProductDoc>),
    /// Not enough units (the product exists).
    Insufficient,
    /// No such product or variant for this merchant.
    NotFound,
}

impl Store {
    /// Add `delta` units to a product's stock in one conditional update: a decrement only
    /// matches when enough stock remains, unless backorders are allowed.
    pub async fn adjust_stock(
        &self,
        merchant: ObjectId,
        id: ObjectId,
        delta: i64,
    ) -> mongodb::error::Result<StockChange> {
        let mut f = scope(merchant, id);
        if delta < 0 {
            f.insert(
                "$or",
                vec![
                    Bson::Document(doc! { "inventory.stock": { "$gte": -delta } }),
                    Bson::Document(doc! { "inventory.allowBackorder": true }),
                ],
            );
        }
        let update = doc! { "$inc": { "inventory.stock": delta, REVISION: 1 }, "$set": { "updatedAt": DateTime::now() } };
        let after = self
            .products()
            .find_one_and_update(f, update)
            .return_document(ReturnDocument::After)
            .await?;
        self.stock_outcome(merchant, id, after).await
    }

    /// Like [`Store::adjust_stock`] for one variant (matched with an array filter).
    pub async fn adjust_variant_stock(
        &self,
        merchant: ObjectId,
        id: ObjectId,
        variant: &str,
        delta: i64,
    ) -> mongodb::error::Result<StockChange> {
        let mut f = scope(merchant, id);
        let mut elem = doc! { "variantId": variant };
        if delta < 0 {
            elem.insert("stock", doc! { "$gte": -delta });
            f.insert("$or", vec![
                Bson::Document(doc! { "inventory.variants": { "$elemMatch": elem } }),
                Bson::Document(doc! { "inventory.allowBackorder": true, "inventory.variants.variantId": variant }),
            ]);
        } else {
            f.insert("inventory.variants.variantId", variant);
        }
        let update = doc! { "$inc": { "inventory.variants.$[v].stock": delta, REVISION: 1 }, "$set": { "updatedAt": DateTime::now() } };
        let after = self
            .products()
            .find_one_and_update(f, update)
            .array_filters(vec![doc! { "v.variantId": variant }])
            .return_document(ReturnDocument::After)
            .await?;
        match after {
            Some(p) => Ok(StockChange::Applied(Box::new(p))),
            None => {
                let exists = self.products().find_one(doc! {
                    "_id": id, "merchantId": merchant, "isDeleted": { "$ne": true }, "inventory.variants.variantId": variant,
                }).await?;
                Ok(if exists.is_some() {
                    StockChange::Insufficient
                } else {
                    StockChange::NotFound
                })
            }
        }
    }

    async fn stock_outcome(
        &self,
        merchant: ObjectId,
        id: ObjectId,
        after: Option<ProductDoc>,
    ) -> mongodb::error::Result<StockChange> {
        match after {
            Some(p) => Ok(StockChange::Applied(Box::new(p))),
            None if self.product(merchant, id).await?.is_some() => Ok(StockChange::Insufficient),
            None => Ok(StockChange::NotFound),
        }
    }

    /// Products (of one store when given) at or below `threshold` units (or their own
    /// low-stock threshold when `None`), ascending by stock; unlimited products are excluded.
    pub async fn low_stock(
        &self,
        merchant: ObjectId,
        store: Option<ObjectId>,
        threshold: Option<i64>,
        limit: i64,
    ) -> mongodb::error::Result<Vec<ProductDoc>> {
        let mut f = doc! { "merchantId": merchant, "isDeleted": { "$ne": true }, "inventory.unlimited": { "$ne": true } };
        if let Some(s) = store {
            f.insert("store", s);
        }
        match threshold {
            Some(t) => {
                f.insert("inventory.stock", doc! { "$lte": t });
            }
            None => {
                f.insert(
                    "$expr",
                    doc! { "$lte": ["$inventory.stock", "$inventory.lowStockThreshold"] },
                );
            }
        }
        self.products()
            .find(f)
            .sort(doc! { "inventory.stock": 1, "_id": 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await
    }

    /// Append a variant unless its SKU is already used in the product. `None` when the product
    /// is not the merchant's or the SKU is taken (the caller tells which).
    pub async fn push_variant(
        &self,
        merchant: ObjectId,
        id: ObjectId,
        variant: &VariantDoc,
    ) -> mongodb::error::Result<Option<ProductDoc>> {
        let mut f = scope(merchant, id);
        if let Some(sku) = &variant.sku {
            f.insert("inventory.variants.sku", doc! { "$ne": sku });
        }
        let v = mongodb::bson::to_bson(variant)?;
        self.products()
            .find_one_and_update(f, doc! { "$push": { "inventory.variants": v }, "$set": { "updatedAt": DateTime::now() }, "$inc": { REVISION: 1 } })
            .return_document(ReturnDocument::After)
            .await
    }

    /// Apply `patch` to one variant of the merchant's product; the product before and after.
    /// Like [`Store::update_product`], a patch setting the stock applies only while the
    /// variant's stock is the one expected (re-read from `current` on), so `before` holds the
    /// stock the write really replaced.
    pub async fn update_variant(
        &self,
        merchant: ObjectId,
        current: &ProductDoc,
        variant: &str,
        patch: &VariantPatch,
    ) -> mongodb::error::Result<Option<Changed>> {
        let id = current.id;
        let mut expected = current.variant_stock(variant);
        let mut set: Document = variant_fields(patch)
            .into_iter()
            .map(|(k, v)| (format!("inventory.variants.$[v].{k}"), v))
            .collect();
        set.insert("updatedAt", DateTime::now());
        for attempt in 0..=STOCK_CAS_ATTEMPTS {
            let mut f = scope(merchant, id);
            let guard = expected.filter(|_| patch.stock.is_some() && attempt < STOCK_CAS_ATTEMPTS);
            match guard {
                Some(stock) => f.insert(
                    "inventory.variants",
                    doc! { "$elemMatch": { "variantId": variant, "stock": stock } },
                ),
                None => f.insert("inventory.variants.variantId", variant),
            };
            let before = self
                .products()
                .find_one_and_update(f, doc! { "$set": set.clone(), "$inc": { REVISION: 1 } })
                .array_filters(vec![doc! { "v.variantId": variant }])
                .return_document(ReturnDocument::Before)
                .await?;
            if before.is_some() || guard.is_none() {
                let mut changed = self.read_back(before).await?;
                if let (Some(c), Some(stock)) = (changed.as_mut(), guard) {
                    // The filter matched only at this stock.
                    for v in c.before.inventory.variants.iter_mut() {
                        if v.variant_id == variant {
                            v.stock = stock;
                        }
                    }
                }
                return Ok(changed);
            }
            match self.product(merchant, id).await? {
                Some(now) => expected = now.variant_stock(variant),
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Remove one variant; false when there was no such variant on the merchant's product.
    pub async fn delete_variant(
        &self,
        merchant: ObjectId,
        id: ObjectId,
        variant: &str,
    ) -> mongodb::error::Result<bool> {
        let mut f = scope(merchant, id);
        f.insert("inventory.variants.variantId", variant);
        let r = self
            .products()
            .update_one(f, doc! { "$pull": { "inventory.variants": { "variantId": variant } }, "$set": { "updatedAt": DateTime::now() }, "$inc": { REVISION: 1 } })
            .await?;
        Ok(r.matched_count == 1)
    }
}
/// The fields a variant patch sets (keys relative to the variant).
fn variant_fields(p: &VariantPatch) -> Document {
    let attributes = p.attributes.as_ref().map(|a| {
        a.as_map()
            .iter()
            .map(|(k, v)| (k.clone(), Bson::from(v.clone())))
            .collect::<Document>()
    });
    let pairs: [(&str, Option<Bson>); 11] = [
        ("value", p.value.clone().map(Bson::from)),
        ("type", p.kind.clone().map(Bson::from)),
        ("stock", p.stock.map(Bson::from)),
        ("price", p.price.map(Bson::from)),
        ("compareAtPrice", p.compare_at_price.map(Bson::from)),
        ("sku", p.sku.as_ref().map(|s| Bson::from(s.as_str()))),
        ("barcode", p.barcode.clone().map(Bson::from)),
        ("weight", p.weight.map(Bson::from)),
        ("images", p.images.clone().map(Bson::from)),
        ("isAvailable", p.is_available.map(Bson::from)),
        ("attributes", attributes.map(Bson::Document)),
    ];
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect()
}

impl VariantDoc {
    /// A new variant with a fresh id: the patch's fields over the defaults (kind `option`,
    /// no stock, available).
    pub fn new(p: VariantPatch) -> Self {
        Self {
            variant_id: ObjectId::new().to_hex(),
            kind: p.kind.unwrap_or_else(|| "option".into()),
            value: p.value.unwrap_or_default(),
            attributes: p.attributes.unwrap_or_default(),
            price: p.price,
            compare_at_price: p.compare_at_price,
            stock: p.stock.unwrap_or(0),
            sku: p.sku.map(Sku::into_string),
            images: p.images.unwrap_or_default(),
            barcode: p.barcode,
            weight: p.weight,
            is_available: p.is_available.unwrap_or(true),
        }
    }
}
