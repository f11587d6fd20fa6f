//! Sales rollups: per store, per UTC day and hour, per order status, the figures the analytics
//! reports sum (orders, revenue, units, `totals.*`, payment methods, coupons, product lines),
//! so a report reads O(days in range) rows instead of aggregating every order
//! (`docs/api.md`, "Analytics rollups").
//!
//! * `salesrollups`: one row per (store, grain, bucket, status, dimension, key), figures summed
//!   with `$inc` ([`fold`]).
//! * `salesrollupstates`: per order, the snapshot of what is counted for it and a version, so
//!   an order changed again (by this API or by the consumer app, which writes `orders`
//!   directly) is folded out with what was counted and in with what it is now, exactly once.
//! * `salesrollupmeta`: whether the rollups are `ready` (else every report reads the orders,
//!   as before) and how far the catch-up has read.
//!
//! Orders this API changes are refolded right after the change ([`Store::refold_order`]);
//! orders the consumer app writes are found by the catch-up ([`Store::sync_rollups`]): by
//! `updatedAt` and by `_id` time (inserts with an old `updatedAt`), run before every rollup
//! read and in the background, where it also re-reads a lag window for late commits.
//! `merchant-api rollups rebuild` (and the first start on a database without rollups) counts
//! every order from scratch.

pub mod fold;
pub mod plan;
pub mod read;
mod sync;

pub use sync::{Rebuilt, RollupStatus, maintain_forever};

/// Rollup rows.
pub const ROLLUPS: &str = "salesrollups";
/// Per-order counted snapshots.
pub const STATES: &str = "salesrollupstates";
/// Readiness and catch-up position.
pub const META: &str = "salesrollupmeta";
