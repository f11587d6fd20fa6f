//! Command-line interface of `merchant-api`.

use std::path::PathBuf;

use crate::{
    backup::{BackupArgs, CaptureArgs, PruneArgs, RestoreArgs, VerifyArgs},
    config::Config,
    ops::migrate::Phase,
};

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
    /// Build or inspect the sales rollups analytics reports read.
    Rollups {
        /// Settings (only the MongoDB ones are used).
        #[command(flatten)]
        config: Config,
        /// What to do.
        #[command(subcommand)]
        action: crate::ops::rollups::RollupsAction,
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
    /// Take a consistent, compressed backup of the database and the uploads.
    Backup(Box<BackupArgs>),
    /// Restore a backup (ours or a `mongodump --gzip` folder) into a database.
    Restore(Box<RestoreArgs>),
    /// Check a backup's checksums and restore it into a scratch database to compare contents.
    Verify(Box<VerifyArgs>),
    /// Follow the change stream into the backup location for point-in-time restores.
    Capture(Box<CaptureArgs>),
    /// Delete backups that retention no longer requires.
    Prune(PruneArgs),
    /// Print the OpenAPI 3 document as JSON.
    Openapi,
    /// Ask a running server's admin listener whether it is ready (exit 0) or not (exit 1): the
    /// container HEALTHCHECK and compose's, which have no shell or curl in the image.
    Healthcheck(HealthcheckArgs),
}

/// `healthcheck` settings.
#[derive(Debug, Clone, clap::Args)]
pub struct HealthcheckArgs {
    /// The server's admin port (the same variable `serve` reads).
    #[arg(long, env = "ADMIN_PORT", default_value_t = 9464)]
    pub admin_port: u16,
    /// Which check: `/health/ready` (database and Redis reachable) or `/health/live`.
    #[arg(long, default_value = "/health/ready")]
    pub path: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 3)]
    pub timeout_seconds: u64,
}

/// `migrate` actions.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum MigrateAction {
    /// Apply pending migrations (of one phase with --phase).
    Up {
        /// `expand` before a new version serves, `contract` after its rollback window.
        #[arg(long, value_enum, default_value_t = PhaseFilter::All)]
        phase: PhaseFilter,
        /// Refuse (exit 3) unless the database's identity is this one.
        #[arg(long)]
        expect_identity: Option<String>,
        /// Write the outcome as one JSON object to this file (e.g. /dev/termination-log).
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Revert the newest N applied migrations (default 1).
    Down {
        /// How many.
        #[arg(default_value_t = 1)]
        steps: u32,
        /// Refuse (exit 3) unless the database's identity is this one.
        #[arg(long)]
        expect_identity: Option<String>,
        /// Write the outcome as one JSON object to this file.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// List migrations and whether each is applied.
    Status,
    /// Current and target schema versions and every pending step with its phase.
    Plan {
        /// Print the plan as one JSON object.
        #[arg(long)]
        json: bool,
        /// Also write it to this file.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

impl MigrateAction {
    /// The `--report` file, if any.
    pub fn report_path(&self) -> Option<&std::path::Path> {
        match self {
            Self::Up { report, .. } | Self::Down { report, .. } | Self::Plan { report, .. } => {
                report.as_deref()
            }
            Self::Status => None,
        }
    }
}

/// `--phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PhaseFilter {
    /// Backward-compatible steps only.
    Expand,
    /// Destructive steps only.
    Contract,
    /// Every pending step.
    All,
}

impl From<PhaseFilter> for Option<Phase> {
    fn from(filter: PhaseFilter) -> Self {
        match filter {
            PhaseFilter::Expand => Some(Phase::Expand),
            PhaseFilter::Contract => Some(Phase::Contract),
            PhaseFilter::All => None,
        }
    }
}
