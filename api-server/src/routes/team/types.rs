//! Role descriptions.

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
