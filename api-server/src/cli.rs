//! Command-line interface of `merchant-api`.

/// Merchant e-commerce API server and data tools.
#[derive(Debug, clap::Parser)]
#[command(name = "merchant-api", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What the API binary does.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve,
    /// Apply or revert versioned database migrations.
    Migrate,
    /// Create demo merchants, stores and products.
    Seed,
    /// Dump the database to an archive.
    Backup,
    /// Restore the database from an archive.
    Restore,
    /// Check an archive or a database against its manifest.
    Verify,
}
