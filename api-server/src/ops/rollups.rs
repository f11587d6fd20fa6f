//! `merchant-api rollups`: build the sales rollups from every order, or show their state
//! (`store::rollups`). A serving API builds them by itself on first start; the command is for
//! a database whose orders were loaded or repaired outside the API, and for benchmarks.

use std::time::Instant;

use crate::{
    config::DatabaseSettings,
    startup::{StartupError, connect_store},
};

/// What to do.
#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum RollupsAction {
    /// Count every order again from scratch (reports read the orders meanwhile).
    Rebuild,
    /// Whether reports read the rollups, and how many orders and rows they hold.
    Status,
}

/// The command failed.
#[derive(Debug, thiserror::Error)]
pub enum RollupsError {
    /// Could not connect.
    #[error("failed to connect to MongoDB")]
    Connect(#[from] StartupError),
    /// A read or write failed.
    #[error("failed to read or write the sales rollups")]
    Database(#[from] mongodb::error::Error),
    /// Another process holds the build.
    #[error("another process is building the sales rollups; try again when it is done")]
    Busy,
}

/// Run `action`, printing one line of JSON.
pub async fn run(settings: &DatabaseSettings, action: RollupsAction) -> Result<(), RollupsError> {
    let store = connect_store(settings, None).await?;
    let result = match action {
        RollupsAction::Rebuild => {
            let started = Instant::now();
            match store.rebuild_rollups().await? {
                Some(built) => Ok(serde_json::json!({
                    "rebuilt": true, "orders": built.orders, "rows": built.rows,
                    "elapsedMs": started.elapsed().as_millis() as u64,
                })),
                None => Err(RollupsError::Busy),
            }
        }
        RollupsAction::Status => {
            Ok(serde_json::to_value(store.rollup_status().await?).unwrap_or_default())
        }
    };
    store.client().clone().shutdown().immediate(true).await;
    println!("{}", result?);
    Ok(())
}
