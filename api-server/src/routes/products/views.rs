//! The product as clients read it: [`ProductView`] borrows a stored [`ProductDoc`] and renders
//! the stored fields (`_id` and ids as 24-hex, dates as ISO text, unset optional fields left
//! out) plus `id`, `inventory.isAvailable`, `inventory.availableStock` and the virtuals `discountPercentage`, `isLowStock`,
//! `isOutOfStock`. Handlers return the owning [`Product`] / [`ProductPage`], which serialise
//! through the view, so nothing goes through a `serde_json::Value`.

use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use crate::{
    domain::{Attributes, Cashback, Dimensions, Pricing, Specifications},
    routes::cursor::Standing,
    store::{
        DateTime, ObjectId,
        categories::CategoryDoc,
        json::{hex, iso_text},
        keyset::{Listing, Window},
        products::{Inventory, ProductDoc, Seo},
        shops::ShopDoc,
    },
};

/// A product: the stored document with its computed fields.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductView<'a> {
    /// Id (24-hex), as stored.
    #[serde(rename = "_id", serialize_with = "hex")]
    #[schema(value_type = String)]
    pub stored_id: &'a ObjectId,
    /// Id (24-hex), the same as `_id`.
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String)]
    pub id: &'a ObjectId,
    /// Name.
    pub name: &'a str,
    /// Unique slug.
    pub slug: &'a str,
    /// Description.
    pub description: &'a str,
    /// Short description (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_description: Option<&'a str>,
    /// product | service.
    pub product_type: &'a str,
    /// Category id (24-hex); `{_id, name}` on `GET /products/{id}`.
    pub category: CategoryField<'a>,
    /// Sub-category label (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subcategory: Option<&'a str>,
    /// Store id (24-hex); `{_id, name, logo}` on `GET /products/{id}`.
    pub store: StoreField<'a>,
    /// Owning merchant (24-hex).
    #[serde(serialize_with = "hex")]
    #[schema(value_type = String)]
    pub merchant_id: &'a ObjectId,
    /// Brand (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand: Option<&'a str>,
    /// Upper-cased, globally unique SKU.
    pub sku: &'a str,
    /// Barcode (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub barcode: Option<&'a str>,
    /// Image URLs.
    pub images: &'a [String],
    /// Prices.
    pub pricing: &'a Pricing,
    /// Stock, with `isAvailable`.
    pub inventory: InventoryView<'a>,
    /// Cashback.
    pub cashback: &'a Cashback,
    /// Lower-cased tags.
    pub tags: &'a [String],
    /// Extra search words.
    pub search_keywords: &'a [String],
    /// Attributes by name (absent when there are none).
    #[serde(skip_serializing_if = "Attributes::is_empty")]
    pub attributes: &'a Attributes,
    /// Specifications (absent when there are none).
    #[serde(skip_serializing_if = "Specifications::is_empty")]
    pub specifications: &'a Specifications,
    /// SEO.
    pub seo: &'a Seo,
    /// Weight (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// Dimensions (absent when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Dimensions, required = false)]
    pub dimensions: Option<&'a Dimensions>,
    /// active | inactive | draft | archived.
    pub status: &'a str,
    /// public | hidden | featured.
    pub visibility: &'a str,
    /// `status == active`.
    pub is_active: bool,
    /// Featured.
    pub is_featured: bool,
    /// Digital good.
    pub is_digital: bool,
    /// Soft-deleted (always false here).
    pub is_deleted: bool,
    /// Created (ISO 8601).
    #[serde(serialize_with = "iso_text")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: &'a DateTime,
    /// Updated (ISO 8601).
    #[serde(serialize_with = "iso_text")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: &'a DateTime,
    /// Writes so far: with `updatedAt` the version the `ETag` names (0 before any write of
    /// this service).
    pub revision: i64,
    /// `pricing.discount`.
    pub discount_percentage: f64,
    /// In stock at or below the low-stock threshold.
    pub is_low_stock: bool,
    /// No stock left (never for unlimited products).
    pub is_out_of_stock: bool,
}

/// The stored stock state plus `isAvailable`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryView<'a> {
    /// The stored fields.
    #[serde(flatten)]
    pub stored: &'a Inventory,
    /// Unlimited, in stock, or sellable on backorder.
    pub is_available: bool,
    /// Units on hand less those reserved (`stock - reservedStock`).
    pub available_stock: i64,
}

/// A product's category: its id, or the populated `{_id, name}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CategoryField<'a> {
    /// Category id (24-hex).
    #[schema(value_type = String)]
    Id(#[serde(serialize_with = "hex")] &'a ObjectId),
    /// The category.
    Populated(CategoryRef<'a>),
}

/// A populated category.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryRef<'a> {
    /// Id (24-hex).
    #[serde(rename = "_id", serialize_with = "hex")]
    #[schema(value_type = String)]
    pub id: &'a ObjectId,
    /// Name.
    pub name: &'a str,
}

/// A product's store: its id, or the populated `{_id, name, logo}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum StoreField<'a> {
    /// Store id (24-hex).
    #[schema(value_type = String)]
    Id(#[serde(serialize_with = "hex")] &'a ObjectId),
    /// The store.
    Populated(StoreRef<'a>),
}

/// A populated store.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoreRef<'a> {
    /// Id (24-hex).
    #[serde(rename = "_id", serialize_with = "hex")]
    #[schema(value_type = String)]
    pub id: &'a ObjectId,
    /// Name.
    pub name: &'a str,
    /// Logo URL (`null` when unset).
    pub logo: Option<&'a str>,
}

impl<'a> ProductView<'a> {
    /// The view of a stored product, with `category` and `store` as ids.
    pub fn new(p: &'a ProductDoc) -> Self {
        let inv = &p.inventory;
        Self {
            stored_id: &p.id,
            id: &p.id,
            name: &p.name,
            slug: &p.slug,
            description: &p.description,
            short_description: p.short_description.as_deref(),
            product_type: &p.product_type,
            category: CategoryField::Id(&p.category),
            subcategory: p.subcategory.as_deref(),
            store: StoreField::Id(&p.shop),
            merchant_id: &p.merchant_id,
            brand: p.brand.as_deref(),
            sku: &p.sku,
            barcode: p.barcode.as_deref(),
            images: &p.images,
            pricing: &p.pricing,
            inventory: InventoryView {
                stored: inv,
                is_available: inv.unlimited || inv.stock > 0 || inv.allow_backorder,
                available_stock: inv.stock - inv.reserved_stock,
            },
            cashback: &p.cashback,
            tags: &p.tags,
            search_keywords: &p.search_keywords,
            attributes: &p.attributes,
            specifications: &p.specifications,
            seo: &p.seo,
            weight: p.weight,
            dimensions: p.dimensions.as_ref(),
            status: &p.status,
            visibility: &p.visibility,
            is_active: p.is_active,
            is_featured: p.is_featured,
            is_digital: p.is_digital,
            is_deleted: p.is_deleted,
            created_at: &p.created_at,
            updated_at: &p.updated_at,
            revision: p.revision,
            discount_percentage: p.pricing.discount,
            is_low_stock: !inv.unlimited && inv.stock > 0 && inv.stock <= inv.low_stock_threshold,
            is_out_of_stock: !inv.unlimited && inv.stock <= 0,
        }
    }
}

/// A product (owned), rendered as [`ProductView`]; on `GET /products/{id}` with its category
/// and store populated when they exist.
#[derive(Debug)]
pub struct Product {
    doc: ProductDoc,
    category: Option<CategoryDoc>,
    shop: Option<ShopDoc>,
}

impl Product {
    /// A product with `category` and `store` as ids.
    pub fn new(doc: ProductDoc) -> Self {
        Self {
            doc,
            category: None,
            shop: None,
        }
    }

    /// A product with its category and store populated (each left as an id when not found).
    pub fn populated(
        doc: ProductDoc,
        category: Option<CategoryDoc>,
        shop: Option<ShopDoc>,
    ) -> Self {
        Self {
            doc,
            category,
            shop,
        }
    }

    /// The borrowing view.
    pub fn view(&self) -> ProductView<'_> {
        let mut view = ProductView::new(&self.doc);
        if let Some(c) = &self.category {
            view.category = CategoryField::Populated(CategoryRef {
                id: &c.id,
                name: &c.name,
            });
        }
        if let Some(s) = &self.shop {
            view.store = StoreField::Populated(StoreRef {
                id: &s.id,
                name: &s.name,
                logo: s.logo.as_deref(),
            });
        }
        view
    }
}

impl Serialize for Product {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.view().serialize(s)
    }
}

/// `serialize_with` of owned products: each through its view.
pub fn product_views<S: Serializer>(docs: &[ProductDoc], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(docs.iter().map(ProductView::new))
}

/// `data` of `GET /products`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    /// The page's products.
    #[serde(serialize_with = "product_views")]
    #[schema(value_type = Vec<ProductView>)]
    pub products: Vec<ProductDoc>,
    /// Where the page is.
    pub pagination: Pagination,
    /// Cursor mode only: the cursor of the next window, `null` at the end of the list.
    #[serde(rename = "nextCursor", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<Option<String>>,
}

/// Page position of a listing. With `includeTotal=false` the total keys are left out; in
/// cursor mode so is `page`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProductPagination)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// Matching items over all pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<u64>,
    /// 1-based page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    /// Page size.
    pub limit: u64,
    /// Number of pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_pages: Option<u64>,
    /// A later page exists.
    pub has_next: bool,
    /// An earlier page exists.
    pub has_previous: bool,
}

impl Pagination {
    /// The position of a window that read `listing`.
    pub fn of<T>(window: &Window, limit: u64, listing: &Listing<T>) -> Self {
        let at = Standing::of(window, limit, listing);
        Self {
            total_count: at.total,
            page: at.page,
            limit,
            total_pages: at.pages,
            has_next: at.has_next,
            has_previous: at.has_previous,
        }
    }
}

/// `data` of `PUT /products/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdatedProduct {
    /// The product after the update.
    #[schema(value_type = ProductView)]
    pub product: Product,
}

/// `data` of `GET /products/categories`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryList {
    /// Active categories.
    pub categories: Vec<CategoryOption>,
}

/// A category as a select option.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryOption {
    /// Name.
    pub label: String,
    /// Slug.
    pub value: String,
    /// Id (24-hex).
    pub id: String,
}

/// The fields an audit record keeps of a product.
#[derive(Debug, Serialize)]
pub struct AuditSummary<'a> {
    /// Name.
    pub name: &'a str,
    /// SKU.
    pub sku: &'a str,
    /// Selling price.
    pub price: f64,
    /// Units on hand.
    pub stock: i64,
    /// Status.
    pub status: &'a str,
}

impl<'a> AuditSummary<'a> {
    /// The summary of `p`.
    pub fn of(p: &'a ProductDoc) -> Self {
        Self {
            name: &p.name,
            sku: &p.sku,
            price: p.pricing.selling,
            stock: p.inventory.stock,
            status: &p.status,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::{
        domain::Specification,
        store::{json::to_json, products::VariantDoc},
    };

    /// What the handlers rendered before the typed view: the stored document through
    /// `to_json` plus the computed keys.
    fn old_product_json(p: &ProductDoc) -> Value {
        let mut v = to_json(p).expect("renders");
        let inv = &p.inventory;
        v["id"] = json!(p.id.to_hex());
        v["inventory"]["isAvailable"] =
            json!(inv.unlimited || inv.stock > 0 || inv.allow_backorder);
        v["inventory"]["availableStock"] = json!(inv.stock - inv.reserved_stock);
        v["discountPercentage"] = json!(p.pricing.discount);
        v["isLowStock"] =
            json!(!inv.unlimited && inv.stock > 0 && inv.stock <= inv.low_stock_threshold);
        v["isOutOfStock"] = json!(!inv.unlimited && inv.stock <= 0);
        v
    }

    fn minimal() -> ProductDoc {
        let stored = json!({
            "_id": { "$oid": ObjectId::new().to_hex() }, "name": "Lamp", "slug": "lamp-1",
            "description": "A good lamp", "category": { "$oid": ObjectId::new().to_hex() },
            "store": { "$oid": ObjectId::new().to_hex() },
            "merchantId": { "$oid": ObjectId::new().to_hex() }, "sku": "LAM-1",
            "pricing": { "original": 10.0, "selling": 8.0, "currency": "USD" },
            "inventory": { "stock": 3 }, "status": "draft", "visibility": "public",
            "isActive": false, "createdAt": { "$date": { "$numberLong": "1000" } },
            "updatedAt": { "$date": { "$numberLong": "2000" } },
        });
        let doc = mongodb::bson::to_document(&stored).expect("document");
        mongodb::bson::from_document(doc).expect("product")
    }

    fn full() -> ProductDoc {
        let mut p = minimal();
        p.short_description = Some("Short".into());
        p.subcategory = Some("Desk".into());
        p.brand = Some("Acme".into());
        p.barcode = Some("123".into());
        p.images = vec!["https://x/a.png".into()];
        p.pricing.cost = Some(4.5);
        p.pricing.discount = 20.0;
        p.cashback.max_amount = Some(3.0);
        p.tags = vec!["desk".into()];
        p.search_keywords = vec!["light".into()];
        p.attributes = Attributes::from(std::collections::BTreeMap::from([(
            "color".to_string(),
            "red".to_string(),
        )]));
        p.specifications = Specifications(vec![Specification {
            key: "watts".into(),
            value: "40".into(),
            group: Some("Power".into()),
        }]);
        p.seo.title = Some("Lamp".into());
        p.weight = Some(1.25);
        p.dimensions = Some(Dimensions {
            length: Some(2.0),
            width: None,
            height: Some(3.5),
            unit: "cm".into(),
        });
        p.inventory.unlimited = false;
        p.inventory.variants = vec![VariantDoc {
            variant_id: ObjectId::new().to_hex(),
            kind: "size".into(),
            value: "M".into(),
            price: Some(9.0),
            stock: 2,
            sku: Some("M-1".into()),
            ..VariantDoc::default()
        }];
        p
    }

    #[test]
    fn the_view_renders_exactly_the_json_of_the_stored_document_and_virtuals() {
        for p in [minimal(), full()] {
            let view = serde_json::to_value(ProductView::new(&p)).expect("serialises");
            assert_eq!(view, old_product_json(&p));
        }
        let mut out = minimal();
        out.inventory.stock = 0;
        let view = serde_json::to_value(ProductView::new(&out)).expect("serialises");
        assert_eq!(view, old_product_json(&out));
        assert_eq!(view["isOutOfStock"], true);
    }

    #[test]
    fn populated_references_replace_the_ids() {
        let p = minimal();
        let category: CategoryDoc = mongodb::bson::from_document(mongodb::bson::doc! {
            "_id": p.category, "name": "Lighting", "slug": "lighting",
            "createdAt": mongodb::bson::DateTime::from_millis(0),
        })
        .expect("category");
        let product = Product::populated(p.clone(), Some(category), None);
        let v = serde_json::to_value(&product).expect("serialises");
        let mut expected = old_product_json(&p);
        expected["category"] = json!({ "_id": p.category.to_hex(), "name": "Lighting" });
        assert_eq!(v, expected);
    }
}
