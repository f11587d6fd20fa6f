//! Data subcommands: versioned migrations, the database identity marker, demo seeding and the
//! sales rollups.

pub mod healthcheck;
pub mod identity;
pub mod migrate;
pub mod rollups;
pub mod seed;
pub mod seed_orders;
