//! `kubectl-merchant`: the kubectl plugin's entry point (see `merchant_operator::plugin`).

use std::process::ExitCode;

use clap::Parser;
use merchant_operator::{plugin, telemetry};

fn main() -> ExitCode {
    let cli = plugin::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kubectl-merchant: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(plugin::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kubectl-merchant: {}", telemetry::chain(&e));
            ExitCode::FAILURE
        }
    }
}
