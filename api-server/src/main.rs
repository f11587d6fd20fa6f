//! `merchant-api`: command-line entry point. Parses the CLI and dispatches; nothing else.

use std::{io::IsTerminal, process::ExitCode};

use clap::Parser;
use merchant_api::{
    backup,
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

fn report(result: Result<(), impl std::error::Error + 'static>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = merchant_api::error::chain(&e);
            tracing::error!(error = %message, "command failed");
            eprintln!("merchant-api: {message}");
            match (&e as &dyn std::error::Error).downcast_ref::<ops::migrate::MigrateError>() {
                Some(ops::migrate::MigrateError::Identity(_)) => ExitCode::from(3),
                _ => ExitCode::FAILURE,
            }
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
        Command::Prune(args) => {
            startup::install_crypto_provider();
            let json = !std::io::stderr().is_terminal();
            let _telemetry = telemetry::init("info", json, None, None);
            return backup::run_prune(args).await;
        }
        Command::Serve(ref c)
        | Command::Migrate { config: ref c, .. }
        | Command::Seed { config: ref c, .. } => c.clone(),
        Command::Backup(ref a) => a.config.clone(),
        Command::Restore(ref a) => a.config.clone(),
        Command::Verify(ref a) => a.config.clone(),
        Command::Capture(ref a) => a.config.clone(),
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
    match cli.command {
        Command::Backup(args) => return backup::run_backup(*args).await,
        Command::Restore(args) => return backup::run_restore(*args).await,
        Command::Verify(args) => return backup::run_verify(*args).await,
        Command::Capture(args) => return backup::run_capture(*args).await,
        _ => {}
    }
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
        Command::Serve(_)
        | Command::Openapi
        | Command::Backup(_)
        | Command::Restore(_)
        | Command::Verify(_)
        | Command::Capture(_)
        | Command::Prune(_) => ExitCode::SUCCESS,
    }
}
