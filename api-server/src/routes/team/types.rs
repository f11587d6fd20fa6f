//! JSON of team members (`id`, never `_id`, password or tokens) and role descriptions.

use serde_json::{Value, json};

use crate::store::{DateTime, json::iso, users::MerchantUserDoc};

/// A member as the contract's MerchantUser JSON; `inviter` populates `invitedBy` (null when the
/// owner invited, since the stored id is then the merchant's).
pub fn member_json(m: &MerchantUserDoc, inviter: Option<&MerchantUserDoc>) -> Value {
    let date = |d: Option<DateTime>| d.map(iso);
    json!({
        "id": m.id.to_hex(),
        "merchantId": m.merchant_id.to_hex(),
        "email": m.email,
        "name": m.name,
        "role": m.role,
        "permissions": m.permissions,
        "status": m.status,
        "invitedBy": inviter.map(|i| json!({ "id": i.id.to_hex(), "name": i.name, "email": i.email })),
        "invitedAt": date(m.invited_at),
        "acceptedAt": date(m.accepted_at),
        "lastLoginAt": date(m.last_login_at),
        "createdAt": iso(m.created_at),
        "updatedAt": date(m.updated_at).unwrap_or_else(|| iso(m.created_at)),
    })
}

/// One line on what a role may do.
pub fn role_description(role: &str) -> &'static str {
    match role {
        "owner" => "Full access to every feature, including billing and team roles",
        "admin" => "Manages products, orders, team and settings; no billing or role changes",
        "manager" => "Runs products, orders, inventory and promotions; views team and analytics",
        "staff" => "Views the catalogue and orders and updates order status",
        _ => "Unknown role",
    }
}
