//! Product request bodies, their validation (create requires, update only checks what is
//! present); the product clients read is `views::ProductView`.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::{
    domain::{
        Attributes, Cashback, Currency, Dimensions, ObjectId, PriceInput, ProductPatch,
        ProductStatus, Sku, Specifications, StockPatch, Visibility,
    },
    error::ApiError,
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
    /// Attributes: an object, or a list of `{name, value}` pairs (older clients).
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Attributes>,
    /// Specifications: a list of `{key, value, group}`, or an object `{key: value}`.
    #[schema(value_type = Option<Object>)]
    pub specifications: Option<Specifications>,
}

/// A validated body: the patch, plus the references the handler still has to resolve.
#[derive(Debug, Default)]
pub struct ProductFields {
    /// Everything validated; `category` and `shop` are filled in once resolved.
    pub patch: ProductPatch,
    /// Category reference as sent (id, name or slug).
    pub category: Option<String>,
    /// Requested shop id (checked to be the merchant's by the handler).
    pub shop: Option<ObjectId>,
}

/// Required on create, optional on update.
fn text(
    v: &mut Validator,
    create: bool,
    field: &str,
    raw: Option<String>,
    len: Len,
) -> Option<String> {
    if create {
        Some(v.text(field, raw, len))
    } else {
        v.opt_text(field, raw, len)
    }
}

impl ProductInput {
    /// Validate; `create` makes name, description, category, price and inventory required.
    pub fn validate(mut self, create: bool) -> Result<ProductFields, ApiError> {
        let mut v = Validator::new();
        // Checked in the order the contract reports errors.
        let (mut patch, category, shop) = self.core(&mut v, create);
        self.details(&mut v, create, &mut patch);
        v.finish()?;
        Ok(ProductFields {
            patch,
            category,
            shop,
        })
    }

    /// Name, description, SKU, category, shop, status and prices.
    fn core(
        &mut self,
        v: &mut Validator,
        create: bool,
    ) -> (ProductPatch, Option<String>, Option<ObjectId>) {
        let name = text(v, create, "name", self.name.take(), Len(2, 200));
        let description = text(
            v,
            create,
            "description",
            self.description.take(),
            Len(10, 2000),
        );
        let sku = v.opt_parse("sku", self.sku.take(), Sku::parse);
        let category = text(v, create, "category", self.category.take(), Len(1, 100));
        let shop = v
            .opt_parse("storeId", self.store_id.take(), |s| {
                ObjectId::parse_str(s)
                    .map(Some)
                    .map_err(|_| "must be a valid id")
            })
            .flatten();
        let status = v
            .one_of("status", self.status.take(), ProductStatus::ALL)
            .and_then(ProductStatus::parse);
        let prices = prices(
            v,
            create,
            self.price,
            self.compare_at_price,
            self.cost_price,
            self.currency.take(),
        );
        let patch = ProductPatch {
            name,
            description,
            sku,
            status,
            prices,
            ..ProductPatch::default()
        };
        (patch, category, shop)
    }

    /// Everything else: texts, SEO, tags, images, dimensions, cashback and stock.
    fn details(self, v: &mut Validator, create: bool, patch: &mut ProductPatch) {
        patch.short_description =
            v.opt_text("shortDescription", self.short_description, Len(0, 300));
        patch.barcode = v.opt_text("barcode", self.barcode, Len(0, 50));
        patch.subcategory = v.opt_text("subcategory", self.subcategory, Len(0, 100));
        patch.brand = v.opt_text("brand", self.brand, Len(0, 100));
        patch.visibility = v
            .one_of("visibility", self.visibility, Visibility::ALL)
            .and_then(Visibility::parse);
        patch.weight = v.opt_number("weight", self.weight, 0.0, 1e9);
        patch.seo_title = v.opt_text("metaTitle", self.meta_title, Len(0, 60));
        patch.seo_description = v.opt_text("metaDescription", self.meta_description, Len(0, 160));
        patch.tags = self.tags.map(lower_tags);
        patch.search_keywords = self.search_keywords;
        patch.images = self.images.map(|i| images_list(v, i));
        patch.dimensions = self.dimensions.map(|d| dimensions(v, d));
        patch.cashback = self.cashback.map(|c| cashback(v, c));
        patch.attributes = self.attributes;
        patch.specifications = self.specifications;
        patch.stock = inventory(v, self.inventory, create);
    }
}

fn prices(
    v: &mut Validator,
    create: bool,
    price: Option<f64>,
    compare_at: Option<f64>,
    cost: Option<f64>,
    currency: Option<String>,
) -> PriceInput {
    let selling = if create {
        Some(v.number("price", price, 0.0, 1e12))
    } else {
        v.opt_number("price", price, 0.0, 1e12)
    };
    PriceInput {
        selling,
        compare_at: v.opt_number("compareAtPrice", compare_at, 0.0, 1e12),
        cost: v.opt_number("costPrice", cost, 0.0, 1e12),
        currency: v.one_of("currency", currency, Currency::ALL),
    }
}

fn lower_tags(tags: Vec<String>) -> Vec<String> {
    tags.into_iter()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
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

fn dimensions(v: &mut Validator, d: DimensionsInput) -> Dimensions {
    let unit = v
        .one_of("dimensions.unit", d.unit, &["cm", "inch"])
        .unwrap_or("cm");
    Dimensions {
        length: v.opt_number("dimensions.length", d.length, 0.0, 1e9),
        width: v.opt_number("dimensions.width", d.width, 0.0, 1e9),
        height: v.opt_number("dimensions.height", d.height, 0.0, 1e9),
        unit: unit.into(),
    }
}

fn cashback(v: &mut Validator, c: CashbackInput) -> Cashback {
    Cashback {
        percentage: v
            .opt_number("cashback.percentage", c.percentage, 0.0, 100.0)
            .unwrap_or(0.0),
        max_amount: v.opt_number("cashback.maxAmount", c.max_amount, 0.0, 1e12),
        min_purchase: 0.0,
        is_active: c.is_active.unwrap_or(true),
    }
}

/// Validate stock settings (`inventory` and its `stock` are required on create).
fn inventory(v: &mut Validator, input: Option<InventoryInput>, create: bool) -> StockPatch {
    let Some(i) = input else {
        if create {
            v.error("inventory", "\"inventory\" is required", None);
        }
        return StockPatch::default();
    };
    let stock = match (i.stock, create) {
        (None, true) => {
            v.error("inventory.stock", "\"inventory.stock\" is required", None);
            None
        }
        (s, _) => v.opt_int("inventory.stock", s, 0, i64::MAX / 2),
    };
    let low_stock_threshold = v.opt_int(
        "inventory.lowStockThreshold",
        i.low_stock_threshold,
        0,
        i64::MAX / 2,
    );
    StockPatch {
        stock,
        low_stock_threshold,
        track_inventory: i.track_inventory,
        allow_backorder: i.allow_backorders,
        unlimited: i.unlimited,
    }
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
                Some(raw.into()),
            );
            default
        }
    }
}
