//! Data subcommands: versioned migrations, the database identity marker and demo seeding.

pub mod healthcheck;
pub mod identity;
pub mod migrate;
pub mod seed;
pub mod seed_orders;
