//! Cashback requests (contract §3.6): statuses, the review decisions and the statuses each may
//! start from (approve/reject only while open, mark-paid only once approved), and the risk of a
//! new request from the share of the order it asks back.

use serde::Serialize;

/// Every status.
pub const STATUSES: &[&str] = &[
    "pending",
    "under_review",
    "approved",
    "rejected",
    "paid",
    "expired",
    "cancelled",
];

/// Statuses counted as waiting for a decision.
pub const OPEN: &[&str] = &["pending", "under_review"];

/// A review decision on a request.
#[derive(Debug, Clone, PartialEq)]
pub enum CashbackDecision {
    /// Grant `amount` (at most the requested amount).
    Approve {
        /// Granted amount.
        amount: f64,
        /// Approval notes.
        notes: Option<String>,
    },
    /// Refuse, saying why.
    Reject {
        /// Reason (also the timeline note).
        reason: String,
    },
    /// Record the payment of an approved request.
    MarkPaid {
        /// Paid amount (the approved amount).
        amount: f64,
        /// wallet | bank_transfer | check.
        method: &'static str,
        /// Payment reference.
        reference: Option<String>,
        /// Timeline notes.
        notes: Option<String>,
    },
}

impl CashbackDecision {
    /// The status the request moves to.
    pub fn status(&self) -> &'static str {
        match self {
            Self::Approve { .. } => "approved",
            Self::Reject { .. } => "rejected",
            Self::MarkPaid { .. } => "paid",
        }
    }

    /// The statuses the request may be in for the decision to apply.
    pub fn allowed_from(&self) -> &'static [&'static str] {
        match self {
            Self::Approve { .. } | Self::Reject { .. } => OPEN,
            Self::MarkPaid { .. } => &["approved"],
        }
    }

    /// The note the timeline entry of the decision carries.
    pub fn note(&self) -> Option<String> {
        match self {
            Self::Approve { notes, .. } | Self::MarkPaid { notes, .. } => notes.clone(),
            Self::Reject { reason } => Some(reason.clone()),
        }
    }
}

/// One reason a request looks risky (stored in `riskFactors`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskFactor {
    /// What was looked at (`amount`).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// medium | high.
    pub severity: &'static str,
    /// Human-readable explanation.
    pub description: String,
    /// The measured value (share of the order total).
    pub value: f64,
}

/// Risk score (0..100) and factors from the share of the order asked back: a larger share is
/// riskier. Scores of 70 and more flag the request for review.
pub fn risk(amount: f64, total: f64) -> (f64, Vec<RiskFactor>) {
    let share = if total > 0.0 { amount / total } else { 1.0 };
    let (score, severity) = match share {
        s if s > 0.5 => (80.0, Some("high")),
        s if s > 0.2 => (45.0, Some("medium")),
        _ => (10.0, None),
    };
    let factors = severity
        .map(|severity| RiskFactor {
            kind: "amount",
            severity,
            description: format!(
                "Requested amount is {:.0}% of the order total",
                share * 100.0
            ),
            value: share,
        })
        .into_iter()
        .collect();
    (score, factors)
}

/// A score from which a request is flagged for manual review.
pub const FLAG_SCORE: f64 = 70.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_grows_with_the_share_of_the_order() {
        assert_eq!(risk(5.0, 100.0).0, 10.0);
        assert!(risk(5.0, 100.0).1.is_empty());
        assert_eq!(risk(30.0, 100.0).0, 45.0);
        assert_eq!(risk(60.0, 100.0).0, 80.0);
        assert_eq!(risk(1.0, 0.0).0, 80.0);
    }

    #[test]
    fn payment_follows_approval_and_reviews_follow_open_requests() {
        let paid = CashbackDecision::MarkPaid {
            amount: 1.0,
            method: "wallet",
            reference: None,
            notes: None,
        };
        assert_eq!(paid.allowed_from(), &["approved"]);
        let reject = CashbackDecision::Reject {
            reason: "no".into(),
        };
        assert_eq!(reject.allowed_from(), OPEN);
        assert_eq!(reject.note().as_deref(), Some("no"));
    }
}
