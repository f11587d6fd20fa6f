//! `merchant-api`: command-line entry point. Parses the CLI and dispatches; nothing else.

use clap::Parser;
use merchant_api::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve
        | Command::Migrate
        | Command::Seed
        | Command::Backup
        | Command::Restore
        | Command::Verify => {
            eprintln!("merchant-api: this command is delivered by the API core issue");
            std::process::ExitCode::from(2)
        }
    }
}
