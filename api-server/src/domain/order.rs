//! Order statuses (contract §3.5), the merchant's transition table and refund lines. Pure: no
//! driver calls.

/// Every status an order document can carry.
pub const ORDER_STATUSES: [&str; 11] = [
    "placed",
    "confirmed",
    "preparing",
    "ready",
    "dispatched",
    "out_for_delivery",
    "delivered",
    "cancelling",
    "cancelled",
    "returned",
    "refunded",
];

/// Statuses a merchant may set through `PUT /orders/:id/status` (contract §2.7).
pub const SETTABLE_STATUSES: [&str; 7] = [
    "confirmed",
    "preparing",
    "ready",
    "dispatched",
    "out_for_delivery",
    "delivered",
    "cancelled",
];

/// Payment statuses (contract §3.5).
pub const PAYMENT_STATUSES: [&str; 6] = [
    "pending",
    "processing",
    "paid",
    "failed",
    "refunded",
    "partially_refunded",
];

/// The statuses an order in `from` may move to when the merchant acts. Orders only move
/// forward; cancelling is possible until the order leaves the store (dispatched or later).
/// A ready pickup/dine-in order goes straight to delivered.
pub fn next_statuses(from: &str) -> &'static [&'static str] {
    match from {
        "placed" => &["confirmed", "cancelled"],
        "confirmed" => &["preparing", "cancelled"],
        "preparing" => &["ready", "cancelled"],
        "ready" => &["dispatched", "out_for_delivery", "delivered", "cancelled"],
        "dispatched" => &["out_for_delivery", "delivered"],
        "out_for_delivery" => &["delivered"],
        _ => &[],
    }
}

/// Whether `from → to` is a legal merchant transition.
pub fn can_transition(from: &str, to: &str) -> bool {
    next_statuses(from).contains(&to)
}

/// The statuses from which `to` can be reached (the filter of a conditional update).
pub fn statuses_leading_to(to: &str) -> Vec<&'static str> {
    ORDER_STATUSES
        .iter()
        .copied()
        .filter(|from| can_transition(from, to))
        .collect()
}

/// The status a bulk action sets (contract §2.7 `POST /bulk-action`).
pub fn bulk_action_status(action: &str) -> Option<&'static str> {
    Some(match action {
        "confirm" => "confirmed",
        "prepare" => "preparing",
        "ready" => "ready",
        "deliver" => "delivered",
        "cancel" => "cancelled",
        "mark-shipped" => "dispatched",
        _ => return None,
    })
}

/// On an order holding lines of several merchants, each merchant moves only its own lines:
/// they carry their own status, and a line without one is at the order's status. The
/// status of a merchant's part is that of its lines (they move together).
pub fn part_status<'a>(order: &'a str, lines: &[Option<&'a str>]) -> &'a str {
    lines.iter().flatten().next().copied().unwrap_or(order)
}

/// Whether the whole order reaches `to` when one merchant moves its lines there: once every
/// other line (`others`, with their own statuses) is already at `to`.
pub fn whole_order_reaches(order: &str, others: &[Option<&str>], to: &str) -> bool {
    others.iter().all(|s| s.unwrap_or(order) == to)
}

/// What one merchant may still refund on a shared order: its lines' total less what it has
/// refunded, never more than what is left of the payment.
pub fn part_refundable(share: f64, refunded_by_part: f64, paid: f64, refunded: f64) -> f64 {
    (share - refunded_by_part).min(paid - refunded).max(0.0)
}

/// One refunded line of a refund (informational: refunds are bounded by amount).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundLine {
    /// Order line id.
    pub item_id: super::ObjectId,
    /// Units.
    pub quantity: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_only_move_forward() {
        assert!(can_transition("placed", "confirmed"));
        assert!(can_transition("ready", "delivered"));
        assert!(!can_transition("delivered", "placed"));
        assert!(!can_transition("confirmed", "placed"));
        assert!(!can_transition("cancelled", "confirmed"));
    }

    #[test]
    fn cancelling_stops_once_the_order_left_the_store() {
        assert_eq!(
            statuses_leading_to("cancelled"),
            ["placed", "confirmed", "preparing", "ready"]
        );
        assert!(!can_transition("dispatched", "cancelled"));
        assert!(!can_transition("cancelled", "cancelled"));
    }

    #[test]
    fn a_merchants_part_moves_alone_until_every_line_is_there() {
        assert_eq!(part_status("placed", &[None, None]), "placed");
        assert_eq!(part_status("placed", &[Some("cancelled")]), "cancelled");
        assert!(!whole_order_reaches("placed", &[None], "confirmed"));
        assert!(whole_order_reaches(
            "placed",
            &[Some("confirmed")],
            "confirmed"
        ));
        assert_eq!(part_refundable(20.0, 5.0, 50.0, 40.0), 10.0);
        assert_eq!(part_refundable(20.0, 5.0, 50.0, 45.0), 5.0);
        assert_eq!(part_refundable(20.0, 25.0, 50.0, 0.0), 0.0);
    }

    #[test]
    fn every_target_of_the_table_is_settable() {
        for from in ORDER_STATUSES {
            for to in next_statuses(from) {
                assert!(SETTABLE_STATUSES.contains(to), "{from} -> {to}");
            }
        }
    }
}
