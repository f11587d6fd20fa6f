//! `merchant-api`: command-line entry point. Parses the CLI and dispatches; nothing else.

use std::process::ExitCode;

use clap::Parser;
use merchant_api::{
    cli::{Cli, Command},
    config::{Config, Settings},
    ops, openapi, startup, telemetry,
};

fn settings(config: Config) -> Result<Settings, ExitCode> {
    config.validate().map_err(|e| {
        eprintln!("merchant-api: {e}");
        ExitCode::from(2)
    })
}

fn report(result: Result<(), impl std::error::Error>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            tracing::error!(error = %message, "command failed");
            eprintln!("merchant-api: {message}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.command {
        Command::Openapi => {
            println!("{}", openapi::to_json());
            return ExitCode::SUCCESS;
        }
        Command::Serve(ref c) | Command::Migrate { config: ref c, .. } | Command::Seed { config: ref c, .. } => c.clone(),
    };
    let settings = match settings(config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    telemetry::init(&settings.log_level, settings.log_json);
    startup::install_crypto_provider();
    match cli.command {
        Command::Serve(_) => match startup::Application::build(settings).await {
            Ok(app) => report(app.run_until_stopped(startup::shutdown_signal()).await),
            Err(e) => report(Err::<(), _>(e)),
        },
        Command::Migrate { action, .. } => report(ops::migrate::run(&settings, action).await),
        Command::Seed { merchants, products, .. } => report(ops::seed::run(&settings, merchants, products).await),
        Command::Openapi => ExitCode::SUCCESS,
    }
}
