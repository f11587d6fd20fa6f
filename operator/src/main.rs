//! `merchant-operator`: command-line entry point. Parses the CLI and dispatches; nothing else.

use clap::Parser;
use merchant_operator::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(_) | Command::Crd | Command::Render { .. } => {
            eprintln!("merchant-operator: this command is delivered by the operator core issue");
            std::process::ExitCode::from(2)
        }
    }
}
