//! The `products` collection: catalogue documents with embedded variants. Every query is
//! scoped by `merchantId`; stock changes are single-document conditional updates.

use mongodb::bson::{Bson, Document, doc, oid::ObjectId};
use serde::{Deserialize, Serialize};

use super::{
    DateTime, Store,
    keyset::{self, Listing, Sort, Window},
};
use crate::domain::{Attributes, Specifications, StockLevel, StockLine};
pub use crate::domain::{Cashback, Dimensions, Pricing};

/// A product variant (`inventory.variants[]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ProductVariant)]
#[serde(rename_all = "camelCase")]
pub struct VariantDoc {
    /// Stable id (24-hex).
    pub variant_id: String,
    /// Option kind, e.g. `size`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Option value, e.g. `XL`.
    pub value: String,
    /// Extra attributes (documents holding the older list form read too).
    #[serde(default)]
    pub attributes: Attributes,
    /// Price override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    /// Compare-at price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare_at_price: Option<f64>,
    /// Units on hand.
    pub stock: i64,
    /// Upper-cased SKU, unique within the product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// Image URLs.
    #[serde(default)]
    pub images: Vec<String>,
    /// Barcode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
    /// Weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// Sellable.
    #[serde(default = "yes")]
    pub is_available: bool,
}

/// Stock state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ProductInventory)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// Units on hand (may go negative only with backorders).
    pub stock: i64,
    /// At or below this the product is low on stock.
    #[serde(default = "five")]
    pub low_stock_threshold: i64,
    /// Track stock at all.
    #[serde(default = "yes")]
    pub track_inventory: bool,
    /// Allow selling below zero.
    #[serde(default)]
    pub allow_backorder: bool,
    /// Never runs out.
    #[serde(default)]
    pub unlimited: bool,
    /// Reserved by open orders.
    #[serde(default)]
    pub reserved_stock: i64,
    /// Variants.
    #[serde(default)]
    pub variants: Vec<VariantDoc>,
}

/// Search-engine metadata.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ProductSeo)]
pub struct Seo {
    /// Title (≤60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description (≤160).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Keywords.
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// The product field every write of this service increments (see [`ProductDoc::revision`]).
pub const REVISION: &str = "revision";

/// A catalogue product.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductDoc {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Name.
    pub name: String,
    /// Unique slug.
    pub slug: String,
    /// Description.
    pub description: String,
    /// Short description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_description: Option<String>,
    /// product | service.
    #[serde(default = "product")]
    pub product_type: String,
    /// Category.
    pub category: ObjectId,
    /// Sub-category label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subcategory: Option<String>,
    /// The merchant's shop the product is listed in.
    #[serde(rename = "store")]
    pub shop: ObjectId,
    /// Owning merchant.
    pub merchant_id: ObjectId,
    /// Brand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// Upper-cased, globally unique SKU.
    pub sku: String,
    /// Barcode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
    /// Image URLs.
    #[serde(default)]
    pub images: Vec<String>,
    /// Prices.
    pub pricing: Pricing,
    /// Stock.
    pub inventory: Inventory,
    /// Cashback.
    #[serde(default)]
    pub cashback: Cashback,
    /// Lower-cased tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Extra search words.
    #[serde(default)]
    pub search_keywords: Vec<String>,
    /// Attributes (`{name: value}`; the older list form reads too).
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
    /// Specifications (`[{key, value, group}]`; an object reads too).
    #[serde(default, skip_serializing_if = "Specifications::is_empty")]
    pub specifications: Specifications,
    /// SEO.
    #[serde(default)]
    pub seo: Seo,
    /// Weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// Dimensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<Dimensions>,
    /// active | inactive | draft | archived (stored, unlike the peer).
    pub status: String,
    /// public | hidden | featured.
    pub visibility: String,
    /// `status == active`.
    pub is_active: bool,
    /// Featured.
    #[serde(default)]
    pub is_featured: bool,
    /// Digital good.
    #[serde(default)]
    pub is_digital: bool,
    /// Soft-deleted (always excluded).
    #[serde(default)]
    pub is_deleted: bool,
    /// Created.
    pub created_at: DateTime,
    /// Updated.
    pub updated_at: DateTime,
    /// Bumped by every write of this service (`$inc` next to each `updatedAt`); 0 on documents
    /// no write of ours has touched yet. With `updatedAt` it makes the ETag.
    #[serde(default)]
    pub revision: i64,
}

impl ProductDoc {
    /// The product's stock settings with `stock` units on its line (the product's own units,
    /// or a variant's, which share the product's threshold).
    pub fn stock_line(&self, stock: i64) -> StockLine {
        StockLine {
            stock,
            threshold: self.inventory.low_stock_threshold,
            unlimited: self.inventory.unlimited,
        }
    }

    /// A variant's units.
    pub fn variant_stock(&self, variant: &str) -> Option<i64> {
        self.inventory
            .variants
            .iter()
            .find(|v| v.variant_id == variant)
            .map(|v| v.stock)
    }
}

fn yes() -> bool {
    true
}

fn five() -> i64 {
    5
}

fn product() -> String {
    "product".into()
}

/// List filters (all optional).
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// Case-insensitive substring of name, description, brand or a tag.
    pub search: Option<String>,
    /// Category id.
    pub category: Option<ObjectId>,
    /// Status.
    pub status: Option<&'static str>,
    /// Visibility.
    pub visibility: Option<&'static str>,
    /// Stock level.
    pub stock_level: Option<StockLevel>,
    /// Store id (already checked to be owned).
    pub store: Option<ObjectId>,
}

/// Sort and page.
#[derive(Debug, Clone)]
pub struct ListOptions {
    /// Stored field and direction (then `_id`).
    pub sort: Sort,
    /// 1-based page.
    pub page: u64,
    /// Page size.
    pub limit: i64,
}

/// Escape regex metacharacters of user text for a `$regex` match (no regex injection).
pub(crate) fn escape_regex(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\^$.|?*+()[]{}".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// Filter of one live product of one merchant.
pub(super) fn scope(merchant: ObjectId, id: ObjectId) -> Document {
    doc! { "_id": id, "merchantId": merchant, "isDeleted": { "$ne": true } }
}

impl ProductFilter {
    fn to_document(&self, merchant: ObjectId) -> Document {
        let mut f = doc! { "merchantId": merchant, "isDeleted": { "$ne": true } };
        let mut and: Vec<Bson> = Vec::new();
        if let Some(q) = self.search.as_deref().filter(|q| !q.trim().is_empty()) {
            let re = doc! { "$regex": escape_regex(q.trim()), "$options": "i" };
            and.push(Bson::Document(doc! { "$or": [
                { "name": re.clone() }, { "description": re.clone() }, { "brand": re.clone() }, { "tags": re },
            ] }));
        }
        if let Some(c) = self.category {
            f.insert("category", c);
        }
        if let Some(s) = self.status {
            f.insert("status", s);
        }
        if let Some(v) = self.visibility {
            f.insert("visibility", v);
        }
        if let Some(s) = self.store {
            f.insert("store", s);
        }
        match self.stock_level {
            Some(StockLevel::InStock) => and.push(Bson::Document(doc! { "$or": [
                { "inventory.stock": { "$gt": 0 } }, { "inventory.unlimited": true },
            ] })),
            Some(StockLevel::OutOfStock) => {
                f.insert("inventory.stock", doc! { "$lte": 0 });
                f.insert("inventory.unlimited", doc! { "$ne": true });
            }
            Some(StockLevel::LowStock) => {
                f.insert("inventory.stock", doc! { "$gt": 0 });
                f.insert("inventory.unlimited", doc! { "$ne": true });
                f.insert(
                    "$expr",
                    doc! { "$lte": ["$inventory.stock", "$inventory.lowStockThreshold"] },
                );
            }
            Some(StockLevel::All) | None => {}
        }
        if !and.is_empty() {
            f.insert("$and", and);
        }
        f
    }
}

impl Store {
    /// Insert a product (E11000 on a taken SKU or slug).
    pub async fn insert_product(&self, product: &ProductDoc) -> Result<(), super::WriteError> {
        self.products().insert_one(product).await?;
        Ok(())
    }

    /// True when any product (of any merchant) has this SKU.
    pub async fn sku_taken(
        &self,
        sku: &str,
        except: Option<ObjectId>,
    ) -> mongodb::error::Result<bool> {
        let mut f = doc! { "sku": sku };
        if let Some(id) = except {
            f.insert("_id", doc! { "$ne": id });
        }
        let ids = self.products().clone_with_type::<Document>();
        Ok(ids
            .find_one(f)
            .projection(doc! { "_id": 1 })
            .await?
            .is_some())
    }

    /// One of the merchant's products.
    pub async fn product(
        &self,
        merchant: ObjectId,
        id: ObjectId,
    ) -> mongodb::error::Result<Option<ProductDoc>> {
        self.products().find_one(scope(merchant, id)).await
    }

    /// A window of the merchant's products (a page or a keyset window), counted when asked.
    pub async fn list_products(
        &self,
        merchant: ObjectId,
        filter: &ProductFilter,
        opts: &ListOptions,
        window: &Window,
        count: bool,
    ) -> mongodb::error::Result<Listing<ProductDoc>> {
        let f = filter.to_document(merchant);
        keyset::list(&self.products(), f, opts.sort, window, opts.limit, count).await
    }

    /// Hard-delete one of the merchant's products; false when it is not theirs.
    pub async fn delete_product(
        &self,
        merchant: ObjectId,
        id: ObjectId,
    ) -> mongodb::error::Result<bool> {
        let r = self
            .products()
            .delete_one(doc! { "_id": id, "merchantId": merchant })
            .await?;
        Ok(r.deleted_count == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_metacharacters_are_escaped() {
        assert_eq!(escape_regex("a.b*(c)"), "a\\.b\\*\\(c\\)");
        assert_eq!(escape_regex("a.b*"), "a\\.b\\*");
    }

    #[test]
    fn filters_are_always_scoped_to_the_merchant() {
        let m = ObjectId::new();
        let f = ProductFilter {
            stock_level: Some(StockLevel::OutOfStock),
            ..Default::default()
        }
        .to_document(m);
        assert_eq!(f.get_object_id("merchantId").ok(), Some(m));
        assert!(f.contains_key("inventory.stock"));
    }
}
