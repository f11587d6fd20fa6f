//! Product request bodies, their validation (create requires, update only checks what is
//! present) and the product JSON the contract's clients read.

use mongodb::bson::{Bson, Document, doc};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::{
    domain::{Currency, ProductStatus, Sku, Visibility},
    error::ApiError,
    store::{
        DateTime, ObjectId,
        json::to_json,
        products::{Cashback, Dimensions, Inventory, Pricing, ProductDoc, Seo},
    },
    validate::{Len, Validator},
};

/// Stock settings as sent.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryInput {
    /// Units on hand (required on create, ≥ 0).
    pub stock: Option<i64>,
    /// Low-stock threshold (default 5).
    pub low_stock_threshold: Option<i64>,
    /// Track stock (default true).
    pub track_inventory: Option<bool>,
    /// Allow selling below zero (default false).
    pub allow_backorders: Option<bool>,
    /// Never runs out (default false).
    pub unlimited: Option<bool>,
}

/// An image: a URL or `{url, …}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ImageInput {
    /// Plain URL.
    Url(String),
    /// Object form (only `url` is stored).
    Object {
        /// URL.
        url: Option<String>,
    },
}

/// Cashback as sent.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CashbackInput {
    /// 0..100 (default 0).
    pub percentage: Option<f64>,
    /// Cap.
    pub max_amount: Option<f64>,
    /// Offered (default true).
    pub is_active: Option<bool>,
}

/// Dimensions as sent.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DimensionsInput {
    /// Length.
    pub length: Option<f64>,
    /// Width.
    pub width: Option<f64>,
    /// Height.
    pub height: Option<f64>,
    /// cm | inch (default cm).
    pub unit: Option<String>,
}

/// Body of `POST /products` and `PUT /products/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductInput {
    /// 2..200 (required on create).
    pub name: Option<String>,
    /// ≥ 10 characters (required on create).
    pub description: Option<String>,
    /// ≤ 300.
    pub short_description: Option<String>,
    /// Upper-cased; generated when absent; globally unique.
    pub sku: Option<String>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Category id, name or slug (required on create).
    pub category: Option<String>,
    /// Sub-category label.
    pub subcategory: Option<String>,
    /// Brand.
    pub brand: Option<String>,
    /// One of the merchant's stores (default: the oldest active one).
    pub store_id: Option<String>,
    /// Selling price ≥ 0 (required on create).
    pub price: Option<f64>,
    /// Cost price ≥ 0.
    pub cost_price: Option<f64>,
    /// Compare-at price ≥ 0.
    pub compare_at_price: Option<f64>,
    /// USD | EUR | GBP | CAD | AUD | INR (default USD).
    pub currency: Option<String>,
    /// Stock (required on create).
    pub inventory: Option<InventoryInput>,
    /// Images.
    pub images: Option<Vec<ImageInput>>,
    /// Weight ≥ 0.
    pub weight: Option<f64>,
    /// Dimensions.
    pub dimensions: Option<DimensionsInput>,
    /// Tags (stored lower-cased).
    pub tags: Option<Vec<String>>,
    /// Search keywords.
    pub search_keywords: Option<Vec<String>>,
    /// SEO title ≤ 60.
    pub meta_title: Option<String>,
    /// SEO description ≤ 160.
    pub meta_description: Option<String>,
    /// active | inactive | draft | archived (create default: draft; update: unchanged unless sent).
    pub status: Option<String>,
    /// public | hidden | featured (default public).
    pub visibility: Option<String>,
    /// Cashback (default 0 %).
    pub cashback: Option<CashbackInput>,
}

/// Validated product fields shared by create and update.
#[derive(Debug, Default)]
pub struct ProductFields {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// SKU.
    pub sku: Option<Sku>,
    /// Category reference (resolved by the handler).
    pub category: Option<String>,
    /// Store id.
    pub store: Option<ObjectId>,
    /// Status.
    pub status: Option<ProductStatus>,
    /// Everything else, as `$set` paths.
    pub set: Document,
    /// Stock settings (create).
    pub inventory: Option<Inventory>,
    /// Prices sent: (price, compareAtPrice, costPrice, currency).
    pub prices: (Option<f64>, Option<f64>, Option<f64>, Option<&'static str>),
}

fn put(set: &mut Document, key: &str, value: Option<impl Into<Bson>>) {
    if let Some(v) = value {
        set.insert(key, v.into());
    }
}

impl ProductInput {
    /// Validate; `create` makes name, description, category, price and inventory required.
    pub fn validate(self, create: bool) -> Result<ProductFields, ApiError> {
        let mut v = Validator::new();
        let mut out = ProductFields::default();
        let name = if create {
            Some(v.text("name", self.name, Len(2, 200)))
        } else {
            v.opt_text("name", self.name, Len(2, 200))
        };
        let description = if create {
            Some(v.text("description", self.description, Len(10, 2000)))
        } else {
            v.opt_text("description", self.description, Len(10, 2000))
        };
        out.name = name;
        out.description = description;
        out.sku = v.opt_parse("sku", self.sku, Sku::parse);
        out.category = if create {
            Some(v.text("category", self.category, Len(1, 100)))
        } else {
            v.opt_text("category", self.category, Len(1, 100))
        };
        out.store = v
            .opt_parse("storeId", self.store_id, |s| {
                ObjectId::parse_str(s)
                    .map(Some)
                    .map_err(|_| "must be a valid id")
            })
            .flatten();
        out.status = v
            .one_of("status", self.status, ProductStatus::ALL)
            .and_then(ProductStatus::parse);
        let price = if create {
            Some(v.number("price", self.price, 0.0, 1e12))
        } else {
            v.opt_number("price", self.price, 0.0, 1e12)
        };
        let compare = v.opt_number("compareAtPrice", self.compare_at_price, 0.0, 1e12);
        let cost = v.opt_number("costPrice", self.cost_price, 0.0, 1e12);
        let currency = v.one_of("currency", self.currency, Currency::ALL);
        out.prices = (price, compare, cost, currency);
        let set = &mut out.set;
        put(
            set,
            "shortDescription",
            v.opt_text("shortDescription", self.short_description, Len(0, 300)),
        );
        put(
            set,
            "barcode",
            v.opt_text("barcode", self.barcode, Len(0, 50)),
        );
        put(
            set,
            "subcategory",
            v.opt_text("subcategory", self.subcategory, Len(0, 100)),
        );
        put(set, "brand", v.opt_text("brand", self.brand, Len(0, 100)));
        put(
            set,
            "visibility",
            v.one_of("visibility", self.visibility, Visibility::ALL),
        );
        put(set, "weight", v.opt_number("weight", self.weight, 0.0, 1e9));
        put(
            set,
            "seo.title",
            v.opt_text("metaTitle", self.meta_title, Len(0, 60)),
        );
        put(
            set,
            "seo.description",
            v.opt_text("metaDescription", self.meta_description, Len(0, 160)),
        );
        put(
            set,
            "tags",
            self.tags.map(|t| {
                t.into_iter()
                    .map(|s| s.trim().to_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            }),
        );
        put(set, "searchKeywords", self.search_keywords);
        if let Some(images) = self.images {
            put(set, "images", Some(images_list(&mut v, images)));
        }
        if let Some(d) = self.dimensions {
            put(set, "dimensions", Some(dimensions_doc(&mut v, d)));
        }
        if let Some(c) = self.cashback {
            put(set, "cashback", Some(cashback_doc(&mut v, c)));
        }
        out.inventory = inventory(&mut v, self.inventory, create, set);
        v.finish()?;
        Ok(out)
    }
}

fn images_list(v: &mut Validator, images: Vec<ImageInput>) -> Vec<String> {
    images
        .into_iter()
        .enumerate()
        .filter_map(|(i, img)| {
            let url = match img {
                ImageInput::Url(u) => Some(u),
                ImageInput::Object { url } => url,
            };
            if url.as_deref().is_none_or(|u| u.trim().is_empty()) {
                v.error(
                    &format!("images.{i}.url"),
                    format!("\"images[{i}].url\" is required"),
                    None,
                );
            }
            url
        })
        .collect()
}

fn dimensions_doc(v: &mut Validator, d: DimensionsInput) -> Bson {
    let unit = v
        .one_of("dimensions.unit", d.unit, &["cm", "inch"])
        .unwrap_or("cm");
    let dims = Dimensions {
        length: v.opt_number("dimensions.length", d.length, 0.0, 1e9),
        width: v.opt_number("dimensions.width", d.width, 0.0, 1e9),
        height: v.opt_number("dimensions.height", d.height, 0.0, 1e9),
        unit: unit.into(),
    };
    mongodb::bson::to_bson(&dims).unwrap_or(Bson::Null)
}

fn cashback_doc(v: &mut Validator, c: CashbackInput) -> Bson {
    let cashback = Cashback {
        percentage: v
            .opt_number("cashback.percentage", c.percentage, 0.0, 100.0)
            .unwrap_or(0.0),
        max_amount: v.opt_number("cashback.maxAmount", c.max_amount, 0.0, 1e12),
        min_purchase: 0.0,
        is_active: c.is_active.unwrap_or(true),
    };
    mongodb::bson::to_bson(&cashback).unwrap_or(Bson::Null)
}

/// Validate stock settings; on update they become individual `$set` paths so variants and
/// reservations are untouched.
fn inventory(
    v: &mut Validator,
    input: Option<InventoryInput>,
    create: bool,
    set: &mut Document,
) -> Option<Inventory> {
    let Some(i) = input else {
        if create {
            v.error("inventory", "\"inventory\" is required", None);
        }
        return None;
    };
    let stock = match (i.stock, create) {
        (None, true) => {
            v.error("inventory.stock", "\"inventory.stock\" is required", None);
            None
        }
        (s, _) => v.opt_int("inventory.stock", s, 0, i64::MAX / 2),
    };
    let threshold = v.opt_int(
        "inventory.lowStockThreshold",
        i.low_stock_threshold,
        0,
        i64::MAX / 2,
    );
    if !create {
        put(set, "inventory.stock", stock);
        put(set, "inventory.lowStockThreshold", threshold);
        put(set, "inventory.trackInventory", i.track_inventory);
        put(set, "inventory.allowBackorder", i.allow_backorders);
        put(set, "inventory.unlimited", i.unlimited);
        return None;
    }
    Some(Inventory {
        stock: stock.unwrap_or(0),
        low_stock_threshold: threshold.unwrap_or(5),
        track_inventory: i.track_inventory.unwrap_or(true),
        allow_backorder: i.allow_backorders.unwrap_or(false),
        unlimited: i.unlimited.unwrap_or(false),
        reserved_stock: 0,
        variants: Vec::new(),
    })
}

/// Discount percentage from list and selling price.
pub fn discount(original: f64, selling: f64) -> f64 {
    if original > 0.0 && original > selling {
        ((original - selling) / original * 100.0).round()
    } else {
        0.0
    }
}

/// Whether an update changes the selling or list price (and so needs the current pricing).
pub fn reprices(prices: &(Option<f64>, Option<f64>, Option<f64>, Option<&'static str>)) -> bool {
    prices.0.is_some() || prices.1.is_some()
}

/// The `pricing.*` part of an update's `$set`: a new selling price lifts a lower list price to
/// it, and the discount is derived from both. `current` is needed only when [`reprices`].
pub fn set_pricing(
    set: &mut mongodb::bson::Document,
    prices: (Option<f64>, Option<f64>, Option<f64>, Option<&'static str>),
    current: Option<&crate::store::products::Pricing>,
) {
    let (price, compare, cost, currency) = prices;
    if let Some(current) = current.filter(|_| price.is_some() || compare.is_some()) {
        let selling = price.unwrap_or(current.selling);
        let original = compare.unwrap_or(if price.is_some() && current.original < selling {
            selling
        } else {
            current.original
        });
        set.insert("pricing.selling", selling);
        set.insert("pricing.original", original);
        set.insert("pricing.discount", discount(original, selling));
    }
    if let Some(c) = cost {
        set.insert("pricing.cost", c);
    }
    if let Some(c) = currency {
        set.insert("pricing.currency", c);
    }
}

/// Everything a new product needs besides the validated fields.
#[derive(Debug)]
pub struct Placement {
    /// Owner.
    pub merchant: ObjectId,
    /// Store.
    pub store: ObjectId,
    /// Category.
    pub category: ObjectId,
    /// Final SKU.
    pub sku: Sku,
    /// Final slug.
    pub slug: String,
}

impl ProductFields {
    /// Build the document of a new product.
    pub fn into_doc(self, at: Placement) -> Result<ProductDoc, ApiError> {
        let (price, compare, cost, currency) = self.prices;
        let selling = price.unwrap_or(0.0);
        let original = compare.unwrap_or(selling);
        let status = self.status.unwrap_or(ProductStatus::Draft);
        let now = DateTime::now();
        let mut product = ProductDoc {
            id: ObjectId::new(),
            name: self.name.unwrap_or_default(),
            slug: at.slug,
            description: self.description.unwrap_or_default(),
            short_description: None,
            product_type: "product".into(),
            category: at.category,
            subcategory: None,
            store: at.store,
            merchant_id: at.merchant,
            brand: None,
            sku: at.sku.into_string(),
            barcode: None,
            images: Vec::new(),
            pricing: Pricing {
                original,
                selling,
                cost,
                discount: discount(original, selling),
                currency: currency.unwrap_or("USD").into(),
            },
            inventory: self.inventory.unwrap_or_default(),
            cashback: Cashback {
                percentage: 0.0,
                max_amount: None,
                min_purchase: 0.0,
                is_active: true,
            },
            tags: Vec::new(),
            search_keywords: Vec::new(),
            seo: Seo::default(),
            weight: None,
            dimensions: None,
            status: status.as_str().into(),
            visibility: "public".into(),
            is_active: status == ProductStatus::Active,
            is_featured: false,
            is_digital: false,
            is_deleted: false,
            created_at: now,
            updated_at: now,
        };
        // Optional fields were validated into `$set` paths; apply them to the new document.
        let mut merged = mongodb::bson::to_document(&product).map_err(internal)?;
        for (path, value) in self.set {
            set_path(&mut merged, &path, value);
        }
        product = mongodb::bson::from_document(merged).map_err(|e| ApiError::Internal {
            message: "Failed to create product",
            source: Box::new(e),
        })?;
        product.is_featured = product.visibility == "featured";
        Ok(product)
    }
}

fn internal(e: mongodb::bson::ser::Error) -> ApiError {
    ApiError::Internal {
        message: "Failed to create product",
        source: Box::new(e),
    }
}

fn set_path(doc: &mut Document, path: &str, value: Bson) {
    match path.split_once('.') {
        None => {
            doc.insert(path, value);
        }
        Some((head, rest)) => {
            if !matches!(doc.get(head), Some(Bson::Document(_))) {
                doc.insert(head, Document::new());
            }
            if let Some(Bson::Document(inner)) = doc.get_mut(head) {
                set_path(inner, rest, value);
            }
        }
    }
}

/// The product as clients read it: stored fields plus `id`, `inventory.isAvailable` and the
/// virtuals `discountPercentage`, `isLowStock`, `isOutOfStock`.
pub fn product_json(p: &ProductDoc) -> Result<Value, ApiError> {
    let mut v = to_json(p).map_err(|e| ApiError::Internal {
        message: "Failed to render product",
        source: Box::new(e),
    })?;
    let inv = &p.inventory;
    let out_of_stock = !inv.unlimited && inv.stock <= 0;
    v["id"] = json!(p.id.to_hex());
    v["inventory"]["isAvailable"] = json!(inv.unlimited || inv.stock > 0 || inv.allow_backorder);
    v["discountPercentage"] = json!(p.pricing.discount);
    v["isLowStock"] =
        json!(!inv.unlimited && inv.stock > 0 && inv.stock <= inv.low_stock_threshold);
    v["isOutOfStock"] = json!(out_of_stock);
    Ok(v)
}

/// Query of `GET /products`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Case-insensitive search over name, description, brand and tags.
    pub query: Option<String>,
    /// Category id, name or slug.
    pub category: Option<String>,
    /// active | inactive | draft | archived.
    pub status: Option<String>,
    /// public | hidden | featured.
    pub visibility: Option<String>,
    /// all | in_stock | low_stock | out_of_stock.
    pub stock_level: Option<String>,
    /// One of the merchant's stores.
    pub store_id: Option<String>,
    /// name | price | stock | created | updated (default created).
    pub sort_by: Option<String>,
    /// asc | desc (default desc).
    pub sort_order: Option<String>,
    /// ≥ 1 (default 1).
    pub page: Option<String>,
    /// 1..100 (default 20).
    pub limit: Option<String>,
}

/// Parse an integer query value within bounds.
pub fn int_param(
    v: &mut Validator,
    field: &str,
    raw: Option<String>,
    min: i64,
    max: i64,
    default: i64,
) -> i64 {
    let Some(raw) = raw else { return default };
    match raw.trim().parse::<i64>() {
        Ok(n) => v.opt_int(field, Some(n), min, max).unwrap_or(default),
        Err(_) => {
            v.error(
                field,
                format!("\"{field}\" must be a number"),
                Some(Value::String(raw)),
            );
            default
        }
    }
}
