//! Domain types and rules: newtypes and enums with `parse()` (values valid by construction),
//! the product patch and its pricing rules, order transitions and role permissions. No driver
//! calls, filters or HTTP types here: `store` turns these types into documents and updates, and
//! `routes` turns requests into them. Ids and instants are the BSON value types [`ObjectId`] and
//! [`DateTime`] (plain values, re-exported once here).

mod attributes;
pub mod cashback;
mod email;
pub mod onboarding;
pub mod order;
mod product;
mod product_patch;
mod profile;

pub use attributes::{Attributes, Specification, Specifications};
pub use email::{Email, Password, Phone};
pub use mongodb::bson::{DateTime, oid::ObjectId};
pub use product::{
    Cashback, Currency, Dimensions, Pricing, ProductStatus, Sku, StockEvent, StockLevel, StockMove,
    Visibility, discount, slugify, stock_crossing,
};
pub use product_patch::{
    PriceInput, PricingPatch, ProductPatch, ProductPlacement, StockLine, StockPatch, VariantPatch,
};
pub use profile::{AddressPatch, ProfilePatch};

/// The 56 permission strings of the contract's catalogue (§3.2), in catalogue order.
pub const PERMISSIONS: [&str; 56] = [
    "products:view",
    "products:create",
    "products:edit",
    "products:delete",
    "products:bulk_import",
    "products:export",
    "orders:view",
    "orders:view_all",
    "orders:update_status",
    "orders:cancel",
    "orders:refund",
    "orders:export",
    "team:view",
    "team:invite",
    "team:remove",
    "team:change_role",
    "team:change_status",
    "analytics:view",
    "analytics:view_revenue",
    "analytics:view_costs",
    "analytics:export",
    "settings:view",
    "settings:edit",
    "settings:edit_basic",
    "billing:view",
    "billing:manage",
    "billing:view_invoices",
    "customers:view",
    "customers:edit",
    "customers:delete",
    "customers:export",
    "promotions:view",
    "promotions:create",
    "promotions:edit",
    "promotions:delete",
    "reviews:view",
    "reviews:respond",
    "reviews:delete",
    "notifications:view",
    "notifications:send",
    "reports:view",
    "reports:export",
    "reports:view_detailed",
    "inventory:view",
    "inventory:edit",
    "inventory:bulk_update",
    "categories:view",
    "categories:create",
    "categories:edit",
    "categories:delete",
    "profile:view",
    "profile:edit",
    "logs:view",
    "logs:export",
    "api:access",
    "api:manage_keys",
];

const ADMIN_DENIED: [&str; 8] = [
    "team:change_role",
    "analytics:view_costs",
    "settings:edit",
    "billing:view",
    "billing:manage",
    "billing:view_invoices",
    "logs:export",
    "api:manage_keys",
];

const MANAGER: [&str; 28] = [
    "products:view",
    "products:create",
    "products:edit",
    "products:delete",
    "products:bulk_import",
    "products:export",
    "orders:view",
    "orders:view_all",
    "orders:update_status",
    "orders:cancel",
    "orders:export",
    "team:view",
    "analytics:view",
    "analytics:view_revenue",
    "settings:view",
    "customers:view",
    "promotions:view",
    "promotions:create",
    "promotions:edit",
    "reviews:view",
    "reviews:respond",
    "notifications:view",
    "reports:view",
    "reports:export",
    "inventory:view",
    "inventory:edit",
    "categories:view",
    "profile:view",
];

const STAFF: [&str; 11] = [
    "products:view",
    "orders:view",
    "orders:update_status",
    "customers:view",
    "promotions:view",
    "reviews:view",
    "notifications:view",
    "reports:view",
    "inventory:view",
    "categories:view",
    "profile:view",
];

/// The permission a team member needs to read the merchant's payout bank account
/// (`stepData.bankDetails`): billing is owner-only by default.
pub const BANK_DETAILS_PERMISSION: &str = "billing:view";

/// The permission a team member needs to read KYC records: tax and registration numbers
/// ([`KYC_BUSINESS_FIELDS`]) and the verification documents and their files.
pub const KYC_PERMISSION: &str = "settings:view";

/// The KYC fields of the business-info onboarding step.
pub const KYC_BUSINESS_FIELDS: [&str; 3] = ["gstNumber", "panNumber", "registrationNumber"];

/// Which sensitive merchant records a caller may read, from what its permissions allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensitiveAccess {
    /// Bank details.
    pub bank: bool,
    /// KYC fields and documents.
    pub kyc: bool,
}

impl SensitiveAccess {
    /// Decide from a permission check (`can("billing:view")`…).
    pub fn of(can: impl Fn(&str) -> bool) -> Self {
        Self {
            bank: can(BANK_DETAILS_PERMISSION),
            kyc: can(KYC_PERMISSION),
        }
    }
}

/// `rbacMode` values: refuse missing permissions (the default), or let team members through
/// and record what would have been refused.
pub const RBAC_ENFORCE: &str = "enforce";
/// See [`RBAC_ENFORCE`].
pub const RBAC_SHADOW: &str = "shadow";

/// The default permissions of a role, in catalogue order (owner: all 56).
pub fn role_permissions(role: &str) -> Vec<String> {
    let keep = |p: &&&str| match role {
        "owner" => true,
        "admin" => !ADMIN_DENIED.contains(*p),
        "manager" => MANAGER.contains(*p),
        "staff" => STAFF.contains(*p),
        _ => false,
    };
    PERMISSIONS
        .iter()
        .filter(keep)
        .map(|p| p.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_defaults_have_the_contract_sizes() {
        assert_eq!(role_permissions("owner").len(), 56);
        assert_eq!(role_permissions("admin").len(), 48);
        assert_eq!(role_permissions("manager").len(), 28);
        assert_eq!(role_permissions("staff").len(), 11);
        assert!(role_permissions("nobody").is_empty());
    }

    #[test]
    fn by_default_only_the_owner_reads_bank_details_and_staff_read_no_kyc() {
        let access = |role: &str| {
            let held = role_permissions(role);
            SensitiveAccess::of(|p| held.iter().any(|h| h == p))
        };
        let both = SensitiveAccess {
            bank: true,
            kyc: true,
        };
        assert_eq!(access("owner"), both);
        assert_eq!(
            access("admin"),
            SensitiveAccess {
                bank: false,
                kyc: true
            }
        );
        assert_eq!(
            access("manager"),
            SensitiveAccess {
                bank: false,
                kyc: true
            }
        );
        assert_eq!(
            access("staff"),
            SensitiveAccess {
                bank: false,
                kyc: false
            }
        );
    }
}
