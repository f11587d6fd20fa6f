//! Data subcommands: versioned migrations and demo seeding.

pub mod migrate;
pub mod seed;
pub mod seed_orders;
