//! A validated change to a product ([`ProductPatch`]) and the rules that derive fields from
//! others: pricing (a new selling price lifts a lower list price, the discount follows both),
//! `isActive` from the status and `isFeatured` from the visibility. Create and update share the
//! patch: on create, `None` takes the default; on update, `None` keeps the stored value. How a
//! patch becomes a stored document or an update is the store's business.

use super::{
    Cashback, Dimensions, ObjectId, Pricing, ProductStatus, Sku, StockMove, Visibility,
    product::discount,
};

/// Stock settings sent with a product; on update each one is changed on its own, so variants and
/// reservations are untouched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StockPatch {
    /// Units on hand.
    pub stock: Option<i64>,
    /// Low-stock threshold (default 5).
    pub low_stock_threshold: Option<i64>,
    /// Track stock (default true).
    pub track_inventory: Option<bool>,
    /// Allow selling below zero (default false).
    pub allow_backorder: Option<bool>,
    /// Never runs out (default false).
    pub unlimited: Option<bool>,
}

/// A stock line as stored before a change: units, threshold and whether it is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockLine {
    /// Units on hand.
    pub stock: i64,
    /// Low-stock threshold.
    pub threshold: i64,
    /// Never runs out.
    pub unlimited: bool,
}

impl StockLine {
    /// A change of this line to `after` units (an adjustment), under its own settings.
    pub fn moved_to(self, after: i64) -> StockMove {
        StockMove {
            before: self.stock,
            after,
            threshold: self.threshold,
            unlimited: self.unlimited,
        }
    }
}

impl StockPatch {
    /// The change of the product's own stock when this patch is applied to `before`: units,
    /// threshold and `unlimited` sent win over the stored ones.
    pub fn applied_to(&self, before: StockLine) -> StockMove {
        StockMove {
            before: before.stock,
            after: self.stock.unwrap_or(before.stock),
            threshold: self.low_stock_threshold.unwrap_or(before.threshold),
            unlimited: self.unlimited.unwrap_or(before.unlimited),
        }
    }
}

/// Prices as sent: selling, compare-at (list), cost and currency.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PriceInput {
    /// Selling price.
    pub selling: Option<f64>,
    /// Compare-at price.
    pub compare_at: Option<f64>,
    /// Cost price.
    pub cost: Option<f64>,
    /// Currency code.
    pub currency: Option<&'static str>,
}

/// The `pricing.*` values an update changes (`None`: unchanged).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PricingPatch {
    /// Selling price.
    pub selling: Option<f64>,
    /// List price.
    pub original: Option<f64>,
    /// Discount percentage.
    pub discount: Option<f64>,
    /// Cost price.
    pub cost: Option<f64>,
    /// Currency.
    pub currency: Option<&'static str>,
}

impl PriceInput {
    /// Whether the selling or list price changes (and so the current pricing is needed).
    pub fn reprices(&self) -> bool {
        self.selling.is_some() || self.compare_at.is_some()
    }

    /// The pricing of a new product: the list price defaults to the selling price.
    pub fn new_pricing(&self) -> Pricing {
        let selling = self.selling.unwrap_or(0.0);
        let original = self.compare_at.unwrap_or(selling);
        Pricing {
            original,
            selling,
            cost: self.cost,
            discount: discount(original, selling),
            currency: self.currency.unwrap_or("USD").into(),
        }
    }

    /// The change to stored `current` pricing: a new selling price lifts a lower list price to
    /// it, and the discount is derived from both. `current` is needed only when [`Self::reprices`].
    pub fn patch(&self, current: Option<&Pricing>) -> PricingPatch {
        let mut out = PricingPatch {
            cost: self.cost,
            currency: self.currency,
            ..PricingPatch::default()
        };
        if let Some(current) = current.filter(|_| self.reprices()) {
            let selling = self.selling.unwrap_or(current.selling);
            let lifted = self.selling.is_some() && current.original < selling;
            let original =
                self.compare_at
                    .unwrap_or(if lifted { selling } else { current.original });
            out.selling = Some(selling);
            out.original = Some(original);
            out.discount = Some(discount(original, selling));
        }
        out
    }
}

/// A validated product change. References (category, shop) are resolved ids.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductPatch {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Short description.
    pub short_description: Option<String>,
    /// SKU.
    pub sku: Option<Sku>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Category id.
    pub category: Option<ObjectId>,
    /// Sub-category label.
    pub subcategory: Option<String>,
    /// Brand.
    pub brand: Option<String>,
    /// The merchant's shop the product is listed in.
    pub shop: Option<ObjectId>,
    /// Lifecycle status.
    pub status: Option<ProductStatus>,
    /// Visibility.
    pub visibility: Option<Visibility>,
    /// Weight.
    pub weight: Option<f64>,
    /// SEO title.
    pub seo_title: Option<String>,
    /// SEO description.
    pub seo_description: Option<String>,
    /// Lower-cased tags.
    pub tags: Option<Vec<String>>,
    /// Search keywords.
    pub search_keywords: Option<Vec<String>>,
    /// Image URLs.
    pub images: Option<Vec<String>>,
    /// Dimensions (replaced whole).
    pub dimensions: Option<Dimensions>,
    /// Cashback (replaced whole).
    pub cashback: Option<Cashback>,
    /// Stock settings.
    pub stock: StockPatch,
    /// Prices as sent (see [`PriceInput::patch`] for an update).
    pub prices: PriceInput,
    /// Attributes (replaced whole).
    pub attributes: Option<super::Attributes>,
    /// Specifications (replaced whole).
    pub specifications: Option<super::Specifications>,
}

impl ProductPatch {
    /// `isActive` follows the status.
    pub fn is_active(&self) -> Option<bool> {
        self.status.map(|s| s == ProductStatus::Active)
    }

    /// `isFeatured` follows the visibility.
    pub fn is_featured(&self) -> Option<bool> {
        self.visibility.map(|v| v == Visibility::Featured)
    }
}

/// Where a new product goes, besides its validated fields.
#[derive(Debug, Clone)]
pub struct ProductPlacement {
    /// Owner.
    pub merchant: ObjectId,
    /// The merchant's shop.
    pub shop: ObjectId,
    /// Category.
    pub category: ObjectId,
    /// Final SKU.
    pub sku: Sku,
    /// Final slug.
    pub slug: String,
}

/// A validated variant change (on create, `None` takes the default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VariantPatch {
    /// Option value, e.g. `XL` (required on create).
    pub value: Option<String>,
    /// Option kind, e.g. `size` (default `option`).
    pub kind: Option<String>,
    /// Units on hand (default 0).
    pub stock: Option<i64>,
    /// Price override.
    pub price: Option<f64>,
    /// Compare-at price.
    pub compare_at_price: Option<f64>,
    /// SKU, unique within the product.
    pub sku: Option<Sku>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Weight.
    pub weight: Option<f64>,
    /// Image URLs.
    pub images: Option<Vec<String>>,
    /// Sellable (default true).
    pub is_available: Option<bool>,
    /// Extra attributes (replaced whole).
    pub attributes: Option<super::Attributes>,
}

impl VariantPatch {
    /// The change of a variant's stock when this patch is applied to `before` (the variant's
    /// units with the product's threshold and `unlimited`).
    pub fn applied_to(&self, before: StockLine) -> StockMove {
        StockMove {
            before: before.stock,
            after: self.stock.unwrap_or(before.stock),
            threshold: before.threshold,
            unlimited: before.unlimited,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(selling: f64, original: f64) -> Pricing {
        Pricing {
            original,
            selling,
            cost: None,
            discount: discount(original, selling),
            currency: "USD".into(),
        }
    }

    #[test]
    fn a_stock_patch_moves_from_the_stored_line_with_the_settings_it_sends() {
        let before = StockLine {
            stock: 50,
            threshold: 5,
            unlimited: false,
        };
        let patch = StockPatch {
            stock: Some(3),
            low_stock_threshold: Some(10),
            ..StockPatch::default()
        };
        let mv = patch.applied_to(before);
        assert_eq!((mv.before, mv.after, mv.threshold), (50, 3, 10));
        assert_eq!(StockPatch::default().applied_to(before).crossing(), None);
    }

    #[test]
    fn a_higher_selling_price_lifts_the_list_price() {
        let input = PriceInput {
            selling: Some(30.0),
            ..PriceInput::default()
        };
        let patch = input.patch(Some(&stored(10.0, 20.0)));
        assert_eq!(patch.selling, Some(30.0));
        assert_eq!(patch.original, Some(30.0));
        assert_eq!(patch.discount, Some(0.0));
    }

    #[test]
    fn a_lower_selling_price_keeps_the_list_price_and_sets_the_discount() {
        let input = PriceInput {
            selling: Some(15.0),
            ..PriceInput::default()
        };
        let patch = input.patch(Some(&stored(10.0, 20.0)));
        assert_eq!(patch.original, Some(20.0));
        assert_eq!(patch.discount, Some(25.0));
    }

    #[test]
    fn cost_and_currency_change_without_the_current_pricing() {
        let input = PriceInput {
            cost: Some(4.0),
            currency: Some("EUR"),
            ..PriceInput::default()
        };
        let patch = input.patch(None);
        assert_eq!(patch.selling, None);
        assert_eq!((patch.cost, patch.currency), (Some(4.0), Some("EUR")));
    }

    #[test]
    fn new_pricing_defaults_the_list_price_to_the_selling_price() {
        let pricing = PriceInput {
            selling: Some(8.0),
            ..PriceInput::default()
        }
        .new_pricing();
        assert_eq!((pricing.original, pricing.discount), (8.0, 0.0));
        assert_eq!(pricing.currency, "USD");
    }
}
