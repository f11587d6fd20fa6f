//! `merchant-api`: command-line entry point. Parses the CLI and dispatches; nothing else.

use std::{io::IsTerminal, process::ExitCode};

use clap::Parser;
use merchant_api::{
    backup,
    cli::{Cli, Command, MigrateAction},
    config::{Config, DatabaseSettings, Settings},
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
    match Cli::parse().command {
        Command::Openapi => {
            // A reader that stops early (`| head`) ends the output quietly, not with a panic.
            let _ =
                std::io::Write::write_all(&mut std::io::stdout(), openapi::COMMITTED.as_bytes());
            ExitCode::SUCCESS
        }
        Command::Prune(args) => {
            startup::install_crypto_provider();
            let json = !std::io::stderr().is_terminal();
            let _telemetry = telemetry::init("info", json, None, None);
            backup::run_prune(args).await
        }
        Command::Serve(config) => serve(config).await,
        Command::Healthcheck(args) => ops::healthcheck::run(&args).await,
        Command::Backup(args) => {
            let _telemetry = command_telemetry(&args.config);
            backup::run_backup(*args).await
        }
        Command::Restore(args) => {
            let _telemetry = command_telemetry(&args.config);
            backup::run_restore(*args).await
        }
        Command::Verify(args) => {
            let _telemetry = command_telemetry(&args.config);
            backup::run_verify(*args).await
        }
        Command::Capture(args) => {
            let _telemetry = command_telemetry(&args.config);
            backup::run_capture(*args).await
        }
        Command::Migrate { config, action } => migrate(config, action).await,
        Command::Rollups { config, action } => {
            let _telemetry = command_telemetry(&config);
            match database(config) {
                Ok(database) => report(ops::rollups::run(&database, action).await),
                Err(code) => code,
            }
        }
        Command::Seed {
            config,
            merchants,
            products,
            orders,
            seed,
        } => {
            let plan = ops::seed::SeedPlan {
                merchants,
                products,
                orders,
                seed,
            };
            seed_database(config, plan).await
        }
    }
}

/// `migrate`: run a migration action against the database.
async fn migrate(config: Config, action: MigrateAction) -> ExitCode {
    let _telemetry = command_telemetry(&config);
    match database(config) {
        Ok(database) => report(ops::migrate::run(&database, action).await),
        Err(code) => code,
    }
}

/// `seed`: create demo merchants, stores, products and orders.
async fn seed_database(config: Config, plan: ops::seed::SeedPlan) -> ExitCode {
    let _telemetry = command_telemetry(&config);
    match database(config) {
        Ok(database) => report(ops::seed::run(&database, plan).await),
        Err(code) => code,
    }
}

/// `serve`: the whole configuration validated, full telemetry, then the server until a signal.
async fn serve(config: Config) -> ExitCode {
    startup::install_crypto_provider();
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
    report(result)
}

/// Logging for the data commands: the configured level and format, no Sentry, no OTLP traces.
fn command_telemetry(config: &Config) -> telemetry::Guard {
    startup::install_crypto_provider();
    telemetry::init(&config.log_level, config.log_format == "json", None, None)
}

/// The database settings `migrate` and `seed` need; exit code 2 when they are invalid.
fn database(config: Config) -> Result<DatabaseSettings, ExitCode> {
    config.validate_database().map_err(|e| {
        eprintln!("merchant-api: {e}");
        ExitCode::from(2)
    })
}
