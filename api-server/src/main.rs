//! `merchant-api`: command-line entry point. Parses the CLI and dispatches; nothing else.

use std::process::ExitCode;

use clap::Parser;
use merchant_api::{
    cli::{Cli, Command},
    config::{Config, Settings},
    openapi, ops, startup, telemetry,
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
        Command::Serve(ref c)
        | Command::Migrate { config: ref c, .. }
        | Command::Seed { config: ref c, .. } => c.clone(),
    };
    startup::install_crypto_provider();
    if let Command::Serve(_) = cli.command {
        let settings = match settings(config) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let telemetry = telemetry::init(
            &settings.log_level,
            settings.log_json,
            settings.sentry.as_ref(),
            settings.otel.as_ref(),
        );
        let result = match startup::Application::build(settings).await {
            Ok(app) => app.run_until_stopped(startup::shutdown_signal()).await,
            Err(e) => Err(e),
        };
        // Export the spans of the last requests before the process exits.
        telemetry.shutdown().await;
        return report(result);
    }
    let _telemetry = telemetry::init(&config.log_level, config.log_format == "json", None, None);
    let database = match config.validate_database() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("merchant-api: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Migrate { action, .. } => report(ops::migrate::run(&database, action).await),
        Command::Seed {
            merchants,
            products,
            orders,
            seed,
            ..
        } => {
            let plan = ops::seed::SeedPlan {
                merchants,
                products,
                orders,
                seed,
            };
            report(ops::seed::run(&database, plan).await)
        }
        Command::Serve(_) | Command::Openapi => ExitCode::SUCCESS,
    }
}
