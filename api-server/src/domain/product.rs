//! Catalogue values: SKUs, slugs, the product enums of the contract and the embedded value
//! types of a product (pricing, cashback, dimensions).

use serde::{Deserialize, Serialize};

/// A stock-keeping unit: upper-cased, 1..50 of `A-Z 0-9 - _ .`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sku(String);

impl Sku {
    /// Normalise and check.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim().to_uppercase();
        if s.is_empty() || s.len() > 50 {
            return Err("length must be between 1 and 50 characters");
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err("must contain only letters, digits, '-', '_' and '.'");
        }
        Ok(Self(s))
    }

    /// Generated SKU: first three letters of the name plus a numeric suffix.
    pub fn generate(name: &str, suffix: u64) -> Self {
        let mut prefix: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(3)
            .collect();
        if prefix.is_empty() {
            prefix.push_str("PRD");
        }
        Self(format!(
            "{}{:06}",
            prefix.to_uppercase(),
            suffix % 1_000_000
        ))
    }

    /// The SKU text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Take the SKU text.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Kebab-case slug of a name: lower-case ASCII alphanumerics joined by `-`.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for word in name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&word.to_ascii_lowercase());
    }
    out
}

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $(#[allow(missing_docs)] $variant),+ }

        impl $name {
            /// Every accepted spelling, in declaration order.
            pub const ALL: &'static [&'static str] = &[$($text),+];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Parse the wire spelling.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

string_enum!(
    /// Lifecycle status of a product; `isActive` is `status == active`.
    ProductStatus { Active = "active", Inactive = "inactive", Draft = "draft", Archived = "archived" }
);
string_enum!(
    /// Where a product shows.
    Visibility { Public = "public", Hidden = "hidden", Featured = "featured" }
);
string_enum!(
    /// Currencies accepted on create (the contract's Joi list; all six are stored as given).
    Currency { Usd = "USD", Eur = "EUR", Gbp = "GBP", Cad = "CAD", Aud = "AUD", Inr = "INR" }
);
string_enum!(
    /// Stock filter of the product list.
    StockLevel { All = "all", InStock = "in_stock", LowStock = "low_stock", OutOfStock = "out_of_stock" }
);

/// Prices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ProductPricing)]
#[serde(rename_all = "camelCase")]
pub struct Pricing {
    /// List price (compare-at, else the selling price).
    pub original: f64,
    /// Selling price.
    pub selling: f64,
    /// Cost price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Discount percentage, derived from original and selling.
    #[serde(default)]
    pub discount: f64,
    /// Currency code.
    pub currency: String,
}

/// Cashback offered on the product.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ProductCashback)]
#[serde(rename_all = "camelCase")]
pub struct Cashback {
    /// Percentage 0..100.
    pub percentage: f64,
    /// Cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount: Option<f64>,
    /// Minimum purchase.
    #[serde(default)]
    pub min_purchase: f64,
    /// Offered.
    #[serde(default = "yes")]
    pub is_active: bool,
}

/// Physical size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ProductDimensions)]
pub struct Dimensions {
    /// Length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<f64>,
    /// Width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
    /// Height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<f64>,
    /// cm | inch.
    pub unit: String,
}

fn yes() -> bool {
    true
}

/// Discount percentage from list and selling price.
pub fn discount(original: f64, selling: f64) -> f64 {
    if original > 0.0 && original > selling {
        ((original - selling) / original * 100.0).round()
    } else {
        0.0
    }
}

/// The notification a stock crossing raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockEvent {
    /// Fell to or below the low-stock threshold (from above it).
    LowStock,
    /// Ran out (to ≤ 0 from above).
    OutOfStock,
}

impl StockEvent {
    /// The notification preference key of the event.
    pub fn key(self) -> &'static str {
        match self {
            Self::LowStock => "lowStock",
            Self::OutOfStock => "outOfStock",
        }
    }
}

/// The stock event a change from `before` to `after` units raises, if it crossed a line:
/// running out (to ≤ 0 from above) or falling to the low-stock threshold (from above it).
pub fn stock_crossing(before: i64, after: i64, threshold: i64) -> Option<StockEvent> {
    if after >= before {
        None
    } else if after <= 0 && before > 0 {
        Some(StockEvent::OutOfStock)
    } else if after <= threshold && before > threshold {
        Some(StockEvent::LowStock)
    } else {
        None
    }
}

/// One stock line's change (a product's own units or one variant's), with the settings in
/// force after it. Every path that changes stock (adjustments, product and variant updates,
/// bulk updates) describes its change as a `StockMove` and raises what [`StockMove::crossing`]
/// says, so the rule is decided here once. A new line (product or variant created, imported)
/// has no `before` and crosses nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockMove {
    /// Units before the change, as the atomic write saw them.
    pub before: i64,
    /// Units after it.
    pub after: i64,
    /// Low-stock threshold after the change.
    pub threshold: i64,
    /// Unlimited stock never crosses anything.
    pub unlimited: bool,
}

impl StockMove {
    /// The event this change raises, if any.
    pub fn crossing(&self) -> Option<StockEvent> {
        if self.unlimited {
            None
        } else {
            stock_crossing(self.before, self.after, self.threshold)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_upper_cased_and_checked() {
        assert_eq!(
            Sku::parse(" tee-1 ").map(Sku::into_string),
            Ok("TEE-1".into())
        );
        assert!(Sku::parse("a b").is_err());
        assert!(Sku::parse("").is_err());
        assert_eq!(
            Sku::generate("blue tee", 1_234_567).into_string(),
            "BLU234567"
        );
    }

    #[test]
    fn slugs_are_kebab_case() {
        assert_eq!(slugify("  Blue  Tee (XL)!"), "blue-tee-xl");
        assert_eq!(ProductStatus::parse("draft"), Some(ProductStatus::Draft));
        assert_eq!(Currency::ALL.len(), 6);
    }

    #[test]
    fn only_the_change_that_crosses_a_line_raises_an_event() {
        use StockEvent::{LowStock, OutOfStock};
        assert_eq!(stock_crossing(6, 5, 5), Some(LowStock));
        assert_eq!(stock_crossing(5, 4, 5), None);
        assert_eq!(stock_crossing(10, 3, 5), Some(LowStock));
        assert_eq!(stock_crossing(1, 0, 5), Some(OutOfStock));
        assert_eq!(stock_crossing(20, 0, 5), Some(OutOfStock));
        assert_eq!(stock_crossing(0, -1, 5), None);
        assert_eq!(stock_crossing(3, 8, 5), None);
    }

    #[test]
    fn unlimited_stock_never_crosses() {
        let mv = StockMove {
            before: 50,
            after: 3,
            threshold: 10,
            unlimited: false,
        };
        assert_eq!(mv.crossing(), Some(StockEvent::LowStock));
        let unlimited = StockMove {
            unlimited: true,
            ..mv
        };
        assert_eq!(unlimited.crossing(), None);
    }
}
