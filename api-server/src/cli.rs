//! Command-line interface of `merchant-api`.

use crate::config::Config;

/// Merchant e-commerce API server and data tools.
#[derive(Debug, clap::Parser)]
#[command(name = "merchant-api", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// What the API binary does.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve(Config),
    /// Apply or revert versioned database migrations.
    Migrate {
        /// Settings (only the MongoDB ones are used).
        #[command(flatten)]
        config: Config,
        /// Direction.
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Create demo merchants, stores, products and orders.
    Seed {
        /// Settings (only the MongoDB ones are used).
        #[command(flatten)]
        config: Config,
        /// Number of demo merchants.
        #[arg(long, default_value_t = 2)]
        merchants: u32,
        /// Products per merchant.
        #[arg(long, default_value_t = 20)]
        products: u32,
        /// Orders per merchant (spread over the last 120 days).
        #[arg(long, default_value_t = 0)]
        orders: u32,
        /// Random seed of the orders (the same seed gives the same orders).
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Print the OpenAPI 3 document as JSON.
    Openapi,
}

/// `migrate` actions.
#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the newest N applied migrations (default 1).
    Down {
        /// How many.
        #[arg(default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}
